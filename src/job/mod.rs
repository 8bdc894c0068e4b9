//! Long-running work (search, selection, retraining) as jobs advanced one step at a time.
//!
//! A job is written as straight-line async code: it trains, evaluates and records, and at
//! every step boundary (after a training step or an evaluation batch) it awaits
//! [`Ctx::boundary`], which hands control back to whoever drives it. Driving is the caller's
//! choice: the CLI runs a job to the end in a plain loop ([`Job::run`]), the studio steps it on
//! a worker thread, a browser build can step it a few times per frame with no threads at all.
//! Pause is simply not stepping; cancel is asked at a boundary, where the job saves a
//! checkpoint (or knows it can replay from the last one) and ends as interrupted.
//!
//! What every job shares lives here: the driver and its [`Ctx`] (events, cancel, boundaries),
//! [`lifecycle`] (run status and the start, interrupt, divergence and end records),
//! [`sums`] (per-step numbers kept on the device and read back once, with the divergence
//! check), [`batches`] (batch plans built inline or by a prefetch thread), [`streams`] (the
//! registry of random streams) and [`read`] (host reads that a browser must await).

pub mod batches;
pub mod control;
pub mod event;
pub mod lifecycle;
pub mod pace;
pub mod read;
pub mod streams;
pub mod sums;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use anyhow::Result;

pub use control::Control;
pub use event::{Event, Sink};

/// How a job ended.
#[derive(Clone, Debug, PartialEq)]
pub enum End<T> {
    /// Ran to completion with this outcome.
    Finished(T),
    /// Stopped on request at (epoch, step); resume continues from its checkpoint.
    Interrupted { epoch: usize, step: usize },
    /// A loss became NaN or infinite at (epoch, step); the last good checkpoint is kept.
    Diverged { epoch: usize, step: usize },
}

/// Where a job diverged, for people (epochs counted from 1, as progress shows them).
pub fn divergence(epoch: usize, step: usize) -> String {
    format!(
        "the loss became NaN or infinite at epoch {}, step {step}",
        epoch + 1
    )
}

impl<T> End<T> {
    /// The outcome of a finished job.
    pub fn finished(self) -> Option<T> {
        match self {
            End::Finished(t) => Some(t),
            _ => None,
        }
    }
}

/// Options of how a job runs that do not change what it computes.
#[derive(Clone, Copy, Debug)]
pub struct JobOptions {
    /// Build batches on a worker thread ahead of the steps (native); `false` builds each batch
    /// when the step needs it, on the driver's thread (a browser, a thread-free test).
    pub prefetch: bool,
}

// Derivable on wasm, where the default is `false`; not natively.
#[allow(clippy::derivable_impls)]
impl Default for JobOptions {
    fn default() -> Self {
        JobOptions {
            prefetch: cfg!(not(target_family = "wasm")),
        }
    }
}

/// What a running job shares with its driver.
#[derive(Default)]
pub struct Ctx {
    events: RefCell<Vec<Event>>,
    cancel: Cell<bool>,
    options: JobOptions,
    /// Step boundaries reached so far: a poll that reached none is waiting on the device.
    boundaries: Cell<u64>,
}

impl Ctx {
    pub fn new(options: JobOptions) -> Rc<Ctx> {
        Rc::new(Ctx {
            options,
            ..Ctx::default()
        })
    }

    pub fn options(&self) -> JobOptions {
        self.options
    }

    /// Reports something to the driver (it forwards events after each step).
    pub fn emit(&self, e: Event) {
        self.events.borrow_mut().push(e);
    }

    /// Whether a cancel was asked for.
    pub fn cancelled(&self) -> bool {
        self.cancel.get()
    }

    /// A step boundary: hands control back to the driver once. Returns whether the job should
    /// stop here (a cancel was asked for).
    pub async fn boundary(&self) -> bool {
        self.boundaries.set(self.boundaries.get() + 1);
        YieldOnce(false).await;
        self.cancel.get()
    }
}

