//! Networks against independent facts: published parameter counts, output shapes, and the
//! invariants selection relies on.

use std::collections::BTreeMap;

use burn::module::Module;
use burn::tensor::{Tensor, TensorData};
use darts_pt::genotype::{DartsGenotype, Genotype, Nb201Genotype};
use darts_pt::nn::InputShape;
use darts_pt::nn::bn::BnMode;
use darts_pt::nn::darts_eval::{DartsNetwork, EvalForward};
use darts_pt::nn::mixed::{CellWeights, MixedOp};
use darts_pt::nn::nb201::{Nb201Network, Nb201Supernet};
use darts_pt::nn::ops::Op;
use darts_pt::nn::params::{count_params, load_named, named_tensors};
use darts_pt::nn::supernet::{
    CellProjection, Supernet, SupernetConfig, WeightPlan, arch_weights, weight_plans,
};
use darts_pt::space::{Family, NB201_OPS, OpKind, SpaceId};

use crate::common::{cpu, max_abs_diff, random_input, to_vec};

const DARTS_V2: &str = "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";

/// darts-pt's released DARTS-space genotypes and the parameter counts (M) printed beside them.
const DARTS_PT_S5: [(&str, f64); 4] = [
    (
        "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_5x5', 0), ('dil_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 2), ('skip_connect', 0), ('max_pool_3x3', 4)], normal_concat=range(2, 6), reduce=[('sep_conv_3x3', 0), ('avg_pool_3x3', 1), ('dil_conv_5x5', 1), ('dil_conv_3x3', 2), ('avg_pool_3x3', 0), ('max_pool_3x3', 2), ('sep_conv_3x3', 2), ('skip_connect', 4)], reduce_concat=range(2, 6))",
        2.85,
    ),
    (
        "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('dil_conv_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 0), ('dil_conv_3x3', 4)], normal_concat=range(2, 6), reduce=[('dil_conv_5x5', 0), ('avg_pool_3x3', 1), ('max_pool_3x3', 0), ('sep_conv_5x5', 2), ('max_pool_3x3', 1), ('dil_conv_3x3', 3), ('sep_conv_5x5', 0), ('sep_conv_3x3', 4)], reduce_concat=range(2, 6))",
        3.05,
    ),
    (
        "Genotype(normal=[('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('dil_conv_3x3', 1), ('skip_connect', 2), ('dil_conv_3x3', 3), ('max_pool_3x3', 1), ('skip_connect', 2)], normal_concat=range(2, 6), reduce=[('avg_pool_3x3', 0), ('max_pool_3x3', 1), ('avg_pool_3x3', 0), ('sep_conv_3x3', 1), ('dil_conv_5x5', 2), ('skip_connect', 3), ('sep_conv_3x3', 2), ('sep_conv_5x5', 4)], reduce_concat=range(2, 6))",
        2.66,
    ),
    (
        "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 2), ('sep_conv_3x3', 1), ('skip_connect', 3)], normal_concat=range(2, 6), reduce=[('avg_pool_3x3', 0), ('sep_conv_5x5', 1), ('max_pool_3x3', 1), ('skip_connect', 2), ('dil_conv_5x5', 1), ('max_pool_3x3', 3), ('sep_conv_5x5', 2), ('skip_connect', 3)], reduce_concat=range(2, 6))",
        3.33,
    ),
];

fn darts(text: &str) -> DartsGenotype {
    match text.parse::<Genotype>().expect("published genotype parses") {
        Genotype::Darts(g) => g,
        other => panic!("expected a DARTS genotype, got {other}"),
    }
}

fn nb201(text: &str) -> Nb201Genotype {
    match text.parse::<Genotype>().expect("arch string parses") {
        Genotype::Nb201(g) => g,
        other => panic!("expected an NB201 genotype, got {other}"),
    }
}

