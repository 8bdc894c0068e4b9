//! The studio as a web page (built for `wasm32-unknown-unknown`; see `web/`).
//!
//! The page is the desktop studio: the same panels and jobs. What differs lives here: the
//! start from a canvas, runs kept in the browser's storage ([`persist`]), the page around the
//! canvas ([`page`]) and the self-running demo for automation ([`demo`]). Jobs run as tasks
//! of the page's event loop ([`crate::job::Job::drive`]) on WebGPU, through the device the
//! studio renders with, or on burn's CPU backend compiled to wasm.

pub mod demo;
pub mod page;
pub mod persist;
pub mod transfer;

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use wasm_bindgen::prelude::*;

use crate::studio::{ComputePref, Panel, StudioApp, StudioOptions};
use demo::Demo;

use crate::studio::panels::runs::RUNS_DIR;

thread_local! {
    static RUNNER: RefCell<Option<eframe::WebRunner>> = const { RefCell::new(None) };
    /// A panel asked for from JavaScript (`show_panel`), applied at the next frame.
    static PANEL: RefCell<Option<Panel>> = const { RefCell::new(None) };
    /// A run asked for from JavaScript (`open_run`), opened at the next frame.
    static OPEN: RefCell<Option<PathBuf>> = const { RefCell::new(None) };
    /// The studio's egui context, to ask for that frame.
    static EGUI: RefCell<Option<egui::Context>> = const { RefCell::new(None) };
    /// What the studio shows, as JSON, refreshed every frame ([`describe`]).
    static SHOWN: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Asks the studio for a frame (something arrived from outside egui).
fn repaint() {
    EGUI.with(|c| c.borrow().as_ref().map(egui::Context::request_repaint));
}

/// What the page's address asks for.
#[derive(Clone, Debug, Default)]
pub struct Params {
    /// `demo=tiny`.
    pub demo: bool,
    /// `backend=webgpu|cpu`; absent: WebGPU when the page has a real GPU, else the CPU.
    pub compute: ComputePref,
}

impl Params {
    pub fn from_page() -> Result<Params, String> {
        let demo = match page::param("demo").as_deref() {
            None => false,
            Some("tiny") => true,
            Some(d) => return Err(format!("unknown demo '{d}' (the page has demo=tiny)")),
        };
        let compute = match page::param("backend").as_deref() {
            None | Some("auto") => ComputePref::Auto,
            Some("webgpu") => ComputePref::Gpu,
            Some("cpu") => ComputePref::Cpu,
            Some(b) => return Err(format!("unknown backend '{b}' (expected webgpu or cpu)")),
        };
        Ok(Params { demo, compute })
    }
}

/// Starts the page: reads the stored runs, then the studio on the canvas.
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        let message = format!("darts-pt stopped: {info}");
        page::show_error(&message);
        end_demo_with_error(message);
    }));
    wasm_bindgen_futures::spawn_local(async {
        if let Err(e) = run().await {
            page::show_error(&e);
            end_demo_with_error(e);
        }
    });
}

/// An error that stops the page also ends a demo it was asked for, in the result element.
fn end_demo_with_error(message: String) {
    if page::param("demo").is_some() {
        demo::fail(message);
    }
}

async fn run() -> Result<(), String> {
    let params = Params::from_page()?;
    match persist::load().await {
        Ok(n) => web_sys::console::log_1(&format!("darts-pt: {n} stored files").into()),
        Err(e) => page::show_error(&format!("{e}; runs made now are lost on reload")),
    }
    let runs = std::path::Path::new(RUNS_DIR);
    let _ = crate::storage::create_dir_all(runs);
    persist::interrupt_orphans(runs);
    transfer::install().map_err(|e| {
        format!(
            "the page cannot offer file choosers: {}",
            page::js_error(&e)
        )
    })?;
    wasm_bindgen_futures::spawn_local(persist::keep_flushing());
    let canvas = page::canvas()?;
    // Jobs compute on a WebGPU device of their own; the page draws with WebGL, which every
    // browser has (and a WebGPU canvas does not present in every one: headless Chromium's
    // SwiftShader adapter computes but shows nothing).
    let gpu_compute = match params.compute {
        // Never the WebGL device: burn cannot compute on it.
        ComputePref::Cpu => Some(Err("not started: the address asks for backend=cpu".into())),
        _ => Some(crate::device::webgpu().await.map_err(|e| e.to_string())),
    };
    let mut draw = egui_wgpu::WgpuSetupCreateNew::without_display_handle();
    draw.instance_descriptor.backends = wgpu::Backends::GL;
    let options = eframe::WebOptions {
        wgpu_options: egui_wgpu::WgpuConfiguration {
            wgpu_setup: egui_wgpu::WgpuSetup::CreateNew(draw),
            ..Default::default()
        },
        ..Default::default()
    };
    let runner = eframe::WebRunner::new();
    runner
        .start(
            canvas,
            options,
            Box::new(move |cc| Ok(Box::new(WebApp::new(cc, params, gpu_compute)?))),
        )
        .await
        .map_err(|e| format!("the studio cannot start: {}", page::js_error(&e)))?;
    RUNNER.with(|r| *r.borrow_mut() = Some(runner));
    page::loaded();
    Ok(())
}

/// Shows a panel by its name (`runs`, `cell`, `selection`, `perturbation`, `curves`,
/// `device`), from the page's script or a test driving the page.
#[wasm_bindgen]
pub fn show_panel(name: &str) -> Result<(), JsValue> {
    let panel: Panel = name.parse().map_err(|e: String| JsValue::from_str(&e))?;
    PANEL.with(|p| *p.borrow_mut() = Some(panel));
    repaint();
    Ok(())
}

