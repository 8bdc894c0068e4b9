//! The command line: one subcommand per job, each a thin layer over the library.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use crate::config::{Method, Preset, SearchConfig};
use crate::device::{self, DeviceChoice, SelectedDevice};
use crate::inspect::{InspectRequest, inspect, render};
use crate::job::Control;
use crate::nn::InputShape;
use crate::progress::Progress;
use crate::search::{SearchEnd, run_search};
use crate::select::pt::Criterion;
use crate::select::{SelectMethod, SelectRequest, run_select};
use crate::space::SpaceId;

/// Differentiable architecture search with perturbation-based architecture selection (PT).
///
/// DARTS trains a weight-sharing supernet whose edges mix candidate operations with
/// softmax(alpha). PT then selects the architecture by masking each operation and keeping the
/// one whose removal hurts the supernet most, instead of trusting alpha's magnitude.
#[derive(Parser, Debug)]
#[command(name = "darts-pt", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Build a network from a genotype (or a search supernet) and count its parameters.
    ///
    /// Examples:
    ///   darts-pt inspect --space darts --genotype "Genotype(normal=[...], ...)"
    ///   darts-pt inspect --space nb201 --genotype '|nor_conv_3x3~0|+|...|' --json
    ///   darts-pt inspect --space darts --supernet
    #[command(verbatim_doc_comment)]
    Inspect(InspectArgs),
    /// List the compute devices darts-pt can use on this machine.
    Devices,
    /// Train a supernet (DARTS, SDARTS, SGAS or fixed alpha) and write a run directory.
    ///
    /// Examples:
    ///   darts-pt search --space nb201 --method darts --preset tiny --out runs/nb201
    ///   darts-pt search --space s2 --method sdarts-rs --preset laptop --data ~/cifar-10-batches-bin --out runs/s2
    ///   darts-pt search --resume runs/nb201
    ///
    /// The run directory holds config.toml, metrics.jsonl, alpha.jsonl, events.jsonl and an
    /// atomically written checkpoint; Ctrl-C saves a checkpoint and `--resume` continues
    /// exactly where the run stopped.
    #[command(verbatim_doc_comment)]
    Search(SearchArgs),
    /// Derive the architecture of a searched supernet: by alpha's magnitude or by PT.
    ///
    /// PT (perturbation-based selection) masks each operation of an edge in turn, measures the
    /// supernet on the held-out half, keeps the one whose removal hurts most, tunes, and
    /// repeats; for DARTS-type spaces it then picks each node's two inputs the same way.
    ///
    /// Examples:
    ///   darts-pt select --run runs/nb201 --method magnitude
    ///   darts-pt select --run runs/nb201 --method pt --table nats_bench_tss_200ep.csv
    ///   darts-pt select --run runs/s2 --method pt --fixed-alpha
    ///
    /// Writes selection.json (every decision with its scores) and genotype-<label>.txt into the
    /// run directory.
    #[command(verbatim_doc_comment)]
    Select(SelectArgs),
    /// Look a NAS-Bench-201 cell up in the benchmark table.
    ///
    /// The table is a CSV with the columns CIFAR10TestAccuracy200Epochs,
    /// CIFAR100TestAccuracy200Epochs, ImageNetTestAccuracy200Epochs, ArchitectureString (see
    /// the README for exporting it from the NATS-Bench API). Give it with --table or the
    /// DARTS_PT_NB201 environment variable.
    Lookup(LookupArgs),
    /// The main job: search an NB201 supernet on the bundled Fashion-MNIST subset, select the
    /// cell by magnitude and by PT, and show both side by side.
    ///
    /// Re-running continues (or reuses) the run in --out.
    Demo(DemoArgs),
    /// Measure supernet step throughput on fixed shapes (random inputs) and print a table.
    ///
    /// Rows: NB201 C=8 N=1 on 1x28x28, NB201 C=16 N=5 on 3x32x32, DARTS C=8 L=5 on 1x28x28, all
    /// at batch 64: weight step, DARTS step (alpha + weight), forward, and PT's scoring forward.
    Bench(BenchArgs),
    /// Retrain a genotype from scratch on the full training set, testing after every epoch.
    ///
    /// DARTS-family cells (darts, s1-s4) train as the DARTS evaluation network (auxiliary head
    /// 0.4, drop path 0.2 ramped linearly, cutout, SGD 0.025 cosine to 0, momentum 0.9, wd 3e-4,
    /// clip 5, batch 96; C=36 L=20 and 600 epochs with --preset paper). NB201 cells train as the
    /// NAS-Bench-201 network with the benchmark's recipe (SGD 0.1 Nesterov, wd 5e-4, batch 256,
    /// C=16 N=5, 200 epochs with --preset paper).
    ///
    /// Examples:
    ///   darts-pt train --genotype runs/nb201 --label pt --preset laptop --out runs/nb201-pt
    ///   darts-pt train --space darts --genotype "Genotype(normal=[...], ...)" --out runs/cell
    ///   darts-pt train --space s3 --genotype cell.txt --preset tiny --epochs 3 --out runs/t
    ///   darts-pt train --resume runs/nb201-pt
    ///
    /// Writes config.toml, metrics.jsonl (test accuracy per epoch), an atomically written
    /// checkpoint and, at the end, result.json; Ctrl-C saves a checkpoint and --resume continues
    /// exactly where the run stopped. Prints the final and the best test accuracy.
    #[command(verbatim_doc_comment)]
    Train(crate::train::command::TrainArgs),
    /// Re-evaluate the checkpoint of a training run on the test set.
    ///
    /// Example: darts-pt eval --run runs/nb201-pt
    #[command(verbatim_doc_comment)]
    Eval(crate::train::command::EvalArgs),
    /// Run one of the paper's experiments end to end and write a report.
    #[command(subcommand)]
    Experiment(crate::experiment::command::ExperimentCommand),
    /// Inspect, preview, download and benchmark datasets.
    #[command(subcommand)]
    Data(crate::data::command::DataCommand),
    /// Open the studio: a window to watch, compare and teach searches and selections.
    ///
    /// Examples:
    ///   darts-pt studio runs/nb201
    ///   darts-pt studio --run runs/nb201 --screenshot cell.png --panel cell
    ///
    /// Panels: runs (open runs, start a search), cell graph, selection, perturbation, curves,
    /// device. --screenshot renders offscreen at a fixed size and writes a PNG.
    #[command(verbatim_doc_comment)]
    Studio(crate::studio::StudioArgs),
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Warm-up steps before timing.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Timed steps (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    /// Report the fastest step instead of the median (for a busy machine).
    #[arg(long)]
    pub min: bool,
    /// Report process CPU milliseconds (all threads) instead of wall time, which a busy
    /// machine distorts less.
    #[arg(long)]
    pub cpu_time: bool,
    /// Only the cases whose name contains this text.
    #[arg(long)]
    pub only: Option<String>,
    /// Instead, time the primitives (convolutions, pooling, BatchNorm, ...) at batch 64 with
    /// this many channels on 28x28 inputs.
    #[arg(long)]
    pub ops: Option<usize>,
    /// Image size of `--ops`.
    #[arg(long, default_value_t = 28)]
    pub ops_size: usize,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Where the demo writes its run directory.
    #[arg(long, default_value = "darts-pt-demo")]
    pub out: PathBuf,
    /// laptop (about 10 minutes on a 2-core CPU) or tiny (under a minute).
    #[arg(long, default_value = "laptop", value_parser = parse_preset)]
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

#[derive(Args, Debug)]
pub struct SelectArgs {
    /// The search run directory.
    #[arg(long)]
    pub run: PathBuf,
    /// magnitude (DARTS's rule on softmax(alpha)) or pt (perturbation-based selection).
    #[arg(long, default_value = "pt", value_parser = parse_select_method)]
    pub method: SelectMethod,
    /// PT's score: acc (keep the op whose removal lowers accuracy most) or loss.
    #[arg(long, default_value = "acc", value_parser = parse_criterion)]
    pub criterion: Criterion,
    /// PT without alpha updates while tuning (automatic for fixed-alpha runs).
    #[arg(long)]
    pub fixed_alpha: bool,
    /// Continue an interrupted PT selection from its checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Also write the selection record to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Tuning epochs of PT (default: the spec's schedule from pt.proj_intv).
    #[arg(long)]
    pub tune_epochs: Option<usize>,
    /// Seed of PT's edge order and scoring passes (default: the search seed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// NAS-Bench-201 table (CSV) for looking up NB201 cells; or set DARTS_PT_NB201.
    #[arg(long)]
    pub table: Option<PathBuf>,
    /// Print the record as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
}

#[derive(Args, Debug)]
pub struct LookupArgs {
    /// The NAS-Bench-201 CSV (or set DARTS_PT_NB201).
    #[arg(long)]
    pub table: Option<PathBuf>,
    /// The cell, e.g. '|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|'.
    #[arg(long)]
    pub genotype: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct SearchArgs {
    /// Search space: darts (7 ops), darts8 (with none), nb201, s1, s2, s3, s4.
    #[arg(long, value_parser = parse_space)]
    pub space: Option<SpaceId>,
    /// darts (first order), darts2 (second order), sdarts-rs, sdarts-adv, sgas, fixed-alpha.
    #[arg(long, value_parser = parse_method)]
    pub method: Option<Method>,
    /// paper (the spec's settings), laptop (minutes on a CPU) or tiny (seconds; demos, tests).
    #[arg(long, value_parser = parse_preset)]
    pub preset: Option<Preset>,
    /// A TOML file of settings (any subset of the keys written to a run's config.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub source: DataArgs,
    /// Use only the first N training images.
    #[arg(long)]
    pub train_images: Option<usize>,
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long)]
    pub seed: Option<u64>,
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Initial channels C of the supernet.
    #[arg(long)]
    pub channels: Option<usize>,
    /// Cells L (DARTS family) or cells per stage N (NB201).
    #[arg(long)]
    pub layers: Option<usize>,
    /// SGAS criterion: 1 (importance x certainty) or 2 (also x stability).
    #[arg(long)]
    pub sgas_criterion: Option<u8>,
    /// Write a metrics line every N steps as well as every epoch.
    #[arg(long)]
    pub log_every: Option<usize>,
    /// The run directory to create.
    #[arg(long, required_unless_present = "resume")]
    pub out: Option<PathBuf>,
    /// Continue the run in this directory from its last checkpoint.
    #[arg(long, conflicts_with_all = ["space", "method", "preset", "config", "out"])]
    pub resume: Option<PathBuf>,
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// `--data` and `--dataset`, shared by the commands that train.
#[derive(Args, Debug, Clone)]
pub struct DataArgs {
    /// Dataset directory or file (CIFAR-10/100 binary or Python, IDX, image folder); the
    /// bundled Fashion-MNIST subset when absent. Training and experiments need a test split.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Force the dataset format: cifar10, cifar100, fashion-mnist, mnist, folder.
    #[arg(long)]
    pub dataset: Option<String>,
}

impl DataArgs {
    /// Overrides the source of `cfg` with whatever was given.
    pub fn apply(&self, cfg: &mut crate::config::DataConfig) {
        if let Some(p) = &self.data {
            cfg.path = Some(p.clone());
        }
        if let Some(d) = &self.dataset {
            cfg.dataset = Some(d.clone());
        }
    }
}

/// `--device`, shared by every command that computes.
#[derive(Args, Debug, Clone)]
pub struct DeviceArgs {
    /// Where to compute: auto (a real GPU if present, else CPU), cpu (flex backend), or wgpu /
    /// vulkan / metal / dx12 (burn's wgpu backend; runs on software adapters too).
    #[arg(long, default_value = "auto", value_parser = parse_device)]
    pub device: DeviceChoice,
}

fn parse_device(s: &str) -> Result<DeviceChoice, String> {
    s.parse()
}

fn parse_space(s: &str) -> Result<SpaceId, String> {
    s.parse()
}

fn parse_select_method(s: &str) -> Result<SelectMethod, String> {
    s.parse()
}

fn parse_criterion(s: &str) -> Result<Criterion, String> {
    s.parse()
}

fn parse_method(s: &str) -> Result<Method, String> {
    s.parse()
}

fn parse_preset(s: &str) -> Result<Preset, String> {
    s.parse()
}

/// Deep-merges `over` into `base` (tables merge key by key; other values replace).
fn merge_toml(base: &mut toml::Value, over: toml::Value) {
    match (base, over) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge_toml(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// The search configuration: the preset of (space, method), then the config file, then flags.
pub fn resolve_search_config(args: &SearchArgs) -> Result<SearchConfig> {
    let file: Option<toml::Value> = match &args.config {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
            Some(toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?)
        }
        None => None,
    };
    let from_file =
        |key: &str| -> Option<String> { file.as_ref()?.get(key)?.as_str().map(str::to_string) };
    let space = match (args.space, from_file("space")) {
        (Some(s), _) => s,
        (None, Some(s)) => s.parse().map_err(|e: String| anyhow::anyhow!(e))?,
        (None, None) => anyhow::bail!("give --space (darts, darts8, nb201, s1, s2, s3 or s4)"),
    };
    let method = match (args.method, from_file("method")) {
        (Some(m), _) => m,
        (None, Some(m)) => m.parse().map_err(|e: String| anyhow::anyhow!(e))?,
        (None, None) => Method::Darts,
    };
    let preset = match (args.preset, from_file("preset")) {
        (Some(p), _) => p,
        (None, Some(p)) => p.parse().map_err(|e: String| anyhow::anyhow!(e))?,
        (None, None) => Preset::Paper,
    };
    let mut cfg = SearchConfig::preset(space, method, preset);
    let file_sets_sgas = file.as_ref().is_some_and(|f| f.get("sgas").is_some());
    if let Some(f) = file {
        let mut base = toml::Value::try_from(&cfg)?;
        merge_toml(&mut base, f);
        cfg = base.try_into().map_err(|e| {
            anyhow::anyhow!(
                "{}: {e}",
                args.config
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            )
        })?;
        cfg.space = space;
        cfg.method = method;
        cfg.preset = preset;
    }
    args.source.apply(&mut cfg.data);
    if let Some(n) = args.train_images {
        cfg.data.train_images = Some(n);
    }
    if let Some(e) = args.epochs {
        cfg.epochs = e;
        if !file_sets_sgas {
            cfg.scale_sgas_schedule();
        }
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
    if let Some(c) = args.sgas_criterion {
        cfg.sgas.criterion = c;
    }
    if let Some(k) = args.log_every {
        cfg.log_every = k;
    }
    cfg.device = args.device.device;
    cfg.validate()?;
    Ok(cfg)
}

/// Runs a job with Ctrl-C wired to its cancel flag.
pub(crate) fn install_ctrl_c(control: &Control) {
    let flag = control.cancel_flag();
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, std::sync::atomic::Ordering::SeqCst) {
            // A second Ctrl-C while the checkpoint is written: leave at once.
            std::process::exit(130);
        }
        eprintln!("\ninterrupt: saving a checkpoint at the next step (Ctrl-C again to abort)");
    });
}

