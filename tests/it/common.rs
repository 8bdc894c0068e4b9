//! Helpers shared by the integration tests.

use burn::tensor::{Device, Distribution, Tensor};

/// The flex CPU device the numerical tests run on.
pub fn cpu() -> Device {
    Device::flex()
}

/// A seeded random input batch.
pub fn random_input(shape: [usize; 4], seed: u64, device: &Device) -> Tensor<4> {
    device.seed(seed);
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
}

pub fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec::<f32>().expect("f32 tensor")
}

/// Largest absolute difference between two equally long vectors.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}
