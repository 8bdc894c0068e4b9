//! The search as a job: epochs of bilevel steps (spec section 2), each epoch closed by a
//! validation pass, SGAS's decisions, the records and a checkpoint.

use std::rc::Rc;

use anyhow::{Context, Result};
use burn::tensor::Device;

use super::data::SearchData;
use super::eval::{EvalPass, PassSetup};
use super::sgas;
use super::state::{self, EpochSums, LoopState};
use super::steps::{
    self, DeviceBatch, Unrolled, alpha_step, alpha_step_second_order, detached_probs,
};
use crate::config::{Method, SearchConfig, SgasOp};
use crate::job::batches::Batches;
use crate::job::lifecycle::{Lifecycle, Stopwatch};
use crate::job::streams::Stream;
use crate::job::sums::Window;
use crate::job::{Ctx, End, Event};
use crate::nn::bn::BnMode;
use crate::nn::supernet::{Supernet, WeightPlan, weight_plans};
use crate::optim::{Adam, Sgd, cosine_lr};
use crate::run::{Decision, MetricsKind, MetricsRecord, RunEvent, SgasDecision};
use crate::space::SearchSpace;

/// The SDARTS perturbation radius of an epoch (linear ramp).
pub fn sdarts_epsilon(cfg: &SearchConfig, epoch: usize) -> f64 {
    let s = &cfg.sdarts;
    s.epsilon_min + (s.epsilon_max - s.epsilon_min) * epoch as f64 / cfg.epochs as f64
}

/// A search in progress: its settings, data, supernet, optimisers and loop state.
pub(super) struct Search {
    pub cfg: SearchConfig,
    pub data: SearchData,
    pub space: SearchSpace,
    pub dev: Device,
    pub model: Supernet,
    pub sgd: Sgd,
    pub adam: Adam,
    pub state: LoopState,
    pub life: Lifecycle,
    pub ctx: Rc<Ctx>,
}

/// What one epoch trains with, fixed when it begins.
struct EpochPlan {
    epoch: usize,
    lr: f64,
    eps: f64,
    plans: Vec<WeightPlan>,
    alpha_active: bool,
    steps: usize,
}

/// The device-side numbers of the steps since the last read: weight steps and alpha steps.
#[derive(Default)]
struct Windows {
    train: Window,
    alpha: Window,
    /// Images since the last metrics line.
    images: usize,
}

impl Search {
    pub async fn run(mut self) -> Result<End<()>> {
        while self.state.epoch < self.cfg.epochs {
            let plan = self.plan();
            let rate = match self.train_epoch(&plan).await? {
                Ok(rate) => rate,
                Err(end) => return Ok(end),
            };
            self.end_epoch(&plan, rate).await?;
        }
        self.finish().await
    }

    fn plan(&self) -> EpochPlan {
        let (cfg, epoch) = (&self.cfg, self.state.epoch);
        EpochPlan {
            epoch,
            lr: cosine_lr(cfg.weights.lr, cfg.weights.lr_min, epoch, cfg.epochs),
            eps: sdarts_epsilon(cfg, epoch),
            plans: weight_plans(&self.state.projections, self.space.num_ops(), None),
            alpha_active: cfg.method.trains_alpha()
                && self
                    .state
                    .projections
                    .iter()
                    .any(|p| !p.undecided_edges().is_empty()),
            steps: self.data.weight_half.len().div_ceil(self.state.batch_size),
        }
    }

