//! `darts-pt train`: retrain a genotype from scratch as a resumable job (spec section 4), and
//! `darts-pt eval`: re-evaluate its checkpoint.
//!
//! The discrete network trains on the full training set with the final-training augmentation
//! and is evaluated on the test set after every epoch. As in search, every random choice is a
//! pure function of (seed, stream, epoch, step): the image order, the augmentation, and the
//! drop-path masks (the device is re-seeded before every step). A checkpoint therefore holds
//! only the tensors, the SGD momentum and the position, and a resumed run is bit-identical to
//! an uninterrupted one on the CPU.

pub mod command;
pub mod config;
pub mod network;
pub mod source;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{Checkpoint, write_atomic};
use crate::data::{self, Augment, BatchRequest, Dataset, DatasetKind, ImageSet, Normalize};
use crate::data::{Prefetcher, stream_seed};
use crate::device::SelectedDevice;
use crate::job::{Control, Event, Sink};
use crate::nn::InputShape;
use crate::nn::bn::BnMode;
use crate::nn::darts_eval::EvalForward;
use crate::nn::params::{load_named, named_tensors};
use crate::optim::{GradSet, Sgd, cosine_lr};
use crate::run::{RunDir, RunStatus, read_jsonl, retain_jsonl};
use crate::search::steps::{DeviceBatch, correct, cross_entropy};

pub use config::{TrainConfig, TrainOptim};
pub use network::TrainNetwork;

/// The device's random stream (drop-path masks), re-seeded every step.
const DEVICE_STREAM: u64 = 102;

/// Environment variable of the resume test: after writing the checkpoint of this many
/// finished epochs the process announces it on stderr and waits to be killed, so the test can
/// SIGKILL it at a known point. Nothing else reads it.
pub const HANG_AFTER_EPOCH_ENV: &str = "DARTS_PT_TEST_HANG_AFTER_EPOCH";

/// The line the hook prints before waiting.
pub const HANG_MARKER: &str = "test hook: checkpoint written, waiting to be killed";

/// The images of final training: the training set (or its first N), the test set, and how
/// batches are made.
#[derive(Clone)]
pub struct TrainData {
    pub dataset_name: String,
    pub train: Arc<ImageSet>,
    pub test: Arc<ImageSet>,
    pub normalize: Normalize,
    pub augment: Augment,
    pub input: InputShape,
}

/// Opens the dataset a config names; fails with the path when it has no test split.
pub fn load_train_data(cfg: &TrainConfig) -> Result<TrainData> {
    let kind = cfg
        .data
        .dataset
        .as_deref()
        .map(|s| s.parse::<DatasetKind>().map_err(|e| anyhow::anyhow!(e)))
        .transpose()?;
    let ds = Dataset::open(cfg.data.path.as_deref(), kind)?;
    let Some(test) = ds.test.clone().filter(|t| !t.is_empty()) else {
        bail!(
            "{}: the dataset has no test split, and final training reports test accuracy",
            ds.source
        );
    };
    if ds.train.height != ds.train.width {
        bail!(
            "{}: images are {}x{}; darts-pt networks need square images",
            ds.source,
            ds.train.height,
            ds.train.width
        );
    }
    let mut train = ds.train.clone();
    if let Some(n) = cfg.data.train_images {
        if n == 0 {
            bail!("data.train_images must be at least 1");
        }
        if n < train.len() {
            let idx: Vec<u32> = (0..n as u32).collect();
            train = train.subset(&idx);
        }
    }
    let augment = if cfg.cutout {
        Augment::train(&ds)
    } else {
        Augment::search(&ds)
    };
    Ok(TrainData {
        dataset_name: ds.name.clone(),
        input: InputShape {
            channels: train.channels,
            size: train.height,
            classes: ds.classes.len(),
        },
        train: Arc::new(train),
        test: Arc::new(test),
        normalize: ds.normalize.clone(),
        augment,
    })
}

