//! The local disk.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::path::Path;

use super::Entry;

pub fn read(path: &Path) -> io::Result<Vec<u8>> {
    fs::read(path)
}

pub fn exists(path: &Path) -> bool {
    path.exists()
}

pub fn is_dir(path: &Path) -> bool {
    path.is_dir()
}

pub fn is_file(path: &Path) -> bool {
    path.is_file()
}

pub fn create_dir_all(path: &Path) -> io::Result<()> {
    fs::create_dir_all(path)
}

/// Replaces a file, creating its directory.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)?;
    }
    fs::write(path, bytes)
}

/// Writes `bytes` to `path` atomically: a sibling temporary file, fsync, rename, fsync of the
/// directory. A crash leaves the old file or the new one, never a torn one; a failure (a full
/// disk) leaves the old file and removes the temporary one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let written = File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    });
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// An exclusive lock on a file, held until dropped; the OS releases it when the process ends,
/// however it ends, so a crash leaves no stale lock.
#[derive(Debug)]
pub struct FileLock(#[allow(dead_code)] File);

/// Takes the lock on `path` (creating the file) and writes `holder` into it, or returns
/// `Ok(Err(text))` with what the process that holds it wrote.
pub fn try_lock(path: &Path, holder: &str) -> io::Result<Result<FileLock, String>> {
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    match f.try_lock() {
        Ok(()) => {
            f.set_len(0)?;
            f.write_all(holder.as_bytes())?;
            Ok(Ok(FileLock(f)))
        }
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = f.read_to_string(&mut text);
            Ok(Err(text))
        }
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// Waits for the lock on `path` (creating the file); for short critical sections.
pub fn lock(path: &Path) -> io::Result<FileLock> {
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    f.lock()?;
    Ok(FileLock(f))
}

/// This process, for a lock's holder text.
pub fn this_process() -> String {
    let args: Vec<String> = std::env::args().collect();
    format!("process {} ({})", std::process::id(), args.join(" "))
}

/// Appends bytes, creating the file.
pub fn append(path: &Path, bytes: &[u8]) -> io::Result<()> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(bytes)
}

pub fn remove_file(path: &Path) -> io::Result<()> {
    fs::remove_file(path)
}

pub fn remove_dir_all(path: &Path) -> io::Result<()> {
    fs::remove_dir_all(path)
}

/// The entries of a directory, unsorted.
pub fn read_dir(path: &Path) -> io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    for e in fs::read_dir(path)? {
        let Ok(e) = e else { continue };
        out.push(Entry {
            name: super::text::path(Path::new(&e.file_name())),
            is_dir: e.path().is_dir(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A write that fails after its temporary file exists (here the rename, onto a directory
    /// that holds a file) leaves the directory as it was.
    #[test]
    fn a_failed_atomic_write_removes_its_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("checkpoint.safetensors");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("inside"), b"x").unwrap();
        assert!(write_atomic(&target, b"new bytes").is_err());
        let mut names: Vec<_> = read_dir(dir.path())
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        names.sort();
        assert_eq!(names, ["checkpoint.safetensors"]);
    }

    #[test]
    fn a_lock_is_held_until_dropped_and_names_its_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".lock");
        let held = try_lock(&path, "first holder").unwrap().unwrap();
        assert_eq!(
            try_lock(&path, "second").unwrap().unwrap_err(),
            "first holder"
        );
        drop(held);
        let again = try_lock(&path, "second").unwrap().unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "second");
        drop(again);
    }
}
