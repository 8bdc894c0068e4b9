//! The wgpu backend (lavapipe on machines without a GPU) computes what flex computes.

use darts_pt::device::{DeviceChoice, select};
use darts_pt::nn::InputShape;
use darts_pt::nn::bn::BnMode;
use darts_pt::nn::params::{load_named, named_tensors};
use darts_pt::nn::supernet::{
    CellProjection, Supernet, SupernetConfig, arch_weights, weight_plans,
};
use darts_pt::space::SpaceId;

use crate::common::{cpu, max_abs_diff, to_vec};

/// Logits and alpha gradient of one forward+backward pass.
fn forward_backward(net: &Supernet, x: Vec<f32>, shape: [usize; 4]) -> (Vec<f32>, Vec<f32>) {
    let device = net.alphas.normal.val().device();
    let x = burn::tensor::Tensor::<4>::from_data(burn::tensor::TensorData::new(x, shape), &device);
    let plans = weight_plans(&[CellProjection::new(6)], 5, None);
    let w = arch_weights(net.probabilities(), &plans);
    let logits = net.forward(x, &w, BnMode::Train);
    let loss = logits.clone().powi_scalar(2).mean();
    let grads = loss.backward();
    let g = net
        .alphas
        .normal
        .val()
        .grad(&grads)
        .expect("alpha has a gradient");
    (to_vec(logits), to_vec(g))
}

#[test]
#[cfg_attr(
    not(has_vulkan),
    ignore = "needs a Vulkan driver (mesa-vulkan-drivers: lavapipe)"
)]
fn supernet_forward_and_backward_on_wgpu_match_flex() {
    let gpu = select(&DeviceChoice::Wgpu)
        .expect("no wgpu adapter: install a Vulkan driver (mesa-vulkan-drivers gives lavapipe)");
    let config = SupernetConfig {
        space: SpaceId::Nb201,
        channels: 4,
        layers: 1,
        input: InputShape {
            channels: 1,
            size: 8,
            classes: 3,
        },
    };
    let flex = Supernet::new(&config, &cpu().autodiff());
    let weights = named_tensors(&flex);
    let on_gpu = load_named(
        Supernet::new(&config, &gpu.device.clone().autodiff()),
        &weights,
    )
    .expect("same architecture");

    let shape = [4, 1, 8, 8];
    let x: Vec<f32> = (0..4 * 64)
        .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
        .collect();
    let (logits_cpu, grad_cpu) = forward_backward(&flex, x.clone(), shape);
    let (logits_gpu, grad_gpu) = forward_backward(&on_gpu, x, shape);
    assert!(
        max_abs_diff(&logits_cpu, &logits_gpu) < 1e-3,
        "{logits_cpu:?} vs {logits_gpu:?}"
    );
    let scale = grad_cpu
        .iter()
        .fold(0.0f32, |m, v| m.max(v.abs()))
        .max(1e-6);
    assert!(
        max_abs_diff(&grad_cpu, &grad_gpu) / scale < 1e-2,
        "{grad_cpu:?} vs {grad_gpu:?}"
    );
    assert!(
        grad_cpu.iter().any(|v| *v != 0.0),
        "alpha receives a gradient"
    );
}
