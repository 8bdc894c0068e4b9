//! Long-running work (search, selection, training) runs as a library job that reports what it
//! does as a stream of [`Event`]s and honours a [`Control`] between steps. The CLI turns the
//! events into progress bars; the studio turns them into live panels. Neither drives the loop.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Serialize;

use crate::run::{AlphaRecord, MetricsRecord};

/// Something a job did.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The job started (or resumed) in `run_dir` on `device`.
    Started {
        job: String,
        run_dir: String,
        device: String,
        epochs: usize,
        start_epoch: usize,
    },
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
    /// A metrics line was written.
    Metrics(MetricsRecord),
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
    /// One evaluation pass of PT finished.
    Evaluation {
        index: usize,
        total: usize,
        label: String,
    },
    /// A decision was made (SGAS edge, PT operation or topology).
    Decision(serde_json::Value),
    /// A line for the user.
    Note(String),
    /// The job ended; `state` is finished, interrupted or diverged.
    Finished { state: String, message: String },
}

/// Pause and cancel requests from the outside, checked between steps.
#[derive(Clone, Debug, Default)]
pub struct Control {
    cancel: Arc<AtomicBool>,
    pause: Arc<AtomicBool>,
}

impl Control {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the job to save a checkpoint and stop at the next step boundary.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }

    pub fn set_paused(&self, paused: bool) {
        self.pause.store(paused, Ordering::SeqCst);
    }

    pub fn is_paused(&self) -> bool {
        self.pause.load(Ordering::SeqCst)
    }

    /// Blocks while paused; returns true when the job should stop.
    pub fn checkpoint_or_stop(&self) -> bool {
        while self.is_paused() && !self.is_cancelled() {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.is_cancelled()
    }

    /// The flag a Ctrl-C handler can set.
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        self.cancel.clone()
    }
}

/// Where events go.
pub type Sink<'a> = &'a mut dyn FnMut(&Event);
