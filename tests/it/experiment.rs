//! The PT-vs-magnitude experiment: a real tiny run end to end, re-running it, and the report's
//! table and chart.

use darts_pt::config::{DataConfig, Preset};
use darts_pt::device::{DeviceChoice, select};
use darts_pt::experiment::report::{Row, collect, csv, head_to_head, mean_sd};
use darts_pt::experiment::{
    Arm, ExperimentRequest, Plan, Searcher, chart, read_timings, run_experiment, search_dir,
    train_dir,
};
use darts_pt::job::Control;
use darts_pt::run::RunReader;
use darts_pt::space::SpaceId;

use crate::common::selections;

#[test]
fn tiny_experiment_reports_every_arm_and_a_rerun_skips_finished_phases() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("exp");
    let mut plan = Plan::new(SpaceId::Nb201, Preset::Tiny, DataConfig::default(), &[]).unwrap();
    // Smaller than the tiny preset: this checks the phases and the report, not the numbers.
    (plan.search.channels, plan.search.epochs) = (4, 2);
    plan.search.data.train_images = Some(400);
    plan.search.pt.tune_epochs = Some(2);
    (plan.train.channels, plan.train.epochs) = (4, 1);
    plan.train.data.train_images = Some(1000);
    let req = ExperimentRequest {
        out: out.clone(),
        plan: plan.clone(),
        seeds: vec![5],
        table: None,
        report_only: false,
        command: "darts-pt experiment pt-vs-magnitude --space nb201 --seeds 5 --preset tiny".into(),
    };
    let device = select(&DeviceChoice::Cpu).unwrap();
    let report = run_experiment(&req, std::slice::from_ref(&device), &Control::new())
        .unwrap()
        .expect("not interrupted");
    assert_eq!(report, out.join("report.md"));

    // Every arm selected its cell from the right supernet and was retrained with the same
    // budget; the rows carry exactly those records.
    let rows = collect(&out, &[5], &plan).unwrap();
    assert_eq!(rows.len(), 3);
    for (row, arm) in rows.iter().zip(plan.arms()) {
        assert_eq!((row.seed, row.arm), (5, arm));
        let sel = &selections(&search_dir(&out, 5, arm.searcher()))[arm.selection_label()];
        assert_eq!(sel.search_method, arm.searcher().method().to_string());
        assert_eq!(Some(&row.genotype), sel.genotype.as_ref());
        assert_eq!(row.supernet_acc, sel.supernet_acc_after);
        let trained = RunReader::local(&train_dir(&out, 5, arm)).result().unwrap();
        assert_eq!(trained.genotype, row.genotype);
        assert_eq!(trained.epochs, plan.train.epochs);
        assert_eq!(row.test_acc, Some(trained.final_test_acc));
        assert_eq!(row.params, Some(trained.params));
    }
    assert!(selections(&search_dir(&out, 5, Arm::Pt.searcher())).contains_key("magnitude"));
    let md = std::fs::read_to_string(&report).unwrap();
    for arm in plan.arms() {
        assert!(
            md.contains(&format!("| nb201 | 5 | {} |", arm.name())),
            "{md}"
        );
    }
    assert!(md.contains(&req.command));
    let table = std::fs::read_to_string(out.join("report.csv")).unwrap();
    assert_eq!(table.lines().count(), 4);
    let png = image::open(out.join("report.png")).unwrap();
    assert_eq!((png.width(), png.height()), (chart::WIDTH, chart::HEIGHT));
    let timings = read_timings(&out);
    assert_eq!(timings.len(), 8, "{timings:?}");
    assert!(
        timings.values().all(|t| t.wall > 0.0 && t.cpu > 0.0),
        "{timings:?}"
    );

    // Re-running the same command runs nothing again.
    let before =
        std::fs::read_to_string(train_dir(&out, 5, Arm::Pt).join("metrics.jsonl")).unwrap();
    run_experiment(&req, std::slice::from_ref(&device), &Control::new())
        .unwrap()
        .unwrap();
    assert_eq!(read_timings(&out), timings);
    let after = std::fs::read_to_string(train_dir(&out, 5, Arm::Pt).join("metrics.jsonl")).unwrap();
    assert_eq!(before, after);

    // Other methods with the same sizes reuse what is there: fixed alpha alone runs nothing
    // new and reports its one arm.
    let mut fewer = req.clone();
    fewer.plan.methods = vec![darts_pt::config::Method::FixedAlpha];
    run_experiment(&fewer, std::slice::from_ref(&device), &Control::new())
        .unwrap()
        .unwrap();
    assert_eq!(read_timings(&out), timings);
    let table = std::fs::read_to_string(out.join("report.csv")).unwrap();
    assert_eq!(table.lines().count(), 2, "{table}");
    assert!(table.contains(",pt-fixed-alpha,"), "{table}");

    // Other settings in the same directory are refused, naming it.
    let mut other = req.clone();
    other.plan.train.epochs += 1;
    let err = run_experiment(&other, std::slice::from_ref(&device), &Control::new())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("other settings") && err.contains(&out.display().to_string()),
        "{err}"
    );
}

