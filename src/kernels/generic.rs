//! BatchNorm with batch statistics and linear combinations as burn's own operations: the
//! extension's default, used on backends without their own kernels and for dtypes the kernels
//! do not take.

use burn::backend::Backend;
use burn::backend::TensorMetadata;
use burn::backend::tensor::FloatTensor;
use burn::tensor::Shape;

/// `[2, C]` statistics as (mean, variance), each `[C]`.
fn split_stats<B: Backend>(stats: FloatTensor<B>, c: usize) -> (FloatTensor<B>, FloatTensor<B>) {
    let row = |r: usize| {
        B::float_reshape(
            B::float_slice(stats.clone(), &[(r..r + 1).into(), (0..c).into()]),
            Shape::new([c]),
        )
    };
    (row(0), row(1))
}

/// BatchNorm in training mode; it recomputes the statistics `stats` holds.
pub fn batch_norm<B: Backend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: FloatTensor<B>,
    stats: FloatTensor<B>,
    eps: f64,
) -> FloatTensor<B> {
    let _ = stats;
    B::batch_norm_train(x, gamma, beta, eps).output
}

/// Per-channel batch mean and biased variance, as `[2, C]`.
pub fn batch_stats<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    let c = x.shape()[1];
    let device = x.device();
    let dtype = x.dtype();
    let ones = B::float_ones(Shape::new([c]), &device, dtype.into());
    let zeros = B::float_zeros(Shape::new([c]), &device, dtype.into());
    let r = B::batch_norm_train(x, ones, zeros, 1e-5);
    let mean = B::float_reshape(r.mean, Shape::new([1, c]));
    let var = B::float_reshape(r.variance, Shape::new([1, c]));
    B::float_cat(vec![mean, var], 0)
}

/// The input gradient of [`batch_norm`].
pub fn batch_norm_dx<B: Backend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    stats: FloatTensor<B>,
    gy: FloatTensor<B>,
    eps: f64,
) -> FloatTensor<B> {
    let (mean, var) = split_stats::<B>(stats, x.shape()[1]);
    B::batch_norm_train_backward(x, gamma, mean, var, eps, gy).x_grad
}

/// `[2, C]`: the gradients of gamma (row 0) and beta (row 1) of [`batch_norm`].
pub fn batch_norm_dparams<B: Backend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    stats: FloatTensor<B>,
    gy: FloatTensor<B>,
    eps: f64,
) -> FloatTensor<B> {
    let c = x.shape()[1];
    let (mean, var) = split_stats::<B>(stats, c);
    let b = B::batch_norm_train_backward(x, gamma, mean, var, eps, gy);
    let dg = B::float_reshape(b.gamma_grad, Shape::new([1, c]));
    let db = B::float_reshape(b.beta_grad, Shape::new([1, c]));
    B::float_cat(vec![dg, db], 0)
}

/// `k[0] * x + k[1] * y + k[2] * z`, skipping the multiplications by one and the terms with a
/// zero coefficient (the CPU backend then does no more work than the plain expression).
pub fn linear_combination<B: Backend>(
    x: FloatTensor<B>,
    y: FloatTensor<B>,
    z: FloatTensor<B>,
    k: [f64; 3],
) -> FloatTensor<B> {
    let term = |t: FloatTensor<B>, k: f64| {
        if k == 1.0 {
            t
        } else {
            B::float_mul_scalar(t, k.into())
        }
    };
    let mut sum = term(x, k[0]);
    for (t, k) in [(y, k[1]), (z, k[2])] {
        if k != 0.0 {
            sum = B::float_add(sum, term(t, k));
        }
    }
    sum
}
