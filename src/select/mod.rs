//! `darts-pt select`: derive the architecture from a trained supernet, by alpha's magnitude
//! (DARTS's rule) or by perturbation (PT), and record every decision in `selection.json`.
//!
//! A selection is a job like a search: it steps through its evaluation passes (and PT's tuning
//! epochs) and can be paused, cancelled and resumed. Its PT settings are the search run's own
//! `[pt]` settings, then a file, then flags ([`crate::config::layers`]); the record says which
//! settings it ran with.

pub mod magnitude;
pub mod perturb;
pub mod projection;
pub mod pt;
pub mod supernet_eval;

use std::path::{Path, PathBuf};
use std::rc::Rc;

use anyhow::{Context, Result, bail};
use burn::tensor::Device;

use crate::checkpoint::Checkpoint;
use crate::config::layers::PtFlags;
use crate::config::{Criterion, Method, PtConfig, SearchConfig, SelectMethod};
use crate::device::SelectedDevice;
use crate::genotype::Genotype;
use crate::job::{Control, Ctx, End, Event, Job, JobOptions, Sink};
use crate::lookup::{Nb201Entry, Nb201Table};
use crate::nn::bn::BnMode;
use crate::nn::supernet::{CellProjection, Supernet, weight_plans};
use crate::optim::Adam;
use crate::run::dir::selection_lock;
use crate::run::{RunDir, RunReader, RunState, SelectionRecord};
use crate::search::steps::detached_probs;
use crate::search::{
    EvalPass, PassSetup, SearchData, checkpoint_projections, load_search_data, restore_supernet,
};
use crate::space::SearchSpace;
pub use projection::{genotype_from_projection, projected_weights, projection_of};
use pt::{IntoEnd, Pt, PtState};

/// A selection request.
#[derive(Clone, Debug)]
pub struct SelectRequest {
    pub run: PathBuf,
    pub method: SelectMethod,
    /// A file whose `[pt]` table replaces the run's own PT settings key by key.
    pub pt_file: Option<PathBuf>,
    /// PT settings given as flags (over the file).
    pub pt: PtFlags,
    /// Continue an interrupted PT selection from its checkpoint.
    pub resume: bool,
    /// Write the record here as well as into the run's `selection.json`.
    pub out: Option<PathBuf>,
    /// NAS-Bench-201 table to look the selected cell up in.
    pub table: Option<PathBuf>,
}

impl SelectRequest {
    /// A selection with the run's own settings.
    pub fn new(run: &Path, method: SelectMethod) -> SelectRequest {
        SelectRequest {
            run: run.to_path_buf(),
            method,
            pt_file: None,
            pt: PtFlags::default(),
            resume: false,
            out: None,
            table: None,
        }
    }
}

/// What a finished selection gives back.
pub struct SelectOutcome {
    pub record: SelectionRecord,
    /// The supernet after PT's tuning (PT only), for callers that keep working with it.
    pub model: Option<Supernet>,
}

/// A selection at work: the request, the search run it selects from (settings, data, the
/// checkpoint and its projection) and the job's context.
struct Source {
    req: SelectRequest,
    cfg: SearchConfig,
    space: SearchSpace,
    data: SearchData,
    dev: Device,
    run: RunDir,
    /// The search's own projection (SGAS's decisions; free otherwise).
    projection: Vec<CellProjection>,
    ctx: Rc<Ctx>,
}

/// The label a selection is recorded under: "pt", "pt-loss", "pt-fixed-alpha", ...
pub fn label(method: SelectMethod, pt: &PtConfig, search: Method) -> String {
    match method {
        SelectMethod::Magnitude => "magnitude".into(),
        SelectMethod::Pt => {
            let mut label = "pt".to_string();
            if pt.criterion == Criterion::Loss {
                label += "-loss";
            }
            if pt.fixed_alpha && search != Method::FixedAlpha {
                label += "-fixed-alpha";
            }
            label
        }
    }
}

/// A selection's genotype text and the supernet it stands on: PT's tuned supernet when the
/// selection has one, else the search's checkpoint.
pub fn selection_source(run: &RunDir, label: &str) -> Result<(String, PathBuf)> {
    let text = crate::storage::read(&run.genotype(label))
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .with_context(|| {
            format!(
                "{}: the run has no selection '{label}' (see selection.json for the labels)",
                run.root.display()
            )
        })?;
    let tuned = run.selection_checkpoint(label);
    let checkpoint = match crate::storage::exists(&tuned) {
        true => tuned,
        false => run.checkpoint(),
    };
    Ok((text.trim().to_string(), checkpoint))
}

