//! The run directory: the one record of a job that the CLI writes and the studio reads.
//!
//! ```text
//! RUN/
//!   config.toml             the resolved configuration
//!   run.json                kind, state (running, finished, interrupted, diverged), progress
//!   metrics.jsonl           one line per epoch (and every k steps)
//!   alpha.jsonl             softmax(alpha) per cell type after each epoch (epoch 0 = init)
//!   events.jsonl            notable events: SGAS decisions, divergence, interruptions
//!   checkpoint.safetensors  the latest checkpoint, written atomically
//!   selection.json          decisions of `select` (magnitude or PT)
//!   genotype.txt            the selected genotype
//! ```

use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::checkpoint::write_atomic;

/// One line of `metrics.jsonl`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricsRecord {
    /// "step" (every k steps) or "epoch" (end of epoch), or "tune" during PT.
    pub kind: String,
    /// The epoch being trained (0-based).
    pub epoch: usize,
    /// Steps done in that epoch.
    pub step: usize,
    pub steps: usize,
    /// Mean loss and accuracy of the weight steps (weight half of the training set).
    pub train_loss: Option<f64>,
    pub train_acc: Option<f64>,
    /// Mean loss and accuracy of the alpha steps (held-out half).
    pub alpha_loss: Option<f64>,
    pub alpha_acc: Option<f64>,
    /// Held-out accuracy and loss in eval mode (running BN statistics), end of epoch.
    pub valid_loss: Option<f64>,
    pub valid_acc: Option<f64>,
    pub lr: f64,
    /// SDARTS perturbation radius.
    pub epsilon: Option<f64>,
    pub batch_size: usize,
    /// Seconds since the run started, summed over resumes.
    pub elapsed: f64,
    /// Training images per second over the reported window.
    pub images_per_sec: f64,
}

/// One line of `alpha.jsonl`: softmax(alpha) per cell type, rows = edges, columns = ops.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlphaRecord {
    /// Completed epochs (0 = initialisation).
    pub epoch: usize,
    pub normal: Vec<Vec<f32>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reduce: Option<Vec<Vec<f32>>>,
}

/// `run.json`: what kind of run this is and where it stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunStatus {
    /// "search" or "train".
    pub kind: String,
    /// "running", "finished", "interrupted", "diverged" or "failed".
    pub state: String,
    pub epoch: usize,
    pub epochs: usize,
    pub device: String,
    pub message: String,
}

/// A run directory on disk.
#[derive(Clone, Debug)]
pub struct RunDir {
    pub root: PathBuf,
}

impl RunDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RunDir { root: root.into() }
    }

    /// Creates a fresh run directory; refuses one that already holds a run.
    pub fn create(root: &Path) -> Result<Self> {
        let dir = RunDir::new(root);
        if dir.config().exists() {
            bail!(
                "{} already holds a run; continue it with --resume {0} or choose another --out",
                root.display()
            );
        }
        fs::create_dir_all(root).with_context(|| format!("cannot create {}", root.display()))?;
        Ok(dir)
    }

    /// Opens an existing run directory (it must have a `config.toml`).
    pub fn open(root: &Path) -> Result<Self> {
        let dir = RunDir::new(root);
        if !root.is_dir() {
            bail!("{}: no such run directory", root.display());
        }
        if !dir.config().exists() {
            bail!(
                "{}: not a darts-pt run directory (no config.toml)",
                root.display()
            );
        }
        Ok(dir)
    }

    pub fn config(&self) -> PathBuf {
        self.root.join("config.toml")
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
    pub fn selection(&self, method: &str) -> PathBuf {
        self.root.join(format!("selection-{method}.json"))
    }
    pub fn selection_checkpoint(&self, method: &str) -> PathBuf {
        self.root.join(format!("selection-{method}.safetensors"))
    }
    pub fn genotype(&self, method: &str) -> PathBuf {
        self.root.join(format!("genotype-{method}.txt"))
    }

    pub fn write_status(&self, status: &RunStatus) -> Result<()> {
        let text = serde_json::to_string_pretty(status)?;
        write_atomic(&self.status(), text.as_bytes())?;
        Ok(())
    }

    pub fn read_status(&self) -> Option<RunStatus> {
        let text = fs::read_to_string(self.status()).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Appends one JSON line and flushes it, so readers (the studio) see it at once.
    pub fn append<T: Serialize>(&self, path: &Path, value: &T) -> Result<()> {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        let mut line = serde_json::to_string(value)?;
        line.push('\n');
        f.write_all(line.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }
}

/// Reads every well-formed line of a JSON-lines file (a missing file is empty; a partially
/// written last line is skipped).
pub fn read_jsonl<T: DeserializeOwned>(path: &Path) -> Vec<T> {
    let Ok(f) = fs::File::open(path) else {
        return Vec::new();
    };
    BufReader::new(f)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str(&l).ok())
        .collect()
}

/// Keeps only the lines of a JSON-lines file for which `keep` holds (used on resume to drop
/// records written after the checkpoint the run continues from).
pub fn retain_jsonl(path: &Path, keep: impl Fn(&serde_json::Value) -> bool) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = String::new();
    for line in text.lines() {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(line)
            && keep(&v)
        {
            out.push_str(line);
            out.push('\n');
        }
    }
    write_atomic(path, out.as_bytes())?;
    Ok(())
}
