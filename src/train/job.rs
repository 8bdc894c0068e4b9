//! Retraining as a job: epochs of SGD steps on the discrete network, each closed by a test
//! pass, the metrics line and a checkpoint; `result.json` at the end.

use std::rc::Rc;

use anyhow::{Context, Result};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::{TrainData, TrainNetwork, test_pass};
use crate::checkpoint::{Checkpoint, Readback};
use crate::config::TrainConfig;
use crate::data::{self, BatchRequest};
use crate::job::batches::Batches;
use crate::job::lifecycle::{Lifecycle, Stopwatch};
use crate::job::streams::Stream;
use crate::job::sums::{Rows, Window};
use crate::job::{Ctx, End, Event};
use crate::nn::bn::BnMode;
use crate::nn::darts_eval::EvalForward;
use crate::nn::params::add_named;
use crate::optim::{GradSet, Sgd, cosine_lr};
use crate::run::{MetricsKind, TrainRecord, TrainResult};
use crate::search::steps::{DeviceBatch, correct, cross_entropy};

/// Sums of a partially trained epoch, kept on the host in checkpoints.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(super) struct EpochSums {
    pub loss: f64,
    pub aux_loss: f64,
    pub correct: f64,
    pub count: usize,
}

impl EpochSums {
    /// Adds a window's rows ([loss * n, aux loss * n, correct] per step) one step at a time,
    /// so the sums do not depend on where windows (or an interruption) fall.
    pub fn add(&mut self, rows: &Rows) {
        for r in rows.rows() {
            self.loss += r[0] as f64;
            self.aux_loss += r[1] as f64;
            self.correct += r[2] as f64;
        }
        self.count += rows.images();
    }
}

/// The loop state saved in a checkpoint beside the tensors.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(super) struct LoopState {
    pub epoch: usize,
    pub step: usize,
    pub elapsed: f64,
    pub sums: EpochSums,
    /// Best test accuracy so far and its 1-based epoch.
    pub best: Option<(f64, usize)>,
}

impl LoopState {
    pub fn of(ckpt: &Checkpoint) -> Result<LoopState> {
        serde_json::from_value(ckpt.state.clone()).context("checkpoint loop state")
    }
}

/// A retraining in progress.
pub(super) struct Training {
    pub cfg: TrainConfig,
    pub data: TrainData,
    pub dev: Device,
    pub model: TrainNetwork,
    pub sgd: Sgd,
    pub state: LoopState,
    pub life: Lifecycle,
    pub ctx: Rc<Ctx>,
    pub params: usize,
    pub device: String,
}

impl Training {
    pub async fn run(mut self) -> Result<End<TrainResult>> {
        let mut last_test = None;
        while self.state.epoch < self.cfg.epochs {
            let rate = match self.train_epoch().await? {
                Ok(rate) => rate,
                Err(end) => return Ok(end),
            };
            last_test = Some(self.end_epoch(rate).await?);
        }
        self.finish(last_test).await
    }

    fn steps(&self) -> usize {
        self.data.train.len().div_ceil(self.cfg.batch_size)
    }

    fn requests(&self, epoch: usize) -> Vec<BatchRequest> {
        let (n, bs, seed, e) = (
            self.data.train.len(),
            self.cfg.batch_size,
            self.cfg.seed,
            epoch as u64,
        );
        let perm = data::epoch_permutation(n, Stream::TrainOrder.seed(seed, e, 0));
        (self.state.step..self.steps())
            .map(|s| BatchRequest {
                indices: perm[s * bs..((s + 1) * bs).min(n)].to_vec(),
                augment: self.data.augment.clone(),
                seed: Stream::TrainAugment.seed(seed, e, s as u64),
            })
            .collect()
    }

