//! The records a run directory holds, one type per file format: `run.json`, the lines of
//! `metrics.jsonl` and `alpha.jsonl`, and a training run's `result.json`.

use serde::{Deserialize, Serialize};

/// The version of the run-directory layout this build writes. Older layouts (no `format` in
/// `run.json`) are read as format 1, which this build still reads; a newer one is refused.
pub const FORMAT: u32 = 2;

fn format_one() -> u32 {
    1
}

/// What kind of job writes a run directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    Search,
    Train,
}

/// Where a run stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    Running,
    Finished,
    /// Stopped on request with a checkpoint to resume from.
    Interrupted,
    /// Stopped because a loss became NaN or infinite; the last good checkpoint is kept.
    Diverged,
    Failed,
}

impl RunState {
    pub fn name(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Finished => "finished",
            RunState::Interrupted => "interrupted",
            RunState::Diverged => "diverged",
            RunState::Failed => "failed",
        }
    }
}

impl std::fmt::Display for RunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `run.json`: what kind of run this is and where it stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunStatus {
    /// The layout version ([`FORMAT`]).
    #[serde(default = "format_one")]
    pub format: u32,
    pub kind: RunKind,
    pub state: RunState,
    pub epoch: usize,
    pub epochs: usize,
    pub device: String,
    pub message: String,
}

/// What a metrics line sums up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricsKind {
    /// Every `log_every` steps within an epoch.
    Step,
    /// The end of an epoch.
    #[default]
    Epoch,
    /// A tuning epoch of PT, after the search.
    Tune,
}

/// One line of a search's `metrics.jsonl`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricsRecord {
    pub kind: MetricsKind,
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
    /// The selection a tuning epoch belongs to (`pt`, `pt-loss`, ...); none for the search's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
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

/// One line of a training run's `metrics.jsonl`. The field names shared with the search's
/// records mean the same; the test numbers are on the test set, not a held-out half.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainRecord {
    pub kind: MetricsKind,
    pub epoch: usize,
    pub step: usize,
    pub steps: usize,
    /// Mean cross-entropy and accuracy of the main classifier on the training batches.
    pub train_loss: Option<f64>,
    pub train_acc: Option<f64>,
    /// Mean cross-entropy of the auxiliary head (before its weight).
    pub aux_loss: Option<f64>,
    pub test_loss: Option<f64>,
    pub test_acc: Option<f64>,
    pub lr: f64,
    pub drop_prob: f64,
    pub batch_size: usize,
    /// Seconds since the run started, summed over resumes.
    pub elapsed: f64,
    /// Training images per second over the reported window.
    pub images_per_sec: f64,
}

/// `result.json`: what a finished training run achieved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainResult {
    pub space: String,
    pub genotype: String,
    pub genotype_source: String,
    pub dataset: String,
    pub train_images: usize,
    pub test_images: usize,
    pub epochs: usize,
    /// Parameters without the auxiliary head.
    pub params: usize,
    pub final_test_acc: f64,
    pub final_test_loss: f64,
    pub best_test_acc: f64,
    /// The epoch (1-based) of the best test accuracy.
    pub best_epoch: usize,
    pub elapsed: f64,
    pub device: String,
}

/// Where a metrics line sits in a run: what resuming compares with its checkpoint to drop
/// the lines a killed process wrote after it.
#[derive(Clone, Copy, Debug, Deserialize)]
pub struct Position {
    pub kind: MetricsKind,
    pub epoch: usize,
    #[serde(default)]
    pub step: usize,
}

impl Position {
    /// Whether a line at this position was written before the checkpoint at (epoch, step).
    pub fn precedes(&self, epoch: usize, step: usize) -> bool {
        self.epoch < epoch
            || (self.epoch == epoch && self.kind == MetricsKind::Step && self.step <= step)
    }
}
