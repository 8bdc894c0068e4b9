//! The studio on a real run. egui's test harness drives the app on a wgpu device (lavapipe
//! in CI, no display): the panels are clicked through and what they show is checked against
//! the run's own files and against the library computing the same numbers. A search started
//! from the GUI is compared with the CLI's, a cancelled one is resumed by the CLI, and the
//! screenshot command is run offscreen and, when Xvfb is installed, in a real window.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use darts_pt::checkpoint::Checkpoint;
use darts_pt::config::Criterion;
use darts_pt::genotype::Nb201Genotype;
use darts_pt::nn::bn::BnMode;
use darts_pt::nn::supernet::{Mask, weight_plans};
use darts_pt::run::LocalFiles;
use darts_pt::run::{AlphaRecord, MetricsRecord, RunDir, RunReader, RunState};
use darts_pt::search::steps::detached_probs;
use darts_pt::search::{
    EvalPass, PassSetup, checkpoint_projections, load_search_data, restore_supernet,
};
use darts_pt::select::pt::choose_op;
use darts_pt::space::CellType;
use darts_pt::studio::colormap::scale_color;
use darts_pt::studio::heatmap::Renderer;
use darts_pt::studio::record::{AlphaRange, RunRecord};
use darts_pt::studio::screenshot::settle;
use darts_pt::studio::{Panel, StudioApp, StudioOptions, gpu};
use egui_kittest::kittest::{NodeT, Queryable};
use egui_kittest::{Harness, SnapshotOptions};

use crate::common::{read_jsonl, status};

/// The run the studio tests open: the shared fixture's tiny NB201 search and its magnitude
/// and PT selections, made by the CLI in a child process on one CPU thread. burn's CPU backend
/// sums in a thread-dependent order and draws from one random stream per process, so a run made
/// inside this (parallel) test process differs slightly every time; the snapshots need the same
/// run every time.
pub(crate) fn studio_run() -> &'static Path {
    static RUN: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = RUN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("nb201-tiny");
        let o = out.to_str().unwrap();
        for args in [
            &[
                "search",
                "--space",
                "nb201",
                "--method",
                "darts",
                "--preset",
                "tiny",
                "--epochs",
                "2",
                "--train-images",
                "1000",
                "--device",
                "cpu",
                "--out",
                o,
            ][..],
            &[
                "select",
                "--run",
                o,
                "--method",
                "magnitude",
                "--device",
                "cpu",
            ],
            &[
                "select",
                "--run",
                o,
                "--method",
                "pt",
                "--tune-epochs",
                "2",
                "--device",
                "cpu",
            ],
        ] {
            let r = Command::new(env!("CARGO_BIN_EXE_darts-pt"))
                .args(args)
                .env("RAYON_NUM_THREADS", "1")
                .output()
                .unwrap();
            assert!(
                r.status.success(),
                "darts-pt {args:?}: {}",
                String::from_utf8_lossy(&r.stderr)
            );
        }
        (dir, out)
    });
    path
}

const SIZE: egui::Vec2 = egui::Vec2::new(1280.0, 800.0);

fn harness(opts: StudioOptions) -> Harness<'static, StudioApp> {
    Harness::builder()
        .with_size(SIZE)
        .with_theme(egui::Theme::Light)
        .with_max_steps(64)
        .wgpu_setup(gpu::offscreen_setup())
        .build_eframe(|cc| StudioApp::new(cc, opts))
}

/// Clicks a top-bar tab and waits until the panel has loaded what it needs.
fn open_panel(h: &mut Harness<'_, StudioApp>, title: &str, panel: Panel) {
    h.get_by_label(title).click();
    settle(h).unwrap();
    assert_eq!(h.state().panel(), panel);
}

fn has_label(h: &Harness<'_, StudioApp>, text: &str) -> bool {
    h.query_all_by_label(text).next().is_some()
}

fn has_label_containing(h: &Harness<'_, StudioApp>, text: &str) -> bool {
    h.query_all_by_label_contains(text).next().is_some()
}

