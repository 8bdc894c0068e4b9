//! The one place where this crate's tensor names meet the official DARTS-PT code's.
//!
//! The official supernets are `nasbench201/search_model_darts_proj.py`'s `TinyNetworkDartsProj`
//! and `sota/cnn/model_search_darts_proj.py`'s `DartsNetworkProj`; their `state_dict()` names
//! follow their module trees (`nn.Sequential` indices included). [`supernet_layout`] lists every
//! entry of that state dict in the official registration order (so the index of a parameter
//! among the `param` entries is its index in the official optimiser's state), each with the
//! path of the same tensor in a [`Supernet`](crate::nn::supernet::Supernet) of this crate.

use burn::tensor::TensorData;

use crate::genotype::{DartsGenotype, Genotype, Nb201Genotype};
use crate::nn::darts_search::reduction_layers;
use crate::nn::supernet::SupernetConfig;
use crate::space::{CellType, Family, OpKind, SearchSpace, darts_edges, nb201_edges};

/// One entry of an official state dict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The official name (`cells.0._ops.3._ops.4.op.1.weight`).
    pub official: String,
    /// The tensor's path in this crate's supernet (`net.Darts.cells.0.edges.3.ops.4...`);
    /// `None` for BatchNorm's `num_batches_tracked`, which this crate does not keep.
    pub ours: Option<String>,
    /// A learnable parameter (listed by `parameters()`), not a buffer.
    pub param: bool,
    /// Stored transposed here: burn's linear weight is `[in, out]`, PyTorch's `[out, in]`.
    pub transpose: bool,
}

impl Entry {
    /// `data` in the other side's layout: transposed where marked. A transpose is its own
    /// inverse, so import and export both call this.
    pub fn reoriented(&self, data: &TensorData) -> TensorData {
        if !self.transpose {
            return data.clone();
        }
        let [rows, cols] = [data.shape()[0], data.shape()[1]];
        let v = data
            .clone()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("f32 data");
        let t: Vec<f32> = (0..rows * cols)
            .map(|i| v[(i % rows) * cols + i / rows])
            .collect();
        TensorData::new(t, [cols, rows])
    }
}

/// The official names of α, per cell type (normal first): the checkpoint's `alpha` list.
pub const ALPHA_NAMES: [&str; 2] = ["alpha.0", "alpha.1"];
/// This crate's paths of α, per cell type (normal first).
pub const ALPHA_PATHS: [&str; 2] = ["alphas.normal", "alphas.reduce"];

/// Collects entries, this crate's paths under a root.
struct Layout {
    ours_root: &'static str,
    entries: Vec<Entry>,
}

impl Layout {
    fn new(ours_root: &'static str) -> Self {
        Layout {
            ours_root,
            entries: Vec::new(),
        }
    }

    fn push(&mut self, official: String, ours: Option<String>, param: bool, transpose: bool) {
        self.entries.push(Entry {
            official,
            ours: ours.map(|p| format!("{}.{p}", self.ours_root)),
            param,
            transpose,
        });
    }

    /// A learnable parameter `official.name` held here as `ours.our_name`.
    fn param(&mut self, (ours, our_name): (&str, &str), (official, name): (&str, &str)) {
        let names = (format!("{official}.{name}"), format!("{ours}.{our_name}"));
        self.push(names.0, Some(names.1), true, false);
    }

    /// A bias-free convolution.
    fn conv(&mut self, ours: &str, official: &str) {
        self.param((ours, "weight"), (official, "weight"));
    }

    /// `nn.BatchNorm2d`: weight and bias when affine, then the running statistics and counter.
    fn bn(&mut self, ours: &str, official: &str, affine: bool) {
        if affine {
            self.param((ours, "gamma"), (official, "weight"));
            self.param((ours, "beta"), (official, "bias"));
        }
        for stat in ["running_mean", "running_var"] {
            let names = (format!("{official}.{stat}"), format!("{ours}.{stat}"));
            self.push(names.0, Some(names.1), false, false);
        }
        self.push(
            format!("{official}.num_batches_tracked"),
            None,
            false,
            false,
        );
    }

    /// `nn.Linear`, whose weight burn keeps transposed.
    fn linear(&mut self, ours: &str, official: &str) {
        let (weight, ours_weight) = (format!("{official}.weight"), format!("{ours}.weight"));
        self.push(weight, Some(ours_weight), true, true);
        self.param((ours, "bias"), (official, "bias"));
    }

