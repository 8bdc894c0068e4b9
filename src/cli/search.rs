//! `darts-pt search`: flags -> settings -> a search job driven to its end.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;

use super::args::{DeviceArgs, INTERRUPTED, RunArgs, ctrl_c_control, on_device_lost, parse};
use crate::config::layers::SearchFlags;
use crate::config::{Method, Preset, SearchConfig, SgasOp};
use crate::job::End;
use crate::progress::Progress;
use crate::run::RunReader;
use crate::search::{SearchStart, run_search};
use crate::space::SpaceId;

#[derive(Args, Debug)]
pub struct SearchArgs {
    /// Search space: darts (7 ops), darts8 (with none), nb201, s1, s2, s3, s4.
    #[arg(long, value_parser = parse::<SpaceId>)]
    pub space: Option<SpaceId>,
    /// darts (first order), darts2 (second order), sdarts-rs, sdarts-adv, sgas, fixed-alpha.
    #[arg(long, value_parser = parse::<Method>)]
    pub method: Option<Method>,
    /// paper (the spec's settings), laptop (minutes on a CPU) or tiny (seconds; demos, tests).
    #[arg(long, value_parser = parse::<Preset>)]
    pub preset: Option<Preset>,
    /// A TOML file of settings (any subset of the keys of a run's config.toml); it overrides
    /// the preset, and the flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub run: RunArgs,
    /// SGAS criterion: 1 (importance x certainty) or 2 (also x stability).
    #[arg(long)]
    pub sgas_criterion: Option<u8>,
    /// SGAS: who chooses the operation on each edge SGAS decides: magnitude (SGAS's own, its
    /// largest probability) or pt (SGAS+PT: the operation whose removal hurts the supernet's
    /// held-out accuracy most, measured then and there; SGAS still chooses when and which edge).
    #[arg(long, value_parser = parse::<SgasOp>)]
    pub sgas_op: Option<SgasOp>,
    /// The run directory to create.
    #[arg(long, required_unless_present = "resume")]
    pub out: Option<PathBuf>,
    /// Continue the run in this directory from its last checkpoint, with the settings it was
    /// started with (flags that would change them are refused).
    #[arg(long, conflicts_with_all = ["space", "method", "preset", "config", "out", "sgas_criterion", "sgas_op"])]
    pub resume: Option<PathBuf>,
    #[command(flatten)]
    pub device: DeviceArgs,
}

impl SearchArgs {
    /// The flags as the library's settings layer.
    pub fn flags(&self) -> SearchFlags {
        SearchFlags {
            run: self.run.flags(self.space, self.preset, &self.device),
            method: self.method,
            sgas_criterion: self.sgas_criterion,
            sgas_op: self.sgas_op,
        }
    }
}

pub fn run(args: &SearchArgs) -> Result<()> {
    let (start, device) = match &args.resume {
        Some(dir) => {
            let new_run = format!(
                "darts-pt search --config {}/config.toml --epochs N --out NEW_DIR",
                dir.display()
            );
            args.run.refuse_on_resume(dir, &new_run)?;
            let cfg: SearchConfig = RunReader::local(dir)
                .search_config()
                .map_err(|e| anyhow::anyhow!("cannot resume {}: {e:#}", dir.display()))?;
            let start = SearchStart::Resume { dir: dir.clone() };
            (start, args.device.select_or(cfg.device)?)
        }
        None => {
            let config = SearchConfig::resolve(args.config.as_deref(), &args.flags())?;
            let device = args.device.select_or(config.device.clone())?;
            let dir = args.out.clone().expect("clap requires --out");
            (
                SearchStart::New {
                    config: Box::new(config),
                    dir,
                },
                device,
            )
        }
    };
    let resume = format!(
        "darts-pt search --resume {} --device cpu",
        start.dir().display()
    );
    let control = ctrl_c_control();
    let mut progress = Progress::new();
    let end = run_search(start, &device, &mut |e| progress.on_event(e), &control)
        .map_err(|e| on_device_lost(e, &device, &resume))?;
    match end {
        End::Finished(()) => Ok(()),
        End::Interrupted { .. } => std::process::exit(INTERRUPTED),
        // What happened and how to go on was printed with the job's end.
        End::Diverged { .. } => bail!("the search diverged"),
    }
}
