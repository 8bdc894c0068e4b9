//! The studio's files: runs are read through the library's [`Files`] (the local disk natively;
//! a web build brings its own), and the recent-runs list is kept in one small file.

use std::path::{Path, PathBuf};

pub use crate::run::files::{DirEntry, Files, LocalFiles};

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
}
