//! The wgpu backend (lavapipe on machines without a GPU) against the flex CPU backend: every
//! candidate operation of every space forward and backward, a DARTS supernet's forward and
//! backward, one alpha step, two weight steps, one PT scoring pass, and a tiny search followed
//! by PT run end to end on wgpu.
//!
//! Tolerances, relative to the largest magnitude of the CPU's values (at least 1e-4: a tensor
//! of near-zeros, such as a running mean of centred inputs, is compared absolutely): 1e-4 for
//! forward values, 1e-3 for gradients and weights after steps (f32 sums in another order; BatchNorm divides by the batch's standard
//! deviation, which amplifies the differences of small-variance channels).

use std::collections::BTreeMap;

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use darts_pt::config::{Method, Preset, SearchConfig, SelectMethod};
use darts_pt::device::{DeviceChoice, select};
use darts_pt::job::Control;
use darts_pt::kernels;
use darts_pt::nn::InputShape;
use darts_pt::nn::bn::BnMode;
use darts_pt::nn::ops::Op;
use darts_pt::nn::params::{load_named, named_tensors};
use darts_pt::nn::supernet::{
    CellProjection, Mask, Supernet, SupernetConfig, WeightPlan, arch_weights, weight_plans,
};
use darts_pt::optim::{Adam, GradSet, Sgd};
use darts_pt::search::steps::{
    DeviceBatch, alpha_step, cross_entropy, detached_probs, weight_step,
};
use darts_pt::search::{SearchStart, run_search};
use darts_pt::select::{SelectRequest, run_select};
use darts_pt::space::{CellType, Family, OpKind, SpaceId};

use crate::common::{cpu, max_abs_diff, to_vec};

const FORWARD_TOL: f32 = 1e-4;
const GRAD_TOL: f32 = 1e-3;

fn gpu() -> Device {
    select(&DeviceChoice::Wgpu)
        .expect("no wgpu adapter: install a Vulkan driver (mesa-vulkan-drivers gives lavapipe)")
        .device
}

/// `max |a - b| / max(max |a|, 1e-4)`, with `what` in the message when it exceeds `tol`.
fn assert_close(what: &str, a: &[f32], b: &[f32], tol: f32) {
    let scale = a.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-4);
    let rel = max_abs_diff(a, b) / scale;
    assert!(
        rel <= tol,
        "{what}: relative difference {rel:.2e} > {tol:.0e} (scale {scale:.3e})"
    );
}

/// Deterministic values in [-1, 1).
fn pattern(n: usize, salt: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 37 + salt * 11) % 101) as f32 / 50.5 - 1.0)
        .collect()
}

