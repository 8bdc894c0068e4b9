//! The supernet as search and selection see it: network weights and architecture parameters
//! (alpha) held apart so each has its own optimiser, and the mixing weights computed from alpha
//! and the selection state.
//!
//! The mixing weights of a cell type are `W = softmax(alpha) * keep + fixed` (spec 3.1): `keep`
//! is 1 on undecided edges, `fixed` holds the one-hot rows of decided edges, and both are 0 on
//! edges removed by a topology decision. A PT mask multiplies both by a 0/1 matrix, zeroing one
//! entry (or one row) without renormalising the others.

use burn::module::{Module, Param};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::InputShape;
use super::bn::BnMode;
use super::darts_search::DartsSupernet;
use super::mixed::CellWeights;
use super::nb201::Nb201Supernet;
use crate::space::{CellType, Family, SearchSpace, SpaceId};

/// What defines a supernet's shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SupernetConfig {
    pub space: SpaceId,
    /// Initial channels C.
    pub channels: usize,
    /// DARTS family: number of cells L. NB201: cells per stage N.
    pub layers: usize,
    pub input: InputShape,
}

impl SupernetConfig {
    /// The paper's search supernets: DARTS C=16 L=8, NB201 C=16 N=5, on CIFAR-10.
    pub fn paper(space: SpaceId) -> Self {
        let layers = match space.family() {
            Family::Darts => 8,
            Family::Nb201 => 5,
        };
        SupernetConfig {
            space,
            channels: 16,
            layers,
            input: InputShape::CIFAR10,
        }
    }
}

/// The network half of a supernet.
// Module handles are small; the size is what clippy sees of unboxed tensor handles.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum SearchNet {
    Darts(DartsSupernet),
    Nb201(Nb201Supernet),
}

/// Architecture parameters: one `[edges, ops]` matrix per cell type.
#[derive(Module, Debug)]
pub struct Alphas {
    pub normal: Param<Tensor<2>>,
    pub reduce: Option<Param<Tensor<2>>>,
}

impl Alphas {
    /// `1e-3 * randn`, as DARTS initialises them.
    pub fn new(space: &SearchSpace, device: &Device) -> Self {
        let shape = [space.num_edges(), space.num_ops()];
        let init = || {
            Param::from_tensor(Tensor::random(
                shape,
                Distribution::Normal(0.0, 1e-3),
                device,
            ))
        };
        Alphas {
            normal: init(),
            reduce: (space.family == Family::Darts).then(init),
        }
    }

    pub fn get(&self, cell: CellType) -> Tensor<2> {
        match (cell, &self.reduce) {
            (CellType::Reduce, Some(r)) => r.val(),
            _ => self.normal.val(),
        }
    }
}

/// Network weights and alpha, each a separate sub-module.
#[derive(Module, Debug)]
pub struct Supernet {
    pub net: SearchNet,
    pub alphas: Alphas,
}

/// Mixing weights for every cell type of a forward pass.
#[derive(Clone, Debug)]
pub struct ArchWeights {
    pub normal: CellWeights,
    pub reduce: Option<CellWeights>,
}

impl Supernet {
    pub fn new(config: &SupernetConfig, device: &Device) -> Self {
        let space = config.space.space();
        let net = match space.family {
            Family::Darts => SearchNet::Darts(DartsSupernet::new(
                &space,
                config.channels,
                config.layers,
                config.input,
                device,
            )),
            Family::Nb201 => SearchNet::Nb201(Nb201Supernet::new(
                &space,
                config.channels,
                config.layers,
                config.input,
                device,
            )),
        };
        Supernet {
            net,
            alphas: Alphas::new(&space, device),
        }
    }

    /// Logits for `x` under the given mixing weights.
    pub fn forward(&self, x: Tensor<4>, w: &ArchWeights, bn: BnMode) -> Tensor<2> {
        self.net.forward(x, w, bn)
    }

    /// softmax(alpha) per cell type (normal first).
    pub fn probabilities(&self) -> Vec<Tensor<2>> {
        let mut p = vec![softmax(self.alphas.normal.val(), 1)];
        if let Some(r) = &self.alphas.reduce {
            p.push(softmax(r.val(), 1));
        }
        p
    }
}

impl SearchNet {
    pub fn forward(&self, x: Tensor<4>, w: &ArchWeights, bn: BnMode) -> Tensor<2> {
        match self {
            SearchNet::Darts(net) => net.forward(
                x,
                &w.normal,
                w.reduce
                    .as_ref()
                    .expect("DARTS cells need reduction weights"),
                bn,
            ),
            SearchNet::Nb201(net) => net.forward(x, &w.normal, bn),
        }
    }
}

