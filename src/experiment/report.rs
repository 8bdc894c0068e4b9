//! The experiment's report: one row per (seed, arm) from the run directories' own records, as a
//! Markdown document (with a per-method summary and the time of each phase) and as CSV.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use anyhow::Result;

use super::{Arm, ExperimentRequest, PhaseTime, Plan, Searcher, search_dir, train_dir};
use crate::config::Method;
use crate::genotype::Genotype;
use crate::run::RunReader;
use crate::space::{Family, OpKind};

/// One derived cell and what became of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub space: String,
    pub seed: u64,
    pub arm: Arm,
    pub genotype: String,
    /// Skip connections in the normal cell (NB201: in the cell), the paper's measure of the
    /// collapse of DARTS on S2 and S3.
    pub normal_skips: Option<usize>,
    /// Held-out accuracy of the supernet discretised to the cell (batch statistics).
    pub supernet_acc: Option<f64>,
    /// Retrained test accuracy after the last epoch, and the best over epochs.
    pub test_acc: Option<f64>,
    pub best_test_acc: Option<f64>,
    pub params: Option<usize>,
    /// The NAS-Bench-201 benchmark's CIFAR-10 accuracy of the cell (a lookup, not this data).
    pub nb201_cifar10: Option<f64>,
}

/// Skip connections in a genotype's normal cell (NB201: its one cell).
pub fn normal_skips(g: &Genotype) -> usize {
    let skip = |op: &OpKind| *op == OpKind::SkipConnect;
    match g {
        Genotype::Darts(d) => d.normal.iter().filter(|gene| skip(&gene.op)).count(),
        Genotype::Nb201(c) => c.ops.iter().filter(|op| skip(op)).count(),
    }
}

pub fn pct(v: Option<f64>) -> String {
    v.map(|a| format!("{:.2}%", 100.0 * a))
        .unwrap_or_else(|| "-".into())
}

/// The dataset's name for titles: the bundled subset or the path given.
pub fn dataset_label(plan: &Plan) -> String {
    match &plan.train.data.path {
        Some(p) => p.display().to_string(),
        None => "bundled Fashion-MNIST".into(),
    }
}

/// Rows for every (seed, arm) whose selection has finished; the training columns are empty
/// where the retraining has not.
pub fn collect(out: &Path, seeds: &[u64], plan: &Plan) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for &seed in seeds {
        for arm in plan.arms() {
            let search = search_dir(out, seed, arm.searcher());
            let Some(sel) = RunReader::local(&search).finished_selection(arm.selection_label())
            else {
                continue;
            };
            let result = RunReader::local(&train_dir(out, seed, arm)).result();
            rows.push(Row {
                space: plan.space.to_string(),
                seed,
                arm,
                genotype: sel.genotype.clone().unwrap_or_default(),
                normal_skips: sel.genotype_json.as_ref().map(normal_skips),
                supernet_acc: sel.supernet_acc_after,
                test_acc: result.as_ref().map(|r| r.final_test_acc),
                best_test_acc: result.as_ref().map(|r| r.best_test_acc),
                params: result.as_ref().map(|r| r.params),
                nb201_cifar10: sel.nb201.as_ref().map(|e| e.cifar10),
            });
        }
    }
    Ok(rows)
}

