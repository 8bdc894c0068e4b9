//! The studio's window: one state struct, a top bar with the panels and the current run, a
//! status bar saying which adapter renders and which device computes, and one function per
//! panel. Everything slow (reading runs, jobs, evaluations, the benchmark table) happens on
//! worker threads; each frame only takes in what they sent.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use egui::{Align, Layout, RichText, Ui, Vec2};
use egui_plot::{Line, Plot, PlotPoints, VLine};

use super::cell::{self, CellView, state_name};
use super::colormap::{self, ValueRange, op_color, op_short};
use super::files::{Files, LocalFiles, RecentRuns};
use super::gpu::{self, GpuInfo};
use super::heatmap::{self, Heatmap};
use super::jobs::{Job, JobSpec, catch, spawn_worker};
use super::perturb::Perturbation;
use super::record::{RunRecord, chosen_ops};
use super::runs::{self, Compute, OpenRunRow, RunsAction, RunsUi};
use super::selection::{SelectionAction, SelectionUi, TableState};
use crate::config::SearchConfig;
use crate::device::{DeviceChoice, SelectedDevice};
use crate::lookup::Nb201Table;
use crate::select::SelectRequest;
use crate::space::{CellType, Family, OpKind};

/// The panels, in the order of the top bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Panel {
    Runs,
    Cell,
    Selection,
    Perturbation,
    Curves,
    Device,
}

impl Panel {
    pub const ALL: [Panel; 6] = [
        Panel::Runs,
        Panel::Cell,
        Panel::Selection,
        Panel::Perturbation,
        Panel::Curves,
        Panel::Device,
    ];

    /// The name `--panel` takes.
    pub fn name(self) -> &'static str {
        match self {
            Panel::Runs => "runs",
            Panel::Cell => "cell",
            Panel::Selection => "selection",
            Panel::Perturbation => "perturbation",
            Panel::Curves => "curves",
            Panel::Device => "device",
        }
    }

    /// The tab's title.
    pub fn title(self) -> &'static str {
        match self {
            Panel::Runs => "Runs",
            Panel::Cell => "Cell graph",
            Panel::Selection => "Selection",
            Panel::Perturbation => "Perturbation",
            Panel::Curves => "Curves",
            Panel::Device => "Device",
        }
    }
}

impl std::str::FromStr for Panel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Panel::ALL
            .into_iter()
            .find(|p| p.name() == s.to_ascii_lowercase())
            .ok_or_else(|| {
                format!(
                    "unknown panel '{s}' (expected runs, cell, selection, perturbation, curves or device)"
                )
            })
    }
}

/// Which device computes when the studio starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ComputePref {
    /// The window's GPU when it is a real GPU that burn could share, else the CPU.
    #[default]
    Auto,
    Cpu,
    Gpu,
}

/// An operation to mask when the perturbation panel loads: (cell type, edge, op name).
pub type MaskSpec = (CellType, usize, OpKind);

/// How the studio starts.
#[derive(Clone, Debug, Default)]
pub struct StudioOptions {
    pub runs: Vec<PathBuf>,
    pub panel: Option<Panel>,
    pub table: Option<PathBuf>,
    pub compute: ComputePref,
    /// The recent-runs file; `None` keeps the list in memory only.
    pub recent_file: Option<PathBuf>,
    pub masks: Vec<MaskSpec>,
    /// Capture the real window into this PNG once idle, then close (for `--window`).
    pub capture: Option<PathBuf>,
    /// Where the directory browser starts (the current directory if empty).
    pub browse_dir: Option<PathBuf>,
}

/// An open run and its latest reading.
struct OpenRun {
    root: PathBuf,
    record: Option<Arc<RunRecord>>,
    loading: Option<Receiver<RunRecord>>,
    loaded_at: f64,
    compare: bool,
}

/// The cell panel's own state.
struct CellUi {
    /// Index into the run's alpha records; `None` follows the latest.
    epoch: Option<usize>,
    playing: bool,
    last_tick: f64,
    /// A selection label whose choices are highlighted.
    highlight: Option<String>,
    /// Scale bars and colours from the run's smallest weight instead of 0.
    stretch: bool,
}

impl Default for CellUi {
    fn default() -> Self {
        CellUi {
            epoch: None,
            playing: false,
            last_tick: 0.0,
            highlight: None,
            stretch: true,
        }
    }
}

/// The outcome of the device check, shared with its worker.
type CheckSlot = Arc<Mutex<Option<Result<String, String>>>>;

/// The state of a window capture requested with `--window`.
pub type CaptureResult = Arc<Mutex<Option<Result<(), String>>>>;