    /// Trains the epoch's remaining steps. Ok(images per second), or the job's end when it
    /// was interrupted or diverged.
    async fn train_epoch(&mut self, plan: &EpochPlan) -> Result<Result<f64, End<()>>> {
        self.ctx.emit(Event::EpochStarted {
            epoch: plan.epoch,
            epochs: self.cfg.epochs,
            steps: plan.steps,
            start_step: self.state.step,
        });
        let prefetch = self.ctx.options().prefetch;
        let (seed, bs) = (self.cfg.seed, self.state.batch_size);
        let steps = self.state.step..plan.steps;
        let requests =
            self.data
                .bilevel_requests(seed, plan.epoch as u64, bs, steps, plan.alpha_active);
        let mut batches = Batches::new(&self.data.train, &self.data.normalize, requests, prefetch);
        let mut windows = Windows::default();
        let (mut window_clock, epoch_clock) = (Stopwatch::start(), Stopwatch::start());
        let mut epoch_images = 0;
        let mut step = self.state.step;
        while step < plan.steps {
            if self.ctx.boundary().await {
                self.fold(&mut windows).await;
                self.state.step = step;
                return self.interrupt(plan.epoch, step).await.map(Err);
            }
            let images = self.train_step(&mut batches, plan, step, &mut windows)?;
            (windows.images, epoch_images, step) =
                (windows.images + images, epoch_images + images, step + 1);
            self.ctx.emit(Event::Step {
                epoch: plan.epoch,
                step,
                steps: plan.steps,
                images,
            });
            let log_every = self.cfg.log_every;
            if log_every > 0 && step.is_multiple_of(log_every) && step < plan.steps {
                if let Some(bad) = self.fold(&mut windows).await {
                    return self.life.diverged(&self.ctx, plan.epoch, bad).map(Err);
                }
                let rate = window_clock.rate(std::mem::take(&mut windows.images));
                let rec = self.metrics(MetricsKind::Step, plan, step, rate, None);
                self.write_metrics(rec)?;
                window_clock = Stopwatch::start();
            }
        }
        drop(batches);
        if let Some(bad) = self.fold(&mut windows).await {
            return self.life.diverged(&self.ctx, plan.epoch, bad).map(Err);
        }
        Ok(Ok(epoch_clock.rate(epoch_images)))
    }

    /// One bilevel step: the alpha step (if alpha trains), then the weight step. Returns the
    /// weight batch's size.
    fn train_step(
        &mut self,
        batches: &mut Batches,
        plan: &EpochPlan,
        step: usize,
        windows: &mut Windows,
    ) -> Result<usize> {
        let cfg = &self.cfg;
        let w_batch = batches.next().context("the data loader stopped early")?;
        let a_batch = match plan.alpha_active {
            true => Some(batches.next().context("the data loader stopped early")?),
            false => None,
        };
        let train_dev = self.dev.clone().autodiff();
        train_dev.seed(Stream::SearchDevice.seed(cfg.seed, plan.epoch as u64, step as u64));
        let wb = DeviceBatch::new(&w_batch, &train_dev);
        if let Some(a) = &a_batch {
            let ab = DeviceBatch::new(a, &train_dev);
            let (m, adam) = (&mut self.model, &mut self.adam);
            let stats = match cfg.method {
                Method::Darts2 => {
                    let u = Unrolled {
                        alpha_lr: cfg.alpha.lr,
                        xi: plan.lr,
                        r0: cfg.unrolled_r,
                    };
                    alpha_step_second_order(m, adam, &self.sgd, u, &wb, &ab, &plan.plans)
                }
                _ => alpha_step(m, adam, cfg.alpha.lr, &ab, &plan.plans),
            };
            windows.alpha.push(step, stats.len, stats.row());
        }
        let probs = detached_probs(&self.model);
        let probs = match cfg.method {
            Method::SdartsRs => steps::perturb_uniform(probs, plan.eps),
            Method::SdartsAdv => {
                let k = cfg.sdarts.adv_steps;
                steps::perturb_adversarial(&self.model, probs, plan.eps, k, &wb, &plan.plans)
            }
            _ => probs,
        };
        let (m, sgd) = (&mut self.model, &mut self.sgd);
        let clip = cfg.weights.grad_clip;
        let stats = steps::weight_step(m, sgd, plan.lr, clip, &wb, probs, &plan.plans);
        windows.train.push(step, stats.len, stats.row());
        Ok(wb.len)
    }