#[test]
fn darts_v2_has_exactly_the_published_parameter_count() {
    let net = DartsNetwork::new(&darts(DARTS_V2), 36, 20, true, InputShape::CIFAR10, &cpu());
    assert_eq!(count_params(&net, Some("aux")), 3_349_342);
    assert!(
        count_params(&net, None) > 3_349_342,
        "the auxiliary head adds parameters"
    );
}

#[test]
fn released_darts_pt_genotypes_match_their_published_sizes() {
    for (text, millions) in DARTS_PT_S5 {
        let net = DartsNetwork::new(&darts(text), 36, 20, true, InputShape::CIFAR10, &cpu());
        let m = count_params(&net, Some("aux")) as f64 / 1e6;
        assert!(
            (m - millions).abs() < 0.005,
            "{m:.4} M, published {millions} M"
        );
    }
}

#[test]
fn darts_search_supernet_has_exactly_1_930_618_parameters() {
    for space in [SpaceId::Darts, SpaceId::Darts8] {
        let net = Supernet::new(&SupernetConfig::paper(space), &cpu());
        assert_eq!(count_params(&net.net, None), 1_930_618, "{space}");
        assert_eq!(
            count_params(&net.alphas, None),
            2 * 14 * space.space().num_ops()
        );
    }
}

#[test]
fn nb201_networks_match_the_benchmark_sizes() {
    let skip = nb201(
        "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
    );
    let conv = nb201(
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    );
    let count = |g| {
        count_params(
            &Nb201Network::new(g, 16, 5, InputShape::CIFAR10, &cpu()),
            None,
        )
    };
    assert_eq!(count(&skip), 73_306);
    assert_eq!(count(&conv), 1_531_546);
}

const SHAPES: [InputShape; 2] = [
    InputShape::CIFAR10,
    InputShape {
        channels: 1,
        size: 28,
        classes: 10,
    },
];

#[test]
fn supernets_map_batches_to_logits_for_every_space_and_input() {
    let device = cpu();
    for space in SpaceId::ALL {
        for input in SHAPES {
            let (channels, layers) = match space.family() {
                Family::Darts => (4, 5),
                Family::Nb201 => (4, 1),
            };
            let config = SupernetConfig {
                space,
                channels,
                layers,
                input,
            };
            let net = Supernet::new(&config, &device);
            let s = space.space();
            let projections = vec![CellProjection::new(s.num_edges()); s.cell_types().len()];
            let plans = weight_plans(&projections, s.num_ops(), None);
            let w = arch_weights(net.probabilities(), &plans);
            let x = random_input([2, input.channels, input.size, input.size], 1, &device);
            let y = net.forward(x, &w, BnMode::Train);
            assert_eq!(y.dims(), [2, 10], "{space} on {input:?}");
            assert!(to_vec(y).iter().all(|v| v.is_finite()));
        }
    }
}

#[test]
fn discrete_networks_map_batches_to_logits() {
    let device = cpu();
    for input in SHAPES {
        let net = DartsNetwork::new(&darts(DARTS_V2), 8, 5, true, input, &device);
        let x = random_input([2, input.channels, input.size, input.size], 2, &device);
        let (y, aux) = net.forward(x.clone(), EvalForward::train(0.2));
        assert_eq!(y.dims(), [2, 10]);
        assert_eq!(aux.expect("aux logits in training").dims(), [2, 10]);
        let (y, aux) = net.forward(x.clone(), EvalForward::eval());
        assert_eq!(y.dims(), [2, 10]);
        assert!(aux.is_none(), "no auxiliary logits in evaluation");

        let g = nb201(
            "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|none~2|",
        );
        let net = Nb201Network::new(&g, 4, 1, input, &device);
        assert_eq!(net.forward(x, BnMode::Train).dims(), [2, 10]);
    }
}

/// The running mean of every BatchNorm of `op`, flattened.
fn bn_running_means(op: &Op) -> Vec<f32> {
    named_tensors(op)
        .into_iter()
        .filter(|(k, _)| k.ends_with("running_mean"))
        .flat_map(|(_, v)| v.try_to_vec::<f32>().unwrap())
        .collect()
}

