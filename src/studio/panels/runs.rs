//! The runs panel: open run directories (a path field, a directory browser that marks run
//! directories, the recent list), compare open runs, and start a new search from a form whose
//! fields are the `search` command's flags, resolved by the same library function.

use std::path::{Path, PathBuf};

use egui::{RichText, Ui};

use crate::config::layers::{DataFlags, RunFlags, SearchFlags};
use crate::config::{Method, Preset, SearchConfig};
use crate::device::{DeviceChoice, SelectedDevice};
use crate::space::SpaceId;
use crate::storage::text::path as path_text;
use crate::studio::files::{DirEntry, Files, RecentRuns};
use crate::studio::gpu::{GpuInfo, SHARED_GPU};
use crate::studio::host::Upload;
use crate::studio::jobs::Job;
use crate::studio::panels::selection::TableState;

/// Why only one job runs at a time.
pub const ONE_JOB: &str = "one job at a time: burn's CPU backend has a single random stream per \
     process, so two jobs would change each other's random numbers (and share the cores)";

/// Where the computation of a job runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compute {
    /// burn's flex backend on the CPU.
    Cpu,
    /// burn on the window's own wgpu device.
    SharedGpu,
    /// The remote device the studio was started with (`--compute remote:ws://HOST:PORT`).
    Remote,
}

/// A remote device the studio computes on when asked: how a run records it, and the device.
#[derive(Clone, Debug)]
pub struct RemoteCompute {
    pub choice: DeviceChoice,
    pub device: SelectedDevice,
}

impl Compute {
    /// The device this choice computes on: the window's device when it is chosen and burn is
    /// registered on it, the remote one when there is one, else `cpu`.
    pub fn device(
        self,
        gpu: Option<&GpuInfo>,
        cpu: &SelectedDevice,
        remote: Option<&RemoteCompute>,
    ) -> SelectedDevice {
        match (self, gpu.map(|g| &g.burn), remote) {
            (Compute::SharedGpu, Some(Ok(d)), _) => d.clone(),
            (Compute::Remote, _, Some(r)) => r.device.clone(),
            _ => cpu.clone(),
        }
    }
}

/// The new-search form; empty optional fields take the preset's value.
pub struct SearchForm {
    pub space: SpaceId,
    pub method: Method,
    pub preset: Preset,
    pub data: String,
    pub epochs: String,
    pub train_images: String,
    pub seed: String,
    pub out: String,
    /// Whether `out` was edited by the user (else it follows space/method/preset).
    pub out_edited: bool,
    pub error: Option<String>,
}

impl Default for SearchForm {
    fn default() -> Self {
        let mut f = SearchForm {
            space: SpaceId::Nb201,
            method: Method::Darts,
            preset: Preset::Tiny,
            data: String::new(),
            epochs: String::new(),
            train_images: String::new(),
            seed: String::new(),
            out: String::new(),
            out_edited: false,
            error: None,
        };
        f.out = f.default_out();
        f
    }
}

fn opt_num<T: std::str::FromStr>(s: &str, what: &str) -> Result<Option<T>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|_| format!("{what}: '{s}' is not a whole number"))
}

/// Where the form puts new runs: beside the desktop's working directory, or the page's
/// storage's one folder of runs.
pub const RUNS_DIR: &str = if cfg!(target_arch = "wasm32") {
    "runs"
} else {
    "darts-pt-runs"
};

impl SearchForm {
    fn default_out(&self) -> String {
        format!("{RUNS_DIR}/{}-{}-{}", self.space, self.method, self.preset)
    }

    /// The settings this form gives, as flags would.
    pub fn flags(
        &self,
        compute: Compute,
        remote: Option<&RemoteCompute>,
    ) -> Result<SearchFlags, String> {
        let run = RunFlags {
            space: Some(self.space),
            preset: Some(self.preset),
            data: DataFlags {
                path: (!self.data.trim().is_empty()).then(|| PathBuf::from(self.data.trim())),
                dataset: None,
                train_images: opt_num(&self.train_images, "train images")?,
            },
            epochs: opt_num(&self.epochs, "epochs")?,
            seed: opt_num(&self.seed, "seed")?,
            device: Some(match (compute, remote) {
                (Compute::SharedGpu, _) => DeviceChoice::Wgpu,
                (Compute::Remote, Some(r)) => r.choice.clone(),
                _ => DeviceChoice::Cpu,
            }),
            ..RunFlags::default()
        };
        Ok(SearchFlags {
            run,
            method: Some(self.method),
            ..SearchFlags::default()
        })
    }