fn tensor4(values: Vec<f32>, shape: [usize; 4], device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// What one operation computes on an input: forward output, its weighted form as a mixed op
/// takes it (weight 0.3, folded into the last BatchNorm where the op has one), the input
/// gradient and every parameter gradient of `sum(y * r)`.
struct OpPass {
    y: Vec<f32>,
    weighted: Vec<f32>,
    dx: Vec<f32>,
    grads: BTreeMap<String, Vec<f32>>,
}

fn op_pass(op: &Op, shape: [usize; 4], device: &Device) -> OpPass {
    let n: usize = shape.iter().product();
    let x = tensor4(pattern(n, 1), shape, device).require_grad();
    let y = op.forward(x.clone(), BnMode::Train);
    let r = tensor4(pattern(y.shape().num_elements(), 2), y.dims(), device);
    // `none` (and the noise op) output constants: nothing to differentiate.
    let (dx, grads) = if y.is_tracked() {
        let grads = (y.clone() * r).sum().backward();
        let dx = x.grad(&grads).map_or_else(|| vec![0.0; n], to_vec);
        let grads = GradSet::from_backward(op, &grads)
            .grads
            .into_iter()
            .map(|(k, g)| (k, to_vec(g.inner())))
            .collect();
        (dx, grads)
    } else {
        (vec![0.0; n], BTreeMap::new())
    };
    let w = Tensor::<4>::full([1, 1, 1, 1], 0.3, device);
    let weighted = op.forward_weighted(&x.detach(), &mut None, BnMode::Train, &w);
    OpPass {
        y: to_vec(y),
        weighted: to_vec(weighted),
        dx,
        grads,
    }
}

/// Every (family, operation) some space offers.
fn family_ops() -> Vec<(Family, OpKind)> {
    let mut out = Vec::new();
    for id in SpaceId::ALL {
        let space = id.space();
        for op in OpKind::ALL {
            let pair = (id.family(), op);
            if space.contains(op) && !out.contains(&pair) {
                out.push(pair);
            }
        }
    }
    out
}

#[test]
#[cfg_attr(
    not(has_vulkan),
    ignore = "needs a Vulkan driver (mesa-vulkan-drivers: lavapipe)"
)]
fn every_operation_of_every_space_matches_flex_forward_and_backward() {
    let (flex, wgpu) = (cpu().autodiff(), gpu().autodiff());
    let (c, shape) = (4, [4, 4, 8, 8]);
    let mut checked = 0;
    for (family, kind) in family_ops() {
        // NB201's cells never reduce (its reductions are ResNet blocks outside the cells).
        let strides: &[usize] = if family == Family::Darts {
            &[1, 2]
        } else {
            &[1]
        };
        for &stride in strides {
            // The search flavour (affine-free BN, a BN after DARTS pools) and the final one.
            for search in [true, false] {
                let what = format!("{kind} {family:?} stride {stride} search {search}");
                let on_cpu = Op::new(kind, family, c, stride, search, &flex);
                let on_gpu = load_named(
                    Op::new(kind, family, c, stride, search, &wgpu),
                    &named_tensors(&on_cpu),
                )
                .expect("same operation");
                let (a, b) = (
                    op_pass(&on_cpu, shape, &flex),
                    op_pass(&on_gpu, shape, &wgpu),
                );
                assert_eq!(a.y.len(), b.y.len(), "{what}: output size");
                if kind == OpKind::Noise {
                    assert_noise(&what, &b.y, &b.dx);
                } else {
                    assert_close(&format!("{what}: output"), &a.y, &b.y, FORWARD_TOL);
                    let weighted = format!("{what}: weighted output");
                    assert_close(&weighted, &a.weighted, &b.weighted, FORWARD_TOL);
                    assert_close(&format!("{what}: input gradient"), &a.dx, &b.dx, GRAD_TOL);
                }
                assert_eq!(
                    a.grads.keys().collect::<Vec<_>>(),
                    b.grads.keys().collect::<Vec<_>>(),
                    "{what}: parameters with gradients"
                );
                for (name, g) in &a.grads {
                    let label = format!("{what}: gradient of {name}");
                    assert_close(&label, g, &b.grads[name], GRAD_TOL);
                }
                checked += 1;
            }
        }
    }
    // 11 operations: DARTS's 8 and S4's noise at two strides, NB201's 5 (3 shared by name).
    assert!(checked >= 30, "only {checked} operation variants checked");
}