/// The studio.
pub struct StudioApp {
    ctx: egui::Context,
    files: Arc<dyn Files>,
    panel: Panel,
    runs: Vec<OpenRun>,
    current: Option<usize>,
    recent: RecentRuns,
    jobs: Vec<Job>,
    gpu: Option<GpuInfo>,
    heatmap: heatmap::Renderer,
    compute: Compute,
    cpu: SelectedDevice,
    table_path: Option<PathBuf>,
    table: TableState,
    table_rx: Option<Receiver<Result<Nb201Table, String>>>,
    runs_ui: RunsUi,
    cell_ui: CellUi,
    selection_ui: SelectionUi,
    perturb: Option<Perturbation>,
    pending_masks: Vec<MaskSpec>,
    check: Option<CheckSlot>,
    capture: Option<PathBuf>,
    capture_state: CaptureResult,
    capture_asked: bool,
    frames: u64,
    idle_frames: u64,
    messages: Vec<String>,
}

impl StudioApp {
    /// Builds the app in eframe's (or the offscreen renderer's) creator: registers the
    /// window's wgpu device with burn and installs the heatmap shader on it.
    pub fn new(cc: &eframe::CreationContext<'_>, opts: StudioOptions) -> Self {
        let ctx = cc.egui_ctx.clone();
        ctx.set_theme(egui::Theme::Light);
        // Arrows and triangles (edge names, play buttons) come from the bundled monospace font,
        // so every machine draws the same glyphs.
        let mut fonts = egui::FontDefinitions::default();
        if let Some(f) = fonts.families.get_mut(&egui::FontFamily::Proportional) {
            f.push("Hack".into());
        }
        ctx.set_fonts(fonts);
        let (gpu, heatmap) = match &cc.wgpu_render_state {
            Some(rs) => {
                let info = gpu::share_with_burn(rs);
                heatmap::install(rs);
                let linear_out = rs.target_format.is_srgb();
                (Some(info), heatmap::Renderer::Gpu { linear_out })
            }
            None => (None, heatmap::Renderer::Cpu),
        };
        let shared_ok = gpu.as_ref().is_some_and(|g| g.burn.is_ok());
        let compute = match opts.compute {
            ComputePref::Cpu => Compute::Cpu,
            ComputePref::Gpu if shared_ok => Compute::SharedGpu,
            ComputePref::Gpu => Compute::Cpu,
            ComputePref::Auto => {
                if shared_ok && gpu.as_ref().is_some_and(|g| g.is_gpu) {
                    Compute::SharedGpu
                } else {
                    Compute::Cpu
                }
            }
        };
        let mut messages = Vec::new();
        if opts.compute == ComputePref::Gpu && !shared_ok {
            messages.push("the window's GPU cannot compute for burn; using the CPU".into());
        }
        let files: Arc<dyn Files> = Arc::new(LocalFiles);
        let recent = RecentRuns::load(files.as_ref(), opts.recent_file.clone());
        let table_path = Nb201Table::configured_path(opts.table.as_deref());
        let browse = opts
            .browse_dir
            .clone()
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_else(|| PathBuf::from("."));
        let mut app = StudioApp {
            ctx,
            files,
            panel: opts.panel.unwrap_or(if opts.runs.is_empty() {
                Panel::Runs
            } else {
                Panel::Cell
            }),
            runs: Vec::new(),
            current: None,
            recent,
            jobs: Vec::new(),
            gpu,
            heatmap,
            compute,
            cpu: cpu_device(),
            table: if table_path.is_some() {
                TableState::Loading
            } else {
                TableState::NotConfigured
            },
            table_path,
            table_rx: None,
            runs_ui: RunsUi::new(browse),
            cell_ui: CellUi::default(),
            selection_ui: SelectionUi::default(),
            perturb: None,
            pending_masks: opts.masks.clone(),
            check: None,
            capture: opts.capture.clone(),
            capture_state: Arc::new(Mutex::new(None)),
            capture_asked: false,
            frames: 0,
            idle_frames: 0,
            messages,
        };
        app.want_table();
        for r in &opts.runs {
            app.open(r);
        }
        if let Some(first) = opts.runs.first() {
            app.current = app.runs.iter().position(|r| r.root == *first);
        }
        app
    }

    /// The result of a `--window` capture, filled once the PNG is written.
    pub fn capture_state(&self) -> CaptureResult {
        self.capture_state.clone()
    }

    /// Whether anything is still on its way: a run being read, a job, an evaluation, the table.
    pub fn is_busy(&self) -> bool {
        self.runs.iter().any(|r| r.loading.is_some())
            || self.jobs.iter().any(|j| !j.is_done())
            || self.perturb.as_ref().is_some_and(|p| p.is_busy())
            || matches!(self.table, TableState::Loading)
            || self.check.as_ref().is_some_and(|c| lock(c).is_none())
    }

    /// The panel shown.
    pub fn panel(&self) -> Panel {
        self.panel
    }

    pub fn set_panel(&mut self, p: Panel) {
        self.panel = p;
    }

    /// The current run's latest reading.
    pub fn current_record(&self) -> Option<Arc<RunRecord>> {
        self.current
            .and_then(|i| self.runs.get(i))
            .and_then(|r| r.record.clone())
    }

