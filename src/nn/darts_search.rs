//! The DARTS search supernet (spec 1.2-1.3): a stem, L cells whose 14 edges are mixed
//! operations, reduction cells at L/3 and 2L/3, global pooling and a linear classifier.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use super::bn::{Bn, BnMode};
use super::mixed::{CellWeights, MixedOp, add_opt};
use super::ops::{Conv, FactorizedReduce, Op, ReluConvBn};
use super::{InputShape, global_avg_pool};
use crate::space::{CellType, DARTS_NODES, SearchSpace, darts_edges};

/// Channels multiplier of the stem.
pub const STEM_MULTIPLIER: usize = 3;

/// The indices of the reduction cells among `layers` cells.
pub fn reduction_layers(layers: usize) -> [usize; 2] {
    [layers / 3, 2 * layers / 3]
}

/// How a cell adapts its first input: halve it when the previous cell reduced, else 1x1 conv.
#[derive(Module, Debug)]
pub enum Preprocess {
    Reduce(FactorizedReduce),
    Conv(ReluConvBn),
}

impl Preprocess {
    pub fn new(
        c_in: usize,
        c_out: usize,
        reduction_prev: bool,
        affine: bool,
        device: &Device,
    ) -> Self {
        if reduction_prev {
            Preprocess::Reduce(FactorizedReduce::new(c_in, c_out, affine, device))
        } else {
            Preprocess::Conv(ReluConvBn::new(c_in, c_out, 1, 1, 0, affine, device))
        }
    }

    pub fn forward(&self, x: Tensor<4>, bn: BnMode) -> Tensor<4> {
        match self {
            Preprocess::Reduce(p) => p.forward(x, bn),
            Preprocess::Conv(p) => p.forward(x, bn),
        }
    }
}

/// A search cell: two preprocessed inputs, four nodes summing mixed operations over all earlier
/// states, output the concatenation of the four nodes.
#[derive(Module, Debug)]
pub struct SearchCell {
    pub pre0: Preprocess,
    pub pre1: ReluConvBn,
    pub edges: Vec<MixedOp>,
    pub reduction: bool,
    pub channels: usize,
}

impl SearchCell {
    pub fn new(
        space: &SearchSpace,
        c_pp: usize,
        c_p: usize,
        c: usize,
        reduction: bool,
        reduction_prev: bool,
        device: &Device,
    ) -> Self {
        let cell_type = if reduction {
            CellType::Reduce
        } else {
            CellType::Normal
        };
        let edges = darts_edges()
            .iter()
            .map(|edge| {
                let stride = if reduction && edge.from < 2 { 2 } else { 1 };
                MixedOp {
                    ops: space
                        .ops(cell_type, edge.index)
                        .iter()
                        .map(|&kind| Op::new(kind, space.family, c, stride, true, device))
                        .collect(),
                }
            })
            .collect();
        SearchCell {
            pre0: Preprocess::new(c_pp, c, reduction_prev, false, device),
            pre1: ReluConvBn::new(c_p, c, 1, 1, 0, false, device),
            edges,
            reduction,
            channels: c,
        }
    }

    pub fn forward(&self, s0: Tensor<4>, s1: Tensor<4>, w: &CellWeights, bn: BnMode) -> Tensor<4> {
        let mut states = vec![self.pre0.forward(s0, bn), self.pre1.forward(s1, bn)];
        let mut edge = 0;
        for _node in 0..DARTS_NODES {
            let mut sum = None;
            for state in &states {
                let y = self.edges[edge].forward(state.clone(), &w.scalars[edge], bn);
                sum = add_opt(sum, y);
                edge += 1;
            }
            let node = sum.unwrap_or_else(|| self.zeros_like_node(&states[1]));
            states.push(node);
        }
        Tensor::cat(states.split_off(2), 1)
    }

    /// A node with no active input contributes zeros of the node's shape.
    fn zeros_like_node(&self, s1: &Tensor<4>) -> Tensor<4> {
        let [n, c, h, w] = s1.dims();
        let stride = if self.reduction { 2 } else { 1 };
        Tensor::zeros([n, c, h.div_ceil(stride), w.div_ceil(stride)], &s1.device())
    }
}

/// The DARTS search supernet.
#[derive(Module, Debug)]
pub struct DartsSupernet {
    pub stem: Conv,
    pub stem_bn: Bn,
    pub cells: Vec<SearchCell>,
    pub classifier: Linear,
}

impl DartsSupernet {
    /// `c` initial channels, `layers` cells.
    pub fn new(
        space: &SearchSpace,
        c: usize,
        layers: usize,
        input: InputShape,
        device: &Device,
    ) -> Self {
        let c_stem = STEM_MULTIPLIER * c;
        let stem = Conv::new(input.channels, c_stem, 3, 1, 1, 1, 1, device);
        let stem_bn = Bn::new(c_stem, true, device);
        let (mut c_pp, mut c_p, mut c_cur) = (c_stem, c_stem, c);
        let mut reduction_prev = false;
        let reductions = reduction_layers(layers);
        let mut cells = Vec::with_capacity(layers);
        for i in 0..layers {
            let reduction = reductions.contains(&i);
            if reduction {
                c_cur *= 2;
            }
            cells.push(SearchCell::new(
                space,
                c_pp,
                c_p,
                c_cur,
                reduction,
                reduction_prev,
                device,
            ));
            reduction_prev = reduction;
            c_pp = c_p;
            c_p = DARTS_NODES * c_cur;
        }
        DartsSupernet {
            stem,
            stem_bn,
            cells,
            classifier: LinearConfig::new(c_p, input.classes).init(device),
        }
    }

    pub fn forward(
        &self,
        x: Tensor<4>,
        normal: &CellWeights,
        reduce: &CellWeights,
        bn: BnMode,
    ) -> Tensor<2> {
        let s = self.stem_bn.forward(self.stem.forward(x), bn);
        let (mut s0, mut s1) = (s.clone(), s);
        for cell in &self.cells {
            let w = if cell.reduction { reduce } else { normal };
            let out = cell.forward(s0, s1.clone(), w, bn);
            s0 = s1;
            s1 = out;
        }
        self.classifier.forward(global_avg_pool(s1))
    }
}
