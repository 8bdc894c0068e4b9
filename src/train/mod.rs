//! `darts-pt train`: retrain a genotype from scratch as a resumable job (spec section 4), and
//! `darts-pt eval`: re-evaluate its checkpoint.
//!
//! The discrete network trains on the full training set with the final-training augmentation
//! and is tested after every epoch. As in search, every random choice is a pure function of
//! (seed, stream, epoch, step): the image order, the augmentation, and the drop-path masks (the
//! device is re-seeded before every step). A checkpoint therefore holds only the tensors, the
//! SGD momentum and the position, and a resumed run is bit-identical to an uninterrupted one.

mod job;
pub mod network;
pub mod source;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::Serialize;

use crate::checkpoint::Checkpoint;
use crate::config::TrainConfig;
use crate::data::{Augment, BatchRequest, Dataset, ImageSet, Normalize};
use crate::device::SelectedDevice;
use crate::job::batches::Batches;
use crate::job::lifecycle::{Lifecycle, Start};
use crate::job::sums::Window;
use crate::job::{Control, Ctx, End, Event, Job, JobOptions, Sink};
use crate::nn::InputShape;
use crate::nn::darts_eval::EvalForward;
use crate::nn::params::load_named;
use crate::optim::Sgd;
use crate::run::dir::JOB_LOCK;
use crate::run::{RunDir, RunKind, RunReader, TrainResult};
use crate::search::steps::{DeviceBatch, correct, cross_entropy};

use job::{LoopState, Training};
pub use network::TrainNetwork;

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
    let ds = Dataset::open_named(cfg.data.path.as_deref(), cfg.data.dataset.as_deref())?;
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

/// The test pass of a network: running BN statistics, no drop path, no auxiliary head, no
/// autodiff graph, handing control back after every batch. Mean loss and accuracy.
pub async fn test_pass(
    model: &TrainNetwork,
    data: &TrainData,
    batch_size: usize,
    device: &Device,
    ctx: &Ctx,
) -> (f64, f64) {
    let mut pass = TestPass::new(
        model,
        &data.test,
        &data.normalize,
        batch_size,
        device,
        ctx.options().prefetch,
    );
    while pass.step() {
        ctx.boundary().await;
    }
    pass.finish().await
}

/// Test loss and accuracy of a network on `set`, on this thread (outside a job; native only).
pub fn evaluate(
    model: &TrainNetwork,
    set: &Arc<ImageSet>,
    normalize: &Normalize,
    batch_size: usize,
    device: &Device,
) -> (f64, f64) {
    let mut pass = TestPass::new(model, set, normalize, batch_size, device, true);
    while pass.step() {}
    pollster::block_on(pass.finish())
}

/// A test pass advanced one batch at a time.
struct TestPass {
    net: TrainNetwork,
    batches: Batches,
    window: Window,
    device: Device,
    batch: usize,
}

impl TestPass {
    fn new(
        model: &TrainNetwork,
        set: &Arc<ImageSet>,
        normalize: &Normalize,
        batch_size: usize,
        device: &Device,
        prefetch: bool,
    ) -> TestPass {
        let all: Vec<u32> = (0..set.len() as u32).collect();
        let requests = all
            .chunks(batch_size.max(1))
            .map(|chunk| BatchRequest {
                indices: chunk.to_vec(),
                augment: Augment::none(),
                seed: 0,
            })
            .collect();
        TestPass {
            net: model.valid(),
            batches: Batches::new(set, normalize, requests, prefetch),
            window: Window::default(),
            device: device.clone(),
            batch: 0,
        }
    }

    fn step(&mut self) -> bool {
        let Some(batch) = self.batches.next() else {
            return false;
        };
        let b = DeviceBatch::new(&batch, &self.device);
        let (logits, _) = self.net.forward(b.x, EvalForward::eval());
        let loss = cross_entropy(logits.clone(), b.y.clone()).mul_scalar(b.len as f64);
        let c = correct(logits, b.y).float();
        let row = Tensor::cat(vec![loss.clone(), loss.zeros_like(), c], 0);
        self.window.push(self.batch, b.len, row);
        self.batch += 1;
        true
    }

    async fn finish(mut self) -> (f64, f64) {
        let rows = self.window.read().await;
        let n = rows.images();
        if n == 0 {
            return (f64::NAN, f64::NAN);
        }
        (rows.sum_f64(0) / n as f64, rows.sum_f64(2) / n as f64)
    }
}

