//! Plain f32 CPU kernels for the operations a supernet spends its time in: 2-D convolution
//! (dense, grouped and depthwise, with stride, padding and dilation), 3x3-style pooling and
//! BatchNorm, each with its backward passes.
//!
//! burn's flex backend computes convolution weight gradients as a convolution whose kernel is
//! the whole output map, and depthwise ones group by group; at DARTS's small channel counts
//! that is 10-40x slower than the forward pass. These kernels use im2col + GEMM for dense
//! convolutions and direct loops for depthwise ones, parallel over the batch with rayon.
//! Tensors are NCHW, contiguous; weights are `[c_out, c_in / groups, kh, kw]`.

mod bn;
mod conv;
mod depthwise;
mod gemm;
mod geom;
mod pool;
mod scratch;
mod taps;
mod wide;

pub use bn::{Stats, bn_backward, bn_forward, bn_grad_sums, bn_stats};
pub use conv::{conv_backward_input, conv_backward_weight, conv_forward};
pub use geom::ConvGeom;
pub use pool::{PoolGeom, pool_backward, pool_forward};

/// Helpers shared by the kernels' tests.
#[cfg(test)]
mod test_util {
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    pub(super) fn random(len: usize, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..len).map(|_| rng.random_range(-1.0f32..1.0)).collect()
    }

    pub(super) fn dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (*x as f64) * (*y as f64))
            .sum()
    }
}
