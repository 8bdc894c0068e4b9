//! NAS-Bench-201 networks (spec 1.6): stem, three stages of N cells at C, 2C and 4C channels
//! joined by residual blocks, then BN-ReLU, global pooling and a linear classifier. The search
//! supernet's cells hold a mixed operation per edge; the discrete network's cells hold the one
//! operation of the arch string.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::bn::{Bn, BnMode};
use super::mixed::{CellWeights, MixedOp, add_opt};
use super::ops::{Conv, Op, ReluConvBn};
use super::{InputShape, global_avg_pool};
use crate::genotype::Nb201Genotype;
use crate::space::{Family, NB201_EDGES, SearchSpace, nb201_edges};

/// The residual block between stages: two ReLU-Conv-BN (the first strided) plus an
/// AvgPool-Conv1x1 shortcut. Always affine.
#[derive(Module, Debug)]
pub struct ResBlock {
    pub conv_a: ReluConvBn,
    pub conv_b: ReluConvBn,
    pub shortcut: Conv,
}

impl ResBlock {
    pub fn new(c_in: usize, c_out: usize, device: &Device) -> Self {
        ResBlock {
            conv_a: ReluConvBn::new(c_in, c_out, 3, 2, 1, true, device),
            conv_b: ReluConvBn::new(c_out, c_out, 3, 1, 1, true, device),
            shortcut: Conv::new(c_in, c_out, 1, 1, 0, 1, 1, device),
        }
    }

    pub fn forward(&self, x: Tensor<4>, bn: BnMode) -> Tensor<4> {
        let pooled = crate::kernels::pool2d(x.clone(), 2, 2, 0, false);
        let residual = self.shortcut.forward(pooled);
        self.conv_b
            .forward(self.conv_a.forward(x, bn), bn)
            .add(residual)
    }
}

/// The stem (conv3x3 + affine BN) and the head (BN-ReLU, pooling, classifier) shared by the
/// search and discrete networks.
#[derive(Module, Debug)]
pub struct Nb201Ends {
    pub stem: Conv,
    pub stem_bn: Bn,
    pub last_bn: Bn,
    pub classifier: Linear,
}

impl Nb201Ends {
    fn new(c: usize, input: InputShape, device: &Device) -> Self {
        Nb201Ends {
            stem: Conv::new(input.channels, c, 3, 1, 1, 1, 1, device),
            stem_bn: Bn::new(c, true, device),
            last_bn: Bn::new(4 * c, true, device),
            classifier: LinearConfig::new(4 * c, input.classes).init(device),
        }
    }

    fn stem(&self, x: Tensor<4>, bn: BnMode) -> Tensor<4> {
        self.stem_bn.forward(self.stem.forward(x), bn)
    }

    fn head(&self, x: Tensor<4>, bn: BnMode) -> Tensor<2> {
        let x = relu(self.last_bn.forward(x, bn));
        self.classifier.forward(global_avg_pool(x))
    }
}

/// The layer sequence: for each stage `n` cells, with a residual block between stages.
fn stage_plan(c: usize, n: usize) -> Vec<(usize, bool)> {
    let mut plan = Vec::new();
    for (stage, width) in [c, 2 * c, 4 * c].into_iter().enumerate() {
        if stage > 0 {
            plan.push((width, true));
        }
        plan.extend(std::iter::repeat_n((width, false), n));
    }
    plan
}

/// A search cell: node i (1..3) sums mixed operations over nodes j < i; the output is node 3.
#[derive(Module, Debug)]
pub struct Nb201SearchCell {
    pub edges: Vec<MixedOp>,
}

impl Nb201SearchCell {
    pub fn forward(&self, x: Tensor<4>, w: &CellWeights, bn: BnMode) -> Tensor<4> {
        let mut nodes = vec![x];
        let mut sums: [Option<Tensor<4>>; 3] = [None, None, None];
        for edge in nb201_edges() {
            // Edges are sorted by target node, so node `edge.from` is complete here.
            if nodes.len() <= edge.from {
                let done = sums[nodes.len() - 1].take();
                nodes.push(done.unwrap_or_else(|| nodes[0].zeros_like()));
            }
            let y = self.edges[edge.index].forward(
                nodes[edge.from].clone(),
                &w.scalars[edge.index],
                bn,
            );
            sums[edge.to - 1] = add_opt(sums[edge.to - 1].take(), y);
        }
        sums[2].take().unwrap_or_else(|| nodes[0].zeros_like())
    }
}

