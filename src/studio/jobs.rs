//! Search and selection jobs started from the studio. They are the library's jobs, the same
//! the CLI drives, stepped on a worker thread; their [`Event`]s come back over a channel and
//! wake the UI, which never waits for them.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, channel};

use crate::device::SelectedDevice;
use crate::job::{Control, End, Event, JobOptions};
use crate::progress::describe;
use crate::run::Started;
use crate::search::{SearchStart, search_job};
use crate::select::{SelectRequest, selection_job};

/// Starts `f` off the UI thread. The one place the studio creates threads. A page has no
/// threads: there `f` runs at once (what the studio hands it there is short: reading a run,
/// a table); longer work goes through [`spawn_task`].
pub fn spawn_worker(name: &str, f: impl FnOnce() + Send + 'static) {
    #[cfg(target_arch = "wasm32")]
    {
        let _ = name;
        f();
    }
    #[cfg(not(target_arch = "wasm32"))]
    if let Err(e) = std::thread::Builder::new().name(name.to_string()).spawn(f) {
        eprintln!("darts-pt studio: cannot start a worker thread: {e}");
    }
}

/// Runs a task to its end off the UI: natively the future `make` builds runs on a worker
/// thread (where it never waits long); in a page it is a task of the page's event loop, which
/// it must give turns to (see [`crate::job::pace`]).
pub fn spawn_task<F>(name: &str, make: impl FnOnce() -> F + Send + 'static)
where
    F: std::future::Future<Output = ()> + 'static,
{
    #[cfg(target_arch = "wasm32")]
    {
        let _ = name;
        wasm_bindgen_futures::spawn_local(make());
    }
    #[cfg(not(target_arch = "wasm32"))]
    spawn_worker(name, move || pollster::block_on(make()));
}

/// Runs `f`, turning a panic into an error message so a failing job cannot take the UI down.
pub fn catch<T>(f: impl FnOnce() -> anyhow::Result<T>) -> Result<T, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{e:#}")),
        Err(p) => Err(p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "the job panicked".into())),
    }
}

/// [`catch`] for a task's future: natively the panic is caught on the worker's thread; in a
/// page a panic ends the module anyway (the page shows it), so the future is only awaited.
pub async fn catch_async<T>(f: impl Future<Output = anyhow::Result<T>>) -> Result<T, String> {
    #[cfg(not(target_arch = "wasm32"))]
    return catch(|| pollster::block_on(f));
    #[cfg(target_arch = "wasm32")]
    return f.await.map_err(|e| format!("{e:#}"));
}

/// Locks a mutex shared with a worker, even one poisoned by a worker that panicked: the UI
/// still reads what is there.
pub fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a job does.
pub enum JobSpec {
    Search(Box<SearchStart>),
    Select(SelectRequest),
}

enum Msg {
    Event(Event),
    Done(Result<String, String>),
}

/// A running (or finished) job and what it has reported so far.
pub struct Job {
    pub title: String,
    /// The run directory it writes.
    pub run: PathBuf,
    control: Control,
    rx: Receiver<Msg>,
    pub paused: bool,
    /// Epochs of the current job phase (search or PT tuning).
    epochs: usize,
    /// "epoch 2/3", "evaluation 14/36"...
    pub phase: String,
    /// Fraction of the current phase done.
    pub fraction: f32,
    /// The latest metrics line, described.
    pub last_metrics: String,
    /// Notes and decisions, newest last.
    pub log: Vec<String>,
    /// Set when the job has ended: Ok(state message) or Err(error).
    pub outcome: Option<Result<String, String>>,
}

impl Job {
    /// Starts a job on `device`; `wake` is called after every event (it repaints the UI).
    pub fn start(spec: JobSpec, device: SelectedDevice, wake: impl Fn() + Send + 'static) -> Job {
        let (tx, rx) = channel::<Msg>();
        let control = Control::new();
        let (title, run) = match &spec {
            JobSpec::Search(start) => match start.as_ref() {
                SearchStart::Resume { dir } => {
                    (format!("resume search in {}", short(dir)), dir.clone())
                }
                SearchStart::New { config, dir } => (
                    format!(
                        "search {} {} ({})",
                        config.space, config.method, config.preset
                    ),
                    dir.clone(),
                ),
            },
            JobSpec::Select(r) => (
                format!("select {} in {}", r.method.name(), short(&r.run)),
                r.run.clone(),
            ),
        };
        let ctl = control.clone();
        // Natively on a worker thread, where the job never waits and a panic becomes an error;
        // in a page as a task of its event loop (the job yields between slices of steps).
        let body = move || {
            let send = move |m: Msg| {
                let _ = tx.send(m);
                wake();
            };
            async move {
                let mut sink = |e: &Event| send(Msg::Event(e.clone()));
                let run = run_spec(spec, &device, &ctl, &mut sink);
                #[cfg(not(target_arch = "wasm32"))]
                let result = catch(|| pollster::block_on(run));
                #[cfg(target_arch = "wasm32")]
                let result = run.await.map_err(|e| format!("{e:#}"));
                send(Msg::Done(result));
            }
        };
        spawn_task("darts-pt job", body);
        Job {
            title,
            run,
            control,
            rx,
            paused: false,
            epochs: 0,
            phase: "starting".into(),
            fraction: 0.0,
            last_metrics: String::new(),
            log: Vec::new(),
            outcome: None,
        }
    }