    /// The configuration and directory of the search, exactly as `darts-pt search` resolves
    /// the same flags.
    pub fn resolve(
        &self,
        compute: Compute,
        remote: Option<&RemoteCompute>,
    ) -> Result<(SearchConfig, PathBuf), String> {
        let out = self.out.trim();
        if out.is_empty() {
            return Err("give an output directory".into());
        }
        let cfg = SearchConfig::resolve(None, &self.flags(compute, remote)?)
            .map_err(|e| format!("{e:#}"))?;
        Ok((cfg, PathBuf::from(out)))
    }
}

/// The panel's own state.
pub struct RunsUi {
    pub path: String,
    pub browse_dir: PathBuf,
    listing: Option<(PathBuf, Result<Vec<DirEntry>, String>)>,
    pub form: SearchForm,
}

impl RunsUi {
    pub fn new(start: PathBuf) -> Self {
        RunsUi {
            path: String::new(),
            browse_dir: start,
            listing: None,
            form: SearchForm::default(),
        }
    }

    /// Lists the browsed directory again at the next frame.
    pub fn forget_listing(&mut self) {
        self.listing = None;
    }
}

/// What the panel asks the app to do.
pub enum RunsAction {
    Open(PathBuf),
    Close(usize),
    Select(usize),
    ToggleCompare(usize),
    StartSearch,
    Resume(PathBuf),
    Pause(usize, bool),
    Cancel(usize),
    DismissJob(usize),
    /// Ask the page for a file: a run (zip or folder), the NB201 table.
    Choose(Upload),
    /// Save a run as a zip (in a page).
    Download(PathBuf),
}

/// One open run as the panel lists it.
pub struct OpenRunRow<'a> {
    pub name: &'a str,
    pub path: &'a Path,
    pub summary: String,
    pub problems: &'a [String],
    pub compare: bool,
    pub current: bool,
    pub interrupted: bool,
}

/// What the panel shows of the app: its files, the recent list, the open runs, the jobs and
/// whether the window's GPU can compute.
pub struct RunsView<'a> {
    pub files: &'a dyn Files,
    pub recent: &'a RecentRuns,
    pub open: &'a [OpenRunRow<'a>],
    pub jobs: &'a [Job],
    pub gpu_available: Option<&'a str>,
    /// The remote device the studio was started with, if any.
    pub remote: Option<&'a str>,
    /// A page hosts the studio: runs and the NB201 table come from the user's files, and runs
    /// leave as zip downloads.
    pub uploads: bool,
    pub table: &'a TableState,
}

