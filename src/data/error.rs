//! One error type for every data fault, each message naming the file it concerns, so a user can
//! find and fix the offending file without a debugger.

use std::io;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// A fault while reading, writing or fetching data.
#[derive(Debug, Error)]
pub enum DataError {
    // The cause is in the message, so it is not also a `source` (a chained message would
    // say it twice).
    #[error("{}: {error}", path.display())]
    Io { path: PathBuf, error: io::Error },

    #[error("{}: no such file or directory", path.display())]
    NotFound { path: PathBuf },

    #[error("{}: size {size} is not a multiple of the {record}-byte record", path.display())]
    RecordSize {
        path: PathBuf,
        size: u64,
        record: usize,
    },

    #[error("{}: wrong IDX magic number 0x{found:08x}, expected 0x{expected:08x} ({what})", path.display())]
    IdxMagic {
        path: PathBuf,
        found: u32,
        expected: u32,
        what: &'static str,
    },

    #[error("{}: {images} images but {labels} labels", path.display())]
    CountMismatch {
        path: PathBuf,
        images: usize,
        labels: usize,
    },

    #[error("{}: label {label} at record {index} is out of range for {classes} classes", path.display())]
    LabelOutOfRange {
        path: PathBuf,
        label: i64,
        index: usize,
        classes: usize,
    },

    #[error("{}: cannot decode image: {message}", path.display())]
    Decode { path: PathBuf, message: String },

    #[error("{}: class folder has no images", path.display())]
    EmptyClass { path: PathBuf },

    /// A file that exists but does not have the structure its format requires.
    #[error("{}: {message}", path.display())]
    Malformed { path: PathBuf, message: String },

    /// A path that holds no dataset layout this module knows.
    #[error("{}: {message}", path.display())]
    NotADataset { path: PathBuf, message: String },

    #[error(
        "unknown dataset kind '{0}' (expected cifar10, cifar100, fashion-mnist, mnist or folder)"
    )]
    UnknownKind(String),

    #[error("{url}: download failed: {message}")]
    Download { url: String, message: String },

    #[error("{}: MD5 {found} does not match the expected {expected}", path.display())]
    Checksum {
        path: PathBuf,
        expected: String,
        found: String,
    },

    #[error("{}: cannot encode image: {message}", path.display())]
    Encode { path: PathBuf, message: String },
}

impl DataError {
    /// Wraps an I/O error, turning "not found" into the clearer [`DataError::NotFound`].
    pub fn io(path: &Path, error: io::Error) -> DataError {
        if error.kind() == io::ErrorKind::NotFound {
            DataError::NotFound {
                path: path.to_path_buf(),
            }
        } else {
            DataError::Io {
                path: path.to_path_buf(),
                error,
            }
        }
    }

    pub(crate) fn malformed(path: &Path, message: impl Into<String>) -> DataError {
        DataError::Malformed {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

/// Reads a whole file, naming it in any error.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, DataError> {
    std::fs::read(path).map_err(|e| DataError::io(path, e))
}
