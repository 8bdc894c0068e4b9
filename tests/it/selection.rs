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