    /// Trains the epoch's remaining steps: Ok(images per second), or the job's end when it was
    /// interrupted or diverged.
    async fn train_epoch(&mut self) -> Result<Result<f64, End<TrainResult>>> {
        let (epoch, steps) = (self.state.epoch, self.steps());
        let lr = cosine_lr(
            self.cfg.optim.lr,
            self.cfg.optim.lr_min,
            epoch,
            self.cfg.epochs,
        );
        self.ctx.emit(Event::EpochStarted {
            epoch,
            epochs: self.cfg.epochs,
            steps,
            start_step: self.state.step,
        });
        let prefetch = self.ctx.options().prefetch;
        let requests = self.requests(epoch);
        let mut batches = Batches::new(&self.data.train, &self.data.normalize, requests, prefetch);
        let mut window = Window::default();
        let (mut window_images, mut window_clock) = (0, Stopwatch::start());
        let (mut epoch_images, epoch_clock) = (0, Stopwatch::start());
        let mut step = self.state.step;
        while step < steps {
            if self.ctx.boundary().await {
                let rows = window.read().await;
                self.state.sums.add(&rows);
                self.state.step = step;
                self.checkpoint().await?;
                return self.life.interrupted(&self.ctx, epoch, step).map(Err);
            }
            let images = self.train_step(&mut batches, lr, step, &mut window)?;
            (window_images, epoch_images, step) =
                (window_images + images, epoch_images + images, step + 1);
            self.ctx.emit(Event::Step {
                epoch,
                step,
                steps,
                images,
            });
            let log_every = self.cfg.log_every;
            if log_every > 0 && step.is_multiple_of(log_every) && step < steps {
                if let Some(bad) = self.fold(&mut window).await {
                    return self.life.diverged(&self.ctx, epoch, bad).map(Err);
                }
                let rate = window_clock.rate(std::mem::take(&mut window_images));
                let rec = self.record(MetricsKind::Step, step, lr, rate, None);
                self.life.run.append(&self.life.run.metrics(), &rec)?;
                self.ctx.emit(Event::TrainMetrics(rec));
                window_clock = Stopwatch::start();
            }
        }
        drop(batches);
        if let Some(bad) = self.fold(&mut window).await {
            return self.life.diverged(&self.ctx, epoch, bad).map(Err);
        }
        Ok(Ok(epoch_clock.rate(epoch_images)))
    }

    /// One SGD step on a batch (re-seeding the device's drop-path masks first). Returns the
    /// batch's size.
    fn train_step(
        &mut self,
        batches: &mut Batches,
        lr: f64,
        step: usize,
        window: &mut Window,
    ) -> Result<usize> {
        let cfg = &self.cfg;
        let batch = batches.next().context("the data loader stopped early")?;
        let train_dev = self.dev.clone().autodiff();
        train_dev.seed(Stream::TrainDevice.seed(cfg.seed, self.state.epoch as u64, step as u64));
        let b = DeviceBatch::new(&batch, &train_dev);
        let forward = EvalForward {
            bn: BnMode::Train,
            drop_prob: cfg.drop_prob(self.state.epoch),
            auxiliary: cfg.auxiliary_weight > 0.0,
        };
        let (logits, aux_logits) = self.model.forward(b.x, forward);
        let loss = cross_entropy(logits.clone(), b.y.clone());
        let aux_loss = aux_logits.map(|a| cross_entropy(a, b.y.clone()));
        let total = match &aux_loss {
            Some(a) => loss.clone().add(a.clone().mul_scalar(cfg.auxiliary_weight)),
            None => loss.clone(),
        };
        let grads = total.backward();
        let mut g = GradSet::from_backward(&self.model, &grads);
        if cfg.optim.grad_clip > 0.0 {
            g.clip_global_norm(cfg.optim.grad_clip);
        }
        self.model = self.sgd.step(self.model.clone(), &g, lr);
        let (loss, n) = (loss.detach().inner(), b.len as f64);
        let aux = aux_loss.map_or_else(|| loss.zeros_like(), |a| a.detach().inner().mul_scalar(n));
        let c = correct(logits.detach().inner(), b.y.inner()).float();
        window.push(
            step,
            b.len,
            burn::tensor::Tensor::cat(vec![loss.mul_scalar(n), aux, c], 0),
        );
        Ok(b.len)
    }

    /// Reads a window into the epoch's sums; `Some(step)` names the first non-finite step.
    async fn fold(&mut self, window: &mut Window) -> Option<usize> {
        let rows = window.read().await;
        self.state.sums.add(&rows);
        rows.first_non_finite()
    }

    /// The end of an epoch: the test pass, the metrics line, a checkpoint. Returns the test
    /// numbers.
    async fn end_epoch(&mut self, rate: f64) -> Result<(f64, f64)> {
        let epoch = self.state.epoch;
        let lr = cosine_lr(
            self.cfg.optim.lr,
            self.cfg.optim.lr_min,
            epoch,
            self.cfg.epochs,
        );
        let test = test_pass(
            &self.model,
            &self.data,
            self.cfg.eval_batch_size,
            &self.dev,
            &self.ctx,
        )
        .await;
        if self.state.best.is_none_or(|(acc, _)| test.1 > acc) {
            self.state.best = Some((test.1, epoch + 1));
        }
        let rec = self.record(MetricsKind::Epoch, self.steps(), lr, rate, Some(test));
        self.life.run.append(&self.life.run.metrics(), &rec)?;
        self.ctx.emit(Event::Note(format!(
            "epoch {:>3}/{}: loss {:.3} acc {} | test {} (best {}) | lr {:.4} drop {:.3} | {:.0} img/s ({:.0} s)",
            epoch + 1,
            self.cfg.epochs,
            rec.train_loss.unwrap_or(f64::NAN),
            pct(rec.train_acc),
            pct(rec.test_acc),
            pct(self.state.best.map(|b| b.0)),
            lr,
            rec.drop_prob,
            rate,
            rec.elapsed
        )));
        self.ctx.emit(Event::TrainMetrics(rec));
        self.state.epoch += 1;
        self.state.step = 0;
        self.state.sums = EpochSums::default();
        self.checkpoint().await?;
        self.life.running(self.state.epoch)?;
        Ok(test)
    }

