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
pub mod jobs;
pub mod panels;
pub mod record;
pub mod screenshot;

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;

pub use app::{ComputePref, MaskSpec, Panel, StudioApp, StudioOptions};

/// `darts-pt studio` arguments.
#[derive(Args, Debug, Clone)]
pub struct StudioArgs {
    /// Run directories to open.
    pub runs: Vec<PathBuf>,
    /// Also open this run directory (may be repeated).
    #[arg(long = "run")]
    pub run: Vec<PathBuf>,
    /// Render the studio at a fixed size into this PNG instead of opening a window.
    #[arg(long)]
    pub screenshot: Option<PathBuf>,
    /// The panel to show: runs, cell, selection, perturbation, curves or device.
    #[arg(long, value_parser = parse_panel)]
    pub panel: Option<Panel>,
    /// Window size for --screenshot, WIDTHxHEIGHT in points.
    #[arg(long, default_value = "1280x800", value_parser = parse_size)]
    pub size: (f32, f32),
    /// Pixels per point for --screenshot (2 for a sharper image).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f32,
    /// With --screenshot: open the real window (needs a display, e.g. Xvfb) and capture it
    /// with egui's viewport screenshot, instead of rendering offscreen.
    #[arg(long, requires = "screenshot")]
    pub window: bool,
    /// Where burn computes: auto (the window's GPU if it is a real one, else the CPU), cpu, gpu.
    #[arg(long, default_value = "auto", value_parser = parse_compute)]
    pub compute: ComputePref,
    /// NAS-Bench-201 table (CSV) for looking up NB201 cells; or set DARTS_PT_NB201.
    #[arg(long)]
    pub table: Option<PathBuf>,
    /// Mask an operation in the perturbation panel once its supernet is loaded, as
    /// CELL:EDGE:OP (e.g. normal:3:skip_connect); may be repeated. For teaching material.
    #[arg(long = "mask", value_parser = parse_mask)]
    pub masks: Vec<MaskSpec>,
}

fn parse_panel(s: &str) -> Result<Panel, String> {
    s.parse()
}

fn parse_size(s: &str) -> Result<(f32, f32), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("size '{s}' is not WIDTHxHEIGHT"))?;
    let w: f32 = w
        .trim()
        .parse()
        .map_err(|_| format!("bad width in '{s}'"))?;
    let h: f32 = h
        .trim()
        .parse()
        .map_err(|_| format!("bad height in '{s}'"))?;
    if !(200.0..=8192.0).contains(&w) || !(200.0..=8192.0).contains(&h) {
        return Err(format!(
            "size '{s}' must be between 200 and 8192 on each side"
        ));
    }
    Ok((w, h))
}

fn parse_compute(s: &str) -> Result<ComputePref, String> {
    match s {
        "auto" => Ok(ComputePref::Auto),
        "cpu" => Ok(ComputePref::Cpu),
        "gpu" => Ok(ComputePref::Gpu),
        _ => Err(format!(
            "unknown compute device '{s}' (expected auto, cpu or gpu)"
        )),
    }
}

fn parse_mask(s: &str) -> Result<MaskSpec, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let [cell, edge, op] = parts.as_slice() else {
        return Err(format!("mask '{s}' is not CELL:EDGE:OP"));
    };
    let cell = match *cell {
        "normal" => crate::space::CellType::Normal,
        "reduce" => crate::space::CellType::Reduce,
        _ => return Err(format!("mask '{s}': cell must be normal or reduce")),
    };
    let edge = edge
        .parse()
        .map_err(|_| format!("mask '{s}': edge must be a number"))?;
    let op = op.parse().map_err(|e| format!("mask '{s}': {e}"))?;
    Ok((cell, edge, op))
}

impl StudioArgs {
    fn options(&self, for_screenshot: bool) -> StudioOptions {
        StudioOptions {
            runs: self.runs.iter().chain(&self.run).cloned().collect(),
            panel: self.panel,
            table: self.table.clone(),
            compute: self.compute,
            // Screenshots must not depend on (or change) the user's recent list.
            recent_file: if for_screenshot {
                None
            } else {
                files::default_recent_file()
            },
            masks: self.masks.clone(),
            capture: None,
            browse_dir: None,
        }
    }
}

/// Runs `darts-pt studio`.
pub fn run(args: &StudioArgs) -> Result<()> {
    let size = egui::Vec2::new(args.size.0, args.size.1);
    if let Some(out) = &args.screenshot {
        if !(0.5..=4.0).contains(&args.scale) {
            bail!("--scale must be between 0.5 and 4");
        }
        let mut opts = args.options(true);
        if args.window {
            opts.capture = Some(out.clone());
            screenshot::window(opts, size)?;
        } else {
            screenshot::offscreen(opts, size, args.scale, out)?;
        }
        eprintln!("wrote {}", out.display());
        return Ok(());
    }
    let opts = args.options(false);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_parse() {
        assert_eq!(parse_size("1280x800").unwrap(), (1280.0, 800.0));
        assert!(parse_size("10x10").is_err());
        assert!(parse_size("wide").is_err());
        let m = parse_mask("normal:3:skip_connect").unwrap();
        assert_eq!(
            m,
            (
                crate::space::CellType::Normal,
                3,
                crate::space::OpKind::SkipConnect
            )
        );
        assert!(parse_mask("normal:x:skip_connect").is_err());
        assert!(parse_mask("middle:1:skip_connect").is_err());
        assert!(parse_mask("normal:1:sep_conv_9x9").is_err());
        assert_eq!("Curves".parse::<Panel>().unwrap(), Panel::Curves);
    }
}
