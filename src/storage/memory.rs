//! A file tree in memory, for the browser: files by path, directories implied by them or
//! created empty. Every change is remembered until the page has mirrored it to its
//! persistent storage ([`take_changes`]).

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::Entry;

#[derive(Default)]
struct Tree {
    files: BTreeMap<PathBuf, Vec<u8>>,
    dirs: BTreeSet<PathBuf>,
    /// Files written or removed since the last [`take_changes`].
    changed: BTreeSet<PathBuf>,
    /// Locks held, by path, with their holders' text (no file is written for them).
    locks: BTreeMap<PathBuf, String>,
}

static TREE: Mutex<Tree> = Mutex::new(Tree {
    files: BTreeMap::new(),
    dirs: BTreeSet::new(),
    changed: BTreeSet::new(),
    locks: BTreeMap::new(),
});

fn tree() -> MutexGuard<'static, Tree> {
    TREE.lock().unwrap_or_else(|p| p.into_inner())
}

/// `./a/b` and `a/b` are the same file.
fn key(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: no such file", path.display()),
    )
}

impl Tree {
    fn add_dirs(&mut self, path: &Path) {
        for a in path.ancestors().skip(1) {
            if !a.as_os_str().is_empty() {
                self.dirs.insert(a.to_path_buf());
            }
        }
    }

    fn put(&mut self, path: PathBuf, bytes: Vec<u8>) {
        self.add_dirs(&path);
        self.changed.insert(path.clone());
        self.files.insert(path, bytes);
    }
}

pub fn read(path: &Path) -> io::Result<Vec<u8>> {
    tree()
        .files
        .get(&key(path))
        .cloned()
        .ok_or_else(|| not_found(path))
}

pub fn is_file(path: &Path) -> bool {
    tree().files.contains_key(&key(path))
}

pub fn is_dir(path: &Path) -> bool {
    let k = key(path);
    k.as_os_str().is_empty() || tree().dirs.contains(&k)
}

pub fn exists(path: &Path) -> bool {
    is_file(path) || is_dir(path)
}

pub fn create_dir_all(path: &Path) -> io::Result<()> {
    let k = key(path);
    let mut t = tree();
    t.add_dirs(&k.join("x"));
    Ok(())
}

pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    tree().put(key(path), bytes.to_vec());
    Ok(())
}

/// One write under one lock: no reader sees half of it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write(path, bytes)
}

pub fn append(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let k = key(path);
    let mut t = tree();
    let mut all = t.files.remove(&k).unwrap_or_default();
    all.extend_from_slice(bytes);
    t.put(k, all);
    Ok(())
}

pub fn remove_file(path: &Path) -> io::Result<()> {
    let k = key(path);
    let mut t = tree();
    t.files.remove(&k).ok_or_else(|| not_found(path))?;
    t.changed.insert(k);
    Ok(())
}

pub fn remove_dir_all(path: &Path) -> io::Result<()> {
    let k = key(path);
    let mut t = tree();
    let gone: Vec<PathBuf> = t
        .files
        .keys()
        .filter(|p| p.starts_with(&k))
        .cloned()
        .collect();
    for p in gone {
        t.files.remove(&p);
        t.changed.insert(p);
    }
    t.dirs.retain(|d| !d.starts_with(&k));
    Ok(())
}

pub fn read_dir(path: &Path) -> io::Result<Vec<Entry>> {
    let k = key(path);
    if !is_dir(&k) {
        return Err(not_found(path));
    }
    let t = tree();
    let child = |p: &&PathBuf| p.parent() == Some(k.as_path());
    let name = |p: &PathBuf| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let dirs = t
        .dirs
        .iter()
        .filter(child)
        .filter_map(name)
        .map(|name| Entry { name, is_dir: true });
    let files = t
        .files
        .keys()
        .filter(child)
        .filter_map(name)
        .map(|name| Entry {
            name,
            is_dir: false,
        });
    Ok(dirs.chain(files).collect())
}

/// Set while the page copies changes to its persistent storage.
static MIRRORING: AtomicBool = AtomicBool::new(false);