    async fn checkpoint(&mut self) -> Result<()> {
        self.state.elapsed = self.life.elapsed();
        let mut tensors = Readback::default();
        add_named(&self.model, "model", &mut tensors);
        self.sgd.export("sgd", &mut tensors);
        let ckpt = Checkpoint {
            tensors: tensors.read().await,
            state: serde_json::to_value(&self.state)?,
        };
        ckpt.save(&self.life.run.checkpoint())?;
        self.ctx.emit(Event::Checkpoint {
            epoch: self.state.epoch,
            step: self.state.step,
            path: self.life.run.checkpoint().display().to_string(),
        });
        Ok(())
    }

    /// After the last epoch: `result.json`, and the run is finished.
    async fn finish(self, last_test: Option<(f64, f64)>) -> Result<End<TrainResult>> {
        let cfg = &self.cfg;
        // A run resumed after its last epoch has no test numbers in memory: take the last
        // record, or test again.
        let recorded = || {
            let reader = crate::run::RunReader::local(&self.life.run.root);
            let (lines, _) = reader.lines::<TrainRecord>(&self.life.run.metrics());
            let r = lines
                .into_iter()
                .rev()
                .find(|r| r.kind == MetricsKind::Epoch)?;
            Some((r.test_loss?, r.test_acc?))
        };
        let (final_loss, final_acc) = match last_test.or_else(recorded) {
            Some(t) => t,
            None => {
                test_pass(
                    &self.model,
                    &self.data,
                    cfg.eval_batch_size,
                    &self.dev,
                    &self.ctx,
                )
                .await
            }
        };
        let (best_acc, best_epoch) = self.state.best.unwrap_or((final_acc, cfg.epochs));
        let result = TrainResult {
            space: cfg.space.to_string(),
            genotype: cfg.genotype.clone(),
            genotype_source: cfg.genotype_source.clone(),
            dataset: self.data.dataset_name.clone(),
            train_images: self.data.train.len(),
            test_images: self.data.test.len(),
            epochs: cfg.epochs,
            params: self.params,
            final_test_acc: final_acc,
            final_test_loss: final_loss,
            best_test_acc: best_acc,
            best_epoch,
            elapsed: self.state.elapsed,
            device: self.device.clone(),
        };
        self.life.run.write_json(&self.life.run.result(), &result)?;
        let msg = format!(
            "training finished: final test accuracy {:.2}% (epoch {}), best {:.2}% (epoch {}); {:.3} M parameters; {:.0} s",
            100.0 * final_acc,
            cfg.epochs,
            100.0 * best_acc,
            best_epoch,
            self.params as f64 / 1e6,
            self.state.elapsed
        );
        self.life.finished(&self.ctx, msg)?;
        Ok(End::Finished(result))
    }

    fn record(
        &self,
        kind: MetricsKind,
        step: usize,
        lr: f64,
        images_per_sec: f64,
        test: Option<(f64, f64)>,
    ) -> TrainRecord {
        let (sums, cfg) = (&self.state.sums, &self.cfg);
        let mean = |x: f64| (sums.count > 0).then(|| x / sums.count as f64);
        TrainRecord {
            kind,
            epoch: self.state.epoch,
            step,
            steps: self.steps(),
            train_loss: mean(sums.loss),
            train_acc: mean(sums.correct),
            aux_loss: (cfg.auxiliary_weight > 0.0)
                .then(|| mean(sums.aux_loss))
                .flatten(),
            test_loss: test.map(|t| t.0),
            test_acc: test.map(|t| t.1),
            lr,
            drop_prob: cfg.drop_prob(self.state.epoch),
            batch_size: cfg.batch_size,
            elapsed: self.life.elapsed(),
            images_per_sec,
        }
    }
}

fn pct(v: Option<f64>) -> String {
    v.map(|a| format!("{:.2}%", 100.0 * a))
        .unwrap_or_else(|| "-".into())
}
