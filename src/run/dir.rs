//! Where everything of a run lives, and the only code that writes it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use super::events::RunEvent;
use super::reader::RunReader;
use super::records::{AlphaRecord, FORMAT, MetricsKind, MetricsRecord, Position, RunStatus};
use super::selection::SelectionRecord;
use crate::checkpoint::write_atomic;
use crate::storage::{self, FileLock};

/// The file that makes a directory a run.
pub const CONFIG_FILE: &str = "config.toml";

/// A run directory on disk:
///
/// ```text
/// RUN/
///   config.toml                  the resolved settings
///   run.json                     format, kind, state (running, finished, ...), progress
///   metrics.jsonl                one line per epoch (and every k steps; PT's tuning epochs)
///   alpha.jsonl                  softmax(alpha) per cell type after each epoch (0 = init)
///   events.jsonl                 start, decisions, interruptions, divergence, the end
///   checkpoint.safetensors       the latest checkpoint, written atomically
///   selection.json               every selection by label (magnitude, pt, ...)
///   genotype-<label>.txt         each selection's genotype
///   selection-<label>.safetensors  PT's checkpoint (the tuned supernet)
///   result.json                  a finished training run's result
/// ```
///
/// A job that writes a run holds a lock on it for its whole life ([`Self::hold`]): `.lock` for
/// the search or training that owns the run, `.select-<label>.lock` for a selection, so two
/// processes (or the studio and a shell) never write the same files. Readers take no lock.
#[derive(Clone, Debug)]
pub struct RunDir {
    pub root: PathBuf,
    /// The lock this job holds, released when the last clone is dropped.
    lock: Option<Arc<FileLock>>,
}

/// The lock of the search or training job that owns a run.
pub const JOB_LOCK: &str = ".lock";

/// The lock of the selection labelled `label`.
pub fn selection_lock(label: &str) -> String {
    format!(".select-{label}.lock")
}

