//! `darts-pt search`: bilevel supernet training as a resumable job (spec section 2).
//!
//! Every random choice is a pure function of (seed, stream, epoch, step): the data order and
//! augmentation through [`crate::data::stream_seed`], and the device's random numbers (SDARTS
//! noise, S4's noise op) by re-seeding the device at every step. A checkpoint therefore needs
//! only the tensors, the optimiser states and the position (epoch, step) to resume exactly.

pub mod sgas;
pub mod steps;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};
use serde::{Deserialize, Serialize};

use crate::checkpoint::Checkpoint;
use crate::config::{Method, SearchConfig};
use crate::data::{
    self, Augment, BatchRequest, Dataset, DatasetKind, ImageSet, Normalize, Prefetcher,
};
use crate::device::SelectedDevice;
use crate::job::{Control, Event, Sink};
use crate::nn::InputShape;
use crate::nn::params::{load_named, named_tensors};
use crate::nn::supernet::{CellProjection, Supernet, SupernetConfig, WeightPlan, weight_plans};
use crate::optim::{Adam, OptimState, Sgd, cosine_lr};
use crate::run::{AlphaRecord, MetricsRecord, RunDir, RunStatus, retain_jsonl};
use crate::space::{CellType, SearchSpace};
use steps::{DeviceBatch, StepStats, alpha_step, alpha_step_second_order, detached_probs};

/// The device's random stream (re-seeded every step).
const DEVICE_STREAM: u64 = 101;

/// The search data: the training images used, the two halves, and how batches are made.
#[derive(Clone)]
pub struct SearchData {
    pub dataset_name: String,
    pub classes: Vec<String>,
    pub train: Arc<ImageSet>,
    pub weight_half: Arc<Vec<u32>>,
    pub alpha_half: Arc<Vec<u32>>,
    pub normalize: Normalize,
    pub augment: Augment,
    pub input: InputShape,
}

/// Opens the dataset a config names and splits it for search.
pub fn load_search_data(cfg: &crate::config::DataConfig) -> Result<SearchData> {
    let kind = cfg
        .dataset
        .as_deref()
        .map(|s| s.parse::<DatasetKind>().map_err(|e| anyhow::anyhow!(e)))
        .transpose()?;
    let ds = Dataset::open(cfg.path.as_deref(), kind)?;
    let augment = Augment::search(&ds);
    let mut train = ds.train.clone();
    if let Some(n) = cfg.train_images {
        if n < 2 {
            bail!("data.train_images must be at least 2");
        }
        if n < train.len() {
            let idx: Vec<u32> = (0..n as u32).collect();
            train = train.subset(&idx);
        }
    }
    if train.len() < 2 {
        bail!("{}: too few training images to split for search", ds.source);
    }
    let (w, a) = data::search_split(train.len());
    let input = InputShape {
        channels: train.channels,
        size: train.height,
        classes: ds.classes.len(),
    };
    if train.height != train.width {
        bail!(
            "{}: images are {}x{}; darts-pt networks need square images",
            ds.source,
            train.height,
            train.width
        );
    }
    Ok(SearchData {
        dataset_name: ds.name.clone(),
        classes: ds.classes.clone(),
        train: Arc::new(train),
        weight_half: Arc::new(w),
        alpha_half: Arc::new(a),
        normalize: ds.normalize.clone(),
        augment,
        input,
    })
}

/// Sums of a partially trained epoch, kept on the host in checkpoints.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct EpochSums {
    train_loss: f64,
    train_correct: f64,
    train_count: usize,
    alpha_loss: f64,
    alpha_correct: f64,
    alpha_count: usize,
}

/// The loop state saved in a checkpoint beside the tensors.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct LoopState {
    epoch: usize,
    step: usize,
    elapsed: f64,
    batch_size: usize,
    adam: OptimState,
    projections: Vec<CellProjection>,
    /// SGAS: recent non-none distributions per cell type, oldest first.
    sgas_history: Vec<Vec<Vec<Vec<f64>>>>,
    sgas_decisions: Vec<sgas::SgasDecision>,
    sums: EpochSums,
}

/// How a search ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SearchEnd {
    Finished,
    Interrupted { epoch: usize, step: usize },
    Diverged { epoch: usize, step: usize },
}

