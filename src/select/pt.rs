//! Perturbation-based architecture selection (PT, spec section 3 with the errata of section 9).
//!
//! Starting from a trained supernet, PT decides one edge per cell type every `proj_intv`
//! tuning epochs: it masks each candidate operation in turn (zeroing its mixing weight without
//! renormalising the others), measures the supernet on the whole held-out half, and keeps the
//! operation whose removal hurts most. For DARTS-type spaces it then chooses each node's two
//! inputs the same way, striking the edge whose removal hurts least until two remain.
//!
//! Scoring uses batch statistics, like the official code, but on a copy of the network that
//! records no graph and does not update the running statistics: the official code updates them
//! as a side effect of every scoring pass, so its later passes see statistics perturbed by the
//! earlier masks. Here a pass leaves weights and statistics exactly as it found them.
//!
//! As a job, PT steps through its scoring passes a batch at a time and its tuning epochs a step
//! at a time. It checkpoints after every tuning epoch; a cancel stops it at the next step, and
//! resuming replays from that checkpoint exactly (every pass is a function of its index).

use std::cmp::Ordering;
use std::rc::Rc;

use anyhow::{Context, Result};
use burn::tensor::Device;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{Checkpoint, Readback};
use crate::config::{Criterion, Method, PtConfig, SearchConfig};
use crate::job::batches::Batches;
use crate::job::lifecycle::Stopwatch;
use crate::job::streams::{PT_PASS, PT_TUNE_EPOCH, Stream};
use crate::job::sums::Window;
use crate::job::{Ctx, End, Event, Job, JobOptions};
use crate::nn::bn::BnMode;
use crate::nn::params::add_named;
use crate::nn::supernet::{CellProjection, Mask, Supernet, WeightPlan, weight_plans};
use crate::optim::{Adam, OptimState, Sgd};
use crate::run::{
    Decision, MetricsKind, MetricsRecord, OpDecision, RunDir, RunEvent, TopologyDecision,
    TopologyRound,
};
use crate::search::steps::{self, DeviceBatch, alpha_step, detached_probs};
use crate::search::{EvalPass, PassSetup, SearchData};
use crate::space::{CellType, DARTS_NODES, Family, SearchSpace, darts_edges, darts_node_edges};

/// PT's state between epochs (saved in its checkpoint).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PtState {
    pub epoch: usize,
    pub projections: Vec<CellProjection>,
    /// Per cell type, whether each node's topology is decided.
    pub topology_done: Vec<Vec<bool>>,
    pub op_decisions: Vec<OpDecision>,
    pub topology_decisions: Vec<TopologyDecision>,
    pub elapsed: f64,
    pub adam: OptimState,
    /// Number of evaluation passes so far.
    pub evaluations: usize,
}

/// Tuning epochs of the spec's schedule: DARTS family `intv * (14 + 3 - 1) + 1`, NB201
/// `intv * (6 - 1)`.
pub fn default_tune_epochs(space: &SearchSpace, proj_intv: usize) -> usize {
    let edges = space.num_edges();
    match space.family {
        Family::Darts => proj_intv * (edges + 3 - 1) + 1,
        Family::Nb201 => (proj_intv * (edges - 1)).max(1),
    }
}

/// Whether a decision event fires at the start of tuning epoch `epoch`.
pub fn is_event_epoch(epoch: usize, intv: usize, tune_epochs: usize, family: Family) -> bool {
    epoch.is_multiple_of(intv.max(1)) || (family == Family::Nb201 && epoch + 1 == tune_epochs)
}

/// The evaluation passes PT will make in total (for progress). Each event scores the
/// supernet once before its decisions and once after each; an operation decision scores every
/// operation of its edge; a topology decision scores 3 + 4 + 3 + ... candidate cuts.
pub fn planned_passes(space: &SearchSpace) -> usize {
    let cells = space.cell_types().len();
    let op_phase = space.num_edges() * (1 + cells * (space.num_ops() + 1));
    let topo_phase = if space.family == Family::Darts {
        3 + cells * ((3 + (4 + 3) + (5 + 4 + 3)) + 3)
    } else {
        0
    };
    op_phase + topo_phase
}