impl DeviceArgs {
    /// Resolves the device and says which one was chosen (on stderr, so `--json` stays clean).
    pub fn select(&self) -> Result<SelectedDevice> {
        let d = device::select(self.device)?;
        eprintln!("device: {}", d.description);
        Ok(d)
    }
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Search space: darts (7 ops), darts8 (with none), nb201, s1, s2, s3, s4.
    #[arg(long, value_parser = parse_space)]
    pub space: SpaceId,
    /// Genotype text (Python `Genotype(...)`, NB201 arch string, or JSON), or a file holding it.
    #[arg(long, conflicts_with = "supernet")]
    pub genotype: Option<String>,
    /// Inspect the search supernet instead of a discrete network.
    #[arg(long)]
    pub supernet: bool,
    /// Initial channels C (default: 36 for DARTS networks, 16 otherwise).
    #[arg(long)]
    pub channels: Option<usize>,
    /// Cells L (DARTS family; default 20 for networks, 8 for supernets) or cells per stage N
    /// (NB201; default 5).
    #[arg(long)]
    pub layers: Option<usize>,
    /// Number of classes.
    #[arg(long, default_value_t = 10)]
    pub classes: usize,
    /// Input image channels.
    #[arg(long, default_value_t = 3)]
    pub in_channels: usize,
    /// Input image size (height = width).
    #[arg(long, default_value_t = 32)]
    pub image_size: usize,
    /// Print one JSON object instead of a summary.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// Reads a genotype argument: the text itself, or the contents of a file of that name.
pub fn genotype_text(arg: &str) -> Result<String> {
    let path = PathBuf::from(arg);
    if !arg.trim_start().starts_with(['G', '|', '{']) && path.is_file() {
        return std::fs::read_to_string(&path)
            .map(|s| s.trim().to_string())
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()));
    }
    Ok(arg.to_string())
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Inspect(args) => {
            if args.genotype.is_none() && !args.supernet {
                anyhow::bail!(
                    "give --genotype TEXT for a network, or --supernet for the search supernet"
                );
            }
            let device = args.device.select()?;
            let req = InspectRequest {
                space: args.space,
                genotype: args.genotype.as_deref().map(genotype_text).transpose()?,
                channels: args.channels,
                layers: args.layers,
                input: InputShape {
                    channels: args.in_channels,
                    size: args.image_size,
                    classes: args.classes,
                },
            };
            let report = inspect(&req, &device.device)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", render(&report));
            }
            Ok(())
        }
        Command::Search(args) => {
            let control = Control::new();
            let (cfg, dir, resume) = match &args.resume {
                Some(dir) => {
                    let cfg = SearchConfig::from_toml_file(&dir.join("config.toml"))
                        .map_err(|e| anyhow::anyhow!("cannot resume {}: {e:#}", dir.display()))?;
                    (cfg, dir.clone(), true)
                }
                None => {
                    let cfg = resolve_search_config(&args)?;
                    (cfg, args.out.clone().expect("clap requires --out"), false)
                }
            };
            let device = if resume {
                DeviceArgs {
                    device: if args.device.device == DeviceChoice::Auto {
                        cfg.device
                    } else {
                        args.device.device
                    },
                }
                .select()?
            } else {
                args.device.select()?
            };
            install_ctrl_c(&control);
            let mut progress = Progress::new();
            let end = run_search(
                &cfg,
                &dir,
                resume,
                &device,
                &mut |e| progress.on_event(e),
                &control,
            )?;
            match end {
                SearchEnd::Finished => Ok(()),
                SearchEnd::Interrupted { .. } => std::process::exit(130),
                SearchEnd::Diverged { epoch, step } => {
                    anyhow::bail!("search diverged at epoch {epoch}, step {step}")
                }
            }
        }
        Command::Select(args) => {
            let device = args.device.select()?;
            let control = Control::new();
            install_ctrl_c(&control);
            let req = SelectRequest {
                run: args.run.clone(),
                method: args.method,
                criterion: args.criterion,
                fixed_alpha: args.fixed_alpha,
                resume: args.resume,
                out: args.out.clone(),
                tune_epochs: args.tune_epochs,
                seed: args.seed,
                table: args.table.clone(),
            };
            let mut progress = Progress::new();
            let Some(outcome) = run_select(&req, &device, &mut |e| progress.on_event(e), &control)?
            else {
                std::process::exit(130);
            };
            let r = &outcome.record;
            if args.json {
                println!("{}", serde_json::to_string_pretty(r)?);
            } else {
                print!("{}", crate::report::selection_summary(r));
            }
            Ok(())
        }
        Command::Lookup(args) => {
            let table = crate::lookup::Nb201Table::from_env_or(args.table.as_deref()).ok_or_else(
                || {
                    anyhow::anyhow!(
                        "no NAS-Bench-201 table: give --table CSV or set DARTS_PT_NB201"
                    )
                },
            )??;
            let genotype = crate::genotype::Nb201Genotype::parse_arch(args.genotype.trim())?;
            let entry = table.query(&genotype)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&entry)?);
            } else {
                println!("{}", entry.arch);
                println!(
                    "  CIFAR-10        {:6.2}%  (rank {} of {})",
                    entry.cifar10, entry.rank_cifar10, entry.total
                );
                println!("  CIFAR-100       {:6.2}%", entry.cifar100);
                println!("  ImageNet16-120  {:6.2}%", entry.imagenet16_120);
            }
            Ok(())
        }
        Command::Demo(args) => {
            let device = args.device.select()?;
            let control = Control::new();
            install_ctrl_c(&control);
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
                None => std::process::exit(130),
            }
        }
        Command::Bench(args) => {
            let device = args.device.select()?;
            crate::bench::use_minimum(args.min);
            crate::bench::use_cpu_time(args.cpu_time);
            if let Some(c) = args.ops {
                let rows = crate::bench::run_ops(
                    &device.device,
                    c,
                    args.ops_size,
                    args.warmup,
                    args.steps.max(1),
                );
                println!("{:<18} {:>10} {:>14}", "op", "fwd ms", "fwd+bwd ms");
                for r in rows {
                    println!(
                        "{:<18} {:>10.2} {:>14.2}",
                        r.op, r.forward_ms, r.forward_backward_ms
                    );
                }
                return Ok(());
            }
            if std::env::var_os("DARTS_PT_PROFILE_STEP").is_some() {
                for case in crate::bench::standard_cases() {
                    if let Some(f) = &args.only
                        && !case.name.to_lowercase().contains(&f.to_lowercase())
                    {
                        continue;
                    }
                    for (part, ms) in crate::bench::profile_weight_step(
                        &case,
                        &device.device,
                        args.warmup,
                        args.steps.max(1),
                    ) {
                        println!("{:<26} {:<18} {:>10.1}", case.name, part, ms);
                    }
                }
                return Ok(());
            }
            let mut rows = Vec::new();
            for case in crate::bench::standard_cases() {
                if let Some(f) = &args.only
                    && !case.name.to_lowercase().contains(&f.to_lowercase())
                {
                    continue;
                }
                eprintln!("benchmarking {} ...", case.name);
                rows.push(crate::bench::run_case(
                    &case,
                    &device.device,
                    &device.description,
                    args.warmup,
                    args.steps.max(1),
                )?);
            }
            if args.json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!("device: {}", device.description);
                print!("{}", crate::bench::render(&rows));
            }
            Ok(())
        }
        Command::Data(cmd) => crate::data::command::data_command(&cmd),
        Command::Studio(args) => crate::studio::run(&args),
        Command::Train(args) => crate::train::command::train_command(&args),
        Command::Eval(args) => crate::train::command::eval_command(&args),
        Command::Experiment(cmd) => crate::experiment::command::experiment_command(&cmd),
        Command::Devices => {
            let adapters = device::list_adapters();
            if adapters.is_empty() {
                println!("wgpu sees no adapter: only the cpu device (flex backend) is available");
            }
            for a in adapters {
                println!(
                    "{} ({}, {}){}",
                    a.name,
                    a.backend,
                    a.device_type,
                    if a.is_gpu {
                        ""
                    } else {
                        " - not used by --device auto"
                    }
                );
            }
            let auto = device::select(DeviceChoice::Auto)?;
            println!("--device auto selects: {}", auto.description);
            Ok(())
        }
    }
}
