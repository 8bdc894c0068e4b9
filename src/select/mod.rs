//! `darts-pt select`: derive the architecture from a trained supernet, by alpha's magnitude
//! (DARTS's rule) or by perturbation (PT), and record every decision in `selection.json`.

pub mod magnitude;
pub mod perturb;
pub mod pt;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{Checkpoint, write_atomic};
use crate::config::{Method, SearchConfig};
use crate::device::SelectedDevice;
use crate::genotype::{DartsGenotype, Gene, Genotype, Nb201Genotype};
use crate::job::{Control, Event, Sink};
use crate::lookup::{Nb201Entry, Nb201Table};
use crate::nn::bn::BnMode;
use crate::nn::supernet::{CellProjection, Supernet, WeightPlan, weight_plans};
use crate::run::RunDir;
use crate::search::steps::detached_probs;
use crate::search::{
    SearchData, checkpoint_projections, checkpoint_sgas_order, evaluate, load_search_data,
    restore_supernet,
};
use crate::space::{DARTS_NODES, Family, OpKind, SearchSpace, darts_edges, darts_node_edges};
use pt::{Criterion, EdgeOrder, PtJob, PtSettings, PtState};

/// Which selection to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SelectMethod {
    Magnitude,
    Pt,
}

impl std::str::FromStr for SelectMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "magnitude" => Ok(SelectMethod::Magnitude),
            "pt" => Ok(SelectMethod::Pt),
            _ => Err(format!(
                "unknown selection method '{s}' (expected magnitude or pt)"
            )),
        }
    }
}

/// A selection request.
#[derive(Clone, Debug)]
pub struct SelectRequest {
    pub run: PathBuf,
    pub method: SelectMethod,
    pub criterion: Criterion,
    /// Force PT's fixed-alpha variant (no alpha updates while tuning).
    pub fixed_alpha: bool,
    /// Continue an interrupted PT run from its checkpoint.
    pub resume: bool,
    /// Write the record here as well as into the run's `selection.json`.
    pub out: Option<PathBuf>,
    /// Override PT's number of tuning epochs.
    pub tune_epochs: Option<usize>,
    /// Seed of PT's edge order and scoring passes (default: the search seed).
    pub seed: Option<u64>,
    /// NAS-Bench-201 table to look the selected cell up in.
    pub table: Option<PathBuf>,
}

/// Everything `select` records about one selection.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SelectionRecord {
    /// "magnitude", "pt", "pt-loss", "pt-fixed-alpha"...
    pub label: String,
    pub method: SelectMethod,
    pub criterion: Option<Criterion>,
    pub fixed_alpha: bool,
    pub space: String,
    pub search_method: String,
    pub seed: u64,
    /// Whether selection ran to completion.
    pub complete: bool,
    pub genotype: Option<String>,
    pub genotype_json: Option<Genotype>,
    /// The final mixing weights per cell type (normal first).
    pub weights: Vec<Vec<Vec<f32>>>,
    /// Held-out accuracy of the supernet under the final (discretised) weights, BN in
    /// batch-statistics mode, and before selection.
    pub supernet_acc_before: Option<f64>,
    pub supernet_acc_after: Option<f64>,
    /// Magnitude: every edge's weights and whether it was kept.
    #[serde(default)]
    pub edges: Vec<magnitude::EdgeChoice>,
    /// PT: every operation decision and topology decision, in order.
    #[serde(default)]
    pub op_decisions: Vec<pt::OpDecision>,
    #[serde(default)]
    pub topology_decisions: Vec<pt::TopologyDecision>,
    pub tune_epochs: Option<usize>,
    pub evaluations: usize,
    pub elapsed: f64,
    pub nb201: Option<Nb201Entry>,
}