fn row(seed: u64, arm: Arm, acc: f64) -> Row {
    Row {
        space: "nb201".into(),
        seed,
        arm,
        genotype: "|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|".into(),
        normal_skips: Some(1),
        supernet_acc: Some(0.5),
        test_acc: Some(acc),
        best_test_acc: Some(acc),
        params: Some(1000),
        nb201_cifar10: None,
    }
}

#[test]
fn summary_statistics_and_csv() {
    let rows = vec![
        row(0, Arm::Magnitude, 0.80),
        row(0, Arm::Pt, 0.85),
        row(1, Arm::Magnitude, 0.82),
        row(1, Arm::Pt, 0.82),
        row(2, Arm::Magnitude, 0.90),
        row(2, Arm::Pt, 0.84),
    ];
    assert_eq!(head_to_head(&rows, Arm::Pt, Arm::Magnitude), (1, 1, 3));
    assert_eq!(
        head_to_head(&rows, Arm::PtFixedAlpha, Arm::Magnitude),
        (0, 0, 0)
    );
    let (m, sd) = mean_sd(&[0.80, 0.82, 0.90]).unwrap();
    assert!((m - 0.84).abs() < 1e-12);
    assert!((sd - 0.052915).abs() < 1e-5, "{sd}");
    assert_eq!(mean_sd(&[]), None);
    let text = csv(&rows[..1]);
    let mut lines = text.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("space,seed,method,genotype,")
    );
    assert_eq!(
        lines.next().unwrap(),
        "nb201,0,magnitude,|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|,1,0.500000,0.800000,0.800000,1000,"
    );
    // A DARTS genotype has commas and quotes: the field is quoted.
    let mut darts = row(0, Arm::Pt, 0.9);
    darts.genotype = "Genotype(normal=[('skip_connect', 0)], \"note\")".into();
    let text = csv(&[darts.clone()]);
    assert!(text.contains(",\"Genotype(normal=[('skip_connect', 0)], \"\"note\"\")\","));
    // ... and a CSV reader gets every field back.
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let record = reader.records().next().unwrap().unwrap();
    assert_eq!((record.len(), &record[3]), (10, darts.genotype.as_str()));
}

#[test]
fn the_chart_draws_one_bar_per_method_and_seed_with_its_height() {
    let rows = vec![
        row(0, Arm::Magnitude, 0.80),
        row(0, Arm::Pt, 0.85),
        row(0, Arm::PtFixedAlpha, 0.83),
        row(1, Arm::Magnitude, 0.82),
        row(1, Arm::Pt, 0.86),
        row(1, Arm::PtFixedAlpha, 0.84),
    ];
    let font = ab_glyph::FontRef::try_from_slice(epaint_default_fonts::UBUNTU_LIGHT).unwrap();
    let img = chart::render("test", &rows, &font);
    let arms = [Arm::Magnitude, Arm::Pt, Arm::PtFixedAlpha];
    // Count, per method, the columns of the bar panel holding its colour and the topmost row
    // it reaches (above the axis: the legend is below).
    let mut columns = [0usize; 3];
    let mut tops = [u32::MAX; 3];
    for (i, arm) in arms.iter().enumerate() {
        let c = chart::colour(*arm);
        for x in 0..chart::SPLIT {
            let ys: Vec<u32> = (0..chart::PLOT_BOTTOM)
                .filter(|&y| img.get_pixel(x, y).0 == c)
                .collect();
            if let Some(&top) = ys.first() {
                columns[i] += 1;
                tops[i] = tops[i].min(top);
            }
        }
    }
    // Three groups (two seeds and the mean), so three bars' worth of columns per method.
    assert!(columns.iter().all(|&c| c > 0), "{columns:?}");
    assert!(columns.iter().all(|&c| c == columns[0]), "{columns:?}");
    // Higher accuracy, higher bar: PT (86%) above fixed-alpha PT (84%) above magnitude (82%).
    assert!(tops[1] < tops[2] && tops[2] < tops[0], "{tops:?}");
    // No colour of a method without rows.
    let sgas = chart::colour(Arm::SgasPt);
    assert!(img.pixels().all(|p| p.0 != sgas));
}