/// Draws the panel.
pub fn ui(
    ui: &mut Ui,
    state: &mut RunsUi,
    view: RunsView<'_>,
    compute: &mut Compute,
) -> Vec<RunsAction> {
    let RunsView {
        files,
        recent,
        open,
        jobs,
        gpu_available,
        remote,
        uploads,
        table,
    } = view;
    let busy = jobs.iter().any(|j| !j.is_done());
    let mut actions = Vec::new();
    ui.columns(2, |cols| {
        let ui = &mut cols[0];
        ui.heading("Open a run");
        ui.horizontal(|ui| {
            let l = ui.label("run directory");
            let r = ui
                .add(
                    egui::TextEdit::singleline(&mut state.path)
                        .hint_text("path/to/run")
                        .desired_width(260.0),
                )
                .labelled_by(l.id);
            let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if (ui.button("Open").clicked() || enter) && !state.path.trim().is_empty() {
                actions.push(RunsAction::Open(PathBuf::from(state.path.trim())));
            }
        });
        if uploads {
            upload_row(ui, table, &mut actions);
        }
        if !recent.paths.is_empty() {
            ui.label(RichText::new("Recent").strong());
            for p in &recent.paths {
                if ui
                    .link(path_text(p))
                    .on_hover_text("open this run")
                    .clicked()
                {
                    actions.push(RunsAction::Open(p.clone()));
                }
            }
        }
        ui.add_space(6.0);
        browser(ui, state, files, &mut actions);
        ui.add_space(6.0);
        ui.heading("Open runs");
        if open.is_empty() {
            ui.label("none yet");
        }
        egui::Grid::new("open-runs")
            .striped(true)
            .num_columns(4)
            .show(ui, |ui| {
                for (i, r) in open.iter().enumerate() {
                    let name = if r.current {
                        RichText::new(r.name).strong()
                    } else {
                        RichText::new(r.name)
                    };
                    if ui
                        .selectable_label(r.current, name)
                        .on_hover_text(path_text(r.path))
                        .clicked()
                    {
                        actions.push(RunsAction::Select(i));
                    }
                    ui.label(&r.summary);
                    let mut c = r.compare;
                    if ui
                        .checkbox(&mut c, "compare")
                        .on_hover_text("overlay this run's curves on the current run's")
                        .changed()
                    {
                        actions.push(RunsAction::ToggleCompare(i));
                    }
                    ui.horizontal(|ui| {
                        if r.interrupted
                            && ui
                                .add_enabled(!busy, egui::Button::new("resume"))
                                .on_disabled_hover_text(ONE_JOB)
                                .on_hover_text("continue the search from its checkpoint")
                                .clicked()
                        {
                            actions.push(RunsAction::Resume(r.path.to_path_buf()));
                        }
                        if uploads
                            && ui
                                .button("zip")
                                .on_hover_text("download this run as a zip, to open on the desktop")
                                .clicked()
                        {
                            actions.push(RunsAction::Download(r.path.to_path_buf()));
                        }
                        if ui.button("close").clicked() {
                            actions.push(RunsAction::Close(i));
                        }
                    });
                    ui.end_row();
                    for p in r.problems {
                        ui.label("");
                        ui.colored_label(ui.visuals().warn_fg_color, p);
                        ui.end_row();
                    }
                }
            });

        let ui = &mut cols[1];
        ui.heading("New search");
        search_form(
            ui,
            &mut state.form,
            compute,
            (gpu_available, remote),
            busy,
            &mut actions,
        );
        ui.add_space(8.0);
        ui.heading("Jobs");
        if jobs.is_empty() {
            ui.label("no jobs started in this window");
        }
        for (i, j) in jobs.iter().enumerate() {
            job_row(ui, i, j, &mut actions);
        }
    });
    actions
}

/// In a page: runs and the NB201 table come from the user's machine.
fn upload_row(ui: &mut Ui, table: &TableState, actions: &mut Vec<RunsAction>) {
    ui.horizontal(|ui| {
        ui.label("from this computer:");
        if ui
            .button("run as zip …")
            .on_hover_text("a run directory packed as a zip (by the desktop, or downloaded here)")
            .clicked()
        {
            actions.push(RunsAction::Choose(Upload::RunZip));
        }
        if ui
            .button("run folder …")
            .on_hover_text("a run directory written by `darts-pt search` or `select`")
            .clicked()
        {
            actions.push(RunsAction::Choose(Upload::RunFolder));
        }
    });
    ui.horizontal(|ui| {
        let state = match table {
            TableState::NotConfigured => "not loaded".to_string(),
            TableState::Loading => "loading …".to_string(),
            TableState::Ready(t) => format!("{} cells", t.len()),
            TableState::Failed(e) => e.clone(),
        };
        ui.label(format!("NAS-Bench-201 table: {state}"));
        if ui
            .button("load CSV …")
            .on_hover_text("the table of all 15,625 cells, for lookups in the selection panel")
            .clicked()
        {
            actions.push(RunsAction::Choose(Upload::Table));
        }
    });
}