    /// `ReLUConvBN`: `op.1` the convolution, `op.2` the BatchNorm.
    fn relu_conv_bn(&mut self, ours: &str, official: &str, affine: bool) {
        self.conv(&format!("{ours}.conv"), &format!("{official}.op.1"));
        self.bn(&format!("{ours}.bn"), &format!("{official}.op.2"), affine);
    }

    /// `FactorizedReduce`: `conv_1`, `conv_2`, `bn`.
    fn factorized_reduce(&mut self, ours: &str, official: &str, affine: bool) {
        self.conv(&format!("{ours}.conv_a"), &format!("{official}.conv_1"));
        self.conv(&format!("{ours}.conv_b"), &format!("{official}.conv_2"));
        self.bn(&format!("{ours}.bn"), &format!("{official}.bn"), affine);
    }

    /// A depthwise-separable block (`DilConv`, or half of `SepConv`) whose layers sit at
    /// `op.{at}`, `op.{at+1}` and `op.{at+2}` of the official `nn.Sequential`.
    fn depthwise(&mut self, ours: &str, official: &str, at: usize, affine: bool) {
        self.conv(&format!("{ours}.depthwise"), &format!("{official}.op.{at}"));
        self.conv(
            &format!("{ours}.pointwise"),
            &format!("{official}.op.{}", at + 1),
        );
        self.bn(
            &format!("{ours}.bn"),
            &format!("{official}.op.{}", at + 2),
            affine,
        );
    }

    /// One operation: of a search cell (`search`: affine-free BatchNorms, DARTS pooling followed
    /// by a BatchNorm) or of a discrete network (affine BatchNorms).
    fn op(&mut self, kind: OpKind, stride: usize, search: bool, family: Family, at: (&str, &str)) {
        let (ours, official) = at;
        let affine = !search;
        match kind {
            OpKind::None | OpKind::Noise => {}
            // DARTS search cells follow pooling with a BatchNorm (`nn.Sequential(pool, bn)`).
            OpKind::MaxPool3x3 | OpKind::AvgPool3x3 if search && family == Family::Darts => self
                .bn(
                    &format!("{ours}.PoolBn.bn"),
                    &format!("{official}.1"),
                    false,
                ),
            OpKind::MaxPool3x3 | OpKind::AvgPool3x3 => {}
            OpKind::SkipConnect if stride == 1 => {}
            OpKind::SkipConnect => {
                self.factorized_reduce(&format!("{ours}.FactorizedReduce"), official, affine)
            }
            OpKind::SepConv3x3 | OpKind::SepConv5x5 => {
                self.depthwise(&format!("{ours}.SepConv.first"), official, 1, affine);
                self.depthwise(&format!("{ours}.SepConv.second"), official, 5, affine);
            }
            OpKind::DilConv3x3 | OpKind::DilConv5x5 => {
                self.depthwise(&format!("{ours}.DilConv"), official, 1, affine)
            }
            OpKind::NorConv1x1 | OpKind::NorConv3x3 => {
                self.relu_conv_bn(&format!("{ours}.ReluConvBn"), official, affine)
            }
        }
    }

    /// The two input preprocessings of DARTS-family cell `i` (`preprocess0` halves its input
    /// after a reduction cell).
    fn darts_preprocess(&mut self, i: usize, reduction_prev: bool, affine: bool) {
        let cell = format!("cells.{i}");
        if reduction_prev {
            self.factorized_reduce(
                &format!("{cell}.pre0.Reduce"),
                &format!("{cell}.preprocess0"),
                affine,
            );
        } else {
            self.relu_conv_bn(
                &format!("{cell}.pre0.Conv"),
                &format!("{cell}.preprocess0"),
                affine,
            );
        }
        self.relu_conv_bn(
            &format!("{cell}.pre1"),
            &format!("{cell}.preprocess1"),
            affine,
        );
    }

    /// NAS-Bench-201's residual block between stages, layer `i` (`ResNetBasicblock`).
    fn nb201_res_block(&mut self, i: usize) {
        let (ours, official) = (format!("layers.{i}.Res"), format!("cells.{i}"));
        self.relu_conv_bn(
            &format!("{ours}.conv_a"),
            &format!("{official}.conv_a"),
            true,
        );
        self.relu_conv_bn(
            &format!("{ours}.conv_b"),
            &format!("{official}.conv_b"),
            true,
        );
        self.conv(
            &format!("{ours}.shortcut"),
            &format!("{official}.downsample.1"),
        );
    }
}

/// The official NB201 edge key (`'2<-1'`) of this crate's edge `index`.
pub fn nb201_edge_key(index: usize) -> String {
    let e = &nb201_edges()[index];
    format!("{}<-{}", e.to, e.from)
}

