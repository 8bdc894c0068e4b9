//! SGAS+PT (the paper's combination, spec 2.4): SGAS's schedule and edge scores decide when and
//! which edge; PT's measurement chooses the operation on it. At each decision the supernet is
//! scored on the whole held-out half once per non-`none` operation of the edge, that operation
//! masked (its mixing weight zeroed, the others left as they are), with batch statistics, and
//! the operation whose removal hurts most is kept. The search then goes on as SGAS does:
//! the edge is fixed, its node pruned when full, the batch grown. No tuning epochs are added,
//! so the cost over SGAS is these passes (the paper: 0.29 against 0.25 GPU-days).
//!
//! `none` is not scored: SGAS never keeps it, and masking it cannot change the output.

use burn::tensor::Device;

use super::eval::{EvalPass, PassSetup};
use super::job::Search;
use super::steps::detached_probs;
use crate::config::Criterion;
use crate::config::pt::choose_op;
use crate::job::streams::{SGAS_PT_PASS, Stream};
use crate::nn::bn::BnMode;
use crate::nn::supernet::{Mask, weight_plans};
use crate::run::SgasPtScores;
use crate::space::{CellType, OpKind};

impl SgasPtScores {
    /// The operation PT keeps: the candidate whose removal hurts most.
    pub fn chosen(&self, criterion: Criterion) -> usize {
        self.candidates[choose_op(criterion, &self.acc_without, &self.loss_without)]
    }
}

impl Search {
    /// PT's scores of `edge` of cell type `ci` at the end of epoch `epoch`: one held-out pass
    /// per non-`none` operation, that operation masked, under the decisions made so far.
    /// `magnitude_op` is SGAS's own choice, kept beside PT's for the report.
    pub(super) async fn pt_scores(
        &self,
        ci: usize,
        cell: CellType,
        edge: usize,
        ops: &[OpKind],
        epoch: usize,
        magnitude_op: usize,
    ) -> SgasPtScores {
        let candidates: Vec<usize> = (0..ops.len()).filter(|o| ops[*o] != OpKind::None).collect();
        let (mut acc_without, mut loss_without) = (Vec::new(), Vec::new());
        for &op in &candidates {
            let (loss, acc) = self.masked_pass(ci, cell, edge, op, epoch).await;
            acc_without.push(acc);
            loss_without.push(loss);
        }
        SgasPtScores {
            candidates,
            acc_without,
            loss_without,
            magnitude_op,
        }
    }

    /// (loss, accuracy) of the supernet on the held-out half with `op` of `edge` masked.
    async fn masked_pass(
        &self,
        ci: usize,
        cell: CellType,
        edge: usize,
        op: usize,
        epoch: usize,
    ) -> (f64, f64) {
        let pt = &self.cfg.pt;
        let plans = weight_plans(
            &self.state.projections,
            self.space.num_ops(),
            Some((cell, Mask::Op { edge, op })),
        );
        let probs = detached_probs(&self.model);
        // Each pass its own order and augmentation, as PT's passes (spec 9.10).
        let draw = (ci * self.space.num_ops() + op) as u64;
        let seed = Stream::Eval.seed(self.cfg.seed, SGAS_PT_PASS + epoch as u64, draw);
        let setup = PassSetup {
            batch_size: match pt.eval_batch_size {
                0 => self.state.batch_size,
                b => b,
            },
            augment: pt.augment_eval.then_some((&self.data.augment, seed)),
            bn: BnMode::Batch,
            prefetch: self.ctx.options().prefetch,
        };
        let dev: &Device = &self.dev;
        let half = &self.data.alpha_half;
        let pass = EvalPass::new(&self.model, &probs, &plans, &self.data, half, setup, dev);
        pass.run(&self.ctx).await
    }
}
