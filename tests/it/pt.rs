//! PT (perturbation-based architecture selection) on constructed and real supernets: the op
//! choice against alpha's magnitude, side-effect-free scoring, fixed alpha, topology in a
//! DARTS-type space, and the consistency of the recorded NB201 decisions (spec section 3 with
//! the errata of section 9).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::OnceLock;

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};
use darts_pt::checkpoint::Checkpoint;
use darts_pt::config::{Criterion, Method, Preset, PtConfig, SearchConfig, SelectMethod};
use darts_pt::data::{self, Augment, BatchRequest, Prefetcher};
use darts_pt::device::{DeviceChoice, SelectedDevice, select};
use darts_pt::genotype::Genotype;
use darts_pt::job::{Control, End, JobOptions};
use darts_pt::nn::bn::BnMode;
use darts_pt::nn::params::named_tensors;
use darts_pt::nn::supernet::{CellProjection, Mask, Supernet, WeightPlan, weight_plans};
use darts_pt::optim::{Adam, Sgd};
use darts_pt::run::{RunDir, RunReader};
use darts_pt::search::steps::{DeviceBatch, detached_probs, weight_step};
use darts_pt::search::{
    EvalPass, PassSetup, SearchData, SearchStart, init_supernet, load_search_data,
    restore_supernet, run_search,
};
use darts_pt::select::pt::{Pt, choose_removal};
use darts_pt::select::{SelectRequest, genotype_from_projection, magnitude, run_select};
use darts_pt::space::{CellType, DARTS_NODES, SpaceId, darts_node_edges, nb201_edges};

use crate::common::{copy_dir, selections, tiny_nb201_run};

/// A pass of `model` over the held-out half under `plans`.
fn pass(
    model: &Supernet,
    plans: &[WeightPlan],
    data: &SearchData,
    setup: PassSetup<'_>,
    dev: &Device,
) -> (f64, f64) {
    let probs = detached_probs(model);
    pollster::block_on(
        EvalPass::new(model, &probs, plans, data, &data.alpha_half, setup, dev).run_paced(),
    )
}

/// A pass setup of batch statistics (PT's scoring) with `augment`.
fn scoring(batch_size: usize, augment: Option<(&Augment, u64)>) -> PassSetup<'_> {
    PassSetup {
        batch_size,
        augment,
        bn: BnMode::Batch,
        prefetch: true,
    }
}

fn cpu_device() -> SelectedDevice {
    select(&DeviceChoice::Cpu).expect("the cpu device")
}

/// Index of the first minimum (strict `<`), written out independently of the library.
fn first_min(values: &[f64]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v < values[best] {
            best = i;
        }
    }
    best
}

/// Every tensor of a module as raw bits, by path.
fn snapshot(model: &Supernet) -> BTreeMap<String, Vec<u32>> {
    named_tensors(model)
        .into_iter()
        .map(|(k, v)| (k, bits(&v)))
        .collect()
}

/// The alpha tensors of a named-tensor map, as raw bits.
fn alpha_bits(tensors: &BTreeMap<String, TensorData>) -> BTreeMap<String, Vec<u32>> {
    tensors
        .iter()
        .filter(|(k, _)| k.contains("alphas"))
        .map(|(k, v)| (k.clone(), bits(v)))
        .collect()
}

/// An f32 tensor's values as raw bits, for exact comparisons.
fn bits(t: &TensorData) -> Vec<u32> {
    t.try_to_vec::<f32>()
        .expect("f32 tensor")
        .into_iter()
        .map(f32::to_bits)
        .collect()
}

/// Host copy of softmax(alpha) per cell type.
fn probs_host(model: &Supernet) -> Vec<Vec<Vec<f32>>> {
    darts_pt::search::probabilities_host(model)
}

// ---------------------------------------------------------------------------------------------
// 1. A constructed supernet whose accuracy hangs on one operation of one edge.

