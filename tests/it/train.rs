//! Final training: a tiny retrain that really learns, exact resume after SIGKILL and after a
//! mid-epoch interruption, the defining properties of drop path and of the auxiliary head, and
//! the genotype sources of `train`.

use std::path::Path;
use std::process::{Command, Stdio};

use burn::module::Module;
use burn::tensor::{Tensor, TensorData};
use darts_pt::checkpoint::Checkpoint;
use darts_pt::config::Preset;
use darts_pt::config::TrainConfig;
use darts_pt::device::{DeviceChoice, SelectedDevice, select};
use darts_pt::genotype::Genotype;
use darts_pt::job::{Control, End, Event, JobOptions};
use darts_pt::nn::InputShape;
use darts_pt::nn::bn::BnMode;
use darts_pt::nn::darts_eval::{DartsNetwork, EvalForward, drop_path};
use darts_pt::optim::{GradSet, Sgd};
use darts_pt::run::{MetricsKind, RunReader, RunState, TrainRecord, TrainResult};
use darts_pt::search::steps::cross_entropy;
use darts_pt::space::SpaceId;
use darts_pt::train::source::resolve_genotype;
use darts_pt::train::{
    TrainNetwork, TrainStart, eval_run, evaluate, load_train_data, run_train, train_job,
};

use crate::common::{
    checkpoint_contents, cpu, random_input, read_jsonl, selections, status, tiny_nb201_run, to_vec,
};

/// NAS-Bench-201's best CIFAR-10 cell.
const NB201_CELL: &str = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|";

/// A cell of the S2 space (skip_connect and sep_conv_3x3 only).
const S2_CELL: &str = "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('sep_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('skip_connect', 2), ('sep_conv_3x3', 1), ('skip_connect', 2), ('sep_conv_3x3', 0), ('skip_connect', 2), ('sep_conv_3x3', 0)], reduce_concat=[2, 3, 4, 5])";

fn cpu_device() -> SelectedDevice {
    select(&DeviceChoice::Cpu).unwrap()
}

fn tiny(space: SpaceId, genotype: &str) -> TrainConfig {
    let mut c = TrainConfig::preset(space, Preset::Tiny);
    c.genotype = genotype.into();
    c.device = DeviceChoice::Cpu;
    c
}

fn finished(end: End<TrainResult>) -> TrainResult {
    match end {
        End::Finished(r) => r,
        other => panic!("training did not finish: {other:?}"),
    }
}

#[test]
fn tiny_retrain_on_the_bundled_data_is_far_above_chance() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nb201");
    let mut cfg = tiny(SpaceId::Nb201, NB201_CELL);
    cfg.epochs = 3;
    let device = cpu_device();
    let start = TrainStart::New {
        config: Box::new(cfg),
        dir: out.clone(),
    };
    let r = finished(run_train(start, &device, &mut |_| {}, &Control::new()).unwrap());
    eprintln!(
        "tiny NB201 retrain (C=8 N=1, 3 epochs on 2000 images): test accuracy {:.2}% (best {:.2}%) on {} test images",
        100.0 * r.final_test_acc,
        100.0 * r.best_test_acc,
        r.test_images
    );
    // Ten balanced classes: chance is 10%.
    assert!(r.final_test_acc > 0.5, "{r:?}");
    assert_eq!((r.train_images, r.test_images, r.epochs), (2000, 2000, 3));
    // One epoch record per epoch, each tested; the best is the maximum of them.
    let epochs: Vec<TrainRecord> = read_jsonl::<TrainRecord>(&out.join("metrics.jsonl"))
        .into_iter()
        .filter(|m| m.kind == MetricsKind::Epoch)
        .collect();
    assert_eq!(epochs.len(), 3);
    let accs: Vec<f64> = epochs.iter().map(|m| m.test_acc.unwrap()).collect();
    assert_eq!(accs[2], r.final_test_acc);
    assert_eq!(accs.iter().cloned().fold(0.0, f64::max), r.best_test_acc);
    assert!(
        epochs.iter().all(|m| m.aux_loss.is_none()),
        "NB201 has no auxiliary head"
    );
    // The learning rate follows the cosine from 0.1.
    assert_eq!(epochs[0].lr, 0.1);
    assert!((epochs[1].lr - 0.075).abs() < 1e-12);
    let read = RunReader::local(&out).result().unwrap();
    assert_eq!(
        (read.final_test_acc, read.best_epoch, read.params),
        (r.final_test_acc, 3, r.params)
    );
    assert_eq!(status(&out).state, RunState::Finished);
    // `eval` re-evaluates the checkpoint to the same figure.
    let e = eval_run(&out, None, &device).unwrap();
    assert_eq!(
        (e.test_acc, e.epoch, e.params),
        (r.final_test_acc, 3, r.params)
    );
}

