//! `darts-pt experiment pt-vs-magnitude`: the experiment the paper is about, at a chosen scale.
//!
//! For each seed: one supernet search with first-order DARTS and one with fixed alpha; from the
//! DARTS supernet a cell by alpha's magnitude and a cell by PT, from the fixed-alpha supernet a
//! cell by PT (the paper's Table 3 columns); then each cell retrained from scratch with the same
//! budget and tested. `--methods` adds SDARTS-RS (magnitude and PT from its supernet) and SGAS
//! (SGAS's own cell, and SGAS+PT's from a second search). Every search, selection and training
//! is its own run directory under `--out`, so re-running the command skips what is finished
//! and resumes what is not. Given several devices, [`schedule`] runs independent parts side by
//! side, one per device.
//!
//! ```text
//! OUT/
//!   experiment.toml                the settings (a re-run must match them; methods may change)
//!   timings.json                   seconds spent in each phase, summed over re-runs
//!   seed0/search-darts/            search run; selections magnitude and pt
//!   seed0/search-fixed-alpha/      search run; selection pt
//!   seed0/search-sgas-pt/ ...      (with --methods) search-sdarts-rs, search-sgas, search-sgas-pt
//!   seed0/train-magnitude/         training runs, one per derived cell (arm)
//!   seed0/train-pt/
//!   seed0/train-pt-fixed-alpha/
//!   report.md  report.csv  report.png
//!   cells/seed0-darts.png ...      the studio's picture of each search run's cells
//! ```

#[cfg(not(target_arch = "wasm32"))]
pub mod cells;
pub mod chart;
pub mod report;
pub mod schedule;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use web_time::Instant;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::checkpoint::write_atomic;
use crate::config::{DataConfig, Method, Preset, SearchConfig, SelectMethod, SgasOp, TrainConfig};
use crate::device::{DeviceChoice, SelectedDevice};
use crate::job::{Control, End, Event};
use crate::progress::Progress;
use crate::run::RunReader;
use crate::search::{SearchStart, run_search};
use crate::select::{SelectRequest, run_select};
use crate::space::SpaceId;
use crate::train::{TrainStart, run_train};
use schedule::Unit;

/// How one of the experiment's supernets is searched. `--methods sgas` brings two: SGAS
/// itself and SGAS+PT (SGAS's schedule and edges, PT's operation choice).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Searcher {
    Darts,
    SdartsRs,
    Sgas,
    SgasPt,
    FixedAlpha,
}

impl Searcher {
    pub const ALL: [Searcher; 5] = [
        Searcher::Darts,
        Searcher::SdartsRs,
        Searcher::Sgas,
        Searcher::SgasPt,
        Searcher::FixedAlpha,
    ];

    /// Its name, and its run directory's (`search-NAME`).
    pub fn name(self) -> &'static str {
        match self {
            Searcher::SgasPt => "sgas-pt",
            s => s.method().name(),
        }
    }

    pub fn method(self) -> Method {
        match self {
            Searcher::Darts => Method::Darts,
            Searcher::SdartsRs => Method::SdartsRs,
            Searcher::Sgas | Searcher::SgasPt => Method::Sgas,
            Searcher::FixedAlpha => Method::FixedAlpha,
        }
    }

    /// The search settings of this searcher from the plan's template.
    pub fn configure(self, template: &SearchConfig, seed: u64) -> SearchConfig {
        let mut c = template.clone();
        (c.method, c.seed, c.device) = (self.method(), seed, DeviceChoice::Auto);
        if self == Searcher::SgasPt {
            c.sgas.op_choice = SgasOp::Pt;
        }
        c
    }
}

/// One column of the comparison: how a cell is derived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arm {
    /// DARTS supernet, alpha's magnitude (the baseline).
    Magnitude,
    /// DARTS supernet, perturbation-based selection.
    Pt,
    /// SDARTS-RS supernet, alpha's magnitude.
    SdartsRs,
    /// SDARTS-RS supernet, PT (its tuning keeps SDARTS's perturbation).
    SdartsRsPt,
    /// SGAS's own decisions.
    Sgas,
    /// SGAS+PT's decisions.
    SgasPt,
    /// Fixed-alpha supernet, perturbation-based selection.
    PtFixedAlpha,
}