/// NB201 edge 3 is `3<-0`, the direct path from the cell input to the cell output.
const DECISIVE_EDGE: usize = 3;
/// `nor_conv_3x3` in NB201's op order (none, skip, conv1x1, conv3x3, avg_pool).
const CONV3: usize = 3;

/// alpha for the constructed case: every edge is pure `none` (softmax exactly 1 on `none`,
/// exactly 0 elsewhere) except edge 3, where `none` gets 0.73 and `nor_conv_3x3` 0.27. The cell
/// output is therefore `0.27 * conv3x3(input)`: the only path that carries signal.
fn decisive_alpha() -> Vec<f32> {
    let mut a = vec![-1e4f32; 6 * 5];
    for e in 0..6 {
        a[e * 5] = 0.0;
    }
    a[DECISIVE_EDGE * 5] = 1.0;
    a[DECISIVE_EDGE * 5 + CONV3] = 0.0;
    a
}

#[test]
fn pt_keeps_the_decisive_op_that_magnitude_drops() {
    let mut cfg = SearchConfig::preset(SpaceId::Nb201, Method::Darts, Preset::Tiny);
    cfg.data.train_images = Some(1000);
    // Score on a fixed order without augmentation, so the numbers below are reproducible.
    cfg.pt.augment_eval = false;
    cfg.pt.eval_batch_size = 250;
    let space = cfg.space.space();
    let data = load_search_data(&cfg.data).unwrap();
    let dev = Device::flex();
    let train_dev = dev.clone().autodiff();
    let mut model = init_supernet(&cfg, data.input, &dev);
    model.alphas.normal = Param::from_tensor(Tensor::<2>::from_data(
        TensorData::new(decisive_alpha(), [6, 5]),
        &train_dev,
    ));
    let probs = probs_host(&model);
    let w = &probs[0];
    for (e, row) in w.iter().enumerate() {
        let nonzero: Vec<usize> = (0..5).filter(|&o| row[o] != 0.0).collect();
        let expected = if e == DECISIVE_EDGE {
            vec![0, CONV3]
        } else {
            vec![0]
        };
        assert_eq!(nonzero, expected, "softmax row of edge {e}: {row:?}");
    }
    assert!(w[DECISIVE_EDGE][0] > 2.0 * w[DECISIVE_EDGE][CONV3]);

    // Train the weights under exactly these mixing weights. Zero-weight ops are inactive in the
    // plan, which skips them (same output as the full plan, a fraction of the compute).
    let plan = WeightPlan {
        keep: vec![vec![1.0; 5]; 6],
        fixed: vec![vec![0.0; 5]; 6],
        active: w
            .iter()
            .map(|row| row.iter().map(|&p| p != 0.0).collect())
            .collect(),
        identity: false,
    };
    let mut sgd = Sgd::new(0.9, 3e-4);
    let n_w = data.weight_half.len();
    for epoch in 0..3u64 {
        let order = data::epoch_permutation(n_w, 17 + epoch);
        let requests: Vec<BatchRequest> = order
            .chunks(50)
            .map(|c| BatchRequest {
                indices: c.iter().map(|&p| data.weight_half[p as usize]).collect(),
                augment: Augment::none(),
                seed: 0,
            })
            .collect();
        for batch in Prefetcher::new(data.train.clone(), data.normalize.clone(), requests) {
            let b = DeviceBatch::new(&batch, &train_dev);
            let probs = detached_probs(&model);
            weight_step(
                &mut model,
                &mut sgd,
                0.05,
                5.0,
                &b,
                probs,
                std::slice::from_ref(&plan),
            );
        }
    }
    let free = [CellProjection::new(6)];
    let score = |model: &Supernet, mask: Option<Mask>| {
        let plans = weight_plans(&free, 5, mask.map(|m| (CellType::Normal, m)));
        pass(model, &plans, &data, scoring(250, None), &dev).1
    };
    let base = score(&model, None);
    assert!(
        base > 0.4,
        "the constructed supernet should have learned something: held-out accuracy {base}"
    );

    // Alpha's magnitude (NB201: per-edge argmax, `none` allowed) keeps `none` on edge 3.
    let (mag, _) = magnitude::derive(&probs, &space);
    let Genotype::Nb201(mag_cell) = &mag else {
        panic!("an NB201 genotype: {mag}")
    };
    assert_eq!(mag_cell.ops[DECISIVE_EDGE].name(), "none", "{mag}");

    // PT itself: all six decisions at epoch 0 (one tuning epoch in all), scored on the alpha half.
    let tmp = tempfile::tempdir().unwrap();
    let run = RunDir::create(&tmp.path().join("constructed"), "test").unwrap();
    let adam = Adam::new(
        cfg.alpha.beta1,
        cfg.alpha.beta2,
        cfg.alpha.eps,
        cfg.alpha.weight_decay,
    );
    let settings = PtConfig {
        criterion: Criterion::Acc,
        proj_intv: 1,
        tune_epochs: Some(1),
        seed: Some(5),
        eval_batch_size: 250,
        ..cfg.pt.clone()
    };
    let pt = Pt {
        cfg: cfg.clone(),
        space: space.clone(),
        data: data.clone(),
        device: dev.clone(),
        settings,
        run,
        label: "pt".into(),
        model,
        adam,
    };
    let job = pt.into_job(None, JobOptions::default()).unwrap();
    let End::Finished((_, state)) = job.run(&Control::new(), &mut |_| {}).unwrap() else {
        panic!("PT did not finish");
    };
    assert_eq!(state.op_decisions.len(), 6);
    let d = state
        .op_decisions
        .iter()
        .find(|d| d.edge == DECISIVE_EDGE)
        .expect("edge 3 decided");
    assert_eq!(d.ops[CONV3], "nor_conv_3x3");
    // Removing the conv leaves the cell output zero: constant logits, chance-level accuracy.
    assert!(
        d.acc_without[CONV3] < 0.2 && base - d.acc_without[CONV3] > 0.2,
        "removing the decisive op: {:?} (base {base})",
        d.acc_without
    );
    // Removing anything else changes nothing: those entries are zero or `none`.
    for (o, a) in d.acc_without.iter().enumerate() {
        if o != CONV3 {
            assert!((a - base).abs() < 1e-9, "op {o}: {a} vs base {base}");
        }
    }
    assert_eq!(d.chosen, CONV3, "{d:?}");
    assert_eq!(d.chosen_name, "nor_conv_3x3");
    // The other edges do not matter: every mask scores the same and the first minimum
    // (`none`, index 0) wins the tie.
    for d in state
        .op_decisions
        .iter()
        .filter(|d| d.edge != DECISIVE_EDGE)
    {
        let first = d.acc_without[0];
        assert!(
            d.acc_without.iter().all(|a| (a - first).abs() < 1e-9),
            "edge {}: {:?}",
            d.edge,
            d.acc_without
        );
        assert_eq!(d.chosen, 0, "edge {}", d.edge);
    }
    let pt = genotype_from_projection(&space, &state.projections).unwrap();
    assert_eq!(
        pt.to_string(),
        "|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|"
    );
    assert_eq!(
        mag.to_string(),
        "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    );
    assert_ne!(pt, mag, "magnitude and PT must disagree on edge 3");
}

// ---------------------------------------------------------------------------------------------
// 2. Scoring leaves the supernet exactly as it was.

/// Several PT scoring passes (with and without masks, with the training augmentation as PT
/// uses by default) on a restored supernet; returns the losses.
fn scoring_passes(
    model: &Supernet,
    data: &SearchData,
    projections: &[CellProjection],
    masks: &[(CellType, Mask)],
    dev: &Device,
) -> Vec<f64> {
    let ops = model.probabilities()[0].dims()[1];
    let probs = detached_probs(model);
    let mut losses = Vec::new();
    for (k, mask) in std::iter::once(None)
        .chain(masks.iter().copied().map(Some))
        .enumerate()
    {
        let plans = weight_plans(projections, ops, mask);
        let setup = scoring(64, Some((&data.augment, 1000 + k as u64)));
        let (loss, acc) = pollster::block_on(
            EvalPass::new(model, &probs, &plans, data, &data.alpha_half, setup, dev).run_paced(),
        );
        assert!(loss.is_finite() && (0.0..=1.0).contains(&acc));
        losses.push(loss);
    }
    losses
}

fn restore(run: &Path) -> (SearchConfig, SearchData, Supernet, Device) {
    let cfg = RunReader::local(run).search_config().unwrap();
    let run = RunDir::open(run).unwrap();
    let data = load_search_data(&cfg.data).unwrap();
    let ckpt = Checkpoint::load(&run.checkpoint()).unwrap();
    let dev = Device::flex();
    let (model, _, _) = restore_supernet(&cfg, data.input, &ckpt, &dev).unwrap();
    (cfg, data, model, dev)
}

#[test]
fn scoring_passes_leave_weights_and_running_stats_bit_identical() {
    for (name, run) in [("nb201", tiny_nb201_run()), ("darts", tiny_darts_run())] {
        let (cfg, data, model, dev) = restore(run);
        let space = cfg.space.space();
        let before = snapshot(&model);
        let stats: Vec<&String> = before
            .keys()
            .filter(|k| k.ends_with("running_mean") || k.ends_with("running_var"))
            .collect();
        assert!(stats.len() > 10, "{name}: BatchNorm statistics are tracked");
        // The search trained the statistics away from their initial 0 / 1.
        assert!(
            before
                .iter()
                .filter(|(k, _)| k.ends_with("running_mean"))
                .any(|(_, v)| v.iter().any(|&b| f32::from_bits(b) != 0.0)),
            "{name}: running means moved during search"
        );
        let cells = space.cell_types();
        let projections = vec![CellProjection::new(space.num_edges()); cells.len()];
        let mut masks = Vec::new();
        for cell in cells {
            masks.push((*cell, Mask::Op { edge: 0, op: 1 }));
            masks.push((*cell, Mask::Op { edge: 4, op: 2 }));
            masks.push((*cell, Mask::Edge { edge: 5 }));
        }
        let losses = scoring_passes(&model, &data, &projections, &masks, &dev);
        let after = snapshot(&model);
        assert_eq!(before.len(), after.len());
        for (k, v) in &before {
            assert!(
                after[k] == *v,
                "{name}: scoring changed tensor {k} (a weight or a running statistic)"
            );
        }
        // Not vacuous: the passes used batch statistics (eval mode gives another loss) and the
        // masks changed what was measured.
        let plans = weight_plans(&projections, space.num_ops(), None);
        let setup = PassSetup {
            bn: BnMode::Eval,
            ..scoring(64, Some((&data.augment, 1000)))
        };
        let (eval_loss, _) = pass(&model, &plans, &data, setup, &dev);
        assert!(
            (eval_loss - losses[0]).abs() > 1e-6,
            "{name}: batch-statistics loss {} equals the running-statistics loss {eval_loss}",
            losses[0]
        );
        assert!(
            losses[1..].iter().any(|l| (l - losses[0]).abs() > 1e-6),
            "{name}: masks changed nothing: {losses:?}"
        );
        // And the statistics still are what the checkpoint holds.
        assert_eq!(snapshot(&model), before);
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Fixed alpha: PT never touches alpha.

#[test]
fn fixed_alpha_pt_never_changes_alpha() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    copy_dir(tiny_nb201_run(), &dir);
    let run = RunDir::open(&dir).unwrap();
    let searched = alpha_bits(
        &Checkpoint::load(&run.checkpoint())
            .unwrap()
            .section("model"),
    );
    assert!(!searched.is_empty(), "the checkpoint holds alpha");

    // The contrast: the fixture's ordinary PT (2 tuning epochs, alpha trained while edges were
    // undecided) did move alpha, so the comparison below can see a change.
    let ordinary = run.selection_checkpoint("pt");
    assert!(ordinary.exists(), "the fixture's PT checkpoint");
    let tuned = alpha_bits(&Checkpoint::load(&ordinary).unwrap().section("model"));
    assert_eq!(
        tuned.keys().collect::<Vec<_>>(),
        searched.keys().collect::<Vec<_>>()
    );
    assert_ne!(tuned, searched, "ordinary PT updates alpha while tuning");

    let mut req = SelectRequest::new(&dir, SelectMethod::Pt);
    (req.pt.fixed_alpha, req.pt.tune_epochs) = (Some(true), Some(2));
    let outcome = run_select(&req, &cpu_device(), &mut |_| {}, &Control::new())
        .unwrap()
        .finished()
        .expect("not cancelled");
    assert!(outcome.record.fixed_alpha && outcome.record.complete);
    assert_eq!(outcome.record.label, "pt-fixed-alpha");
    let model = outcome.model.expect("PT returns its supernet");
    let after = alpha_bits(&named_tensors(&model));
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        searched.keys().collect::<Vec<_>>()
    );
    assert_eq!(after, searched, "fixed-alpha PT changed alpha");
    // PT's own checkpoint holds the same alpha; the weights did get tuned.
    let saved = Checkpoint::load(&run.selection_checkpoint("pt-fixed-alpha")).unwrap();
    assert_eq!(alpha_bits(&saved.section("model")), searched);
    let weights_before = Checkpoint::load(&run.checkpoint())
        .unwrap()
        .section("model");
    let weights_after = named_tensors(&model);
    assert_eq!(
        weights_before.keys().collect::<Vec<_>>(),
        weights_after.keys().collect::<Vec<_>>()
    );
    assert!(
        weights_before.iter().any(|(k, v)| !k.contains("alphas")
            && v.try_to_vec::<f32>().unwrap() != weights_after[k].try_to_vec::<f32>().unwrap()),
        "PT's tuning epochs trained the weights"
    );
}

// ---------------------------------------------------------------------------------------------
// 4. Topology in a DARTS-type space.

/// A tiny DARTS-space run (7 ops, no `none`): one search epoch on 32 images, then PT with one
/// tuning epoch (every decision at epoch 0). Built once per process.
fn tiny_darts_run() -> &'static Path {
    static RUN: OnceLock<(tempfile::TempDir, std::path::PathBuf)> = OnceLock::new();
    let (_, path) = RUN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("darts-tiny");
        let mut cfg = SearchConfig::preset(SpaceId::Darts, Method::Darts, Preset::Tiny);
        cfg.epochs = 1;
        // Three cells (reductions at cells 1 and 2) and 16 held-out images keep the ~290
        // scoring passes cheap; ties in accuracy are frequent, which exercises the tie rules.
        cfg.layers = 3;
        cfg.data.train_images = Some(32);
        cfg.batch_size = 16;
        cfg.eval_each_epoch = false;
        let device = cpu_device();
        let control = Control::new();
        let start = SearchStart::New {
            config: Box::new(cfg),
            dir: out.clone(),
        };
        run_search(start, &device, &mut |_| {}, &control).expect("tiny search");
        let mut req = SelectRequest::new(&out, SelectMethod::Pt);
        req.pt.tune_epochs = Some(1);
        run_select(&req, &device, &mut |_| {}, &control)
            .expect("PT selection")
            .finished()
            .expect("not cancelled");
        (dir, out)
    });
    path
}