/// Reads `selection.json` (label -> record).
pub fn read_selections(run: &RunDir) -> BTreeMap<String, SelectionRecord> {
    std::fs::read_to_string(run.root.join("selection.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn write_selection(run: &RunDir, rec: &SelectionRecord, out: Option<&Path>) -> Result<()> {
    let mut all = read_selections(run);
    all.insert(rec.label.clone(), rec.clone());
    write_atomic(
        &run.root.join("selection.json"),
        serde_json::to_string_pretty(&all)?.as_bytes(),
    )?;
    if let Some(g) = &rec.genotype {
        write_atomic(&run.genotype(&rec.label), format!("{g}\n").as_bytes())?;
    }
    if let Some(out) = out {
        write_atomic(out, serde_json::to_string_pretty(rec)?.as_bytes())?;
    }
    Ok(())
}

/// The host copy of the projected weights W per cell type.
fn projected_weights(model: &Supernet, plans: &[WeightPlan]) -> Vec<Vec<Vec<f32>>> {
    detached_probs(model)
        .into_iter()
        .zip(plans)
        .map(|(p, plan)| {
            let m = plan.matrix(p);
            let [e, o] = m.dims();
            let v: Vec<f32> = m.into_data().try_into_vec().expect("f32");
            (0..e).map(|i| v[i * o..(i + 1) * o].to_vec()).collect()
        })
        .collect()
}

/// The genotype a finished projection encodes: each node's surviving edges (DARTS, in edge
/// order, as the tie-broken magnitude rule lists weight-1 edges) or each edge's op (NB201).
pub fn genotype_from_projection(
    space: &SearchSpace,
    projections: &[CellProjection],
) -> Result<Genotype> {
    match space.family {
        Family::Darts => {
            let edges = darts_edges();
            let mut cells = Vec::new();
            for (ci, cell) in space.cell_types().iter().enumerate() {
                let p = &projections[ci];
                let mut genes = Vec::new();
                for node in 0..DARTS_NODES {
                    let kept: Vec<usize> = darts_node_edges(node)
                        .filter(|e| !p.removed[*e] && p.decided[*e].is_some())
                        .collect();
                    if kept.len() != 2 {
                        bail!(
                            "{cell} cell node {node} has {} selected inputs, expected 2",
                            kept.len()
                        );
                    }
                    for e in kept {
                        let op = space.ops(*cell, e)[p.decided[e].expect("decided")];
                        genes.push(Gene::new(op, edges[e].from));
                    }
                }
                cells.push(genes);
            }
            let mut cells = cells.into_iter();
            Ok(Genotype::Darts(DartsGenotype {
                normal: cells.next().unwrap_or_default(),
                normal_concat: vec![2, 3, 4, 5],
                reduce: cells.next().unwrap_or_default(),
                reduce_concat: vec![2, 3, 4, 5],
            }))
        }
        Family::Nb201 => {
            let mut ops = [OpKind::None; 6];
            for (e, op) in ops.iter_mut().enumerate() {
                let o = projections[0].decided[e].context("an NB201 edge is undecided")?;
                *op = space.ops(crate::space::CellType::Normal, e)[o];
            }
            Ok(Genotype::Nb201(Nb201Genotype::new(ops)))
        }
    }
}

fn lookup(table: Option<&Path>, g: &Genotype, sink: Sink) -> Option<Nb201Entry> {
    let Genotype::Nb201(cell) = g else {
        return None;
    };
    match Nb201Table::from_env_or(table)? {
        Ok(t) => match t.query(cell) {
            Ok(entry) => Some(entry),
            Err(e) => {
                sink(&Event::Note(format!("NAS-Bench-201 lookup failed: {e}")));
                None
            }
        },
        Err(e) => {
            sink(&Event::Note(format!(
                "cannot read the NAS-Bench-201 table: {e}"
            )));
            None
        }
    }
}

/// What a finished selection gives back.
pub struct SelectOutcome {
    pub record: SelectionRecord,
    /// The supernet after PT's tuning (PT only), for callers that keep working with it.
    pub model: Option<Supernet>,
}

/// Runs a selection on a finished (or checkpointed) search run.
pub fn run_select(
    req: &SelectRequest,
    device: &SelectedDevice,
    sink: Sink,
    control: &Control,
) -> Result<Option<SelectOutcome>> {
    let run = RunDir::open(&req.run)?;
    let cfg = SearchConfig::from_toml_file(&run.config())?;
    if !run.checkpoint().exists() {
        bail!(
            "{}: the run has no checkpoint yet; run or resume its search first",
            run.root.display()
        );
    }
    if let Some(s) = run.read_status()
        && s.state != "finished"
    {
        sink(&Event::Note(format!(
            "note: the search is {} at epoch {}/{}; selecting from its last checkpoint",
            s.state, s.epoch, s.epochs
        )));
    }
    let ckpt = Checkpoint::load(&run.checkpoint())?;
    let data = load_search_data(&cfg.data)?;
    let space = cfg.space.space();
    let dev = device.device.clone();
    let (model, _sgd, adam) = restore_supernet(&cfg, data.input, &ckpt, &dev)?;
    let search_proj = checkpoint_projections(&ckpt)?;
    let seed = req.seed.unwrap_or(cfg.seed);
    let eval_batch = if cfg.pt.eval_batch_size > 0 {
        cfg.pt.eval_batch_size
    } else {
        cfg.batch_size
    };

    match req.method {
        SelectMethod::Magnitude => {
            let plans = weight_plans(&search_proj, space.num_ops(), None);
            let weights = projected_weights(&model, &plans);
            let (genotype, edges) = magnitude::derive(&weights, &space);
            // The discretised supernet: the chosen op of each kept edge with weight 1.
            let proj = projection_of(&genotype, &space)?;
            let acc_before = supernet_acc(&model, &search_proj, &space, &data, eval_batch, &dev);
            let acc_after = supernet_acc(&model, &proj, &space, &data, eval_batch, &dev);
            let nb201 = lookup(req.table.as_deref(), &genotype, sink);
            let record = SelectionRecord {
                label: "magnitude".into(),
                method: SelectMethod::Magnitude,
                criterion: None,
                fixed_alpha: false,
                space: cfg.space.to_string(),
                search_method: cfg.method.to_string(),
                seed,
                complete: true,
                genotype: Some(genotype.to_string()),
                genotype_json: Some(genotype),
                weights,
                supernet_acc_before: Some(acc_before),
                supernet_acc_after: Some(acc_after),
                edges,
                op_decisions: Vec::new(),
                topology_decisions: Vec::new(),
                tune_epochs: None,
                evaluations: 2,
                elapsed: 0.0,
                nb201,
            };
            write_selection(&run, &record, req.out.as_deref())?;
            Ok(Some(SelectOutcome {
                record,
                model: None,
            }))
        }
        SelectMethod::Pt => {
            let fixed_alpha = req.fixed_alpha || cfg.method == Method::FixedAlpha;
            let mut label = "pt".to_string();
            if req.criterion == Criterion::Loss {
                label += "-loss";
            }
            if req.fixed_alpha && cfg.method != Method::FixedAlpha {
                label += "-fixed-alpha";
            }
            let order = if cfg.method == Method::Sgas {
                EdgeOrder::Given(checkpoint_sgas_order(&ckpt)?)
            } else {
                EdgeOrder::Random
            };
            if cfg.method == Method::Darts2 {
                sink(&Event::Note("note: PT tunes with first-order alpha steps (the reference code has no second-order PT)".into()));
            }
            let tune_epochs = req
                .tune_epochs
                .unwrap_or_else(|| pt::default_tune_epochs(&space, cfg.pt.proj_intv));
            let settings = PtSettings {
                criterion: req.criterion,
                fixed_alpha,
                order,
                seed,
                tune_epochs,
                proj_intv: cfg.pt.proj_intv,
                eval_batch,
            };
            let job = PtJob {
                cfg: &cfg,
                space: &space,
                data: &data,
                device: &dev,
                settings: settings.clone(),
                run: &run,
                label: label.clone(),
            };
            let resume_ckpt = if req.resume && run.selection_checkpoint(&label).exists() {
                Some(Checkpoint::load(&run.selection_checkpoint(&label))?)
            } else {
                None
            };
            let acc_before = supernet_acc(&model, &search_proj, &space, &data, eval_batch, &dev);
            let base = |state: &PtState, complete: bool| SelectionRecord {
                label: label.clone(),
                method: SelectMethod::Pt,
                criterion: Some(req.criterion),
                fixed_alpha,
                space: cfg.space.to_string(),
                search_method: cfg.method.to_string(),
                seed,
                complete,
                genotype: None,
                genotype_json: None,
                weights: Vec::new(),
                supernet_acc_before: Some(acc_before),
                supernet_acc_after: None,
                edges: Vec::new(),
                op_decisions: state.op_decisions.clone(),
                topology_decisions: state.topology_decisions.clone(),
                tune_epochs: Some(tune_epochs),
                evaluations: state.evaluations,
                elapsed: state.elapsed,
                nb201: None,
            };
            let mut progress_writer = |state: &PtState| -> Result<()> {
                write_selection(&run, &base(state, false), None)
            };
            let Some((model, state)) = job.run(
                model,
                adam,
                resume_ckpt,
                sink,
                control,
                &mut progress_writer,
            )?
            else {
                sink(&Event::Finished {
                    state: "interrupted".into(),
                    message: format!(
                        "PT interrupted; continue with `darts-pt select --run {} --method pt --resume`",
                        run.root.display()
                    ),
                });
                return Ok(None);
            };
            let genotype = genotype_from_projection(&space, &state.projections)?;
            let plans = weight_plans(&state.projections, space.num_ops(), None);
            let weights = projected_weights(&model, &plans);
            let acc_after =
                supernet_acc(&model, &state.projections, &space, &data, eval_batch, &dev);
            let mut record = base(&state, true);
            record.nb201 = lookup(req.table.as_deref(), &genotype, sink);
            record.genotype = Some(genotype.to_string());
            record.genotype_json = Some(genotype);
            record.weights = weights;
            record.supernet_acc_after = Some(acc_after);
            write_selection(&run, &record, req.out.as_deref())?;
            Ok(Some(SelectOutcome {
                record,
                model: Some(model),
            }))
        }
    }
}

/// The projection that discretises a supernet to `genotype`.
pub fn projection_of(genotype: &Genotype, space: &SearchSpace) -> Result<Vec<CellProjection>> {
    let edges = space.num_edges();
    match genotype {
        Genotype::Nb201(g) => {
            let mut p = CellProjection::new(edges);
            for e in 0..edges {
                let op = g.ops[e];
                p.decided[e] = Some(
                    space
                        .ops(crate::space::CellType::Normal, e)
                        .iter()
                        .position(|o| *o == op)
                        .with_context(|| format!("{op} is not a candidate on edge {e}"))?,
                );
            }
            Ok(vec![p])
        }
        Genotype::Darts(g) => {
            let mut out = Vec::new();
            for cell in space.cell_types() {
                let mut p = CellProjection::new(edges);
                p.removed = vec![true; edges];
                for (e, op) in g.edge_ops(*cell) {
                    let o = space
                        .ops(*cell, e)
                        .iter()
                        .position(|c| *c == op)
                        .with_context(|| format!("{op} is not a candidate on {cell} edge {e}"))?;
                    p.removed[e] = false;
                    p.decided[e] = Some(o);
                }
                out.push(p);
            }
            Ok(out)
        }
    }
}

/// Held-out accuracy of the supernet under a projection (batch statistics, no augmentation).
pub fn supernet_acc(
    model: &Supernet,
    projections: &[CellProjection],
    space: &SearchSpace,
    data: &SearchData,
    batch: usize,
    device: &burn::tensor::Device,
) -> f64 {
    let plans = weight_plans(projections, space.num_ops(), None);
    let probs = detached_probs(model);
    evaluate(
        model,
        &probs,
        &plans,
        data,
        &data.alpha_half,
        batch,
        None,
        BnMode::Batch,
        device,
    )
    .1
}
