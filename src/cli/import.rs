//! `darts-pt import`: bring networks trained elsewhere into a run directory.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};

use crate::config::DataConfig;
use crate::interop::export::{ExportRequest, export_run};
use crate::interop::import::{ImportRequest, import_pytorch};
use crate::space::SpaceId;

#[derive(Subcommand, Debug)]
pub enum ImportCommand {
    /// A supernet checkpoint of the paper's official PyTorch code (ruocwang/darts-pt).
    ///
    /// Reads the file `torch.save` wrote in the official training scripts (a dict with epoch,
    /// state_dict, alpha, optimizer, arch_optimizer, scheduler), or a bare state_dict, with
    /// burn's PyTorch reader; finds C, the number of cells, the image channels and the classes
    /// from the tensors' shapes, checks every tensor against the official network of that shape,
    /// and writes a run directory that select, studio, eval and `search --resume` take like a
    /// run made here. config.toml says which settings came from the file.
    ///
    /// Examples:
    ///   darts-pt import pytorch search-exp/.../checkpoint_50.pth.tar --space s2 \
    ///       --data ~/data/cifar-10-batches-py --out runs/s2-official
    ///   darts-pt import pytorch weights.pt --alpha alpha.pt --space nb201 --data ~/cifar --out runs/nb
    ///   darts-pt select --run runs/s2-official --method pt
    #[command(verbatim_doc_comment)]
    Pytorch(PytorchArgs),
}

#[derive(Args, Debug)]
pub struct PytorchArgs {
    /// The checkpoint file (.pth.tar, .pt, .pth; any torch.save format).
    pub checkpoint: PathBuf,
    /// The search space the supernet was built for: nb201, darts (7 ops, the official s5),
    /// darts8, s1, s2, s3, s4.
    #[arg(long)]
    pub space: SpaceId,
    /// α saved in a file of its own (torch.save(model.arch_parameters(), ...)). Without it, α
    /// comes from the checkpoint's 'alpha', or is uniform when it has none (fixed-α PT).
    #[arg(long)]
    pub alpha: Option<PathBuf>,
    /// The run directory to create.
    #[arg(long)]
    pub out: PathBuf,
    /// The dataset the supernet was trained on (its channels and classes must match the
    /// network's); the bundled Fashion-MNIST subset when absent.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Force the dataset format: cifar10, cifar100, fashion-mnist, mnist, folder.
    #[arg(long)]
    pub dataset: Option<String>,
}

pub fn run(cmd: &ImportCommand) -> Result<()> {
    let ImportCommand::Pytorch(args) = cmd;
    let req = ImportRequest {
        file: args.checkpoint.clone(),
        alpha_file: args.alpha.clone(),
        space: args.space,
        out: args.out.clone(),
        data: DataConfig {
            path: args.data.clone(),
            dataset: args.dataset.clone(),
            train_images: None,
        },
    };
    let done = import_pytorch(&req)?;
    let c = &done.config;
    println!(
        "imported {} tensors: space {} C={} {}={}, {}x{} images into {} classes, epoch {}/{}",
        done.tensors,
        c.space,
        c.channels,
        if c.space.family() == crate::space::Family::Nb201 {
            "N"
        } else {
            "L"
        },
        c.layers,
        done.input.channels,
        done.input.size,
        done.input.classes,
        done.epoch,
        c.epochs
    );
    let yes_no = |b: bool| {
        if b {
            "from the file"
        } else {
            "not in the file"
        }
    };
    println!(
        "alpha: {}; weight momentum: {}; alpha optimiser state: {}",
        if done.alpha_from_file {
            "from the file"
        } else {
            "uniform (none in the file)"
        },
        yes_no(done.weight_momentum),
        yes_no(done.alpha_moments)
    );
    if done.projected_ops > 0 {
        eprintln!(
            "note: the file is a checkpoint of the official projection phase, with {} operations already decided; those decisions are not carried: select starts afresh from its tuned supernet and alpha",
            done.projected_ops
        );
    }
    println!("run directory: {}", args.out.display());
    println!(
        "next: darts-pt select --run {0} --method pt   (or magnitude; studio {0}; eval --run {0})",
        args.out.display()
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The run to export: a search run (its supernet; an imported one or one made here) or a
    /// training run (its network, as the official evaluation network of its genotype).
    #[arg(long)]
    pub run: PathBuf,
    /// The directory to write into: supernet.safetensors and alpha.safetensors (search runs) or
    /// network.safetensors (training runs), genotype.txt, export.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Export a selection instead (its label: pt, magnitude, ...): PT's tuned supernet when it
    /// has one, and the selection's genotype.
    #[arg(long)]
    pub selection: Option<String>,
}

pub fn export(args: &ExportArgs) -> Result<()> {
    let done = export_run(&ExportRequest {
        run: args.run.clone(),
        out: args.out.clone(),
        selection: args.selection.clone(),
    })?;
    println!(
        "exported {} tensors with the official names of {} (C={}, layers {}, {} classes{}):",
        done.tensors,
        done.class,
        done.channels,
        done.layers,
        done.classes,
        if done.auxiliary {
            ", auxiliary head"
        } else {
            ""
        }
    );
    for f in &done.files {
        println!("  {}", f.display());
    }
    println!("genotype: {}", done.genotype);
    println!("load in PyTorch: see the README, \"From and to the official PyTorch code\"");
    Ok(())
}