fn browser(ui: &mut Ui, state: &mut RunsUi, files: &dyn Files, actions: &mut Vec<RunsAction>) {
    ui.label(RichText::new("Browse").strong());
    let dir = state.browse_dir.clone();
    if state.listing.as_ref().is_none_or(|(d, _)| *d != dir) {
        state.listing = Some((dir.clone(), files.list(&dir).map_err(|e| e.to_string())));
    }
    ui.horizontal(|ui| {
        if ui.button("↑ up").clicked()
            && let Some(parent) = dir.parent()
        {
            state.browse_dir = parent.to_path_buf();
        }
        ui.label(RichText::new(path_text(&dir)).monospace());
        if ui.button("refresh").on_hover_text("list again").clicked() {
            state.listing = None;
        }
    });
    egui::ScrollArea::vertical()
        .id_salt("browser")
        .max_height(170.0)
        .show(ui, |ui| match state.listing.as_ref().map(|(_, l)| l) {
            Some(Ok(entries)) => {
                let dirs: Vec<&DirEntry> = entries.iter().filter(|e| e.is_dir).collect();
                if dirs.is_empty() {
                    ui.weak("no subdirectories");
                }
                for e in dirs {
                    ui.horizontal(|ui| {
                        if e.is_run {
                            if ui
                                .button(format!("▶ open {}", e.name))
                                .on_hover_text("a darts-pt run directory")
                                .clicked()
                            {
                                actions.push(RunsAction::Open(e.path.clone()));
                            }
                        } else if ui.link(format!("{}/", e.name)).clicked() {
                            state.browse_dir = e.path.clone();
                        }
                    });
                }
            }
            Some(Err(e)) => {
                ui.colored_label(ui.visuals().error_fg_color, e);
            }
            None => {}
        });
}

fn search_form(
    ui: &mut Ui,
    f: &mut SearchForm,
    compute: &mut Compute,
    (gpu, remote): (Option<&str>, Option<&str>),
    busy: bool,
    actions: &mut Vec<RunsAction>,
) {
    let before = f.default_out();
    egui::Grid::new("search-form")
        .num_columns(2)
        .show(ui, |ui| {
            let l = ui.label("space");
            egui::ComboBox::from_id_salt("form-space")
                .selected_text(f.space.name())
                .show_ui(ui, |ui| {
                    for s in SpaceId::ALL {
                        ui.selectable_value(&mut f.space, s, s.name());
                    }
                })
                .response
                .labelled_by(l.id);
            ui.end_row();
            let l = ui.label("method");
            egui::ComboBox::from_id_salt("form-method")
                .selected_text(f.method.name())
                .show_ui(ui, |ui| {
                    for m in Method::ALL {
                        ui.selectable_value(&mut f.method, m, m.name());
                    }
                })
                .response
                .labelled_by(l.id);
            ui.end_row();
            let l = ui.label("preset");
            egui::ComboBox::from_id_salt("form-preset")
                .selected_text(f.preset.name())
                .show_ui(ui, |ui| {
                    for p in [Preset::Tiny, Preset::Laptop, Preset::Paper] {
                        ui.selectable_value(&mut f.preset, p, p.name());
                    }
                })
                .response
                .labelled_by(l.id);
            ui.end_row();
            let field = |ui: &mut Ui, name: &str, value: &mut String, hint: &str| {
                let l = ui.label(name);
                ui.add(
                    egui::TextEdit::singleline(value)
                        .hint_text(hint)
                        .desired_width(220.0),
                )
                .labelled_by(l.id);
                ui.end_row();
            };
            field(ui, "data", &mut f.data, "bundled Fashion-MNIST subset");
            field(ui, "epochs", &mut f.epochs, "the preset's");
            field(ui, "train images", &mut f.train_images, "the preset's");
            field(ui, "seed", &mut f.seed, "0");
            let l = ui.label("output directory");
            if ui
                .add(egui::TextEdit::singleline(&mut f.out).desired_width(220.0))
                .labelled_by(l.id)
                .changed()
            {
                f.out_edited = true;
            }
            ui.end_row();
            ui.label("compute on");
            ui.horizontal(|ui| {
                ui.radio_value(compute, Compute::Cpu, "cpu (flex)");
                ui.add_enabled_ui(gpu.is_some(), |ui| {
                    ui.radio_value(compute, Compute::SharedGpu, SHARED_GPU)
                        .on_hover_text(gpu.unwrap_or("burn could not compute on this GPU"));
                });
                if let Some(r) = remote {
                    ui.radio_value(compute, Compute::Remote, r);
                }
            });
            ui.end_row();
        });
    if !f.out_edited && f.out == before {
        f.out = f.default_out();
    }
    ui.horizontal(|ui| {
        if ui
            .add_enabled(!busy, egui::Button::new("Start search"))
            .on_disabled_hover_text(ONE_JOB)
            .clicked()
        {
            actions.push(RunsAction::StartSearch);
        }
        ui.weak("the same settings as `darts-pt search` with these flags");
    });
    if let Some(e) = &f.error {
        ui.colored_label(ui.visuals().error_fg_color, e);
    }
}

