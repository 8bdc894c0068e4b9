//! BatchNorm with batch statistics in four kernels: the statistics (one cube per channel), the
//! normalisation (one unit per element), the gradient sums of gamma and beta (one cube per
//! channel) and the input gradient (one unit per element).
//!
//! burn's generic `batch_norm_train` is about a dozen dispatches (means, variance, broadcasts)
//! and its backward recomputes the statistics; each of these is one dispatch. The statistics use
//! two passes over the channel (mean, then the variance about it), so large-mean activations
//! keep their precision in f32.
//!
//! Inputs are made row-major first. burn's convolutions hand back channels-last buffers viewed
//! as NCHW, so that is a copy per BatchNorm input; reading them in place instead (strided
//! reductions, outputs in the input's memory order) took 13% fewer dispatches per weight step
//! but was slower on lavapipe in six of seven alternated runs: the per-channel reductions lose
//! either their parallelism or their contiguous reads.

use burn::backend::TensorMetadata;
use burn::tensor::Shape;
use burn_cubecl::cubecl;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use cubecl::ir::ElemType;
use cubecl::prelude::*;

use super::launch::{empty_like, f32_elem, per_element};

/// Units per cube in the per-channel reductions, and the size of their shared buffer. A power
/// of two no larger than any adapter's limit (WebGPU guarantees 256).
const REDUCE_UNITS: usize = 256;

/// The sum of `partial` over the cube's units (a power-of-two count), in shared memory.
#[cube]
fn cube_sum<F: Float>(partial: F) -> F {
    let mut shared = Shared::new_slice(REDUCE_UNITS);
    let unit = UNIT_POS_X as usize;
    shared[unit] = partial;
    sync_cube();
    let mut stride = CUBE_DIM_X as usize / 2;
    while stride > 0 {
        if unit < stride {
            shared[unit] = shared[unit] + shared[unit + stride];
        }
        sync_cube();
        stride /= 2;
    }
    let total = shared[0];
    sync_cube();
    total
}

/// Index of element `i` (of the `count = n * plane` elements of channel `c`) in `[n, c, plane]`.
#[cube]
fn channel_index(i: usize, c: usize, channels: usize, plane: usize) -> usize {
    ((i / plane) * channels + c) * plane + i % plane
}

/// `stats[c]` = mean, `stats[channels + c]` = biased variance of channel `c` (`CUBE_POS_X`).
#[cube(launch)]
fn stats_kernel<F: Float>(
    x: &Tensor<F>,
    stats: &mut Tensor<F>,
    channels: u32,
    plane: u32,
    #[define(F)] _dtype: ElemType,
) {
    let c = CUBE_POS_X as usize;
    let (channels, plane) = (channels as usize, plane as usize);
    let count = x.len() / channels;
    let units = CUBE_DIM_X as usize;
    let mut sum = F::new(0.0);
    let mut i = UNIT_POS_X as usize;
    while i < count {
        sum += x[channel_index(i, c, channels, plane)];
        i += units;
    }
    let mean = cube_sum::<F>(sum) / F::cast_from(count as u32);
    let mut sq = F::new(0.0);
    let mut i = UNIT_POS_X as usize;
    while i < count {
        let d = x[channel_index(i, c, channels, plane)] - mean;
        sq += d * d;
        i += units;
    }
    let var = cube_sum::<F>(sq) / F::cast_from(count as u32);
    if UNIT_POS_X == 0 {
        stats[c] = mean;
        stats[channels + c] = var;
    }
}

/// `out = (x - mean) / sqrt(var + eps) * gamma + beta`, one unit per element.
#[cube(launch)]
fn normalize_kernel<F: Float>(
    x: &Tensor<F>,
    stats: &Tensor<F>,
    gamma: &Tensor<F>,
    beta: &Tensor<F>,
    out: &mut Tensor<F>,
    channels: u32,
    plane: u32,
    eps: f32,
    #[define(F)] _dtype: ElemType,
) {
    let pos = ABSOLUTE_POS;
    if pos >= out.len() {
        terminate!();
    }
    let channels = channels as usize;
    let c = (pos / plane as usize) % channels;
    let rstd = F::new(1.0) / (stats[channels + c] + F::cast_from(eps)).sqrt();
    out[pos] = (x[pos] - stats[c]) * rstd * gamma[c] + beta[c];
}

/// `sums[c]` = sum of `gy * xhat` (gamma's gradient), `sums[channels + c]` = sum of `gy`
/// (beta's gradient) over channel `c` (`CUBE_POS_X`).
#[cube(launch)]
fn grad_sums_kernel<F: Float>(
    x: &Tensor<F>,
    gy: &Tensor<F>,
    stats: &Tensor<F>,
    sums: &mut Tensor<F>,
    channels: u32,
    plane: u32,
    eps: f32,
    #[define(F)] _dtype: ElemType,
) {
    let c = CUBE_POS_X as usize;
    let (channels, plane) = (channels as usize, plane as usize);
    let count = x.len() / channels;
    let units = CUBE_DIM_X as usize;
    let mean = stats[c];
    let mut dot = F::new(0.0);
    let mut total = F::new(0.0);
    let mut i = UNIT_POS_X as usize;
    while i < count {
        let at = channel_index(i, c, channels, plane);
        let g = gy[at];
        dot += g * (x[at] - mean);
        total += g;
        i += units;
    }
    let dot = cube_sum::<F>(dot);
    let total = cube_sum::<F>(total);
    if UNIT_POS_X == 0 {
        let rstd = F::new(1.0) / (stats[channels + c] + F::cast_from(eps)).sqrt();
        sums[c] = dot * rstd;
        sums[channels + c] = total;
    }
}