/// The trained state a job hands back (and what selection starts from).
pub struct SearchState {
    pub model: Supernet,
    pub sgd: Sgd,
    pub adam: Adam,
    pub projections: Vec<CellProjection>,
}

/// Device-side running sums of one epoch (or log window).
struct DeviceSums {
    loss: Option<Tensor<1>>,
    correct: Option<Tensor<1, Int>>,
    count: usize,
    /// Per-step losses since the last check, to name the step of a divergence.
    recent: Vec<(usize, Tensor<1>)>,
}

impl DeviceSums {
    fn new() -> Self {
        DeviceSums {
            loss: None,
            correct: None,
            count: 0,
            recent: Vec::new(),
        }
    }

    fn add(&mut self, step: usize, s: StepStats) {
        let weighted = s.loss.clone().mul_scalar(s.len as f64);
        self.loss = Some(match self.loss.take() {
            Some(l) => l.add(weighted),
            None => weighted,
        });
        self.correct = Some(match self.correct.take() {
            Some(c) => c.add(s.correct),
            None => s.correct,
        });
        self.count += s.len;
        self.recent.push((step, s.loss));
    }

    /// Reads the sums (one read), returning (loss sum, correct, count, first non-finite step).
    fn read(&mut self) -> (f64, f64, usize, Option<usize>) {
        let mut parts: Vec<Tensor<1>> = Vec::new();
        if let Some(l) = &self.loss {
            parts.push(l.clone());
        }
        if let Some(c) = &self.correct {
            parts.push(c.clone().float());
        }
        parts.extend(self.recent.iter().map(|(_, t)| t.clone()));
        if parts.is_empty() {
            return (0.0, 0.0, 0, None);
        }
        let values: Vec<f32> = Tensor::cat(parts, 0)
            .into_data()
            .try_into_vec()
            .expect("f32 sums");
        let bad = self
            .recent
            .iter()
            .zip(&values[2..])
            .find(|(_, v)| !v.is_finite())
            .map(|((step, _), _)| *step);
        let out = (values[0] as f64, values[1] as f64, self.count, bad);
        self.recent.clear();
        out
    }
}

/// Loads softmax(alpha) to the host, rows = edges.
pub fn probabilities_host(model: &Supernet) -> Vec<Vec<Vec<f32>>> {
    model
        .probabilities()
        .into_iter()
        .map(|p| {
            let [e, o] = p.dims();
            let v: Vec<f32> = p.into_data().try_into_vec().expect("f32");
            (0..e).map(|i| v[i * o..(i + 1) * o].to_vec()).collect()
        })
        .collect()
}

fn alpha_record(epoch: usize, model: &Supernet) -> AlphaRecord {
    let mut p = probabilities_host(model).into_iter();
    AlphaRecord {
        epoch,
        normal: p.next().unwrap_or_default(),
        reduce: p.next(),
    }
}

/// The SDARTS perturbation radius of an epoch (linear ramp).
pub fn sdarts_epsilon(cfg: &SearchConfig, epoch: usize) -> f64 {
    let s = &cfg.sdarts;
    s.epsilon_min + (s.epsilon_max - s.epsilon_min) * epoch as f64 / cfg.epochs as f64
}

fn supernet_config(cfg: &SearchConfig, input: InputShape) -> SupernetConfig {
    SupernetConfig {
        space: cfg.space,
        channels: cfg.channels,
        layers: cfg.layers,
        input,
    }
}

/// Builds the freshly initialised supernet of a config (seeded).
pub fn init_supernet(cfg: &SearchConfig, input: InputShape, device: &Device) -> Supernet {
    let train_device = device.clone().autodiff();
    train_device.seed(cfg.seed);
    Supernet::new(&supernet_config(cfg, input), &train_device)
}

/// Restores a supernet (and its optimisers) from a search checkpoint.
pub fn restore_supernet(
    cfg: &SearchConfig,
    input: InputShape,
    ckpt: &Checkpoint,
    device: &Device,
) -> Result<(Supernet, Sgd, Adam)> {
    let model = init_supernet(cfg, input, device);
    let model = load_named(model, &ckpt.section("model"))
        .context("the checkpoint does not match this configuration")?;
    let inner = device.clone();
    let mut sgd = Sgd::new(cfg.weights.momentum, cfg.weights.weight_decay);
    sgd.import("sgd", &ckpt.tensors, &inner);
    let mut adam = Adam::new(
        cfg.alpha.beta1,
        cfg.alpha.beta2,
        cfg.alpha.eps,
        cfg.alpha.weight_decay,
    );
    let state: LoopState =
        serde_json::from_value(ckpt.state.clone()).context("checkpoint loop state")?;
    adam.import("adam", &ckpt.tensors, &state.adam, &inner);
    Ok((model, sgd, adam))
}

