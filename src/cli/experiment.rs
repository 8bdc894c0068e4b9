//! `darts-pt experiment`: flags -> an experiment plan from the preset table -> its phases.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};

use super::args::{DataArgs, DeviceArgs, INTERRUPTED, ctrl_c_control, if_device_lost, parse};
use crate::config::{DataConfig, Method, Preset};
use crate::device::DeviceChoice;
use crate::experiment::{ExperimentRequest, Plan, run_experiment};
use crate::space::SpaceId;

#[derive(Subcommand, Debug)]
pub enum ExperimentCommand {
    /// For each seed: search a supernet with DARTS (first order) and with fixed alpha, derive
    /// cells by magnitude and by PT from the same DARTS supernet and by PT from the fixed-alpha
    /// one, retrain every cell from scratch with the same budget, and report (with each normal
    /// cell's skip connections, the paper's measure of collapse). --methods adds SDARTS-RS
    /// (+magnitude, +PT) and SGAS (SGAS, SGAS+PT).
    ///
    /// Examples:
    ///   darts-pt experiment pt-vs-magnitude --space nb201 --seeds 0,1,2 --out runs/exp
    ///   darts-pt experiment pt-vs-magnitude --space s3 --seeds 0 --preset tiny --out runs/t
    ///   darts-pt experiment pt-vs-magnitude --space s2 --methods darts,sdarts-rs,sgas,fixed-alpha --out runs/s2
    ///   darts-pt experiment pt-vs-magnitude --space nb201 --seeds 0,1,2 --out runs/exp --report-only
    ///   darts-pt experiment pt-vs-magnitude --space s2 --devices cpu,remote:ws://127.0.0.1:3000 --out runs/s2
    ///
    /// Every search, selection and training is its own run directory under --out: re-running
    /// the same command skips finished phases and resumes interrupted ones (Ctrl-C saves a
    /// checkpoint). Writes report.md, report.csv, report.png and a picture of each search
    /// run's cells (cells/) into --out. With --preset laptop and the default methods, three
    /// seeds on the bundled data take about 35 minutes on a 2-core CPU for NB201, 45 for S2
    /// and 87 for the 7-op DARTS space (the dearest: PT's ~290 evaluation passes); each added
    /// method adds its searches, selections and retrainings (sgas: 32 more minutes there).
    #[command(verbatim_doc_comment)]
    PtVsMagnitude(PtVsMagnitudeArgs),
}

#[derive(Args, Debug)]
pub struct PtVsMagnitudeArgs {
    /// Search space: nb201, s2, s3 or darts (the 7-op DARTS space); any space works.
    #[arg(long, value_parser = parse::<SpaceId>)]
    pub space: SpaceId,
    /// The search methods compared, comma-separated: darts (its cell by magnitude and by
    /// PT), sdarts-rs (by magnitude and by PT, PT's tuning keeping the perturbation), sgas
    /// (SGAS's own cell, and SGAS+PT's: a second search where PT chooses the operation at each
    /// of SGAS's decisions) and fixed-alpha (PT on a supernet whose alpha never trains).
    #[arg(long, default_value = "darts,fixed-alpha", value_delimiter = ',', value_parser = parse::<Method>)]
    pub methods: Vec<Method>,
    /// Comma-separated seeds, one search + selection + retraining round each.
    #[arg(long, default_value = "0,1,2", value_delimiter = ',')]
    pub seeds: Vec<u64>,
    /// laptop (3 seeds in at most about two hours on a 2-core CPU), tiny (minutes; tests) or
    /// paper (the papers' protocols; days).
    #[arg(long, default_value = "laptop", value_parser = parse::<Preset>)]
    pub preset: Preset,
    #[command(flatten)]
    pub source: DataArgs,
    /// NAS-Bench-201 table (CSV) to look NB201 cells up in; or set DARTS_PT_NB201.
    #[arg(long)]
    pub table: Option<PathBuf>,
    /// The experiment directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Run nothing: write the report from the phases that have finished.
    #[arg(long)]
    pub report_only: bool,
    /// Spread the work over several devices, local and remote mixed (e.g.
    /// `cpu,remote:ws://127.0.0.1:3000`): each seed's searches (with their selections) and
    /// retrainings run concurrently, one per device at a time. Instead of --device.
    #[arg(long, value_delimiter = ',', value_parser = parse::<DeviceChoice>, conflicts_with = "device")]
    pub devices: Vec<DeviceChoice>,
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// `darts-pt experiment ...`.
pub fn run(cmd: &ExperimentCommand) -> Result<()> {
    let ExperimentCommand::PtVsMagnitude(args) = cmd;
    let devices = if args.devices.is_empty() {
        vec![args.device.select()?]
    } else {
        let chosen: Result<Vec<_>> = args
            .devices
            .iter()
            .map(|d| args.device.select_choice(d))
            .collect();
        chosen?
    };
    let data = DataConfig {
        path: args.source.data.clone(),
        dataset: args.source.dataset.clone(),
        train_images: None,
    };
    let plan = Plan::new(args.space, args.preset, data, &args.methods)?;
    let seeds: Vec<String> = args.seeds.iter().map(u64::to_string).collect();
    let methods: Vec<&str> = plan.methods.iter().map(|m| m.name()).collect();
    let mut command = format!(
        "darts-pt experiment pt-vs-magnitude --space {} --methods {} --seeds {} --preset {}",
        args.space,
        methods.join(","),
        seeds.join(","),
        args.preset
    );
    if let Some(d) = &args.source.data {
        command += &format!(" --data {}", d.display());
    }
    if let Some(t) = &args.table {
        command += &format!(" --table {}", t.display());
    }
    if args.device.device != DeviceChoice::Auto {
        command += &format!(" --device {}", args.device.device);
    }
    if !args.devices.is_empty() {
        let names: Vec<String> = args.devices.iter().map(|d| d.to_string()).collect();
        command += &format!(" --devices {}", names.join(","));
    }
    command += &format!(" --out {}", args.out.display());
    let req = ExperimentRequest {
        out: args.out.clone(),
        plan,
        seeds: args.seeds.clone(),
        table: args.table.clone(),
        report_only: args.report_only,
        command,
    };
    let control = ctrl_c_control();
    let end = run_experiment(&req, &devices, &control).map_err(|e| {
        if_device_lost(e, || {
            "a device stopped answering; every finished phase and every checkpoint is kept: \
             run the same command again (with --device or --devices that work) to continue"
                .into()
        })
    })?;
    match end {
        Some(path) => {
            println!("{}", std::fs::read_to_string(&path).unwrap_or_default());
            println!("report: {}", path.display());
            Ok(())
        }
        None => std::process::exit(INTERRUPTED),
    }
}