/// Whether NB201 layer `i` of `n` cells per stage is a residual block.
fn nb201_is_res(i: usize, n: usize) -> bool {
    i == n || i == 2 * n + 1
}

/// Every entry of the official search network's state dict for `config`, in the official order.
pub fn supernet_layout(config: &SupernetConfig) -> Vec<Entry> {
    let space = config.space.space();
    match space.family {
        Family::Nb201 => nb201_layout(&space, config.layers),
        Family::Darts => darts_layout(&space, config.layers),
    }
}

/// `TinyNetwork`: stem, 3N+2 cells (residual blocks at N and 2N+1), lastact, classifier.
fn nb201_layout(space: &SearchSpace, n: usize) -> Vec<Entry> {
    let mut l = Layout::new("net.Nb201");
    l.conv("ends.stem", "stem.0");
    l.bn("ends.stem_bn", "stem.1", true);
    for i in 0..3 * n + 2 {
        if nb201_is_res(i, n) {
            l.nb201_res_block(i);
            continue;
        }
        for edge in nb201_edges() {
            for (o, &kind) in space.ops(CellType::Normal, edge.index).iter().enumerate() {
                let ours = format!("layers.{i}.Cell.edges.{}.ops.{o}", edge.index);
                let official = format!("cells.{i}.edges.{}.{o}", nb201_edge_key(edge.index));
                l.op(kind, 1, true, Family::Nb201, (&ours, &official));
            }
        }
    }
    l.bn("ends.last_bn", "lastact.0", true);
    l.linear("ends.classifier", "classifier");
    l.entries
}

/// `Network` (DARTS family): stem, L cells (preprocess0, preprocess1, the 14 mixed operations),
/// classifier.
fn darts_layout(space: &SearchSpace, layers: usize) -> Vec<Entry> {
    let mut l = Layout::new("net.Darts");
    l.conv("stem", "stem.0");
    l.bn("stem_bn", "stem.1", true);
    let reductions = reduction_layers(layers);
    for i in 0..layers {
        let reduction = reductions.contains(&i);
        l.darts_preprocess(i, i > 0 && reductions.contains(&(i - 1)), false);
        let cell = if reduction {
            CellType::Reduce
        } else {
            CellType::Normal
        };
        for edge in darts_edges() {
            let stride = if reduction && edge.from < 2 { 2 } else { 1 };
            for (o, &kind) in space.ops(cell, edge.index).iter().enumerate() {
                let ours = format!("cells.{i}.edges.{}.ops.{o}", edge.index);
                let official = format!("cells.{i}._ops.{}._ops.{o}", edge.index);
                l.op(kind, stride, true, Family::Darts, (&ours, &official));
            }
        }
    }
    l.linear("classifier", "classifier");
    l.entries
}

/// The shape of a discrete (retrained) network, as a training run records it.
#[derive(Clone, Debug)]
pub struct NetworkShape<'a> {
    pub genotype: &'a Genotype,
    pub channels: usize,
    /// DARTS: cells L; NB201: cells per stage N.
    pub layers: usize,
    /// DARTS: whether the network has the auxiliary head.
    pub auxiliary: bool,
}

/// Every entry of the official discrete network's state dict: `sota/cnn/model.py`'s `Network`
/// (DARTS family, the official code's evaluation network) or NAS-Bench-201's `TinyNetwork` with
/// `InferCell`s (the benchmark's network of an arch string). This crate's paths are those of a
/// training run's network (`Darts.…`, `Nb201.…`).
pub fn network_layout(shape: &NetworkShape<'_>) -> Vec<Entry> {
    match shape.genotype {
        Genotype::Darts(g) => darts_network_layout(g, shape),
        Genotype::Nb201(g) => nb201_network_layout(g, shape.layers),
    }
}

fn darts_network_layout(g: &DartsGenotype, shape: &NetworkShape<'_>) -> Vec<Entry> {
    let mut l = Layout::new("Darts");
    l.conv("stem", "stem.0");
    l.bn("stem_bn", "stem.1", true);
    let reductions = reduction_layers(shape.layers);
    for i in 0..shape.layers {
        let reduction = reductions.contains(&i);
        l.darts_preprocess(i, i > 0 && reductions.contains(&(i - 1)), true);
        let genes = if reduction { &g.reduce } else { &g.normal };
        for (k, gene) in genes.iter().enumerate() {
            let stride = if reduction && gene.input < 2 { 2 } else { 1 };
            let (ours, official) = (format!("cells.{i}.ops.{k}"), format!("cells.{i}._ops.{k}"));
            l.op(gene.op, stride, false, Family::Darts, (&ours, &official));
        }
    }
    if shape.auxiliary {
        let head = "auxiliary_head.features";
        l.conv("aux.conv1", &format!("{head}.2"));
        l.bn("aux.bn1", &format!("{head}.3"), true);
        l.conv("aux.conv2", &format!("{head}.5"));
        l.bn("aux.bn2", &format!("{head}.6"), true);
        l.linear("aux.classifier", "auxiliary_head.classifier");
    }
    l.linear("classifier", "classifier");
    l.entries
}

