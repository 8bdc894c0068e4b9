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
pub mod report;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use web_time::Instant;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::checkpoint::write_atomic;
use crate::config::{DataConfig, Method, Preset, SearchConfig, SelectMethod, TrainConfig};
use crate::device::{DeviceChoice, SelectedDevice};
use crate::job::{Control, End, Event};
use crate::progress::Progress;
use crate::run::RunReader;
use crate::search::{SearchStart, run_search};
use crate::select::{SelectRequest, run_select};
use crate::space::SpaceId;
use crate::train::{TrainStart, run_train};

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

/// The sizes of every phase: a search template (method and seed are set per run, PT's
/// settings come with it) and a training template (genotype and seed set per run).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub space: SpaceId,
    pub preset: Preset,
    pub search: SearchConfig,
    pub train: TrainConfig,
}

impl Plan {
    /// The experiment at a preset: the preset table's search, PT and retraining for the space
    /// (see [`crate::config::presets`]), on the data in `data`.
    pub fn new(space: SpaceId, preset: Preset, data: DataConfig) -> Plan {
        let mut search = SearchConfig::preset(space, Method::Darts, preset);
        let mut train = TrainConfig::preset(space, preset);
        search.data.path = data.path.clone();
        search.data.dataset = data.dataset.clone();
        train.data.path = data.path;
        train.data.dataset = data.dataset;
        Plan {
            space,
            preset,
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
    for method in [Method::Darts, Method::FixedAlpha] {
        if !search_phase(req, seed, method, device, control, phases)? {
            return Ok(false);
        }
    }
    for arm in Arm::ALL {
        if !select_phase(req, seed, arm, device, control, phases)? {
            return Ok(false);
        }
    }
    for arm in Arm::ALL {
        if !train_phase(req, seed, arm, device, control, phases)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Runs a phase's job, timing it; false when it was interrupted.
fn timed<T>(
    req: &ExperimentRequest,
    key: &str,
    what: &str,
    phases: &mut Phases,
    job: impl FnOnce(&mut dyn FnMut(&Event)) -> Result<End<T>>,
    detail: impl FnOnce(&T) -> String,
) -> Result<bool> {
    phases.begin(what);
    let clock = Stopwatch::start();
    let inner = &mut *phases.inner;
    let end = job(&mut |e| inner.on_event(e));
    let secs = clock.read();
    add_timing(&req.out, key, secs)?;
    match end? {
        End::Finished(t) => {
            phases.end(what, secs, &detail(&t));
            Ok(true)
        }
        End::Interrupted { .. } => Ok(false),
        End::Diverged { epoch, step } => {
            bail!("{what} stopped: {}", crate::job::divergence(epoch, step))
        }
    }
}

fn search_phase(
    req: &ExperimentRequest,
    seed: u64,
    method: Method,
    device: &SelectedDevice,
    control: &Control,
    phases: &mut Phases,
) -> Result<bool> {
    let dir = search_dir(&req.out, seed, method);
    let what = format!("seed {seed}: search {} ({})", method, req.plan.space);
    let reader = RunReader::local(&dir);
    if reader.is_finished() {
        phases.skip(&what, "");
        return Ok(true);
    }
    let start = if reader.is_run() {
        SearchStart::Resume { dir }
    } else {
        let mut config = req.plan.search.clone();
        (config.method, config.seed, config.device) = (method, seed, DeviceChoice::Auto);
        SearchStart::New {
            config: Box::new(config),
            dir,
        }
    };
    let key = format!("seed{seed}/search-{method}");
    let run = |sink: &mut dyn FnMut(&Event)| run_search(start, device, sink, control);
    timed(req, &key, &what, phases, run, |_| String::new())
}

fn select_phase(
    req: &ExperimentRequest,
    seed: u64,
    arm: Arm,
    device: &SelectedDevice,
    control: &Control,
    phases: &mut Phases,
) -> Result<bool> {
    let dir = search_dir(&req.out, seed, arm.search_method());
    let what = format!("seed {seed}: select {}", arm.name());
    if RunReader::local(&dir)
        .finished_selection(arm.selection_label())
        .is_some()
    {
        phases.skip(&what, "");
        return Ok(true);
    }
    let sreq = SelectRequest {
        resume: true,
        table: req.table.clone(),
        ..SelectRequest::new(&dir, arm.select_method())
    };
    let key = format!("seed{seed}/select-{}", arm.name());
    let run = |sink: &mut dyn FnMut(&Event)| run_select(&sreq, device, sink, control);
    timed(req, &key, &what, phases, run, |o| {
        format!(
            ": {} (supernet accuracy after discretisation {})",
            o.record.genotype.as_deref().unwrap_or("-"),
            report::pct(o.record.supernet_acc_after)
        )
    })
}

fn train_phase(
    req: &ExperimentRequest,
    seed: u64,
    arm: Arm,
    device: &SelectedDevice,
    control: &Control,
    phases: &mut Phases,
) -> Result<bool> {
    let dir = train_dir(&req.out, seed, arm);
    let what = format!("seed {seed}: retrain {}", arm.name());
    let reader = RunReader::local(&dir);
    if let Some(r) = reader.result() {
        phases.skip(&what, &format!(" (test {:.2}%)", 100.0 * r.final_test_acc));
        return Ok(true);
    }
    let source = search_dir(&req.out, seed, arm.search_method());
    let label = arm.selection_label();
    let start = if reader.is_run() {
        TrainStart::Resume { dir }
    } else {
        let record = RunReader::local(&source)
            .finished_selection(label)
            .with_context(|| format!("{}: no finished '{label}' selection", source.display()))?;
        let mut config = req.plan.train.clone();
        config.seed = seed;
        config.genotype = record.genotype.clone().unwrap_or_default();
        config.genotype_source = format!("{} (selection {label})", source.display());
        config.device = DeviceChoice::Auto;
        TrainStart::New {
            config: Box::new(config),
            dir,
        }
    };
    let key = format!("seed{seed}/train-{}", arm.name());
    let run = |sink: &mut dyn FnMut(&Event)| run_train(start, device, sink, control);
    timed(req, &key, &what, phases, run, |r| {
        format!(
            " (test {:.2}%, best {:.2}%)",
            100.0 * r.final_test_acc,
            100.0 * r.best_test_acc
        )
    })
}
