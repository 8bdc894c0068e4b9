//! The mixed operation: an edge of a supernet computes sum_o w_o * o(x) over its candidates.
//!
//! The weights come from outside (softmax(alpha), PT's projected weights, a perturbed copy), so
//! the network itself holds no architecture state. An operation whose weight is exactly zero is
//! not executed at all (DARTS-PT's `if w != 0`): no compute and no BatchNorm side effects. Which
//! entries are zero is known on the host (PT's masks, decided and removed rows), so skipping
//! never needs to read the weights back from the device.

use burn::module::Module;
use burn::tensor::Tensor;

use super::bn::BnMode;
use super::ops::Op;

/// The mixing weights of one cell type, ready for a forward pass.
///
/// `scalars[e][o]` is `Some(w)` with `w` of shape `[1, 1, 1, 1]` (a slice of the weight matrix,
/// so gradients flow back to alpha) when operation `o` of edge `e` runs, and `None` when its
/// weight is exactly zero. A `none` operation is always skipped: it adds zeros whatever its
/// weight, so leaving it out changes neither the output nor any gradient.
#[derive(Clone, Debug)]
pub struct CellWeights {
    pub scalars: Vec<Vec<Option<Tensor<4>>>>,
}

impl CellWeights {
    /// Slices `weights` (`[edges, ops]`) into per-operation scalars; `active[e][o] == false`
    /// marks an entry known to be zero.
    pub fn new(weights: Tensor<2>, active: &[Vec<bool>]) -> Self {
        let [edges, ops] = weights.dims();
        assert_eq!(edges, active.len(), "one active row per edge");
        let scalars = (0..edges)
            .map(|e| {
                let row = weights.clone().slice([e..e + 1, 0..ops]);
                (0..ops)
                    .map(|o| {
                        active[e][o]
                            .then(|| row.clone().slice([0..1, o..o + 1]).reshape([1, 1, 1, 1]))
                    })
                    .collect()
            })
            .collect();
        CellWeights { scalars }
    }

    pub fn num_edges(&self) -> usize {
        self.scalars.len()
    }
}

/// One supernet edge: every candidate operation of that edge.
#[derive(Module, Debug)]
pub struct MixedOp {
    pub ops: Vec<Op>,
}

impl MixedOp {
    /// `sum_o w_o * op_o(x)` over the operations that run; `None` when none of them does (the
    /// caller treats a missing contribution as zeros).
    pub fn forward(
        &self,
        x: Tensor<4>,
        weights: &[Option<Tensor<4>>],
        bn: BnMode,
    ) -> Option<Tensor<4>> {
        let mut sum: Option<Tensor<4>> = None;
        let mut relu_x = None;
        for (op, w) in self.ops.iter().zip(weights) {
            let Some(w) = w else { continue };
            if op.is_zero() {
                continue;
            }
            let y = op.forward_weighted(&x, &mut relu_x, bn, w);
            sum = Some(match sum {
                Some(s) => s.add(y),
                None => y,
            });
        }
        sum
    }
}

/// Adds an optional contribution to an optional running sum.
pub fn add_opt(sum: Option<Tensor<4>>, y: Option<Tensor<4>>) -> Option<Tensor<4>> {
    match (sum, y) {
        (Some(s), Some(y)) => Some(s.add(y)),
        (s, None) => s,
        (None, y) => y,
    }
}