/// burn's convolutions hand back channels-last buffers viewed as NCHW; the BatchNorm kernels
/// index row-major buffers. Statistics, output and input gradient of such a view equal those of
/// the same values stored row-major.
#[test]
#[cfg_attr(
    not(has_vulkan),
    ignore = "needs a Vulkan driver (mesa-vulkan-drivers: lavapipe)"
)]
fn batch_norm_reads_channels_last_views_like_row_major_tensors() {
    let device = gpu().autodiff();
    let [n, c, h, w] = [2, 3, 4, 5];
    let values = pattern(n * c * h * w, 3);
    let run = |x: Tensor<4>| {
        let x = x.require_grad();
        let gamma = Tensor::<1>::from_data(TensorData::new(vec![1.5f32, -0.5, 2.0], [c]), &device);
        let beta = Tensor::<1>::from_data(TensorData::new(vec![0.1f32, 0.2, -0.3], [c]), &device);
        let stats = kernels::batch_stats(x.clone());
        let y = kernels::batch_norm(x.clone(), gamma, beta, stats.clone(), 1e-5);
        let r = tensor4(pattern(n * c * h * w, 4), [n, c, h, w], &device);
        let grads = (y.clone() * r).sum().backward();
        let dx = to_vec(x.grad(&grads).expect("x's gradient"));
        (to_vec(stats), to_vec(y), dx)
    };
    let row_major = run(tensor4(values.clone(), [n, c, h, w], &device));
    let mut nhwc = vec![0.0; values.len()];
    for (i, v) in values.iter().enumerate() {
        let (b, ch, p) = (i / (c * h * w), (i / (h * w)) % c, i % (h * w));
        nhwc[(b * h * w + p) * c + ch] = *v;
    }
    let view = tensor4(nhwc, [n, h, w, c], &device).permute([0, 3, 1, 2]);
    assert_eq!(
        to_vec(view.clone()),
        values,
        "the view holds the same values"
    );
    let channels_last = run(view);
    assert_close("statistics", &row_major.0, &channels_last.0, 1e-6);
    assert_close("output", &row_major.1, &channels_last.1, 1e-6);
    assert_close("input gradient", &row_major.2, &channels_last.2, 1e-6);
}

/// S4's noise is drawn on the device, so the backends differ in value: N(0, 1) statistics
/// and no gradient to the input instead.
fn assert_noise(what: &str, y: &[f32], dx: &[f32]) {
    let n = y.len() as f32;
    let mean = y.iter().sum::<f32>() / n;
    let var = y.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n;
    assert!(
        mean.abs() < 0.2 && (var - 1.0).abs() < 0.3,
        "{what}: mean {mean}, var {var}"
    );
    assert!(
        dx.iter().all(|g| *g == 0.0),
        "{what}: noise passes no gradient"
    );
}

/// A small DARTS supernet (a reduction cell included) and its weights copied to the GPU.
fn darts_pair() -> (Supernet, Supernet) {
    let config = SupernetConfig {
        space: SpaceId::Darts,
        channels: 4,
        layers: 3,
        input: InputShape {
            channels: 1,
            size: 8,
            classes: 3,
        },
    };
    let flex = cpu().autodiff();
    flex.seed(3);
    let on_cpu = Supernet::new(&config, &flex);
    let on_gpu = Supernet::new(&config, &gpu().autodiff());
    let on_gpu = load_named(on_gpu, &named_tensors(&on_cpu)).expect("same architecture");
    (on_cpu, on_gpu)
}

fn darts_plans(mask: Option<(CellType, Mask)>) -> Vec<WeightPlan> {
    let space = SpaceId::Darts.space();
    let proj = vec![CellProjection::new(space.num_edges()); 2];
    weight_plans(&proj, space.num_ops(), mask)
}

fn batch(device: &Device) -> DeviceBatch {
    let shape = [6, 1, 8, 8];
    let x = tensor4(pattern(6 * 64, 5), shape, device);
    let labels: Vec<i64> = (0..6).map(|i| i % 3).collect();
    DeviceBatch {
        x,
        y: Tensor::<1, Int>::from_data(TensorData::new(labels, [6]), device),
        len: 6,
    }
}

