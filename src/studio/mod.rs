//! `darts-pt studio`: the desktop front end (egui/eframe on wgpu).
//!
//! It is a second consumer of the same jobs and run directories as the CLI: searches and
//! selections run as library jobs on worker threads and report [`crate::job::Event`]s; every
//! panel reads what the run directory records. Panels: runs (open, compare, start a search),
//! the cell graph (softmax(alpha) on every edge, scrubbed through the epochs), selection (PT's
//! decisions step by step, magnitude and PT side by side), interactive perturbation (PT by
//! hand), curves, and the device that burn and egui share; each is a file of [`panels`].
//!
//! For a later web build: the UI thread never blocks (workers report over channels), file
//! access goes through [`files::Files`], and time comes from egui's input, not the OS clock.

pub mod app;
pub mod cell;
pub mod colormap;
pub mod files;
pub mod gpu;
pub mod heatmap;
pub mod host;
pub mod jobs;
pub mod panels;
pub mod record;
#[cfg(not(target_arch = "wasm32"))]
pub mod screenshot;

use std::path::PathBuf;

pub use app::{ComputePref, MaskSpec, Panel, StudioApp, StudioOptions};

/// How the studio is shown: a window, or a screenshot of it.
#[derive(Clone, Debug)]
pub struct Launch {
    /// Window size (or screenshot size) in points.
    pub size: (f32, f32),
    /// Render into this PNG instead of opening a window.
    pub screenshot: Option<PathBuf>,
    /// Pixels per point of an offscreen screenshot.
    pub scale: f32,
    /// Capture the real window (needs a display) instead of rendering offscreen.
    pub window: bool,
}

/// Opens the studio (or writes its screenshot).
#[cfg(not(target_arch = "wasm32"))]
pub fn launch(mut opts: StudioOptions, how: &Launch) -> anyhow::Result<()> {
    let size = egui::Vec2::new(how.size.0, how.size.1);
    if let Some(out) = &how.screenshot {
        if !(0.5..=4.0).contains(&how.scale) {
            anyhow::bail!("--scale must be between 0.5 and 4");
        }
        // Screenshots must not depend on (or change) the user's recent list.
        opts.recent_file = None;
        if how.window {
            opts.capture = Some(out.clone());
            screenshot::window(opts, size)?;
        } else {
            screenshot::offscreen(opts, size, how.scale, out)?;
        }
        eprintln!("wrote {}", out.display());
        return Ok(());
    }
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_inner_size(size)
            .with_min_inner_size([800.0, 500.0])
            .with_title("darts-pt studio"),
        wgpu_options: egui_wgpu::WgpuConfiguration {
            wgpu_setup: gpu::shared_setup(),
            ..Default::default()
        },
        ..Default::default()
    };
    eframe::run_native(
        "darts-pt studio",
        native,
        Box::new(move |cc| Ok(Box::new(StudioApp::new(cc, opts)))),
    )
    .map_err(|e| {
        anyhow::anyhow!(
            "cannot open the studio window: {e} (no display? `darts-pt studio --screenshot out.png` renders without one)"
        )
    })
}
