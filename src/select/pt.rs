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

use std::cmp::Ordering;
use std::time::Instant;

use anyhow::{Context, Result};
use burn::tensor::{Device, Tensor};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::checkpoint::Checkpoint;
use crate::config::{Method, SearchConfig};
use crate::data::{self, BatchRequest, Prefetcher};
use crate::job::{Control, Event, Sink};
use crate::nn::bn::BnMode;
use crate::nn::params::named_tensors;
use crate::nn::supernet::{CellProjection, Mask, Supernet, WeightPlan, weight_plans};
use crate::optim::{Adam, Sgd};
use crate::run::{MetricsRecord, RunDir};
use crate::search::steps::{self, DeviceBatch, alpha_step, detached_probs};
use crate::search::{SearchData, evaluate};
use crate::space::{CellType, DARTS_NODES, Family, SearchSpace, darts_edges, darts_node_edges};

/// What PT measures when an operation is masked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Criterion {
    /// Held-out accuracy: keep the op whose removal gives the lowest accuracy.
    Acc,
    /// Held-out loss: keep the op whose removal gives the highest loss.
    Loss,
}

impl std::str::FromStr for Criterion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "acc" => Ok(Criterion::Acc),
            "loss" => Ok(Criterion::Loss),
            _ => Err(format!("unknown criterion '{s}' (expected acc or loss)")),
        }
    }
}

/// How PT orders its edge decisions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeOrder {
    /// A seeded random undecided edge (node) per cell type and event, as the official code.
    Random,
    /// A given order per cell type (SGAS+PT follows SGAS's decisions); topology then follows
    /// SGAS's rule (a node is full once two of its edges are decided).
    Given(Vec<(String, usize)>),
}

/// One operation decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpDecision {
    pub epoch: usize,
    pub cell: String,
    pub edge: usize,
    pub from: usize,
    pub to: usize,
    /// Operation names of the edge, in index order.
    pub ops: Vec<String>,
    /// Held-out accuracy with each operation masked.
    pub acc_without: Vec<f64>,
    /// Held-out loss with each operation masked.
    pub loss_without: Vec<f64>,
    pub chosen: usize,
    pub chosen_name: String,
    /// Supernet accuracy before and after the decision.
    pub acc_before: f64,
    pub acc_after: f64,
}

/// One round of a topology decision: every remaining candidate's score when its edge is cut.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TopologyRound {
    pub candidates: Vec<usize>,
    pub acc_without: Vec<f64>,
    pub loss_without: Vec<f64>,
    pub removed: usize,
}

/// A topology decision for one node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TopologyDecision {
    pub epoch: usize,
    pub cell: String,
    /// Intermediate node index (0..4); node n is state n+2.
    pub node: usize,
    pub rounds: Vec<TopologyRound>,
    pub kept: Vec<usize>,
    pub acc_before: f64,
    pub acc_after: f64,
}

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
    pub adam: crate::optim::OptimState,
    /// Number of evaluation passes so far.
    pub evaluations: usize,
}

/// Settings of a PT run.
#[derive(Clone, Debug)]
pub struct PtSettings {
    pub criterion: Criterion,
    /// No alpha updates while tuning (the fixed-alpha / blank variant).
    pub fixed_alpha: bool,
    pub order: EdgeOrder,
    pub seed: u64,
    /// Total tuning epochs (derived from proj_intv unless overridden).
    pub tune_epochs: usize,
    pub proj_intv: usize,
    pub eval_batch: usize,
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
pub fn planned_passes(space: &SearchSpace, topology: bool) -> usize {
    let cells = space.cell_types().len();
    let op_phase = space.num_edges() * (1 + cells * (space.num_ops() + 1));
    let topo_phase = if topology && space.family == Family::Darts {
        3 + cells * ((3 + (4 + 3) + (5 + 4 + 3)) + 3)
    } else {
        0
    };
    op_phase + topo_phase
}

/// Everything a PT run works on.
pub struct PtJob<'a> {
    pub cfg: &'a SearchConfig,
    pub space: &'a SearchSpace,
    pub data: &'a SearchData,
    pub device: &'a Device,
    pub settings: PtSettings,
    pub run: &'a RunDir,
    pub label: String,
}

