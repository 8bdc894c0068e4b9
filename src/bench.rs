//! `darts-pt bench`: throughput of the supernet steps on fixed shapes with random inputs, and
//! of PT's scoring pass against a bare forward pass. Median of timed steps after warm-up.

use web_time::Instant;

use anyhow::Result;
use burn::module::Module;
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use serde::Serialize;

use crate::config::{Method, Preset, SearchConfig};
use crate::device_stats::{Dispatches, device_memory_mib, host_reads};
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
    /// Too slow for a CPU run by default (many seconds per step there): run on GPUs, or when
    /// asked for.
    pub heavy: bool,
}

/// The benchmark's shapes: small ones for the CPU, and the paper's search supernets (NB201
/// C=16 N=5, DARTS C=16 L=8, CIFAR-10 at batch 64).
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
            heavy: false,
        },
        BenchCase {
            name: "NB201 C=16 N=5 3x32x32".into(),
            space: SpaceId::Nb201,
            channels: 16,
            layers: 5,
            input: InputShape::CIFAR10,
            batch: 64,
            heavy: false,
        },
        BenchCase {
            name: "DARTS C=8 L=5 1x28x28".into(),
            space: SpaceId::Darts,
            channels: 8,
            layers: 5,
            input: mnist,
            batch: 64,
            heavy: false,
        },
        BenchCase {
            name: "DARTS C=16 L=8 3x32x32".into(),
            space: SpaceId::Darts,
            channels: 16,
            layers: 8,
            input: InputShape::CIFAR10,
            batch: 64,
            heavy: true,
        },
    ]
}

