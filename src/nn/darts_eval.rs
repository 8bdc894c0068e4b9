//! The DARTS evaluation network built from a genotype (spec 1.3): stem of 3C channels, L cells
//! with reductions at L/3 and 2L/3, an auxiliary head after cell 2L/3 (training only), drop
//! path on every non-identity operation, affine BatchNorms throughout.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Distribution, Tensor};

use super::bn::{Bn, BnMode};
use super::darts_search::{Preprocess, STEM_MULTIPLIER, reduction_layers};
use super::ops::{Conv, Op, ReluConvBn};
use super::{InputShape, global_avg_pool};
use crate::genotype::DartsGenotype;
use crate::space::{CellType, Family};

/// How a forward pass of the evaluation network behaves.
#[derive(Clone, Copy, Debug)]
pub struct EvalForward {
    pub bn: BnMode,
    /// Probability of dropping a path (per sample); 0 turns drop path off.
    pub drop_prob: f64,
    /// Whether to compute the auxiliary logits.
    pub auxiliary: bool,
}

impl EvalForward {
    /// Training: batch statistics, drop path at `drop_prob`, auxiliary logits on.
    pub fn train(drop_prob: f64) -> Self {
        EvalForward {
            bn: BnMode::Train,
            drop_prob,
            auxiliary: true,
        }
    }

    /// Inference: running statistics, no drop path, no auxiliary head.
    pub fn eval() -> Self {
        EvalForward {
            bn: BnMode::Eval,
            drop_prob: 0.0,
            auxiliary: false,
        }
    }
}

/// Zeroes whole samples with probability `drop_prob` and scales the kept ones by 1/keep_prob.
pub fn drop_path(x: Tensor<4>, drop_prob: f64) -> Tensor<4> {
    if drop_prob <= 0.0 {
        return x;
    }
    let keep = 1.0 - drop_prob;
    let [n, _, _, _] = x.dims();
    let mask: Tensor<4> = Tensor::random([n, 1, 1, 1], Distribution::Bernoulli(keep), &x.device());
    x.div_scalar(keep).mul(mask)
}

/// A discrete cell: node i adds two operations applied to the states its genes name.
#[derive(Module, Debug)]
pub struct EvalCell {
    pub pre0: Preprocess,
    pub pre1: ReluConvBn,
    pub ops: Vec<Op>,
    pub inputs: Vec<usize>,
    pub concat: Vec<usize>,
    pub reduction: bool,
}

impl EvalCell {
    fn new(
        genotype: &DartsGenotype,
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
        let genes = genotype.genes(cell_type);
        let ops = genes
            .iter()
            .map(|g| {
                let stride = if reduction && g.input < 2 { 2 } else { 1 };
                Op::new(g.op, Family::Darts, c, stride, false, device)
            })
            .collect();
        EvalCell {
            pre0: Preprocess::new(c_pp, c, reduction_prev, true, device),
            pre1: ReluConvBn::new(c_p, c, 1, 1, 0, true, device),
            ops,
            inputs: genes.iter().map(|g| g.input).collect(),
            concat: genotype.concat(cell_type).to_vec(),
            reduction,
        }
    }

    fn forward(&self, s0: Tensor<4>, s1: Tensor<4>, f: EvalForward) -> Tensor<4> {
        let mut states = vec![self.pre0.forward(s0, f.bn), self.pre1.forward(s1, f.bn)];
        for node in 0..self.ops.len() / 2 {
            let mut sum: Option<Tensor<4>> = None;
            for k in [2 * node, 2 * node + 1] {
                let op = &self.ops[k];
                let mut h = op.forward(states[self.inputs[k]].clone(), f.bn);
                if !op.is_identity() {
                    h = drop_path(h, f.drop_prob);
                }
                sum = Some(match sum {
                    Some(s) => s.add(h),
                    None => h,
                });
            }
            states.push(sum.expect("every node has two genes"));
        }
        Tensor::cat(self.concat.iter().map(|&i| states[i].clone()).collect(), 1)
    }
}

/// The auxiliary classifier: ReLU, AvgPool 5 (stride 3 on CIFAR's 8x8), 1x1 conv to 128, BN,
/// ReLU, 2x2 conv to 768, BN, ReLU, linear. For other sizes the pooling is adapted so that it
/// still yields 2x2 (kernel min(5, s-1), stride s-kernel).
#[derive(Module, Debug)]
pub struct AuxHead {
    pub conv1: Conv,
    pub bn1: Bn,
    pub conv2: Conv,
    pub bn2: Bn,
    pub classifier: Linear,
    pub pool_kernel: usize,
    pub pool_stride: usize,
}

