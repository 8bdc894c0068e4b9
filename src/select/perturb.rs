//! Perturbation by hand: a run's supernet loaded from its checkpoint, scored with any set of
//! operations masked (their mixing weight set to zero, the others not renormalised) exactly as
//! PT's scoring pass does: batch-statistics BatchNorm that leaves the running statistics alone,
//! no autodiff graph. The studio's perturbation panel drives it from a worker thread; this type
//! itself is synchronous.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result};
use burn::tensor::Tensor;

use crate::checkpoint::Checkpoint;
use crate::device::SelectedDevice;
use crate::job::JobOptions;
use crate::nn::bn::BnMode;
use crate::nn::supernet::{CellProjection, Supernet, WeightPlan, weight_plans};
use crate::run::{RunDir, RunReader};
use crate::search::steps::detached_probs;
use crate::search::{
    EvalPass, PassSetup, SearchData, checkpoint_projections, load_search_data, restore_supernet,
};
use crate::space::{CellType, SearchSpace};

/// A set of masked operations: (cell type, edge, op), kept sorted so equal sets compare equal.
pub type MaskSet = BTreeSet<(CellType, usize, usize)>;

/// One measurement.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Score {
    pub acc: f64,
    pub loss: f64,
    pub seconds: f64,
}

/// The plans of every cell type with several operations masked at once.
pub fn masked_plans(
    projections: &[CellProjection],
    ops: usize,
    cells: &[CellType],
    masks: &MaskSet,
) -> Vec<WeightPlan> {
    let mut plans = weight_plans(projections, ops, None);
    for &(cell, edge, op) in masks {
        let Some(ci) = cells.iter().position(|c| *c == cell) else {
            continue;
        };
        let Some(plan) = plans.get_mut(ci) else {
            continue;
        };
        if edge < plan.keep.len() && op < ops {
            plan.keep[edge][op] = 0.0;
            plan.fixed[edge][op] = 0.0;
            plan.active[edge][op] = false;
            plan.identity = false;
        }
    }
    plans
}

/// A run's supernet, its data and its selection state at the checkpoint, ready to score mask
/// sets on one device.
pub struct Perturber {
    model: Supernet,
    probs: Vec<Tensor<2>>,
    data: SearchData,
    projections: Vec<CellProjection>,
    space: SearchSpace,
    batch: usize,
    device: SelectedDevice,
}

impl Perturber {
    /// Loads the supernet of the run in `run_dir` from its checkpoint onto `device`.
    pub fn load(run_dir: &Path, device: &SelectedDevice) -> Result<Perturber> {
        let run = RunDir::open(run_dir)?;
        let cfg = RunReader::local(run_dir).search_config()?;
        let ckpt = Checkpoint::load(&run.checkpoint())
            .with_context(|| "the supernet's checkpoint cannot be read")?;
        let data = load_search_data(&cfg.data)?;
        let (model, _, _) = restore_supernet(&cfg, data.input, &ckpt, &device.device)?;
        let projections = checkpoint_projections(&ckpt)?;
        let batch = if cfg.pt.eval_batch_size > 0 {
            cfg.pt.eval_batch_size
        } else {
            cfg.batch_size
        };
        let probs = detached_probs(&model);
        Ok(Perturber {
            model,
            probs,
            data,
            projections,
            space: cfg.space.space(),
            batch,
            device: device.clone(),
        })
    }

    /// The number of held-out images (the half of the training set alpha is trained on).
    pub fn held_out(&self) -> usize {
        self.data.alpha_half.len()
    }

    /// The batch size of a scoring pass (PT's evaluation batch size, else the search's).
    pub fn batch_size(&self) -> usize {
        self.batch
    }

    /// The supernet's held-out loss and accuracy with `masks` masked, on the first `images`
    /// held-out images (at least one, at most all of them).
    pub async fn score(&self, masks: &MaskSet, images: usize) -> Score {
        let clock = web_time::Instant::now();
        let plans = masked_plans(
            &self.projections,
            self.space.num_ops(),
            self.space.cell_types(),
            masks,
        );
        let n = images.clamp(1, self.data.alpha_half.len());
        let setup = PassSetup {
            batch_size: self.batch,
            augment: None,
            bn: BnMode::Batch,
            prefetch: JobOptions::default().prefetch,
        };
        let (data, device) = (&self.data, &self.device.device);
        let pass = EvalPass::new(
            &self.model,
            &self.probs,
            &plans,
            data,
            &data.alpha_half[..n],
            setup,
            device,
        );
        let (loss, acc) = pass.run_paced().await;
        Score {
            acc,
            loss,
            seconds: clock.elapsed().as_secs_f64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_plans_zero_exactly_the_masked_operations() {
        let projections = vec![CellProjection::new(6)];
        let cells = [CellType::Normal];
        let none = masked_plans(&projections, 5, &cells, &MaskSet::new());
        assert!(none[0].identity);
        let masks: MaskSet = [
            (CellType::Normal, 3, 2),
            (CellType::Normal, 0, 4),
            // Not a cell type of this space, and out of range: ignored.
            (CellType::Reduce, 1, 1),
            (CellType::Normal, 9, 0),
        ]
        .into_iter()
        .collect();
        let plans = masked_plans(&projections, 5, &cells, &masks);
        assert_eq!(plans.len(), 1);
        let p = &plans[0];
        assert!(!p.identity);
        for e in 0..6 {
            for o in 0..5 {
                let masked = (e, o) == (3, 2) || (e, o) == (0, 4);
                assert_eq!(p.keep[e][o], if masked { 0.0 } else { 1.0 }, "({e},{o})");
                assert_eq!(p.fixed[e][o], 0.0);
                assert_eq!(p.active[e][o], !masked);
            }
        }
    }
}