#[test]
fn a_zero_weight_operation_changes_nothing_and_does_not_run() {
    let device = cpu();
    let ops: Vec<Op> = [OpKind::SkipConnect, OpKind::SepConv3x3, OpKind::AvgPool3x3]
        .iter()
        .map(|&k| Op::new(k, Family::Darts, 4, 1, true, &device))
        .collect();
    let mixed = MixedOp { ops };
    let x = random_input([2, 4, 8, 8], 3, &device);
    let weights = Tensor::<2>::from_data(TensorData::new(vec![0.3f32, 0.0, 0.7], [1, 3]), &device);
    let with_zero = CellWeights::new(weights.clone(), &[vec![true, true, true]]);
    let skipped = CellWeights::new(weights, &[vec![true, false, true]]);

    let before = bn_running_means(&mixed.ops[1]);
    let y_skipped = to_vec(
        mixed
            .forward(x.clone(), &skipped.scalars[0], BnMode::Train)
            .unwrap(),
    );
    assert_eq!(
        before,
        bn_running_means(&mixed.ops[1]),
        "a skipped op must not run its BatchNorms"
    );

    let y_zero = to_vec(
        mixed
            .forward(x, &with_zero.scalars[0], BnMode::Train)
            .unwrap(),
    );
    assert_ne!(
        before,
        bn_running_means(&mixed.ops[1]),
        "an executed op updates its BatchNorms"
    );
    assert!(
        max_abs_diff(&y_skipped, &y_zero) < 1e-6,
        "a zero weight contributes nothing"
    );
}

#[test]
fn masking_an_operation_does_not_renormalise_the_others() {
    let device = cpu();
    let probs = Tensor::<2>::from_data(
        TensorData::new(vec![0.1f32, 0.2, 0.3, 0.4, 0.25, 0.25, 0.25, 0.25], [2, 4]),
        &device,
    );
    let proj = CellProjection::new(2);
    let plan = WeightPlan::new(
        &proj,
        4,
        Some(darts_pt::nn::supernet::Mask::Op { edge: 0, op: 2 }),
    );
    let w = to_vec(plan.matrix(probs));
    assert_eq!(w, vec![0.1, 0.2, 0.0, 0.4, 0.25, 0.25, 0.25, 0.25]);
    assert!(!plan.active[0][2] && plan.active[0][3]);
}

/// Copies the supernet's weights of each chosen operation into the discrete network.
fn share_weights(supernet: &Nb201Supernet, net: Nb201Network, g: &Nb201Genotype) -> Nb201Network {
    let source = named_tensors(supernet);
    let own = named_tensors(&net);
    let mut mapped = BTreeMap::new();
    for path in own.keys() {
        let parts: Vec<&str> = path.split('.').collect();
        let from = match parts.iter().position(|p| *p == "edges") {
            Some(i) => {
                let edge: usize = parts[i + 1].parse().unwrap();
                let op = NB201_OPS.iter().position(|o| *o == g.ops[edge]).unwrap();
                let mut p = parts[..i + 2].to_vec();
                let op = op.to_string();
                p.push("ops");
                p.push(&op);
                p.extend(&parts[i + 2..]);
                p.join(".")
            }
            None => path.clone(),
        };
        // The supernet's BatchNorms are affine-free: keep the network's gamma = 1, beta = 0.
        let data = match source.get(&from) {
            Some(d) => d,
            None if path.ends_with("gamma") || path.ends_with("beta") => &own[path],
            None => panic!("supernet has no tensor {from}"),
        };
        mapped.insert(path.clone(), data.clone());
    }
    load_named(net, &mapped).expect("shapes match")
}