/// Prepares a selection on a finished (or checkpointed) search run.
pub fn selection_job(
    req: &SelectRequest,
    device: &SelectedDevice,
    options: JobOptions,
) -> Result<Job<SelectOutcome>> {
    let ctx = Ctx::new(options);
    let run = RunDir::open(&req.run)?;
    let reader = RunReader::local(&req.run);
    let cfg = reader.search_config()?;
    let space = cfg.space.space();
    let settings = resolve(req, &cfg, &space)?;
    let label = label(req.method, &settings, cfg.method);
    let run = run.hold(&selection_lock(&label), &format!("selection '{label}'"))?;
    if !crate::storage::exists(&run.checkpoint()) {
        bail!(
            "{}: the run has no checkpoint yet; run or resume its search first",
            run.root.display()
        );
    }
    if let Some(s) = reader.status()?
        && s.state != RunState::Finished
    {
        ctx.emit(Event::Note(format!(
            "note: the search is {} at epoch {}/{}; selecting from its last checkpoint",
            s.state, s.epoch, s.epochs
        )));
    }
    let ckpt = Checkpoint::load(&run.checkpoint())?;
    let data = load_search_data(&cfg.data)?;
    let dev = device.device.clone();
    let (model, _sgd, adam) = restore_supernet(&cfg, data.input, &ckpt, &dev)?;
    let title = format!("select {} in {}", req.method.name(), req.run.display());
    let src = Source {
        req: req.clone(),
        projection: checkpoint_projections(&ckpt)?,
        cfg,
        space,
        data,
        dev,
        run,
        ctx: ctx.clone(),
    };
    Ok(match req.method {
        SelectMethod::Magnitude => Job::new(title, ctx, magnitude_body(src, model, settings)),
        SelectMethod::Pt => {
            let ckpt = src.run.selection_checkpoint(&label);
            let resume = match req.resume && crate::storage::exists(&ckpt) {
                true => Some(Checkpoint::load(&ckpt)?),
                false => None,
            };
            if src.cfg.method == Method::Sgas {
                bail!(
                    "{}: SGAS decides every edge during its search, so its supernet is already \
                     discrete (`select --method magnitude` reads SGAS's decisions back); for \
                     SGAS+PT, where PT chooses the operation at each of SGAS's decisions, search \
                     with `--method sgas --sgas-op pt`",
                    src.run.root.display()
                );
            }
            if src.cfg.method == Method::Darts2 {
                let note = "note: PT tunes with first-order alpha steps (the reference code has no second-order PT)";
                ctx.emit(Event::Note(note.into()));
            }
            let body = pt_body(src, model, adam, settings, label, resume);
            Job::new(title, ctx, body)
        }
    })
}

/// The PT settings of a selection, resolved: the run's, the file's, the flags', with the seed,
/// the tuning epochs and the evaluation batch size filled in and fixed alpha as it applies.
fn resolve(req: &SelectRequest, cfg: &SearchConfig, space: &SearchSpace) -> Result<PtConfig> {
    let mut pt = PtConfig::resolve(&cfg.pt, req.pt_file.as_deref(), &req.pt)?;
    pt.seed = Some(pt.seed.unwrap_or(cfg.seed));
    pt.tune_epochs = Some(
        pt.tune_epochs
            .unwrap_or_else(|| pt::default_tune_epochs(space, pt.proj_intv)),
    );
    if pt.eval_batch_size == 0 {
        pt.eval_batch_size = cfg.batch_size;
    }
    // The label says whether fixed alpha was asked for; the settings say whether it applied.
    Ok(pt)
}

impl Source {
    /// Held-out accuracy of `model` under a projection (batch statistics, no augmentation).
    async fn accuracy(
        &self,
        model: &Supernet,
        projections: &[CellProjection],
        batch: usize,
    ) -> f64 {
        let ctx = &self.ctx;
        let plans = weight_plans(projections, self.space.num_ops(), None);
        let setup = PassSetup {
            batch_size: batch,
            augment: None,
            bn: BnMode::Batch,
            prefetch: ctx.options().prefetch,
        };
        let (probs, half) = (detached_probs(model), &self.data.alpha_half);
        let pass = EvalPass::new(model, &probs, &plans, &self.data, half, setup, &self.dev);
        pass.run(ctx).await.1
    }
}

/// Completes `rec` with the selected cell, the supernet's held-out accuracy once discretised
/// to it, and its NAS-Bench-201 entry; writes it.
fn finish(
    mut rec: SelectionRecord,
    genotype: Genotype,
    after: f64,
    src: &Source,
) -> Result<SelectionRecord> {
    let (req, run) = (&src.req, &src.run);
    rec.nb201 = lookup(req.table.as_deref(), &genotype, &src.ctx);
    rec.complete = true;
    rec.genotype = Some(genotype.to_string());
    rec.genotype_json = Some(genotype);
    rec.supernet_acc_after = Some(after);
    run.write_selection(&rec)?;
    if let Some(out) = &req.out {
        run.write_json(out, &rec)?;
    }
    Ok(rec)
}