/// Timings of one case.
#[derive(Clone, Debug, Serialize)]
pub struct BenchRow {
    pub case: String,
    pub device: String,
    /// Milliseconds of the first weight step: on a GPU, shader compilation and autotuning
    /// (cached for later runs where burn can) on top of the step.
    pub first_step_ms: f64,
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
    /// Kernel dispatches per weight step and per DARTS step (CubeCL devices; 0 elsewhere).
    pub weight_dispatches: f64,
    pub darts_dispatches: f64,
    /// Host reads per weight step and per PT scoring pass.
    pub weight_host_reads: f64,
    pub pt_host_reads: f64,
    /// Peak resident memory of the process so far, MiB (Linux; 0 elsewhere).
    pub peak_rss_mib: f64,
    /// Device memory burn's allocator holds after the case (its peak), MiB; GPUs only.
    pub device_mib: Option<f64>,
    /// Dispatches per weight step by kernel, most first (CubeCL devices).
    pub weight_kernels: Vec<(String, f64)>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Whether timings report the median (a quiet machine) or the minimum (a busy one: the least
/// disturbed step is the best estimate of the code's own cost).
static USE_MIN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Reports minima instead of medians from now on.
pub fn use_minimum(yes: bool) {
    USE_MIN.store(yes, std::sync::atomic::Ordering::Relaxed);
}

fn summary(v: Vec<f64>) -> f64 {
    if USE_MIN.load(std::sync::atomic::Ordering::Relaxed) {
        v.into_iter().fold(f64::INFINITY, f64::min)
    } else {
        median(v)
    }
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

/// CPU time used by this process so far (all threads), in milliseconds.
pub fn process_cpu_ms() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a complete rusage into the pointer it is given.
    let ok = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } == 0;
    if !ok {
        return 0.0;
    }
    // SAFETY: initialised by the successful call above.
    let u = unsafe { usage.assume_init() };
    let ms = |t: libc::timeval| t.tv_sec as f64 * 1e3 + t.tv_usec as f64 / 1e3;
    ms(u.ru_utime) + ms(u.ru_stime)
}

/// Whether timings are process CPU time instead of wall time (robust on a busy machine).
static USE_CPU: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Reports CPU milliseconds (summed over threads) instead of wall milliseconds from now on.
pub fn use_cpu_time(yes: bool) {
    USE_CPU.store(yes, std::sync::atomic::Ordering::Relaxed);
}

/// What [`time`] measured: the first call, the steady-state summary, and per timed call the
/// kernel dispatches and host reads.
struct Timing {
    first_ms: f64,
    ms: f64,
    dispatches: f64,
    host_reads: f64,
    kernels: Vec<(String, f64)>,
}

fn time<F: FnMut()>(device: &Device, warmup: usize, steps: usize, mut f: F) -> Timing {
    let clock = || Instant::now();
    let t = clock();
    f();
    let _ = device.sync();
    let first_ms = t.elapsed().as_secs_f64() * 1e3;
    for _ in 1..warmup {
        f();
    }
    let _ = device.sync();
    let cpu = USE_CPU.load(std::sync::atomic::Ordering::Relaxed);
    let (dispatches, _watching) = Dispatches::watch();
    let reads = host_reads();
    let mut times = Vec::with_capacity(steps);
    for _ in 0..steps {
        let t = clock();
        let c = process_cpu_ms();
        f();
        let _ = device.sync();
        times.push(if cpu {
            process_cpu_ms() - c
        } else {
            t.elapsed().as_secs_f64() * 1e3
        });
    }
    let per_step = |n: u64| n as f64 / steps as f64;
    Timing {
        first_ms,
        ms: summary(times),
        dispatches: per_step(dispatches.count()),
        host_reads: per_step(host_reads() - reads),
        kernels: (dispatches.by_kernel().into_iter())
            .map(|(k, n)| (k, per_step(n)))
            .collect(),
    }
}

/// The number of correctly classified images, read back as one number: what a PT scoring pass
/// brings to the host per batch window.
fn read_correct(logits: Tensor<2>, labels: &Tensor<1, Int>) -> f32 {
    let n = logits
        .clone()
        .argmax(1)
        .reshape([-1])
        .equal(labels.clone())
        .int()
        .sum()
        .float();
    pollster::block_on(crate::job::read::floats(n.reshape([1])))[0]
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

    device.memory_cleanup();
    let weight = time(&train_dev, warmup, steps, || {
        let probs = detached_probs(&model);
        let s = weight_step(&mut model, &mut sgd, 0.025, 5.0, &wb, probs, &plans);
        drop(s);
    });
    let darts = time(&train_dev, warmup, steps, || {
        let _ = alpha_step(&mut model, &mut adam, 3e-4, &ab, &plans);
        let probs = detached_probs(&model);
        let _ = weight_step(&mut model, &mut sgd, 0.025, 5.0, &wb, probs, &plans);
    });

    // Forward-only passes on the inner device: plain, and as PT scores (one op masked).
    let net = model.net.valid();
    let x = wb.x.clone().inner();
    let labels = wb.y.clone().inner();
    let probs: Vec<Tensor<2>> = detached_probs(&model)
        .into_iter()
        .map(|p| p.inner())
        .collect();
    let forward = time(device, warmup, steps, || {
        let w = arch_weights(probs.clone(), &plans);
        read_correct(net.forward(x.clone(), &w, BnMode::Batch), &labels);
    });
    let masked = weight_plans(
        &proj,
        space.num_ops(),
        Some((
            crate::space::CellType::Normal,
            crate::nn::supernet::Mask::Op { edge: 0, op: 1 },
        )),
    );
    let pt = time(device, warmup, steps, || {
        let w = arch_weights(probs.clone(), &masked);
        read_correct(net.forward(x.clone(), &w, BnMode::Batch), &labels);
    });
    let images = case.batch as f64;
    Ok(BenchRow {
        case: case.name.clone(),
        device: label.to_string(),
        first_step_ms: weight.first_ms,
        weight_step_ms: weight.ms,
        weight_images_per_sec: images / weight.ms * 1e3,
        darts_step_ms: darts.ms,
        darts_images_per_sec: images / darts.ms * 1e3,
        forward_ms: forward.ms,
        pt_eval_ms: pt.ms,
        weight_dispatches: weight.dispatches,
        darts_dispatches: darts.dispatches,
        weight_host_reads: weight.host_reads,
        pt_host_reads: pt.host_reads,
        peak_rss_mib: peak_rss_mib(),
        device_mib: device_memory_mib(device),
        weight_kernels: weight.kernels,
    })
}

/// A plain-text table of rows; the dispatch, host-read and device-memory columns appear when
/// some row ran on a GPU.
pub fn render(rows: &[BenchRow]) -> String {
    let gpu = rows.iter().any(|r| r.device_mib.is_some());
    let mut s = format!(
        "{:<24} {:>9} {:>9} {:>7} {:>9} {:>7} {:>8} {:>8} {:>8}",
        "case", "first ms", "weight ms", "img/s", "darts ms", "img/s", "fwd ms", "PT ms", "RSS MiB"
    );
    if gpu {
        s += &format!(
            " {:>7} {:>7} {:>6} {:>6} {:>8}",
            "disp/w", "disp/d", "rd/w", "rd/PT", "dev MiB"
        );
    }
    s += "\n";
    for r in rows {
        s += &format!(
            "{:<24} {:>9.0} {:>9.1} {:>7.0} {:>9.1} {:>7.0} {:>8.1} {:>8.1} {:>8.0}",
            r.case,
            r.first_step_ms,
            r.weight_step_ms,
            r.weight_images_per_sec,
            r.darts_step_ms,
            r.darts_images_per_sec,
            r.forward_ms,
            r.pt_eval_ms,
            r.peak_rss_mib
        );
        if gpu {
            s += &format!(
                " {:>7.0} {:>7.0} {:>6.1} {:>6.1} {:>8.0}",
                r.weight_dispatches,
                r.darts_dispatches,
                r.weight_host_reads,
                r.pt_host_reads,
                r.device_mib.unwrap_or(0.0)
            );
        }
        s += "\n";
    }
    if gpu {
        s += "disp: kernel dispatches per weight (w) / DARTS (d) step; rd: host reads per weight step / PT scoring pass; dev MiB: device memory held after the case\n";
    }
    s
}

/// Timing of one primitive: forward alone and forward + backward.
#[derive(Clone, Debug, Serialize)]
pub struct OpRow {
    pub op: String,
    pub forward_ms: f64,
    pub forward_backward_ms: f64,
}

/// Times the primitives a supernet step is made of, at batch 64, `c` channels, `size`^2.
pub fn run_ops(device: &Device, c: usize, size: usize, warmup: usize, steps: usize) -> Vec<OpRow> {
    use burn::tensor::activation::relu;
    use burn::tensor::module::{avg_pool2d, batch_norm_train, conv2d, max_pool2d};
    use burn::tensor::ops::{AvgPoolOptions, ConvOptions, MaxPoolOptions};

    let ad = device.clone().autodiff();
    ad.seed(1);
    let n = 64;
    let x0 = Tensor::<4>::random([n, c, size, size], Distribution::Normal(0.0, 1.0), &ad);
    let w3 = Tensor::<4>::random([c, c, 3, 3], Distribution::Normal(0.0, 0.1), &ad).require_grad();
    let w1 = Tensor::<4>::random([c, c, 1, 1], Distribution::Normal(0.0, 0.1), &ad).require_grad();
    let wd3 = Tensor::<4>::random([c, 1, 3, 3], Distribution::Normal(0.0, 0.1), &ad).require_grad();
    let wd5 = Tensor::<4>::random([c, 1, 5, 5], Distribution::Normal(0.0, 0.1), &ad).require_grad();
    let scalar = Tensor::<4>::ones([1, 1, 1, 1], &ad).require_grad();
    // Whole candidate operations of the DARTS search cell (affine-free BN, train mode).
    let mut darts_ops: Vec<(String, crate::nn::ops::Op)> = Vec::new();
    for kind in crate::space::DARTS_OPS {
        for stride in [1, 2] {
            darts_ops.push((
                format!("{kind}/s{stride}"),
                crate::nn::ops::Op::new(kind, crate::space::Family::Darts, c, stride, true, &ad),
            ));
        }
    }
    type OpFn<'a> = Box<dyn Fn(Tensor<4>) -> Tensor<4> + 'a>;
    // burn's own convolution (stride 1), the reference the kernels are timed against.
    let burn_conv = |w: &Tensor<4>, pad: usize, dil: usize, groups: usize| -> OpFn {
        let w = w.clone();
        Box::new(move |x| {
            conv2d(
                x,
                w.clone(),
                None,
                ConvOptions::new([1, 1], [pad; 2], [dil; 2], groups),
            )
        })
    };
    let ops: Vec<(&str, OpFn)> = vec![
        ("conv3x3", burn_conv(&w3, 1, 1, 1)),
        ("conv1x1", burn_conv(&w1, 0, 1, 1)),
        ("depthwise3x3", burn_conv(&wd3, 1, 1, c)),
        ("dil_depthwise5x5", burn_conv(&wd5, 4, 2, c)),
        (
            "avg_pool3x3",
            Box::new(|x| {
                avg_pool2d(
                    x,
                    AvgPoolOptions::new([3, 3])
                        .with_stride([1, 1])
                        .with_padding([1, 1])
                        .with_count_include_pad(false),
                )
            }),
        ),
        (
            "max_pool3x3",
            Box::new(|x| {
                max_pool2d(
                    x,
                    MaxPoolOptions::new([3, 3])
                        .with_stride([1, 1])
                        .with_padding([1, 1]),
                )
            }),
        ),
        (
            "batch_norm",
            Box::new(|x: Tensor<4>| {
                let d = x.device();
                batch_norm_train(x, Tensor::ones([c], &d), Tensor::zeros([c], &d), 1e-5).output
            }),
        ),
        ("relu", Box::new(relu)),
        (
            "mul_scalar_add",
            Box::new(|x: Tensor<4>| x.clone().mul(scalar.clone()).add(x)),
        ),
        (
            "k_conv3x3",
            Box::new(|x| crate::kernels::conv2d(x, w3.clone(), 1, 1, 1, 1)),
        ),
        (
            "k_conv1x1",
            Box::new(|x| crate::kernels::conv2d(x, w1.clone(), 1, 0, 1, 1)),
        ),
        (
            "k_depthwise3x3",
            Box::new(|x| crate::kernels::conv2d(x, wd3.clone(), 1, 1, 1, c)),
        ),
        (
            "k_dil_dw5x5",
            Box::new(|x| crate::kernels::conv2d(x, wd5.clone(), 1, 4, 2, c)),
        ),
        (
            "k_avg_pool3x3",
            Box::new(|x| crate::kernels::pool2d(x, 3, 1, 1, false)),
        ),
        (
            "k_max_pool3x3",
            Box::new(|x| crate::kernels::pool2d(x, 3, 1, 1, true)),
        ),
        (
            "k_batch_norm",
            Box::new(|x: Tensor<4>| {
                let d = x.device();
                let stats = crate::kernels::batch_stats(x.clone());
                crate::kernels::batch_norm(
                    x,
                    Tensor::ones([c], &d),
                    Tensor::zeros([c], &d),
                    stats,
                    1e-5,
                )
            }),
        ),
        ("conv3x3_xgrad", burn_conv(&w3.clone().detach(), 1, 1, 1)),
        ("dw3x3_xgrad", burn_conv(&wd3.clone().detach(), 1, 1, c)),
        ("dil_dw5x5_xgrad", burn_conv(&wd5.clone().detach(), 4, 2, c)),
        (
            "conv1x1_matmul",
            Box::new(|x: Tensor<4>| {
                let [n, ci, h, w] = x.dims();
                let co = w1.dims()[0];
                w1.clone()
                    .reshape([1, co, ci])
                    .matmul(x.reshape([n, ci, h * w]))
                    .reshape([n, co, h, w])
            }),
        ),
        (
            "conv3x3_im2col",
            Box::new(|x: Tensor<4>| {
                let [n, ci, h, w] = x.dims();
                let co = w3.dims()[0];
                let p = x.pad([(1, 1), (1, 1)], burn::tensor::ops::PadMode::Constant(0.0));
                let mut cols = Vec::new();
                for dy in 0..3 {
                    for dx in 0..3 {
                        cols.push(p.clone().slice([0..n, 0..ci, dy..dy + h, dx..dx + w]));
                    }
                }
                let cols: Tensor<5> = Tensor::stack(cols, 2);
                let cols = cols.reshape([n, ci * 9, h * w]);
                w3.clone()
                    .reshape([1, co, ci * 9])
                    .matmul(cols)
                    .reshape([n, co, h, w])
            }),
        ),
        (
            "dw3x3_stack",
            Box::new(|x: Tensor<4>| {
                let [n, ci, h, w] = x.dims();
                let p = x.pad([(1, 1), (1, 1)], burn::tensor::ops::PadMode::Constant(0.0));
                let mut cols = Vec::new();
                for dy in 0..3 {
                    for dx in 0..3 {
                        cols.push(p.clone().slice([0..n, 0..ci, dy..dy + h, dx..dx + w]));
                    }
                }
                let cols: Tensor<5> = Tensor::stack(cols, 2);
                let k: Tensor<5> = wd3.clone().reshape([1, ci, 9, 1, 1]);
                cols.mul(k).sum_dim(2).reshape([n, ci, h, w])
            }),
        ),
        (
            "avg_pool_shift",
            Box::new(|x: Tensor<4>| {
                let [n, ci, h, w] = x.dims();
                let p = x.pad([(1, 1), (1, 1)], burn::tensor::ops::PadMode::Constant(0.0));
                let rows = p
                    .clone()
                    .slice([0..n, 0..ci, 0..h + 2, 0..w])
                    .add(p.clone().slice([0..n, 0..ci, 0..h + 2, 1..w + 1]))
                    .add(p.slice([0..n, 0..ci, 0..h + 2, 2..w + 2]));
                let s = rows
                    .clone()
                    .slice([0..n, 0..ci, 0..h, 0..w])
                    .add(rows.clone().slice([0..n, 0..ci, 1..h + 1, 0..w]))
                    .add(rows.slice([0..n, 0..ci, 2..h + 2, 0..w]));
                s.mul_scalar(1.0 / 9.0)
            }),
        ),
        (
            "max_pool_shift",
            Box::new(|x: Tensor<4>| {
                let [n, ci, h, w] = x.dims();
                let p = x.pad(
                    [(1, 1), (1, 1)],
                    burn::tensor::ops::PadMode::Constant(-1e30),
                );
                let rows = p
                    .clone()
                    .slice([0..n, 0..ci, 0..h + 2, 0..w])
                    .max_pair(p.clone().slice([0..n, 0..ci, 0..h + 2, 1..w + 1]))
                    .max_pair(p.slice([0..n, 0..ci, 0..h + 2, 2..w + 2]));
                rows.clone()
                    .slice([0..n, 0..ci, 0..h, 0..w])
                    .max_pair(rows.clone().slice([0..n, 0..ci, 1..h + 1, 0..w]))
                    .max_pair(rows.slice([0..n, 0..ci, 2..h + 2, 0..w]))
            }),
        ),
        (
            "cat4_slice",
            Box::new(|x: Tensor<4>| {
                let y = Tensor::cat(vec![x.clone(), x.clone(), x.clone(), x], 1);
                y.slice([0..n, 0..c, 0..size, 0..size])
            }),
        ),
    ];
    let mut ops = ops;
    for (name, op) in &darts_ops {
        let op = op.clone();
        ops.push((
            name.as_str(),
            Box::new(move |x| op.forward(x, crate::nn::bn::BnMode::Train)),
        ));
    }
    // Cost of the autodiff bookkeeping alone: 100 tiny element-wise ops.
    let tiny = Tensor::<1>::ones([8], &ad);
    let tiny_ms = time(&ad, warmup, steps, || {
        let mut t = tiny.clone();
        for _ in 0..100 {
            t = t.add_scalar(1.0);
        }
        let _ = t.into_data();
    })
    .ms;
    let tiny_inner = tiny.clone().inner();
    let tiny_inner_ms = time(&ad, warmup, steps, || {
        let mut t = tiny_inner.clone();
        for _ in 0..100 {
            t = t.add_scalar(1.0);
        }
        let _ = t.into_data();
    })
    .ms;
    let mut rows = vec![
        OpRow {
            op: "100 tiny ops (autodiff)".into(),
            forward_ms: tiny_ms,
            forward_backward_ms: 0.0,
        },
        OpRow {
            op: "100 tiny ops (inner)".into(),
            forward_ms: tiny_inner_ms,
            forward_backward_ms: 0.0,
        },
    ];
    for (name, op) in &ops {
        let fwd = time(&ad, warmup, steps, || {
            let _ = op(x0.clone()).sum().into_data();
        })
        .ms;
        let fb = time(&ad, warmup, steps, || {
            let x = x0.clone().require_grad();
            let g = op(x.clone()).powi_scalar(2).sum().backward();
            let _ = x.grad(&g).map(|t| t.sum().into_data());
        })
        .ms;
        rows.push(OpRow {
            op: name.to_string(),
            forward_ms: fwd,
            forward_backward_ms: fb,
        });
    }
    rows
}

/// Splits a weight step of `case` into its parts (CPU or wall ms per the current settings):
/// forward on the autodiff device, backward, gradient collection + clipping, SGD update.
pub fn profile_weight_step(
    case: &BenchCase,
    device: &Device,
    warmup: usize,
    steps: usize,
) -> Vec<(String, f64)> {
    use crate::nn::supernet::arch_weights;
    use crate::optim::GradSet;
    use crate::search::steps::cross_entropy;
    let train_dev = device.clone().autodiff();
    train_dev.seed(0);
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
    let wb = random_batch(case, &train_dev);
    let mut sgd = Sgd::new(0.9, 3e-4);
    let fwd = time(&train_dev, warmup, steps, || {
        let w = arch_weights(detached_probs(&model), &plans);
        let _ = model.net.forward(wb.x.clone(), &w, BnMode::Train);
    })
    .ms;

    let fwd_bwd = time(&train_dev, warmup, steps, || {
        let w = arch_weights(detached_probs(&model), &plans);
        let loss = cross_entropy(
            model.net.forward(wb.x.clone(), &w, BnMode::Train),
            wb.y.clone(),
        );
        let _ = loss.backward();
    })
    .ms;
    let w = arch_weights(detached_probs(&model), &plans);
    let loss = cross_entropy(
        model.net.forward(wb.x.clone(), &w, BnMode::Train),
        wb.y.clone(),
    );
    let grads = loss.backward();
    let collect = time(&train_dev, warmup, steps, || {
        let mut g = GradSet::from_backward(&model.net, &grads);
        let n = g.clip_global_norm(5.0);
        let _ = n.map(|n| n.into_data());
    })
    .ms;
    let mut g = GradSet::from_backward(&model.net, &grads);
    g.clip_global_norm(5.0);
    let net = model.net.clone();
    let update = time(&train_dev, warmup, steps, || {
        let n2 = sgd.step(net.clone(), &g, 0.025);
        drop(n2);
    })
    .ms;
    let mut adam = Adam::new(0.5, 0.999, 1e-8, 1e-3);
    let alpha = time(&train_dev, warmup, steps, || {
        let _ = alpha_step(&mut model, &mut adam, 3e-4, &wb, &plans);
    })
    .ms;
    vec![
        ("alpha step".into(), alpha),
        ("forward".into(), fwd),
        ("forward+backward".into(), fwd_bwd),
        ("collect+clip".into(), collect),
        ("sgd update".into(), update),
    ]
}