#[test]
fn the_scatter_puts_cells_with_more_skip_connections_right_and_worse_ones_lower() {
    let mut collapsed = row(0, Arm::Magnitude, 0.70);
    collapsed.normal_skips = Some(7);
    let mut healthy = row(0, Arm::Pt, 0.86);
    healthy.normal_skips = Some(1);
    let font = ab_glyph::FontRef::try_from_slice(epaint_default_fonts::UBUNTU_LIGHT).unwrap();
    let img = chart::render("test", &[collapsed, healthy], &font);
    // The centre of each method's pixels in the scatter panel, above the axis.
    let centre = |arm: Arm| {
        let c = chart::colour(arm);
        let pts: Vec<(u32, u32)> = (chart::SPLIT..img.width())
            .flat_map(|x| (0..chart::PLOT_BOTTOM).map(move |y| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0 == c)
            .collect();
        assert!(!pts.is_empty(), "no point for {arm:?}");
        let n = pts.len() as u32;
        (
            pts.iter().map(|p| p.0).sum::<u32>() / n,
            pts.iter().map(|p| p.1).sum::<u32>() / n,
        )
    };
    let (m, p) = (centre(Arm::Magnitude), centre(Arm::Pt));
    assert!(m.0 > p.0 + 100, "7 skips right of 1: {m:?} {p:?}");
    assert!(m.1 > p.1 + 50, "70% below 86%: {m:?} {p:?}");
}

/// Where the test below, run as its own child, runs the experiment.
const EXPERIMENT_DIR: &str = "DARTS_PT_TEST_EXPERIMENT_DIR";

/// The experiment of the test below, with a two-epoch retraining so that every phase has a
/// checkpoint to be killed after.
fn small_experiment(out: &std::path::Path) -> ExperimentRequest {
    let mut plan = Plan::new(SpaceId::Nb201, Preset::Tiny, DataConfig::default(), &[]).unwrap();
    (plan.search.channels, plan.search.epochs) = (4, 2);
    plan.search.data.train_images = Some(400);
    plan.search.pt.tune_epochs = Some(2);
    (plan.train.channels, plan.train.epochs) = (4, 2);
    plan.train.data.train_images = Some(600);
    ExperimentRequest {
        out: out.to_path_buf(),
        plan,
        seeds: vec![3],
        table: None,
        report_only: false,
        command: "small".into(),
    }
}

/// The experiment killed (SIGKILL) once in each phase that checkpoints (both searches, both
/// PT selections, all three retrainings) and rerun each time, ends with the report an
/// uninterrupted experiment writes, and its last rerun skips every finished phase. Each
/// experiment runs in a process of its own (this test binary, as a child), since the
/// device's random numbers are process-wide.
#[test]
fn an_experiment_killed_in_every_phase_completes_to_the_same_report() {
    if let Some(dir) = std::env::var_os(EXPERIMENT_DIR) {
        let device = select(&DeviceChoice::Cpu).unwrap();
        run_experiment(
            &small_experiment(dir.as_ref()),
            std::slice::from_ref(&device),
            &Control::new(),
        )
        .unwrap()
        .unwrap();
        std::process::exit(0);
    }
    use std::time::{Duration, Instant};
    let child = |out: &std::path::Path| {
        let mut c = std::process::Command::new(std::env::current_exe().unwrap());
        c.args([
            "experiment::an_experiment_killed_in_every_phase_completes_to_the_same_report",
            "--exact",
            "--nocapture",
        ])
        .env(EXPERIMENT_DIR, out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
        c
    };
    let tmp = tempfile::tempdir().unwrap();
    let (whole, killed) = (tmp.path().join("whole"), tmp.path().join("killed"));
    let done = child(&whole).output().unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );

    let seed = search_dir(&killed, 3, Searcher::Darts);
    let fixed = search_dir(&killed, 3, Searcher::FixedAlpha);
    let markers = [
        seed.join("checkpoint.safetensors"),
        fixed.join("checkpoint.safetensors"),
        seed.join("selection-pt.safetensors"),
        fixed.join("selection-pt.safetensors"),
        train_dir(&killed, 3, Arm::Magnitude).join("checkpoint.safetensors"),
        train_dir(&killed, 3, Arm::Pt).join("checkpoint.safetensors"),
        train_dir(&killed, 3, Arm::PtFixedAlpha).join("checkpoint.safetensors"),
    ];
    for marker in &markers {
        let mut run = child(&killed).spawn().unwrap();
        let start = Instant::now();
        while !marker.exists() {
            assert!(
                start.elapsed() < Duration::from_secs(600),
                "no {}",
                marker.display()
            );
            assert!(
                run.try_wait().unwrap().is_none(),
                "ended before {}",
                marker.display()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        run.kill().unwrap();
        run.wait().unwrap();
    }
    let last = child(&killed).output().unwrap();
    let text = String::from_utf8_lossy(&last.stderr);
    assert!(last.status.success(), "{text}");
    assert_eq!(text.matches("already finished").count(), 7, "{text}");
    let report = |out: &std::path::Path| std::fs::read_to_string(out.join("report.csv")).unwrap();
    assert_eq!(report(&whole), report(&killed));
}

/// `experiment --preset tiny` on a DARTS-family space through the command line, one seed:
/// it finishes, and its report parses: one CSV row per method's cell with the normal cell's
/// skip connections counted from its genotype, a summary line per method, and a picture of
/// each search run's cells.
fn tiny_darts_family_experiment(space: &str, methods: &str, arms: &[Arm]) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join(space);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_darts-pt"))
        .args([
            "experiment",
            "pt-vs-magnitude",
            "--space",
            space,
            "--methods",
            methods,
        ])
        .args([
            "--seeds", "0", "--preset", "tiny", "--device", "cpu", "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");

    let mut reader = csv::Reader::from_path(out.join("report.csv")).unwrap();
    let head = reader.headers().unwrap().clone();
    let col = |name: &str| head.iter().position(|h| h == name).unwrap();
    let records: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    let methods_seen: Vec<&str> = records.iter().map(|r| &r[col("method")]).collect();
    let names: Vec<&str> = arms.iter().map(|a| a.name()).collect();
    assert_eq!(methods_seen, names);
    for r in &records {
        assert_eq!(&r[col("space")], space);
        let genotype = &r[col("genotype")];
        let normal = &genotype[..genotype.find("reduce=").unwrap()];
        let skips: usize = r[col("normal_skip_connections")].parse().unwrap();
        assert_eq!(skips, normal.matches("skip_connect").count(), "{genotype}");
        let acc: f64 = r[col("retrained_test_acc")].parse().unwrap();
        assert!((0.0..=1.0).contains(&acc));
        let sup: f64 = r[col("supernet_acc_after_discretization")].parse().unwrap();
        assert!((0.0..=1.0).contains(&sup));
    }
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    for a in arms {
        assert!(
            md.contains(&format!("| {space} | 0 | {} | `Genotype(", a.name())),
            "{md}"
        );
        assert!(md.contains(&format!("\n| {} | 1 | ", a.name())), "{md}");
    }
    if arms.contains(&Arm::SgasPt) {
        // Every one of the 16 SGAS decisions (8 per cell type) was PT's to make.
        assert!(md.contains("SGAS+PT against SGAS's own rule"), "{md}");
        assert!(md.contains(" of 16)"), "{md}");
        if cfg!(has_vulkan) {
            let run = search_dir(&out, 0, Searcher::SgasPt);
            crate::studio::studio_steps_through_sgas_pt_decisions(&run);
        }
    }
    let png = image::open(out.join("report.png")).unwrap();
    assert_eq!((png.width(), png.height()), (chart::WIDTH, chart::HEIGHT));
    let mut searchers: Vec<Searcher> = arms.iter().map(|a| a.searcher()).collect();
    searchers.dedup();
    for s in searchers {
        let picture = darts_pt::experiment::cells::cell_picture(&out, 0, s);
        let rel = picture.strip_prefix(&out).unwrap().display().to_string();
        if cfg!(has_vulkan) {
            let img = image::open(&picture).unwrap();
            assert_eq!((img.width(), img.height()), (1400, 1600));
            assert!(md.contains(&format!("]({rel})")), "{md}");
        } else {
            assert!(md.contains("could not be drawn"), "{md}");
        }
    }
}

#[test]
fn a_tiny_s2_experiment_of_every_method_reports_skip_connections_and_cells() {
    let arms = Arm::of(&darts_pt::experiment::METHODS);
    tiny_darts_family_experiment("s2", "darts,sdarts-rs,sgas,fixed-alpha", &arms);
}

#[test]
fn a_tiny_darts_space_experiment_with_sgas_pt_reports_skip_connections_and_cells() {
    let arms = [Arm::Magnitude, Arm::Pt, Arm::Sgas, Arm::SgasPt];
    tiny_darts_family_experiment("darts", "darts,sgas", &arms);
}