#[test]
fn one_hot_nb201_supernet_equals_the_discrete_network_it_projects_to() {
    let device = cpu();
    let input = InputShape {
        channels: 1,
        size: 12,
        classes: 10,
    };
    let space = SpaceId::Nb201.space();
    let supernet = Nb201Supernet::new(&space, 4, 2, input, &device);
    let g = nb201(
        "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|",
    );
    let net = share_weights(&supernet, Nb201Network::new(&g, 4, 2, input, &device), &g);

    let mut proj = CellProjection::new(6);
    for (e, op) in g.ops.iter().enumerate() {
        proj.decided[e] = Some(NB201_OPS.iter().position(|o| o == op).unwrap());
    }
    let plan = WeightPlan::new(&proj, 5, None);
    let alpha = Tensor::<2>::zeros([6, 5], &device);
    let w = plan.weights(burn::tensor::activation::softmax(alpha, 1));

    let x = random_input([4, 1, 12, 12], 4, &device);
    let a = to_vec(supernet.forward(x.clone(), &w, BnMode::Batch));
    let b = to_vec(net.forward(x, BnMode::Batch));
    assert!(
        max_abs_diff(&a, &b) < 1e-4,
        "supernet {a:?} vs network {b:?}"
    );
}

/// A mixed op folds its weight into an operation's last BatchNorm; that must equal
/// multiplying the output by the weight, in value and in the gradients of the input and of the
/// weight, whether or not the weight is tracked, in every BatchNorm mode.
#[test]
fn a_weight_folded_into_batchnorm_equals_scaling_its_output() {
    let device = cpu().autodiff();
    for kind in [OpKind::NorConv3x3, OpKind::SepConv3x3, OpKind::MaxPool3x3] {
        let family = if kind == OpKind::NorConv3x3 {
            Family::Nb201
        } else {
            Family::Darts
        };
        let op = Op::new(kind, family, 4, 1, true, &device);
        for mode in [BnMode::Batch, BnMode::Train, BnMode::Eval] {
            for tracked in [false, true] {
                for frozen in [false, true] {
                    let op = if frozen {
                        op.clone().no_grad()
                    } else {
                        op.clone()
                    };
                    let x = random_input([3, 4, 6, 6], 5, &device);
                    let x = if frozen { x } else { x.require_grad() };
                    let scalar = || {
                        let w = Tensor::<4>::from_data(
                            TensorData::new(vec![0.37f32], [1, 1, 1, 1]),
                            &device,
                        );
                        if tracked { w.require_grad() } else { w }
                    };
                    let probe = random_input([3, 4, 6, 6], 6, &device);
                    let (w1, w2) = (scalar(), scalar());
                    let folded = op.forward_weighted(&x, &mut None, mode, &w1);
                    let scaled = op.forward(x.clone(), mode).mul(w2.clone());
                    let case = format!("{kind:?} {mode:?} tracked {tracked} frozen {frozen}");
                    let (a, b) = (to_vec(folded.clone()), to_vec(scaled.clone()));
                    assert!(max_abs_diff(&a, &b) < 1e-5, "{case}: outputs differ");
                    if frozen && !tracked {
                        continue;
                    }
                    let ga = folded.mul(probe.clone()).sum().backward();
                    let gb = scaled.mul(probe).sum().backward();
                    if !frozen {
                        let dxa = to_vec(x.grad(&ga).unwrap());
                        let dxb = to_vec(x.grad(&gb).unwrap());
                        let d = max_abs_diff(&dxa, &dxb);
                        assert!(d < 1e-5, "{case}: input gradients differ by {d}");
                    }
                    if tracked {
                        let (da, db) =
                            (to_vec(w1.grad(&ga).unwrap()), to_vec(w2.grad(&gb).unwrap()));
                        assert!(
                            (da[0] - db[0]).abs() < 1e-4 * db[0].abs().max(1.0),
                            "{case}: weight gradients {da:?} vs {db:?}"
                        );
                    }
                }
            }
        }
    }
}
