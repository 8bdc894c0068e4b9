//! `darts-pt select`: flags -> a selection job (magnitude or PT) driven to its end.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;

use super::args::{DeviceArgs, INTERRUPTED, ctrl_c_control, on_device_lost, parse};
use crate::config::layers::PtFlags;
use crate::config::{Criterion, SelectMethod};
use crate::job::End;
use crate::progress::Progress;
use crate::select::{SelectRequest, run_select};

#[derive(Args, Debug)]
pub struct SelectArgs {
    /// The search run directory.
    #[arg(long)]
    pub run: PathBuf,
    /// magnitude (DARTS's rule on softmax(alpha)) or pt (perturbation-based selection).
    #[arg(long, default_value = "pt", value_parser = parse::<SelectMethod>)]
    pub method: SelectMethod,
    /// A TOML file with a [pt] table (as in a run's config.toml): PT settings that replace the
    /// run's own; the flags below replace the file's.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// PT's score: acc (keep the op whose removal lowers accuracy most) or loss.
    #[arg(long, value_parser = parse::<Criterion>)]
    pub criterion: Option<Criterion>,
    /// PT without alpha updates while tuning (automatic for fixed-alpha runs).
    #[arg(long)]
    pub fixed_alpha: bool,
    /// Tuning epochs between PT's decisions (the run's pt.proj_intv by default).
    #[arg(long)]
    pub proj_intv: Option<usize>,
    /// Tuning epochs in all (default: the spec's schedule for the decision interval).
    #[arg(long)]
    pub tune_epochs: Option<usize>,
    /// PT's constant weight learning rate while tuning.
    #[arg(long)]
    pub tune_lr: Option<f64>,
    /// Perturbation radius of SDARTS+PT while tuning.
    #[arg(long)]
    pub epsilon: Option<f64>,
    /// Images per scoring batch (default: the search's batch size).
    #[arg(long)]
    pub eval_batch_size: Option<usize>,
    /// Seed of PT's edge order and scoring passes (default: the search seed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Continue an interrupted PT selection from its checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Also write the selection record to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// NAS-Bench-201 table (CSV) for looking up NB201 cells; or set DARTS_PT_NB201.
    #[arg(long)]
    pub table: Option<PathBuf>,
    /// Print the record as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
}

impl SelectArgs {
    fn request(&self) -> SelectRequest {
        SelectRequest {
            pt_file: self.config.clone(),
            pt: PtFlags {
                criterion: self.criterion,
                proj_intv: self.proj_intv,
                tune_epochs: self.tune_epochs,
                lr: self.tune_lr,
                epsilon: self.epsilon,
                fixed_alpha: self.fixed_alpha.then_some(true),
                seed: self.seed,
                eval_batch_size: self.eval_batch_size,
            },
            resume: self.resume,
            out: self.out.clone(),
            table: self.table.clone(),
            ..SelectRequest::new(&self.run, self.method)
        }
    }
}

pub fn run(args: &SelectArgs) -> Result<()> {
    let device = args.device.select()?;
    let control = ctrl_c_control();
    let mut progress = Progress::new();
    let request = args.request();
    let resume = format!(
        "darts-pt select --run {} --method {} --resume --device cpu` (with this command's other flags",
        args.run.display(),
        args.method.name()
    );
    let end = run_select(&request, &device, &mut |e| progress.on_event(e), &control)
        .map_err(|e| on_device_lost(e, &device, &resume))?;
    let outcome = match end {
        End::Finished(o) => o,
        End::Interrupted { .. } => std::process::exit(INTERRUPTED),
        End::Diverged { epoch, step } => bail!(
            "the selection stopped while tuning: {} (lower --tune-lr)",
            crate::job::divergence(epoch, step)
        ),
    };
    let r = &outcome.record;
    if args.json {
        println!("{}", serde_json::to_string_pretty(r)?);
    } else {
        print!("{}", crate::report::selection_summary(r));
    }
    Ok(())
}
