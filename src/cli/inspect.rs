//! `darts-pt inspect`, `lookup` and `devices`: parameter counts, NAS-Bench-201 lookups, and
//! the compute devices this machine offers.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::args::{DeviceArgs, parse};
use crate::device::{self, DeviceChoice};
use crate::inspect::{InspectRequest, inspect, render};
use crate::nn::InputShape;
use crate::space::SpaceId;
use crate::train::source::genotype_text;

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Search space: darts (7 ops), darts8 (with none), nb201, s1, s2, s3, s4.
    #[arg(long, value_parser = parse::<SpaceId>)]
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

pub fn inspect_command(args: &InspectArgs) -> Result<()> {
    if args.genotype.is_none() && !args.supernet {
        anyhow::bail!("give --genotype TEXT for a network, or --supernet for the search supernet");
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

pub fn lookup(args: &LookupArgs) -> Result<()> {
    let table =
        crate::lookup::Nb201Table::from_env_or(args.table.as_deref()).ok_or_else(|| {
            anyhow::anyhow!("no NAS-Bench-201 table: give --table CSV or set DARTS_PT_NB201")
        })??;
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

pub fn devices() -> Result<()> {
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
    let auto = device::select(&DeviceChoice::Auto)?;
    println!("--device auto selects: {}", auto.description);
    Ok(())
}
