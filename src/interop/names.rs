//! The one place where this crate's tensor names meet the official DARTS-PT code's.
//!
//! The official supernets are `nasbench201/search_model_darts_proj.py`'s `TinyNetworkDartsProj`
//! and `sota/cnn/model_search_darts_proj.py`'s `DartsNetworkProj`; their `state_dict()` names
//! follow their module trees (`nn.Sequential` indices included). [`supernet_layout`] lists every
//! entry of that state dict in the official registration order (so the index of a parameter
//! among the `param` entries is its index in the official optimiser's state), each with the
//! path of the same tensor in a [`Supernet`](crate::nn::supernet::Supernet) of this crate.

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

/// The official names of α, per cell type (normal first): the checkpoint's `alpha` list.
pub const ALPHA_NAMES: [&str; 2] = ["alpha.0", "alpha.1"];
/// This crate's paths of α, per cell type (normal first).
pub const ALPHA_PATHS: [&str; 2] = ["alphas.normal", "alphas.reduce"];

/// Collects entries under a pair of prefixes.
struct Layout {
    ours_root: &'static str,
    entries: Vec<Entry>,
}

impl Layout {
    fn push(&mut self, official: String, ours: Option<String>, param: bool, transpose: bool) {
        self.entries.push(Entry {
            official,
            ours: ours.map(|p| format!("{}.{p}", self.ours_root)),
            param,
            transpose,
        });
    }

    /// A bias-free convolution.
    fn conv(&mut self, ours: &str, official: &str) {
        self.push(
            format!("{official}.weight"),
            Some(format!("{ours}.weight")),
            true,
            false,
        );
    }

    /// `nn.BatchNorm2d`: weight and bias when affine, then the running statistics and counter.
    fn bn(&mut self, ours: &str, official: &str, affine: bool) {
        if affine {
            for (o, p) in [("weight", "gamma"), ("bias", "beta")] {
                self.push(
                    format!("{official}.{o}"),
                    Some(format!("{ours}.{p}")),
                    true,
                    false,
                );
            }
        }
        for stat in ["running_mean", "running_var"] {
            self.push(
                format!("{official}.{stat}"),
                Some(format!("{ours}.{stat}")),
                false,
                false,
            );
        }
        self.push(
            format!("{official}.num_batches_tracked"),
            None,
            false,
            false,
        );
    }

    fn linear(&mut self, ours: &str, official: &str) {
        self.push(
            format!("{official}.weight"),
            Some(format!("{ours}.weight")),
            true,
            true,
        );
        self.push(
            format!("{official}.bias"),
            Some(format!("{ours}.bias")),
            true,
            false,
        );
    }

    /// `ReLUConvBN`: `op.1` the convolution, `op.2` the BatchNorm.
    fn relu_conv_bn(&mut self, ours: &str, official: &str, affine: bool) {
        self.conv(&format!("{ours}.conv"), &format!("{official}.op.1"));
        self.bn(&format!("{ours}.bn"), &format!("{official}.op.2"), affine);
    }

    /// `FactorizedReduce`: `conv_1`, `conv_2`, `bn`.
    fn factorized_reduce(&mut self, ours: &str, official: &str) {
        self.conv(&format!("{ours}.conv_a"), &format!("{official}.conv_1"));
        self.conv(&format!("{ours}.conv_b"), &format!("{official}.conv_2"));
        self.bn(&format!("{ours}.bn"), &format!("{official}.bn"), false);
    }

    /// A depthwise-separable block (`DilConv`, or half of `SepConv`) whose layers sit at
    /// `op.{at}`, `op.{at+1}` and `op.{at+2}` of the official `nn.Sequential`.
    fn depthwise(&mut self, ours: &str, official: &str, at: usize) {
        self.conv(&format!("{ours}.depthwise"), &format!("{official}.op.{at}"));
        self.conv(
            &format!("{ours}.pointwise"),
            &format!("{official}.op.{}", at + 1),
        );
        self.bn(
            &format!("{ours}.bn"),
            &format!("{official}.op.{}", at + 2),
            false,
        );
    }

