//! Selection on a real (tiny) run: the records PT and magnitude write.

use std::process::Command;

use darts_pt::config::{Criterion, PtConfig};
use darts_pt::run::{MetricsKind, MetricsRecord, RunDir, RunReader};

use crate::common::{copy_dir, read_jsonl, selections, tiny_nb201_run};

#[test]
fn tiny_run_records_both_selections() {
    let run = RunDir::open(tiny_nb201_run()).unwrap();
    let all = selections(&run.root);
    let mag = &all["magnitude"];
    let pt = &all["pt"];
    assert!(mag.complete && pt.complete);
    // PT decided all six NB201 edges, each with one score per operation.
    assert_eq!(pt.op_decisions.len(), 6);
    for d in &pt.op_decisions {
        assert_eq!(d.acc_without.len(), 5);
        assert!(d.acc_without.iter().all(|a| (0.0..=1.0).contains(a)));
        assert_eq!(d.ops[d.chosen], d.chosen_name);
    }
    for r in [mag, pt] {
        let g = r.genotype.as_ref().unwrap();
        assert!(g.starts_with('|') && g.ends_with('|'), "{g}");
        assert!(run.genotype(&r.label).exists());
    }
}

#[test]
fn select_takes_pt_settings_from_the_run_then_a_file_then_flags_and_records_them() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    copy_dir(tiny_nb201_run(), &run);
    let searched = RunReader::local(&run).search_config().unwrap();
    let file = tmp.path().join("pt.toml");
    std::fs::write(
        &file,
        "[pt]\nproj_intv = 2\nlr = 0.001\ncriterion = \"acc\"\n",
    )
    .unwrap();
    let select = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_darts-pt"))
            .args(["select", "--run", run.to_str().unwrap(), "--method", "pt"])
            .args(["--config", file.to_str().unwrap(), "--device", "cpu"])
            .args(extra)
            .output()
            .unwrap()
    };
    // The flags win over the file, which wins over the run's own settings.
    let out = select(&["--criterion", "loss", "--tune-epochs", "1", "--seed", "4"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rec = &selections(&run)["pt-loss"];
    let used: &PtConfig = rec.settings.as_ref().expect("the settings are recorded");
    assert_eq!((used.proj_intv, used.lr), (2, 0.001), "from the file");
    assert_eq!(
        (used.criterion, used.tune_epochs, used.seed),
        (Criterion::Loss, Some(1), Some(4)),
        "from the flags"
    );
    assert_eq!(used.epsilon, searched.pt.epsilon, "from the run");
    assert_eq!(
        used.eval_batch_size, searched.batch_size,
        "resolved: the search's batch size"
    );
    assert_eq!(
        (rec.criterion, rec.seed, rec.tune_epochs),
        (Some(Criterion::Loss), 4, Some(1))
    );
    // And PT used them: its one tuning epoch (the last line) ran at the file's learning rate,
    // after the fixture's own PT tuned at the run's.
    let tune: Vec<MetricsRecord> = read_jsonl::<MetricsRecord>(&RunDir::new(&run).metrics())
        .into_iter()
        .filter(|m| m.kind == MetricsKind::Tune)
        .collect();
    let lrs: Vec<f64> = tune.iter().map(|m| m.lr).collect();
    assert_eq!(lrs.last(), Some(&0.001), "{lrs:?}");
    assert!(lrs.contains(&searched.pt.lr), "{lrs:?}");

    // A file with settings that are not PT's is refused, naming it and the key.
    std::fs::write(&file, "epochs = 3\n").unwrap();
    let out = select(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("pt.toml") && err.contains("epochs"), "{err}");
}

/// What a PT selection leaves in its run: its record (without wall-clock time), its tuned
/// supernet's checkpoint, its tuning metrics (without timing) and its decision events.
fn pt_outcome(run: &std::path::Path, label: &str) -> (serde_json::Value, String, String) {
    let mut rec = serde_json::to_value(&selections(run)[label]).unwrap();
    rec.as_object_mut().unwrap().remove("elapsed");
    let ckpt = crate::common::checkpoint_file_contents(
        &run.join(format!("selection-{label}.safetensors")),
    );
    let tune: Vec<String> = read_jsonl::<MetricsRecord>(&run.join("metrics.jsonl"))
        .into_iter()
        .filter(|m| m.kind == MetricsKind::Tune && m.label.as_deref() == Some(label))
        .map(|m| {
            format!(
                "{} {} {:?}",
                m.epoch,
                m.step,
                m.train_loss.map(f64::to_bits)
            )
        })
        .collect();
    let events = std::fs::read_to_string(run.join("events.jsonl")).unwrap();
    let decisions: Vec<&str> = events
        .lines()
        .filter(|l| l.contains(&format!("\"label\":\"{label}\"")))
        .collect();
    (
        rec,
        format!("{ckpt:?}\n{}", tune.join("\n")),
        decisions.join("\n"),
    )
}

/// PT killed by SIGKILL twice, first between tuning epochs (after its first checkpoint), then
/// inside a decision event (after a decision of the resumed process, before its next
/// checkpoint), and resumed each time, ends bit for bit where an uninterrupted PT ends, with
/// each tuning epoch and decision recorded once.
#[test]
fn pt_killed_between_and_inside_decisions_resumes_to_the_identical_selection() {
    use std::time::{Duration, Instant};
    let tmp = tempfile::tempdir().unwrap();
    let (whole, killed) = (tmp.path().join("whole"), tmp.path().join("killed"));
    copy_dir(tiny_nb201_run(), &whole);
    copy_dir(tiny_nb201_run(), &killed);
    let bin = env!("CARGO_BIN_EXE_darts-pt");
    let select = |run: &std::path::Path, resume: bool| {
        let mut c = Command::new(bin);
        c.args(["select", "--run", run.to_str().unwrap(), "--method", "pt"]);
        c.args([
            "--criterion",
            "loss",
            "--tune-epochs",
            "3",
            "--device",
            "cpu",
        ]);
        if resume {
            c.arg("--resume");
        }
        c.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        c
    };
    let label = "pt-loss";
    assert!(select(&whole, false).status().unwrap().success());

    let decisions = |run: &std::path::Path| {
        std::fs::read_to_string(run.join("events.jsonl"))
            .unwrap()
            .matches(&format!("\"label\":\"{label}\""))
            .count()
    };
    let kill_when = |mut child: std::process::Child, ready: &mut dyn FnMut() -> bool| {
        let start = Instant::now();
        while !ready() {
            assert!(
                start.elapsed() < Duration::from_secs(300),
                "PT never got there"
            );
            assert!(
                child.try_wait().unwrap().is_none(),
                "PT ended before the kill"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap();
        child.wait().unwrap();
    };
    let ckpt = killed.join(format!("selection-{label}.safetensors"));
    kill_when(select(&killed, false).spawn().unwrap(), &mut || {
        ckpt.exists()
    });
    // The resumed process first drops the decisions made after this checkpoint, then makes
    // them again: it is killed right after its first decision.
    let state = darts_pt::checkpoint::Checkpoint::load(&ckpt).unwrap().state;
    let checkpointed = state["op_decisions"].as_array().unwrap().len();
    assert!(checkpointed < 6);
    let mut rewound = false;
    kill_when(select(&killed, true).spawn().unwrap(), &mut || {
        let n = decisions(&killed);
        rewound |= n == checkpointed;
        rewound && n > checkpointed
    });
    assert!(
        !selections(&killed)[label].complete,
        "killed before the end"
    );
    assert!(select(&killed, true).status().unwrap().success());

    let (a, b) = (pt_outcome(&whole, label), pt_outcome(&killed, label));
    assert_eq!(a.0, b.0, "the selection records differ");
    assert!(a.1 == b.1, "the tuned supernets or tuning metrics differ");
    assert_eq!(a.2, b.2, "the decision events differ");
    assert_eq!(a.0["op_decisions"].as_array().unwrap().len(), 6);
}