pub use crate::config::pt::choose_op;

/// Index of the candidate whose removal hurts least: the last maximum of accuracy (ties go to
/// the later edge), or the last minimum of loss.
pub fn choose_removal(criterion: Criterion, acc: &[f64], loss: &[f64]) -> usize {
    let mut best = 0;
    for i in 1..acc.len() {
        let take = match criterion {
            Criterion::Acc => acc[i].partial_cmp(&acc[best]) != Some(Ordering::Less),
            Criterion::Loss => loss[i].partial_cmp(&loss[best]) != Some(Ordering::Greater),
        };
        if take {
            best = i;
        }
    }
    best
}

/// Why PT stopped before its end.
pub(super) enum Stop {
    /// A cancel was asked for during tuning epoch `epoch`; resuming replays from the last
    /// checkpoint.
    Cancelled {
        epoch: usize,
    },
    Failed(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for Stop {
    fn from(e: E) -> Self {
        Stop::Failed(e.into())
    }
}

type Step<T> = std::result::Result<T, Stop>;

/// PT's outcome as a job's end.
pub(super) trait IntoEnd<T> {
    fn into_end(self) -> Result<End<T>>;
}

impl<T> IntoEnd<T> for Step<T> {
    fn into_end(self) -> Result<End<T>> {
        match self {
            Ok(t) => Ok(End::Finished(t)),
            Err(Stop::Cancelled { epoch }) => Ok(End::Interrupted { epoch, step: 0 }),
            Err(Stop::Failed(e)) => Err(e),
        }
    }
}

/// What a PT run works on; `settings` are resolved (seed, tuning epochs and evaluation batch
/// size given, `fixed_alpha` as it applies).
pub struct Pt {
    pub cfg: SearchConfig,
    pub space: SearchSpace,
    pub data: SearchData,
    pub device: Device,
    pub settings: PtConfig,
    pub run: RunDir,
    pub label: String,
    pub model: Supernet,
    pub adam: Adam,
}

/// A PT run in progress.
pub(super) struct PtRun {
    pt: Pt,
    sgd: Sgd,
    state: PtState,
    ctx: Rc<Ctx>,
    /// Passes planned in all (progress).
    total: usize,
}

/// Where a decision happens: cell type (and its index), epoch, and the supernet accuracy
/// before it.
#[derive(Clone, Copy, Debug)]
struct At {
    ci: usize,
    cell: CellType,
    epoch: usize,
    acc_before: f64,
}

impl Pt {
    /// PT alone, as a job, on the supernet in `self.model`: its checkpoints go to
    /// `self.run`, but no selection record is written. Ends with the tuned supernet and
    /// PT's final state.
    pub fn into_job(
        self,
        resume: Option<Checkpoint>,
        options: JobOptions,
    ) -> Result<Job<(Supernet, PtState)>> {
        let ctx = Ctx::new(options);
        let running = self.start(resume, ctx.clone())?;
        let body = async move { running.run(&mut |_| Ok(())).await.into_end() };
        Ok(Job::new("PT", ctx, body))
    }

    /// Starts PT, from its own checkpoint when `resume` holds one.
    pub(super) fn start(mut self, resume: Option<Checkpoint>, ctx: Rc<Ctx>) -> Result<PtRun> {
        anyhow::ensure!(
            self.settings.tune_epochs.is_some() && self.settings.seed.is_some(),
            "PT needs resolved settings: its tuning epochs and seed"
        );
        let cells = self.space.cell_types().len();
        // A fresh weight optimiser: constant lr, no momentum carried over.
        let mut sgd = Sgd::new(self.cfg.weights.momentum, self.cfg.weights.weight_decay);
        let mut state = PtState {
            projections: vec![CellProjection::new(self.space.num_edges()); cells],
            topology_done: vec![vec![false; DARTS_NODES]; cells],
            ..PtState::default()
        };
        if let Some(ckpt) = resume {
            let st: PtState =
                serde_json::from_value(ckpt.state.clone()).context("PT checkpoint state")?;
            self.model = crate::nn::params::load_named(self.model, &ckpt.section("model"))?;
            sgd.import("sgd", &ckpt.tensors, &self.device);
            self.adam
                .import("adam", &ckpt.tensors, &st.adam, &self.device);
            state = st;
        }
        // A process killed after its last checkpoint left records of the epochs it replays
        // now (a fresh start replays them all): they go, so each is recorded once.
        self.run.rewind_selection(&self.label, state.epoch)?;
        let total = planned_passes(&self.space);
        Ok(PtRun {
            pt: self,
            sgd,
            state,
            ctx,
            total,
        })
    }
}

impl PtRun {
    /// Runs PT to its end. `progress` is called after every decision event (the caller
    /// records the selection so far). Ends with the tuned supernet and PT's final state.
    pub(super) async fn run(
        mut self,
        progress: &mut dyn FnMut(&PtState) -> Result<()>,
    ) -> Step<(Supernet, PtState)> {
        match self.tune(progress).await {
            Ok(()) => Ok((self.pt.model, self.state)),
            Err(Stop::Cancelled { .. }) => Err(Stop::Cancelled {
                epoch: self.state.epoch,
            }),
            Err(e) => Err(e),
        }
    }

    /// Every tuning epoch, with the decision events due at its start.
    async fn tune(&mut self, progress: &mut dyn FnMut(&PtState) -> Result<()>) -> Step<()> {
        self.ctx.emit(Event::SelectionStarted {
            method: format!("PT ({})", self.pt.label),
            total: self.total,
        });
        let clock = Stopwatch::start();
        let base = self.state.elapsed;
        let (intv, tune_epochs) = (self.pt.settings.proj_intv, self.tune_epochs());
        while self.state.epoch < tune_epochs {
            let epoch = self.state.epoch;
            let last = epoch + 1 == tune_epochs;
            if is_event_epoch(epoch, intv, tune_epochs, self.pt.space.family) || last {
                while self.event(epoch).await? {
                    progress(&self.state)?;
                    // At the last epoch, make every remaining decision.
                    if !last || self.done() {
                        break;
                    }
                }
            }
            let rec = self.tune_epoch(epoch).await?;
            let run = &self.pt.run;
            // The tuning line is for the curves; failing to write it does not stop PT.
            let _ = run.append(&run.metrics(), &rec);
            self.ctx.emit(Event::Metrics(rec));
            self.state.epoch += 1;
            self.state.elapsed = base + clock.seconds();
            self.save().await?;
        }
        Ok(())
    }

    fn tune_epochs(&self) -> usize {
        self.pt
            .settings
            .tune_epochs
            .expect("resolved tuning epochs")
    }

    /// One evaluation pass over the held-out half with an optional mask. Pass `k` of the run
    /// gets its own order and augmentation, as the official code reshuffles every pass.
    async fn score(&mut self, mask: Option<(CellType, Mask)>) -> Step<(f64, f64)> {
        let pt = &self.pt;
        let plans = weight_plans(&self.state.projections, pt.space.num_ops(), mask);
        let probs = detached_probs(&pt.model);
        let k = self.state.evaluations as u64;
        self.state.evaluations += 1;
        let seed = Stream::Eval.seed(self.seed(), PT_PASS + k, 0);
        let setup = PassSetup {
            batch_size: pt.settings.eval_batch_size,
            augment: pt.settings.augment_eval.then_some((&pt.data.augment, seed)),
            bn: BnMode::Batch,
            prefetch: self.ctx.options().prefetch,
        };
        let half = &pt.data.alpha_half;
        let pass = EvalPass::new(&pt.model, &probs, &plans, &pt.data, half, setup, &pt.device);
        pass.run_or_cancel(&self.ctx)
            .await
            .ok_or(Stop::Cancelled { epoch: 0 })
    }

    fn seed(&self) -> u64 {
        self.pt.settings.seed.expect("resolved seed")
    }

    fn pick_random(&self, pool: &[usize], epoch: usize, cell: usize, stream: Stream) -> usize {
        let mut rng =
            ChaCha8Rng::seed_from_u64(stream.seed(self.seed(), epoch as u64, cell as u64));
        pool[rng.random_range(0..pool.len())]
    }

    /// The next edge to decide for cell type `ci`: a seeded random undecided one.
    fn next_edge(&self, ci: usize, epoch: usize) -> Option<usize> {
        let undecided = self.state.projections[ci].undecided_edges();
        (!undecided.is_empty()).then(|| self.pick_random(&undecided, epoch, ci, Stream::PtEdge))
    }

    fn evaluated(&self, label: String) {
        self.ctx.emit(Event::Evaluation {
            index: self.state.evaluations,
            total: self.total,
            label,
        });
    }

    async fn op_decision(&mut self, at: At, edge: usize) -> Step<OpDecision> {
        let ops = self.pt.space.ops(at.cell, edge).to_vec();
        let (mut acc, mut loss) = (Vec::new(), Vec::new());
        for (o, op) in ops.iter().enumerate() {
            let (l, a) = self
                .score(Some((at.cell, Mask::Op { edge, op: o })))
                .await?;
            acc.push(a);
            loss.push(l);
            let cell = at.cell;
            self.evaluated(format!(
                "{cell} edge {edge}: without {op} acc {:.2}%",
                100.0 * a
            ));
        }
        let chosen = choose_op(self.pt.settings.criterion, &acc, &loss);
        self.state.projections[at.ci].decided[edge] = Some(chosen);
        let (from, to) = edge_ends(&self.pt.space, edge);
        Ok(OpDecision {
            epoch: at.epoch,
            cell: at.cell.name().into(),
            edge,
            from,
            to,
            ops: ops.iter().map(|o| o.name().to_string()).collect(),
            acc_without: acc,
            loss_without: loss,
            chosen,
            chosen_name: ops[chosen].name().into(),
            acc_before: at.acc_before,
            acc_after: f64::NAN,
        })
    }

    async fn topology_decision(&mut self, at: At, node: usize) -> Step<TopologyDecision> {
        let removed = &self.state.projections[at.ci].removed;
        let mut candidates: Vec<usize> = darts_node_edges(node).filter(|e| !removed[*e]).collect();
        let mut rounds = Vec::new();
        while candidates.len() > 2 {
            let (mut acc, mut loss) = (Vec::new(), Vec::new());
            for &edge in &candidates {
                // Each candidate is scored from the node's current weights (errata 9.1).
                let (l, a) = self.score(Some((at.cell, Mask::Edge { edge }))).await?;
                acc.push(a);
                loss.push(l);
                let cell = at.cell;
                self.evaluated(format!(
                    "{cell} node {node}: without edge {edge} acc {:.2}%",
                    100.0 * a
                ));
            }
            let i = choose_removal(self.pt.settings.criterion, &acc, &loss);
            rounds.push(TopologyRound {
                candidates: candidates.clone(),
                acc_without: acc,
                loss_without: loss,
                removed: candidates[i],
            });
            candidates.remove(i);
        }
        for e in darts_node_edges(node) {
            if !candidates.contains(&e) {
                self.state.projections[at.ci].removed[e] = true;
            }
        }
        self.state.topology_done[at.ci][node] = true;
        Ok(TopologyDecision {
            epoch: at.epoch,
            cell: at.cell.name().into(),
            node,
            rounds,
            kept: candidates,
            acc_before: at.acc_before,
            acc_after: f64::NAN,
        })
    }

    /// The decision event at the start of tuning epoch `epoch` (one decision per cell type,
    /// normal first, no tuning in between). Returns false when nothing was left to decide.
    async fn event(&mut self, epoch: usize) -> Step<bool> {
        let ops_pending = self
            .state
            .projections
            .iter()
            .any(|p| !p.undecided_edges().is_empty());
        let mut acc = self.score(None).await?.1;
        let mut any = false;
        let cells = self.pt.space.cell_types().to_vec();
        for (ci, cell) in cells.into_iter().enumerate() {
            let at = At {
                ci,
                cell,
                epoch,
                acc_before: acc,
            };
            let decision = if ops_pending {
                let Some(edge) = self.next_edge(ci, epoch) else {
                    continue;
                };
                let mut d = self.op_decision(at, edge).await?;
                acc = self.score(None).await?.1;
                d.acc_after = acc;
                let without: Vec<String> = d
                    .acc_without
                    .iter()
                    .map(|a| format!("{:.1}", 100.0 * a))
                    .collect();
                let summary = format!(
                    "PT epoch {epoch}: {cell} edge {edge} ({}<-{}) -> {} (acc without each op: {})",
                    d.to,
                    d.from,
                    d.chosen_name,
                    without.join(" ")
                );
                self.state.op_decisions.push(d.clone());
                Decision::PtOpDecision {
                    summary,
                    decision: d,
                    label: Some(self.pt.label.clone()),
                }
            } else if self.pt.space.family == Family::Darts {
                let done = &self.state.topology_done[ci];
                let pending: Vec<usize> = (1..DARTS_NODES).filter(|n| !done[*n]).collect();
                if pending.is_empty() {
                    continue;
                }
                let node = self.pick_random(&pending, epoch, ci, Stream::PtNode);
                let mut d = self.topology_decision(at, node).await?;
                acc = self.score(None).await?.1;
                d.acc_after = acc;
                let summary = format!(
                    "PT epoch {epoch}: {cell} node {node} keeps edges {:?}",
                    d.kept
                );
                self.state.topology_decisions.push(d.clone());
                Decision::PtTopologyDecision {
                    summary,
                    decision: d,
                    label: Some(self.pt.label.clone()),
                }
            } else {
                continue;
            };
            // The record is for reading back; failing to write it does not stop PT.
            let _ = self.pt.run.record(&RunEvent::Decision(decision.clone()));
            self.ctx.emit(Event::Decision(decision));
            any = true;
        }
        Ok(any)
    }

    fn done(&self) -> bool {
        let ops_done = self
            .state
            .projections
            .iter()
            .all(|p| p.undecided_edges().is_empty());
        let topo_done = self.pt.space.family == Family::Nb201
            || self
                .state
                .topology_done
                .iter()
                .all(|n| n[1..].iter().all(|d| *d));
        ops_done && topo_done
    }

    /// One tuning epoch: alpha step (unless fixed) then weight step, over a fresh permutation
    /// of the weight half, at PT's constant learning rate.
    async fn tune_epoch(&mut self, epoch: usize) -> Step<MetricsRecord> {
        let (cfg, settings) = (&self.pt.cfg, &self.pt.settings);
        let plans: Vec<WeightPlan> =
            weight_plans(&self.state.projections, self.pt.space.num_ops(), None);
        let train_alpha = !settings.fixed_alpha
            && cfg.method.trains_alpha()
            && self
                .state
                .projections
                .iter()
                .any(|p| !p.undecided_edges().is_empty());
        let steps_total = self.pt.data.weight_half.len().div_ceil(cfg.batch_size);
        self.ctx.emit(Event::EpochStarted {
            epoch,
            epochs: self.tune_epochs(),
            steps: steps_total,
            start_step: 0,
        });
        let data = &self.pt.data;
        let e = PT_TUNE_EPOCH + epoch as u64;
        let bs = cfg.batch_size;
        let requests = data.bilevel_requests(self.seed(), e, bs, 0..steps_total, train_alpha);
        let prefetch = self.ctx.options().prefetch;
        let mut batches = Batches::new(&data.train, &data.normalize, requests, prefetch);
        let train_dev = self.pt.device.clone().autodiff();
        let mut window = Window::default();
        let clock = Stopwatch::start();
        for step in 0..steps_total {
            if self.ctx.boundary().await {
                return Err(Stop::Cancelled { epoch });
            }
            train_dev.seed(Stream::PtDevice.seed(self.seed(), e, step as u64));
            let wb = batches.next().context("the data loader stopped early")?;
            let wb = DeviceBatch::new(&wb, &train_dev);
            let ab = match train_alpha {
                true => Some(batches.next().context("the data loader stopped early")?),
                false => None,
            };
            let len = self.tune_step(
                &wb,
                ab.map(|b| DeviceBatch::new(&b, &train_dev)),
                &plans,
                &mut window,
                step,
            );
            self.ctx.emit(Event::Step {
                epoch,
                step: step + 1,
                steps: steps_total,
                images: len,
            });
        }
        let rows = window.read().await;
        let count = rows.images();
        let loss = (count > 0).then(|| rows.sum_f32(0) as f64 / count.max(1) as f64);
        let secs = clock.seconds().max(1e-9);
        Ok(MetricsRecord {
            kind: MetricsKind::Tune,
            epoch,
            step: steps_total,
            steps: steps_total,
            train_loss: loss,
            lr: self.pt.settings.lr,
            batch_size: self.pt.cfg.batch_size,
            elapsed: self.state.elapsed + secs,
            images_per_sec: count as f64 / secs,
            label: Some(self.pt.label.clone()),
            ..MetricsRecord::default()
        })
    }

    /// One tuning step: the alpha step on `alpha` (when given), then the weight step.
    fn tune_step(
        &mut self,
        wb: &DeviceBatch,
        alpha: Option<DeviceBatch>,
        plans: &[WeightPlan],
        window: &mut Window,
        step: usize,
    ) -> usize {
        let (cfg, settings) = (&self.pt.cfg, &self.pt.settings);
        let model = &mut self.pt.model;
        if let Some(ab) = alpha {
            alpha_step(model, &mut self.pt.adam, cfg.alpha.lr, &ab, plans);
        }
        let probs = detached_probs(model);
        let probs = match cfg.method {
            Method::SdartsRs => steps::perturb_uniform(probs, settings.epsilon),
            Method::SdartsAdv => {
                let k = cfg.sdarts.adv_steps;
                steps::perturb_adversarial(model, probs, settings.epsilon, k, wb, plans)
            }
            _ => probs,
        };
        let clip = cfg.weights.grad_clip;
        let stats = steps::weight_step(model, &mut self.sgd, settings.lr, clip, wb, probs, plans);
        window.push(step, stats.len, stats.row());
        stats.len
    }

    async fn save(&self) -> Result<()> {
        let mut tensors = Readback::default();
        add_named(&self.pt.model, "model", &mut tensors);
        self.sgd.export("sgd", &mut tensors);
        let mut state = self.state.clone();
        state.adam = self.pt.adam.export("adam", &mut tensors);
        let ckpt = Checkpoint {
            tensors: tensors.read().await,
            state: serde_json::to_value(&state)?,
        };
        ckpt.save(&self.pt.run.selection_checkpoint(&self.pt.label))?;
        Ok(())
    }
}

/// (from, to) states of an edge.
fn edge_ends(space: &SearchSpace, edge: usize) -> (usize, usize) {
    let e = match space.family {
        Family::Darts => darts_edges()[edge],
        Family::Nb201 => crate::space::nb201_edges()[edge],
    };
    (e.from, e.to)
}
