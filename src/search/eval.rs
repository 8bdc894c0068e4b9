//! Evaluating a supernet on held-out images: a pass advanced one batch at a time, so a job can
//! hand control back between batches. The epoch's validation, PT's scoring passes, the
//! supernet accuracies of a selection and the studio's perturbation panel all use it.

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::data::SearchData;
use super::steps::{DeviceBatch, correct, cross_entropy};
use crate::data::{Augment, BatchRequest, epoch_permutation};
use crate::job::Ctx;
use crate::job::batches::Batches;
use crate::job::streams::Stream;
use crate::job::sums::Window;
use crate::nn::bn::BnMode;
use crate::nn::supernet::{ArchWeights, SearchNet, Supernet, WeightPlan, arch_weights};

/// How a pass treats its images.
#[derive(Clone, Copy, Debug)]
pub struct PassSetup<'a> {
    pub batch_size: usize,
    /// Training augmentation with a fresh order, from this seed (PT's passes, as the official
    /// code scores), or `None`: the images in index order, unaugmented.
    pub augment: Option<(&'a Augment, u64)>,
    /// `Eval` for logged accuracies (running statistics), `Batch` for PT's scoring (batch
    /// statistics that leave the running statistics untouched).
    pub bn: BnMode,
    pub prefetch: bool,
}

/// One pass of a supernet over some images under given plans, recording no autodiff graph.
pub struct EvalPass {
    net: SearchNet,
    weights: ArchWeights,
    batches: Batches,
    window: Window,
    bn: BnMode,
    device: Device,
    batch: usize,
}

impl EvalPass {
    pub fn new(
        model: &Supernet,
        probs: &[Tensor<2>],
        plans: &[WeightPlan],
        data: &SearchData,
        indices: &[u32],
        setup: PassSetup<'_>,
        device: &Device,
    ) -> EvalPass {
        let probs: Vec<Tensor<2>> = probs.iter().map(|p| p.clone().detach().inner()).collect();
        let aug = setup
            .augment
            .map(|(a, _)| a.clone())
            .unwrap_or_else(Augment::none);
        let seed = setup.augment.map(|(_, s)| s).unwrap_or(0);
        let order: Vec<u32> = if setup.augment.is_some() {
            epoch_permutation(indices.len(), seed)
                .into_iter()
                .map(|p| indices[p as usize])
                .collect()
        } else {
            indices.to_vec()
        };
        let requests: Vec<BatchRequest> = order
            .chunks(setup.batch_size.max(1))
            .enumerate()
            .map(|(i, chunk)| BatchRequest {
                indices: chunk.to_vec(),
                augment: aug.clone(),
                seed: Stream::Eval.seed(seed, 0, i as u64),
            })
            .collect();
        EvalPass {
            net: model.net.valid(),
            weights: arch_weights(probs, plans),
            batches: Batches::new(&data.train, &data.normalize, requests, setup.prefetch),
            window: Window::default(),
            bn: setup.bn,
            device: device.clone(),
            batch: 0,
        }
    }

    /// Evaluates the next batch; false once every batch is done.
    pub fn step(&mut self) -> bool {
        let Some(batch) = self.batches.next() else {
            return false;
        };
        let b = DeviceBatch::new(&batch, &self.device);
        let logits = self.net.forward(b.x, &self.weights, self.bn);
        let loss = cross_entropy(logits.clone(), b.y.clone()).mul_scalar(b.len as f64);
        let c = correct(logits, b.y).float();
        self.window
            .push(self.batch, b.len, Tensor::cat(vec![loss, c], 0));
        self.batch += 1;
        true
    }

    /// Mean loss and accuracy over the pass (NaN for an empty one).
    pub async fn finish(mut self) -> (f64, f64) {
        let rows = self.window.read().await;
        let n = rows.images();
        if n == 0 {
            return (f64::NAN, f64::NAN);
        }
        (
            rows.sum_f32(0) as f64 / n as f64,
            rows.sum_f32(1) as f64 / n as f64,
        )
    }

    /// The whole pass, handing control back to the driver after each batch.
    pub async fn run(mut self, ctx: &Ctx) -> (f64, f64) {
        while self.step() {
            ctx.boundary().await;
        }
        self.finish().await
    }

    /// The whole pass, or `None` when a cancel is asked for before it ends.
    pub async fn run_or_cancel(mut self, ctx: &Ctx) -> Option<(f64, f64)> {
        while self.step() {
            if ctx.boundary().await {
                return None;
            }
        }
        Some(self.finish().await)
    }

    /// The whole pass for callers outside a job: at once natively; in a page in slices,
    /// letting it draw between them.
    pub async fn run_paced(mut self) -> (f64, f64) {
        let mut pace = crate::job::pace::Pace::default();
        while self.step() {
            pace.breathe().await;
        }
        self.finish().await
    }
}
