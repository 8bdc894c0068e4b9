//! The studio's window: one state struct, a top bar with the panels and the current run, a
//! status bar saying which adapter renders and which device computes, and the central area,
//! which lends each panel of [`super::panels`] what it needs and applies the actions it returns.
//! Everything slow (reading runs, jobs, evaluations, the benchmark table) happens on worker
//! threads; each frame only takes in what they sent.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use egui::{Align, Layout, RichText, Ui};

use super::files::{Files, LocalFiles, RecentRuns};
use super::gpu::{self, GpuInfo, SHARED_GPU};
use super::heatmap;
use super::host::Host;
use super::jobs::{Job, JobSpec, lock, spawn_worker};
use super::panels::cell::CellUi;
use super::panels::curves;
use super::panels::device::{DeviceAction, DeviceUi};
use super::panels::perturb::PerturbUi;
use super::panels::runs::{self, Compute, OpenRunRow, RemoteCompute, RunsAction, RunsUi};
use super::panels::selection::{SelectionAction, SelectionUi, TableState};
use super::record::{AlphaRange, RunRecord};
use crate::device::{DeviceChoice, SelectedDevice};
use crate::lookup::Nb201Table;
use crate::run::{RunReader, RunState};
use crate::search::SearchStart;
use crate::select::SelectRequest;
use crate::space::{CellType, OpKind};

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
    /// The remote device of [`StudioOptions::remote`].
    Remote,
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
    /// A GPU device for jobs other than the window's (a page's WebGPU device, the page itself
    /// drawing with WebGL), or why there is none; `None` shares the window's device.
    pub gpu_compute: Option<Result<SelectedDevice, String>>,
    /// The page around the studio, where there is one: uploads and downloads.
    pub host: Option<Arc<dyn Host>>,
    /// A remote device, connected before the studio starts (`--compute remote:...`).
    pub remote: Option<RemoteCompute>,
}

