//! `darts-pt data`: look at a dataset before searching on it (`info`, `preview`), fetch one
//! (`download`), and measure how fast batches are assembled (`bench`).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::{Args, Subcommand};

use crate::data::{Dataset, download, info, preview, render_text};
use crate::job::batches::bench_loader;

#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Summarise a dataset: format, splits, classes, image shape, measured mean/std, class
    /// histogram.
    ///
    /// Examples:
    ///   darts-pt data info                          # the bundled Fashion-MNIST subset
    ///   darts-pt data info ~/data/cifar-10-batches-py --json
    #[command(verbatim_doc_comment)]
    Info(InfoArgs),
    /// Write a labelled grid of training images as a PNG.
    ///
    /// Example:
    ///   darts-pt data preview ~/data/cifar-10-batches-bin --out grid.png
    #[command(verbatim_doc_comment)]
    Preview(PreviewArgs),
    /// Download CIFAR-10 or CIFAR-100 from the official host, check its MD5 and unpack it.
    ///
    /// Nothing is left behind when the download or the check fails. Example:
    ///   darts-pt data download cifar10 --to ~/data
    ///   darts-pt search --data ~/data/cifar-10-batches-py ...
    #[command(verbatim_doc_comment)]
    Download(DownloadArgs),
    /// Time the batch pipeline (augmentation + normalisation on a worker thread), without a
    /// network: batches per second and images per second.
    Bench(BenchArgs),
}

/// Where the data is: a path (auto-detected) and an optional format override.
#[derive(Args, Debug)]
pub struct Source {
    /// Dataset directory or file; the bundled Fashion-MNIST subset when absent.
    pub path: Option<PathBuf>,
    /// Force the dataset format: cifar10, cifar100, fashion-mnist, mnist, folder.
    #[arg(long)]
    pub dataset: Option<String>,
}

impl Source {
    fn open(&self) -> Result<Dataset> {
        Ok(Dataset::open_named(
            self.path.as_deref(),
            self.dataset.as_deref(),
        )?)
    }
}

#[derive(Args, Debug)]
pub struct InfoArgs {
    #[command(flatten)]
    pub source: Source,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct PreviewArgs {
    #[command(flatten)]
    pub source: Source,
    /// The PNG to write.
    #[arg(long)]
    pub out: PathBuf,
    /// How many training images to show.
    #[arg(long, default_value_t = 64)]
    pub count: usize,
    /// Images per row.
    #[arg(long, default_value_t = 8)]
    pub columns: usize,
}

#[derive(Args, Debug)]
pub struct DownloadArgs {
    /// cifar10 or cifar100.
    pub name: String,
    /// The folder to unpack into (the dataset lands in a subfolder).
    #[arg(long, default_value = ".")]
    pub to: PathBuf,
    /// Fetch from this base URL instead of the official host (a mirror, or a test server).
    #[arg(long)]
    pub base_url: Option<String>,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    pub source: Source,
    /// Images per batch.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Batches to time.
    #[arg(long, default_value_t = 500)]
    pub batches: usize,
}

pub fn run(cmd: &DataCommand) -> Result<()> {
    match cmd {
        DataCommand::Info(a) => {
            let ds = a.source.open()?;
            let i = info(&ds);
            if a.json {
                println!("{}", serde_json::to_string_pretty(&i)?);
            } else {
                print!("{}", render_text(&i));
            }
        }
        DataCommand::Preview(a) => {
            let ds = a.source.open()?;
            preview(&ds, a.count, a.columns.max(1), &a.out)?;
            println!("wrote {}", a.out.display());
        }
        DataCommand::Download(a) => {
            let dir = download(&a.name, &a.to, a.base_url.as_deref(), true)?;
            println!("{}", dir.display());
        }
        DataCommand::Bench(a) => {
            let started = Instant::now();
            let ds = a.source.open()?;
            let load_s = started.elapsed().as_secs_f64();
            let per_s = bench_loader(&ds, a.batch_size.max(1), a.batches.max(1));
            println!("{:<28} {:>12}", "dataset", ds.name);
            println!("{:<28} {:>12.2}", "decode into memory (s)", load_s);
            println!("{:<28} {:>12}", "batch size", a.batch_size);
            println!("{:<28} {:>12.0}", "batches / s", per_s);
            println!("{:<28} {:>12.0}", "images / s", per_s * a.batch_size as f64);
        }
    }
    Ok(())
}
