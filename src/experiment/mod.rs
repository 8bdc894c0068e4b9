//! `darts-pt experiment pt-vs-magnitude`: the experiment the paper is about, at a chosen scale.
//!
//! For each seed: one supernet search with first-order DARTS and one with fixed alpha; from the
//! DARTS supernet a cell by alpha's magnitude and a cell by PT, from the fixed-alpha supernet a
//! cell by PT (the paper's Table 3 columns); then each cell retrained from scratch with the same
//! budget and tested. Every search, selection and training is its own run directory under
//! `--out`, so re-running the command skips what is finished and resumes what is not.
//!
//! ```text
//! OUT/
//!   experiment.toml                the settings (a re-run must match them)
//!   timings.json                   seconds spent in each phase, summed over re-runs
//!   seed0/search-darts/            search run; selections magnitude and pt
//!   seed0/search-fixed-alpha/      search run; selection pt
//!   seed0/train-magnitude/         training runs, one per derived cell
//!   seed0/train-pt/
//!   seed0/train-pt-fixed-alpha/
//!   report.md  report.csv  report.png
//! ```

pub mod chart;
pub mod command;
pub mod report;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::checkpoint::write_atomic;
use crate::config::{DataConfig, Method, Preset, SearchConfig};
use crate::device::SelectedDevice;
use crate::job::{Control, Event};
use crate::progress::Progress;
use crate::run::RunDir;
use crate::search::{SearchEnd, run_search};
use crate::select::pt::Criterion;
use crate::select::{SelectMethod, SelectRequest, read_selections, run_select};
use crate::space::{Family, SpaceId};
use crate::train::{TrainConfig, TrainEnd, TrainResult, run_train};

/// One column of the comparison: how a cell is derived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arm {
    /// DARTS supernet, alpha's magnitude (the baseline).
    Magnitude,
    /// DARTS supernet, perturbation-based selection.
    Pt,
    /// Fixed-alpha supernet, perturbation-based selection.
    PtFixedAlpha,
}

impl Arm {
    pub const ALL: [Arm; 3] = [Arm::Magnitude, Arm::Pt, Arm::PtFixedAlpha];

    pub fn name(self) -> &'static str {
        match self {
            Arm::Magnitude => "magnitude",
            Arm::Pt => "pt",
            Arm::PtFixedAlpha => "pt-fixed-alpha",
        }
    }

    /// How the supernet this arm selects from is trained.
    pub fn search_method(self) -> Method {
        match self {
            Arm::Magnitude | Arm::Pt => Method::Darts,
            Arm::PtFixedAlpha => Method::FixedAlpha,
        }
    }

    pub fn select_method(self) -> SelectMethod {
        match self {
            Arm::Magnitude => SelectMethod::Magnitude,
            Arm::Pt | Arm::PtFixedAlpha => SelectMethod::Pt,
        }
    }

    /// The label `select` records the selection under in its search run.
    pub fn selection_label(self) -> &'static str {
        match self {
            Arm::Magnitude => "magnitude",
            Arm::Pt | Arm::PtFixedAlpha => "pt",
        }
    }
}

/// The sizes of every phase: a search template (method and seed are set per run), PT's
/// tuning epochs, and a training template (genotype and seed set per run).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub space: SpaceId,
    pub preset: Preset,
    /// PT's tuning epochs (absent: the spec's schedule for the search's `pt.proj_intv`).
    pub tune_epochs: Option<usize>,
    pub search: SearchConfig,
    pub train: TrainConfig,
}