fn job_row(ui: &mut Ui, i: usize, j: &Job, actions: &mut Vec<RunsAction>) {
    ui.group(|ui| {
        ui.horizontal(|ui| {
            ui.strong(&j.title);
            match &j.outcome {
                None => {
                    let label = if j.paused { "resume" } else { "pause" };
                    if ui.button(label).clicked() {
                        actions.push(RunsAction::Pause(i, !j.paused));
                    }
                    if ui
                        .button("cancel")
                        .on_hover_text("save a checkpoint and stop; resume later")
                        .clicked()
                    {
                        actions.push(RunsAction::Cancel(i));
                    }
                }
                Some(_) => {
                    if ui.button("dismiss").clicked() {
                        actions.push(RunsAction::DismissJob(i));
                    }
                }
            }
        });
        match &j.outcome {
            None => {
                ui.add(
                    egui::ProgressBar::new(j.fraction)
                        .text(format!(
                            "{}{}",
                            j.phase,
                            if j.paused { " (paused)" } else { "" }
                        ))
                        .desired_width(ui.available_width().min(380.0)),
                );
            }
            Some(Ok(s)) => {
                ui.label(s);
            }
            Some(Err(e)) => {
                ui.colored_label(ui.visuals().error_fg_color, e);
            }
        }
        if !j.last_metrics.is_empty() {
            ui.weak(&j.last_metrics);
        }
        for line in j.log.iter().rev().take(3).rev() {
            ui.weak(line);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_resolves_like_the_cli() {
        let mut f = SearchForm {
            epochs: "2".into(),
            train_images: "300".into(),
            ..Default::default()
        };
        let (cfg, out) = f.resolve(Compute::Cpu, None).unwrap();
        assert_eq!(out, PathBuf::from("darts-pt-runs/nb201-darts-tiny"));
        let mut expect = SearchConfig::preset(SpaceId::Nb201, Method::Darts, Preset::Tiny);
        expect.epochs = 2;
        (expect.sgas.warmup, expect.sgas.decision_freq) =
            crate::config::SgasConfig::schedule_for(2);
        expect.data.train_images = Some(300);
        expect.device = DeviceChoice::Cpu;
        assert_eq!(cfg, expect);
        f.epochs = "two".into();
        assert!(
            f.resolve(Compute::Cpu, None)
                .unwrap_err()
                .contains("epochs")
        );
    }

    #[test]
    fn a_search_started_on_the_remote_device_records_it() {
        let f = SearchForm::default();
        let remote = RemoteCompute {
            choice: "remote:ws://gpu:3000".parse().unwrap(),
            device: SelectedDevice {
                device: crate::device::Device::flex(),
                description: "remote ws://gpu:3000".into(),
                is_gpu: false,
            },
        };
        let (cfg, _) = f.resolve(Compute::Remote, Some(&remote)).unwrap();
        assert_eq!(cfg.device.to_string(), "remote:ws://gpu:3000");
        let (cfg, _) = f.resolve(Compute::Remote, None).unwrap();
        assert_eq!(cfg.device, DeviceChoice::Cpu);
    }
}