/// An open run and its latest reading.
struct OpenRun {
    root: PathBuf,
    record: Option<Arc<RunRecord>>,
    loading: Option<Receiver<RunRecord>>,
    loaded_at: f64,
    compare: bool,
}

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
    remote: Option<RemoteCompute>,
    table_path: Option<PathBuf>,
    table: TableState,
    table_rx: Option<Receiver<Result<Nb201Table, String>>>,
    runs_ui: RunsUi,
    cell_ui: CellUi,
    selection_ui: SelectionUi,
    perturb_ui: PerturbUi,
    device_ui: DeviceUi,
    capture: Option<PathBuf>,
    capture_state: CaptureResult,
    capture_asked: bool,
    frames: u64,
    idle_frames: u64,
    messages: Vec<String>,
    host: Option<Arc<dyn Host>>,
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
                let info = match opts.gpu_compute.clone() {
                    Some(burn) => gpu::describe(rs, burn),
                    None => gpu::share_with_burn(rs),
                };
                heatmap::install(rs);
                let linear_out = rs.target_format.is_srgb();
                (Some(info), heatmap::Renderer::Gpu { linear_out })
            }
            None => (None, heatmap::Renderer::Cpu),
        };
        let gpu_device = gpu.as_ref().and_then(|g| g.burn.as_ref().ok());
        let shared_ok = gpu_device.is_some();
        let compute = match opts.compute {
            ComputePref::Cpu => Compute::Cpu,
            ComputePref::Gpu if shared_ok => Compute::SharedGpu,
            ComputePref::Gpu => Compute::Cpu,
            ComputePref::Remote if opts.remote.is_some() => Compute::Remote,
            ComputePref::Remote => Compute::Cpu,
            ComputePref::Auto => {
                if gpu_device.is_some_and(|d| d.is_gpu) {
                    Compute::SharedGpu
                } else {
                    Compute::Cpu
                }
            }
        };
        let mut messages = Vec::new();
        if opts.compute == ComputePref::Gpu && !shared_ok {
            messages.push(format!(
                "{SHARED_GPU} cannot compute for burn; using the CPU"
            ));
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
            remote: opts.remote.clone(),
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
            perturb_ui: PerturbUi::new(opts.masks.clone()),
            device_ui: DeviceUi::default(),
            capture: opts.capture.clone(),
            capture_state: Arc::new(Mutex::new(None)),
            capture_asked: false,
            frames: 0,
            idle_frames: 0,
            messages,
            host: opts.host.clone(),
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
            || self.perturb_ui.is_busy()
            || matches!(self.table, TableState::Loading)
            || self.device_ui.is_busy()
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

    /// The open runs in the panel's order, each with its latest reading (once read).
    pub fn open_runs(&self) -> impl Iterator<Item = (&Path, Option<&RunRecord>)> {
        self.runs
            .iter()
            .map(|r| (r.root.as_path(), r.record.as_deref()))
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

    /// Whether jobs compute on the GPU (the window's device, or a page's WebGPU device).
    pub fn computes_on_gpu(&self) -> bool {
        self.compute == Compute::SharedGpu
    }

    /// The device jobs and evaluations run on.
    pub fn compute_device(&self) -> SelectedDevice {
        self.compute
            .device(self.gpu.as_ref(), &self.cpu, self.remote.as_ref())
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
        // A run just written (a job's, an upload's) is new to the directory browser too.
        self.runs_ui.forget_listing();
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
        let space = rec.as_ref().and_then(|r| r.space.as_ref());
        let messages = self.perturb_ui.poll(space);
        self.messages.extend(messages);
    }

    /// Uses the NAS-Bench-201 table at `path` from now on (one the user loaded into a page).
    pub fn set_table(&mut self, path: PathBuf) {
        self.table_path = Some(path);
        self.table = TableState::Loading;
        self.table_rx = None;
        self.want_table();
    }

    /// The NAS-Bench-201 table: not configured, loading, ready or failed.
    pub fn table(&self) -> &TableState {
        &self.table
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

    /// Starts a job on the compute device and opens its run.
    pub fn start_job(&mut self, spec: JobSpec) {
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
            Panel::Device => {
                let wake = self.wake();
                if let Some(DeviceAction::Compute(c)) = self.device_ui.ui(
                    ui,
                    self.gpu.as_ref(),
                    (&self.cpu, self.remote.as_ref()),
                    self.compute,
                    wake,
                ) {
                    self.compute = c;
                }
            }
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
                    Panel::Cell => self.cell_ui.ui(ui, &rec, self.heatmap),
                    Panel::Selection => {
                        let running = self.job_running();
                        if let Some(SelectionAction::Run(method)) =
                            self.selection_ui.ui(ui, &rec, &self.table, running)
                        {
                            let mut req = SelectRequest::new(&rec.root, method);
                            req.pt.criterion = Some(self.selection_ui.criterion);
                            req.pt.tune_epochs = self.selection_ui.tune_epochs;
                            req.table = self.table_path.clone();
                            self.start_job(JobSpec::Select(req));
                        }
                    }
                    Panel::Perturbation => {
                        let device = self.compute_device();
                        let running = self.job_running();
                        let range = rec.alpha_range(self.cell_ui.stretch);
                        let wake = self.wake();
                        self.perturb_ui.ui(ui, &rec, device, running, range, wake);
                    }
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
                        curves::ui(ui, &refs);
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
                            .is_some_and(|s| s.state == RunState::Interrupted && x.has_checkpoint)
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
        let view = runs::RunsView {
            files: self.files.as_ref(),
            recent: &self.recent,
            open: &rows,
            jobs: &self.jobs,
            gpu_available: gpu_desc.as_deref(),
            remote: self.remote.as_ref().map(|r| r.device.description.as_str()),
            uploads: self.host.is_some(),
            table: &self.table,
        };
        let actions = runs::ui(ui, &mut self.runs_ui, view, &mut compute);
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
                RunsAction::StartSearch => match self
                    .runs_ui
                    .form
                    .resolve(self.compute, self.remote.as_ref())
                {
                    Ok((config, dir)) => {
                        if RunReader::new(self.files.as_ref(), &dir).is_run() {
                            self.runs_ui.form.error = Some(format!(
                                "{} already holds a run: open it, or choose another directory",
                                dir.display()
                            ));
                        } else {
                            self.runs_ui.form.error = None;
                            self.start_job(JobSpec::Search(Box::new(SearchStart::New {
                                config: Box::new(config),
                                dir,
                            })));
                        }
                    }
                    Err(e) => self.runs_ui.form.error = Some(e),
                },
                RunsAction::Resume(dir) => {
                    self.start_job(JobSpec::Search(Box::new(SearchStart::Resume { dir })))
                }
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
                RunsAction::Choose(what) => {
                    if let Some(h) = &self.host {
                        h.choose(what);
                    }
                }
                RunsAction::Download(dir) => {
                    if let Some(Err(e)) = self.host.as_ref().map(|h| h.download(&dir)) {
                        self.messages
                            .push(format!("cannot download {}: {e}", dir.display()));
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

fn cpu_device() -> SelectedDevice {
    crate::device::select(&DeviceChoice::Cpu).unwrap_or_else(|_| SelectedDevice {
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