    /// Reads the windows into the epoch's sums; `Some(step)` names the first step whose loss
    /// is not finite.
    async fn fold(&mut self, w: &mut Windows) -> Option<usize> {
        let (t, a) = (w.train.read().await, w.alpha.read().await);
        let s = &mut self.state.sums;
        s.train_loss += t.sum_f32(0) as f64;
        s.train_correct += t.sum_f32(1) as f64;
        s.train_count += t.images();
        s.alpha_loss += a.sum_f32(0) as f64;
        s.alpha_correct += a.sum_f32(1) as f64;
        s.alpha_count += a.images();
        match (t.first_non_finite(), a.first_non_finite()) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        }
    }

    /// The end of an epoch: held-out accuracy in eval mode, the metrics line, SGAS's
    /// decisions, the alpha line, and a checkpoint.
    async fn end_epoch(&mut self, plan: &EpochPlan, rate: f64) -> Result<()> {
        let valid = if self.cfg.eval_each_epoch {
            let probs = detached_probs(&self.model);
            let setup = PassSetup {
                batch_size: 256.max(self.state.batch_size),
                augment: None,
                bn: BnMode::Eval,
                prefetch: self.ctx.options().prefetch,
            };
            let half = &self.data.alpha_half;
            let pass = EvalPass::new(
                &self.model,
                &probs,
                &plan.plans,
                &self.data,
                half,
                setup,
                &self.dev,
            );
            Some(pass.run(&self.ctx).await)
        } else {
            None
        };
        let rec = self.metrics(MetricsKind::Epoch, plan, plan.steps, rate, valid);
        self.write_metrics(rec)?;
        if self.cfg.method == Method::Sgas {
            let probs = state::probabilities(&self.model).await;
            self.sgas_epoch_end(&probs, plan.epoch, false).await?;
        }
        let arec = state::alpha_record(plan.epoch + 1, &self.model).await;
        self.life.run.append(&self.life.run.alpha(), &arec)?;
        self.ctx.emit(Event::Alpha(arec));
        self.state.epoch += 1;
        self.state.step = 0;
        self.state.sums = EpochSums::default();
        self.checkpoint().await?;
        self.life.running(self.state.epoch)
    }

    /// Writes the checkpoint of the run as it stands.
    async fn save(&self) -> Result<()> {
        state::save(
            &self.life.run,
            &self.model,
            &self.sgd,
            &self.adam,
            &self.state,
        )
        .await
    }

    async fn checkpoint(&mut self) -> Result<()> {
        self.state.elapsed = self.life.elapsed();
        self.save().await?;
        self.ctx.emit(Event::Checkpoint {
            epoch: self.state.epoch,
            step: self.state.step,
            path: self.life.run.checkpoint().display().to_string(),
        });
        Ok(())
    }

    async fn interrupt(&mut self, epoch: usize, step: usize) -> Result<End<()>> {
        self.checkpoint().await?;
        self.life.interrupted(&self.ctx, epoch, step)
    }

    /// After the last epoch: SGAS decides what is left; the run is finished.
    async fn finish(mut self) -> Result<End<()>> {
        // Let the driver see the last epoch's checkpoint before SGAS's final decisions
        // replace it (nothing is left to cancel).
        self.ctx.boundary().await;
        let undecided = self
            .state
            .projections
            .iter()
            .any(|p| !p.undecided_edges().is_empty());
        if self.cfg.method == Method::Sgas && undecided {
            let probs = state::probabilities(&self.model).await;
            self.sgas_epoch_end(&probs, self.cfg.epochs, true).await?;
            self.save().await?;
        }
        let msg = format!(
            "search finished: {} epochs in {:.1} s",
            self.cfg.epochs,
            self.life.elapsed()
        );
        self.life.finished(&self.ctx, msg)?;
        Ok(End::Finished(()))
    }

    fn metrics(
        &self,
        kind: MetricsKind,
        plan: &EpochPlan,
        step: usize,
        images_per_sec: f64,
        valid: Option<(f64, f64)>,
    ) -> MetricsRecord {
        let sums = &self.state.sums;
        let mean = |x: f64, n: usize| (n > 0).then(|| x / n as f64);
        let sdarts = matches!(self.cfg.method, Method::SdartsRs | Method::SdartsAdv);
        MetricsRecord {
            kind,
            epoch: plan.epoch,
            step,
            steps: plan.steps,
            train_loss: mean(sums.train_loss, sums.train_count),
            train_acc: mean(sums.train_correct, sums.train_count),
            alpha_loss: mean(sums.alpha_loss, sums.alpha_count),
            alpha_acc: mean(sums.alpha_correct, sums.alpha_count),
            valid_loss: valid.map(|v| v.0),
            valid_acc: valid.map(|v| v.1),
            lr: plan.lr,
            epsilon: sdarts.then_some(plan.eps),
            batch_size: self.state.batch_size,
            elapsed: self.life.elapsed(),
            images_per_sec,
            label: None,
        }
    }

    fn write_metrics(&self, rec: MetricsRecord) -> Result<()> {
        self.life.run.append(&self.life.run.metrics(), &rec)?;
        self.ctx.emit(Event::Metrics(rec));
        Ok(())
    }
}