/// The page is copying changes to persistent storage (or has finished). A job sharing the
/// page's thread waits meanwhile (the job module's `pace::give_way`): each of the copy's many
/// awaits would otherwise wait behind a whole training step, and a checkpoint would reach
/// storage only after dozens of steps.
pub fn set_mirroring(on: bool) {
    MIRRORING.store(on, Ordering::Relaxed);
}

pub fn is_mirroring() -> bool {
    MIRRORING.load(Ordering::Relaxed)
}

/// The files changed since the last call, each with its contents (`None`: removed).
pub fn take_changes() -> Vec<(PathBuf, Option<Vec<u8>>)> {
    let mut t = tree();
    let changed = std::mem::take(&mut t.changed);
    changed
        .into_iter()
        .map(|p| {
            let bytes = t.files.get(&p).cloned();
            (p, bytes)
        })
        .collect()
}

/// Puts back a file read from persistent storage, without marking it changed.
pub fn restore(path: PathBuf, bytes: Vec<u8>) {
    let mut t = tree();
    t.add_dirs(&path);
    t.files.insert(path, bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tree is one per process: each test works under its own directory.
    #[test]
    fn files_imply_directories_and_changes_are_reported_once() {
        let run = Path::new("memtest/run");
        write_atomic(&run.join("config.toml"), b"a").unwrap();
        append(&run.join("metrics.jsonl"), b"1\n").unwrap();
        append(Path::new("./memtest/run/metrics.jsonl"), b"2\n").unwrap();
        assert_eq!(read(&run.join("metrics.jsonl")).unwrap(), b"1\n2\n");
        assert!(is_dir(Path::new("memtest")) && is_dir(run) && !is_file(run));
        let names = |d: &Path| -> Vec<(String, bool)> {
            read_dir(d)
                .unwrap()
                .into_iter()
                .map(|e| (e.name, e.is_dir))
                .collect()
        };
        assert_eq!(names(Path::new("memtest")), vec![("run".into(), true)]);
        assert_eq!(
            names(run),
            vec![
                ("config.toml".into(), false),
                ("metrics.jsonl".into(), false)
            ]
        );
        let changes: Vec<_> = take_changes()
            .into_iter()
            .filter(|(p, _)| p.starts_with("memtest"))
            .collect();
        assert_eq!(changes.len(), 2);
        remove_file(&run.join("config.toml")).unwrap();
        assert!(remove_file(&run.join("config.toml")).is_err());
        let removed: Vec<_> = take_changes()
            .into_iter()
            .filter(|(p, _)| p.starts_with("memtest"))
            .collect();
        assert_eq!(removed, vec![(run.join("config.toml"), None)]);
        remove_dir_all(Path::new("memtest")).unwrap();
        assert!(!exists(run) && read_dir(Path::new("memtest")).is_err());
    }
}

/// A lock on a path, held until dropped (see the disk's `try_lock`).
#[derive(Debug)]
pub struct FileLock(PathBuf);

impl Drop for FileLock {
    fn drop(&mut self) {
        tree().locks.remove(&self.0);
    }
}

/// Takes the lock on `path`, or returns `Ok(Err(text))` with its holder's text.
pub fn try_lock(path: &Path, holder: &str) -> io::Result<Result<FileLock, String>> {
    let mut t = tree();
    let k = key(path);
    if let Some(h) = t.locks.get(&k) {
        return Ok(Err(h.clone()));
    }
    t.locks.insert(k.clone(), holder.to_string());
    Ok(Ok(FileLock(k)))
}

/// Takes the lock on `path`; the page is one thread, so a held lock is a fault, not a wait.
pub fn lock(path: &Path) -> io::Result<FileLock> {
    try_lock(path, "this page")?.map_err(|h| {
        io::Error::new(
            io::ErrorKind::WouldBlock,
            format!("{} is locked by {h}", path.display()),
        )
    })
}

/// This page, for a lock's holder text.
pub fn this_process() -> String {
    "this page".into()
}