/// Mean and sample standard deviation.
pub fn mean_sd(v: &[f64]) -> Option<(f64, f64)> {
    if v.is_empty() {
        return None;
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let sd = if v.len() > 1 {
        (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    Some((mean, sd))
}

fn mean_sd_pct(v: &[f64]) -> String {
    match mean_sd(v) {
        Some((m, s)) if v.len() > 1 => format!("{:.2} ± {:.2}%", 100.0 * m, 100.0 * s),
        Some((m, _)) => format!("{:.2}%", 100.0 * m),
        None => "-".into(),
    }
}

/// One record per row; accuracies as fractions, empty where unknown. Written by the csv crate,
/// so a DARTS genotype's commas and quotes are quoted as any CSV reader expects.
pub fn csv(rows: &[Row]) -> String {
    let opt = |v: Option<f64>| v.map(|x| format!("{x:.6}")).unwrap_or_default();
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = [
        "space",
        "seed",
        "method",
        "genotype",
        "normal_skip_connections",
        "supernet_acc_after_discretization",
        "retrained_test_acc",
        "retrained_best_test_acc",
        "params",
        "nb201_cifar10_benchmark",
    ];
    // Writing to memory cannot fail.
    w.write_record(header).expect("in memory");
    for r in rows {
        w.write_record([
            r.space.clone(),
            r.seed.to_string(),
            r.arm.name().to_string(),
            r.genotype.clone(),
            r.normal_skips.map(|n| n.to_string()).unwrap_or_default(),
            opt(r.supernet_acc),
            opt(r.test_acc),
            opt(r.best_test_acc),
            r.params.map(|p| p.to_string()).unwrap_or_default(),
            r.nb201_cifar10
                .map(|x| format!("{x:.2}"))
                .unwrap_or_default(),
        ])
        .expect("in memory");
    }
    String::from_utf8(w.into_inner().expect("in memory")).expect("the fields are UTF-8")
}

fn describe_plan(plan: &Plan) -> String {
    let s = &plan.search;
    let t = &plan.train;
    let shape = |c: usize, l: usize| match plan.space.family() {
        Family::Darts => format!("C={c} L={l}"),
        Family::Nb201 => format!("C={c} N={l}"),
    };
    let images = |n: Option<usize>| match n {
        Some(n) => format!("the first {n} training images"),
        None => "all training images".into(),
    };
    let tune =
        s.pt.tune_epochs
            .map(|e| format!("{e} tuning epochs"))
            .unwrap_or_else(|| {
                format!(
                    "the spec's tuning schedule at {} epoch(s) per decision",
                    s.pt.proj_intv
                )
            });
    let mut out = String::new();
    let searched: Vec<&str> = plan
        .searchers()
        .iter()
        .map(|x| match x {
            Searcher::Darts => "DARTS (first order)",
            Searcher::SdartsRs => "SDARTS-RS",
            Searcher::Sgas => "SGAS (criterion 1)",
            Searcher::SgasPt => "SGAS+PT (SGAS's schedule and edges, PT's operation)",
            Searcher::FixedAlpha => "fixed alpha",
        })
        .collect();
    let _ = writeln!(
        out,
        "- Search ({}): supernet {}, {} epochs, batch {}, on {} (half for the weights, half for alpha and PT).",
        searched.join(", "),
        shape(s.channels, s.layers),
        s.epochs,
        s.batch_size,
        images(s.data.train_images)
    );
    let arms: Vec<&str> = plan.arms().iter().map(|a| a.title()).collect();
    let sgas = match plan.methods.contains(&Method::Sgas) {
        true => "; SGAS and SGAS+PT keep their own decisions",
        false => "",
    };
    let _ = writeln!(
        out,
        "- Selection ({}): magnitude is alpha's argmax, PT the accuracy criterion with {tune}{sgas}.",
        arms.join(", ")
    );
    let _ = writeln!(
        out,
        "- Retraining, the same for every cell: {} network, {} epochs on {}, batch {}, SGD {} {}cosine to {}, momentum {}, wd {}{}{}{}{}; tested on the test set after every epoch.",
        shape(t.channels, t.layers),
        t.epochs,
        images(t.data.train_images),
        t.batch_size,
        t.optim.lr,
        if t.optim.nesterov { "Nesterov " } else { "" },
        t.optim.lr_min,
        t.optim.momentum,
        t.optim.weight_decay,
        if t.optim.grad_clip > 0.0 {
            format!(", clip {}", t.optim.grad_clip)
        } else {
            String::new()
        },
        if t.auxiliary_weight > 0.0 {
            format!(", auxiliary head {}", t.auxiliary_weight)
        } else {
            String::new()
        },
        if t.drop_path > 0.0 {
            format!(", drop path {} (ramped)", t.drop_path)
        } else {
            String::new()
        },
        if t.cutout {
            ", cutout"
        } else {
            ", crop + flip"
        }
    );
    out
}

/// The Markdown report.
pub fn markdown(
    req: &ExperimentRequest,
    device: &str,
    rows: &[Row],
    timings: &BTreeMap<String, PhaseTime>,
) -> String {
    let plan = &req.plan;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# PT vs magnitude: {} on {} ({} preset)\n",
        plan.space,
        dataset_label(plan),
        plan.preset
    );
    let _ = writeln!(s, "Command: `{}`\n", req.command);
    let _ = writeln!(s, "Device: {device}\n");
    s += &describe_plan(plan);
    s += "\n";
    let nb201 = rows.iter().any(|r| r.nb201_cifar10.is_some());
    s += "| space | seed | method | genotype | skip connections (normal cell) | supernet acc. after discretization | retrained test acc. (last epoch) | best over epochs | params |";
    if nb201 {
        s += " NB201 CIFAR-10 (benchmark lookup) |";
    }
    s += "\n|---|---|---|---|---|---|---|---|---|";
    if nb201 {
        s += "---|";
    }
    s += "\n";
    for r in rows {
        let _ = write!(
            s,
            "| {} | {} | {} | `{}` | {} | {} | {} | {} | {} |",
            r.space,
            r.seed,
            r.arm.name(),
            r.genotype.replace('|', "\\|"),
            r.normal_skips
                .map(|n| n.to_string())
                .unwrap_or_else(|| "-".into()),
            pct(r.supernet_acc),
            pct(r.test_acc),
            pct(r.best_test_acc),
            r.params
                .map(|p| format!("{:.3} M", p as f64 / 1e6))
                .unwrap_or_else(|| "-".into())
        );
        if nb201 {
            let _ = write!(
                s,
                " {} |",
                r.nb201_cifar10
                    .map(|x| format!("{x:.2}%"))
                    .unwrap_or_else(|| "-".into())
            );
        }
        s += "\n";
    }
    s += "\n## Summary over seeds\n\n| method | seeds retrained | retrained test acc. (mean ± sd) | skip connections in the normal cell (mean) | supernet acc. after discretization (mean) |\n|---|---|---|---|---|\n";
    let arms = plan.arms();
    for &arm in &arms {
        let of = |f: fn(&Row) -> Option<f64>| -> Vec<f64> {
            rows.iter().filter(|r| r.arm == arm).filter_map(f).collect()
        };
        let test = of(|r| r.test_acc);
        let sup = of(|r| r.supernet_acc);
        let skips = of(|r| r.normal_skips.map(|n| n as f64));
        let mean = |v: &[f64], f: &dyn Fn(f64) -> String| {
            mean_sd(v).map(|(m, _)| f(m)).unwrap_or_else(|| "-".into())
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            arm.name(),
            test.len(),
            mean_sd_pct(&test),
            mean(&skips, &|m| format!("{m:.1}")),
            mean(&sup, &|m| format!("{:.2}%", 100.0 * m)),
        );
    }
    let pairs: Vec<String> = arms
        .iter()
        .filter_map(|&a| Some((a, a.baseline().filter(|b| arms.contains(b))?)))
        .map(|(a, b)| {
            let (wins, ties, n) = head_to_head(rows, a, b);
            format!(
                "{} above {} on {wins} of {n} seeds (ties {ties})",
                a.name(),
                b.name()
            )
        })
        .collect();
    if !pairs.is_empty() {
        let _ = writeln!(
            s,
            "\nRetrained test accuracy, seed by seed: {}.",
            pairs.join("; ")
        );
    }
    s += &overrides_line(req).unwrap_or_default();
    s += "\n## Time per phase\n\n| phase | wall-clock s | CPU s (both cores) |\n|---|---|---|\n";
    let mut total = PhaseTime::default();
    for &seed in &req.seeds {
        let prefix = format!("seed{seed}/");
        for (k, t) in timings.iter().filter(|(k, _)| k.starts_with(&prefix)) {
            let _ = writeln!(s, "| {k} | {:.0} | {:.0} |", t.wall, t.cpu);
            total.wall += t.wall;
            total.cpu += t.cpu;
        }
    }
    let _ = writeln!(
        s,
        "| **total** | **{:.0}** ({:.2} h) | {:.0} |",
        total.wall,
        total.wall / 3600.0,
        total.cpu
    );
    s
}

/// SGAS+PT against SGAS's own rule in one search run: (edges where PT kept another operation
/// than the largest probability, edges PT decided).
pub fn pt_overrides(run: &Path) -> (usize, usize) {
    RunReader::local(run)
        .sgas_decisions()
        .iter()
        .filter_map(|d| d.overridden_by_pt())
        .fold((0, 0), |(other, n), o| (other + usize::from(o), n + 1))
}

/// The report's line on how often SGAS+PT overrode SGAS's choice of operation, per seed.
fn overrides_line(req: &ExperimentRequest) -> Option<String> {
    if !req.plan.arms().contains(&Arm::SgasPt) {
        return None;
    }
    let per_seed: Vec<String> = req
        .seeds
        .iter()
        .map(|&seed| {
            (
                seed,
                pt_overrides(&search_dir(&req.out, seed, Searcher::SgasPt)),
            )
        })
        .filter(|(_, (_, n))| *n > 0)
        .map(|(seed, (k, n))| format!("seed {seed}: {k} of {n}"))
        .collect();
    (!per_seed.is_empty()).then(|| {
        format!(
            "\nSGAS+PT against SGAS's own rule: edges where PT kept another operation than the largest probability ({}).\n",
            per_seed.join("; ")
        )
    })
}

/// (seeds where `a` beats `b`, ties, seeds with both retrained).
pub fn head_to_head(rows: &[Row], a: Arm, b: Arm) -> (usize, usize, usize) {
    let mut seeds: Vec<u64> = rows.iter().map(|r| r.seed).collect();
    seeds.dedup();
    let acc = |seed: u64, arm: Arm| {
        rows.iter()
            .find(|r| r.seed == seed && r.arm == arm)
            .and_then(|r| r.test_acc)
    };
    let (mut wins, mut ties, mut n) = (0, 0, 0);
    for seed in seeds {
        if let (Some(x), Some(y)) = (acc(seed, a), acc(seed, b)) {
            n += 1;
            if x > y {
                wins += 1;
            } else if x == y {
                ties += 1;
            }
        }
    }
    (wins, ties, n)
}