impl Search {
    /// SGAS at the end of an epoch: update the history and, on a decision epoch (or when
    /// `finalize`), decide one edge per cell type (normal first) and grow the batch. SGAS
    /// chooses the edge; the operation is SGAS's own choice or, for SGAS+PT, PT's
    /// ([`super::sgas_pt`]), measured after the normal cell's decision when it is the reduction
    /// cell's turn.
    async fn sgas_epoch_end(
        &mut self,
        probs: &[Vec<Vec<f32>>],
        epoch: usize,
        finalize: bool,
    ) -> Result<()> {
        let decide_now = finalize
            || sgas::is_decision_epoch(epoch, self.cfg.sgas.warmup, self.cfg.sgas.decision_freq);
        loop {
            let mut decided_any = false;
            let cells = self.space.cell_types().to_vec();
            for (i, cell) in cells.into_iter().enumerate() {
                let ops: Vec<Vec<_>> = (0..self.space.num_edges())
                    .map(|e| self.space.ops(cell, e).to_vec())
                    .collect();
                let chosen = match decide_now {
                    true => sgas::choose_edge(
                        &self.state.projections[i],
                        &probs[i],
                        &ops,
                        &self.state.sgas_history[i],
                        self.cfg.sgas.criterion,
                    ),
                    false => None,
                };
                if let Some((edge, score)) = chosen {
                    decided_any = true;
                    let magnitude = sgas::magnitude_op(&probs[i][edge], &ops[edge]);
                    let (op, pt) = match self.cfg.sgas.op_choice {
                        SgasOp::Magnitude => (magnitude, None),
                        SgasOp::Pt => {
                            let scores = self
                                .pt_scores(i, cell, edge, &ops[edge], epoch, magnitude)
                                .await;
                            (scores.chosen(self.cfg.pt.criterion), Some(scores))
                        }
                    };
                    let pruned =
                        sgas::commit(&mut self.state.projections[i], edge, op, self.space.family);
                    let decision = SgasDecision {
                        epoch,
                        cell: cell.name().into(),
                        edge,
                        op,
                        op_name: ops[edge][op].name().into(),
                        score,
                        pruned,
                        pt,
                    };
                    self.state.sgas_decisions.push(decision.clone());
                    let d = Decision::SgasDecision { decision };
                    self.life.run.record(&RunEvent::Decision(d.clone()))?;
                    self.ctx.emit(Event::Decision(d));
                }
                if !finalize {
                    let (_, dists) = sgas::non_none(&probs[i], &ops);
                    let h = &mut self.state.sgas_history[i];
                    h.push(dists);
                    while h.len() > self.cfg.sgas.history {
                        h.remove(0);
                    }
                }
            }
            if decided_any && !finalize {
                self.state.batch_size += self.cfg.sgas.batch_increase;
            }
            if !finalize || !decided_any {
                return Ok(());
            }
        }
    }
}
