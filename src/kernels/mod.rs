//! Fast kernels for the operations supernets spend their time in, and the tensor-level
//! functions the networks call.
//!
//! On the flex CPU backend, convolutions, pooling and BatchNorm run the kernels of [`cpu`]
//! (with their own backward passes); on wgpu, BatchNorm and the linear combinations of
//! optimiser steps run the CubeCL kernels of `cube`; everything else is burn's own operations
//! (fused by burn where the `fusion` feature is on). On a remote device the kernels travel to
//! the server as custom operations (`remote`).

pub mod cpu;
mod cube;
mod ext;
mod generic;
#[cfg(feature = "remote")]
pub mod remote;

use burn::tensor::Tensor;

pub use ext::DartsKernels;

/// Makes glibc's allocator keep freed memory for reuse instead of returning it to the kernel.
///
/// A training step allocates and frees the same large activation buffers every time. With
/// glibc's defaults, blocks above its mmap threshold are mapped and unmapped per allocation and
/// the heap top is trimmed, so every step pays page faults and page zeroing again (about 10%
/// of a small supernet's weight step, measured with `darts-pt bench`). The process keeps its
/// peak footprint instead, which it reaches every step anyway. Call once, before any tensor work.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before other threads run.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

/// 2-D convolution without bias: square kernel, symmetric padding, dilation, groups.
pub fn conv2d(
    x: Tensor<4>,
    w: Tensor<4>,
    stride: usize,
    pad: usize,
    dil: usize,
    groups: usize,
) -> Tensor<4> {
    use burn::backend::Dispatch;
    Tensor::from_dispatch(<Dispatch as DartsKernels>::dk_conv2d(
        x.into_dispatch(),
        w.into_dispatch(),
        stride,
        pad,
        dil,
        groups,
    ))
}

/// Max pooling, or average pooling that excludes padding from the count
/// (`count_include_pad = false`).
pub fn pool2d(x: Tensor<4>, k: usize, stride: usize, pad: usize, max: bool) -> Tensor<4> {
    use burn::backend::Dispatch;
    Tensor::from_dispatch(<Dispatch as DartsKernels>::dk_pool2d(
        x.into_dispatch(),
        k,
        stride,
        pad,
        max,
    ))
}

/// Per-channel batch mean and biased variance as a `[2, C]` tensor (no gradient).
pub fn batch_stats(x: Tensor<4>) -> Tensor<2> {
    use burn::backend::Dispatch;
    Tensor::from_dispatch(<Dispatch as DartsKernels>::dk_batch_stats(
        x.detach().into_dispatch(),
    ))
}

/// BatchNorm with batch statistics `stats` (from [`batch_stats`] of the same `x`);
/// `gamma`/`beta` are ones/zeros for affine-free layers.
pub fn batch_norm(
    x: Tensor<4>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    stats: Tensor<2>,
    eps: f64,
) -> Tensor<4> {
    use burn::backend::Dispatch;
    Tensor::from_dispatch(<Dispatch as DartsKernels>::dk_batch_norm(
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        stats.into_dispatch(),
        eps,
    ))
}

/// `k[0] * x + k[1] * y + k[2] * z` for tensors of one shape, without a gradient: one kernel on
/// wgpu where burn's operations take up to five (optimiser steps, running statistics).
pub fn linear_combination(x: Tensor<1>, y: Tensor<1>, z: Tensor<1>, k: [f64; 3]) -> Tensor<1> {
    use burn::backend::Dispatch;
    Tensor::from_dispatch(<Dispatch as DartsKernels>::dk_linear_combination(
        x.detach().into_dispatch(),
        y.detach().into_dispatch(),
        z.detach().into_dispatch(),
        k,
    ))
}