impl Arm {
    pub const ALL: [Arm; 7] = [
        Arm::Magnitude,
        Arm::Pt,
        Arm::SdartsRs,
        Arm::SdartsRsPt,
        Arm::Sgas,
        Arm::SgasPt,
        Arm::PtFixedAlpha,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Arm::Magnitude => "magnitude",
            Arm::Pt => "pt",
            Arm::SdartsRs => "sdarts-rs",
            Arm::SdartsRsPt => "sdarts-rs-pt",
            Arm::Sgas => "sgas",
            Arm::SgasPt => "sgas-pt",
            Arm::PtFixedAlpha => "pt-fixed-alpha",
        }
    }

    /// A longer name for legends.
    pub fn title(self) -> &'static str {
        match self {
            Arm::Magnitude => "DARTS + magnitude",
            Arm::Pt => "DARTS + PT",
            Arm::SdartsRs => "SDARTS-RS + magnitude",
            Arm::SdartsRsPt => "SDARTS-RS + PT",
            Arm::Sgas => "SGAS",
            Arm::SgasPt => "SGAS + PT",
            Arm::PtFixedAlpha => "fixed alpha + PT",
        }
    }

    /// The arms of the given search methods, in [`Arm::ALL`]'s order.
    pub fn of(methods: &[Method]) -> Vec<Arm> {
        Arm::ALL
            .into_iter()
            .filter(|a| methods.contains(&a.searcher().method()))
            .collect()
    }

    /// The supernet this arm selects from.
    pub fn searcher(self) -> Searcher {
        match self {
            Arm::Magnitude | Arm::Pt => Searcher::Darts,
            Arm::SdartsRs | Arm::SdartsRsPt => Searcher::SdartsRs,
            Arm::Sgas => Searcher::Sgas,
            Arm::SgasPt => Searcher::SgasPt,
            Arm::PtFixedAlpha => Searcher::FixedAlpha,
        }
    }

    /// How the cell is derived. SGAS's supernets end discrete (every edge decided or pruned),
    /// so the magnitude rule reads their decisions back unchanged.
    pub fn select_method(self) -> SelectMethod {
        match self {
            Arm::Magnitude | Arm::SdartsRs | Arm::Sgas | Arm::SgasPt => SelectMethod::Magnitude,
            Arm::Pt | Arm::SdartsRsPt | Arm::PtFixedAlpha => SelectMethod::Pt,
        }
    }

    /// The label `select` records the selection under in its search run.
    pub fn selection_label(self) -> &'static str {
        self.select_method().name()
    }

    /// The magnitude arm this PT arm is compared with, seed by seed.
    pub fn baseline(self) -> Option<Arm> {
        match self {
            Arm::Pt | Arm::PtFixedAlpha => Some(Arm::Magnitude),
            Arm::SdartsRsPt => Some(Arm::SdartsRs),
            Arm::SgasPt => Some(Arm::Sgas),
            _ => None,
        }
    }
}

/// The search methods `--methods` offers, and its default.
pub const METHODS: [Method; 4] = [
    Method::Darts,
    Method::SdartsRs,
    Method::Sgas,
    Method::FixedAlpha,
];

fn default_methods() -> Vec<Method> {
    vec![Method::Darts, Method::FixedAlpha]
}

/// The sizes of every phase: a search template (method and seed are set per run, PT's
/// settings come with it) and a training template (genotype and seed set per run).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub space: SpaceId,
    pub preset: Preset,
    /// The search methods compared; each brings its arms ([`Arm::of`]).
    #[serde(default = "default_methods")]
    pub methods: Vec<Method>,
    pub search: SearchConfig,
    pub train: TrainConfig,
}