    pub fn is_done(&self) -> bool {
        self.outcome.is_some()
    }

    /// Asks the job to save a checkpoint and stop at the next step.
    pub fn cancel(&mut self) {
        self.control.cancel();
        self.paused = false;
        self.control.set_paused(false);
        self.log
            .push("cancel requested: saving a checkpoint".into());
    }

    pub fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
        self.control.set_paused(paused);
    }

    /// Takes in what the worker reported; returns true if anything arrived.
    pub fn poll(&mut self) -> bool {
        let mut any = false;
        while let Ok(m) = self.rx.try_recv() {
            any = true;
            match m {
                Msg::Event(e) => self.on_event(&e),
                Msg::Done(r) => {
                    match &r {
                        Ok(s) => self.log.push(s.clone()),
                        Err(e) => self.log.push(format!("error: {e}")),
                    }
                    self.outcome = Some(r);
                }
            }
        }
        if self.log.len() > 200 {
            self.log.drain(..self.log.len() - 200);
        }
        any
    }

    fn on_event(&mut self, e: &Event) {
        match e {
            Event::Started(Started {
                job,
                epochs,
                start_epoch,
                device,
                ..
            }) => {
                self.log.push(format!("{job} on {device}"));
                self.epochs = *epochs;
                self.phase = format!("epoch {}/{epochs}", start_epoch + 1);
            }
            Event::EpochStarted {
                epoch,
                epochs,
                steps,
                start_step,
            } => {
                self.epochs = *epochs;
                self.phase = format!("epoch {}/{epochs}", epoch + 1);
                self.fraction = *start_step as f32 / (*steps).max(1) as f32;
            }
            Event::Step {
                epoch, step, steps, ..
            } => {
                self.phase = format!("epoch {}/{}", epoch + 1, self.epochs);
                self.fraction = *step as f32 / (*steps).max(1) as f32;
            }
            Event::Metrics(m) => self.last_metrics = describe(m),
            Event::TrainMetrics(_) => {}
            Event::SelectionStarted { method, total } => {
                self.log
                    .push(format!("{method}: {total} evaluation passes planned"));
                self.phase = format!("evaluation 0/{total}");
                self.fraction = 0.0;
            }
            Event::Evaluation {
                index,
                total,
                label,
            } => {
                self.phase = format!("evaluation {index}/{total}");
                self.fraction = *index as f32 / (*total).max(1) as f32;
                self.last_metrics = label.clone();
            }
            Event::Decision(d) => self.log.push(d.summary()),
            Event::Note(n) => self.log.push(n.clone()),
            Event::Finished { message, .. } => self.log.push(message.clone()),
            Event::Checkpoint { .. } | Event::Alpha(_) => {}
        }
    }
}

/// Runs a job to its end; says how it ended.
async fn run_spec(
    spec: JobSpec,
    device: &SelectedDevice,
    ctl: &Control,
    sink: &mut dyn FnMut(&Event),
) -> anyhow::Result<String> {
    let options = JobOptions::default();
    Ok(match spec {
        JobSpec::Search(start) => match search_job(*start, device, options)?
            .drive(ctl, sink)
            .await?
        {
            End::Finished(()) => "search finished".to_string(),
            End::Interrupted { epoch, step } => format!(
                "search cancelled at epoch {}, step {step}: checkpoint saved, resume to continue",
                epoch + 1
            ),
            End::Diverged { epoch, step } => {
                format!("search stopped: {}", crate::job::divergence(epoch, step))
            }
        },
        JobSpec::Select(req) => match selection_job(&req, device, options)?
            .drive(ctl, sink)
            .await?
        {
            End::Finished(o) => format!(
                "{} selection finished: {}",
                o.record.label,
                o.record.genotype.unwrap_or_default()
            ),
            _ => "selection cancelled: resume to continue".to_string(),
        },
    })
}

/// The last path component, for titles.
pub fn short(p: &std::path::Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| p.display().to_string())
}