#[test]
#[cfg_attr(
    not(has_vulkan),
    ignore = "needs a Vulkan driver (mesa-vulkan-drivers: lavapipe)"
)]
fn darts_supernet_step_alpha_step_and_pt_scoring_on_wgpu_match_flex() {
    let (mut on_cpu, mut on_gpu) = darts_pair();
    let plans = darts_plans(None);

    // Forward and backward of the whole supernet (weights and both cell types' alphas).
    let pass = |net: &Supernet| {
        let b = batch(&net.alphas.normal.val().device());
        let w = arch_weights(net.probabilities(), &plans);
        let logits = net.forward(b.x, &w, BnMode::Train);
        let grads = cross_entropy(logits.clone(), b.y).backward();
        let g = GradSet::from_backward(net, &grads).grads;
        let g: BTreeMap<String, Vec<f32>> =
            g.into_iter().map(|(k, v)| (k, to_vec(v.inner()))).collect();
        (to_vec(logits), g)
    };
    let (logits_cpu, grads_cpu) = pass(&on_cpu);
    let (logits_gpu, grads_gpu) = pass(&on_gpu);
    assert_close(
        "DARTS supernet logits",
        &logits_cpu,
        &logits_gpu,
        FORWARD_TOL,
    );
    assert!(
        grads_cpu.keys().any(|k| k.contains("reduce")),
        "{:?}",
        grads_cpu.keys()
    );
    for (name, g) in &grads_cpu {
        assert_close(
            &format!("gradient of {name}"),
            g,
            &grads_gpu[name],
            GRAD_TOL,
        );
    }

    // One alpha step (Adam, first order): the change of alpha. Adam's first step moves each
    // entry by about lr * sign(gradient), so entries whose gradient is near zero may move
    // differently; the others must agree.
    let lr = 3e-4;
    let step = |net: &mut Supernet| {
        let before = to_vec(net.alphas.normal.val().inner());
        let mut adam = Adam::new(0.5, 0.999, 1e-8, 1e-3);
        let b = batch(&net.alphas.normal.val().device());
        alpha_step(net, &mut adam, lr, &b, &plans);
        let after = to_vec(net.alphas.normal.val().inner());
        before
            .iter()
            .zip(after)
            .map(|(b, a)| a - b)
            .collect::<Vec<f32>>()
    };
    let (d_cpu, d_gpu) = (step(&mut on_cpu), step(&mut on_gpu));
    let g = &grads_cpu["alphas.normal"];
    let big = g.iter().fold(0.0f32, |m, v| m.max(v.abs())) * 1e-2;
    let mut compared = 0;
    for ((a, b), g) in d_cpu.iter().zip(&d_gpu).zip(g) {
        assert!(
            b.abs() <= 2.0 * lr as f32,
            "alpha step moved an entry by {b}"
        );
        if g.abs() >= big {
            assert!((a - b).abs() <= 0.05 * lr as f32, "alpha step: {a} vs {b}");
            compared += 1;
        }
    }
    assert!(
        compared > d_cpu.len() / 2,
        "only {compared} alpha entries compared"
    );

    // Two weight steps (SGD with momentum, weight decay and clipping; the second uses the
    // momentum buffer): every weight and BatchNorm running statistic after them.
    let weights = |net: &mut Supernet| {
        let mut sgd = Sgd::new(0.9, 3e-4);
        let b = batch(&net.alphas.normal.val().device());
        for _ in 0..2 {
            let probs = detached_probs(net);
            weight_step(net, &mut sgd, 0.025, 5.0, &b, probs, &plans);
        }
        named_tensors(&net.net)
    };
    let (w_cpu, w_gpu) = (weights(&mut on_cpu), weights(&mut on_gpu));
    assert_eq!(w_cpu.len(), w_gpu.len());
    assert!(
        w_cpu.keys().any(|k| k.contains("running_var")),
        "{:?}",
        w_cpu.keys()
    );
    for (name, t) in &w_cpu {
        let (a, b) = (
            t.try_to_vec::<f32>().unwrap(),
            w_gpu[name].try_to_vec::<f32>().unwrap(),
        );
        assert_close(&format!("{name} after two weight steps"), &a, &b, GRAD_TOL);
    }

    // A PT scoring pass: the supernet without autodiff, one operation masked, batch statistics.
    let masked = darts_plans(Some((CellType::Normal, Mask::Op { edge: 3, op: 2 })));
    let score = |net: &Supernet| {
        let device = net.alphas.normal.val().device();
        let probs: Vec<Tensor<2>> = net
            .probabilities()
            .into_iter()
            .map(|p| p.detach().inner())
            .collect();
        let b = batch(&device.clone().inner());
        let logits = net
            .net
            .valid()
            .forward(b.x, &arch_weights(probs, &masked), BnMode::Batch);
        let loss = cross_entropy(logits.clone(), b.y);
        (to_vec(logits), to_vec(loss))
    };
    let (logits_cpu, loss_cpu) = score(&on_cpu);
    let (logits_gpu, loss_gpu) = score(&on_gpu);
    assert_close("PT scoring logits", &logits_cpu, &logits_gpu, FORWARD_TOL);
    assert_close("PT scoring loss", &loss_cpu, &loss_gpu, FORWARD_TOL);
}