/// The selection state of one cell type: which edges are decided, and which are removed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellProjection {
    /// The chosen operation index of each decided edge.
    pub decided: Vec<Option<usize>>,
    /// Edges struck by a topology decision; their weights are all zero.
    pub removed: Vec<bool>,
}

impl CellProjection {
    pub fn new(edges: usize) -> Self {
        CellProjection {
            decided: vec![None; edges],
            removed: vec![false; edges],
        }
    }

    /// True when nothing is decided or removed, so W is plain softmax(alpha).
    pub fn is_free(&self) -> bool {
        self.decided.iter().all(Option::is_none) && !self.removed.iter().any(|&r| r)
    }

    pub fn undecided_edges(&self) -> Vec<usize> {
        (0..self.decided.len())
            .filter(|&e| self.decided[e].is_none() && !self.removed[e])
            .collect()
    }
}

/// A PT mask: entries of a cell type's weight matrix forced to zero for one evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mask {
    /// Zero operation `op` of `edge`.
    Op { edge: usize, op: usize },
    /// Zero the whole row of `edge` (a topology candidate).
    Edge { edge: usize },
}

/// Host-side description of W: `W = probs * keep + fixed`; `active` marks non-zero entries.
#[derive(Clone, Debug, PartialEq)]
pub struct WeightPlan {
    pub keep: Vec<Vec<f32>>,
    pub fixed: Vec<Vec<f32>>,
    pub active: Vec<Vec<bool>>,
    /// True when `keep` is all ones and `fixed` all zeros.
    pub identity: bool,
}

impl WeightPlan {
    /// The plan for one cell type under `proj` and an optional mask.
    pub fn new(proj: &CellProjection, ops: usize, mask: Option<Mask>) -> Self {
        let edges = proj.decided.len();
        let mut keep = vec![vec![1.0f32; ops]; edges];
        let mut fixed = vec![vec![0.0f32; ops]; edges];
        for e in 0..edges {
            if proj.removed[e] {
                keep[e].fill(0.0);
            } else if let Some(op) = proj.decided[e] {
                keep[e].fill(0.0);
                fixed[e][op] = 1.0;
            }
        }
        match mask {
            Some(Mask::Op { edge, op }) => {
                keep[edge][op] = 0.0;
                fixed[edge][op] = 0.0;
            }
            Some(Mask::Edge { edge }) => {
                keep[edge].fill(0.0);
                fixed[edge].fill(0.0);
            }
            None => {}
        }
        let active = (0..edges)
            .map(|e| {
                (0..ops)
                    .map(|o| keep[e][o] != 0.0 || fixed[e][o] != 0.0)
                    .collect()
            })
            .collect();
        let identity = mask.is_none() && proj.is_free();
        WeightPlan {
            keep,
            fixed,
            active,
            identity,
        }
    }

    /// `W = probs * keep + fixed`, sliced for a forward pass.
    pub fn weights(&self, probs: Tensor<2>) -> CellWeights {
        if self.identity {
            return CellWeights::new(probs, &self.active);
        }
        let w = self.matrix(probs);
        CellWeights::new(w, &self.active)
    }

    /// `W = probs * keep + fixed` as a matrix.
    pub fn matrix(&self, probs: Tensor<2>) -> Tensor<2> {
        if self.identity {
            return probs;
        }
        let device = probs.device();
        let [edges, ops] = probs.dims();
        let to_tensor = |m: &Vec<Vec<f32>>| {
            let flat: Vec<f32> = m.iter().flatten().copied().collect();
            Tensor::<2>::from_data(TensorData::new(flat, [edges, ops]), &device)
        };
        probs.mul(to_tensor(&self.keep)).add(to_tensor(&self.fixed))
    }
}

/// The plans of every cell type (normal first) for a selection state and an optional mask on
/// one cell type.
pub fn weight_plans(
    projections: &[CellProjection],
    ops: usize,
    mask: Option<(CellType, Mask)>,
) -> Vec<WeightPlan> {
    projections
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let cell = if i == 0 {
                CellType::Normal
            } else {
                CellType::Reduce
            };
            let m = mask.and_then(|(c, m)| (c == cell).then_some(m));
            WeightPlan::new(p, ops, m)
        })
        .collect()
}

/// Builds the forward weights from per-cell probabilities (softmax(alpha), or a perturbed copy)
/// and plans.
pub fn arch_weights(probs: Vec<Tensor<2>>, plans: &[WeightPlan]) -> ArchWeights {
    let mut cells = probs
        .into_iter()
        .zip(plans)
        .map(|(p, plan)| plan.weights(p));
    let normal = cells.next().expect("at least the normal cell");
    ArchWeights {
        normal,
        reduce: cells.next(),
    }
}
