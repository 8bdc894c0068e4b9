//! `darts-pt search`: bilevel supernet training as a resumable job (spec section 2).
//!
//! Every random choice is a pure function of (seed, stream, epoch, step): the data order and
//! augmentation through [`crate::job::streams`], and the device's random numbers (SDARTS noise,
//! S4's noise op) by re-seeding the device at every step. A checkpoint therefore needs only the
//! tensors, the optimiser states and the position (epoch, step) to resume exactly.

pub mod data;
pub mod eval;
mod job;
pub mod sgas;
mod sgas_pt;
pub mod state;
pub mod steps;

use std::path::PathBuf;

use anyhow::Result;

use crate::checkpoint::Checkpoint;
use crate::config::SearchConfig;
use crate::device::SelectedDevice;
use crate::job::lifecycle::{Lifecycle, Start};
use crate::job::{Control, Ctx, End, Event, Job, JobOptions, Sink};
use crate::run::dir::JOB_LOCK;
use crate::run::{RunDir, RunKind, RunReader};
pub use data::{SearchData, load_search_data};
pub use eval::{EvalPass, PassSetup};
pub use job::sdarts_epsilon;
pub use state::{checkpoint_projections, init_supernet, probabilities_host, restore_supernet};

use job::Search;
use state::LoopState;

/// Which search a job runs.
#[derive(Clone, Debug)]
pub enum SearchStart {
    /// A new run in `dir` (which must not hold one yet).
    New {
        config: Box<SearchConfig>,
        dir: PathBuf,
    },
    /// The run in `dir`, from its last checkpoint (or from the beginning without one).
    Resume { dir: PathBuf },
}

impl SearchStart {
    /// The run directory.
    pub fn dir(&self) -> &std::path::Path {
        match self {
            SearchStart::New { dir, .. } | SearchStart::Resume { dir } => dir,
        }
    }
}

/// A search's settings, directory and data, and the checkpoint it continues from.
struct Opened {
    cfg: SearchConfig,
    run: RunDir,
    data: SearchData,
    ckpt: Option<Checkpoint>,
}

/// Reads a run to resume, or writes a new one's settings.
fn open(start: SearchStart) -> Result<Opened> {
    Ok(match start {
        SearchStart::Resume { dir } => {
            let run = RunDir::open(&dir)?.hold(JOB_LOCK, "search")?;
            let cfg = RunReader::local(&dir).search_config()?;
            cfg.validate()?;
            let data = load_search_data(&cfg.data)?;
            let ckpt = match crate::storage::exists(&run.checkpoint()) {
                true => Some(Checkpoint::load(&run.checkpoint())?),
                false => None,
            };
            Opened {
                cfg,
                run,
                data,
                ckpt,
            }
        }
        SearchStart::New { config, dir } => {
            config.validate()?;
            // Read the data before creating the run directory: bad data must leave no run
            // behind (a stray config.toml would make the corrected command refuse it).
            let data = load_search_data(&config.data)?;
            let run = RunDir::create(&dir, "search")?;
            run.write_config(&config.to_toml())?;
            Opened {
                cfg: *config,
                run,
                data,
                ckpt: None,
            }
        }
    })
}

/// Prepares a search: reads (or writes) its settings, its data and its starting state. Errors
/// here (bad settings, bad data, a damaged checkpoint) come before any step.
pub fn search_job(
    start: SearchStart,
    device: &SelectedDevice,
    options: JobOptions,
) -> Result<Job<()>> {
    let resuming = matches!(start, SearchStart::Resume { .. });
    let Opened {
        cfg,
        run,
        data,
        ckpt,
    } = open(start)?;
    let ctx = Ctx::new(options);
    let (space, dev) = (cfg.space.space(), device.device.clone());
    let (model, sgd, adam, state) = match &ckpt {
        Some(ckpt) => {
            let (model, sgd, adam) = restore_supernet(&cfg, data.input, ckpt, &dev)?;
            let state = LoopState::of(ckpt)?;
            run.rewind(state.epoch, state.step)?;
            (model, sgd, adam, state)
        }
        None => {
            if resuming {
                let note = "no checkpoint yet: starting the run from the beginning";
                ctx.emit(Event::Note(note.into()));
                run.clear_records();
            }
            let (sgd, adam) = state::fresh_optimisers(&cfg);
            let cells = space.cell_types().len();
            let state = LoopState::fresh(&cfg, space.num_edges(), cells);
            (init_supernet(&cfg, data.input, &dev), sgd, adam, state)
        }
    };
    let title = format!(
        "search {} {} on {}",
        cfg.space, cfg.method, data.dataset_name
    );
    let start = Start {
        kind: RunKind::Search,
        title: title.clone(),
        device: device.description.clone(),
        epochs: cfg.epochs,
        start_epoch: state.epoch,
        elapsed: state.elapsed,
    };
    let (job_ctx, fresh) = (ctx.clone(), ckpt.is_none());
    let body = async move {
        let ctx = job_ctx;
        if fresh {
            let rec = state::alpha_record(0, &model).await;
            run.append(&run.alpha(), &rec)?;
            ctx.emit(Event::Alpha(rec));
        }
        let life = Lifecycle::start(&run, start, &ctx)?;
        let search = Search {
            cfg,
            data,
            space,
            dev,
            model,
            sgd,
            adam,
            state,
            life,
            ctx,
        };
        search.run().await
    };
    Ok(Job::new(title, ctx, body))
}

/// Runs (or resumes) a search to its end on this thread.
pub fn run_search(
    start: SearchStart,
    device: &SelectedDevice,
    sink: Sink,
    control: &Control,
) -> Result<End<()>> {
    search_job(start, device, JobOptions::default())?.run(control, sink)
}
