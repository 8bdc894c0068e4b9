//! `darts-pt demo`: the main job on the bundled data.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::args::{DeviceArgs, INTERRUPTED, ctrl_c_control, parse};
use crate::config::Preset;
use crate::progress::Progress;

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Where the demo writes its run directory.
    #[arg(long, default_value = "darts-pt-demo")]
    pub out: PathBuf,
    /// laptop (about 10 minutes on a 2-core CPU) or tiny (under a minute).
    #[arg(long, default_value = "laptop", value_parser = parse::<Preset>)]
    pub preset: Preset,
    /// A dataset instead of the bundled Fashion-MNIST subset.
    #[arg(long)]
    pub data: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Search epochs (default: the preset's).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// NAS-Bench-201 table (CSV) to look both cells up in; or set DARTS_PT_NB201.
    #[arg(long)]
    pub table: Option<PathBuf>,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(args: &DemoArgs) -> Result<()> {
    let device = args.device.select()?;
    let control = ctrl_c_control();
    let req = crate::demo::DemoRequest {
        out: args.out.clone(),
        preset: args.preset,
        data: args.data.clone(),
        seed: args.seed,
        epochs: args.epochs,
        table: args.table.clone(),
    };
    let mut progress = Progress::new();
    match crate::demo::run_demo(&req, &device, &mut progress, &control)? {
        Some((_, _, report)) => {
            println!("{report}");
            println!(
                "run directory: {} (open it with `darts-pt studio {}`)",
                args.out.display(),
                args.out.display()
            );
            Ok(())
        }
        None => std::process::exit(INTERRUPTED),
    }
}
