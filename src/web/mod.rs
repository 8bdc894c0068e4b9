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

use std::cell::RefCell;
use std::path::PathBuf;

use wasm_bindgen::prelude::*;

use crate::studio::{ComputePref, Panel, StudioApp, StudioOptions};
use demo::Demo;

use crate::studio::panels::runs::RUNS_DIR;

thread_local! {
    static RUNNER: RefCell<Option<eframe::WebRunner>> = const { RefCell::new(None) };
    /// A panel asked for from JavaScript (`show_panel`), applied at the next frame.
    static PANEL: RefCell<Option<Panel>> = const { RefCell::new(None) };
    /// The studio's egui context, to ask for that frame.
    static EGUI: RefCell<Option<egui::Context>> = const { RefCell::new(None) };
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
    wasm_bindgen_futures::spawn_local(persist::keep_flushing());
    let canvas = page::canvas()?;
    // Jobs compute on a WebGPU device of their own; the page draws with WebGL, which every
    // browser has (and a WebGPU canvas does not present in every one: headless Chromium's
    // SwiftShader adapter computes but shows nothing).
    let gpu_compute = match params.compute {
        ComputePref::Cpu => None,
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
    EGUI.with(|c| c.borrow().as_ref().map(egui::Context::request_repaint));
    Ok(())
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
        self.studio.ui(ui, frame);
        if let Some(d) = &mut self.demo {
            d.advance(&mut self.studio);
        }
    }
}