#[test]
fn darts_space_pt_keeps_two_distinct_inputs_per_node_and_records_every_decision() {
    let run = RunDir::open(tiny_darts_run()).unwrap();
    let space = SpaceId::Darts.space();
    let all = selections(&run.root);
    let r = &all["pt"];
    assert!(r.complete);
    let cells = ["normal", "reduce"];

    // Every edge of both cell types got exactly one operation decision.
    assert_eq!(r.op_decisions.len(), 2 * 14);
    assert_each_cell_covers(&r.op_decisions, |d| (&d.cell, d.edge), (0..14).collect());
    for d in &r.op_decisions {
        assert_eq!(d.acc_without.len(), 7);
        assert_eq!(d.loss_without.len(), 7);
        assert_eq!(d.chosen, first_min(&d.acc_without), "{d:?}");
        assert_eq!(d.ops[d.chosen], d.chosen_name);
        assert!(d.acc_before.is_finite() && d.acc_after.is_finite());
    }

    // Topology: nodes 1..3 of each cell type, once each, striking edges until two remain.
    assert_eq!(r.topology_decisions.len(), 2 * 3);
    assert_each_cell_covers(
        &r.topology_decisions,
        |t| (&t.cell, t.node),
        (1..4).collect(),
    );
    for t in &r.topology_decisions {
        let inputs: Vec<usize> = darts_node_edges(t.node).collect();
        assert_eq!(t.rounds.len(), inputs.len() - 2, "{t:?}");
        let mut remaining = inputs.clone();
        for round in &t.rounds {
            assert_eq!(round.candidates, remaining);
            assert_eq!(round.acc_without.len(), remaining.len());
            // The edge whose removal hurts least goes; ties go to the later edge.
            let i = choose_removal(Criterion::Acc, &round.acc_without, &round.loss_without);
            let best = round.acc_without.iter().copied().fold(f64::MIN, f64::max);
            assert_eq!(round.acc_without[i], best);
            assert!(round.acc_without[i + 1..].iter().all(|a| *a < best));
            assert_eq!(round.removed, remaining[i]);
            remaining.remove(i);
        }
        assert_eq!(t.kept, remaining);
        assert_eq!(t.kept.len(), 2);
    }

    // The final weights: per node exactly two edges, each a one-hot row; all others zero.
    assert_eq!(r.weights.len(), 2);
    for (ci, w) in r.weights.iter().enumerate() {
        for node in 0..DARTS_NODES {
            let mut live = Vec::new();
            for e in darts_node_edges(node) {
                let ones = w[e].iter().filter(|&&x| x == 1.0).count();
                let zeros = w[e].iter().filter(|&&x| x == 0.0).count();
                assert_eq!(ones + zeros, 7, "{} edge {e}: {:?}", cells[ci], w[e]);
                assert!(ones <= 1);
                if ones == 1 {
                    live.push(e);
                }
            }
            assert_eq!(live.len(), 2, "{} node {node}: {live:?}", cells[ci]);
            if node > 0 {
                let t = r
                    .topology_decisions
                    .iter()
                    .find(|t| t.cell == cells[ci] && t.node == node)
                    .unwrap();
                assert_eq!(t.kept, live);
            }
            for &e in &live {
                let d = r
                    .op_decisions
                    .iter()
                    .find(|d| d.cell == cells[ci] && d.edge == e)
                    .unwrap();
                assert_eq!(w[e][d.chosen], 1.0);
            }
        }
    }

    // The genotype parses, validates against the space, and has two distinct inputs per node.
    let text = r.genotype.as_ref().expect("a genotype");
    let g = Genotype::parse(text).unwrap();
    g.validate(&space).unwrap();
    assert_eq!(Some(&g), r.genotype_json.as_ref());
    let Genotype::Darts(d) = &g else {
        panic!("a DARTS genotype: {g}")
    };
    for cell in [CellType::Normal, CellType::Reduce] {
        let genes = d.genes(cell);
        assert_eq!(genes.len(), 8);
        for node in 0..DARTS_NODES {
            let (a, b) = (genes[2 * node].input, genes[2 * node + 1].input);
            assert_ne!(a, b, "{cell} node {node}: {g}");
            assert!(a <= node + 1 && b <= node + 1);
        }
    }
    assert_eq!(
        std::fs::read_to_string(run.genotype("pt")).unwrap().trim(),
        text
    );
}

