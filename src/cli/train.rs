//! `darts-pt train` and `darts-pt eval`: flags -> settings -> a training job driven to its
//! end; the re-evaluation of a training run's checkpoint.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;

use super::args::{DeviceArgs, INTERRUPTED, RunArgs, ctrl_c_control, on_device_lost, parse};
use crate::config::{Preset, TrainConfig};
use crate::device::SelectedDevice;
use crate::job::End;
use crate::progress::Progress;
use crate::run::RunReader;
use crate::select::supernet_eval::{BnStats, Split, SupernetEval, eval_supernet, is_search_run};
use crate::space::SpaceId;
use crate::train::source::resolve_genotype;
use crate::train::{TrainStart, eval_run, network, run_train};

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
    /// paper (DARTS: C=36 L=20, 600 epochs; NB201: C=16 N=5, 200 epochs; the default), laptop
    /// (minutes per epoch on a CPU) or tiny (seconds; tests).
    #[arg(long, value_parser = parse::<Preset>)]
    pub preset: Option<Preset>,
    /// A TOML file of settings (any subset of the keys of a training run's config.toml); it
    /// overrides the preset, and the flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub run: RunArgs,
    /// The run directory to create.
    #[arg(long, required_unless_present = "resume")]
    pub out: Option<PathBuf>,
    /// Continue the training run in this directory from its last checkpoint, with the
    /// settings it was started with (flags that would change them are refused).
    #[arg(long, conflicts_with_all = ["genotype", "space", "preset", "config", "out"])]
    pub resume: Option<PathBuf>,
    #[command(flatten)]
    pub device: DeviceArgs,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// The run directory: a training run, or a search run (its supernet).
    #[arg(long)]
    pub run: PathBuf,
    /// Evaluate on the test split of this dataset instead of the run's own.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Search runs: the images, the test split or the held-out half of the search's training
    /// images.
    #[arg(long, value_enum, default_value = "test")]
    pub split: Split,
    /// Search runs: BatchNorm on each batch's statistics (how PT scores) or on the running
    /// statistics.
    #[arg(long, value_enum, default_value = "running")]
    pub bn: BnStats,
    /// Search runs: evaluate a selection's discretisation (its label, e.g. pt or magnitude;
    /// PT's tuned supernet when the selection has one) instead of softmax(alpha).
    #[arg(long)]
    pub selection: Option<String>,
    /// Search runs: images per batch (with --bn batch, the statistics' batch).
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Print one JSON object instead of a summary.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
}

impl TrainArgs {
    /// The settings of a new training run: the genotype's, then the preset, file and flags.
    fn resolve(&self) -> Result<TrainConfig> {
        let Some(arg) = &self.genotype else {
            bail!("give --genotype TEXT|FILE|RUN_DIR");
        };
        let resolved = resolve_genotype(arg, &self.label)?;
        let flags = self.run.flags(self.space, self.preset, &self.device);
        let mut cfg = TrainConfig::resolve(self.config.as_deref(), &flags, resolved.space)?;
        cfg.genotype = resolved.genotype.to_string();
        cfg.genotype_source = resolved.source;
        cfg.validate()?;
        network::parse_genotype(&cfg)?;
        Ok(cfg)
    }
}

pub fn train(args: &TrainArgs) -> Result<()> {
    let (start, device) = match &args.resume {
        Some(dir) => {
            let new_run = format!(
                "darts-pt train --genotype '<genotype in {d}/config.toml>' --config \
                 {d}/config.toml --epochs N --out NEW_DIR",
                d = dir.display()
            );
            args.run.refuse_on_resume(dir, &new_run)?;
            let reader = RunReader::local(dir);
            let cfg: TrainConfig = reader
                .toml(&reader.dir.config())
                .map_err(|e| anyhow::anyhow!("cannot resume {}: {e:#}", dir.display()))?;
            let start = TrainStart::Resume { dir: dir.clone() };
            (start, args.device.select_or(cfg.device)?)
        }
        None => {
            let config = args.resolve()?;
            let device = args.device.select_or(config.device.clone())?;
            let dir = args.out.clone().expect("clap requires --out");
            (
                TrainStart::New {
                    config: Box::new(config),
                    dir,
                },
                device,
            )
        }
    };
    let resume = format!(
        "darts-pt train --resume {} --device cpu",
        start.dir().display()
    );
    let control = ctrl_c_control();
    let mut progress = Progress::new();
    let end = run_train(start, &device, &mut |e| progress.on_event(e), &control)
        .map_err(|e| on_device_lost(e, &device, &resume))?;
    match end {
        End::Finished(r) => {
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
        End::Interrupted { .. } => std::process::exit(INTERRUPTED),
        // What happened and how to go on was printed with the job's end.
        End::Diverged { .. } => bail!("the training diverged"),
    }
}

/// `darts-pt eval`.
pub fn eval(args: &EvalArgs) -> Result<()> {
    let device = args.device.select()?;
    if is_search_run(&args.run) {
        return eval_supernet_run(args, &device);
    }
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

/// `eval` on a search run: its supernet.
fn eval_supernet_run(args: &EvalArgs, device: &SelectedDevice) -> Result<()> {
    let r = eval_supernet(
        &SupernetEval {
            run: args.run.clone(),
            split: args.split,
            bn: args.bn,
            selection: args.selection.clone(),
            data: args.data.clone(),
            batch_size: args.batch_size.max(1),
        },
        device,
    )?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    println!(
        "{} ({} supernet, checkpoint after epoch {})",
        r.run, r.space, r.epoch
    );
    match &r.genotype {
        Some(g) => println!("weights: selection '{}', {g}", r.weights),
        None => println!("weights: softmax(alpha)"),
    }
    let bn = match r.bn {
        BnStats::Batch => "batch statistics",
        BnStats::Running => "running statistics",
    };
    let split = match r.split {
        Split::Test => "test split",
        Split::Heldout => "held-out half",
    };
    println!(
        "accuracy {:.2}%, loss {:.4} on {} images ({split} of {}), BatchNorm on {bn}",
        100.0 * r.accuracy,
        r.loss,
        r.images,
        r.dataset
    );
    Ok(())
}