/// Where a decision happens: cell type (and its index), epoch, the supernet accuracy before it,
/// and the planned number of passes (for progress).
#[derive(Clone, Copy, Debug)]
struct At {
    ci: usize,
    cell: CellType,
    epoch: usize,
    acc_before: f64,
    total: usize,
}

/// Index of the first minimum (strict <) or, for loss, the first maximum (strict >).
pub fn choose_op(criterion: Criterion, acc: &[f64], loss: &[f64]) -> usize {
    let mut best = 0;
    for o in 1..acc.len() {
        let better = match criterion {
            Criterion::Acc => acc[o] < acc[best],
            Criterion::Loss => loss[o] > loss[best],
        };
        if better {
            best = o;
        }
    }
    best
}

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

impl PtJob<'_> {
    fn cells(&self) -> Vec<CellType> {
        self.space.cell_types().to_vec()
    }

    /// One evaluation pass over the held-out half with an optional mask. Pass `k` of the run
    /// gets its own order and augmentation, as the official code reshuffles every pass.
    fn score(
        &self,
        model: &Supernet,
        state: &mut PtState,
        mask: Option<(CellType, Mask)>,
    ) -> (f64, f64) {
        let plans = weight_plans(&state.projections, self.space.num_ops(), mask);
        let probs = detached_probs(model);
        let k = state.evaluations as u64;
        state.evaluations += 1;
        let aug_seed = data::stream_seed(self.settings.seed, data::stream::EVAL, 1_000_000 + k, 0);
        let augment = self
            .cfg
            .pt
            .augment_eval
            .then_some((&self.data.augment, aug_seed));
        evaluate(
            model,
            &probs,
            &plans,
            self.data,
            &self.data.alpha_half,
            self.settings.eval_batch,
            augment,
            BnMode::Batch,
            self.device,
        )
    }

    fn pick_random(&self, pool: &[usize], epoch: usize, cell: usize, what: u64) -> usize {
        let seed = data::stream_seed(self.settings.seed, 200 + what, epoch as u64, cell as u64);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        pool[rng.random_range(0..pool.len())]
    }

    /// The next edge to decide for cell type `ci`.
    fn next_edge(&self, state: &PtState, ci: usize, cell: CellType, epoch: usize) -> Option<usize> {
        let undecided = state.projections[ci].undecided_edges();
        if undecided.is_empty() {
            return None;
        }
        match &self.settings.order {
            EdgeOrder::Random => Some(self.pick_random(&undecided, epoch, ci, 0)),
            EdgeOrder::Given(order) => order
                .iter()
                .filter(|(c, _)| c == cell.name())
                .map(|(_, e)| *e)
                .find(|e| undecided.contains(e))
                .or_else(|| undecided.first().copied()),
        }
    }

    fn op_decision(
        &self,
        model: &Supernet,
        state: &mut PtState,
        at: At,
        edge: usize,
        sink: Sink,
    ) -> OpDecision {
        let At {
            ci,
            cell,
            epoch,
            acc_before,
            total,
        } = at;
        let ops = self.space.ops(cell, edge).to_vec();
        let mut acc = Vec::with_capacity(ops.len());
        let mut loss = Vec::with_capacity(ops.len());
        for (o, op) in ops.iter().enumerate() {
            let (l, a) = self.score(model, state, Some((cell, Mask::Op { edge, op: o })));
            acc.push(a);
            loss.push(l);
            sink(&Event::Evaluation {
                index: state.evaluations,
                total,
                label: format!("{cell} edge {edge}: without {op} acc {:.2}%", 100.0 * a),
            });
        }
        let chosen = choose_op(self.settings.criterion, &acc, &loss);
        state.projections[ci].decided[edge] = Some(chosen);
        if let EdgeOrder::Given(_) = self.settings.order {
            prune_full_nodes(&mut state.projections[ci], self.space.family);
        }
        let e = darts_or_nb201_edge(self.space, edge);
        OpDecision {
            epoch,
            cell: cell.name().into(),
            edge,
            from: e.0,
            to: e.1,
            ops: ops.iter().map(|o| o.name().to_string()).collect(),
            acc_without: acc,
            loss_without: loss,
            chosen,
            chosen_name: ops[chosen].name().into(),
            acc_before,
            acc_after: f64::NAN,
        }
    }

    fn topology_decision(
        &self,
        model: &Supernet,
        state: &mut PtState,
        at: At,
        node: usize,
        sink: Sink,
    ) -> TopologyDecision {
        let At {
            ci,
            cell,
            epoch,
            acc_before,
            total,
        } = at;
        let mut candidates: Vec<usize> = darts_node_edges(node)
            .filter(|e| !state.projections[ci].removed[*e])
            .collect();
        let mut rounds = Vec::new();
        while candidates.len() > 2 {
            let mut acc = Vec::new();
            let mut loss = Vec::new();
            for &edge in &candidates {
                // Each candidate is scored from the node's current weights (errata 9.1).
                let (l, a) = self.score(model, state, Some((cell, Mask::Edge { edge })));
                acc.push(a);
                loss.push(l);
                sink(&Event::Evaluation {
                    index: state.evaluations,
                    total,
                    label: format!(
                        "{cell} node {node}: without edge {edge} acc {:.2}%",
                        100.0 * a
                    ),
                });
            }
            let i = choose_removal(self.settings.criterion, &acc, &loss);
            let removed = candidates[i];
            rounds.push(TopologyRound {
                candidates: candidates.clone(),
                acc_without: acc,
                loss_without: loss,
                removed,
            });
            candidates.remove(i);
        }
        for e in darts_node_edges(node) {
            if !candidates.contains(&e) {
                state.projections[ci].removed[e] = true;
            }
        }
        state.topology_done[ci][node] = true;
        TopologyDecision {
            epoch,
            cell: cell.name().into(),
            node,
            rounds,
            kept: candidates,
            acc_before,
            acc_after: f64::NAN,
        }
    }

    /// The decision event at the start of tuning epoch `epoch` (one decision per cell type,
    /// normal first, no tuning in between). Returns false when nothing was left to decide.
    fn event(
        &self,
        model: &Supernet,
        state: &mut PtState,
        epoch: usize,
        sink: Sink,
        total: usize,
    ) -> bool {
        let cells = self.cells();
        let ops_pending = state
            .projections
            .iter()
            .any(|p| !p.undecided_edges().is_empty());
        let (mut acc, _) = (self.score(model, state, None).1, ());
        let mut any = false;
        for (ci, cell) in cells.iter().enumerate() {
            if ops_pending {
                let Some(edge) = self.next_edge(state, ci, *cell, epoch) else {
                    continue;
                };
                let at = At {
                    ci,
                    cell: *cell,
                    epoch,
                    acc_before: acc,
                    total,
                };
                let mut d = self.op_decision(model, state, at, edge, sink);
                acc = self.score(model, state, None).1;
                d.acc_after = acc;
                let summary = format!(
                    "PT epoch {epoch}: {cell} edge {edge} ({}<-{}) -> {} (acc without each op: {})",
                    d.to,
                    d.from,
                    d.chosen_name,
                    d.acc_without
                        .iter()
                        .map(|a| format!("{:.1}", 100.0 * a))
                        .collect::<Vec<_>>()
                        .join(" ")
                );
                let value = serde_json::json!({"event": "pt_op_decision", "summary": summary, "decision": d});
                let _ = self.run.append(&self.run.events(), &value);
                sink(&Event::Decision(value));
                state.op_decisions.push(d);
                any = true;
            } else if self.space.family == Family::Darts && self.settings.order == EdgeOrder::Random
            {
                let pending: Vec<usize> = (1..DARTS_NODES)
                    .filter(|n| !state.topology_done[ci][*n])
                    .collect();
                if pending.is_empty() {
                    continue;
                }
                let node = self.pick_random(&pending, epoch, ci, 1);
                let at = At {
                    ci,
                    cell: *cell,
                    epoch,
                    acc_before: acc,
                    total,
                };
                let mut d = self.topology_decision(model, state, at, node, sink);
                acc = self.score(model, state, None).1;
                d.acc_after = acc;
                let summary = format!(
                    "PT epoch {epoch}: {cell} node {node} keeps edges {:?}",
                    d.kept
                );
                let value = serde_json::json!({"event": "pt_topology_decision", "summary": summary, "decision": d});
                let _ = self.run.append(&self.run.events(), &value);
                sink(&Event::Decision(value));
                state.topology_decisions.push(d);
                any = true;
            }
        }
        any
    }

    fn done(&self, state: &PtState) -> bool {
        let ops_done = state
            .projections
            .iter()
            .all(|p| p.undecided_edges().is_empty());
        let topo_done = self.space.family == Family::Nb201
            || self.settings.order != EdgeOrder::Random
            || state
                .topology_done
                .iter()
                .all(|n| n[1..].iter().all(|d| *d));
        ops_done && topo_done
    }

    /// One tuning epoch: alpha step (unless fixed) then weight step, over a fresh permutation
    /// of the weight half, at PT's constant learning rate.
    #[allow(clippy::too_many_arguments)]
    fn tune_epoch(
        &self,
        model: &mut Supernet,
        sgd: &mut Sgd,
        adam: &mut Adam,
        state: &PtState,
        epoch: usize,
        sink: Sink,
        control: &Control,
    ) -> Result<Option<MetricsRecord>> {
        let cfg = self.cfg;
        let bs = cfg.batch_size;
        let plans: Vec<WeightPlan> = weight_plans(&state.projections, self.space.num_ops(), None);
        let train_alpha = !self.settings.fixed_alpha
            && cfg.method.trains_alpha()
            && state
                .projections
                .iter()
                .any(|p| !p.undecided_edges().is_empty());
        let n_w = self.data.weight_half.len();
        let steps_total = n_w.div_ceil(bs);
        let seed = self.settings.seed;
        let e = 10_000 + epoch as u64;
        let perm = data::epoch_permutation(
            n_w,
            data::stream_seed(seed, data::stream::WEIGHT_ORDER, e, 0),
        );
        let mut requests = Vec::new();
        for s in 0..steps_total {
            requests.push(BatchRequest {
                indices: perm[s * bs..((s + 1) * bs).min(n_w)]
                    .iter()
                    .map(|&p| self.data.weight_half[p as usize])
                    .collect(),
                augment: self.data.augment.clone(),
                seed: data::stream_seed(seed, data::stream::WEIGHT_AUGMENT, e, s as u64),
            });
            if train_alpha {
                requests.push(BatchRequest {
                    indices: data::random_sample(
                        &self.data.alpha_half,
                        bs.min(self.data.alpha_half.len()),
                        data::stream_seed(seed, data::stream::ALPHA_SAMPLE, e, s as u64),
                    ),
                    augment: self.data.augment.clone(),
                    seed: data::stream_seed(seed, data::stream::ALPHA_AUGMENT, e, s as u64),
                });
            }
        }
        sink(&Event::EpochStarted {
            epoch,
            epochs: self.settings.tune_epochs,
            steps: steps_total,
            start_step: 0,
        });
        let train_dev = self.device.clone().autodiff();
        let mut loss_sum: Option<Tensor<1>> = None;
        let mut count = 0usize;
        let clock = Instant::now();
        let mut batches = Prefetcher::new(
            self.data.train.clone(),
            self.data.normalize.clone(),
            requests,
        );
        for step in 0..steps_total {
            if control.checkpoint_or_stop() {
                return Ok(None);
            }
            let wb = batches.next().context("the data loader stopped early")?;
            train_dev.seed(data::stream_seed(seed, 301, e, step as u64));
            let wb = DeviceBatch::new(&wb, &train_dev);
            if train_alpha {
                let ab = batches.next().context("the data loader stopped early")?;
                let ab = DeviceBatch::new(&ab, &train_dev);
                alpha_step(model, adam, cfg.alpha.lr, &ab, &plans);
            }
            let probs = detached_probs(model);
            let probs = match cfg.method {
                Method::SdartsRs => steps::perturb_uniform(probs, cfg.pt.epsilon),
                Method::SdartsAdv => steps::perturb_adversarial(
                    model,
                    probs,
                    cfg.pt.epsilon,
                    cfg.sdarts.adv_steps,
                    &wb,
                    &plans,
                ),
                _ => probs,
            };
            let stats = steps::weight_step(
                model,
                sgd,
                cfg.pt.lr,
                cfg.weights.grad_clip,
                &wb,
                probs,
                &plans,
            );
            let l = stats.loss.mul_scalar(stats.len as f64);
            loss_sum = Some(match loss_sum {
                Some(s) => s.add(l),
                None => l,
            });
            count += stats.len;
            sink(&Event::Step {
                epoch,
                step: step + 1,
                steps: steps_total,
                images: stats.len,
            });
        }
        let loss = loss_sum.map(|l| {
            l.into_data().try_into_vec::<f32>().expect("f32")[0] as f64 / count.max(1) as f64
        });
        let secs = clock.elapsed().as_secs_f64().max(1e-9);
        Ok(Some(MetricsRecord {
            kind: "tune".into(),
            epoch,
            step: steps_total,
            steps: steps_total,
            train_loss: loss,
            lr: cfg.pt.lr,
            batch_size: bs,
            elapsed: state.elapsed + secs,
            images_per_sec: count as f64 / secs,
            ..MetricsRecord::default()
        }))
    }

    fn save(&self, model: &Supernet, sgd: &Sgd, adam: &Adam, state: &PtState) -> Result<()> {
        let mut ckpt = Checkpoint::default();
        ckpt.insert_section("model", named_tensors(model));
        sgd.export("sgd", &mut ckpt.tensors);
        let mut state = state.clone();
        state.adam = adam.export("adam", &mut ckpt.tensors);
        ckpt.state = serde_json::to_value(&state)?;
        ckpt.save(&self.run.selection_checkpoint(&self.label))?;
        Ok(())
    }

    /// Runs PT to completion (or until cancelled, returning `None`). `resume` continues from
    /// PT's own checkpoint.
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &self,
        mut model: Supernet,
        mut adam: Adam,
        resume: Option<Checkpoint>,
        sink: Sink,
        control: &Control,
        on_event: &mut dyn FnMut(&PtState) -> Result<()>,
    ) -> Result<Option<(Supernet, PtState)>> {
        let cells = self.cells();
        // A fresh weight optimiser: constant lr, no momentum carried over.
        let mut sgd = Sgd::new(self.cfg.weights.momentum, self.cfg.weights.weight_decay);
        let mut state = PtState {
            projections: vec![CellProjection::new(self.space.num_edges()); cells.len()],
            topology_done: vec![vec![false; DARTS_NODES]; cells.len()],
            ..PtState::default()
        };
        if let Some(ckpt) = resume {
            let st: PtState =
                serde_json::from_value(ckpt.state.clone()).context("PT checkpoint state")?;
            model = crate::nn::params::load_named(model, &ckpt.section("model"))?;
            sgd.import("sgd", &ckpt.tensors, self.device);
            adam.import("adam", &ckpt.tensors, &st.adam, self.device);
            state = st;
        }
        let total = planned_passes(self.space, self.settings.order == EdgeOrder::Random);
        sink(&Event::SelectionStarted {
            method: format!("PT ({})", self.label),
            total,
        });
        let clock = Instant::now();
        let base = state.elapsed;
        let tune_epochs = self.settings.tune_epochs;
        while state.epoch < tune_epochs {
            let epoch = state.epoch;
            let last = epoch + 1 == tune_epochs;
            if is_event_epoch(
                epoch,
                self.settings.proj_intv,
                tune_epochs,
                self.space.family,
            ) || last
            {
                while self.event(&model, &mut state, epoch, sink, total) {
                    on_event(&state)?;
                    // At the last epoch, make every remaining decision.
                    if !last || self.done(&state) {
                        break;
                    }
                }
            }
            if control.is_cancelled() {
                return Ok(None);
            }
            let Some(rec) = self.tune_epoch(
                &mut model, &mut sgd, &mut adam, &state, epoch, sink, control,
            )?
            else {
                return Ok(None);
            };
            let _ = self.run.append(&self.run.metrics(), &rec);
            sink(&Event::Metrics(rec));
            state.epoch += 1;
            state.elapsed = base + clock.elapsed().as_secs_f64();
            self.save(&model, &sgd, &adam, &state)?;
        }
        Ok(Some((model, state)))
    }
}

