//! The `train` and `eval` subcommands: argument parsing and printing around [`run_train`] and
//! [`eval_run`].

use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{Result, bail};
use clap::Args;

use super::source::resolve_genotype;
use super::{TrainConfig, TrainEnd, eval_run, run_train};
use crate::cli::{DataArgs, DeviceArgs};
use crate::config::Preset;
use crate::device::DeviceChoice;
use crate::job::Control;
use crate::progress::Progress;
use crate::space::SpaceId;

/// Parses any value whose `FromStr` error is a message.
pub(crate) fn parse<T: FromStr<Err = String>>(s: &str) -> Result<T, String> {
    s.parse()
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// The cell: genotype text (Python `Genotype(...)`, an NB201 arch string, or JSON), a file
    /// holding it, or a search run directory (its selection named by --label).
    #[arg(long, required_unless_present = "resume")]
    pub genotype: Option<String>,
    /// Which selection of a search run directory to train: pt, magnitude, pt-fixed-alpha, ...
    #[arg(long, default_value = "pt")]
    pub label: String,
    /// Search space of the cell: darts, darts8, s1-s4 (DARTS evaluation network) or nb201
    /// (NAS-Bench-201 network). Taken from the run when --genotype is a run directory.
    #[arg(long, value_parser = parse::<SpaceId>)]
    pub space: Option<SpaceId>,
    /// paper (DARTS: C=36 L=20, 600 epochs; NB201: C=16 N=5, 200 epochs), laptop (minutes per
    /// epoch on a CPU) or tiny (seconds; tests).
    #[arg(long, default_value = "paper", value_parser = parse::<Preset>)]
    pub preset: Preset,
    #[command(flatten)]
    pub source: DataArgs,
    /// Use only the first N training images (default: all of them, or the preset's).
    #[arg(long)]
    pub train_images: Option<usize>,
    /// Training epochs (default: the preset's).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Seed of the initialisation, the image order, the augmentation and drop path.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Images per step (default: the preset's).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Initial channels C.
    #[arg(long)]
    pub channels: Option<usize>,
    /// Cells L (DARTS family) or cells per stage N (NB201).
    #[arg(long)]
    pub layers: Option<usize>,
    /// Write a metrics line every N steps as well as every epoch.
    #[arg(long)]
    pub log_every: Option<usize>,
    /// The run directory to create.
    #[arg(long, required_unless_present = "resume")]
    pub out: Option<PathBuf>,
    /// Continue the training run in this directory from its last checkpoint.
    #[arg(long, conflicts_with_all = ["genotype", "space", "preset", "out"])]
    pub resume: Option<PathBuf>,
    #[command(flatten)]
    pub device: DeviceArgs,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// The training run directory.
    #[arg(long)]
    pub run: PathBuf,
    /// Evaluate on the test split of this dataset instead of the run's own.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Print one JSON object instead of a summary.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// The training configuration: the preset of the space, the genotype, then the flags.
pub fn resolve_train_config(args: &TrainArgs) -> Result<TrainConfig> {
    let Some(arg) = &args.genotype else {
        bail!("give --genotype TEXT|FILE|RUN_DIR");
    };
    let resolved = resolve_genotype(arg, &args.label)?;
    let space = match (args.space, resolved.space) {
        (Some(s), Some(r)) if s != r => {
            bail!("--space {s} contradicts the run, which searched the {r} space")
        }
        (Some(s), _) | (None, Some(s)) => s,
        (None, None) => bail!("give --space (darts, darts8, nb201, s1, s2, s3 or s4)"),
    };
    let mut cfg = TrainConfig::preset(space, args.preset);
    cfg.genotype = resolved.genotype.to_string();
    cfg.genotype_source = resolved.source;
    args.source.apply(&mut cfg.data);
    if let Some(n) = args.train_images {
        cfg.data.train_images = Some(n);
    }
    if let Some(e) = args.epochs {
        cfg.epochs = e;
    }
    if let Some(s) = args.seed {
        cfg.seed = s;
    }
    if let Some(b) = args.batch_size {
        cfg.batch_size = b;
    }
    if let Some(c) = args.channels {
        cfg.channels = c;
    }
    if let Some(l) = args.layers {
        cfg.layers = l;
    }
    if let Some(k) = args.log_every {
        cfg.log_every = k;
    }
    cfg.device = args.device.device;
    cfg.validate()?;
    super::network::parse_genotype(&cfg)?;
    Ok(cfg)
}

/// `darts-pt train`.
pub fn train_command(args: &TrainArgs) -> Result<()> {
    let (cfg, dir, resume) = match &args.resume {
        Some(dir) => {
            let cfg = TrainConfig::from_toml_file(&dir.join("config.toml"))
                .map_err(|e| anyhow::anyhow!("cannot resume {}: {e:#}", dir.display()))?;
            (cfg, dir.clone(), true)
        }
        None => {
            let cfg = resolve_train_config(args)?;
            (cfg, args.out.clone().expect("clap requires --out"), false)
        }
    };
    let choice = if resume && args.device.device == DeviceChoice::Auto {
        cfg.device
    } else {
        args.device.device
    };
    let device = DeviceArgs { device: choice }.select()?;
    let control = Control::new();
    crate::cli::install_ctrl_c(&control);
    let mut progress = Progress::new();
    match run_train(
        &cfg,
        &dir,
        resume,
        &device,
        &mut |e| progress.on_event(e),
        &control,
    )? {
        TrainEnd::Finished(r) => {
            println!(
                "final test accuracy {:.2}%, best {:.2}% (epoch {} of {}); {} parameters",
                100.0 * r.final_test_acc,
                100.0 * r.best_test_acc,
                r.best_epoch,
                r.epochs,
                r.params
            );
            Ok(())
        }
        TrainEnd::Interrupted { .. } => std::process::exit(130),
        TrainEnd::Diverged { epoch } => bail!("training diverged in epoch {epoch}"),
    }
}

/// `darts-pt eval`.
pub fn eval_command(args: &EvalArgs) -> Result<()> {
    let device = args.device.select()?;
    let r = eval_run(&args.run, args.data.as_deref(), &device)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        let at = if r.step > 0 {
            format!("epoch {} step {} of {}", r.epoch, r.step, r.epochs)
        } else {
            format!("epoch {} of {}", r.epoch, r.epochs)
        };
        println!("{} ({} network, checkpoint after {at})", r.run, r.space);
        println!("genotype: {}", r.genotype);
        println!("parameters: {:.3} M ({})", r.params as f64 / 1e6, r.params);
        println!(
            "test accuracy {:.2}%, loss {:.4} on {} images of {}",
            100.0 * r.test_acc,
            r.test_loss,
            r.test_images,
            r.dataset
        );
    }
    Ok(())
}