    /// The jobs started in this window.
    pub fn jobs(&self) -> &[Job] {
        &self.jobs
    }

    /// How heatmaps are drawn (by the WGSL shader or on the CPU).
    pub fn heatmap_renderer(&self) -> heatmap::Renderer {
        self.heatmap
    }

    /// What is known about the window's device.
    pub fn gpu(&self) -> Option<&GpuInfo> {
        self.gpu.as_ref()
    }

    /// The device jobs and evaluations run on.
    pub fn compute_device(&self) -> SelectedDevice {
        match (self.compute, self.gpu.as_ref().map(|g| &g.burn)) {
            (Compute::SharedGpu, Some(Ok(d))) => d.clone(),
            _ => self.cpu.clone(),
        }
    }

    fn wake(&self) -> impl Fn() + Send + Sync + 'static {
        let ctx = self.ctx.clone();
        move || ctx.request_repaint()
    }

    /// Opens a run (or selects it if open) and reads it in the background.
    pub fn open(&mut self, root: &Path) {
        let root = root.to_path_buf();
        if let Some(i) = self.runs.iter().position(|r| r.root == root) {
            self.current = Some(i);
            return;
        }
        self.recent.remember(self.files.as_ref(), &root);
        self.runs.push(OpenRun {
            root,
            record: None,
            loading: None,
            loaded_at: f64::NEG_INFINITY,
            compare: false,
        });
        let i = self.runs.len() - 1;
        self.reload(i);
        self.current = Some(i);
        self.cell_ui.epoch = None;
    }

    fn reload(&mut self, i: usize) {
        let Some(run) = self.runs.get_mut(i) else {
            return;
        };
        if run.loading.is_some() {
            return;
        }
        let (tx, rx) = channel();
        let files = self.files.clone();
        let root = run.root.clone();
        let ctx = self.ctx.clone();
        spawn_worker("darts-pt run reader", move || {
            let rec = RunRecord::load(files.as_ref(), &root);
            let _ = tx.send(rec);
            ctx.request_repaint();
        });
        run.loading = Some(rx);
    }

    /// Takes in everything the workers sent since the last frame.
    fn take_in(&mut self, now: f64) {
        let mut finished_runs = Vec::new();
        for j in &mut self.jobs {
            let was_done = j.is_done();
            j.poll();
            if j.is_done() && !was_done {
                finished_runs.push(j.run.clone());
            }
        }
        for root in finished_runs {
            if let Some(i) = self.runs.iter().position(|r| r.root == root) {
                self.runs[i].loaded_at = f64::NEG_INFINITY;
            }
        }
        let live: Vec<PathBuf> = self
            .jobs
            .iter()
            .filter(|j| !j.is_done())
            .map(|j| j.run.clone())
            .collect();
        for i in 0..self.runs.len() {
            let r = &mut self.runs[i];
            if let Some(rx) = &r.loading
                && let Ok(rec) = rx.try_recv()
            {
                r.record = Some(Arc::new(rec));
                r.loading = None;
                r.loaded_at = now;
            }
            let running =
                r.record.as_ref().is_some_and(|x| x.is_running()) || live.contains(&r.root);
            let stale = r.loaded_at == f64::NEG_INFINITY || (running && now - r.loaded_at > 1.0);
            if stale && r.loading.is_none() {
                self.reload(i);
            }
        }
        if let Some(rx) = &self.table_rx
            && let Ok(t) = rx.try_recv()
        {
            self.table = match t {
                Ok(t) => TableState::Ready(Arc::new(t)),
                Err(e) => TableState::Failed(e),
            };
            self.table_rx = None;
        }
        let rec = self.current_record();
        if let Some(p) = &mut self.perturb {
            p.poll();
            if p.is_ready() && !self.pending_masks.is_empty() {
                let masks = std::mem::take(&mut self.pending_masks);
                for (cell, edge, op) in masks {
                    let space = rec.as_ref().and_then(|r| r.space.clone());
                    let o = space
                        .as_ref()
                        .and_then(|s| s.ops(cell, edge).iter().position(|x| *x == op));
                    match o {
                        Some(o) => p.toggle(cell::OpClick { cell, edge, op: o }),
                        None => self.messages.push(format!(
                            "--mask: {op} is not a candidate on {cell} edge {edge}"
                        )),
                    }
                }
            }
        }
    }

    /// Starts loading the NB201 table, if one is configured, in the background.
    fn want_table(&mut self) {
        if matches!(self.table, TableState::Loading)
            && self.table_rx.is_none()
            && let Some(path) = self.table_path.clone()
        {
            let (tx, rx) = channel();
            let wake = self.wake();
            spawn_worker("darts-pt table", move || {
                let _ = tx.send(Nb201Table::load(&path).map_err(|e| e.to_string()));
                wake();
            });
            self.table_rx = Some(rx);
        }
    }

    fn start_job(&mut self, spec: JobSpec) {
        let device = self.compute_device();
        let job = Job::start(spec, device, self.wake());
        let root = job.run.clone();
        self.jobs.push(job);
        self.open(&root);
    }

    fn job_running(&self) -> bool {
        self.jobs.iter().any(|j| !j.is_done())
    }

    fn top_bar(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            ui.label(RichText::new("darts-pt studio").strong().size(16.0));
            ui.separator();
            for p in Panel::ALL {
                if ui
                    .selectable_label(self.panel == p, RichText::new(p.title()).size(14.0))
                    .clicked()
                {
                    self.panel = p;
                }
            }
            ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                let names: Vec<String> = self
                    .runs
                    .iter()
                    .map(|r| super::jobs::short(&r.root))
                    .collect();
                let current = self.current.and_then(|i| names.get(i).cloned());
                let combo = egui::ComboBox::from_id_salt("current-run")
                    .selected_text(current.unwrap_or_else(|| "no run open".into()))
                    .show_ui(ui, |ui| {
                        for (i, n) in names.iter().enumerate() {
                            ui.selectable_value(&mut self.current, Some(i), n);
                        }
                    });
                let l = ui.label("run:");
                combo.response.labelled_by(l.id);
            });
        });
    }

    fn status_bar(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            let render = match &self.gpu {
                Some(g) => format!("rendering: {}", g.adapter_line()),
                None => "rendering: no wgpu device".into(),
            };
            ui.label(render);
            ui.separator();
            ui.label(format!("compute: {}", self.compute_device().description));
            if let Some(j) = self.jobs.iter().rev().find(|j| !j.is_done()) {
                ui.separator();
                ui.add(
                    egui::ProgressBar::new(j.fraction)
                        .desired_width(160.0)
                        .text(format!("{}: {}", j.title, j.phase)),
                );
            }
            if let Some(m) = self.messages.last() {
                ui.separator();
                ui.colored_label(ui.visuals().warn_fg_color, m);
            }
        });
    }

    fn central(&mut self, ui: &mut Ui) {
        let rec = self.current_record();
        match self.panel {
            Panel::Runs => self.runs_panel(ui),
            Panel::Device => self.device_panel(ui),
            p => {
                let Some(rec) = rec else {
                    if self.current.is_some() {
                        ui.horizontal(|ui| {
                            ui.spinner();
                            ui.label("reading the run …");
                        });
                    } else {
                        ui.label("Open a run in the Runs panel (or start a search there).");
                    }
                    return;
                };
                if rec.config.is_none() {
                    ui.heading(&rec.name);
                    for pr in &rec.problems {
                        ui.colored_label(ui.visuals().error_fg_color, pr);
                    }
                    return;
                }
                match p {
                    Panel::Cell => self.cell_panel(ui, &rec),
                    Panel::Selection => {
                        let running = self.job_running();
                        if let Some(SelectionAction::Run(method)) =
                            self.selection_ui.ui(ui, &rec, &self.table, running)
                        {
                            let req = SelectRequest {
                                run: rec.root.clone(),
                                method,
                                criterion: self.selection_ui.criterion,
                                fixed_alpha: false,
                                resume: false,
                                out: None,
                                tune_epochs: self.selection_ui.tune_epochs,
                                seed: None,
                                table: self.table_path.clone(),
                            };
                            self.start_job(JobSpec::Select(req));
                        }
                    }
                    Panel::Perturbation => self.perturb_panel(ui, &rec),
                    Panel::Curves => {
                        let mut list: Vec<Arc<RunRecord>> = vec![rec.clone()];
                        for (i, r) in self.runs.iter().enumerate() {
                            if r.compare
                                && Some(i) != self.current
                                && let Some(x) = &r.record
                            {
                                list.push(x.clone());
                            }
                        }
                        let refs: Vec<&RunRecord> = list.iter().map(|a| a.as_ref()).collect();
                        super::curves::ui(ui, &refs);
                    }
                    Panel::Runs | Panel::Device => {}
                }
            }
        }
    }

    fn runs_panel(&mut self, ui: &mut Ui) {
        let rows: Vec<OpenRunRow<'_>> = self
            .runs
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let rec = r.record.as_deref();
                OpenRunRow {
                    name: rec.map_or("…", |x| x.name.as_str()),
                    path: &r.root,
                    summary: rec.map_or("reading …".into(), |x| x.summary()),
                    problems: rec.map_or(&[], |x| x.problems.as_slice()),
                    compare: r.compare,
                    current: self.current == Some(i),
                    interrupted: rec.is_some_and(|x| {
                        x.status
                            .as_ref()
                            .is_some_and(|s| s.state == "interrupted" && x.has_checkpoint)
                    }) && !self.jobs.iter().any(|j| !j.is_done() && j.run == r.root),
                }
            })
            .collect();
        let gpu_desc = self
            .gpu
            .as_ref()
            .and_then(|g| g.burn.as_ref().ok())
            .map(|d| d.description.clone());
        let mut compute = self.compute;
        let actions = runs::ui(
            ui,
            &mut self.runs_ui,
            self.files.as_ref(),
            &self.recent,
            &rows,
            &self.jobs,
            &mut compute,
            gpu_desc.as_deref(),
        );
        drop(rows);
        self.compute = compute;
        for a in actions {
            match a {
                RunsAction::Open(p) => self.open(&p),
                RunsAction::Close(i) => {
                    if i < self.runs.len() {
                        self.runs.remove(i);
                        self.current = match self.current {
                            Some(c) if c == i => (!self.runs.is_empty()).then_some(0),
                            Some(c) if c > i => Some(c - 1),
                            c => c,
                        };
                    }
                }
                RunsAction::Select(i) => self.current = Some(i),
                RunsAction::ToggleCompare(i) => {
                    if let Some(r) = self.runs.get_mut(i) {
                        r.compare = !r.compare;
                    }
                }
                RunsAction::StartSearch => match self.runs_ui.form.resolve(self.compute) {
                    Ok((config, dir)) => {
                        if dir.join("config.toml").exists() {
                            self.runs_ui.form.error = Some(format!(
                                "{} already holds a run: open it, or choose another directory",
                                dir.display()
                            ));
                        } else {
                            self.runs_ui.form.error = None;
                            self.start_job(JobSpec::Search {
                                config: Box::new(config),
                                dir,
                                resume: false,
                            });
                        }
                    }
                    Err(e) => self.runs_ui.form.error = Some(e),
                },
                RunsAction::Resume(dir) => self.start_job(JobSpec::Search {
                    config: Box::new(SearchConfig::default()),
                    dir,
                    resume: true,
                }),
                RunsAction::Pause(i, p) => {
                    if let Some(j) = self.jobs.get_mut(i) {
                        j.set_paused(p);
                    }
                }
                RunsAction::Cancel(i) => {
                    if let Some(j) = self.jobs.get_mut(i) {
                        j.cancel();
                    }
                }
                RunsAction::DismissJob(i) => {
                    if i < self.jobs.len() && self.jobs[i].is_done() {
                        self.jobs.remove(i);
                    }
                }
            }
        }
    }

    fn cell_panel(&mut self, ui: &mut Ui, rec: &RunRecord) {
        let Some(space) = rec.space.clone() else {
            return;
        };
        let n = rec.alphas.len();
        if n == 0 {
            ui.label("alpha.jsonl has no records yet.");
            return;
        }
        let now = ui.input(|i| i.time);
        let mut idx = self.cell_ui.epoch.unwrap_or(n - 1).min(n - 1);
        if self.cell_ui.playing && now - self.cell_ui.last_tick > 0.6 {
            self.cell_ui.last_tick = now;
            if idx + 1 < n {
                idx += 1;
                self.cell_ui.epoch = Some(idx);
            } else {
                self.cell_ui.playing = false;
            }
        }
        let labels: Vec<String> = rec.selections.keys().cloned().collect();
        if self
            .cell_ui
            .highlight
            .as_ref()
            .is_some_and(|h| !labels.contains(h))
        {
            self.cell_ui.highlight = None;
        }
        ui.horizontal(|ui| {
            let play = if self.cell_ui.playing {
                "‖ pause"
            } else {
                "▶ play"
            };
            if ui
                .button(play)
                .on_hover_text("step through the epochs of alpha.jsonl")
                .clicked()
            {
                self.cell_ui.playing = !self.cell_ui.playing;
                if self.cell_ui.playing && idx + 1 == n {
                    idx = 0;
                }
                self.cell_ui.last_tick = now;
                self.cell_ui.epoch = Some(idx);
            }
            let mut e = idx;
            let resp = ui.add(
                egui::Slider::new(&mut e, 0..=n - 1)
                    .text("epoch")
                    .custom_formatter(|v, _| {
                        rec.alphas
                            .get(v as usize)
                            .map_or(String::new(), |a| a.epoch.to_string())
                    }),
            );
            if resp.changed() {
                self.cell_ui.epoch = Some(e);
                idx = e;
            }
            let epoch = rec.alphas[idx].epoch;
            ui.label(if epoch == 0 {
                "softmax(α) at initialisation".to_string()
            } else {
                format!("softmax(α) after epoch {epoch}")
            });
            ui.separator();
            egui::ComboBox::new("highlight", "selection highlighted")
                .selected_text(match &self.cell_ui.highlight {
                    Some(h) => h.clone(),
                    None => "none".into(),
                })
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.cell_ui.highlight, None, "none");
                    for l in &labels {
                        ui.selectable_value(&mut self.cell_ui.highlight, Some(l.clone()), l);
                    }
                });
            ui.separator();
            ui.checkbox(&mut self.cell_ui.stretch, "stretch the scale")
                .on_hover_text(
                    "bars and colours span the run's smallest to largest weight instead of \
                     0 to the largest: small changes become visible (the legend gives the numbers)",
                );
        });
        if self.cell_ui.playing {
            ui.ctx().request_repaint_after(Duration::from_millis(100));
        }
        let mut op_kinds: Vec<OpKind> = Vec::new();
        for c in space.cell_types() {
            for e in 0..space.num_edges() {
                for op in space.ops(*c, e) {
                    if !op_kinds.contains(op) {
                        op_kinds.push(*op);
                    }
                }
            }
        }
        colormap::op_legend(ui, &op_kinds);
        ui.separator();
        let alpha = &rec.alphas[idx];
        let range = rec.alpha_range(self.cell_ui.stretch);
        let side_w = 330.0f32.min(ui.available_width() * 0.4);
        let main_w = ui.available_width() - side_w - 12.0;
        let highlight = self
            .cell_ui
            .highlight
            .as_ref()
            .and_then(|h| rec.selections.get(h));
        ui.horizontal_top(|ui| {
            ui.allocate_ui_with_layout(
                Vec2::new(main_w, ui.available_height()),
                Layout::top_down(Align::Min),
                |ui| {
                    egui::ScrollArea::vertical()
                        .id_salt("cell-graphs")
                        .show(ui, |ui| {
                            ui.set_width(main_w - 14.0);
                            for &ct in space.cell_types() {
                                let Some(w) = RunRecord::cell_weights(alpha, ct) else {
                                    continue;
                                };
                                let chosen = highlight.and_then(|s| chosen_ops(s, &space, ct));
                                ui.strong(cell::cell_title(&space, ct));
                                let view = CellView {
                                    space: &space,
                                    cell: ct,
                                    weights: w,
                                    range,
                                    chosen: chosen.as_deref(),
                                    masked: &[],
                                    diff: None,
                                    focus: None,
                                    discrete: false,
                                    salt: "alpha",
                                };
                                cell::show(ui, &view);
                            }
                            ui.weak(format!(
                                "Each edge's box shows softmax(α) of its candidate operations as \
                                 bars (height {:.3} – {:.3}); the arc's thickness and colour follow \
                                 the strongest operation, named under the box. Hover a bar for the \
                                 numbers.",
                                range.min, range.max
                            ));
                        });
                },
            );
            ui.separator();
            ui.allocate_ui_with_layout(
                Vec2::new(side_w, ui.available_height()),
                Layout::top_down(Align::Min),
                |ui| {
                    egui::ScrollArea::vertical()
                        .id_salt("cell-side")
                        .show(ui, |ui| {
                            self.cell_side(ui, rec, &space, idx, range);
                        });
                },
            );
        });
    }

    /// Heatmaps of the current epoch and the mean weight of each operation over the epochs.
    fn cell_side(
        &self,
        ui: &mut Ui,
        rec: &RunRecord,
        space: &crate::space::SearchSpace,
        idx: usize,
        range: ValueRange,
    ) {
        let alpha = &rec.alphas[idx];
        let edges = space.edges();
        for (k, &ct) in space.cell_types().iter().enumerate() {
            let Some(w) = RunRecord::cell_weights(alpha, ct) else {
                continue;
            };
            ui.strong(format!("softmax(α), {}", ct.name()));
            let row_labels = edges
                .iter()
                .map(|e| {
                    format!(
                        "{}←{}",
                        match space.family {
                            Family::Darts => (e.to - 2).to_string(),
                            Family::Nb201 => e.to.to_string(),
                        },
                        state_name(space.family, e.from)
                            .replace("c_{k-2}", "k-2")
                            .replace("c_{k-1}", "k-1")
                    )
                })
                .collect();
            let col_labels = space
                .ops(ct, 0)
                .iter()
                .map(|o| op_short(*o).to_string())
                .collect();
            let label = format!("{} alpha heatmap", ct.name());
            heatmap::show(
                ui,
                &Heatmap {
                    key: k as u64,
                    label: &label,
                    rows: w,
                    row_labels,
                    col_labels,
                    range,
                },
                self.heatmap,
            );
            ui.add_space(4.0);
        }
        colormap::scale_legend(ui, "scale", range, 120.0);
        ui.weak(match self.heatmap {
            heatmap::Renderer::Gpu { .. } => "cells drawn by shaders/colormap.wgsl on the GPU",
            heatmap::Renderer::Cpu => "cells drawn on the CPU (no wgpu device)",
        });
        ui.add_space(8.0);
        ui.strong("mean softmax(α) per operation over the epochs");
        let mut kinds: Vec<OpKind> = Vec::new();
        for c in space.cell_types() {
            for e in 0..space.num_edges() {
                for op in space.ops(*c, e) {
                    if !kinds.contains(op) {
                        kinds.push(*op);
                    }
                }
            }
        }
        let lines: Vec<(OpKind, Vec<[f64; 2]>)> = kinds
            .iter()
            .map(|&op| {
                let pts = rec
                    .alphas
                    .iter()
                    .map(|a| {
                        let mut sum = 0.0;
                        let mut count = 0;
                        for &ct in space.cell_types() {
                            let Some(w) = RunRecord::cell_weights(a, ct) else {
                                continue;
                            };
                            for (e, row) in w.iter().enumerate() {
                                for (o, v) in row.iter().enumerate() {
                                    if space.ops(ct, e).get(o) == Some(&op) {
                                        sum += *v as f64;
                                        count += 1;
                                    }
                                }
                            }
                        }
                        [a.epoch as f64, sum / count.max(1) as f64]
                    })
                    .collect();
                (op, pts)
            })
            .collect();
        let epoch = alpha.epoch as f64;
        Plot::new("op-trend")
            .height(180.0)
            .x_axis_label("epoch")
            .allow_drag(false)
            .allow_zoom(false)
            .allow_scroll(false)
            .show(ui, |p| {
                for (op, pts) in lines {
                    p.line(
                        Line::new(op_short(op), PlotPoints::from(pts))
                            .color(op_color(op))
                            .width(2.0),
                    );
                }
                p.vline(VLine::new("", epoch).color(egui::Color32::GRAY));
            });
        ui.weak(
            "Watch skip_connect here: over a long DARTS search, parameter-free operations \
             (skip_connect above all) gain weight, the collapse that selecting by magnitude \
             inherits and PT avoids.",
        );
    }

    fn perturb_panel(&mut self, ui: &mut Ui, rec: &RunRecord) {
        if !rec.has_checkpoint {
            ui.label("This run has no checkpoint yet: there is no supernet to perturb.");
            return;
        }
        let device = self.compute_device();
        let stale = self
            .perturb
            .as_ref()
            .is_none_or(|p| p.run != rec.root || p.device != device.description);
        if stale && self.job_running() {
            // Building the supernet draws random initial weights from the backend's one
            // random stream, which would change the running job's numbers.
            ui.label(format!(
                "The supernet loads once the running job has finished ({}).",
                super::runs::ONE_JOB
            ));
            return;
        }
        if stale {
            self.perturb = Some(Perturbation::load(&rec.root, device, self.wake()));
        }
        if let Some(p) = &mut self.perturb {
            p.ui(ui, rec, rec.alpha_range(self.cell_ui.stretch));
        }
    }

    fn device_panel(&mut self, ui: &mut Ui) {
        ui.heading("Rendering and compute share one wgpu device");
        ui.label(
            "The window's device is created with every feature and limit its adapter offers, \
             as burn's kernels need, and then registered with burn: rendering, the heatmap \
             shader and (when chosen) search, selection and perturbation all run on it.",
        );
        ui.add_space(6.0);
        match &self.gpu {
            None => {
                ui.label(
                    "No wgpu device: the window renders without wgpu; burn computes on the CPU.",
                );
            }
            Some(g) => {
                egui::Grid::new("device-facts")
                    .striped(true)
                    .num_columns(2)
                    .show(ui, |ui| {
                        ui.label("adapter");
                        ui.label(g.adapter_line());
                        ui.end_row();
                        ui.label("driver");
                        ui.label(format!("{} {}", g.adapter.driver, g.adapter.driver_info));
                        ui.end_row();
                        ui.label("device features");
                        ui.label(format!(
                            "{} ({})",
                            g.features,
                            if g.has_adapter_features {
                                "all the adapter offers"
                            } else {
                                "fewer than the adapter offers"
                            }
                        ));
                        ui.end_row();
                        ui.label("max buffer size");
                        ui.label(format!("{} MiB", g.max_buffer_size >> 20));
                        ui.end_row();
                        ui.label("max storage binding");
                        ui.label(format!("{} MiB", g.max_storage_buffer_binding_size >> 20));
                        ui.end_row();
                        ui.label("max invocations per workgroup");
                        ui.label(g.max_compute_invocations_per_workgroup.to_string());
                        ui.end_row();
                        ui.label("window format");
                        ui.label(&g.target_format);
                        ui.end_row();
                        ui.label("burn on this device");
                        match &g.burn {
                            Ok(d) => ui.label(format!("registered: {}", d.description)),
                            Err(e) => ui.colored_label(ui.visuals().warn_fg_color, e),
                        };
                        ui.end_row();
                    });
            }
        }
        ui.add_space(8.0);
        ui.strong("Compute on");
        let gpu_ok = self.gpu.as_ref().is_some_and(|g| g.burn.is_ok());
        ui.horizontal(|ui| {
            ui.radio_value(&mut self.compute, Compute::Cpu, &self.cpu.description);
            ui.add_enabled_ui(gpu_ok, |ui| {
                ui.radio_value(
                    &mut self.compute,
                    Compute::SharedGpu,
                    "the window's wgpu device",
                );
            });
        });
        ui.weak(
            "Software adapters (lavapipe, llvmpipe) are far slower than the flex CPU backend; \
             the studio picks the GPU by default only when the adapter is a real GPU.",
        );
        ui.add_space(8.0);
        let running = self.check.as_ref().is_some_and(|c| lock(c).is_none());
        if ui
            .add_enabled(
                !running,
                egui::Button::new("Check: a matrix product on the compute device"),
            )
            .clicked()
        {
            let slot: CheckSlot = Arc::new(Mutex::new(None));
            let s = slot.clone();
            let device = self.compute_device();
            let cpu = self.cpu.clone();
            let wake = self.wake();
            spawn_worker("darts-pt device check", move || {
                let r = catch(|| matmul_check(&device, &cpu));
                *lock(&s) = Some(r);
                wake();
            });
            self.check = Some(slot);
        }
        if let Some(c) = &self.check {
            match &*lock(c) {
                None => {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label("running (the first kernels compile their shaders) …");
                    });
                }
                Some(Ok(s)) => {
                    ui.label(s);
                }
                Some(Err(e)) => {
                    ui.colored_label(ui.visuals().error_fg_color, e);
                }
            }
        }
    }

    /// With `--window`: once the studio is idle, ask eframe for a screenshot, save it, close.
    fn capture_window(&mut self, ctx: &egui::Context) {
        let Some(path) = self.capture.clone() else {
            return;
        };
        if self.capture_asked {
            return;
        }
        // Settle first: a few idle frames so layouts (grids, plots) have had their sizing pass.
        let timed_out = ctx.input(|i| i.time) > 180.0;
        if self.idle_frames < 5 && !timed_out {
            ctx.request_repaint();
            return;
        }
        self.capture_asked = true;
        let state = self.capture_state.clone();
        let ctx2 = ctx.clone();
        ctx.request_screenshot(move |img| {
            let r = save_color_image(&img, &path);
            *lock(&state) = Some(r);
            ctx2.send_viewport_cmd(egui::ViewportCommand::Close);
        });
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn cpu_device() -> SelectedDevice {
    crate::device::select(DeviceChoice::Cpu).unwrap_or_else(|_| SelectedDevice {
        device: burn::tensor::Device::flex(),
        description: "cpu (flex backend)".into(),
        is_gpu: false,
    })
}

/// Writes an egui screenshot as PNG.
pub fn save_color_image(img: &egui::ColorImage, path: &Path) -> Result<(), String> {
    let [w, h] = img.size;
    let bytes: Vec<u8> = img.pixels.iter().flat_map(|c| c.to_array()).collect();
    let buf = image::RgbaImage::from_raw(w as u32, h as u32, bytes)
        .ok_or_else(|| "screenshot has an unexpected size".to_string())?;
    buf.save(path)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// A 256x256 product on `device`, compared with the CPU's: proves burn computes correctly on
/// the device the window renders with.
fn matmul_check(device: &SelectedDevice, cpu: &SelectedDevice) -> anyhow::Result<String> {
    use burn::tensor::{Tensor, TensorData};
    let n = 256;
    let a: Vec<f32> = (0..n * n)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
        .collect();
    let b: Vec<f32> = (0..n * n)
        .map(|i| ((i * 53 % 97) as f32 - 48.0) / 48.0)
        .collect();
    let run = |d: &burn::tensor::Device| -> Vec<f32> {
        let x = Tensor::<2>::from_data(TensorData::new(a.clone(), [n, n]), d);
        let y = Tensor::<2>::from_data(TensorData::new(b.clone(), [n, n]), d);
        x.matmul(y)
            .into_data()
            .try_into_vec::<f32>()
            .unwrap_or_default()
    };
    // Once to compile, once to time.
    let _ = run(&device.device);
    let clock = std::time::Instant::now();
    let got = run(&device.device);
    let ms = clock.elapsed().as_secs_f64() * 1e3;
    let want = run(&cpu.device);
    anyhow::ensure!(
        got.len() == want.len(),
        "the device returned {} values",
        got.len()
    );
    let diff = got
        .iter()
        .zip(&want)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    Ok(format!(
        "256×256 matmul on {}: {ms:.1} ms; largest difference from the CPU result {diff:.2e}",
        device.description
    ))
}

impl eframe::App for StudioApp {
    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        let now = ui.input(|i| i.time);
        self.take_in(now);
        self.frames += 1;
        egui::Panel::top("top-bar").show(ui, |ui| self.top_bar(ui));
        egui::Panel::bottom("status-bar").show(ui, |ui| self.status_bar(ui));
        egui::CentralPanel::default().show(ui, |ui| self.central(ui));
        if self.is_busy() {
            self.idle_frames = 0;
            // Workers wake the UI when they send; this is only a safety net.
            ui.ctx().request_repaint_after(Duration::from_millis(250));
        } else {
            self.idle_frames += 1;
        }
        // Live runs are re-read every second.
        if self
            .runs
            .iter()
            .any(|r| r.record.as_ref().is_some_and(|x| x.is_running()))
        {
            ui.ctx().request_repaint_after(Duration::from_secs(1));
        }
        let ctx = ui.ctx().clone();
        self.capture_window(&ctx);
    }
}
