//! `darts-pt bench`: throughput of the supernet steps on fixed shapes with random inputs, and
//! of PT's scoring pass against a bare forward pass. Median of timed steps after warm-up.

use std::time::Instant;

use anyhow::Result;
use burn::module::Module;
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use serde::Serialize;

use crate::config::{Method, Preset, SearchConfig};
use crate::nn::InputShape;
use crate::nn::bn::BnMode;
use crate::nn::supernet::{CellProjection, Supernet, SupernetConfig, arch_weights, weight_plans};
use crate::optim::{Adam, Sgd};
use crate::search::steps::{DeviceBatch, alpha_step, detached_probs, weight_step};
use crate::space::SpaceId;

/// One benchmark shape.
#[derive(Clone, Debug, Serialize)]
pub struct BenchCase {
    pub name: String,
    pub space: SpaceId,
    pub channels: usize,
    pub layers: usize,
    pub input: InputShape,
    pub batch: usize,
}

/// The shapes of the table.
pub fn standard_cases() -> Vec<BenchCase> {
    let mnist = InputShape {
        channels: 1,
        size: 28,
        classes: 10,
    };
    vec![
        BenchCase {
            name: "NB201 C=8 N=1 1x28x28".into(),
            space: SpaceId::Nb201,
            channels: 8,
            layers: 1,
            input: mnist,
            batch: 64,
        },
        BenchCase {
            name: "NB201 C=16 N=5 3x32x32".into(),
            space: SpaceId::Nb201,
            channels: 16,
            layers: 5,
            input: InputShape::CIFAR10,
            batch: 64,
        },
        BenchCase {
            name: "DARTS C=8 L=5 1x28x28".into(),
            space: SpaceId::Darts,
            channels: 8,
            layers: 5,
            input: mnist,
            batch: 64,
        },
    ]
}

/// Timings of one case.
#[derive(Clone, Debug, Serialize)]
pub struct BenchRow {
    pub case: String,
    pub device: String,
    /// Median milliseconds of a weight step (forward, backward, clip, SGD).
    pub weight_step_ms: f64,
    pub weight_images_per_sec: f64,
    /// Median milliseconds of a DARTS step (alpha step + weight step).
    pub darts_step_ms: f64,
    pub darts_images_per_sec: f64,
    /// Median milliseconds of a forward pass without autodiff (batch statistics).
    pub forward_ms: f64,
    /// Median milliseconds of a PT scoring forward (masked op, no graph, batch statistics).
    pub pt_eval_ms: f64,
    /// Peak resident memory of the process so far, MiB (Linux; 0 elsewhere).
    pub peak_rss_mib: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Peak resident set size of this process in MiB (VmHWM), where the OS tells it.
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn random_batch(case: &BenchCase, device: &Device) -> DeviceBatch {
    let shape = [
        case.batch,
        case.input.channels,
        case.input.size,
        case.input.size,
    ];
    let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), device);
    let labels: Vec<i64> = (0..case.batch)
        .map(|i| (i * 7 % case.input.classes) as i64)
        .collect();
    let y = Tensor::<1, Int>::from_data(TensorData::new(labels, [case.batch]), device);
    DeviceBatch {
        x,
        y,
        len: case.batch,
    }
}

fn time<F: FnMut()>(device: &Device, warmup: usize, steps: usize, mut f: F) -> f64 {
    for _ in 0..warmup {
        f();
    }
    let _ = device.sync();
    let mut times = Vec::with_capacity(steps);
    for _ in 0..steps {
        let t = Instant::now();
        f();
        let _ = device.sync();
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    median(times)
}

/// Runs one case on `device`.
pub fn run_case(
    case: &BenchCase,
    device: &Device,
    label: &str,
    warmup: usize,
    steps: usize,
) -> Result<BenchRow> {
    let train_dev = device.clone().autodiff();
    train_dev.seed(0);
    let cfg = SearchConfig::preset(case.space, Method::Darts, Preset::Paper);
    let mut model = Supernet::new(
        &SupernetConfig {
            space: case.space,
            channels: case.channels,
            layers: case.layers,
            input: case.input,
        },
        &train_dev,
    );
    let space = case.space.space();
    let proj = vec![CellProjection::new(space.num_edges()); space.cell_types().len()];
    let plans = weight_plans(&proj, space.num_ops(), None);
    let mut sgd = Sgd::new(cfg.weights.momentum, cfg.weights.weight_decay);
    let mut adam = Adam::new(
        cfg.alpha.beta1,
        cfg.alpha.beta2,
        cfg.alpha.eps,
        cfg.alpha.weight_decay,
    );
    let wb = random_batch(case, &train_dev);
    let ab = random_batch(case, &train_dev);

    let weight_ms = time(&train_dev, warmup, steps, || {
        let probs = detached_probs(&model);
        let s = weight_step(&mut model, &mut sgd, 0.025, 5.0, &wb, probs, &plans);
        drop(s);
    });
    let darts_ms = time(&train_dev, warmup, steps, || {
        let _ = alpha_step(&mut model, &mut adam, 3e-4, &ab, &plans);
        let probs = detached_probs(&model);
        let _ = weight_step(&mut model, &mut sgd, 0.025, 5.0, &wb, probs, &plans);
    });

    // Forward-only passes on the inner device: plain, and as PT scores (one op masked).
    let net = model.net.valid();
    let x = wb.x.clone().inner();
    let probs: Vec<Tensor<2>> = detached_probs(&model)
        .into_iter()
        .map(|p| p.inner())
        .collect();
    let forward_ms = time(device, warmup, steps, || {
        let w = arch_weights(probs.clone(), &plans);
        let _ = net.forward(x.clone(), &w, BnMode::Batch).into_data();
    });
    let masked = weight_plans(
        &proj,
        space.num_ops(),
        Some((
            crate::space::CellType::Normal,
            crate::nn::supernet::Mask::Op { edge: 0, op: 1 },
        )),
    );
    let pt_ms = time(device, warmup, steps, || {
        let w = arch_weights(probs.clone(), &masked);
        let _ = net.forward(x.clone(), &w, BnMode::Batch).into_data();
    });
    let images = case.batch as f64;
    Ok(BenchRow {
        case: case.name.clone(),
        device: label.to_string(),
        weight_step_ms: weight_ms,
        weight_images_per_sec: images / weight_ms * 1e3,
        darts_step_ms: darts_ms,
        darts_images_per_sec: images / darts_ms * 1e3,
        forward_ms,
        pt_eval_ms: pt_ms,
        peak_rss_mib: peak_rss_mib(),
    })
}

/// A plain-text table of rows.
pub fn render(rows: &[BenchRow]) -> String {
    let mut s = format!(
        "{:<26} {:>10} {:>9} {:>10} {:>9} {:>9} {:>9} {:>8}\n",
        "case", "weight ms", "img/s", "darts ms", "img/s", "fwd ms", "PT ms", "peak MiB"
    );
    for r in rows {
        s += &format!(
            "{:<26} {:>10.1} {:>9.0} {:>10.1} {:>9.0} {:>9.1} {:>9.1} {:>8.0}\n",
            r.case,
            r.weight_step_ms,
            r.weight_images_per_sec,
            r.darts_step_ms,
            r.darts_images_per_sec,
            r.forward_ms,
            r.pt_eval_ms,
            r.peak_rss_mib
        );
    }
    s
}
