//! `darts-pt bench`: supernet step throughput on fixed shapes, or the primitives alone.

use anyhow::Result;
use clap::Args;

use super::args::DeviceArgs;

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
    /// Include the paper-scale DARTS supernet (C=16, 8 cells, CIFAR-10 shapes, batch 64) on
    /// the CPU or a software adapter too; it runs by default on a GPU, or when `--only` names
    /// it.
    #[arg(long)]
    pub paper: bool,
    /// Instead, time the primitives (convolutions, pooling, BatchNorm, ...) at batch 64 with
    /// this many channels on 28x28 inputs.
    #[arg(long)]
    pub ops: Option<usize>,
    /// Image size of `--ops`.
    #[arg(long, default_value_t = 28)]
    pub ops_size: usize,
    /// Also list the N kernels dispatched most per weight step, per case (GPU devices).
    #[arg(long, value_name = "N")]
    pub kernels: Option<usize>,
    /// Write the rows as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(args: &BenchArgs) -> Result<()> {
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
        let named = args
            .only
            .as_ref()
            .map(|f| case.name.to_lowercase().contains(&f.to_lowercase()));
        let wanted = match named {
            Some(named) => named,
            None => !case.heavy || args.paper || device.is_gpu,
        };
        if !wanted {
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
        if let Some(n) = args.kernels {
            for r in &rows {
                println!("{}: dispatches per weight step by kernel", r.case);
                for (kernel, count) in r.weight_kernels.iter().take(n) {
                    println!("  {count:>8.0}  {kernel}");
                }
            }
        }
    }
    Ok(())
}
