//! The start and the end of a job in its run directory, the same for every job: `run.json`
//! says where it stands, `events.jsonl` records the start, an interruption, a divergence or the
//! end, and the driver hears the same as [`Event`]s. The job's own clock lives here too.

use web_time::Instant;

use anyhow::Result;

use super::{Ctx, End, Event};
use crate::run::{RunDir, RunEvent, RunKind, RunState, RunStatus, Started};

/// Seconds on the wall clock since a job (or a window of its steps) started.
#[derive(Clone, Copy, Debug)]
pub struct Stopwatch(Instant);

impl Stopwatch {
    pub fn start() -> Self {
        Stopwatch(Instant::now())
    }

    pub fn seconds(&self) -> f64 {
        self.0.elapsed().as_secs_f64()
    }

    /// `n` per second since the start (never divided by zero).
    pub fn rate(&self, n: usize) -> f64 {
        n as f64 / self.seconds().max(1e-9)
    }
}

/// A job's standing in its run directory.
pub struct Lifecycle {
    pub run: RunDir,
    kind: RunKind,
    epochs: usize,
    device: String,
    /// Seconds spent before this process took over (summed over resumes).
    before: f64,
    clock: Stopwatch,
    /// The command that continues the run, quoted in messages.
    resume: String,
}

/// Who a job is, for its start record.
pub struct Start {
    pub kind: RunKind,
    pub title: String,
    /// The device, described for the user.
    pub device: String,
    pub epochs: usize,
    pub start_epoch: usize,
    /// Seconds the run had taken before (from its checkpoint).
    pub elapsed: f64,
}

impl Lifecycle {
    /// Marks the run as running and records the start.
    pub fn start(run: &RunDir, who: Start, ctx: &Ctx) -> Result<Lifecycle> {
        let command = match who.kind {
            RunKind::Search => "search",
            RunKind::Train => "train",
        };
        let life = Lifecycle {
            run: run.clone(),
            kind: who.kind,
            epochs: who.epochs,
            device: who.device.clone(),
            before: who.elapsed,
            clock: Stopwatch::start(),
            resume: format!("darts-pt {command} --resume {}", run.root.display()),
        };
        life.running(who.start_epoch)?;
        let started = Started {
            job: who.title,
            run_dir: run.root.display().to_string(),
            device: who.device,
            epochs: who.epochs,
            start_epoch: who.start_epoch,
        };
        run.record(&RunEvent::Started(started.clone()))?;
        ctx.emit(Event::Started(started));
        Ok(life)
    }

    /// Seconds the run has taken, over every process that worked on it.
    pub fn elapsed(&self) -> f64 {
        self.before + self.clock.seconds()
    }

    fn status(&self, state: RunState, epoch: usize, message: String) -> Result<()> {
        self.run.write_status(&RunStatus {
            format: crate::run::FORMAT,
            kind: self.kind,
            state,
            epoch,
            epochs: self.epochs,
            device: self.device.clone(),
            message,
        })
    }

    /// Records that `epoch` epochs are done and the job goes on.
    pub fn running(&self, epoch: usize) -> Result<()> {
        self.status(RunState::Running, epoch, String::new())
    }

    /// Ends the job as interrupted at (epoch, step); its checkpoint is already written.
    pub fn interrupted<T>(&self, ctx: &Ctx, epoch: usize, step: usize) -> Result<End<T>> {
        let msg = format!(
            "interrupted at epoch {}, step {step}: checkpoint saved; continue with `{}`",
            epoch + 1,
            self.resume
        );
        self.run.record(&RunEvent::Interrupted { epoch, step })?;
        self.end(ctx, RunState::Interrupted, epoch, msg)?;
        Ok(End::Interrupted { epoch, step })
    }

    /// Ends the job as diverged at (epoch, step), keeping the last good checkpoint.
    pub fn diverged<T>(&self, ctx: &Ctx, epoch: usize, step: usize) -> Result<End<T>> {
        let key = match self.kind {
            RunKind::Search => "[weights] lr",
            RunKind::Train => "[optim] lr",
        };
        let msg = format!(
            "{}; the run stopped and its last good checkpoint is kept: lower the learning rate \
             ({key}) in {} and continue with `{}`",
            super::divergence(epoch, step),
            self.run.config().display(),
            self.resume
        );
        self.run.record(&RunEvent::Diverged { epoch, step })?;
        self.end(ctx, RunState::Diverged, epoch, msg)?;
        Ok(End::Diverged { epoch, step })
    }

    /// Ends the job as finished.
    pub fn finished(&self, ctx: &Ctx, message: String) -> Result<()> {
        self.run
            .record(&RunEvent::Finished { epoch: self.epochs })?;
        self.end(ctx, RunState::Finished, self.epochs, message)
    }

    fn end(&self, ctx: &Ctx, state: RunState, epoch: usize, message: String) -> Result<()> {
        self.status(state, epoch, message.clone())?;
        ctx.emit(Event::Finished { state, message });
        Ok(())
    }
}