/// A snapshot with the machine-dependent parts painted over: the status bar (adapter name,
/// CPU thread count) and any label containing one of `mask`. The run is reproducible, but a CPU
/// with other SIMD kernels could round one digit of a number computed here differently, so a
/// glyph's worth of pixels may differ; a layout change moves thousands.
fn snapshot(h: &mut Harness<'_, StudioApp>, name: &str, mask: &[&str]) {
    snapshot_with(h, name, mask, Vec::new());
}

/// [`snapshot`], also painting over `rects`.
fn snapshot_with(
    h: &mut Harness<'_, StudioApp>,
    name: &str,
    mask: &[&str],
    mut rects: Vec<egui::Rect>,
) {
    h.remove_cursor();
    h.run_ok();
    if let Some(n) = h.query_all_by_label_contains("rendering:").next() {
        let r = n.rect();
        rects.push(egui::Rect::from_min_max(
            egui::pos2(0.0, r.top() - 4.0),
            egui::pos2(SIZE.x, SIZE.y),
        ));
    }
    for m in mask {
        rects.extend(h.query_all_by_label_contains(m).map(|n| n.rect()));
    }
    for r in rects {
        h.mask(r);
    }
    h.snapshot_options(name, &SnapshotOptions::new().max_failed_pixels(150));
}

fn close(a: egui::Color32, b: [u8; 4], tol: i32) -> bool {
    let c = a.to_array();
    (0..3).all(|i| (c[i] as i32 - b[i] as i32).abs() <= tol)
}