/// A future that is pending once, then ready: one step boundary.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

type Body<T> = Pin<Box<dyn Future<Output = Result<End<T>>>>>;

/// A job being driven: its body and what it shares with the driver.
pub struct Job<T> {
    /// What the job does, for the user ("search nb201 darts", "PT in runs/x").
    pub title: String,
    ctx: Rc<Ctx>,
    body: Option<Body<T>>,
}

impl<T: 'static> Job<T> {
    /// Wraps a job body built on `ctx`.
    pub fn new(
        title: impl Into<String>,
        ctx: Rc<Ctx>,
        body: impl Future<Output = Result<End<T>>> + 'static,
    ) -> Self {
        Job {
            title: title.into(),
            ctx,
            body: Some(Box::pin(body)),
        }
    }

    /// Advances the job to its next step boundary (one training step or one evaluation batch)
    /// and returns its end once it has one. Events it emitted wait in [`Job::take_events`].
    pub fn step(&mut self) -> Option<Result<End<T>>> {
        let body = self.body.as_mut()?;
        let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            body.as_mut().poll(&mut Context::from_waker(Waker::noop()))
        }));
        match polled {
            Ok(Poll::Pending) => None,
            Ok(Poll::Ready(end)) => {
                self.body = None;
                Some(end)
            }
            // A lost device ends the job with an error; any other panic is a bug and goes on.
            Err(payload) => match payload.downcast::<read::DeviceLost>() {
                Ok(lost) => {
                    self.body = None;
                    Some(Err(anyhow::Error::new(*lost)))
                }
                Err(other) => std::panic::resume_unwind(other),
            },
        }
    }

    /// The events emitted since the last call.
    pub fn take_events(&self) -> Vec<Event> {
        std::mem::take(&mut *self.ctx.events.borrow_mut())
    }

    /// Asks the job to stop at its next step boundary (saving a checkpoint where it has one
    /// to save).
    pub fn cancel(&self) {
        self.ctx.cancel.set(true);
    }

    /// Whether the job has ended.
    pub fn is_done(&self) -> bool {
        self.body.is_none()
    }

    /// Drives the job to its end on this thread: pausing while `control` says so, cancelling
    /// when it asks, passing every event to `sink`.
    pub fn run(mut self, control: &Control, sink: Sink) -> Result<End<T>> {
        loop {
            if control.is_cancelled() {
                self.cancel();
            } else if control.is_paused() {
                control.wait_while_paused();
                continue;
            }
            let end = self.step();
            for e in self.take_events() {
                sink(&e);
            }
            if let Some(end) = end {
                return end;
            }
        }
    }

    /// Drives the job to its end without holding its thread. Natively that is [`Job::run`].
    /// In a browser it steps for a few milliseconds, then lets the page paint and answer
    /// input; while a read from the GPU is pending, or while paused, it waits on the page's
    /// timer instead of spinning.
    pub async fn drive(self, control: &Control, sink: Sink<'_>) -> Result<End<T>> {
        #[cfg(not(target_arch = "wasm32"))]
        return self.run(control, sink);
        #[cfg(target_arch = "wasm32")]
        return self.drive_in_page(control, sink).await;
    }

    #[cfg(target_arch = "wasm32")]
    async fn drive_in_page(mut self, control: &Control, sink: Sink<'_>) -> Result<End<T>> {
        loop {
            let slice = web_time::Instant::now();
            let mut wait = 0;
            while slice.elapsed() < pace::SLICE {
                if control.is_cancelled() {
                    self.cancel();
                } else if control.is_paused() {
                    wait = 50;
                    break;
                }
                let before = self.ctx.boundaries.get();
                let end = self.step();
                for e in self.take_events() {
                    sink(&e);
                }
                if let Some(end) = end {
                    return end;
                }
                if self.ctx.boundaries.get() == before {
                    break;
                }
            }
            pace::sleep_ms(wait).await;
            pace::give_way().await;
        }
    }
}
