//! File access behind one small trait, so that every reader of a run directory (the CLI, the
//! experiment, the studio, a web build serving runs from the browser's storage) reads it the
//! same way. Natively it is the local disk.

use std::io;
use std::path::{Path, PathBuf};

use super::dir::CONFIG_FILE;
use crate::storage;

/// One entry of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub path: PathBuf,
    pub name: String,
    pub is_dir: bool,
    /// A directory holding a `config.toml`, i.e. a darts-pt run.
    pub is_run: bool,
}

/// What readers of runs need from a file system.
pub trait Files: Send + Sync {
    /// The whole file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Whether a file or directory exists.
    fn exists(&self, path: &Path) -> bool;
    /// Directories first, then files, each sorted by name; hidden entries left out.
    fn list(&self, dir: &Path) -> io::Result<Vec<DirEntry>>;
    /// Replaces a small file (the studio's recent-runs list).
    fn write(&self, path: &Path, bytes: &[u8]) -> io::Result<()>;
}

/// The local file system: the disk, or in a browser the page's own storage
/// ([`crate::storage`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalFiles;

impl Files for LocalFiles {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        storage::read(path)
    }

    fn exists(&self, path: &Path) -> bool {
        storage::exists(path)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<DirEntry>> {
        let mut out: Vec<DirEntry> = storage::read_dir(dir)?
            .into_iter()
            .filter(|e| !e.name.starts_with('.'))
            .map(|e| {
                let path = dir.join(&e.name);
                let is_run = e.is_dir && storage::is_file(&path.join(CONFIG_FILE));
                DirEntry {
                    path,
                    name: e.name,
                    is_dir: e.is_dir,
                    is_run,
                }
            })
            .collect();
        out.sort_by(|a, b| b.is_dir.cmp(&a.is_dir).then_with(|| a.name.cmp(&b.name)));
        Ok(out)
    }

    fn write(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        storage::write(path, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_marks_runs_and_sorts_dirs_first() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        std::fs::create_dir_all(dir.join("run")).unwrap();
        std::fs::write(dir.join("run/config.toml"), "").unwrap();
        std::fs::create_dir_all(dir.join("plain")).unwrap();
        std::fs::write(dir.join("a.txt"), "").unwrap();
        let l = LocalFiles.list(dir).unwrap();
        let names: Vec<_> = l.iter().map(|e| (e.name.as_str(), e.is_run)).collect();
        assert_eq!(
            names,
            vec![("plain", false), ("run", true), ("a.txt", false)]
        );
    }
}
