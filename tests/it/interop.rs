//! Supernets of the paper's official PyTorch code, imported: they must compute what the official
//! classes compute. The fixtures (`tests/fixtures/pytorch/`) were made by
//! `make_fixtures.py` with the official classes themselves: a checkpoint as the training scripts
//! save it, a batch, the official logits on it in both BatchNorm modes, the official genotype()
//! and (NB201) the official projection's scores for one edge.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::store::pytorch_reader::PytorchReader;
use burn::tensor::{Tensor, TensorData};
use darts_pt::checkpoint::Checkpoint;
use darts_pt::config::{Criterion, DataConfig, SelectMethod};
use darts_pt::device::{DeviceChoice, select};
use darts_pt::interop::import::{ImportRequest, import_pytorch};
use darts_pt::job::Control;
use darts_pt::nn::bn::BnMode;
use darts_pt::nn::supernet::{Mask, Supernet, arch_weights, weight_plans};
use darts_pt::run::RunReader;
use darts_pt::search::{load_search_data, restore_supernet};
use darts_pt::select::pt::choose_op;
use darts_pt::select::{SelectRequest, run_select};
use darts_pt::space::{CellType, SpaceId};

use crate::common::{cpu, max_abs_diff, to_vec};

const FIXTURES: [(&str, SpaceId); 3] = [
    ("nb201", SpaceId::Nb201),
    ("darts", SpaceId::Darts),
    ("s2", SpaceId::S2),
];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/pytorch/{name}"))
}

/// A CIFAR-10 binary dataset of random images, 16 per batch file: the imported supernets read
/// 3-channel images into 10 classes.
pub fn tiny_cifar(dir: &Path) -> PathBuf {
    let batches = dir.join("cifar-10-batches-bin");
    std::fs::create_dir_all(&batches).unwrap();
    let mut state = 12345u32;
    let mut byte = || {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
        (state >> 16) as u8
    };
    let names = (1..=5).map(|i| format!("data_batch_{i}.bin"));
    for name in names.chain(["test_batch.bin".to_string()]) {
        let mut bytes = Vec::new();
        for r in 0..16u8 {
            bytes.push(r % 10);
            bytes.extend((0..3072).map(|_| byte()));
        }
        std::fs::write(batches.join(name), bytes).unwrap();
    }
    dir.to_path_buf()
}

fn import(name: &str, space: SpaceId, tmp: &Path) -> PathBuf {
    let out = tmp.join(name);
    import_pytorch(&ImportRequest {
        file: fixture(&format!("{name}.pth.tar")),
        alpha_file: None,
        space,
        out: out.clone(),
        data: DataConfig {
            path: Some(tiny_cifar(&tmp.join("cifar"))),
            ..DataConfig::default()
        },
    })
    .expect("the official checkpoint imports");
    out
}

/// The imported supernet, on the CPU.
fn restore(run: &Path) -> Supernet {
    let cfg = RunReader::local(run).search_config().unwrap();
    let data = load_search_data(&cfg.data).unwrap();
    let ckpt = Checkpoint::load(&run.join("checkpoint.safetensors")).unwrap();
    restore_supernet(&cfg, data.input, &ckpt, &cpu()).unwrap().0
}

/// The fixture's expected tensors (input, target, logits, PT scores) by name.
fn expected(name: &str) -> BTreeMap<String, TensorData> {
    let reader = PytorchReader::new(fixture(&format!("{name}.expected.pt"))).unwrap();
    reader
        .into_tensors()
        .into_iter()
        .map(|(k, t)| {
            let dtype = match t.dtype() {
                burn::store::pytorch_reader::DType::I64 => burn::tensor::DType::I64,
                _ => burn::tensor::DType::F32,
            };
            let data = TensorData::from_bytes_vec(t.read().unwrap(), t.shape().to_vec(), dtype);
            (k, data)
        })
        .collect()
}

