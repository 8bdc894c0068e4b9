//! Batch normalisation with an explicit mode, so the caller decides which statistics are used.
//!
//! burn's `BatchNorm` picks batch statistics only on an autodiff device with its training flag
//! on, always has gamma/beta and updates its running statistics whenever it uses batch
//! statistics. DARTS needs more control: search cells use PyTorch's `affine=False` (no
//! parameters at all), and PT scores candidate operations with batch statistics *without*
//! touching the running statistics, on a device that records no graph. [`BnMode`] says which.

use burn::module::{Module, Param, RunningState};
use burn::tensor::Tensor;
use burn::tensor::module::batch_norm;

use crate::device::Device;
use crate::kernels;

/// Which statistics a BatchNorm uses, and whether it updates its running statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BnMode {
    /// Batch statistics; running statistics updated (PyTorch `train()`).
    Train,
    /// Batch statistics; running statistics left as they are (PT's scoring passes).
    Batch,
    /// Running statistics (PyTorch `eval()`).
    Eval,
}

impl BnMode {
    pub fn uses_batch_stats(self) -> bool {
        !matches!(self, BnMode::Eval)
    }
}

/// PyTorch's BatchNorm defaults.
pub const BN_EPS: f64 = 1e-5;
pub const BN_MOMENTUM: f64 = 0.1;

/// BatchNorm over the channel dimension of NCHW tensors.
#[derive(Module, Debug)]
pub struct Bn {
    /// Scale; absent for `affine = false`.
    pub gamma: Option<Param<Tensor<1>>>,
    /// Shift; absent for `affine = false`.
    pub beta: Option<Param<Tensor<1>>>,
    pub running_mean: RunningState<Tensor<1>>,
    pub running_var: RunningState<Tensor<1>>,
    pub channels: usize,
}

impl Bn {
    /// A BatchNorm over `channels`; `affine = false` has no learnable parameters.
    pub fn new(channels: usize, affine: bool, device: &Device) -> Self {
        let (gamma, beta) = if affine {
            (
                Some(Param::from_tensor(Tensor::ones([channels], device))),
                Some(Param::from_tensor(Tensor::zeros([channels], device))),
            )
        } else {
            (None, None)
        };
        Bn {
            gamma,
            beta,
            running_mean: RunningState::new(Tensor::zeros([channels], device)),
            running_var: RunningState::new(Tensor::ones([channels], device)),
            channels,
        }
    }

    pub fn is_affine(&self) -> bool {
        self.gamma.is_some()
    }

    /// gamma and beta, both multiplied by `scale` when given.
    fn scale_shift(&self, x: &Tensor<4>, scale: Option<&Tensor<4>>) -> (Tensor<1>, Tensor<1>) {
        let device = x.device();
        let scale = scale.map(|w| w.clone().reshape([1]));
        let gamma = match (&self.gamma, &scale) {
            (Some(g), Some(w)) => g.val().mul(w.clone()),
            (Some(g), None) => g.val(),
            (None, Some(w)) => w.clone().expand([self.channels]),
            (None, None) => Tensor::ones([self.channels], &device),
        };
        let beta = match (&self.beta, &scale) {
            (Some(b), Some(w)) => b.val().mul(w.clone()),
            (Some(b), None) => b.val(),
            (None, _) => Tensor::zeros([self.channels], &device),
        };
        (gamma, beta)
    }

    pub fn forward(&self, x: Tensor<4>, mode: BnMode) -> Tensor<4> {
        self.forward_scaled(x, mode, None)
    }

    /// `scale * BN(x)` for a one-element `scale` (`[1, 1, 1, 1]`), folded into gamma and
    /// beta: a mixed op's weight then costs no pass of its own, forward or backward.
    pub fn forward_scaled(
        &self,
        x: Tensor<4>,
        mode: BnMode,
        scale: Option<&Tensor<4>>,
    ) -> Tensor<4> {
        let (gamma, beta) = self.scale_shift(&x, scale);
        match mode {
            BnMode::Eval => {
                let device = x.device();
                let mean = self.running_mean.value().to_device(&device);
                let var = self.running_var.value().to_device(&device);
                batch_norm(x, gamma, beta, mean, var, BN_EPS)
            }
            BnMode::Batch => {
                let stats = kernels::batch_stats(x.clone());
                kernels::batch_norm(x, gamma, beta, stats, BN_EPS)
            }
            BnMode::Train => {
                let [n, c, h, w] = x.dims();
                let count = (n * h * w) as f64;
                let stats = kernels::batch_stats(x.clone());
                let mean = stats.clone().slice([0..1, 0..c]).reshape([c]);
                let variance = stats.clone().slice([1..2, 0..c]).reshape([c]);
                let out = kernels::batch_norm(x, gamma, beta, stats, BN_EPS);
                // PyTorch keeps the unbiased variance in its running estimate.
                let unbiased = if count > 1.0 {
                    count / (count - 1.0)
                } else {
                    1.0
                };
                let m = BN_MOMENTUM;
                let (rm, rv) = (self.running_mean.value(), self.running_var.value());
                let new_mean =
                    kernels::linear_combination(rm, mean.clone(), mean, [1.0 - m, m, 0.0]);
                let new_var = kernels::linear_combination(
                    rv,
                    variance.clone(),
                    variance,
                    [1.0 - m, m * unbiased, 0.0],
                );
                set_running(&self.running_mean, new_mean);
                set_running(&self.running_var, new_var);
                out
            }
        }
    }
}

/// Stores a new running statistic so that readers (checkpoints, eval passes) see it at once.
///
/// `RunningState::update` parks the value per thread until a later sync; syncing right away
/// keeps one current value, which is what a single training thread wants.
fn set_running(state: &RunningState<Tensor<1>>, value: Tensor<1>) {
    state.update(value);
    let _ = state.value_sync();
}