/// SGAS's topology rule: a node with two decided inputs drops the others.
fn prune_full_nodes(proj: &mut CellProjection, family: Family) {
    if family != Family::Darts {
        return;
    }
    for node in 0..DARTS_NODES {
        let range = darts_node_edges(node);
        if range.clone().filter(|e| proj.decided[*e].is_some()).count() >= 2 {
            for e in range {
                if proj.decided[e].is_none() {
                    proj.removed[e] = true;
                }
            }
        }
    }
}

fn darts_or_nb201_edge(space: &SearchSpace, edge: usize) -> (usize, usize) {
    let e = match space.family {
        Family::Darts => darts_edges()[edge],
        Family::Nb201 => crate::space::nb201_edges()[edge],
    };
    (e.from, e.to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::SpaceId;

    #[test]
    fn ties_follow_the_reference_code() {
        // Operations: first minimum of accuracy.
        assert_eq!(
            choose_op(Criterion::Acc, &[0.5, 0.3, 0.3, 0.9], &[0.0; 4]),
            1
        );
        // Loss: first maximum.
        assert_eq!(choose_op(Criterion::Loss, &[0.0; 3], &[1.0, 2.0, 2.0]), 1);
        // Edge removal: last maximum of accuracy.
        assert_eq!(
            choose_removal(Criterion::Acc, &[0.7, 0.8, 0.8, 0.1], &[0.0; 4]),
            2
        );
        assert_eq!(
            choose_removal(Criterion::Loss, &[0.0; 3], &[0.5, 0.2, 0.2]),
            2
        );
    }

    #[test]
    fn schedule_matches_the_spec() {
        let darts = SpaceId::Darts.space();
        assert_eq!(default_tune_epochs(&darts, 5), 81);
        let events: Vec<usize> = (0..81)
            .filter(|e| is_event_epoch(*e, 5, 81, Family::Darts))
            .collect();
        assert_eq!(events.len(), 17);
        assert_eq!(events.last(), Some(&80));
        let nb = SpaceId::Nb201.space();
        assert_eq!(default_tune_epochs(&nb, 5), 25);
        let events: Vec<usize> = (0..25)
            .filter(|e| is_event_epoch(*e, 5, 25, Family::Nb201))
            .collect();
        assert_eq!(events, vec![0, 5, 10, 15, 20, 24]);
        // 3 + (4 + 3) + (5 + 4 + 3) = 22 topology passes per cell type.
        let with = planned_passes(&darts, true);
        let without = planned_passes(&darts, false);
        assert_eq!(with - without, 3 + 2 * (22 + 3));
    }
}