    /// One candidate operation of a search cell (affine-free BatchNorms).
    fn op(&mut self, kind: OpKind, stride: usize, family: Family, ours: &str, official: &str) {
        match kind {
            OpKind::None | OpKind::Noise => {}
            // DARTS search cells follow pooling with a BatchNorm (`nn.Sequential(pool, bn)`).
            OpKind::MaxPool3x3 | OpKind::AvgPool3x3 if family == Family::Darts => self.bn(
                &format!("{ours}.PoolBn.bn"),
                &format!("{official}.1"),
                false,
            ),
            OpKind::MaxPool3x3 | OpKind::AvgPool3x3 => {}
            OpKind::SkipConnect if stride == 1 => {}
            OpKind::SkipConnect => {
                self.factorized_reduce(&format!("{ours}.FactorizedReduce"), official)
            }
            OpKind::SepConv3x3 | OpKind::SepConv5x5 => {
                self.depthwise(&format!("{ours}.SepConv.first"), official, 1);
                self.depthwise(&format!("{ours}.SepConv.second"), official, 5);
            }
            OpKind::DilConv3x3 | OpKind::DilConv5x5 => {
                self.depthwise(&format!("{ours}.DilConv"), official, 1)
            }
            OpKind::NorConv1x1 | OpKind::NorConv3x3 => {
                self.relu_conv_bn(&format!("{ours}.ReluConvBn"), official, false)
            }
        }
    }
}

/// The official NB201 edge key (`'2<-1'`) of this crate's edge `index`.
pub fn nb201_edge_key(index: usize) -> String {
    let e = &nb201_edges()[index];
    format!("{}<-{}", e.to, e.from)
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
    let mut l = Layout {
        ours_root: "net.Nb201",
        entries: Vec::new(),
    };
    l.conv("ends.stem", "stem.0");
    l.bn("ends.stem_bn", "stem.1", true);
    for i in 0..3 * n + 2 {
        let (ours, official) = (format!("layers.{i}"), format!("cells.{i}"));
        if i == n || i == 2 * n + 1 {
            l.relu_conv_bn(
                &format!("{ours}.Res.conv_a"),
                &format!("{official}.conv_a"),
                true,
            );
            l.relu_conv_bn(
                &format!("{ours}.Res.conv_b"),
                &format!("{official}.conv_b"),
                true,
            );
            l.conv(
                &format!("{ours}.Res.shortcut"),
                &format!("{official}.downsample.1"),
            );
            continue;
        }
        for edge in nb201_edges() {
            for (o, &kind) in space.ops(CellType::Normal, edge.index).iter().enumerate() {
                l.op(
                    kind,
                    1,
                    Family::Nb201,
                    &format!("{ours}.Cell.edges.{}.ops.{o}", edge.index),
                    &format!("{official}.edges.{}.{o}", nb201_edge_key(edge.index)),
                );
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
    let mut l = Layout {
        ours_root: "net.Darts",
        entries: Vec::new(),
    };
    l.conv("stem", "stem.0");
    l.bn("stem_bn", "stem.1", true);
    let reductions = reduction_layers(layers);
    for i in 0..layers {
        let (ours, official) = (format!("cells.{i}"), format!("cells.{i}"));
        let reduction = reductions.contains(&i);
        let reduction_prev = i > 0 && reductions.contains(&(i - 1));
        if reduction_prev {
            l.factorized_reduce(
                &format!("{ours}.pre0.Reduce"),
                &format!("{official}.preprocess0"),
            );
        } else {
            l.relu_conv_bn(
                &format!("{ours}.pre0.Conv"),
                &format!("{official}.preprocess0"),
                false,
            );
        }
        l.relu_conv_bn(
            &format!("{ours}.pre1"),
            &format!("{official}.preprocess1"),
            false,
        );
        let cell = if reduction {
            CellType::Reduce
        } else {
            CellType::Normal
        };
        for edge in darts_edges() {
            let stride = if reduction && edge.from < 2 { 2 } else { 1 };
            for (o, &kind) in space.ops(cell, edge.index).iter().enumerate() {
                l.op(
                    kind,
                    stride,
                    Family::Darts,
                    &format!("{ours}.edges.{}.ops.{o}", edge.index),
                    &format!("{official}._ops.{}._ops.{o}", edge.index),
                );
            }
        }
    }
    l.linear("classifier", "classifier");
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

    #[test]
    fn nb201_edge_keys_follow_the_official_module_dict() {
        let keys: Vec<String> = (0..6).map(nb201_edge_key).collect();
        assert_eq!(keys, ["1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2"]);
    }
}