/// One line of a training run's `metrics.jsonl`. The field names shared with the search's
/// records mean the same; the test numbers are on the test set, not a held-out half.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainRecord {
    /// "step" (every k steps) or "epoch" (end of epoch, with the test numbers).
    pub kind: String,
    pub epoch: usize,
    pub step: usize,
    pub steps: usize,
    /// Mean cross-entropy and accuracy of the main classifier on the training batches.
    pub train_loss: Option<f64>,
    pub train_acc: Option<f64>,
    /// Mean cross-entropy of the auxiliary head (before its weight).
    pub aux_loss: Option<f64>,
    pub test_loss: Option<f64>,
    pub test_acc: Option<f64>,
    pub lr: f64,
    pub drop_prob: f64,
    pub batch_size: usize,
    /// Seconds since the run started, summed over resumes.
    pub elapsed: f64,
    /// Training images per second over the reported window.
    pub images_per_sec: f64,
}

/// `result.json`: what a finished training run achieved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainResult {
    pub space: String,
    pub genotype: String,
    pub genotype_source: String,
    pub dataset: String,
    pub train_images: usize,
    pub test_images: usize,
    pub epochs: usize,
    /// Parameters without the auxiliary head.
    pub params: usize,
    pub final_test_acc: f64,
    pub final_test_loss: f64,
    pub best_test_acc: f64,
    /// The epoch (1-based) of the best test accuracy.
    pub best_epoch: usize,
    pub elapsed: f64,
    pub device: String,
}

impl TrainResult {
    pub fn read(run: &Path) -> Option<TrainResult> {
        let text = std::fs::read_to_string(run.join("result.json")).ok()?;
        serde_json::from_str(&text).ok()
    }
}

/// How a training run ended.
#[derive(Clone, Debug, PartialEq)]
pub enum TrainEnd {
    Finished(TrainResult),
    Interrupted { epoch: usize, step: usize },
    Diverged { epoch: usize },
}

/// Sums of a partially trained epoch, kept on the host in checkpoints.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct EpochSums {
    loss: f64,
    aux_loss: f64,
    correct: f64,
    count: usize,
}

/// The loop state saved in a checkpoint beside the tensors.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct LoopState {
    epoch: usize,
    step: usize,
    elapsed: f64,
    sums: EpochSums,
    /// Best test accuracy so far and its 1-based epoch.
    best: Option<(f64, usize)>,
}

/// Per-step numbers of a window of steps, kept on the device and read back once. They are
/// added up on the host in step order, so the sums do not depend on where windows (or an
/// interruption) fall.
#[derive(Default)]
struct WindowSums {
    /// Per step: [loss * n, aux loss * n (0 without a head), correct].
    steps: Vec<Tensor<1>>,
    counts: Vec<usize>,
}

impl WindowSums {
    fn add(&mut self, loss: Tensor<1>, aux: Option<Tensor<1>>, correct: Tensor<1, Int>, n: usize) {
        let w = n as f64;
        let aux = aux.map_or_else(|| loss.zeros_like(), |a| a.mul_scalar(w));
        self.steps.push(Tensor::cat(
            vec![loss.mul_scalar(w), aux, correct.float()],
            0,
        ));
        self.counts.push(n);
    }

    /// Adds the window into `host` (one read); false when a loss became non-finite.
    fn fold_into(&mut self, host: &mut EpochSums) -> bool {
        if self.steps.is_empty() {
            return true;
        }
        let v: Vec<f32> = Tensor::cat(std::mem::take(&mut self.steps), 0)
            .into_data()
            .try_into_vec()
            .expect("f32 sums");
        for (step, n) in v.chunks(3).zip(std::mem::take(&mut self.counts)) {
            host.loss += step[0] as f64;
            host.aux_loss += step[1] as f64;
            host.correct += step[2] as f64;
            host.count += n;
        }
        v.iter().all(|x| x.is_finite())
    }
}

/// Test loss and accuracy of a network: running BN statistics, no drop path, no auxiliary
/// head, no autodiff graph.
pub fn evaluate(
    model: &TrainNetwork,
    set: &Arc<ImageSet>,
    normalize: &Normalize,
    batch_size: usize,
    device: &Device,
) -> (f64, f64) {
    let net = model.valid();
    let n = set.len() as u32;
    let requests: Vec<BatchRequest> = (0..n)
        .collect::<Vec<u32>>()
        .chunks(batch_size.max(1))
        .map(|chunk| BatchRequest {
            indices: chunk.to_vec(),
            augment: Augment::none(),
            seed: 0,
        })
        .collect();
    let mut sums = WindowSums::default();
    for batch in Prefetcher::new(set.clone(), normalize.clone(), requests) {
        let b = DeviceBatch::new(&batch, device);
        let (logits, _) = net.forward(b.x, EvalForward::eval());
        let loss = cross_entropy(logits.clone(), b.y.clone());
        sums.add(loss, None, correct(logits, b.y), b.len);
    }
    let mut host = EpochSums::default();
    sums.fold_into(&mut host);
    if host.count == 0 {
        return (f64::NAN, f64::NAN);
    }
    (
        host.loss / host.count as f64,
        host.correct / host.count as f64,
    )
}