fn nb201_network_layout(g: &Nb201Genotype, n: usize) -> Vec<Entry> {
    let mut l = Layout::new("Nb201");
    l.conv("ends.stem", "stem.0");
    l.bn("ends.stem_bn", "stem.1", true);
    for i in 0..3 * n + 2 {
        if nb201_is_res(i, n) {
            l.nb201_res_block(i);
            continue;
        }
        // InferCell's `layers` list the edges node by node, as this crate numbers them.
        for (e, &kind) in g.ops.iter().enumerate() {
            let (ours, official) = (
                format!("layers.{i}.Cell.edges.{e}"),
                format!("cells.{i}.layers.{e}"),
            );
            l.op(kind, 1, false, Family::Nb201, (&ours, &official));
        }
    }
    l.bn("ends.last_bn", "lastact.0", true);
    l.linear("ends.classifier", "classifier");
    l.entries
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::InputShape;
    use crate::nn::params::named_tensors;
    use crate::nn::supernet::Supernet;
    use crate::space::SpaceId;
    use std::collections::BTreeSet;

    /// Every tensor of a supernet of this crate has exactly one official name, with the
    /// official shape (transposed where marked), for every space.
    #[test]
    fn the_layout_covers_every_tensor_of_every_space_once() {
        let device = burn::tensor::Device::flex();
        for space in SpaceId::ALL {
            let layers = match space.family() {
                Family::Darts => 3,
                Family::Nb201 => 1,
            };
            let config = SupernetConfig {
                space,
                channels: 4,
                layers,
                input: InputShape::CIFAR10,
            };
            let net = named_tensors(&Supernet::new(&config, &device));
            let layout = supernet_layout(&config);
            let ours: BTreeSet<&str> = layout.iter().filter_map(|e| e.ours.as_deref()).collect();
            let expected: BTreeSet<&str> = net
                .keys()
                .map(String::as_str)
                .filter(|k| !k.starts_with("alphas."))
                .collect();
            assert_eq!(ours, expected, "{space}");
            let official: BTreeSet<&str> = layout.iter().map(|e| e.official.as_str()).collect();
            assert_eq!(official.len(), layout.len(), "{space}: a name twice");
        }
    }

    /// The same for the discrete networks of training runs, with and without the auxiliary head.
    #[test]
    fn the_network_layout_covers_every_tensor_of_a_training_network_once() {
        use crate::nn::darts_eval::DartsNetwork;
        use crate::nn::nb201::Nb201Network;
        use crate::train::network::TrainNetwork;
        let device = burn::tensor::Device::flex();
        let input = InputShape::CIFAR10;
        let darts: Genotype = "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])".parse().unwrap();
        let nb201: Genotype = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|"
            .parse()
            .unwrap();
        for auxiliary in [false, true] {
            let Genotype::Darts(g) = &darts else {
                unreachable!()
            };
            let net = TrainNetwork::Darts(DartsNetwork::new(g, 4, 5, auxiliary, input, &device));
            let shape = NetworkShape {
                genotype: &darts,
                channels: 4,
                layers: 5,
                auxiliary,
            };
            assert_covers(&network_layout(&shape), &named_tensors(&net));
        }
        let Genotype::Nb201(g) = &nb201 else {
            unreachable!()
        };
        let net = TrainNetwork::Nb201(Nb201Network::new(g, 4, 2, input, &device));
        let shape = NetworkShape {
            genotype: &nb201,
            channels: 4,
            layers: 2,
            auxiliary: false,
        };
        assert_covers(&network_layout(&shape), &named_tensors(&net));
    }

    fn assert_covers(
        layout: &[Entry],
        net: &std::collections::BTreeMap<String, burn::tensor::TensorData>,
    ) {
        let ours: BTreeSet<&str> = layout.iter().filter_map(|e| e.ours.as_deref()).collect();
        let expected: BTreeSet<&str> = net.keys().map(String::as_str).collect();
        assert_eq!(ours, expected);
    }

    #[test]
    fn nb201_edge_keys_follow_the_official_module_dict() {
        let keys: Vec<String> = (0..6).map(nb201_edge_key).collect();
        assert_eq!(keys, ["1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2"]);
    }
}