#[test]
#[cfg_attr(
    not(has_vulkan),
    ignore = "needs a Vulkan driver (mesa-vulkan-drivers: lavapipe)"
)]
fn studio_panels_show_the_tiny_run() {
    let run = studio_run();
    let dir = RunDir::open(run).unwrap();
    let alphas: Vec<AlphaRecord> = read_jsonl(&dir.alpha());
    let metrics: Vec<MetricsRecord> = read_jsonl(&dir.metrics());
    let selections = crate::common::selections(run);
    // No NAS-Bench-201 table here, so the snapshots do not depend on having one; the lookup is
    // checked by a test of its own.
    let mut h = harness(StudioOptions {
        runs: vec![run.to_path_buf()],
        panel: Some(Panel::Cell),
        // The run's own temporary directory, so the browser's height (and the layout below
        // it) does not depend on what the current directory holds.
        browse_dir: run.parent().map(Path::to_path_buf),
        ..Default::default()
    });
    settle(&mut h).unwrap();

    // Cell graph: the NB201 cell at the last epoch, numbers on hover.
    assert!(has_label(&h, "NB201 cell (one alpha shared by every cell)"));
    let last = alphas.last().unwrap();
    assert!(has_label(
        &h,
        &format!("softmax(α) after epoch {}", last.epoch)
    ));
    // The heatmap's cells are drawn by the WGSL shader: their pixels are the CPU colour scale.
    assert!(matches!(h.state().heatmap_renderer(), Renderer::Gpu { .. }));
    let cells = h.get_by_label("normal alpha heatmap").rect();
    let rec = RunRecord::load(&LocalFiles, run);
    let range = rec.alpha_range(true);
    let img = h.render().unwrap();
    let (rows, cols) = (last.normal.len(), last.normal[0].len());
    for (r, c) in [(0, 0), (2, 3), (3, 1), (5, 4)] {
        let x = cells.left() + (c as f32 + 0.5) * cells.width() / cols as f32;
        let y = cells.top() + (r as f32 + 0.5) * cells.height() / rows as f32;
        let got = img.get_pixel(x as u32, y as u32).0;
        let want = scale_color(range.unit(last.normal[r][c]));
        assert!(
            close(want, got, 3),
            "heatmap cell ({r},{c}): GPU drew {got:?}, the scale says {want:?}"
        );
    }
    // Hovering an operation's bar shows every weight of its edge.
    h.get_by_label("alpha normal edge 3 nor_conv_3x3").hover();
    h.run_ok();
    for w in &last.normal[3] {
        assert!(has_label(&h, &format!("{w:.4}")), "tooltip lacks {w:.4}");
    }
    snapshot(&mut h, "studio_cell", &[]);
    // The slider scrubs back to the initialisation.
    h.get_by_role_and_label(egui::Role::Slider, "epoch")
        .set_value_accesskit(0.0);
    h.run_ok();
    assert!(has_label(&h, "softmax(α) at initialisation"));

    // Selection: PT's first decision, then the next one; both selections side by side.
    open_panel(&mut h, "Selection", Panel::Selection);
    let pt = &selections["pt"];
    let mag = &selections["magnitude"];
    let n = pt.op_decisions.len();
    let d0 = &pt.op_decisions[0];
    assert!(has_label_containing(&h, &format!("decision 1 of {n}")));
    for a in &d0.acc_without {
        assert!(has_label(&h, &format!("{:.2}%", 100.0 * a)), "no {a}");
    }
    assert!(has_label_containing(
        &h,
        &format!("PT keeps {}: removing it leaves", d0.chosen_name)
    ));
    let ga = Nb201Genotype::parse_arch(mag.genotype.as_ref().unwrap()).unwrap();
    let gb = Nb201Genotype::parse_arch(pt.genotype.as_ref().unwrap()).unwrap();
    let differ = (0..6).filter(|&e| ga.ops[e] != gb.ops[e]).count();
    assert!(has_label(
        &h,
        &format!("{differ} of 6 edges differ (marked ≠)")
    ));
    assert!(has_label(
        &h,
        &format!("{:.2}%", 100.0 * mag.supernet_acc_after.unwrap())
    ));
    for e in 0..6 {
        let label = format!("pt normal edge {e} {}", gb.ops[e].name());
        assert!(has_label(&h, &label), "PT's cell lacks {label}");
    }
    snapshot(&mut h, "studio_selection", &[]);
    h.get_by_label("next ▶").click();
    h.run_ok();
    assert!(has_label_containing(&h, &format!("decision 2 of {n}")));

    // Perturbation: the supernet's accuracy with and without an operation, as the library
    // computes it with PT's own mask.
    open_panel(&mut h, "Perturbation", Panel::Perturbation);
    let cfg = RunReader::local(run).search_config().unwrap();
    let data = load_search_data(&cfg.data).unwrap();
    let device = burn::tensor::Device::flex();
    let ckpt = Checkpoint::load(&dir.checkpoint()).unwrap();
    let (model, _, _) = restore_supernet(&cfg, data.input, &ckpt, &device).unwrap();
    let proj = checkpoint_projections(&ckpt).unwrap();
    let images = data.alpha_half.len().min(1000);
    let acc = |mask: Option<(CellType, Mask)>| {
        let plans = weight_plans(&proj, 5, mask);
        let setup = PassSetup {
            batch_size: cfg.batch_size,
            augment: None,
            bn: BnMode::Batch,
            prefetch: true,
        };
        let probs = detached_probs(&model);
        let half = &data.alpha_half[..images];
        pollster::block_on(
            EvalPass::new(&model, &probs, &plans, &data, half, setup, &device).run_paced(),
        )
        .1
    };
    let base = acc(None);
    assert!(
        has_label(
            &h,
            &format!("accuracy with all operations: {:.2}%", 100.0 * base)
        ),
        "expected {:.2}%",
        100.0 * base
    );
    h.get_by_label("perturb normal edge 3 nor_conv_3x3").click();
    settle(&mut h).unwrap();
    let without = acc(Some((CellType::Normal, Mask::Op { edge: 3, op: 3 })));
    assert!(has_label(
        &h,
        &format!("with 1 masked: {:.2}%", 100.0 * without)
    ));
    let per_op: Vec<f64> = (0..5)
        .map(|o| acc(Some((CellType::Normal, Mask::Op { edge: 3, op: o }))))
        .collect();
    let keep = choose_op(Criterion::Acc, &per_op, &[0.0; 5]);
    let ops = cfg.space.space().ops(CellType::Normal, 3).to_vec();
    assert!(has_label(
        &h,
        &format!("PT keeps {} (removing it hurts most)", ops[keep].name())
    ));
    snapshot(&mut h, "studio_perturbation", &["supernet of"]);

    // Runs: the open run with its summary, the new-search form. The recent list and the
    // directory browser show this machine's paths and are painted over.
    open_panel(&mut h, "Runs", Panel::Runs);
    for t in [
        "Open a run",
        "Open runs",
        "New search",
        "Start search",
        "Jobs",
    ] {
        assert!(has_label(&h, t), "no {t}");
    }
    assert!(has_label_containing(&h, "nb201 · darts · tiny · finished"));
    let top = h.get_by_label("Recent").rect().bottom();
    let bottom = h.get_by_label("Open runs").rect().top();
    snapshot_with(
        &mut h,
        "studio_runs",
        &[],
        vec![egui::Rect::from_min_max(
            egui::pos2(0.0, top),
            egui::pos2(SIZE.x / 2.0, bottom),
        )],
    );

    // Curves.
    open_panel(&mut h, "Curves", Panel::Curves);
    assert!(has_label(
        &h,
        &format!("nb201-tiny · {} records", metrics.len())
    ));
    for t in ["Losses", "Accuracies", "Learning rate"] {
        assert!(has_label(&h, t), "no {t} plot");
    }
    snapshot(&mut h, "studio_curves", &[]);

    // Device: burn is registered on the window's device and computes correctly on it.
    open_panel(&mut h, "Device", Panel::Device);
    assert!(h.state().gpu().unwrap().burn.is_ok());
    assert!(has_label_containing(&h, "registered: shared wgpu"));
    h.get_by_label("the window's wgpu device").click();
    h.run_ok();
    assert!(has_label_containing(&h, "compute: shared wgpu"));
    h.get_by_label("Check: a matrix product on the compute device")
        .click();
    settle(&mut h).unwrap();
    let line = h
        .query_all_by_label_contains("largest difference from the CPU result")
        .next()
        .expect("the device check reports")
        .accesskit_node();
    // A label's text is its accesskit value.
    let line = line.value().or_else(|| line.label()).unwrap_or_default();
    let diff: f64 = line
        .split_whitespace()
        .last()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no number at the end of '{line}'"));
    assert!(diff < 1e-3, "{line}");
    assert!(line.contains("on shared wgpu"), "{line}");
    // The adapter's facts depend on the machine: painted over.
    let top = h.get_by_label("adapter").rect().top();
    let bottom = h.get_by_label("burn on this device").rect().bottom();
    snapshot_with(
        &mut h,
        "studio_device",
        &["largest difference from the CPU result"],
        vec![egui::Rect::from_min_max(
            egui::pos2(0.0, top),
            egui::pos2(SIZE.x, bottom),
        )],
    );
}

