//! Where run directories live: the local disk natively; in a browser, an in-memory file tree
//! that the page mirrors to its persistent storage (the web module's `persist`). Everything that
//! writes or reads a run goes through these few calls, so jobs, the run reader and the studio
//! run unchanged in both places.

#[cfg(not(target_arch = "wasm32"))]
mod disk;
// Built natively too, for its tests.
#[cfg(any(target_arch = "wasm32", test))]
pub mod memory;
pub mod text;

#[cfg(not(target_arch = "wasm32"))]
pub use disk::*;
#[cfg(target_arch = "wasm32")]
pub use memory::{
    FileLock, append, create_dir_all, exists, is_dir, is_file, lock, read, read_dir,
    remove_dir_all, remove_file, this_process, try_lock, write, write_atomic,
};

use std::io;
use std::path::Path;

/// The whole file as text.
pub fn read_to_string(path: &Path) -> io::Result<String> {
    let bytes = read(path)?;
    text::utf8(&bytes)
        .map(str::to_owned)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// One entry of a directory: its name and whether it is a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub is_dir: bool,
}
