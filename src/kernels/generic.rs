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

/// BatchNorm in training mode with the batch statistics `stats` ([`batch_stats`]), as one
/// element-wise chain `x * scale + shift` (which burn's fusion could merge into one kernel).
pub fn batch_norm<B: Backend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: FloatTensor<B>,
    stats: FloatTensor<B>,
    eps: f64,
) -> FloatTensor<B> {
    let c = x.shape()[1];
    let (mean, var) = split_stats::<B>(stats, c);
    let per_channel = |t: FloatTensor<B>| B::float_reshape(t, Shape::new([1, c, 1, 1]));
    let inv_std = B::float_powf_scalar(B::float_add_scalar(var, eps.into()), (-0.5).into());
    let scale = B::float_mul(gamma, inv_std);
    let shift = B::float_sub(beta, B::float_mul(mean, scale.clone()));
    B::float_add(B::float_mul(x, per_channel(scale)), per_channel(shift))
}

/// Per-channel batch mean and biased variance, as `[2, C]`.
pub fn batch_stats<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    let c = x.shape()[1];
    let mean_nhw = |t: FloatTensor<B>| {
        let t = B::float_mean_dim(B::float_mean_dim(t, 0), 2);
        B::float_mean_dim(t, 3)
    };
    let mean = mean_nhw(x.clone());
    let centred = B::float_sub(x, mean.clone());
    let var = mean_nhw(B::float_mul(centred.clone(), centred));
    let row = |t: FloatTensor<B>| B::float_reshape(t, Shape::new([1, c]));
    B::float_cat(vec![row(mean), row(var)], 0)
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

#[cfg(test)]
mod tests {
    use burn::backend::Flex;
    use burn::backend::flex::FlexTensor;
    use burn::tensor::{Shape, TensorData};

    use super::*;
    use crate::kernels::DartsKernels;

    fn flex(values: Vec<f32>, shape: impl Into<Shape>) -> FlexTensor {
        FlexTensor::from_data(TensorData::new(values, shape.into()))
    }

    fn values(t: FlexTensor) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().expect("f32 values")
    }

    fn assert_close(what: &str, a: &[f32], b: &[f32]) {
        let worst = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(
            a.len() == b.len() && worst < 1e-5,
            "{what}: differ by {worst:e}"
        );
    }

    /// The composition other backends run computes what the CPU kernels do.
    #[test]
    fn batch_statistics_and_normalisation_match_the_cpu_kernels() {
        let shape = [3, 2, 4, 5];
        let x: Vec<f32> = (0..120)
            .map(|i| ((i * 37 % 101) as f32 / 25.0) - 2.0 + (i % 2) as f32)
            .collect();
        let (gamma, beta) = (vec![1.5f32, -0.5], vec![0.1f32, -0.3]);
        let stats = batch_stats::<Flex>(flex(x.clone(), shape));
        let expected = <Flex as DartsKernels>::dk_batch_stats(flex(x.clone(), shape));
        assert_close("statistics", &values(stats.clone()), &values(expected));
        let y = batch_norm::<Flex>(
            flex(x.clone(), shape),
            flex(gamma.clone(), [2]),
            flex(beta.clone(), [2]),
            stats.clone(),
            1e-5,
        );
        let expected = <Flex as DartsKernels>::dk_batch_norm(
            flex(x, shape),
            flex(gamma, [2]),
            flex(beta, [2]),
            stats,
            1e-5,
        );
        assert_close("output", &values(y), &values(expected));
    }
}