/// The metrics lines without the timing fields.
fn metrics_without_timing(run: &Path) -> Vec<TrainRecord> {
    read_jsonl::<TrainRecord>(&run.join("metrics.jsonl"))
        .into_iter()
        .map(|mut m| {
            m.elapsed = 0.0;
            m.images_per_sec = 0.0;
            m
        })
        .collect()
}

fn result_without_timing(run: &Path) -> TrainResult {
    let mut r = RunReader::local(run).result().expect("result.json");
    r.elapsed = 0.0;
    r
}

fn assert_same_run(a: &Path, b: &Path) {
    let (ta, sa) = checkpoint_contents(a);
    let (tb, sb) = checkpoint_contents(b);
    assert_eq!(ta.len(), tb.len());
    for ((ka, va), (kb, vb)) in ta.iter().zip(&tb) {
        assert_eq!(ka, kb);
        assert!(va == vb, "tensor {ka} differs after resuming");
    }
    assert_eq!(sa, sb);
    assert_eq!(metrics_without_timing(a), metrics_without_timing(b));
    assert_eq!(result_without_timing(a), result_without_timing(b));
}

/// `train` arguments for a tiny S2 run into `out`: the DARTS network with its auxiliary head
/// and drop path (nonzero from epoch 2 on), so the resumed epochs depend on re-seeded masks.
fn tiny_s2_args(out: &Path, images: usize, epochs: usize) -> Vec<String> {
    let mut args: Vec<String> = ["train", "--space", "s2", "--genotype", S2_CELL]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for (k, v) in [
        ("--preset", "tiny".to_string()),
        ("--train-images", images.to_string()),
        ("--epochs", epochs.to_string()),
        ("--log-every", "1".to_string()),
        ("--device", "cpu".to_string()),
        ("--out", out.display().to_string()),
    ] {
        args.push(k.into());
        args.push(v);
    }
    args
}

fn resume(out: &Path) -> String {
    let bin = env!("CARGO_BIN_EXE_darts-pt");
    let o = Command::new(bin)
        .args([
            "train",
            "--resume",
            &out.display().to_string(),
            "--device",
            "cpu",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{text}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("final test accuracy"));
    text
}

#[test]
fn train_killed_after_an_epoch_resumes_to_the_identical_result() {
    if let Some(dir) = std::env::var_os(KILL_DIR) {
        train_until_killed(dir.into());
    }
    let bin = env!("CARGO_BIN_EXE_darts-pt");
    let dir = tempfile::tempdir().unwrap();
    let (whole, killed) = (dir.path().join("whole"), dir.path().join("killed"));
    // Separate processes: the device's random numbers are process-wide, so runs that must
    // match bit for bit do not share a process with other tests.
    let o = Command::new(bin)
        .args(tiny_s2_args(&whole, 300, 3))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // The same run, driven step by step by this test in a process of its own, which it
    // SIGKILLs right after the checkpoint of epoch 1: a crash at a known point.
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "train::train_killed_after_an_epoch_resumes_to_the_identical_result",
            "--exact",
            "--nocapture",
        ])
        .env(KILL_DIR, &killed)
        .output()
        .unwrap();
    {
        use std::os::unix::process::ExitStatusExt;
        let text = String::from_utf8_lossy(&child.stderr);
        assert_eq!(child.status.signal(), Some(9), "{:?}: {text}", child.status);
    }
    let st = status(&killed);
    assert_eq!((st.state, st.epoch), (RunState::Running, 1));
    assert!(RunReader::local(&killed).result().is_none());

    let text = resume(&killed);
    assert!(text.contains("resuming at epoch 1/3"), "{text}");
    assert_same_run(&whole, &killed);
    // The auxiliary loss was part of training.
    let m = metrics_without_timing(&killed);
    assert!(
        m.iter()
            .filter(|r| r.kind == MetricsKind::Epoch)
            .all(|r| r.aux_loss.is_some())
    );
}