impl Plan {
    /// The experiment at a preset: the preset table's search, PT and retraining for the space
    /// (see [`crate::config::presets`]), on the data in `data`, for `methods` (in
    /// [`METHODS`]; an empty list means the default, DARTS and fixed alpha).
    pub fn new(
        space: SpaceId,
        preset: Preset,
        data: DataConfig,
        methods: &[Method],
    ) -> Result<Plan> {
        if let Some(m) = methods.iter().find(|m| !METHODS.contains(m)) {
            bail!("--methods: {m} is not one of darts, sdarts-rs, sgas, fixed-alpha");
        }
        let mut chosen: Vec<Method> = METHODS
            .into_iter()
            .filter(|m| methods.contains(m))
            .collect();
        if chosen.is_empty() {
            chosen = default_methods();
        }
        let mut search = SearchConfig::preset(space, Method::Darts, preset);
        let mut train = TrainConfig::preset(space, preset);
        search.data.path = data.path.clone();
        search.data.dataset = data.dataset.clone();
        train.data.path = data.path;
        train.data.dataset = data.dataset;
        Ok(Plan {
            space,
            preset,
            methods: chosen,
            search,
            train,
        })
    }

    pub fn arms(&self) -> Vec<Arm> {
        Arm::of(&self.methods)
    }