fn lookup(table: Option<&Path>, g: &Genotype, ctx: &Ctx) -> Option<Nb201Entry> {
    let Genotype::Nb201(cell) = g else {
        return None;
    };
    let result = Nb201Table::from_env_or(table)?
        .map_err(|e| format!("cannot read the NAS-Bench-201 table: {e}"));
    match result.and_then(|t| {
        t.query(cell)
            .map_err(|e| format!("NAS-Bench-201 lookup failed: {e}"))
    }) {
        Ok(entry) => Some(entry),
        Err(e) => {
            ctx.emit(Event::Note(e));
            None
        }
    }
}

/// The record every selection starts from.
fn record(
    label: String,
    method: SelectMethod,
    src: &Source,
    settings: &PtConfig,
) -> SelectionRecord {
    SelectionRecord {
        label,
        method,
        criterion: None,
        fixed_alpha: false,
        space: src.cfg.space.to_string(),
        search_method: src.cfg.method.to_string(),
        seed: settings.seed.unwrap_or(src.cfg.seed),
        complete: false,
        genotype: None,
        genotype_json: None,
        weights: Vec::new(),
        supernet_acc_before: None,
        supernet_acc_after: None,
        edges: Vec::new(),
        op_decisions: Vec::new(),
        topology_decisions: Vec::new(),
        tune_epochs: None,
        settings: None,
        evaluations: 0,
        elapsed: 0.0,
        nb201: None,
    }
}

async fn magnitude_body(
    src: Source,
    model: Supernet,
    settings: PtConfig,
) -> Result<End<SelectOutcome>> {
    let batch = settings.eval_batch_size;
    let plans = weight_plans(&src.projection, src.space.num_ops(), None);
    let weights = projected_weights(&model, &plans).await;
    let (genotype, edges) = magnitude::derive(&weights, &src.space);
    // The discretised supernet: the chosen op of each kept edge with weight 1.
    let proj = projection_of(&genotype, &src.space)?;
    let before = src.accuracy(&model, &src.projection, batch).await;
    let after = src.accuracy(&model, &proj, batch).await;
    let mut rec = record("magnitude".into(), SelectMethod::Magnitude, &src, &settings);
    rec.weights = weights;
    rec.supernet_acc_before = Some(before);
    rec.edges = edges;
    rec.evaluations = 2;
    let record = finish(rec, genotype, after, &src)?;
    Ok(End::Finished(SelectOutcome {
        record,
        model: None,
    }))
}

async fn pt_body(
    src: Source,
    model: Supernet,
    adam: Adam,
    mut settings: PtConfig,
    label: String,
    resume: Option<Checkpoint>,
) -> Result<End<SelectOutcome>> {
    settings.fixed_alpha |= src.cfg.method == Method::FixedAlpha;
    let batch = settings.eval_batch_size;
    let before = src.accuracy(&model, &src.projection, batch).await;
    let mut base = record(label.clone(), SelectMethod::Pt, &src, &settings);
    base.criterion = Some(settings.criterion);
    base.fixed_alpha = settings.fixed_alpha;
    base.supernet_acc_before = Some(before);
    base.tune_epochs = settings.tune_epochs;
    base.settings = Some(settings.clone());
    let with = |state: &PtState| SelectionRecord {
        op_decisions: state.op_decisions.clone(),
        topology_decisions: state.topology_decisions.clone(),
        evaluations: state.evaluations,
        elapsed: state.elapsed,
        ..base.clone()
    };
    let pt = Pt {
        cfg: src.cfg.clone(),
        space: src.space.clone(),
        data: src.data.clone(),
        device: src.dev.clone(),
        settings,
        run: src.run.clone(),
        label,
        model,
        adam,
    };
    let running = pt.start(resume, src.ctx.clone())?;
    let mut progress = |state: &PtState| src.run.write_selection(&with(state));
    let (model, state) = match running.run(&mut progress).await.into_end()? {
        End::Finished(done) => done,
        End::Interrupted { epoch, step } => {
            src.ctx.emit(Event::Finished {
                state: RunState::Interrupted,
                message: format!(
                    "PT interrupted; continue with `darts-pt select --run {} --method pt --resume`",
                    src.run.root.display()
                ),
            });
            return Ok(End::Interrupted { epoch, step });
        }
        End::Diverged { epoch, step } => return Ok(End::Diverged { epoch, step }),
    };
    let genotype = genotype_from_projection(&src.space, &state.projections)?;
    let plans = weight_plans(&state.projections, src.space.num_ops(), None);
    let mut rec = with(&state);
    rec.weights = projected_weights(&model, &plans).await;
    let after = src.accuracy(&model, &state.projections, batch).await;
    let record = finish(rec, genotype, after, &src)?;
    Ok(End::Finished(SelectOutcome {
        record,
        model: Some(model),
    }))
}

/// Runs a selection to its end on this thread.
pub fn run_select(
    req: &SelectRequest,
    device: &SelectedDevice,
    sink: Sink,
    control: &Control,
) -> Result<End<SelectOutcome>> {
    selection_job(req, device, JobOptions::default())?.run(control, sink)
}