/// `dx = gamma * rstd * (gy - sum(gy) / m - xhat * sum(gy * xhat) / m)`, one unit per element.
#[cube(launch)]
fn input_grad_kernel<F: Float>(
    x: &Tensor<F>,
    gy: &Tensor<F>,
    stats: &Tensor<F>,
    gamma: &Tensor<F>,
    sums: &Tensor<F>,
    dx: &mut Tensor<F>,
    channels: u32,
    plane: u32,
    eps: f32,
    #[define(F)] _dtype: ElemType,
) {
    let pos = ABSOLUTE_POS;
    if pos >= dx.len() {
        terminate!();
    }
    let channels = channels as usize;
    let c = (pos / plane as usize) % channels;
    let m = F::cast_from((dx.len() / channels) as u32);
    let rstd = F::new(1.0) / (stats[channels + c] + F::cast_from(eps)).sqrt();
    let xhat = (x[pos] - stats[c]) * rstd;
    dx[pos] = gamma[c] * rstd * (gy[pos] - sums[channels + c] / m - xhat * sums[c] / m);
}

/// `[n, c, h, w]` as (channels, plane).
fn layout(x: &CubeTensor) -> (u32, u32) {
    let s = x.shape();
    (s[1] as u32, (s[2] * s[3]) as u32)
}

/// The per-channel reduction cube: a power of two within the adapter's limit.
fn reduce_dim(x: &CubeTensor) -> CubeDim {
    let max = x.client.properties().hardware.max_cube_dim.0 as usize;
    let units = REDUCE_UNITS.min(max);
    CubeDim::new_1d((1usize << units.ilog2()) as u32)
}

/// Per-channel batch mean and biased variance of `x` as `[2, C]`.
pub fn batch_stats(x: CubeTensor) -> CubeTensor {
    let kind = f32_elem(&x, "BatchNorm");
    let x = into_contiguous(x);
    let (channels, plane) = layout(&x);
    let stats = empty_like(&x, Shape::new([2, channels as usize]));
    stats_kernel::launch(
        &x.client.clone(),
        CubeCount::Static(channels, 1, 1),
        reduce_dim(&x),
        x.into_tensor_arg(),
        stats.clone().into_tensor_arg(),
        channels,
        plane,
        kind,
    );
    stats
}

/// BatchNorm of `x` with its batch statistics `stats`.
pub fn batch_norm(
    x: CubeTensor,
    gamma: CubeTensor,
    beta: CubeTensor,
    stats: CubeTensor,
    eps: f64,
) -> CubeTensor {
    let kind = f32_elem(&x, "BatchNorm");
    let [x, gamma, beta, stats] = [x, gamma, beta, stats].map(into_contiguous);
    let (channels, plane) = layout(&x);
    let out = empty_like(&x, x.shape());
    let (count, dim) = per_element(&out);
    normalize_kernel::launch(
        &out.client.clone(),
        count,
        dim,
        x.into_tensor_arg(),
        stats.into_tensor_arg(),
        gamma.into_tensor_arg(),
        beta.into_tensor_arg(),
        out.clone().into_tensor_arg(),
        channels,
        plane,
        eps as f32,
        kind,
    );
    out
}

/// `[2, C]`: the gradients of gamma (row 0) and beta (row 1).
pub fn batch_norm_dparams(
    x: CubeTensor,
    stats: CubeTensor,
    gy: CubeTensor,
    eps: f64,
) -> CubeTensor {
    let kind = f32_elem(&x, "BatchNorm");
    let [x, stats, gy] = [x, stats, gy].map(into_contiguous);
    let (channels, plane) = layout(&x);
    let sums = empty_like(&x, Shape::new([2, channels as usize]));
    grad_sums_kernel::launch(
        &x.client.clone(),
        CubeCount::Static(channels, 1, 1),
        reduce_dim(&x),
        x.into_tensor_arg(),
        gy.into_tensor_arg(),
        stats.into_tensor_arg(),
        sums.clone().into_tensor_arg(),
        channels,
        plane,
        eps as f32,
        kind,
    );
    sums
}

/// The input gradient of [`batch_norm`].
pub fn batch_norm_dx(
    x: CubeTensor,
    gamma: CubeTensor,
    stats: CubeTensor,
    gy: CubeTensor,
    eps: f64,
) -> CubeTensor {
    let kind = f32_elem(&x, "BatchNorm");
    let [x, gamma, stats, gy] = [x, gamma, stats, gy].map(into_contiguous);
    let sums = batch_norm_dparams(x.clone(), stats.clone(), gy.clone(), eps);
    let (channels, plane) = layout(&x);
    let dx = empty_like(&x, x.shape());
    let (count, dim) = per_element(&dx);
    input_grad_kernel::launch(
        &dx.client.clone(),
        count,
        dim,
        x.into_tensor_arg(),
        gy.into_tensor_arg(),
        stats.into_tensor_arg(),
        gamma.into_tensor_arg(),
        sums.into_tensor_arg(),
        dx.clone().into_tensor_arg(),
        channels,
        plane,
        eps as f32,
        kind,
    );
    dx
}