fn expected_json(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(fixture(&format!("{name}.expected.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Logits of the imported supernet on the fixture's batch, under an optional PT mask.
fn logits(
    model: &Supernet,
    x: &TensorData,
    bn: BnMode,
    mask: Option<(CellType, Mask)>,
) -> Vec<f32> {
    let space = model.alphas.normal.val().dims()[1];
    let cells = if model.alphas.reduce.is_some() { 2 } else { 1 };
    let edges = model.alphas.normal.val().dims()[0];
    let projections = vec![darts_pt::nn::supernet::CellProjection::new(edges); cells];
    let plans = weight_plans(&projections, space, mask);
    let w = arch_weights(model.probabilities(), &plans);
    let x = Tensor::<4>::from_data(x.clone(), &model.alphas.normal.val().device());
    to_vec(model.forward(x, &w, bn))
}

#[test]
fn imported_supernets_compute_the_official_logits_in_both_batchnorm_modes() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, space) in FIXTURES {
        let model = restore(&import(name, space, tmp.path()));
        let e = expected(name);
        for (bn, key) in [
            (BnMode::Eval, "logits_eval"),
            (BnMode::Batch, "logits_batch"),
        ] {
            let want = e[key].try_to_vec::<f32>().unwrap();
            let got = logits(&model, &e["input"], bn, None);
            let scale = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
            let diff = max_abs_diff(&got, &want);
            assert!(
                diff <= 1e-4 * scale,
                "{name} {key}: max |diff| {diff} (scale {scale})"
            );
        }
    }
}

#[test]
fn magnitude_selection_gives_the_official_genotype() {
    let tmp = tempfile::tempdir().unwrap();
    let device = select(&DeviceChoice::Cpu).unwrap();
    for (name, space) in FIXTURES {
        let run = import(name, space, tmp.path());
        run_select(
            &SelectRequest::new(&run, SelectMethod::Magnitude),
            &device,
            &mut |_| {},
            &Control::new(),
        )
        .expect("magnitude selection")
        .finished()
        .expect("not cancelled");
        let ours = std::fs::read_to_string(run.join("genotype-magnitude.txt")).unwrap();
        assert_eq!(ours.trim(), expected_json(name)["genotype"], "{name}");
    }
}

/// Cross-entropy and accuracy (percent) of logits `[n, classes]` against labels.
fn loss_and_acc(logits: &[f32], target: &[i64]) -> (f64, f64) {
    let classes = logits.len() / target.len();
    let (mut loss, mut correct) = (0.0f64, 0usize);
    for (row, &y) in logits.chunks(classes).zip(target) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let sum: f64 = row.iter().map(|&v| (v as f64 - max).exp()).sum();
        loss += max + sum.ln() - row[y as usize] as f64;
        let arg = (0..classes).fold(0, |b, c| if row[c] > row[b] { c } else { b });
        correct += usize::from(arg == y as usize);
    }
    let n = target.len() as f64;
    (loss / n, 100.0 * correct as f64 / n)
}

/// One PT decision on the imported NB201 supernet: masking each operation of the fixture's edge
/// in turn (this crate's masks, batch statistics) gives the official projection's accuracy and
/// loss per operation, and PT's choice is the official one under both criteria. The batch is
/// labelled by the unmasked supernet, so each mask lowers the accuracy by its own amount.
#[test]
fn a_pt_decision_matches_the_official_projection() {
    let tmp = tempfile::tempdir().unwrap();
    let model = restore(&import("nb201", SpaceId::Nb201, tmp.path()));
    let e = expected("nb201");
    let info = expected_json("nb201");
    let edge = info["pt"]["edge"].as_u64().unwrap() as usize;
    let target = e["pt_target"].try_to_vec::<i64>().unwrap();
    let (mut accs, mut losses) = (Vec::new(), Vec::new());
    for op in 0..5 {
        let mask = Some((CellType::Normal, Mask::Op { edge, op }));
        let (loss, acc) = loss_and_acc(
            &logits(&model, &e["pt_input"], BnMode::Batch, mask),
            &target,
        );
        accs.push(acc);
        losses.push(loss);
    }
    let want_loss = e["pt_loss"].try_to_vec::<f32>().unwrap();
    let want_acc = e["pt_acc"].try_to_vec::<f32>().unwrap();
    for op in 0..5 {
        assert!(
            (losses[op] - want_loss[op] as f64).abs() < 1e-4,
            "op {op}: loss {losses:?} vs {want_loss:?}"
        );
        assert!(
            (accs[op] - want_acc[op] as f64).abs() < 1e-3,
            "op {op}: acc {accs:?} vs {want_acc:?}"
        );
    }
    assert_eq!(choose_op(Criterion::Acc, &accs, &losses), info["pt"]["acc"]);
    assert_eq!(
        choose_op(Criterion::Loss, &accs, &losses),
        info["pt"]["loss"]
    );
}

/// Runs `darts-pt import pytorch ARGS` and returns (success, stderr).
fn import_cli(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_darts-pt"))
        .args(["import", "pytorch"])
        .args(args)
        .output()
        .expect("the darts-pt binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Wrong or foreign files are refused with the file and the fault, and leave no run behind.
#[test]
fn wrong_files_are_refused_clearly_and_leave_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tiny_cifar(&tmp.path().join("cifar"));
    let out = tmp.path().join("run");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let nb201 = s(&fixture("nb201.pth.tar"));
    let darts = s(&fixture("darts.pth.tar"));
    let not_torch = tmp.path().join("notes.txt");
    std::fs::write(&not_torch, "epoch 50, genotype ...\n").unwrap();
    let cases: Vec<(Vec<String>, Vec<&str>)> = vec![
        (
            vec![s(&not_torch), "--space".into(), "nb201".into()],
            vec!["notes.txt", "not a PyTorch checkpoint"],
        ),
        (
            vec![nb201.clone(), "--space".into(), "darts".into()],
            vec![
                "nb201.pth.tar",
                "holds a NAS-Bench-201 supernet, not one of space 'darts'",
            ],
        ),
        (
            vec![darts.clone(), "--space".into(), "s2".into()],
            vec![
                "darts.pth.tar",
                "the tensors do not fit space 's2' at C=4, L=3",
                "500 missing: cells.0._ops.0._ops.1.op.1.weight",
                "not in that network",
                "the file fits space 'darts': pass --space darts",
            ],
        ),
        (
            vec![
                darts.clone(),
                "--space".into(),
                "darts".into(),
                "--alpha".into(),
                nb201.clone(),
            ],
            vec!["nb201.pth.tar: α is [6, 5]; space 'darts' needs 2 of [14, 7]"],
        ),
    ];
    for (args, needles) in cases {
        let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
        let (out_s, data_s) = (s(&out), s(&data));
        all.extend(["--out", &out_s, "--data", &data_s]);
        let (ok, err) = import_cli(&all);
        assert!(!ok, "{all:?} should fail");
        assert!(!err.contains("panicked"), "{all:?} panicked:\n{err}");
        for n in needles {
            assert!(err.contains(n), "{all:?}: stderr should say {n:?}:\n{err}");
        }
        assert!(!out.exists(), "{all:?} left {} behind", out.display());
    }
    // The data must be what the supernet reads: the bundled subset has 1 channel.
    let (ok, err) = import_cli(&[&nb201, "--space", "nb201", "--out", &s(&out)]);
    assert!(!ok);
    assert!(
        err.contains("reads 3-channel images into 10 classes"),
        "{err}"
    );
    assert!(!out.exists());
    // And the right file goes in.
    let (ok, err) = import_cli(&[
        &nb201,
        "--space",
        "nb201",
        "--out",
        &s(&out),
        "--data",
        &s(&data),
    ]);
    assert!(ok, "{err}");
    assert!(out.join("checkpoint.safetensors").exists());
}

/// Runs `darts-pt ARGS` and returns stdout, asserting success.
fn cli_ok(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_darts-pt"))
        .args(args)
        .output()
        .expect("the darts-pt binary runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "darts-pt {args:?} failed:\n{err}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An imported supernet continues its search (`search --resume`, the cosine schedule where the
/// file left it), and `eval` on the held-out half with running statistics reports what the
/// search measured there at its last epoch.
#[test]
fn an_imported_run_resumes_and_eval_reads_its_supernet() {
    let tmp = tempfile::tempdir().unwrap();
    let run = import("nb201", SpaceId::Nb201, tmp.path());
    let r = run.to_str().unwrap();
    cli_ok(&["search", "--resume", r, "--device", "cpu"]);
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = metrics
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The file's epoch was 3 of T_max = 50: the first resumed epoch is the fourth (index 3).
    assert_eq!(lines[0]["epoch"], 3, "{}", lines[0]);
    let cosine = 0.001 + 0.5 * (0.025 - 0.001) * (1.0 + (std::f64::consts::PI * 3.0 / 50.0).cos());
    assert!(
        (lines[0]["lr"].as_f64().unwrap() - cosine).abs() < 1e-9,
        "{}",
        lines[0]
    );
    let last = lines.last().unwrap();
    assert_eq!(last["epoch"], 49);
    let eval = |bn: &str| -> serde_json::Value {
        let args = [
            "--split",
            "heldout",
            "--bn",
            bn,
            "--batch-size",
            "256",
            "--json",
        ];
        let mut all = vec!["eval", "--run", r, "--device", "cpu"];
        all.extend(args);
        serde_json::from_str(&cli_ok(&all)).unwrap()
    };
    let report = eval("running");
    assert_eq!(report["epoch"], 50);
    assert_eq!(report["images"], 40);
    for (ours, theirs) in [("loss", "valid_loss"), ("accuracy", "valid_acc")] {
        let (a, b) = (
            report[ours].as_f64().unwrap(),
            last[theirs].as_f64().unwrap(),
        );
        assert!((a - b).abs() < 1e-5, "{ours}: eval {a}, search {b}");
    }
    // Batch statistics give another number on the same images.
    let batch = eval("batch");
    assert_ne!(batch["loss"], report["loss"]);
}

/// Export then re-import is the identity, and the export holds exactly the official state
/// dict's names and shapes (the file the official training script saved is the reference;
/// `export_check.json` records the official classes loading it with strict=True).
#[test]
fn export_then_reimport_is_the_identity() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, space) in FIXTURES {
        let run = import(name, space, tmp.path());
        let out = tmp.path().join(format!("{name}-export"));
        let r = run.to_str().unwrap();
        cli_ok(&["export", "--run", r, "--out", out.to_str().unwrap()]);
        let official = PytorchReader::new(fixture(&format!("{name}.pth.tar"))).unwrap();
        let want: BTreeMap<String, Vec<usize>> = official
            .tensors()
            .iter()
            .filter_map(|(k, t)| {
                Some((
                    k.strip_prefix("state_dict.")?.to_string(),
                    t.shape().to_vec(),
                ))
            })
            .collect();
        let bytes = std::fs::read(out.join("supernet.safetensors")).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let got: BTreeMap<String, Vec<usize>> = st
            .tensors()
            .into_iter()
            .map(|(k, v)| (k, v.shape().to_vec()))
            .collect();
        assert_eq!(got, want, "{name}");

        let again = import_pytorch(&ImportRequest {
            file: out.join("supernet.safetensors"),
            alpha_file: Some(out.join("alpha.safetensors")),
            space,
            out: tmp.path().join(format!("{name}-again")),
            data: DataConfig {
                path: Some(tmp.path().join("cifar")),
                ..DataConfig::default()
            },
        });
        again.expect("the export imports");
        let a = Checkpoint::load(&run.join("checkpoint.safetensors"))
            .unwrap()
            .section("model");
        let b = Checkpoint::load(
            &tmp.path()
                .join(format!("{name}-again/checkpoint.safetensors")),
        )
        .unwrap()
        .section("model");
        assert_eq!(
            a.keys().collect::<Vec<_>>(),
            b.keys().collect::<Vec<_>>(),
            "{name}"
        );
        for (k, v) in &a {
            assert_eq!(v.as_bytes(), b[k].as_bytes(), "{name}: {k}");
        }
        let genotype = std::fs::read_to_string(out.join("genotype.txt")).unwrap();
        assert_eq!(genotype.trim(), expected_json(name)["genotype"], "{name}");
    }
    // A bare state dict without α imports with uniform α (the fixed-α case).
    let out = tmp.path().join("nb201-export");
    let bare = tmp.path().join("nb201-bare");
    let r = import_pytorch(&ImportRequest {
        file: out.join("supernet.safetensors"),
        alpha_file: None,
        space: SpaceId::Nb201,
        out: bare.clone(),
        data: DataConfig {
            path: Some(tmp.path().join("cifar")),
            ..DataConfig::default()
        },
    })
    .unwrap();
    assert!(!r.alpha_from_file);
    let ckpt = Checkpoint::load(&bare.join("checkpoint.safetensors")).unwrap();
    let alpha = ckpt.tensors["model.alphas.normal"]
        .try_to_vec::<f32>()
        .unwrap();
    assert!(
        alpha.len() == 30 && alpha.iter().all(|&a| a == 0.0),
        "{alpha:?}"
    );
}

/// A training run's network exports with exactly the names and shapes of the official
/// evaluation network of its genotype (`sota/cnn/model.py`'s `Network`, with its auxiliary head)
/// and of NAS-Bench-201's network: the fixture script recorded those from the official classes
/// (export_check.json, where they also loaded the export with strict=True and reproduced
/// `darts-pt eval`'s test loss).
#[test]
fn a_trained_network_exports_with_the_official_names_and_shapes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tiny_cifar(&tmp.path().join("cifar"));
    let text = std::fs::read_to_string(fixture("export_check.json")).unwrap();
    let check: serde_json::Value = serde_json::from_str(&text).unwrap();
    for name in ["network-darts", "network-nb201"] {
        let rec = &check["results"][name];
        let export = &rec["export"];
        let run = tmp.path().join(name);
        let num = |k: &str| export[k].as_u64().unwrap().to_string();
        cli_ok(&[
            "train",
            "--space",
            export["space"].as_str().unwrap(),
            "--genotype",
            export["genotype"].as_str().unwrap(),
            "--preset",
            "tiny",
            "--epochs",
            "1",
            "--channels",
            &num("channels"),
            "--layers",
            &num("layers"),
            "--data",
            data.to_str().unwrap(),
            "--out",
            run.to_str().unwrap(),
            "--device",
            "cpu",
        ]);
        let out = tmp.path().join(format!("{name}-export"));
        cli_ok(&[
            "export",
            "--run",
            run.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        let info: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("export.json")).unwrap())
                .unwrap();
        assert_eq!(info["auxiliary"], export["auxiliary"], "{name}");
        assert_eq!(info["class"], rec["class"], "{name}");
        let bytes = std::fs::read(out.join("network.safetensors")).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let got: BTreeMap<String, serde_json::Value> = st
            .tensors()
            .into_iter()
            .map(|(k, v)| (k, serde_json::json!(v.shape())))
            .collect();
        let want: BTreeMap<String, serde_json::Value> = rec["state_dict_shapes"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(got, want, "{name}");
    }
}
