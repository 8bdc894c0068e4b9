//! What a job reports while it runs. The CLI turns events into progress bars, the studio into
//! live panels; the run directory keeps the lasting part of them (see [`crate::run`]).

use crate::run::{AlphaRecord, Decision, MetricsRecord, RunState, Started, TrainRecord};

/// Something a job did.
#[derive(Clone, Debug)]
pub enum Event {
    /// The job started (or resumed).
    Started(Started),
    /// An epoch begins.
    EpochStarted {
        epoch: usize,
        epochs: usize,
        steps: usize,
        start_step: usize,
    },
    /// A step finished (no numbers are read back from the device for this).
    Step {
        epoch: usize,
        step: usize,
        steps: usize,
        images: usize,
    },
    /// A search or PT metrics line was written.
    Metrics(MetricsRecord),
    /// A training metrics line was written.
    TrainMetrics(TrainRecord),
    /// An alpha line was written.
    Alpha(AlphaRecord),
    /// A checkpoint was written.
    Checkpoint {
        epoch: usize,
        step: usize,
        path: String,
    },
    /// A selection phase begins: `total` evaluation passes are planned.
    SelectionStarted { method: String, total: usize },
    /// One evaluation pass of a selection finished.
    Evaluation {
        index: usize,
        total: usize,
        label: String,
    },
    /// A decision was made (SGAS edge, PT operation or topology).
    Decision(Decision),
    /// A line for the user.
    Note(String),
    /// The job ended.
    Finished { state: RunState, message: String },
}

/// Where events go.
pub type Sink<'a> = &'a mut dyn FnMut(&Event);