impl Plan {
    /// The experiment's sizes for a space at a preset, on the data in `data`.
    ///
    /// `paper` runs the paper's search, PT and evaluation protocols unchanged. `laptop` is
    /// sized for the bundled 10,000-image Fashion-MNIST subset on a 2-core CPU: for NB201 the
    /// whole 3-seed experiment is meant to take under two hours; the DARTS-family spaces (S2, S3)
    /// are far more expensive per image and do not fit that budget. `tiny` takes minutes and
    /// exists for tests and for trying the pipeline out.
    pub fn new(space: SpaceId, preset: Preset, data: DataConfig) -> Plan {
        let family = space.family();
        let mut search = SearchConfig::preset(space, Method::Darts, preset);
        let mut train = TrainConfig::preset(space, preset);
        let mut tune_epochs = None;
        match (preset, family) {
            (Preset::Paper, _) => {}
            (Preset::Laptop, Family::Nb201) => {
                search.channels = 8;
                search.layers = 1;
                search.epochs = 8;
                search.data.train_images = Some(4000);
                train.epochs = 5;
            }
            (Preset::Laptop, Family::Darts) => {
                search.channels = 4;
                search.layers = 5;
                search.epochs = 6;
                search.data.train_images = Some(2000);
                train.channels = 8;
                train.layers = 5;
                train.epochs = 4;
            }
            (Preset::Tiny, Family::Nb201) => {
                search.channels = 4;
                search.layers = 1;
                search.epochs = 2;
                search.data.train_images = Some(400);
                tune_epochs = Some(2);
                train.channels = 4;
                train.epochs = 1;
                train.data.train_images = Some(1000);
            }
            (Preset::Tiny, Family::Darts) => {
                search.channels = 4;
                search.layers = 5;
                search.epochs = 1;
                search.data.train_images = Some(400);
                tune_epochs = Some(2);
                train.epochs = 1;
                train.data.train_images = Some(1000);
            }
        }
        search.log_every = 0;
        train.log_every = 0;
        search.data.path = data.path.clone();
        search.data.dataset = data.dataset.clone();
        train.data.path = data.path;
        train.data.dataset = data.dataset;
        Plan {
            space,
            preset,
            tune_epochs,
            search,
            train,
        }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct ExperimentRequest {
    pub out: PathBuf,
    pub plan: Plan,
    pub seeds: Vec<u64>,
    /// NAS-Bench-201 table to look NB201 cells up in (a column of the report).
    pub table: Option<PathBuf>,
    /// Only write the report from what is finished; run nothing.
    pub report_only: bool,
    /// The command line, quoted in the report.
    pub command: String,
}

/// `experiment.toml`: the plan a directory was started with.
fn settings_path(out: &Path) -> PathBuf {
    out.join("experiment.toml")
}

fn timings_path(out: &Path) -> PathBuf {
    out.join("timings.json")
}

/// The cost of one phase, summed over re-runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseTime {
    /// Wall-clock seconds.
    pub wall: f64,
    /// CPU seconds of the process over the phase, all threads (Linux; 0 elsewhere). On a
    /// machine shared with other work it says what the phase cost better than the wall clock.
    pub cpu: f64,
}

/// Time spent per phase (`seed0/search-darts`, `seed0/select-pt`, ...).
pub fn read_timings(out: &Path) -> BTreeMap<String, PhaseTime> {
    std::fs::read_to_string(timings_path(out))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn add_timing(out: &Path, key: &str, t: PhaseTime) -> Result<()> {
    let mut all = read_timings(out);
    let e = all.entry(key.to_string()).or_default();
    e.wall += t.wall;
    e.cpu += t.cpu;
    write_atomic(
        &timings_path(out),
        serde_json::to_string_pretty(&all)?.as_bytes(),
    )?;
    Ok(())
}

/// CPU seconds this process has used, all threads (user + system), from `/proc/self/stat`
/// in the kernel's USER_HZ ticks (100 per second on Linux); 0 where that file is absent.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// Measures a phase.
struct Stopwatch {
    wall: Instant,
    cpu: f64,
}

impl Stopwatch {
    fn start() -> Self {
        Stopwatch {
            wall: Instant::now(),
            cpu: cpu_seconds(),
        }
    }

    fn read(&self) -> PhaseTime {
        PhaseTime {
            wall: self.wall.elapsed().as_secs_f64(),
            cpu: cpu_seconds() - self.cpu,
        }
    }
}

/// Where a seed's runs live.
pub fn seed_dir(out: &Path, seed: u64) -> PathBuf {
    out.join(format!("seed{seed}"))
}

pub fn search_dir(out: &Path, seed: u64, method: Method) -> PathBuf {
    seed_dir(out, seed).join(format!("search-{method}"))
}

pub fn train_dir(out: &Path, seed: u64, arm: Arm) -> PathBuf {
    seed_dir(out, seed).join(format!("train-{}", arm.name()))
}

/// Checks `out` against the plan it was started with, or records the plan.
fn check_settings(out: &Path, plan: &Plan) -> Result<()> {
    let path = settings_path(out);
    let text = toml::to_string_pretty(plan).context("the plan serialises")?;
    if path.exists() {
        let old = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let old: Plan =
            toml::from_str(&old).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        if &old != plan {
            bail!(
                "{} holds an experiment with other settings (space {}, preset {}); choose another --out or the same settings",
                out.display(),
                old.space,
                old.preset
            );
        }
        return Ok(());
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    write_atomic(&path, text.as_bytes())?;
    Ok(())
}

/// Prints one line per phase and passes the jobs' own events to a progress bar on a terminal.
struct Phases<'a> {
    total: usize,
    done: usize,
    inner: &'a mut Progress,
}

impl Phases<'_> {
    fn begin(&mut self, what: &str) {
        self.done += 1;
        eprintln!("[{}/{}] {what} ...", self.done, self.total);
    }

    fn end(&self, what: &str, t: PhaseTime, detail: &str) {
        eprintln!(
            "[{}/{}] {what}: done in {:.0} s ({:.0} CPU s){detail}",
            self.done, self.total, t.wall, t.cpu
        );
    }

    fn skip(&mut self, what: &str, detail: &str) {
        self.done += 1;
        eprintln!(
            "[{}/{}] {what}: already finished{detail}",
            self.done, self.total
        );
    }
}

/// Runs (or continues) the experiment and writes its report. Returns the report's path, or
/// `None` when a phase was interrupted.
pub fn run_experiment(
    req: &ExperimentRequest,
    device: &SelectedDevice,
    control: &Control,
) -> Result<Option<PathBuf>> {
    if req.seeds.is_empty() {
        bail!("give at least one seed");
    }
    if !req.report_only {
        check_settings(&req.out, &req.plan)?;
        let mut inner = if std::io::stderr().is_terminal() {
            Progress::new()
        } else {
            Progress::quiet()
        };
        let mut phases = Phases {
            total: req.seeds.len() * 8,
            done: 0,
            inner: &mut inner,
        };
        for &seed in &req.seeds {
            if !run_seed(req, seed, device, control, &mut phases)? {
                return Ok(None);
            }
        }
    } else if !settings_path(&req.out).exists() {
        bail!("{}: no experiment here yet", req.out.display());
    }
    let rows = report::collect(&req.out, &req.seeds, &req.plan)?;
    let timings = read_timings(&req.out);
    let md = report::markdown(req, &device.description, &rows, &timings);
    write_atomic(&req.out.join("report.md"), md.as_bytes())?;
    write_atomic(&req.out.join("report.csv"), report::csv(&rows).as_bytes())?;
    let title = format!(
        "PT vs magnitude, {} on {} ({} preset)",
        req.plan.space,
        report::dataset_label(&req.plan),
        req.plan.preset
    );
    chart::write_png(&req.out.join("report.png"), &title, &rows)?;
    Ok(Some(req.out.join("report.md")))
}

/// The eight phases of one seed; false when one was interrupted.
fn run_seed(
    req: &ExperimentRequest,
    seed: u64,
    device: &SelectedDevice,
    control: &Control,
    phases: &mut Phases,
) -> Result<bool> {
    let out = &req.out;
    for method in [Method::Darts, Method::FixedAlpha] {
        let dir = search_dir(out, seed, method);
        let what = format!("seed {seed}: search {} ({})", method, req.plan.space);
        let run = RunDir::new(&dir);
        if run.read_status().is_some_and(|s| s.state == "finished") {
            phases.skip(&what, "");
            continue;
        }
        phases.begin(&what);
        let mut cfg = req.plan.search.clone();
        cfg.method = method;
        cfg.seed = seed;
        cfg.device = crate::device::DeviceChoice::Auto;
        let resume = run.config().exists();
        let clock = Stopwatch::start();
        let inner = &mut *phases.inner;
        let end = run_search(
            &cfg,
            &dir,
            resume,
            device,
            &mut |e| inner.on_event(e),
            control,
        );
        let secs = clock.read();
        add_timing(out, &format!("seed{seed}/search-{method}"), secs)?;
        match end? {
            SearchEnd::Finished => phases.end(&what, secs, ""),
            SearchEnd::Interrupted { .. } => return Ok(false),
            SearchEnd::Diverged { epoch, step } => bail!(
                "{}: the search diverged at epoch {epoch}, step {step}",
                dir.display()
            ),
        }
    }
    for arm in Arm::ALL {
        let dir = search_dir(out, seed, arm.search_method());
        let label = arm.selection_label();
        let what = format!("seed {seed}: select {}", arm.name());
        let done = read_selections(&RunDir::new(&dir))
            .get(label)
            .is_some_and(|r| r.complete);
        if done {
            phases.skip(&what, "");
            continue;
        }
        phases.begin(&what);
        let sreq = SelectRequest {
            run: dir.clone(),
            method: arm.select_method(),
            criterion: Criterion::Acc,
            fixed_alpha: false,
            resume: true,
            out: None,
            tune_epochs: req.plan.tune_epochs,
            seed: None,
            table: req.table.clone(),
        };
        let clock = Stopwatch::start();
        let inner = &mut *phases.inner;
        let outcome = run_select(&sreq, device, &mut |e| inner.on_event(e), control);
        let secs = clock.read();
        add_timing(out, &format!("seed{seed}/select-{}", arm.name()), secs)?;
        let Some(outcome) = outcome? else {
            return Ok(false);
        };
        let r = &outcome.record;
        let detail = format!(
            ": {} (supernet accuracy after discretisation {})",
            r.genotype.as_deref().unwrap_or("-"),
            report::pct(r.supernet_acc_after)
        );
        phases.end(&what, secs, &detail);
    }
    for arm in Arm::ALL {
        let dir = train_dir(out, seed, arm);
        let what = format!("seed {seed}: retrain {}", arm.name());
        if let Some(r) = TrainResult::read(&dir) {
            phases.skip(&what, &format!(" (test {:.2}%)", 100.0 * r.final_test_acc));
            continue;
        }
        phases.begin(&what);
        let source = search_dir(out, seed, arm.search_method());
        let label = arm.selection_label();
        let record = read_selections(&RunDir::new(&source))
            .remove(label)
            .filter(|r| r.complete)
            .with_context(|| format!("{}: no finished '{label}' selection", source.display()))?;
        let mut cfg = req.plan.train.clone();
        cfg.seed = seed;
        cfg.genotype = record.genotype.clone().unwrap_or_default();
        cfg.genotype_source = format!("{} (selection {label})", source.display());
        cfg.device = crate::device::DeviceChoice::Auto;
        let resume = RunDir::new(&dir).config().exists();
        let clock = Stopwatch::start();
        let inner = &mut *phases.inner;
        let end = run_train(
            &cfg,
            &dir,
            resume,
            device,
            &mut |e: &Event| inner.on_event(e),
            control,
        );
        let secs = clock.read();
        add_timing(out, &format!("seed{seed}/train-{}", arm.name()), secs)?;
        match end? {
            TrainEnd::Finished(r) => phases.end(
                &what,
                secs,
                &format!(
                    " (test {:.2}%, best {:.2}%)",
                    100.0 * r.final_test_acc,
                    100.0 * r.best_test_acc
                ),
            ),
            TrainEnd::Interrupted { .. } => return Ok(false),
            TrainEnd::Diverged { epoch } => {
                bail!("{}: training diverged in epoch {epoch}", dir.display())
            }
        }
    }
    Ok(true)
}