impl AuxHead {
    fn new(c: usize, spatial: usize, classes: usize, device: &Device) -> Self {
        let pool_kernel = 5.min(spatial.saturating_sub(1)).max(1);
        let pool_stride = spatial.saturating_sub(pool_kernel).max(1);
        AuxHead {
            conv1: Conv::new(c, 128, 1, 1, 0, 1, 1, device),
            bn1: Bn::new(128, true, device),
            conv2: Conv::new(128, 768, 2, 1, 0, 1, 1, device),
            bn2: Bn::new(768, true, device),
            classifier: LinearConfig::new(768, classes).init(device),
            pool_kernel,
            pool_stride,
        }
    }

    fn forward(&self, x: Tensor<4>, bn: BnMode) -> Tensor<2> {
        let x = crate::kernels::pool2d(relu(x), self.pool_kernel, self.pool_stride, 0, false);
        let x = relu(self.bn1.forward(self.conv1.forward(x), bn));
        let x = relu(self.bn2.forward(self.conv2.forward(x), bn));
        let [n, c, h, w] = x.dims();
        self.classifier.forward(x.reshape([n, c * h * w]))
    }
}

/// The DARTS evaluation network.
#[derive(Module, Debug)]
pub struct DartsNetwork {
    pub stem: Conv,
    pub stem_bn: Bn,
    pub cells: Vec<EvalCell>,
    pub aux: Option<AuxHead>,
    pub classifier: Linear,
    /// The cell after which the auxiliary head reads.
    pub aux_after: usize,
}

impl DartsNetwork {
    /// `c` initial channels, `layers` cells; `auxiliary` adds the auxiliary head.
    pub fn new(
        genotype: &DartsGenotype,
        c: usize,
        layers: usize,
        auxiliary: bool,
        input: InputShape,
        device: &Device,
    ) -> Self {
        let c_stem = STEM_MULTIPLIER * c;
        let stem = Conv::new(input.channels, c_stem, 3, 1, 1, 1, 1, device);
        let stem_bn = Bn::new(c_stem, true, device);
        let (mut c_pp, mut c_p, mut c_cur) = (c_stem, c_stem, c);
        let mut reduction_prev = false;
        let reductions = reduction_layers(layers);
        let aux_after = 2 * layers / 3;
        let mut spatial = input.size;
        let mut aux = None;
        let mut cells = Vec::with_capacity(layers);
        for i in 0..layers {
            let reduction = reductions.contains(&i);
            if reduction {
                c_cur *= 2;
                spatial = spatial.div_ceil(2);
            }
            let cell = EvalCell::new(
                genotype,
                c_pp,
                c_p,
                c_cur,
                reduction,
                reduction_prev,
                device,
            );
            let multiplier = cell.concat.len();
            cells.push(cell);
            reduction_prev = reduction;
            c_pp = c_p;
            c_p = multiplier * c_cur;
            if auxiliary && i == aux_after {
                aux = Some(AuxHead::new(c_p, spatial, input.classes, device));
            }
        }
        DartsNetwork {
            stem,
            stem_bn,
            cells,
            aux,
            classifier: LinearConfig::new(c_p, input.classes).init(device),
            aux_after,
        }
    }

    /// Logits, and the auxiliary logits when `f.auxiliary` and the network has the head.
    pub fn forward(&self, x: Tensor<4>, f: EvalForward) -> (Tensor<2>, Option<Tensor<2>>) {
        let s = self.stem_bn.forward(self.stem.forward(x), f.bn);
        let (mut s0, mut s1) = (s.clone(), s);
        let mut aux_logits = None;
        for (i, cell) in self.cells.iter().enumerate() {
            let out = cell.forward(s0, s1.clone(), f);
            s0 = s1;
            s1 = out;
            if i == self.aux_after
                && f.auxiliary
                && let Some(aux) = &self.aux
            {
                aux_logits = Some(aux.forward(s1.clone(), f.bn));
            }
        }
        (self.classifier.forward(global_avg_pool(s1)), aux_logits)
    }
}