/// Runs the CLI binary.
fn cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_darts-pt"))
        .args(args)
        .env("XDG_RUNTIME_DIR", xdg_runtime_dir())
        .output()
        .expect("run darts-pt")
}

fn xdg_runtime_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("darts-pt-xdg-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700));
    }
    d
}

/// Fills the new-search form and clicks "Start search".
fn start_search(h: &mut Harness<'_, StudioApp>, epochs: &str, images: &str, out: &Path) {
    h.get_by_label("epochs").set_text_value_accesskit(epochs);
    h.get_by_label("train images")
        .set_text_value_accesskit(images);
    h.get_by_label("output directory")
        .set_text_value_accesskit(&out.display().to_string());
    h.run_ok();
    h.get_by_label("Start search").click();
    h.run_ok();
}

fn wait_for_job(h: &mut Harness<'_, StudioApp>, index: usize) -> Result<String, String> {
    let start = Instant::now();
    loop {
        h.step();
        if let Some(j) = h.state().jobs().get(index)
            && let Some(o) = &j.outcome
        {
            return o.clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "job did not finish"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn files_of(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}

#[test]
#[cfg_attr(
    any(not(has_vulkan), not(has_nb201_table)),
    ignore = "needs a Vulkan driver (lavapipe) and ../shared/nb201/nats_bench_tss_200ep.csv"
)]
fn studio_looks_the_selected_cells_up_in_nas_bench_201() {
    let run = studio_run();
    let table = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/nb201/nats_bench_tss_200ep.csv"
    ));
    let selections = crate::common::selections(run);
    let mut t = harness(StudioOptions {
        runs: vec![run.to_path_buf()],
        panel: Some(Panel::Selection),
        table: Some(table.to_path_buf()),
        ..Default::default()
    });
    settle(&mut t).unwrap();
    let nb = darts_pt::lookup::Nb201Table::load(table).unwrap();
    for label in ["magnitude", "pt"] {
        let g = Nb201Genotype::parse_arch(selections[label].genotype.as_ref().unwrap()).unwrap();
        let entry = nb.query(&g).unwrap();
        assert!(has_label(
            &t,
            &format!(
                "{:.2}% (rank {} of {})",
                entry.cifar10, entry.rank_cifar10, entry.total
            )
        ));
    }
}

