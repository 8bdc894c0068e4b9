//! `darts-pt studio`: flags -> the studio's options -> a window or a screenshot.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::device::{DeviceChoice, select_with};
use crate::studio::files::default_recent_file;
use crate::studio::panels::runs::RemoteCompute;
use crate::studio::{ComputePref, Launch, MaskSpec, Panel, StudioOptions, launch};

/// `--compute`: a choice among the window's devices, or a remote device.
#[derive(Clone, Debug)]
pub enum ComputeArg {
    Local(ComputePref),
    Remote(DeviceChoice),
}

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
    /// Where burn computes: auto (the window's GPU if it is a real one, else the CPU), cpu,
    /// gpu, or remote:ws://HOST:PORT (a `darts-pt serve` process; connected at start, offered
    /// beside the CPU in the device panel and the new-search form).
    #[arg(long, default_value = "auto", value_parser = parse_compute)]
    pub compute: ComputeArg,
    /// A file holding the remote server's token (else DARTS_PT_TOKEN_FILE or DARTS_PT_TOKEN).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
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

fn parse_compute(s: &str) -> Result<ComputeArg, String> {
    match s {
        "auto" => Ok(ComputeArg::Local(ComputePref::Auto)),
        "cpu" => Ok(ComputeArg::Local(ComputePref::Cpu)),
        "gpu" => Ok(ComputeArg::Local(ComputePref::Gpu)),
        _ if s.starts_with("remote:") => s.parse().map(ComputeArg::Remote),
        _ => Err(format!(
            "unknown compute device '{s}' (expected auto, cpu, gpu or remote:ws://HOST:PORT)"
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
    fn options(&self) -> Result<StudioOptions> {
        let (compute, remote) = match &self.compute {
            ComputeArg::Local(pref) => (*pref, None),
            ComputeArg::Remote(choice) => {
                let device = select_with(choice, self.token_file.as_deref())?;
                let choice = choice.clone();
                (ComputePref::Remote, Some(RemoteCompute { choice, device }))
            }
        };
        Ok(StudioOptions {
            runs: self.runs.iter().chain(&self.run).cloned().collect(),
            panel: self.panel,
            table: self.table.clone(),
            compute,
            remote,
            recent_file: default_recent_file(),
            masks: self.masks.clone(),
            capture: None,
            browse_dir: None,
            gpu_compute: None,
            host: None,
        })
    }
}

/// Runs `darts-pt studio`.
pub fn run(args: &StudioArgs) -> Result<()> {
    let how = Launch {
        size: args.size,
        screenshot: args.screenshot.clone(),
        scale: args.scale,
        window: args.window,
    };
    launch(args.options()?, &how)
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
        assert!(matches!(
            parse_compute("remote:ws://gpu:3000").unwrap(),
            ComputeArg::Remote(DeviceChoice::Remote(u)) if u == "ws://gpu:3000"
        ));
        assert!(parse_compute("remote:gpu:3000").is_err());
    }
}