/// Which training a job runs.
#[derive(Clone, Debug)]
pub enum TrainStart {
    /// A new run in `dir` (which must not hold one yet).
    New {
        config: Box<TrainConfig>,
        dir: PathBuf,
    },
    /// The run in `dir`, from its last checkpoint (or from the beginning without one).
    Resume { dir: PathBuf },
}

impl TrainStart {
    /// The run directory.
    pub fn dir(&self) -> &std::path::Path {
        match self {
            TrainStart::New { dir, .. } | TrainStart::Resume { dir } => dir,
        }
    }
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

/// Prepares a training run: its settings, data and starting state. Errors here (a bad
/// genotype, bad data, a damaged checkpoint) come before any step.
pub fn train_job(
    start: TrainStart,
    device: &SelectedDevice,
    options: JobOptions,
) -> Result<Job<TrainResult>> {
    let resuming = matches!(start, TrainStart::Resume { .. });
    let (cfg, run) = match start {
        TrainStart::Resume { dir } => {
            let run = RunDir::open(&dir)?.hold(JOB_LOCK, "training")?;
            let cfg: TrainConfig = RunReader::local(&dir).toml(&run.config())?;
            (cfg, run)
        }
        TrainStart::New { config, dir } => {
            config.validate()?;
            // Fail on a bad genotype before anything is written.
            network::parse_genotype(&config)?;
            let run = RunDir::create(&dir, "training")?;
            run.write_config(&config.to_toml())?;
            (*config, run)
        }
    };
    cfg.validate()
        .with_context(|| format!("{}", run.config().display()))?;
    let data = load_train_data(&cfg)?;
    let ctx = Ctx::new(options);
    let dev = device.device.clone();
    let train_dev = dev.clone().autodiff();
    let (model, sgd, state) = if resuming && crate::storage::exists(&run.checkpoint()) {
        let ckpt = Checkpoint::load(&run.checkpoint())?;
        let model = restore(&cfg, data.input, &ckpt, &train_dev)?;
        let mut sgd = new_sgd(&cfg);
        sgd.import("sgd", &ckpt.tensors, &dev);
        let state = LoopState::of(&ckpt)?;
        run.rewind(state.epoch, state.step)?;
        (model, sgd, state)
    } else {
        if resuming {
            ctx.emit(Event::Note(
                "no checkpoint yet: starting the run from the beginning".into(),
            ));
            run.clear_records();
        }
        train_dev.seed(cfg.seed);
        let model = TrainNetwork::new(&cfg, data.input, &train_dev)?;
        (model, new_sgd(&cfg), LoopState::default())
    };
    let params = model.params();
    let title = format!(
        "train {} {} network ({:.3} M parameters) on {}",
        cfg.space,
        match cfg.space.family() {
            crate::space::Family::Darts => format!("C={} L={}", cfg.channels, cfg.layers),
            crate::space::Family::Nb201 => format!("C={} N={}", cfg.channels, cfg.layers),
        },
        params as f64 / 1e6,
        data.dataset_name
    );
    let start = Start {
        kind: RunKind::Train,
        title: title.clone(),
        device: device.description.clone(),
        epochs: cfg.epochs,
        start_epoch: state.epoch,
        elapsed: state.elapsed,
    };
    let (job_ctx, description) = (ctx.clone(), device.description.clone());
    let body = async move {
        let life = Lifecycle::start(&run, start, &job_ctx)?;
        let training = Training {
            cfg,
            data,
            dev,
            model,
            sgd,
            state,
            life,
            ctx: job_ctx,
            params,
            device: description,
        };
        training.run().await
    };
    Ok(Job::new(title, ctx, body))
}

/// Runs (or resumes) a training run to its end on this thread.
pub fn run_train(
    start: TrainStart,
    device: &SelectedDevice,
    sink: Sink,
    control: &Control,
) -> Result<End<TrainResult>> {
    train_job(start, device, JobOptions::default())?.run(control, sink)
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
    let mut cfg: TrainConfig = RunReader::local(dir).toml(&run.config()).with_context(|| {
        format!(
            "{}: not a training run (search runs are evaluated by `darts-pt select`)",
            dir.display()
        )
    })?;
    if !crate::storage::exists(&run.checkpoint()) {
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
    let state = LoopState::of(&ckpt)?;
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