#[test]
#[cfg_attr(
    not(has_vulkan),
    ignore = "needs a Vulkan driver (mesa-vulkan-drivers: lavapipe)"
)]
fn studio_search_writes_the_cli_layout_and_cancel_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let gui = tmp.path().join("gui");
    let by_cli = tmp.path().join("cli");
    let mut h = harness(StudioOptions {
        panel: Some(Panel::Runs),
        browse_dir: Some(tmp.path().to_path_buf()),
        ..Default::default()
    });
    h.run_ok();
    start_search(&mut h, "1", "200", &gui);
    let outcome = wait_for_job(&mut h, 0);
    assert_eq!(outcome, Ok("search finished".to_string()));

    let out = cli(&[
        "search",
        "--space",
        "nb201",
        "--method",
        "darts",
        "--preset",
        "tiny",
        "--epochs",
        "1",
        "--train-images",
        "200",
        "--device",
        "cpu",
        "--out",
        by_cli.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The same files, the same configuration, the same records.
    assert_eq!(files_of(&gui), files_of(&by_cli));
    let (a, b) = (RunDir::new(&gui), RunDir::new(&by_cli));
    assert_eq!(
        std::fs::read_to_string(a.config()).unwrap(),
        std::fs::read_to_string(b.config()).unwrap()
    );
    let st = status(&gui);
    assert_eq!((st.state, st.epoch, st.epochs), (RunState::Finished, 1, 1));
    let ma: Vec<MetricsRecord> = read_jsonl(&a.metrics());
    let mb: Vec<MetricsRecord> = read_jsonl(&b.metrics());
    let shape = |m: &[MetricsRecord]| {
        m.iter()
            .map(|r| (r.kind, r.epoch, r.step))
            .collect::<Vec<_>>()
    };
    assert_eq!(shape(&ma), shape(&mb));
    // The numbers themselves are not compared: burn's CPU backend has one random stream per
    // process, which the other tests of this binary draw from while the GUI's search runs.
    let aa: Vec<AlphaRecord> = read_jsonl(&a.alpha());
    let ab: Vec<AlphaRecord> = read_jsonl(&b.alpha());
    let dims = |v: &[AlphaRecord]| {
        v.iter()
            .map(|r| {
                (
                    r.epoch,
                    r.normal.len(),
                    r.normal[0].len(),
                    r.reduce.is_some(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(dims(&aa), vec![(0, 6, 5, false), (1, 6, 5, false)]);
    assert_eq!(dims(&aa), dims(&ab));

    // Pause, then cancel: the job stops at a step boundary and leaves a checkpoint.
    let cancelled = tmp.path().join("cancelled");
    start_search(&mut h, "3", "600", &cancelled);
    h.get_by_label("pause").click();
    h.run_ok();
    h.get_by_label("cancel").click();
    h.run_ok();
    let outcome = wait_for_job(&mut h, 1).unwrap();
    assert!(outcome.contains("cancelled"), "{outcome}");
    let c = RunDir::new(&cancelled);
    assert_eq!(status(&cancelled).state, RunState::Interrupted);
    assert!(c.checkpoint().exists());
    // The CLI continues it to the end.
    let out = cli(&[
        "search",
        "--resume",
        cancelled.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = status(&cancelled);
    assert_eq!((s.state, s.epoch), (RunState::Finished, 3));
    let epochs: Vec<usize> = read_jsonl::<AlphaRecord>(&c.alpha())
        .iter()
        .map(|a| a.epoch)
        .collect();
    assert_eq!(epochs, vec![0, 1, 2, 3]);
}

/// The selection panel on an SGAS+PT search `run` (made by the tiny experiment test): the
/// decisions it made during the search are stepped through from `events.jsonl`, each with PT's
/// accuracy without every candidate, the operation kept and SGAS's own choice; the run's
/// selections are each drawn once (one selection is not shown beside itself).
pub(crate) fn studio_steps_through_sgas_pt_decisions(run: &Path) {
    let reader = RunReader::local(run);
    let decisions = reader.sgas_decisions();
    let n = decisions.len();
    assert!(n > 1 && decisions.iter().all(|d| d.pt.is_some()));
    let overridden = decisions
        .iter()
        .filter(|d| d.pt.as_ref().unwrap().magnitude_op != d.op)
        .count();
    let mut h = harness(StudioOptions {
        runs: vec![run.to_path_buf()],
        panel: Some(Panel::Selection),
        browse_dir: run.parent().map(Path::to_path_buf),
        ..Default::default()
    });
    settle(&mut h).unwrap();
    assert!(has_label(&h, "SGAS+PT's decisions, made during the search"));
    assert!(has_label_containing(
        &h,
        &format!("SGAS's own rule on {overridden} of {n} edges")
    ));
    for (i, d) in decisions.iter().take(2).enumerate() {
        let pt = d.pt.as_ref().unwrap();
        assert!(has_label_containing(
            &h,
            &format!("decision {} of {n}", i + 1)
        ));
        for a in &pt.acc_without {
            assert!(has_label(&h, &format!("{:.2}%", 100.0 * a)), "no {a}");
        }
        assert!(has_label_containing(
            &h,
            &format!("PT keeps {}: removing it leaves", d.op_name)
        ));
        h.get_by_label("next ▶").click();
        h.run_ok();
    }
    let selections = reader.selections().unwrap();
    assert!(!selections.is_empty());
    for label in selections.keys() {
        let title = format!("{label} · normal cell");
        assert_eq!(h.query_all_by_label(&title).count(), 1, "{title}");
    }
    assert!(!has_label_containing(&h, "edges differ"));
}

#[test]
#[cfg_attr(
    not(has_vulkan),
    ignore = "needs a Vulkan driver (mesa-vulkan-drivers: lavapipe)"
)]
fn studio_shows_what_is_wrong_with_a_damaged_run() {
    let tmp = tempfile::tempdir().unwrap();
    let broken = tmp.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("config.toml"), "epochs = 'three'\n").unwrap();
    let damaged = tmp.path().join("damaged");
    std::fs::create_dir_all(&damaged).unwrap();
    std::fs::copy(
        studio_run().join("config.toml"),
        damaged.join("config.toml"),
    )
    .unwrap();
    std::fs::write(damaged.join("metrics.jsonl"), "{\nnot json\n[1,2]\n").unwrap();
    std::fs::write(
        damaged.join("alpha.jsonl"),
        "{\"epoch\":0,\"normal\":[[0.5,0.5]]}\n",
    )
    .unwrap();
    std::fs::write(damaged.join("selection.json"), "{\"pt\": 3").unwrap();
    // Bytes that are not UTF-8: in a config value (read lossily, the error quoted U+FFFD, which
    // no font of the studio has) and in a directory's name. The harness
    // panics on a glyph it cannot draw, so any of them reaching the screen fails the test.
    let bytes = tmp.path().join("bytes");
    std::fs::create_dir_all(&bytes).unwrap();
    let config = std::fs::read_to_string(studio_run().join("config.toml")).unwrap();
    assert!(config.contains("space = \"nb201\""), "{config}");
    let config = config.replacen("space = \"nb201\"", "space = \"nb\u{1}201\"", 1);
    let raw: Vec<u8> = config
        .bytes()
        .map(|b| if b == 1 { 0xff } else { b })
        .collect();
    std::fs::write(bytes.join("config.toml"), raw).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let odd = tmp.path().join(std::ffi::OsStr::from_bytes(b"odd-\xff"));
        std::fs::create_dir_all(odd).unwrap();
    }
    let missing = tmp.path().join("missing");

    let mut h = harness(StudioOptions {
        runs: vec![broken.clone(), damaged.clone(), bytes.clone(), missing],
        panel: Some(Panel::Runs),
        browse_dir: Some(tmp.path().to_path_buf()),
        ..Default::default()
    });
    settle(&mut h).unwrap();
    assert!(has_label_containing(&h, "config.toml cannot be read"));
    assert!(has_label_containing(&h, "no such directory"));
    assert!(has_label(&h, "metrics.jsonl: 3 unreadable lines skipped"));
    assert!(has_label_containing(
        &h,
        "alpha.jsonl: 1 records do not match the nb201 space"
    ));
    assert!(has_label_containing(&h, "selection.json cannot be read"));
    assert!(has_label_containing(
        &h,
        "config.toml cannot be read: not UTF-8 text (byte 0xff at line"
    ));
    // Every panel of the damaged run draws a message instead of failing.
    h.get_by_label("damaged").click();
    h.run_ok();
    for (title, panel, says) in [
        ("Cell graph", Panel::Cell, "alpha.jsonl has no records yet."),
        (
            "Selection",
            Panel::Selection,
            "No selection yet: run magnitude or PT above (or `darts-pt select`).",
        ),
        (
            "Perturbation",
            Panel::Perturbation,
            "This run has no checkpoint yet: there is no supernet to perturb.",
        ),
        ("Curves", Panel::Curves, "metrics.jsonl has no records yet."),
    ] {
        open_panel(&mut h, title, panel);
        assert!(has_label(&h, says), "{title} does not say '{says}'");
    }
    // The command a user runs on the run with bad bytes draws it (it panicked in epaint).
    let png = tmp.path().join("bytes.png");
    let out = cli(&[
        "studio",
        "--run",
        bytes.to_str().unwrap(),
        "--screenshot",
        png.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !err.contains("panicked"), "{err}");
    assert!(png.exists());
}

#[test]
#[cfg_attr(
    not(has_vulkan),
    ignore = "needs a Vulkan driver (mesa-vulkan-drivers: lavapipe)"
)]
fn studio_screenshot_command_writes_pngs() {
    let run = studio_run();
    let tmp = tempfile::tempdir().unwrap();
    let png = tmp.path().join("selection.png");
    let out = cli(&[
        "studio",
        "--run",
        run.to_str().unwrap(),
        "--panel",
        "selection",
        "--size",
        "1000x700",
        "--screenshot",
        png.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let img = image::open(&png).unwrap().to_rgba8();
    assert_eq!(img.dimensions(), (1000, 700));
    let colours: std::collections::HashSet<[u8; 4]> = img.pixels().map(|p| p.0).collect();
    assert!(colours.len() > 50, "a nearly blank image");
}

/// The real window under Xvfb, captured by egui's viewport screenshot.
#[test]
#[cfg_attr(
    any(not(has_vulkan), not(has_xvfb)),
    ignore = "needs a Vulkan driver (mesa-vulkan-drivers: lavapipe) and Xvfb (xvfb, xauth)"
)]
fn studio_screenshot_of_the_real_window() {
    let run = studio_run();
    let tmp = tempfile::tempdir().unwrap();
    let win = tmp.path().join("window.png");
    let out = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1400x900x24"])
        .arg(env!("CARGO_BIN_EXE_darts-pt"))
        .args([
            "studio",
            "--run",
            run.to_str().unwrap(),
            "--panel",
            "cell",
            "--size",
            "1100x720",
            "--screenshot",
            win.to_str().unwrap(),
            "--window",
        ])
        .env("XDG_RUNTIME_DIR", xdg_runtime_dir())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let img = image::open(&win).unwrap().to_rgba8();
    assert_eq!(img.dimensions(), (1100, 720));
    let colours: std::collections::HashSet<[u8; 4]> = img.pixels().map(|p| p.0).collect();
    assert!(colours.len() > 50, "a nearly blank window");
}