// ---------------------------------------------------------------------------------------------
// 5. The NB201 fixture's selection record.

#[test]
fn nb201_selection_has_one_op_per_edge_consistent_with_its_scores() {
    let run = RunDir::open(tiny_nb201_run()).unwrap();
    let all = selections(&run.root);
    let r = &all["pt"];
    assert!(r.complete);
    let g = Genotype::parse(r.genotype.as_ref().unwrap()).unwrap();
    g.validate(&SpaceId::Nb201.space()).unwrap();
    let Genotype::Nb201(cell) = &g else {
        panic!("an NB201 genotype: {g}")
    };
    // One weight row per edge, each one-hot on the chosen op.
    let w = &r.weights[0];
    assert_eq!(w.len(), 6);
    let edges: BTreeSet<usize> = r.op_decisions.iter().map(|d| d.edge).collect();
    assert_eq!(edges, (0..6).collect());
    assert_eq!(r.op_decisions.len(), 6);
    for d in &r.op_decisions {
        let row = &w[d.edge];
        assert_eq!(row.iter().filter(|&&x| x == 1.0).count(), 1, "{row:?}");
        assert_eq!(row.iter().filter(|&&x| x == 0.0).count(), 4, "{row:?}");
        assert_eq!(row[d.chosen], 1.0);
        // Accuracy criterion: the kept op is the one whose removal gives the lowest accuracy,
        // the first one on ties (spec 3.2).
        assert_eq!(d.chosen, first_min(&d.acc_without), "{d:?}");
        let min = d.acc_without[d.chosen];
        assert!(d.acc_without[..d.chosen].iter().all(|a| *a > min));
        assert!(d.acc_without.iter().all(|a| *a >= min));
        assert_eq!(cell.ops[d.edge].name(), d.chosen_name);
        let e = nb201_edges()[d.edge];
        assert_eq!((d.from, d.to), (e.from, e.to));
        assert_eq!(d.ops[d.chosen], d.chosen_name);
    }
    // Decisions were made one edge per event, in the seeded random order, before the tuning
    // epochs ran out (2 tuning epochs: one decision at epoch 0, the rest at the last epoch).
    assert!(r.op_decisions.iter().all(|d| d.epoch <= 1));
    assert_eq!(r.op_decisions.iter().filter(|d| d.epoch == 0).count(), 1);
    // The magnitude record of the same supernet: per-edge argmax of softmax(alpha).
    let mag = &all["magnitude"];
    let Some(Genotype::Nb201(mcell)) = &mag.genotype_json else {
        panic!("magnitude genotype")
    };
    for (e, row) in mag.weights[0].iter().enumerate() {
        let mut best = 0;
        for o in 1..row.len() {
            if row[o] > row[best] {
                best = o;
            }
        }
        assert_eq!(
            mcell.ops[e],
            SpaceId::Nb201.space().ops(CellType::Normal, e)[best]
        );
    }
}

/// Asserts that, in both DARTS cell types, the decisions' keys (edges, nodes) are exactly `want`.
fn assert_each_cell_covers<T>(
    decisions: &[T],
    cell_and_key: impl Fn(&T) -> (&String, usize),
    want: BTreeSet<usize>,
) {
    for cell in ["normal", "reduce"] {
        let keys: BTreeSet<usize> = decisions
            .iter()
            .map(&cell_and_key)
            .filter(|(c, _)| c.as_str() == cell)
            .map(|(_, k)| k)
            .collect();
        assert_eq!(keys, want, "{cell} cell");
    }
}
