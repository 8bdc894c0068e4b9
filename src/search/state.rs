//! What a search checkpoint holds: the supernet's tensors, both optimisers' states, and the
//! loop state (position, epoch sums, SGAS's decisions), and how a supernet is built fresh or
//! restored from one. Selection restores its starting supernet through the same functions.

use anyhow::{Context, Result};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{Checkpoint, Readback};
use crate::config::SearchConfig;
use crate::nn::InputShape;
use crate::nn::params::{add_named, load_named};
use crate::nn::supernet::{CellProjection, Supernet, SupernetConfig};
use crate::optim::{Adam, OptimState, Sgd};
use crate::run::{AlphaRecord, RunDir, SgasDecision};

/// Sums of a partially trained epoch, kept on the host in checkpoints.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(super) struct EpochSums {
    pub train_loss: f64,
    pub train_correct: f64,
    pub train_count: usize,
    pub alpha_loss: f64,
    pub alpha_correct: f64,
    pub alpha_count: usize,
}

/// The loop state saved in a checkpoint beside the tensors.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct LoopState {
    pub epoch: usize,
    pub step: usize,
    pub elapsed: f64,
    pub batch_size: usize,
    pub adam: OptimState,
    pub projections: Vec<CellProjection>,
    /// SGAS: recent non-none distributions per cell type, oldest first.
    pub sgas_history: Vec<Vec<Vec<Vec<f64>>>>,
    pub sgas_decisions: Vec<SgasDecision>,
    pub sums: EpochSums,
}

impl LoopState {
    /// The state before the first step.
    pub fn fresh(cfg: &SearchConfig, edges: usize, cells: usize) -> LoopState {
        LoopState {
            epoch: 0,
            step: 0,
            elapsed: 0.0,
            batch_size: cfg.batch_size,
            adam: OptimState::default(),
            projections: vec![CellProjection::new(edges); cells],
            sgas_history: vec![Vec::new(); cells],
            sgas_decisions: Vec::new(),
            sums: EpochSums::default(),
        }
    }

    pub fn of(ckpt: &Checkpoint) -> Result<LoopState> {
        serde_json::from_value(ckpt.state.clone()).context("checkpoint loop state")
    }
}

fn supernet_config(cfg: &SearchConfig, input: InputShape) -> SupernetConfig {
    SupernetConfig {
        space: cfg.space,
        channels: cfg.channels,
        layers: cfg.layers,
        input,
    }
}

/// The checkpoint loop state of a supernet brought in from elsewhere (`import pytorch`):
/// `epoch` epochs done, Adam's step counts as the file gave them, nothing decided.
pub fn imported_loop_state(
    cfg: &SearchConfig,
    epoch: usize,
    adam_steps: std::collections::BTreeMap<String, u64>,
) -> serde_json::Value {
    let space = cfg.space.space();
    let mut state = LoopState::fresh(cfg, space.num_edges(), space.cell_types().len());
    state.epoch = epoch;
    state.adam = OptimState { steps: adam_steps };
    serde_json::to_value(&state).expect("the loop state serialises")
}

/// Builds the freshly initialised supernet of a config (seeded).
pub fn init_supernet(cfg: &SearchConfig, input: InputShape, device: &Device) -> Supernet {
    let train_device = device.clone().autodiff();
    train_device.seed(cfg.seed);
    Supernet::new(&supernet_config(cfg, input), &train_device)
}

/// The optimisers of a fresh search.
pub(super) fn fresh_optimisers(cfg: &SearchConfig) -> (Sgd, Adam) {
    let sgd = Sgd::new(cfg.weights.momentum, cfg.weights.weight_decay);
    let a = &cfg.alpha;
    (sgd, Adam::new(a.beta1, a.beta2, a.eps, a.weight_decay))
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
    let (mut sgd, mut adam) = fresh_optimisers(cfg);
    sgd.import("sgd", &ckpt.tensors, device);
    let state = LoopState::of(ckpt)?;
    adam.import("adam", &ckpt.tensors, &state.adam, device);
    Ok((model, sgd, adam))
}

/// The projections stored in a search checkpoint (SGAS decisions; empty for other methods).
pub fn checkpoint_projections(ckpt: &Checkpoint) -> Result<Vec<CellProjection>> {
    Ok(LoopState::of(ckpt)?.projections)
}

/// Writes the search checkpoint of `run` (its tensors read from the device in one go).
pub(super) async fn save(
    run: &RunDir,
    model: &Supernet,
    sgd: &Sgd,
    adam: &Adam,
    state: &LoopState,
) -> Result<()> {
    let mut tensors = Readback::default();
    add_named(model, "model", &mut tensors);
    sgd.export("sgd", &mut tensors);
    let mut state = state.clone();
    state.adam = adam.export("adam", &mut tensors);
    let ckpt = Checkpoint {
        tensors: tensors.read().await,
        state: serde_json::to_value(&state)?,
    };
    ckpt.save(&run.checkpoint())?;
    Ok(())
}

/// softmax(alpha) on the host, per cell type, rows = edges.
pub async fn probabilities(model: &Supernet) -> Vec<Vec<Vec<f32>>> {
    let mut out = Vec::new();
    for p in model.probabilities() {
        let [e, o] = p.dims();
        let v = crate::job::read::floats(p.reshape([e * o])).await;
        out.push(v.chunks(o).map(<[f32]>::to_vec).collect());
    }
    out
}

/// softmax(alpha) on the host, for callers outside a job (native only).
pub fn probabilities_host(model: &Supernet) -> Vec<Vec<Vec<f32>>> {
    pollster::block_on(probabilities(model))
}

/// The `alpha.jsonl` line after `epoch` epochs.
pub(super) async fn alpha_record(epoch: usize, model: &Supernet) -> AlphaRecord {
    let mut p = probabilities(model).await.into_iter();
    AlphaRecord {
        epoch,
        normal: p.next().unwrap_or_default(),
        reduce: p.next(),
    }
}