// Module handles are small; the size is what clippy sees of unboxed tensor handles.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Nb201SearchLayer {
    Cell(Nb201SearchCell),
    Res(ResBlock),
}

/// The NAS-Bench-201 search supernet; one alpha (6 x 5) is shared by every cell.
#[derive(Module, Debug)]
pub struct Nb201Supernet {
    pub ends: Nb201Ends,
    pub layers: Vec<Nb201SearchLayer>,
}

impl Nb201Supernet {
    /// `c` channels in the first stage, `n` cells per stage.
    pub fn new(
        space: &SearchSpace,
        c: usize,
        n: usize,
        input: InputShape,
        device: &Device,
    ) -> Self {
        assert_eq!(
            space.family,
            Family::Nb201,
            "NB201 supernet needs the nb201 space"
        );
        let mut prev = c;
        let layers = stage_plan(c, n)
            .into_iter()
            .map(|(width, res)| {
                let layer = if res {
                    Nb201SearchLayer::Res(ResBlock::new(prev, width, device))
                } else {
                    Nb201SearchLayer::Cell(Nb201SearchCell {
                        edges: (0..NB201_EDGES)
                            .map(|e| MixedOp {
                                ops: space.normal[e]
                                    .iter()
                                    .map(|&k| Op::new(k, Family::Nb201, width, 1, true, device))
                                    .collect(),
                            })
                            .collect(),
                    })
                };
                prev = width;
                layer
            })
            .collect();
        Nb201Supernet {
            ends: Nb201Ends::new(c, input, device),
            layers,
        }
    }

    pub fn forward(&self, x: Tensor<4>, w: &CellWeights, bn: BnMode) -> Tensor<2> {
        let mut x = self.ends.stem(x, bn);
        for layer in &self.layers {
            x = match layer {
                Nb201SearchLayer::Cell(cell) => cell.forward(x, w, bn),
                Nb201SearchLayer::Res(block) => block.forward(x, bn),
            };
        }
        self.ends.head(x, bn)
    }
}

/// A discrete NAS-Bench-201 cell: one operation per edge (`none` edges contribute nothing).
#[derive(Module, Debug)]
pub struct Nb201Cell {
    pub edges: Vec<Op>,
}

impl Nb201Cell {
    pub fn forward(&self, x: Tensor<4>, bn: BnMode) -> Tensor<4> {
        let mut nodes = vec![x];
        let mut sums: [Option<Tensor<4>>; 3] = [None, None, None];
        for edge in nb201_edges() {
            if nodes.len() <= edge.from {
                let done = sums[nodes.len() - 1].take();
                nodes.push(done.unwrap_or_else(|| nodes[0].zeros_like()));
            }
            let op = &self.edges[edge.index];
            if op.is_zero() {
                continue;
            }
            let y = op.forward(nodes[edge.from].clone(), bn);
            sums[edge.to - 1] = add_opt(sums[edge.to - 1].take(), Some(y));
        }
        sums[2].take().unwrap_or_else(|| nodes[0].zeros_like())
    }
}

// Module handles are small; the size is what clippy sees of unboxed tensor handles.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Nb201Layer {
    Cell(Nb201Cell),
    Res(ResBlock),
}

/// The NAS-Bench-201 network of one arch string, with affine BatchNorms throughout.
#[derive(Module, Debug)]
pub struct Nb201Network {
    pub ends: Nb201Ends,
    pub layers: Vec<Nb201Layer>,
}

impl Nb201Network {
    pub fn new(
        genotype: &Nb201Genotype,
        c: usize,
        n: usize,
        input: InputShape,
        device: &Device,
    ) -> Self {
        let mut prev = c;
        let layers = stage_plan(c, n)
            .into_iter()
            .map(|(width, res)| {
                let layer = if res {
                    Nb201Layer::Res(ResBlock::new(prev, width, device))
                } else {
                    Nb201Layer::Cell(Nb201Cell {
                        edges: genotype
                            .ops
                            .iter()
                            .map(|&k| Op::new(k, Family::Nb201, width, 1, false, device))
                            .collect(),
                    })
                };
                prev = width;
                layer
            })
            .collect();
        Nb201Network {
            ends: Nb201Ends::new(c, input, device),
            layers,
        }
    }

    pub fn forward(&self, x: Tensor<4>, bn: BnMode) -> Tensor<2> {
        let mut x = self.ends.stem(x, bn);
        for layer in &self.layers {
            x = match layer {
                Nb201Layer::Cell(cell) => cell.forward(x, bn),
                Nb201Layer::Res(block) => block.forward(x, bn),
            };
        }
        self.ends.head(x, bn)
    }
}