fn save_checkpoint(run: &RunDir, model: &TrainNetwork, sgd: &Sgd, state: &LoopState) -> Result<()> {
    let mut ckpt = Checkpoint::default();
    ckpt.insert_section("model", named_tensors(model));
    sgd.export("sgd", &mut ckpt.tensors);
    ckpt.state = serde_json::to_value(state)?;
    ckpt.save(&run.checkpoint())?;
    Ok(())
}

fn new_sgd(cfg: &TrainConfig) -> Sgd {
    Sgd::new(cfg.optim.momentum, cfg.optim.weight_decay).with_nesterov(cfg.optim.nesterov)
}

/// Builds the network of a training config and loads a checkpoint's weights into it.
fn restore(
    cfg: &TrainConfig,
    input: InputShape,
    ckpt: &Checkpoint,
    device: &Device,
) -> Result<TrainNetwork> {
    let model = TrainNetwork::new(cfg, input, device)?;
    load_named(model, &ckpt.section("model"))
        .context("the checkpoint does not match the run's configuration")
}

#[allow(clippy::too_many_arguments)]
fn record(
    kind: &str,
    epoch: usize,
    step: usize,
    steps: usize,
    sums: &EpochSums,
    cfg: &TrainConfig,
    lr: f64,
    elapsed: f64,
    images_per_sec: f64,
    test: Option<(f64, f64)>,
) -> TrainRecord {
    let mean = |x: f64| (sums.count > 0).then(|| x / sums.count as f64);
    TrainRecord {
        kind: kind.into(),
        epoch,
        step,
        steps,
        train_loss: mean(sums.loss),
        train_acc: mean(sums.correct),
        aux_loss: (cfg.auxiliary_weight > 0.0)
            .then(|| mean(sums.aux_loss))
            .flatten(),
        test_loss: test.map(|t| t.0),
        test_acc: test.map(|t| t.1),
        lr,
        drop_prob: cfg.drop_prob(epoch),
        batch_size: cfg.batch_size,
        elapsed,
        images_per_sec,
    }
}

fn pct(v: Option<f64>) -> String {
    v.map(|a| format!("{:.2}%", 100.0 * a))
        .unwrap_or_else(|| "-".into())
}