/// The projections stored in a search checkpoint (SGAS decisions; empty for other methods).
pub fn checkpoint_projections(ckpt: &Checkpoint) -> Result<Vec<CellProjection>> {
    let state: LoopState =
        serde_json::from_value(ckpt.state.clone()).context("checkpoint loop state")?;
    Ok(state.projections)
}

/// The order in which SGAS decided edges: (cell type, edge) pairs.
pub fn checkpoint_sgas_order(ckpt: &Checkpoint) -> Result<Vec<(String, usize)>> {
    let state: LoopState =
        serde_json::from_value(ckpt.state.clone()).context("checkpoint loop state")?;
    Ok(state
        .sgas_decisions
        .iter()
        .map(|d| (d.cell.clone(), d.edge))
        .collect())
}

fn save_checkpoint(
    dir: &RunDir,
    model: &Supernet,
    sgd: &Sgd,
    adam: &Adam,
    state: &LoopState,
) -> Result<()> {
    let mut ckpt = Checkpoint::default();
    ckpt.insert_section("model", named_tensors(model));
    sgd.export("sgd", &mut ckpt.tensors);
    let mut state = state.clone();
    state.adam = adam.export("adam", &mut ckpt.tensors);
    ckpt.state = serde_json::to_value(&state)?;
    ckpt.save(&dir.checkpoint())?;
    Ok(())
}

/// Evaluates a supernet on `indices` of `set` under the given plans: mean loss and accuracy.
/// `bn` is `Eval` for logged accuracies and `Batch` for PT's scoring (batch statistics that
/// leave the running statistics untouched). No autodiff graph is recorded.
#[allow(clippy::too_many_arguments)]
pub fn evaluate(
    model: &Supernet,
    probs: &[Tensor<2>],
    plans: &[WeightPlan],
    data: &SearchData,
    indices: &[u32],
    batch_size: usize,
    augment: Option<(&Augment, u64)>,
    bn: crate::nn::bn::BnMode,
    device: &Device,
) -> (f64, f64) {
    let net = model.net.valid();
    let probs: Vec<Tensor<2>> = probs.iter().map(|p| p.clone().detach().inner()).collect();
    let w = crate::nn::supernet::arch_weights(probs, plans);
    let aug = augment
        .map(|(a, _)| a.clone())
        .unwrap_or_else(Augment::none);
    let seed = augment.map(|(_, s)| s).unwrap_or(0);
    let order: Vec<u32> = if augment.is_some() {
        data::epoch_permutation(indices.len(), seed)
            .into_iter()
            .map(|p| indices[p as usize])
            .collect()
    } else {
        indices.to_vec()
    };
    let requests: Vec<BatchRequest> = order
        .chunks(batch_size.max(1))
        .enumerate()
        .map(|(i, chunk)| BatchRequest {
            indices: chunk.to_vec(),
            augment: aug.clone(),
            seed: data::stream_seed(seed, data::stream::EVAL, 0, i as u64),
        })
        .collect();
    let mut loss_sum: Option<Tensor<1>> = None;
    let mut correct_sum: Option<Tensor<1, Int>> = None;
    let mut count = 0usize;
    for batch in Prefetcher::new(data.train.clone(), data.normalize.clone(), requests) {
        let b = DeviceBatch::new(&batch, device);
        let logits = net.forward(b.x, &w, bn);
        let loss = steps::cross_entropy(logits.clone(), b.y.clone()).mul_scalar(b.len as f64);
        let c = steps::correct(logits, b.y);
        loss_sum = Some(match loss_sum {
            Some(s) => s.add(loss),
            None => loss,
        });
        correct_sum = Some(match correct_sum {
            Some(s) => s.add(c),
            None => c,
        });
        count += b.len;
    }
    match (loss_sum, correct_sum) {
        (Some(l), Some(c)) => {
            let v: Vec<f32> = Tensor::cat(vec![l, c.float()], 0)
                .into_data()
                .try_into_vec()
                .expect("f32");
            (v[0] as f64 / count as f64, v[1] as f64 / count as f64)
        }
        _ => (f64::NAN, f64::NAN),
    }
}