/// Where the test above, run as its own child, writes the run it kills.
const KILL_DIR: &str = "DARTS_PT_TEST_KILL_DIR";

/// The child's part of the test above: the tiny S2 training with the settings `train`
/// resolves from `tiny_s2_args`, stepped until the checkpoint of epoch 1 is written (the same
/// step marks the run as running), then SIGKILLed: no handler runs, nothing more is written.
fn train_until_killed(dir: std::path::PathBuf) -> ! {
    let mut cfg = tiny(
        SpaceId::S2,
        &S2_CELL.parse::<Genotype>().unwrap().to_string(),
    );
    cfg.genotype_source = "text".into();
    (cfg.epochs, cfg.log_every, cfg.data.train_images) = (3, 1, Some(300));
    let start = TrainStart::New {
        config: Box::new(cfg),
        dir,
    };
    let mut job = train_job(start, &cpu_device(), JobOptions::default()).unwrap();
    loop {
        let end = job.step();
        for e in job.take_events() {
            if let Event::Checkpoint { epoch: 1, .. } = e {
                unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
            }
        }
        assert!(end.is_none(), "the run ended before epoch 1's checkpoint");
    }
}

#[test]
fn train_interrupted_mid_epoch_resumes_to_the_identical_result() {
    let bin = env!("CARGO_BIN_EXE_darts-pt");
    let dir = tempfile::tempdir().unwrap();
    let (whole, cut) = (dir.path().join("whole"), dir.path().join("cut"));
    // 10 steps of 96 per epoch.
    let o = Command::new(bin)
        .args(tiny_s2_args(&whole, 960, 2))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut child = Command::new(bin)
        .args(tiny_s2_args(&cut, 960, 2))
        .stderr(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Ctrl-C (SIGINT) once the second epoch has logged its first step.
    let metrics = cut.join("metrics.jsonl");
    let started = std::time::Instant::now();
    while !read_jsonl::<TrainRecord>(&metrics)
        .iter()
        .any(|m| m.epoch == 1 && m.kind == MetricsKind::Step)
    {
        assert!(
            started.elapsed().as_secs() < 600,
            "the run never reached epoch 2"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let st = status(&cut);
    assert_eq!((st.state, st.epoch), (RunState::Interrupted, 1));
    let state = Checkpoint::load(&cut.join("checkpoint.safetensors"))
        .unwrap()
        .state;
    let step = state["step"].as_u64().unwrap();
    assert!((1..10).contains(&step), "stopped mid-epoch, at step {step}");
    let text = resume(&cut);
    assert!(text.contains("resuming at epoch 1/2"), "{text}");
    assert_same_run(&whole, &cut);
}

#[test]
fn drop_path_zeroes_whole_samples_and_scales_kept_ones_by_one_over_keep_prob() {
    let dev = cpu();
    dev.seed(7);
    let x: Tensor<4> = Tensor::ones([4000, 2, 3, 3], &dev);
    assert_eq!(to_vec(drop_path(x.clone(), 0.0)), to_vec(x.clone()));
    let y = to_vec(drop_path(x, 0.25));
    let mut kept = 0;
    for sample in y.chunks(18) {
        let v = sample[0];
        assert!(
            sample.iter().all(|&s| s == v),
            "a sample is dropped or kept whole"
        );
        if v != 0.0 {
            assert!(
                (v - 1.0 / 0.75).abs() < 1e-6,
                "kept paths are scaled by 1/keep_prob: {v}"
            );
            kept += 1;
        }
    }
    // 4000 Bernoulli(0.75) draws: 3000 +- 27 (one standard deviation).
    assert!((2880..=3120).contains(&kept), "{kept} kept");
}

fn tiny_darts_net(seed: u64) -> DartsNetwork {
    let dev = cpu().autodiff();
    dev.seed(seed);
    let Genotype::Darts(g) = S2_CELL.parse::<Genotype>().unwrap() else {
        unreachable!()
    };
    let input = InputShape {
        channels: 1,
        size: 28,
        classes: 10,
    };
    DartsNetwork::new(&g, 4, 3, true, input, &dev)
}

#[test]
fn drop_path_is_off_in_evaluation_and_the_only_randomness_in_training() {
    let net = tiny_darts_net(1);
    let dev = cpu().autodiff();
    let x = random_input([6, 1, 28, 28], 3, &dev);
    let logits = |f: EvalForward, seed: u64| {
        dev.seed(seed);
        to_vec(net.forward(x.clone(), f).0)
    };
    // Evaluation: the same output whatever the random state.
    assert_eq!(
        logits(EvalForward::eval(), 1),
        logits(EvalForward::eval(), 2)
    );
    assert_eq!(EvalForward::eval().drop_prob, 0.0);
    // Batch statistics without drop path: deterministic too; with drop path: seed-dependent.
    let no_drop = EvalForward {
        bn: BnMode::Batch,
        drop_prob: 0.0,
        auxiliary: false,
    };
    let drop = EvalForward {
        drop_prob: 0.5,
        ..no_drop
    };
    assert_eq!(logits(no_drop, 1), logits(no_drop, 2));
    assert_ne!(logits(drop, 1), logits(drop, 2));
}

#[test]
fn the_auxiliary_head_learns_only_from_its_loss_and_is_unused_at_test_time() {
    let net = tiny_darts_net(1);
    let dev = cpu().autodiff();
    let x = random_input([8, 1, 28, 28], 5, &dev);
    let y = Tensor::<1, burn::tensor::Int>::from_data(
        TensorData::new(vec![0i64, 1, 2, 3, 4, 5, 6, 7], [8]),
        &dev,
    );
    assert!(net.forward(x.clone(), EvalForward::eval()).1.is_none());
    // The head's parameters that receive a gradient from a loss of (logits, aux logits).
    let aux_grads = |loss: &dyn Fn(Tensor<2>, Tensor<2>) -> Tensor<1>| -> Vec<String> {
        let (logits, aux) = net.forward(x.clone(), EvalForward::train(0.0));
        let aux = aux.expect("training computes the auxiliary logits");
        let g = GradSet::from_backward(&net, &loss(logits, aux).backward());
        g.grads
            .keys()
            .filter(|k| k.starts_with("aux"))
            .cloned()
            .collect()
    };
    let main = |logits: Tensor<2>, _aux: Tensor<2>| cross_entropy(logits, y.clone());
    assert!(
        aux_grads(&main).is_empty(),
        "the main loss does not reach the head"
    );
    let total = |logits: Tensor<2>, aux: Tensor<2>| {
        cross_entropy(logits, y.clone()).add(cross_entropy(aux, y.clone()).mul_scalar(0.4))
    };
    assert!(
        aux_grads(&total).len() >= 5,
        "the weighted auxiliary loss trains the head"
    );

    // Test accuracy does not depend on the head at all: swap in another head's weights.
    let cfg = {
        let mut c = tiny(SpaceId::S2, S2_CELL);
        c.data.train_images = Some(10);
        c
    };
    let data = load_train_data(&cfg).unwrap();
    let test = std::sync::Arc::new(data.test.subset(&(0..300).collect::<Vec<u32>>()));
    let inner = cpu();
    let other = tiny_darts_net(2);
    let mut swapped = net.clone();
    swapped.aux = other.aux.clone();
    assert_ne!(
        to_vec(net.aux.as_ref().unwrap().conv1.weight.val()),
        to_vec(swapped.aux.as_ref().unwrap().conv1.weight.val())
    );
    let a = evaluate(
        &TrainNetwork::Darts(net),
        &test,
        &data.normalize,
        64,
        &inner,
    );
    let b = evaluate(
        &TrainNetwork::Darts(swapped),
        &test,
        &data.normalize,
        64,
        &inner,
    );
    assert_eq!(a, b);
    // The evaluation network has no head when its loss has no weight.
    let mut no_aux = cfg.clone();
    no_aux.auxiliary_weight = 0.0;
    let TrainNetwork::Darts(n) = TrainNetwork::new(&no_aux, data.input, &inner).unwrap() else {
        unreachable!()
    };
    assert!(n.aux.is_none());
}

#[test]
fn nesterov_sgd_takes_pytorchs_steps() {
    let dev = cpu().autodiff();
    let lin = burn::nn::LinearConfig::new(1, 1)
        .with_bias(false)
        .init(&dev);
    let w0 = to_vec(lin.weight.val())[0] as f64;
    let (lr, mu, wd) = (0.1, 0.9, 0.01);
    let grads = |g: f32| GradSet {
        grads: [("weight".to_string(), Tensor::<1>::from_floats([g], &cpu()))]
            .into_iter()
            .collect(),
    };
    let mut sgd = Sgd::new(mu, wd).with_nesterov(true);
    let lin = sgd.step(lin, &grads(0.5), lr);
    let lin = sgd.step(lin, &grads(-0.25), lr);
    // torch.optim.SGD(nesterov=True): d = g + wd*w; buf = mu*buf + d (buf = d at first);
    // w -= lr * (d + mu*buf).
    let d1 = 0.5 + wd * w0;
    let buf1 = d1;
    let w1 = w0 - lr * (d1 + mu * buf1);
    let d2 = -0.25 + wd * w1;
    let buf2 = mu * buf1 + d2;
    let w2 = w1 - lr * (d2 + mu * buf2);
    let got = to_vec(lin.weight.val())[0] as f64;
    assert!((got - w2).abs() < 1e-6, "{got} vs {w2}");
    // Without Nesterov the same gradients take plain momentum steps.
    let mut plain = Sgd::new(mu, wd);
    let lin = burn::nn::LinearConfig::new(1, 1)
        .with_bias(false)
        .init(&dev);
    let lin = lin.map(&mut SetWeight(w0 as f32));
    let lin = plain.step(lin, &grads(0.5), lr);
    let got = to_vec(lin.weight.val())[0] as f64;
    assert!((got - (w0 - lr * d1)).abs() < 1e-6);
}

/// Sets every float parameter of a module to one value.
struct SetWeight(f32);

impl burn::module::ModuleMapper for SetWeight {
    fn map_float<const D: usize>(
        &mut self,
        param: burn::module::Param<Tensor<D>>,
    ) -> burn::module::Param<Tensor<D>> {
        let v = self.0;
        param.map(|t| t.ones_like().mul_scalar(v).require_grad())
    }
}

#[test]
fn a_search_run_a_file_or_the_text_is_a_genotype_source() {
    let run = tiny_nb201_run();
    let records = selections(run);
    for label in ["pt", "magnitude"] {
        let r = resolve_genotype(run.to_str().unwrap(), label).unwrap();
        assert_eq!(r.space, Some(SpaceId::Nb201));
        assert_eq!(Some(&r.genotype), records[label].genotype_json.as_ref());
        assert!(
            r.source.contains(&format!("selection {label}")),
            "{}",
            r.source
        );
    }
    let err = resolve_genotype(run.to_str().unwrap(), "sgas")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no selection labelled 'sgas'") && err.contains("magnitude, pt"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cell.txt");
    std::fs::write(&file, format!("{NB201_CELL}\n")).unwrap();
    let r = resolve_genotype(file.to_str().unwrap(), "pt").unwrap();
    assert_eq!(r.genotype.to_string(), NB201_CELL);
    assert_eq!(r.source, file.display().to_string());
    assert_eq!(resolve_genotype(NB201_CELL, "pt").unwrap().source, "text");
    let err = resolve_genotype("|nor_conv_9x9~0|+|", "pt").unwrap_err();
    assert!(format!("{err:#}").contains("nor_conv_9x9"), "{err:#}");
}

#[test]
fn the_cli_refuses_a_mismatched_space_and_eval_refuses_a_search_run() {
    let bin = env!("CARGO_BIN_EXE_darts-pt");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    let o = Command::new(bin)
        .args([
            "train",
            "--space",
            "darts",
            "--genotype",
            NB201_CELL,
            "--device",
            "cpu",
        ])
        .args(["--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("NAS-Bench-201 cell but the space darts"),
        "{err}"
    );
    assert!(!out.exists(), "nothing is written for a refused run");
    // A search run's directory names its space: a contradicting --space is refused.
    let o = Command::new(bin)
        .args([
            "train",
            "--space",
            "s3",
            "--genotype",
            tiny_nb201_run().to_str().unwrap(),
        ])
        .args(["--device", "cpu", "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("contradicts the run"), "{err}");
    let err = eval_run(tiny_nb201_run(), None, &cpu_device()).unwrap_err();
    assert!(format!("{err:#}").contains("not a training run"), "{err:#}");
}