/// Runs (or resumes) a training run in `dir`. `config` is ignored on resume (the run's own
/// `config.toml` is used).
pub fn run_train(
    config: &TrainConfig,
    dir: &Path,
    resume: bool,
    device: &SelectedDevice,
    sink: Sink,
    control: &Control,
) -> Result<TrainEnd> {
    let (cfg, run) = if resume {
        let run = RunDir::open(dir)?;
        let cfg = TrainConfig::from_toml_file(&run.config())?;
        (cfg, run)
    } else {
        config.validate()?;
        // Fail on a bad genotype before anything is written.
        network::parse_genotype(config)?;
        let run = RunDir::create(dir)?;
        write_atomic(&run.config(), config.to_toml().as_bytes())?;
        (config.clone(), run)
    };
    cfg.validate()
        .with_context(|| format!("{}", run.config().display()))?;
    let data = load_train_data(&cfg)?;
    let dev = device.device.clone();
    let train_dev = dev.clone().autodiff();

    let (mut model, mut sgd, mut state) = if resume && run.checkpoint().exists() {
        let ckpt = Checkpoint::load(&run.checkpoint())?;
        let model = restore(&cfg, data.input, &ckpt, &train_dev)?;
        let mut sgd = new_sgd(&cfg);
        sgd.import("sgd", &ckpt.tensors, &dev);
        let state: LoopState =
            serde_json::from_value(ckpt.state.clone()).context("checkpoint loop state")?;
        // Drop records written after this checkpoint (a kill may have left some).
        let (e, s) = (state.epoch, state.step);
        retain_jsonl(&run.metrics(), |v| {
            let ve = v["epoch"].as_u64().unwrap_or(0) as usize;
            let vs = v["step"].as_u64().unwrap_or(0) as usize;
            ve < e || (ve == e && v["kind"] == "step" && vs <= s)
        })?;
        (model, sgd, state)
    } else {
        if resume {
            sink(&Event::Note(
                "no checkpoint yet: starting the run from the beginning".into(),
            ));
            for f in [run.metrics(), run.events()] {
                let _ = std::fs::remove_file(f);
            }
        }
        train_dev.seed(cfg.seed);
        let model = TrainNetwork::new(&cfg, data.input, &train_dev)?;
        let state = LoopState {
            epoch: 0,
            step: 0,
            elapsed: 0.0,
            sums: EpochSums::default(),
            best: None,
        };
        (model, new_sgd(&cfg), state)
    };
    let params = model.params();

    let status = |state: &str, epoch: usize, message: String| RunStatus {
        kind: "train".into(),
        state: state.into(),
        epoch,
        epochs: cfg.epochs,
        device: device.description.clone(),
        message,
    };
    run.write_status(&status("running", state.epoch, String::new()))?;
    let started = Event::Started {
        job: format!(
            "train {} {} network ({:.3} M parameters) on {}",
            cfg.space,
            match cfg.space.family() {
                crate::space::Family::Darts => format!("C={} L={}", cfg.channels, cfg.layers),
                crate::space::Family::Nb201 => format!("C={} N={}", cfg.channels, cfg.layers),
            },
            params as f64 / 1e6,
            data.dataset_name
        ),
        run_dir: run.root.display().to_string(),
        device: device.description.clone(),
        epochs: cfg.epochs,
        start_epoch: state.epoch,
    };
    run.append(&run.events(), &started)?;
    sink(&started);

    let clock = Instant::now();
    let base_elapsed = state.elapsed;
    let elapsed = |clock: &Instant| base_elapsed + clock.elapsed().as_secs_f64();
    let hang_after: Option<usize> = std::env::var(HANG_AFTER_EPOCH_ENV)
        .ok()
        .and_then(|v| v.parse().ok());
    let n = data.train.len();
    let bs = cfg.batch_size;
    let steps_total = n.div_ceil(bs);
    let mut last_test = None;

    while state.epoch < cfg.epochs {
        let epoch = state.epoch;
        let lr = cosine_lr(cfg.optim.lr, cfg.optim.lr_min, epoch, cfg.epochs);
        let forward = EvalForward {
            bn: BnMode::Train,
            drop_prob: cfg.drop_prob(epoch),
            auxiliary: cfg.auxiliary_weight > 0.0,
        };
        sink(&Event::EpochStarted {
            epoch,
            epochs: cfg.epochs,
            steps: steps_total,
            start_step: state.step,
        });
        let perm = data::epoch_permutation(
            n,
            stream_seed(cfg.seed, data::stream::TRAIN_ORDER, epoch as u64, 0),
        );
        let requests: Vec<BatchRequest> = (state.step..steps_total)
            .map(|s| BatchRequest {
                indices: perm[s * bs..((s + 1) * bs).min(n)].to_vec(),
                augment: data.augment.clone(),
                seed: stream_seed(
                    cfg.seed,
                    data::stream::TRAIN_AUGMENT,
                    epoch as u64,
                    s as u64,
                ),
            })
            .collect();
        let mut batches = Prefetcher::new(data.train.clone(), data.normalize.clone(), requests);
        let mut window = WindowSums::default();
        let (mut window_images, mut window_clock) = (0usize, Instant::now());
        let (mut epoch_images, epoch_clock) = (0usize, Instant::now());

        let mut step = state.step;
        while step < steps_total {
            if control.checkpoint_or_stop() {
                window.fold_into(&mut state.sums);
                state.step = step;
                state.elapsed = elapsed(&clock);
                save_checkpoint(&run, &model, &sgd, &state)?;
                let msg = format!(
                    "interrupted at epoch {epoch}, step {step}: checkpoint saved; continue with `darts-pt train --resume {}`",
                    run.root.display()
                );
                run.append(
                    &run.events(),
                    &serde_json::json!({"event": "interrupted", "epoch": epoch, "step": step}),
                )?;
                run.write_status(&status("interrupted", epoch, msg.clone()))?;
                sink(&Event::Finished {
                    state: "interrupted".into(),
                    message: msg,
                });
                return Ok(TrainEnd::Interrupted { epoch, step });
            }
            let batch = batches.next().context("the data loader stopped early")?;
            train_dev.seed(stream_seed(
                cfg.seed,
                DEVICE_STREAM,
                epoch as u64,
                step as u64,
            ));
            let b = DeviceBatch::new(&batch, &train_dev);
            let (logits, aux_logits) = model.forward(b.x, forward);
            let loss = cross_entropy(logits.clone(), b.y.clone());
            let aux_loss = aux_logits.map(|a| cross_entropy(a, b.y.clone()));
            let total = match &aux_loss {
                Some(a) => loss.clone().add(a.clone().mul_scalar(cfg.auxiliary_weight)),
                None => loss.clone(),
            };
            let grads = total.backward();
            let mut g = GradSet::from_backward(&model, &grads);
            if cfg.optim.grad_clip > 0.0 {
                g.clip_global_norm(cfg.optim.grad_clip);
            }
            model = sgd.step(model, &g, lr);
            window.add(
                loss.detach().inner(),
                aux_loss.map(|a| a.detach().inner()),
                correct(logits.detach().inner(), b.y.inner()),
                b.len,
            );
            window_images += b.len;
            epoch_images += b.len;
            step += 1;
            sink(&Event::Step {
                epoch,
                step,
                steps: steps_total,
                images: b.len,
            });
            if cfg.log_every > 0 && step % cfg.log_every == 0 && step < steps_total {
                if !window.fold_into(&mut state.sums) {
                    return diverged(&run, &status, sink, epoch);
                }
                let rate = window_images as f64 / window_clock.elapsed().as_secs_f64().max(1e-9);
                let rec = record(
                    "step",
                    epoch,
                    step,
                    steps_total,
                    &state.sums,
                    &cfg,
                    lr,
                    elapsed(&clock),
                    rate,
                    None,
                );
                run.append(&run.metrics(), &rec)?;
                (window_images, window_clock) = (0, Instant::now());
            }
        }
        drop(batches);
        if !window.fold_into(&mut state.sums) {
            return diverged(&run, &status, sink, epoch);
        }
        let rate = epoch_images as f64 / epoch_clock.elapsed().as_secs_f64().max(1e-9);
        let test = evaluate(
            &model,
            &data.test,
            &data.normalize,
            cfg.eval_batch_size,
            &dev,
        );
        if state.best.is_none_or(|(acc, _)| test.1 > acc) {
            state.best = Some((test.1, epoch + 1));
        }
        let rec = record(
            "epoch",
            epoch,
            steps_total,
            steps_total,
            &state.sums,
            &cfg,
            lr,
            elapsed(&clock),
            rate,
            Some(test),
        );
        run.append(&run.metrics(), &rec)?;
        sink(&Event::Note(format!(
            "epoch {:>3}/{}: loss {:.3} acc {} | test {} (best {}) | lr {:.4} drop {:.3} | {:.0} img/s ({:.0} s)",
            epoch + 1,
            cfg.epochs,
            rec.train_loss.unwrap_or(f64::NAN),
            pct(rec.train_acc),
            pct(rec.test_acc),
            pct(state.best.map(|b| b.0)),
            lr,
            rec.drop_prob,
            rate,
            rec.elapsed
        )));
        last_test = Some(test);
        state.epoch += 1;
        state.step = 0;
        state.sums = EpochSums::default();
        state.elapsed = elapsed(&clock);
        save_checkpoint(&run, &model, &sgd, &state)?;
        sink(&Event::Checkpoint {
            epoch: state.epoch,
            step: 0,
            path: run.checkpoint().display().to_string(),
        });
        run.write_status(&status("running", state.epoch, String::new()))?;
        if hang_after == Some(state.epoch) {
            eprintln!("{HANG_MARKER}");
            loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        }
    }

    // A run resumed after its last epoch has no test numbers in memory: take the last record.
    let (final_loss, final_acc) = match last_test {
        Some(t) => t,
        None => read_jsonl::<TrainRecord>(&run.metrics())
            .into_iter()
            .rev()
            .find(|r| r.kind == "epoch")
            .and_then(|r| Some((r.test_loss?, r.test_acc?)))
            .unwrap_or_else(|| {
                evaluate(
                    &model,
                    &data.test,
                    &data.normalize,
                    cfg.eval_batch_size,
                    &dev,
                )
            }),
    };
    let (best_acc, best_epoch) = state.best.unwrap_or((final_acc, cfg.epochs));
    let result = TrainResult {
        space: cfg.space.to_string(),
        genotype: cfg.genotype.clone(),
        genotype_source: cfg.genotype_source.clone(),
        dataset: data.dataset_name.clone(),
        train_images: data.train.len(),
        test_images: data.test.len(),
        epochs: cfg.epochs,
        params,
        final_test_acc: final_acc,
        final_test_loss: final_loss,
        best_test_acc: best_acc,
        best_epoch,
        elapsed: state.elapsed,
        device: device.description.clone(),
    };
    write_atomic(
        &run.root.join("result.json"),
        serde_json::to_string_pretty(&result)?.as_bytes(),
    )?;
    let msg = format!(
        "training finished: final test accuracy {:.2}% (epoch {}), best {:.2}% (epoch {}); {:.3} M parameters; {:.0} s",
        100.0 * final_acc,
        cfg.epochs,
        100.0 * best_acc,
        best_epoch,
        params as f64 / 1e6,
        state.elapsed
    );
    run.write_status(&status("finished", cfg.epochs, msg.clone()))?;
    run.append(
        &run.events(),
        &serde_json::json!({"event": "finished", "epoch": cfg.epochs}),
    )?;
    sink(&Event::Finished {
        state: "finished".into(),
        message: msg,
    });
    Ok(TrainEnd::Finished(result))
}