impl RunDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RunDir {
            root: root.into(),
            lock: None,
        }
    }

    /// Creates a fresh run directory and holds it for `job`; refuses one that already holds a
    /// run.
    pub fn create(root: &Path, job: &str) -> Result<Self> {
        storage::create_dir_all(root)
            .with_context(|| format!("cannot create {}", root.display()))?;
        let dir = RunDir::new(root).hold(JOB_LOCK, job)?;
        if storage::exists(&dir.config()) {
            bail!(
                "{} already holds a run; continue it with --resume {0} or choose another --out",
                root.display()
            );
        }
        Ok(dir)
    }

    /// Holds the lock file `name` in this directory for `job` (what the holder is doing, said
    /// to whoever else tries), or says which process holds it.
    pub fn hold(mut self, name: &str, job: &str) -> Result<Self> {
        let path = self.root.join(name);
        let holder = format!("{}: {job}", storage::this_process());
        let lock = storage::try_lock(&path, &holder)
            .with_context(|| format!("cannot lock {}", path.display()))?;
        match lock {
            Ok(lock) => {
                self.lock = Some(Arc::new(lock));
                Ok(self)
            }
            Err(other) => bail!(
                "{} is being written by another job ({}); wait for it to end or stop it \
                 (reading the run works meanwhile)",
                self.root.display(),
                other.trim()
            ),
        }
    }

    /// Opens an existing run directory to continue or add to it: it must hold a run, in a
    /// layout this build understands.
    pub fn open(root: &Path) -> Result<Self> {
        let dir = RunDir::new(root);
        if !storage::is_dir(root) {
            bail!("{}: no such run directory", root.display());
        }
        if !storage::exists(&dir.config()) {
            bail!(
                "{}: not a darts-pt run directory (no {CONFIG_FILE})",
                root.display()
            );
        }
        RunReader::local(root).check_format()?;
        Ok(dir)
    }

    pub fn config(&self) -> PathBuf {
        self.root.join(CONFIG_FILE)
    }
    pub fn status(&self) -> PathBuf {
        self.root.join("run.json")
    }
    pub fn metrics(&self) -> PathBuf {
        self.root.join("metrics.jsonl")
    }
    pub fn alpha(&self) -> PathBuf {
        self.root.join("alpha.jsonl")
    }
    pub fn events(&self) -> PathBuf {
        self.root.join("events.jsonl")
    }
    pub fn checkpoint(&self) -> PathBuf {
        self.root.join("checkpoint.safetensors")
    }
    pub fn selections(&self) -> PathBuf {
        self.root.join("selection.json")
    }
    pub fn selection_checkpoint(&self, label: &str) -> PathBuf {
        self.root.join(format!("selection-{label}.safetensors"))
    }
    pub fn genotype(&self, label: &str) -> PathBuf {
        self.root.join(format!("genotype-{label}.txt"))
    }
    pub fn result(&self) -> PathBuf {
        self.root.join("result.json")
    }

    /// Writes the resolved settings.
    pub fn write_config(&self, toml: &str) -> Result<()> {
        write_atomic(&self.config(), toml.as_bytes())?;
        Ok(())
    }

    /// Writes `run.json` in this build's layout.
    pub fn write_status(&self, status: &RunStatus) -> Result<()> {
        let status = RunStatus {
            format: FORMAT,
            ..status.clone()
        };
        self.write_json(&self.status(), &status)
    }

    /// Replaces a JSON file atomically.
    pub fn write_json<T: Serialize>(&self, path: &Path, value: &T) -> Result<()> {
        write_atomic(path, serde_json::to_string_pretty(value)?.as_bytes())?;
        Ok(())
    }

    /// Appends one JSON line and flushes it, so readers (the studio) see it at once.
    pub fn append<T: Serialize>(&self, path: &Path, value: &T) -> Result<()> {
        let mut line = serde_json::to_string(value)?;
        line.push('\n');
        storage::append(path, line.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }

    /// Appends a line to `events.jsonl`.
    pub fn record(&self, event: &RunEvent) -> Result<()> {
        self.append(&self.events(), event)
    }

    /// Adds (or replaces) a selection in `selection.json` and writes its genotype file.
    pub fn write_selection(&self, rec: &SelectionRecord) -> Result<()> {
        // Selections of other labels may update the file at the same time.
        let lock = self.root.join(".selection.lock");
        let _guard =
            storage::lock(&lock).with_context(|| format!("cannot lock {}", lock.display()))?;
        let mut all: BTreeMap<String, SelectionRecord> = RunReader::local(&self.root)
            .selections()
            .unwrap_or_default();
        all.insert(rec.label.clone(), rec.clone());
        self.write_json(&self.selections(), &all)?;
        if let Some(g) = &rec.genotype {
            write_atomic(&self.genotype(&rec.label), format!("{g}\n").as_bytes())?;
        }
        Ok(())
    }

    /// Drops the records a process wrote after the checkpoint at (epoch, step) that a run
    /// resumes from (a kill may leave some): later metrics lines and alpha records.
    pub fn rewind(&self, epoch: usize, step: usize) -> Result<()> {
        retain_lines::<Position>(&self.metrics(), |p| p.precedes(epoch, step))?;
        retain_lines::<AlphaRecord>(&self.alpha(), |a| a.epoch <= epoch)
    }

    /// Drops the records the selection `label` wrote from its tuning epoch `epoch` on (its
    /// tuning metrics and decisions), which a selection resumed there writes again.
    pub fn rewind_selection(&self, label: &str, epoch: usize) -> Result<()> {
        let later = |l: Option<&str>, e: usize| l == Some(label) && e >= epoch;
        retain_lines::<MetricsRecord>(&self.metrics(), |m| {
            m.kind != MetricsKind::Tune || !later(m.label.as_deref(), m.epoch)
        })?;
        retain_lines::<RunEvent>(&self.events(), |e| match e {
            RunEvent::Decision(d) => d.pt_epoch().is_none_or(|(l, e)| !later(l, e)),
            _ => true,
        })
    }

    /// Removes the records of a run that restarts from its beginning.
    pub fn clear_records(&self) {
        for f in [self.metrics(), self.alpha(), self.events()] {
            let _ = storage::remove_file(&f);
        }
    }
}

/// Keeps the lines of a JSON-lines file that read as `T` and satisfy `keep`, byte for byte.
fn retain_lines<T: serde::de::DeserializeOwned>(
    path: &Path,
    keep: impl Fn(&T) -> bool,
) -> Result<()> {
    if !storage::exists(path) {
        return Ok(());
    }
    let text =
        storage::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = String::new();
    for line in text.lines() {
        if serde_json::from_str::<T>(line).is_ok_and(|v| keep(&v)) {
            out.push_str(line);
            out.push('\n');
        }
    }
    // Unchanged, the file is left alone (another process may be appending to it).
    if out != text {
        write_atomic(path, out.as_bytes())?;
    }
    Ok(())
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    /// One writer per lock: a second job is refused with the holder named, a job with another
    /// lock (a selection) is not, and the lock goes with the last clone of its holder.
    #[test]
    fn a_run_has_one_writer_per_lock() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("run");
        let search = RunDir::create(&root, "search").unwrap();
        let clone = search.clone();
        let err = RunDir::new(&root).hold(JOB_LOCK, "training").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("is being written by another job"), "{text}");
        assert!(
            text.contains(&format!("process {}", std::process::id())),
            "{text}"
        );
        assert!(text.contains(": search)"), "{text}");
        let select = RunDir::new(&root).hold(&selection_lock("pt"), "selection 'pt'");
        assert!(select.is_ok());
        drop(search);
        assert!(RunDir::new(&root).hold(JOB_LOCK, "again").is_err());
        drop(clone);
        assert!(RunDir::new(&root).hold(JOB_LOCK, "again").is_ok());
    }
}