fn cell_types(space: &SearchSpace) -> Vec<CellType> {
    space.cell_types().to_vec()
}

/// Runs (or resumes) a search in `dir`. `config` is ignored on resume (the run's own
/// `config.toml` is used).
pub fn run_search(
    config: &SearchConfig,
    dir: &Path,
    resume: bool,
    device: &SelectedDevice,
    sink: Sink,
    control: &Control,
) -> Result<SearchEnd> {
    let (cfg, run, data) = if resume {
        let run = RunDir::open(dir)?;
        let cfg = SearchConfig::from_toml_file(&run.config())?;
        let data = load_search_data(&cfg.data)?;
        (cfg, run, data)
    } else {
        config.validate()?;
        // Read the data before creating the run directory: bad data must leave no run behind
        // (a stray config.toml would make the corrected command refuse the directory).
        let data = load_search_data(&config.data)?;
        let run = RunDir::create(dir)?;
        crate::checkpoint::write_atomic(&run.config(), config.to_toml().as_bytes())?;
        (config.clone(), run, data)
    };
    let space = cfg.space.space();
    let cells = cell_types(&space);
    let dev = device.device.clone();
    let train_dev = dev.clone().autodiff();

    // Initial or restored state.
    let (mut model, mut sgd, mut adam, mut state) = if resume && run.checkpoint().exists() {
        let ckpt = Checkpoint::load(&run.checkpoint())?;
        let (model, sgd, adam) = restore_supernet(&cfg, data.input, &ckpt, &dev)?;
        let state: LoopState = serde_json::from_value(ckpt.state.clone())?;
        // Drop records written after this checkpoint (a crash may have left some).
        let (e, s) = (state.epoch, state.step);
        let keep = |v: &serde_json::Value| {
            let ve = v["epoch"].as_u64().unwrap_or(0) as usize;
            let vs = v["step"].as_u64().unwrap_or(0) as usize;
            ve < e || (ve == e && v["kind"] == "step" && vs <= s)
        };
        retain_jsonl(&run.metrics(), keep)?;
        retain_jsonl(&run.alpha(), |v| {
            v["epoch"].as_u64().unwrap_or(0) as usize <= e
        })?;
        (model, sgd, adam, state)
    } else {
        if resume {
            sink(&Event::Note(
                "no checkpoint yet: starting the run from the beginning".into(),
            ));
            for f in [run.metrics(), run.alpha(), run.events()] {
                let _ = std::fs::remove_file(f);
            }
        }
        let model = init_supernet(&cfg, data.input, &dev);
        let sgd = Sgd::new(cfg.weights.momentum, cfg.weights.weight_decay);
        let adam = Adam::new(
            cfg.alpha.beta1,
            cfg.alpha.beta2,
            cfg.alpha.eps,
            cfg.alpha.weight_decay,
        );
        let state = LoopState {
            epoch: 0,
            step: 0,
            elapsed: 0.0,
            batch_size: cfg.batch_size,
            adam: OptimState::default(),
            projections: vec![CellProjection::new(space.num_edges()); cells.len()],
            sgas_history: vec![Vec::new(); cells.len()],
            sgas_decisions: Vec::new(),
            sums: EpochSums::default(),
        };
        let rec = alpha_record(0, &model);
        run.append(&run.alpha(), &rec)?;
        sink(&Event::Alpha(rec));
        (model, sgd, adam, state)
    };

    let status = |state: &str, epoch: usize, message: String| RunStatus {
        kind: "search".into(),
        state: state.into(),
        epoch,
        epochs: cfg.epochs,
        device: device.description.clone(),
        message,
    };
    run.write_status(&status("running", state.epoch, String::new()))?;
    let started = Event::Started {
        job: format!(
            "search {} {} on {}",
            cfg.space, cfg.method, data.dataset_name
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

    while state.epoch < cfg.epochs {
        let epoch = state.epoch;
        let bs = state.batch_size;
        let lr = cosine_lr(cfg.weights.lr, cfg.weights.lr_min, epoch, cfg.epochs);
        let eps = sdarts_epsilon(&cfg, epoch);
        let n_w = data.weight_half.len();
        let steps_total = n_w.div_ceil(bs);
        let plans = weight_plans(&state.projections, space.num_ops(), None);
        let alpha_active = cfg.method.trains_alpha()
            && state
                .projections
                .iter()
                .any(|p| !p.undecided_edges().is_empty());

        sink(&Event::EpochStarted {
            epoch,
            epochs: cfg.epochs,
            steps: steps_total,
            start_step: state.step,
        });

        let perm = data::epoch_permutation(
            n_w,
            data::stream_seed(cfg.seed, data::stream::WEIGHT_ORDER, epoch as u64, 0),
        );
        let mut requests = Vec::new();
        for s in state.step..steps_total {
            let w_idx: Vec<u32> = perm[s * bs..((s + 1) * bs).min(n_w)]
                .iter()
                .map(|&p| data.weight_half[p as usize])
                .collect();
            requests.push(BatchRequest {
                indices: w_idx,
                augment: data.augment.clone(),
                seed: data::stream_seed(
                    cfg.seed,
                    data::stream::WEIGHT_AUGMENT,
                    epoch as u64,
                    s as u64,
                ),
            });
            if alpha_active {
                let k = bs.min(data.alpha_half.len());
                let a_idx = data::random_sample(
                    &data.alpha_half,
                    k,
                    data::stream_seed(cfg.seed, data::stream::ALPHA_SAMPLE, epoch as u64, s as u64),
                );
                requests.push(BatchRequest {
                    indices: a_idx,
                    augment: data.augment.clone(),
                    seed: data::stream_seed(
                        cfg.seed,
                        data::stream::ALPHA_AUGMENT,
                        epoch as u64,
                        s as u64,
                    ),
                });
            }
        }
        let mut batches = Prefetcher::new(data.train.clone(), data.normalize.clone(), requests);

        let mut train_sums = DeviceSums::new();
        let mut alpha_sums = DeviceSums::new();
        let mut window_images = 0usize;
        let mut window_clock = Instant::now();
        let mut epoch_images = 0usize;
        let epoch_clock = Instant::now();

        let mut step = state.step;
        while step < steps_total {
            if control.checkpoint_or_stop() {
                fold_sums(&mut state.sums, &mut train_sums, &mut alpha_sums);
                state.step = step;
                state.elapsed = elapsed(&clock);
                save_checkpoint(&run, &model, &sgd, &adam, &state)?;
                let msg = format!(
                    "interrupted at epoch {epoch}, step {step}: checkpoint saved; continue with `darts-pt search --resume {}`",
                    run.root.display()
                );
                run.append(
                    &run.events(),
                    &serde_json::json!({"event": "interrupted", "epoch": epoch, "step": step}),
                )?;
                run.write_status(&status("interrupted", epoch, msg.clone()))?;
                sink(&Event::Checkpoint {
                    epoch,
                    step,
                    path: run.checkpoint().display().to_string(),
                });
                sink(&Event::Finished {
                    state: "interrupted".into(),
                    message: msg,
                });
                return Ok(SearchEnd::Interrupted { epoch, step });
            }
            let w_batch = batches.next().context("the data loader stopped early")?;
            let a_batch = if alpha_active {
                Some(batches.next().context("the data loader stopped early")?)
            } else {
                None
            };
            train_dev.seed(data::stream_seed(
                cfg.seed,
                DEVICE_STREAM,
                epoch as u64,
                step as u64,
            ));
            let wb = DeviceBatch::new(&w_batch, &train_dev);

            if let Some(a) = &a_batch {
                let ab = DeviceBatch::new(a, &train_dev);
                let stats = match cfg.method {
                    Method::Darts2 => alpha_step_second_order(
                        &mut model,
                        &mut adam,
                        &sgd,
                        cfg.alpha.lr,
                        lr,
                        cfg.unrolled_r,
                        &wb,
                        &ab,
                        &plans,
                    ),
                    _ => alpha_step(&mut model, &mut adam, cfg.alpha.lr, &ab, &plans),
                };
                alpha_sums.add(step, stats);
            }

            let probs = detached_probs(&model);
            let probs = match cfg.method {
                Method::SdartsRs => steps::perturb_uniform(probs, eps),
                Method::SdartsAdv => steps::perturb_adversarial(
                    &model,
                    probs,
                    eps,
                    cfg.sdarts.adv_steps,
                    &wb,
                    &plans,
                ),
                _ => probs,
            };
            let stats = steps::weight_step(
                &mut model,
                &mut sgd,
                lr,
                cfg.weights.grad_clip,
                &wb,
                probs,
                &plans,
            );
            train_sums.add(step, stats);
            window_images += wb.len;
            epoch_images += wb.len;
            step += 1;
            sink(&Event::Step {
                epoch,
                step,
                steps: steps_total,
                images: wb.len,
            });

            let log_now = cfg.log_every > 0 && step % cfg.log_every == 0 && step < steps_total;
            if log_now {
                let rec = match check_window(&mut state.sums, &mut train_sums, &mut alpha_sums) {
                    Err(bad) => return diverged(&run, &status, sink, epoch, bad),
                    Ok(()) => {
                        let secs = window_clock.elapsed().as_secs_f64().max(1e-9);
                        let r = metrics_line(
                            "step",
                            epoch,
                            step,
                            steps_total,
                            &state.sums,
                            lr,
                            &cfg,
                            eps,
                            bs,
                            elapsed(&clock),
                            window_images as f64 / secs,
                            None,
                        );
                        window_images = 0;
                        window_clock = Instant::now();
                        r
                    }
                };
                run.append(&run.metrics(), &rec)?;
                sink(&Event::Metrics(rec));
            }
        }
        drop(batches);
        if let Err(bad) = check_window(&mut state.sums, &mut train_sums, &mut alpha_sums) {
            return diverged(&run, &status, sink, epoch, bad);
        }

        let epoch_rate = epoch_images as f64 / epoch_clock.elapsed().as_secs_f64().max(1e-9);
        // End of epoch: held-out accuracy in eval mode, SGAS decisions, records, checkpoint.
        let valid = if cfg.eval_each_epoch {
            let probs = detached_probs(&model);
            Some(evaluate(
                &model,
                &probs,
                &plans,
                &data,
                &data.alpha_half,
                256.max(bs),
                None,
                crate::nn::bn::BnMode::Eval,
                &dev,
            ))
        } else {
            None
        };
        let rec = metrics_line(
            "epoch",
            epoch,
            steps_total,
            steps_total,
            &state.sums,
            lr,
            &cfg,
            eps,
            bs,
            elapsed(&clock),
            epoch_rate,
            valid,
        );
        run.append(&run.metrics(), &rec)?;
        sink(&Event::Metrics(rec));

        if cfg.method == Method::Sgas {
            let host = probabilities_host(&model);
            sgas_epoch_end(
                &cfg, &space, &cells, &host, &mut state, epoch, &run, sink, false,
            )?;
        }

        let arec = alpha_record(epoch + 1, &model);
        run.append(&run.alpha(), &arec)?;
        sink(&Event::Alpha(arec));

        state.epoch += 1;
        state.step = 0;
        state.sums = EpochSums::default();
        state.elapsed = elapsed(&clock);
        save_checkpoint(&run, &model, &sgd, &adam, &state)?;
        sink(&Event::Checkpoint {
            epoch: state.epoch,
            step: 0,
            path: run.checkpoint().display().to_string(),
        });
        run.write_status(&status("running", state.epoch, String::new()))?;
    }

    if cfg.method == Method::Sgas
        && state
            .projections
            .iter()
            .any(|p| !p.undecided_edges().is_empty())
    {
        let host = probabilities_host(&model);
        sgas_epoch_end(
            &cfg, &space, &cells, &host, &mut state, cfg.epochs, &run, sink, true,
        )?;
        save_checkpoint(&run, &model, &sgd, &adam, &state)?;
    }

    let msg = format!(
        "search finished: {} epochs in {:.1} s",
        cfg.epochs,
        elapsed(&clock)
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
    Ok(SearchEnd::Finished)
}

/// Moves device sums into the host sums (used before an interruption checkpoint).
fn fold_sums(host: &mut EpochSums, train: &mut DeviceSums, alpha: &mut DeviceSums) {
    let _ = check_window(host, train, alpha);
}

/// Reads the device sums into the host sums; `Err(step)` names the first non-finite loss.
fn check_window(
    host: &mut EpochSums,
    train: &mut DeviceSums,
    alpha: &mut DeviceSums,
) -> Result<(), usize> {
    let (l, c, n, bad_t) = train.read();
    let (al, ac, an, bad_a) = alpha.read();
    host.train_loss += l;
    host.train_correct += c;
    host.train_count += n;
    host.alpha_loss += al;
    host.alpha_correct += ac;
    host.alpha_count += an;
    *train = DeviceSums::new();
    *alpha = DeviceSums::new();
    match (bad_t, bad_a) {
        (Some(a), Some(b)) => Err(a.min(b)),
        (Some(a), None) | (None, Some(a)) => Err(a),
        (None, None) => Ok(()),
    }
}

fn diverged(
    run: &RunDir,
    status: &dyn Fn(&str, usize, String) -> RunStatus,
    sink: Sink,
    epoch: usize,
    step: usize,
) -> Result<SearchEnd> {
    let msg = format!(
        "the loss became NaN or infinite at epoch {epoch}, step {step}; the run stopped and the last good checkpoint ({}) was kept",
        run.checkpoint().display()
    );
    run.append(
        &run.events(),
        &serde_json::json!({"event": "diverged", "epoch": epoch, "step": step}),
    )?;
    run.write_status(&status("diverged", epoch, msg.clone()))?;
    sink(&Event::Finished {
        state: "diverged".into(),
        message: msg,
    });
    Ok(SearchEnd::Diverged { epoch, step })
}

#[allow(clippy::too_many_arguments)]
fn metrics_line(
    kind: &str,
    epoch: usize,
    step: usize,
    steps: usize,
    sums: &EpochSums,
    lr: f64,
    cfg: &SearchConfig,
    eps: f64,
    batch_size: usize,
    elapsed: f64,
    images_per_sec: f64,
    valid: Option<(f64, f64)>,
) -> MetricsRecord {
    let mean = |x: f64, n: usize| (n > 0).then(|| x / n as f64);
    MetricsRecord {
        kind: kind.into(),
        epoch,
        step,
        steps,
        train_loss: mean(sums.train_loss, sums.train_count),
        train_acc: mean(sums.train_correct, sums.train_count),
        alpha_loss: mean(sums.alpha_loss, sums.alpha_count),
        alpha_acc: mean(sums.alpha_correct, sums.alpha_count),
        valid_loss: valid.map(|v| v.0),
        valid_acc: valid.map(|v| v.1),
        lr,
        epsilon: matches!(cfg.method, Method::SdartsRs | Method::SdartsAdv).then_some(eps),
        batch_size,
        elapsed,
        images_per_sec,
    }
}

/// SGAS at the end of an epoch: update the history and, on a decision epoch (or when
/// `finalize`), decide one edge per cell type (normal first) and grow the batch.
#[allow(clippy::too_many_arguments)]
fn sgas_epoch_end(
    cfg: &SearchConfig,
    space: &SearchSpace,
    cells: &[CellType],
    host: &[Vec<Vec<f32>>],
    state: &mut LoopState,
    epoch: usize,
    run: &RunDir,
    sink: Sink,
    finalize: bool,
) -> Result<()> {
    let decide_now =
        finalize || sgas::is_decision_epoch(epoch, cfg.sgas.warmup, cfg.sgas.decision_freq);
    loop {
        let mut decided_any = false;
        for (i, cell) in cells.iter().enumerate() {
            let ops: Vec<Vec<_>> = (0..space.num_edges())
                .map(|e| space.ops(*cell, e).to_vec())
                .collect();
            if decide_now
                && let Some((edge, op, score, pruned)) = sgas::decide(
                    &mut state.projections[i],
                    &host[i],
                    &ops,
                    &state.sgas_history[i],
                    cfg.sgas.criterion,
                    space.family,
                )
            {
                decided_any = true;
                let d = sgas::SgasDecision {
                    epoch,
                    cell: cell.name().into(),
                    edge,
                    op,
                    op_name: ops[edge][op].name().into(),
                    score,
                    pruned,
                };
                let value = serde_json::json!({"event": "sgas_decision", "decision": d});
                run.append(&run.events(), &value)?;
                sink(&Event::Decision(value));
                state.sgas_decisions.push(d);
            }
            let (_, dists) = sgas::non_none(&host[i], &ops);
            let h = &mut state.sgas_history[i];
            if !finalize {
                h.push(dists);
                while h.len() > cfg.sgas.history {
                    h.remove(0);
                }
            }
        }
        if decided_any && !finalize {
            state.batch_size += cfg.sgas.batch_increase;
        }
        if !finalize || !decided_any {
            break;
        }
    }
    Ok(())
}