fn diverged(
    run: &RunDir,
    status: &dyn Fn(&str, usize, String) -> RunStatus,
    sink: Sink,
    epoch: usize,
) -> Result<TrainEnd> {
    let msg = format!(
        "the loss became NaN or infinite in epoch {epoch}; the run stopped and the last good checkpoint ({}) was kept",
        run.checkpoint().display()
    );
    run.append(
        &run.events(),
        &serde_json::json!({"event": "diverged", "epoch": epoch}),
    )?;
    run.write_status(&status("diverged", epoch, msg.clone()))?;
    sink(&Event::Finished {
        state: "diverged".into(),
        message: msg,
    });
    Ok(TrainEnd::Diverged { epoch })
}

/// What `darts-pt eval` reports about a training run's checkpoint.
#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    pub run: String,
    pub space: String,
    pub genotype: String,
    /// Finished epochs in the checkpoint (and the step within the next one, if interrupted).
    pub epoch: usize,
    pub step: usize,
    pub epochs: usize,
    pub params: usize,
    pub dataset: String,
    pub test_images: usize,
    pub test_loss: f64,
    pub test_acc: f64,
}

/// Re-evaluates the checkpoint of a training run on the test set of its dataset (or of the
/// dataset at `data`, when given).
pub fn eval_run(dir: &Path, data: Option<&Path>, device: &SelectedDevice) -> Result<EvalReport> {
    let run = RunDir::open(dir)?;
    let mut cfg = TrainConfig::from_toml_file(&run.config()).with_context(|| {
        format!(
            "{}: not a training run (search runs are evaluated by `darts-pt select`)",
            dir.display()
        )
    })?;
    if !run.checkpoint().exists() {
        bail!(
            "{}: the run has no checkpoint yet; train it first",
            dir.display()
        );
    }
    if let Some(p) = data {
        cfg.data.path = Some(p.to_path_buf());
        cfg.data.dataset = None;
    }
    let data = load_train_data(&cfg)?;
    let ckpt = Checkpoint::load(&run.checkpoint())?;
    let state: LoopState =
        serde_json::from_value(ckpt.state.clone()).context("checkpoint loop state")?;
    let model = restore(&cfg, data.input, &ckpt, &device.device.clone().autodiff())
        .with_context(|| format!("{}", run.checkpoint().display()))?;
    let (test_loss, test_acc) = evaluate(
        &model,
        &data.test,
        &data.normalize,
        cfg.eval_batch_size,
        &device.device,
    );
    Ok(EvalReport {
        run: dir.display().to_string(),
        space: cfg.space.to_string(),
        genotype: cfg.genotype.clone(),
        epoch: state.epoch,
        step: state.step,
        epochs: cfg.epochs,
        params: model.params(),
        dataset: data.dataset_name,
        test_images: data.test.len(),
        test_loss,
        test_acc,
    })
}
