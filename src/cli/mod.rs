//! The command line: one file per command, each turning flags into the library's settings
//! and requests and driving the library's jobs. Nothing outside this module knows it exists.

mod args;
mod bench;
mod data;
mod demo;
mod experiment;
mod import;
mod inspect;
mod search;
mod select;
#[cfg(feature = "remote")]
mod serve;
mod studio;
mod train;

use anyhow::Result;
use clap::{Parser, Subcommand};

pub use args::{DataArgs, DeviceArgs};

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
    Inspect(inspect::InspectArgs),
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
    Search(search::SearchArgs),
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
    ///   darts-pt select --run runs/s2 --method pt --config pt.toml --tune-epochs 5
    ///
    /// PT's settings are the search run's own [pt] settings, then --config's [pt] table, then
    /// the flags. Writes selection.json (every decision with its scores, and the settings PT ran
    /// with) and genotype-<label>.txt into the run directory.
    #[command(verbatim_doc_comment)]
    Select(select::SelectArgs),
    /// Look a NAS-Bench-201 cell up in the benchmark table.
    ///
    /// The table is a CSV with the columns CIFAR10TestAccuracy200Epochs,
    /// CIFAR100TestAccuracy200Epochs, ImageNetTestAccuracy200Epochs, ArchitectureString (see
    /// the README for exporting it from the NATS-Bench API). Give it with --table or the
    /// DARTS_PT_NB201 environment variable.
    Lookup(inspect::LookupArgs),
    /// The main job: search an NB201 supernet on the bundled Fashion-MNIST subset, select the
    /// cell by magnitude and by PT, and show both side by side.
    ///
    /// Re-running continues (or reuses) the run in --out.
    Demo(demo::DemoArgs),
    /// Measure supernet step throughput on fixed shapes (random inputs) and print a table.
    ///
    /// Rows: NB201 C=8 N=1 on 1x28x28, NB201 C=16 N=5 on 3x32x32, DARTS C=8 L=5 on 1x28x28, all
    /// at batch 64: weight step, DARTS step (alpha + weight), forward, and PT's scoring forward.
    Bench(bench::BenchArgs),
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
    Train(train::TrainArgs),
    /// Re-evaluate the checkpoint of a training run on the test set, or a search run's
    /// supernet.
    ///
    /// Examples:
    ///   darts-pt eval --run runs/nb201-pt
    ///   darts-pt eval --run runs/s2-official --split heldout --bn batch --json
    ///   darts-pt eval --run runs/s2-official --selection pt
    ///
    /// A supernet is evaluated with softmax(alpha), or with a selection's discretisation
    /// (--selection LABEL), on the images in file order without augmentation.
    #[command(verbatim_doc_comment)]
    Eval(train::EvalArgs),
    /// Run one of the paper's experiments end to end and write a report.
    #[command(subcommand)]
    Experiment(experiment::ExperimentCommand),
    /// Inspect, preview, download and benchmark datasets.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Open the studio: a window to watch, compare and teach searches and selections.
    ///
    /// Examples:
    ///   darts-pt studio runs/nb201
    ///   darts-pt studio --run runs/nb201 --screenshot cell.png --panel cell
    ///
    /// Panels: runs (open runs, start a search), cell graph, selection, perturbation, curves,
    /// device. --screenshot renders offscreen at a fixed size and writes a PNG.
    #[command(verbatim_doc_comment)]
    Studio(studio::StudioArgs),
    /// Bring a network trained elsewhere in as a run directory (the official PyTorch code's
    /// supernet checkpoints).
    #[command(subcommand)]
    Import(import::ImportCommand),
    /// Write a search run's supernet for the official PyTorch code: safetensors with the
    /// official state_dict names (load_state_dict(strict=True) takes it), α and the genotype.
    ///
    /// Examples:
    ///   darts-pt export --run runs/s2-official --out export/s2
    ///   darts-pt export --run runs/nb201 --selection pt --out export/nb201-pt
    #[command(verbatim_doc_comment)]
    Export(import::ExportArgs),
    /// Offer this machine's device to darts-pt on other machines (`--device
    /// remote:ws://HOST:PORT` there), until Ctrl-C.
    ///
    /// Examples:
    ///   darts-pt serve --device wgpu                      # prints the address and a token
    ///   darts-pt serve --device cpu --port 0 --token-file token.txt
    ///
    /// Listens on 127.0.0.1 unless --listen says otherwise; every client must present the
    /// token. The transport is plaintext WebSocket: across machines, tunnel it with
    /// `ssh -N -L 3000:localhost:3000 GPU_HOST` and connect to ws://127.0.0.1:3000. The tensors
    /// live on the server; the run directory, checkpoints and progress stay with the client.
    #[cfg(feature = "remote")]
    #[command(verbatim_doc_comment)]
    Serve(serve::ServeArgs),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Inspect(args) => inspect::inspect_command(&args),
        Command::Devices => inspect::devices(),
        Command::Search(args) => search::run(&args),
        Command::Select(args) => select::run(&args),
        Command::Lookup(args) => inspect::lookup(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Train(args) => train::train(&args),
        Command::Eval(args) => train::eval(&args),
        Command::Experiment(cmd) => experiment::run(&cmd),
        Command::Data(cmd) => data::run(&cmd),
        Command::Studio(args) => studio::run(&args),
        Command::Import(cmd) => import::run(&cmd),
        Command::Export(args) => import::export(&args),
        #[cfg(feature = "remote")]
        Command::Serve(args) => serve::run(&args),
    }
}
