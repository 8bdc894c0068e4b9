//! File access for the studio behind one small trait, so that a web build can serve the same
//! run directories over HTTP while every panel stays the same. Natively it is the local disk.

use std::io;
use std::path::{Path, PathBuf};

/// One entry of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub path: PathBuf,
    pub name: String,
    pub is_dir: bool,
    /// A directory holding a `config.toml`, i.e. a darts-pt run.
    pub is_run: bool,
}

/// What the studio needs from a file system.
pub trait Files: Send + Sync {
    /// The whole file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Whether a file or directory exists.
    fn exists(&self, path: &Path) -> bool;
    /// Directories first, then files, each sorted by name; hidden entries left out.
    fn list(&self, dir: &Path) -> io::Result<Vec<DirEntry>>;
    /// Replaces a small file (the recent-runs list).
    fn write(&self, path: &Path, bytes: &[u8]) -> io::Result<()>;
}

/// The local file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalFiles;

impl Files for LocalFiles {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<DirEntry>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir)? {
            let Ok(e) = e else { continue };
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with('.') {
                continue;
            }
            let path = e.path();
            let is_dir = path.is_dir();
            let is_run = is_dir && path.join("config.toml").is_file();
            out.push(DirEntry {
                path,
                name,
                is_dir,
                is_run,
            });
        }
        out.sort_by(|a, b| b.is_dir.cmp(&a.is_dir).then_with(|| a.name.cmp(&b.name)));
        Ok(out)
    }

    fn write(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, bytes)
    }
}

/// The most recently opened run directories, newest first, kept in a text file (one path per
/// line) when a file is given.
#[derive(Clone, Debug, Default)]
pub struct RecentRuns {
    pub paths: Vec<PathBuf>,
    file: Option<PathBuf>,
}

/// How many recent runs are remembered.
const RECENT_MAX: usize = 12;

impl RecentRuns {
    /// Reads the list from `file` (missing or unreadable means empty).
    pub fn load(files: &dyn Files, file: Option<PathBuf>) -> Self {
        let paths = file
            .as_deref()
            .and_then(|f| files.read(f).ok())
            .map(|b| {
                String::from_utf8_lossy(&b)
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(PathBuf::from)
                    .take(RECENT_MAX)
                    .collect()
            })
            .unwrap_or_default();
        RecentRuns { paths, file }
    }

    /// Moves `path` to the front and saves the list.
    pub fn remember(&mut self, files: &dyn Files, path: &Path) {
        self.paths.retain(|p| p != path);
        self.paths.insert(0, path.to_path_buf());
        self.paths.truncate(RECENT_MAX);
        if let Some(f) = &self.file {
            let text: String = self
                .paths
                .iter()
                .map(|p| format!("{}\n", p.display()))
                .collect();
            // The list is a convenience: failing to save it must not disturb the user.
            let _ = files.write(f, text.as_bytes());
        }
    }
}

/// Where the recent-runs list lives: `$XDG_CONFIG_HOME/darts-pt` or `~/.config/darts-pt`.
pub fn default_recent_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("darts-pt").join("studio-recent-runs.txt"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_runs_round_trip_newest_first() {
        let dir = std::env::temp_dir().join(format!("darts-pt-recent-{}", std::process::id()));
        let file = dir.join("recent.txt");
        let mut r = RecentRuns::load(&LocalFiles, Some(file.clone()));
        assert!(r.paths.is_empty());
        r.remember(&LocalFiles, Path::new("/a"));
        r.remember(&LocalFiles, Path::new("/b"));
        r.remember(&LocalFiles, Path::new("/a"));
        let back = RecentRuns::load(&LocalFiles, Some(file));
        assert_eq!(back.paths, vec![PathBuf::from("/a"), PathBuf::from("/b")]);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn listing_marks_runs_and_sorts_dirs_first() {
        let dir = std::env::temp_dir().join(format!("darts-pt-list-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("run")).unwrap();
        std::fs::write(dir.join("run/config.toml"), "").unwrap();
        std::fs::create_dir_all(dir.join("plain")).unwrap();
        std::fs::write(dir.join("a.txt"), "").unwrap();
        let l = LocalFiles.list(&dir).unwrap();
        let names: Vec<_> = l.iter().map(|e| (e.name.as_str(), e.is_run)).collect();
        assert_eq!(
            names,
            vec![("plain", false), ("run", true), ("a.txt", false)]
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