    /// The supernets searched per seed, in [`Searcher::ALL`]'s order.
    pub fn searchers(&self) -> Vec<Searcher> {
        let arms = self.arms();
        Searcher::ALL
            .into_iter()
            .filter(|s| arms.iter().any(|a| a.searcher() == *s))
            .collect()
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

pub fn search_dir(out: &Path, seed: u64, searcher: Searcher) -> PathBuf {
    seed_dir(out, seed).join(format!("search-{}", searcher.name()))
}

pub fn train_dir(out: &Path, seed: u64, arm: Arm) -> PathBuf {
    seed_dir(out, seed).join(format!("train-{}", arm.name()))
}

/// Checks `out` against the plan it was started with, or records the plan. Other methods
/// with the same sizes are accepted and recorded: the runs the methods share are reused, so
/// adding a method to a finished experiment runs only its arms.
fn check_settings(out: &Path, plan: &Plan) -> Result<()> {
    let path = settings_path(out);
    let text = toml::to_string_pretty(plan).context("the plan serialises")?;
    if path.exists() {
        let old = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let old: Plan =
            toml::from_str(&old).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let same_sizes = Plan {
            methods: plan.methods.clone(),
            ..old.clone()
        } == *plan;
        if !same_sizes {
            bail!(
                "{} holds an experiment with other settings (space {}, preset {}); choose another --out or the same settings",
                out.display(),
                old.space,
                old.preset
            );
        }
        if old.methods != plan.methods {
            write_atomic(&path, text.as_bytes())?;
        }
        return Ok(());
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    write_atomic(&path, text.as_bytes())?;
    Ok(())
}

/// Prints one line per phase, numbered across the devices' workers.
struct Phases {
    total: usize,
    done: Mutex<usize>,
    /// Name the device in each line (when there are several).
    name_devices: bool,
    /// timings.json is read, added to and written by every worker.
    timings: Mutex<()>,
}

impl Phases {
    fn begin(&self, what: &str, device: &SelectedDevice) -> usize {
        let mut done = self.done.lock().unwrap_or_else(|p| p.into_inner());
        *done += 1;
        let on = if self.name_devices {
            format!(" on {}", device.description)
        } else {
            String::new()
        };
        eprintln!("[{}/{}] {what}{on} ...", *done, self.total);
        *done
    }

    fn end(&self, n: usize, what: &str, t: PhaseTime, detail: &str) {
        eprintln!(
            "[{n}/{}] {what}: done in {:.0} s ({:.0} CPU s){detail}",
            self.total, t.wall, t.cpu
        );
    }

    fn skip(&self, what: &str, detail: &str) {
        let mut done = self.done.lock().unwrap_or_else(|p| p.into_inner());
        *done += 1;
        eprintln!(
            "[{}/{}] {what}: already finished{detail}",
            *done, self.total
        );
    }

    fn add_timing(&self, out: &Path, key: &str, t: PhaseTime) -> Result<()> {
        let _file = self.timings.lock().unwrap_or_else(|p| p.into_inner());
        add_timing(out, key, t)
    }
}

/// One device's worker: what it runs with, and where its jobs' events go.
struct Worker<'a> {
    req: &'a ExperimentRequest,
    device: &'a SelectedDevice,
    control: &'a Control,
    phases: &'a Phases,
    progress: Progress,
}

/// Runs (or continues) the experiment on `devices` and writes its report. With several
/// devices the units of [`schedule`] run concurrently, one per device at a time. Returns the
/// report's path, or `None` when a phase was interrupted.
pub fn run_experiment(
    req: &ExperimentRequest,
    devices: &[SelectedDevice],
    control: &Control,
) -> Result<Option<PathBuf>> {
    if req.seeds.is_empty() {
        bail!("give at least one seed");
    }
    if devices.is_empty() {
        bail!("give at least one device");
    }
    if !req.report_only {
        check_settings(&req.out, &req.plan)?;
        let per_seed = req.plan.searchers().len() + 2 * req.plan.arms().len();
        let phases = Phases {
            total: req.seeds.len() * per_seed,
            done: Mutex::new(0),
            name_devices: devices.len() > 1,
            timings: Mutex::new(()),
        };
        // One progress bar only makes sense for one job at a time.
        let bar = devices.len() == 1 && std::io::stderr().is_terminal();
        let units = schedule::units(&req.seeds, &req.plan.arms());
        let finished = schedule::run(&units, devices, control, |unit, device| {
            let mut worker = Worker {
                req,
                device,
                control,
                phases: &phases,
                progress: if bar {
                    Progress::new()
                } else {
                    Progress::quiet()
                },
            };
            run_unit(&mut worker, unit)
        })?;
        if !finished {
            return Ok(None);
        }
    } else if !settings_path(&req.out).exists() {
        bail!("{}: no experiment here yet", req.out.display());
    }
    let rows = report::collect(&req.out, &req.seeds, &req.plan)?;
    let timings = read_timings(&req.out);
    let names: Vec<&str> = devices.iter().map(|d| d.description.as_str()).collect();
    let mut md = report::markdown(req, &names.join("; "), &rows, &timings);
    md += &cell_pictures(req);
    if devices.len() > 1 {
        md += "\nThe phases ran side by side on these devices: their wall-clock times add up to \
               more than the experiment took, and a phase's CPU seconds count this whole process \
               (none of a remote device's work).\n";
    }
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

/// The report's section of cell pictures (rendered now where missing), or a note on why
/// there are none.
#[cfg(not(target_arch = "wasm32"))]
fn cell_pictures(req: &ExperimentRequest) -> String {
    let (pictures, failed) = cells::render_cells(&req.out, &req.seeds, &req.plan);
    let mut md = String::from("\n## The chosen cells\n\n");
    for (seed, searcher, png) in &pictures {
        let rel = png.strip_prefix(&req.out).unwrap_or(png);
        md += &format!(
            "- seed {seed}, {} supernet: [{}]({})\n",
            searcher.name(),
            rel.display(),
            rel.display()
        );
    }
    if let Err(e) = failed {
        eprintln!("note: some cell pictures could not be drawn: {e:#}");
        md += &format!(
            "\nSome pictures could not be drawn here ({e:#}); `darts-pt studio DIR --panel selection` shows them.\n"
        );
    }
    md
}

#[cfg(target_arch = "wasm32")]
fn cell_pictures(_req: &ExperimentRequest) -> String {
    String::new()
}

/// The phases of one unit, in order; false when one was interrupted.
fn run_unit(w: &mut Worker, unit: Unit) -> Result<bool> {
    match unit {
        Unit::Search { seed, searcher } => {
            if !search_phase(w, seed, searcher)? {
                return Ok(false);
            }
            for arm in w
                .req
                .plan
                .arms()
                .into_iter()
                .filter(|a| a.searcher() == searcher)
            {
                if !select_phase(w, seed, arm)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Unit::Train { seed, arm } => train_phase(w, seed, arm),
    }
}

/// Runs a phase's job, timing it; false when it was interrupted.
fn timed<T>(
    w: &mut Worker,
    key: &str,
    what: &str,
    job: impl FnOnce(&mut dyn FnMut(&Event)) -> Result<End<T>>,
    detail: impl FnOnce(&T) -> String,
) -> Result<bool> {
    let n = w.phases.begin(what, w.device);
    let clock = Stopwatch::start();
    let progress = &mut w.progress;
    let end = job(&mut |e| progress.on_event(e));
    let secs = clock.read();
    w.phases.add_timing(&w.req.out, key, secs)?;
    match end.with_context(|| format!("{what} on {}", w.device.description))? {
        End::Finished(t) => {
            w.phases.end(n, what, secs, &detail(&t));
            Ok(true)
        }
        End::Interrupted { .. } => Ok(false),
        End::Diverged { epoch, step } => {
            bail!("{what} stopped: {}", crate::job::divergence(epoch, step))
        }
    }
}

fn search_phase(w: &mut Worker, seed: u64, searcher: Searcher) -> Result<bool> {
    let (req, device, control) = (w.req, w.device, w.control);
    let dir = search_dir(&req.out, seed, searcher);
    let name = searcher.name();
    let what = format!("seed {seed}: search {name} ({})", req.plan.space);
    let reader = RunReader::local(&dir);
    if reader.is_finished() {
        w.phases.skip(&what, "");
        return Ok(true);
    }
    let start = if reader.is_run() {
        SearchStart::Resume { dir }
    } else {
        SearchStart::New {
            config: Box::new(searcher.configure(&req.plan.search, seed)),
            dir,
        }
    };
    let key = format!("seed{seed}/search-{name}");
    let run = |sink: &mut dyn FnMut(&Event)| run_search(start, device, sink, control);
    timed(w, &key, &what, run, |_| String::new())
}

fn select_phase(w: &mut Worker, seed: u64, arm: Arm) -> Result<bool> {
    let (req, device, control) = (w.req, w.device, w.control);
    let dir = search_dir(&req.out, seed, arm.searcher());
    let what = format!("seed {seed}: select {}", arm.name());
    if RunReader::local(&dir)
        .finished_selection(arm.selection_label())
        .is_some()
    {
        w.phases.skip(&what, "");
        return Ok(true);
    }
    let sreq = SelectRequest {
        resume: true,
        table: req.table.clone(),
        ..SelectRequest::new(&dir, arm.select_method())
    };
    let key = format!("seed{seed}/select-{}", arm.name());
    let run = |sink: &mut dyn FnMut(&Event)| run_select(&sreq, device, sink, control);
    timed(w, &key, &what, run, |o| {
        format!(
            ": {} (supernet accuracy after discretisation {})",
            o.record.genotype.as_deref().unwrap_or("-"),
            report::pct(o.record.supernet_acc_after)
        )
    })
}

fn train_phase(w: &mut Worker, seed: u64, arm: Arm) -> Result<bool> {
    let (req, device, control) = (w.req, w.device, w.control);
    let dir = train_dir(&req.out, seed, arm);
    let what = format!("seed {seed}: retrain {}", arm.name());
    let reader = RunReader::local(&dir);
    if let Some(r) = reader.result() {
        w.phases
            .skip(&what, &format!(" (test {:.2}%)", 100.0 * r.final_test_acc));
        return Ok(true);
    }
    let source = search_dir(&req.out, seed, arm.searcher());
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
    timed(w, &key, &what, run, |r| {
        format!(
            " (test {:.2}%, best {:.2}%)",
            100.0 * r.final_test_acc,
            100.0 * r.best_test_acc
        )
    })
}