#[test]
#[cfg_attr(
    not(has_vulkan),
    ignore = "needs a Vulkan driver (mesa-vulkan-drivers: lavapipe)"
)]
fn tiny_search_then_pt_runs_end_to_end_on_wgpu() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nb201-wgpu");
    let mut cfg = SearchConfig::preset(SpaceId::Nb201, Method::Darts, Preset::Tiny);
    cfg.epochs = 1;
    cfg.layers = 1;
    cfg.data.train_images = Some(64);
    cfg.batch_size = 16;
    cfg.eval_each_epoch = false;
    let device = select(&DeviceChoice::Wgpu).expect("a wgpu adapter");
    let control = Control::new();
    let start = SearchStart::New {
        config: Box::new(cfg),
        dir: out.clone(),
    };
    run_search(start, &device, &mut |_| {}, &control).expect("search on wgpu");
    let mut req = SelectRequest::new(&out, SelectMethod::Pt);
    req.pt.tune_epochs = Some(1);
    let outcome = run_select(&req, &device, &mut |_| {}, &control)
        .expect("PT on wgpu")
        .finished()
        .expect("not cancelled");
    let record = outcome.record;
    assert!(record.complete, "PT ran to the end");
    let genotype = record.genotype.expect("a genotype");
    assert_eq!(
        genotype.matches('~').count(),
        6,
        "one operation per NB201 edge: {genotype}"
    );
    assert_eq!(record.op_decisions.len(), 6, "one decision per edge");
    let acc = record
        .supernet_acc_after
        .expect("the selected supernet's accuracy");
    assert!((0.0..=1.0).contains(&acc), "accuracy {acc}");
}

/// The device counters `darts-pt bench` reports: kernels dispatched per step, no host read in
/// a weight step, one number read back per PT scoring pass, and device memory held; and none
/// of the GPU counters on the CPU backend.
#[test]
#[cfg_attr(
    not(has_vulkan),
    ignore = "needs a Vulkan driver (mesa-vulkan-drivers: lavapipe)"
)]
fn bench_counts_dispatches_host_reads_and_device_memory_on_wgpu() {
    let case = darts_pt::bench::BenchCase {
        name: "tiny".into(),
        space: SpaceId::Nb201,
        channels: 2,
        layers: 1,
        input: InputShape {
            channels: 1,
            size: 8,
            classes: 3,
        },
        batch: 4,
        heavy: false,
    };
    let row = darts_pt::bench::run_case(&case, &gpu(), "wgpu", 1, 2).expect("bench on wgpu");
    assert!(row.weight_dispatches > 10.0, "{row:?}");
    assert!(row.darts_dispatches > row.weight_dispatches, "{row:?}");
    assert_eq!(
        row.weight_host_reads, 0.0,
        "a weight step stays on the device"
    );
    assert_eq!(row.pt_host_reads, 1.0, "a PT scoring pass reads one number");
    assert!(row.device_mib.is_some_and(|m| m > 0.0), "{row:?}");
    let total: f64 = row.weight_kernels.iter().map(|(_, n)| n).sum();
    assert_eq!(total, row.weight_dispatches, "per-kernel counts add up");

    let row = darts_pt::bench::run_case(&case, &cpu(), "flex", 1, 2).expect("bench on flex");
    assert_eq!((row.weight_dispatches, row.device_mib), (0.0, None));
    assert_eq!(row.pt_host_reads, 1.0);
}