/// Opens a run kept in the page (`runs/NAME`), as the runs panel's browser does.
#[wasm_bindgen]
pub fn open_run(path: &str) {
    OPEN.with(|o| *o.borrow_mut() = Some(PathBuf::from(path)));
    repaint();
}

/// Downloads a run kept in the page as a zip, as its "zip" button does.
#[wasm_bindgen]
pub fn download_run(path: &str) -> Result<(), JsValue> {
    use crate::studio::host::Host;
    transfer::PageHost
        .download(Path::new(path))
        .map_err(|e| JsValue::from_str(&e))
}

/// What the studio shows now, as JSON: the panel, the open runs (state, epoch, each
/// selection's genotype and number of decisions), the NB201 table and the jobs. For tests
/// and scripts driving the page; the canvas itself is pixels.
#[wasm_bindgen]
pub fn describe() -> String {
    SHOWN.with(|s| s.borrow().clone())
}

fn shown(studio: &StudioApp) -> serde_json::Value {
    use crate::studio::panels::selection::TableState;
    let runs: Vec<serde_json::Value> = studio
        .open_runs()
        .map(|(path, rec)| {
            let status = rec.and_then(|r| r.status.as_ref());
            let selections: serde_json::Map<String, serde_json::Value> = rec
                .map(|r| &r.selections)
                .into_iter()
                .flatten()
                .map(|(label, s)| {
                    let v = serde_json::json!({
                        "genotype": s.genotype,
                        "complete": s.complete,
                        "op_decisions": s.op_decisions.len(),
                        "topology_decisions": s.topology_decisions.len(),
                    });
                    (label.clone(), v)
                })
                .collect();
            serde_json::json!({
                "path": path.display().to_string(),
                "read": rec.is_some(),
                "state": status.map(|s| s.state),
                "epoch": status.map(|s| s.epoch),
                "epochs": status.map(|s| s.epochs),
                "has_checkpoint": rec.is_some_and(|r| r.has_checkpoint),
                "alpha_records": rec.map_or(0, |r| r.alphas.len()),
                "selections": selections,
                "problems": rec.map(|r| r.problems.clone()).unwrap_or_default(),
            })
        })
        .collect();
    let table = match studio.table() {
        TableState::NotConfigured => "not loaded".to_string(),
        TableState::Loading => "loading".to_string(),
        TableState::Ready(t) => format!("{} cells", t.len()),
        TableState::Failed(e) => format!("failed: {e}"),
    };
    let jobs: Vec<serde_json::Value> = studio
        .jobs()
        .iter()
        .map(|j| serde_json::json!({"title": j.title, "phase": j.phase, "outcome": j.outcome}))
        .collect();
    serde_json::json!({
        "panel": studio.panel().name(),
        "current": studio.current_record().map(|r| r.root.display().to_string()),
        "runs": runs,
        "table": table,
        "jobs": jobs,
    })
}

/// The studio with what only the page has.
struct WebApp {
    studio: StudioApp,
    demo: Option<Demo>,
}

impl WebApp {
    fn new(
        cc: &eframe::CreationContext<'_>,
        params: Params,
        gpu_compute: Option<Result<crate::device::SelectedDevice, String>>,
    ) -> Result<WebApp, Box<dyn std::error::Error + Send + Sync>> {
        let opts = StudioOptions {
            gpu_compute,
            compute: params.compute,
            browse_dir: Some(PathBuf::from(RUNS_DIR)),
            recent_file: Some(PathBuf::from(".recent-runs.json")),
            table: crate::storage::is_file(Path::new(transfer::TABLE_PATH))
                .then(|| PathBuf::from(transfer::TABLE_PATH)),
            host: Some(std::sync::Arc::new(transfer::PageHost)),
            ..StudioOptions::default()
        };
        EGUI.with(|c| *c.borrow_mut() = Some(cc.egui_ctx.clone()));
        let mut studio = StudioApp::new(cc, opts);
        if params.compute == ComputePref::Gpu && !studio.computes_on_gpu() {
            let why = match studio.gpu().map(|g| &g.burn) {
                Some(Err(e)) => e.clone(),
                _ => "the page draws without wgpu".to_string(),
            };
            return Err(format!("WebGPU is not available for computing: {why}").into());
        }
        let demo = params.demo.then(|| {
            let backend = match studio.computes_on_gpu() {
                true => studio.compute_device().description,
                false => "cpu".into(),
            };
            Demo::start(&mut studio, backend)
        });
        Ok(WebApp { studio, demo })
    }
}

impl eframe::App for WebApp {
    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        if let Some(p) = PANEL.with(|p| p.borrow_mut().take()) {
            self.studio.set_panel(p);
        }
        if let Some(dir) = OPEN.with(|o| o.borrow_mut().take()) {
            self.studio.open(&dir);
        }
        for arrived in transfer::take_arrived() {
            match arrived {
                Ok(transfer::Arrived::Run(dir)) => {
                    page::clear_error();
                    self.studio.open(&dir);
                    self.studio.set_panel(Panel::Cell);
                }
                Ok(transfer::Arrived::Table(path)) => {
                    page::clear_error();
                    self.studio.set_table(path);
                }
                Err(e) => page::show_error(&e),
            }
        }
        self.studio.ui(ui, frame);
        SHOWN.with(|s| *s.borrow_mut() = shown(&self.studio).to_string());
        if let Some(d) = &mut self.demo {
            d.advance(&mut self.studio);
        }
    }
}
