//! Text reports of selections for the terminal: one selection, or magnitude and PT side by side
//! with each edge's evidence.

use std::fmt::Write;

use crate::genotype::Genotype;
use crate::run::SelectionRecord;
use crate::space::{CellType, nb201_edges};

fn pct(v: Option<f64>) -> String {
    v.map(|a| format!("{:.2}%", 100.0 * a))
        .unwrap_or_else(|| "-".into())
}

/// A few lines about one selection.
pub fn selection_summary(r: &SelectionRecord) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "selection {} on {} ({} search)",
        r.label, r.space, r.search_method
    );
    if let Some(g) = &r.genotype {
        let _ = writeln!(s, "genotype: {g}");
    }
    let _ = writeln!(
        s,
        "supernet held-out accuracy: {} before, {} after discretisation",
        pct(r.supernet_acc_before),
        pct(r.supernet_acc_after)
    );
    if !r.op_decisions.is_empty() {
        let _ = writeln!(
            s,
            "{} operation decisions, {} topology decisions, {} evaluation passes",
            r.op_decisions.len(),
            r.topology_decisions.len(),
            r.evaluations
        );
    }
    if let Some(e) = &r.nb201 {
        let _ = writeln!(
            s,
            "NAS-Bench-201 (CIFAR-10 numbers of the benchmark, not of this run's data): CIFAR-10 {:.2}% (rank {} of {}), CIFAR-100 {:.2}%, ImageNet16-120 {:.2}%",
            e.cifar10, e.rank_cifar10, e.total, e.cifar100, e.imagenet16_120
        );
    }
    s
}

/// The operation each edge of a cell gets, `None` when the edge is not used.
fn edge_ops(g: &Genotype, cell: CellType, edges: usize) -> Vec<Option<String>> {
    let mut out = vec![None; edges];
    match g {
        Genotype::Nb201(c) => {
            for (e, op) in c.ops.iter().enumerate() {
                out[e] = Some(op.name().to_string());
            }
        }
        Genotype::Darts(d) => {
            for (e, op) in d.edge_ops(cell) {
                if e < edges {
                    out[e] = Some(op.name().to_string());
                }
            }
        }
    }
    out
}

/// Magnitude's and PT's cells edge by edge, with alpha for magnitude and the held-out accuracy
/// without each operation for PT; differing edges are marked `*`.
pub fn side_by_side(mag: &SelectionRecord, pt: &SelectionRecord) -> String {
    let mut s = String::new();
    let (Some(gm), Some(gp)) = (&mag.genotype_json, &pt.genotype_json) else {
        return "(a selection is incomplete)\n".into();
    };
    let nb201 = matches!(gm, Genotype::Nb201(_));
    let cells: &[CellType] = if nb201 {
        &[CellType::Normal]
    } else {
        &[CellType::Normal, CellType::Reduce]
    };
    let edges = mag.weights.first().map(Vec::len).unwrap_or(0);
    let labels: Vec<String> = if nb201 {
        nb201_edges()
            .iter()
            .map(|e| format!("{}<-{}", e.to, e.from))
            .collect()
    } else {
        crate::space::darts_edges()
            .iter()
            .map(|e| format!("{}<-{}", e.to, e.from))
            .collect()
    };
    for (ci, cell) in cells.iter().enumerate() {
        if !nb201 {
            let _ = writeln!(s, "{cell} cell");
        }
        let _ = writeln!(
            s,
            "  {:<6} {:<28} {:<28}",
            "edge", "magnitude (softmax alpha)", "PT (acc without the op)"
        );
        let m_ops = edge_ops(gm, *cell, edges);
        let p_ops = edge_ops(gp, *cell, edges);
        for e in 0..edges {
            if m_ops[e].is_none() && p_ops[e].is_none() {
                continue;
            }
            let alpha = mag
                .weights
                .get(ci)
                .and_then(|w| w.get(e))
                .map(|row| row.iter().copied().fold(0.0f32, f32::max))
                .unwrap_or(0.0);
            let m = m_ops[e]
                .as_ref()
                .map(|o| format!("{o} ({alpha:.2})"))
                .unwrap_or_else(|| "-".into());
            let evidence = pt
                .op_decisions
                .iter()
                .find(|d| d.cell == cell.name() && d.edge == e)
                .map(|d| {
                    d.acc_without
                        .iter()
                        .map(|a| format!("{:.0}", 100.0 * a))
                        .collect::<Vec<_>>()
                        .join("/")
                })
                .unwrap_or_default();
            let p = p_ops[e]
                .as_ref()
                .map(|o| format!("{o} [{evidence}]"))
                .unwrap_or_else(|| "-".into());
            let mark = if m_ops[e] != p_ops[e] { "*" } else { "" };
            let _ = writeln!(s, "  {:<6} {:<28} {:<28} {}", labels[e], m, p, mark);
        }
    }
    let _ = writeln!(s, "magnitude: {gm}");
    let _ = writeln!(s, "PT:        {gp}");
    let _ = writeln!(
        s,
        "supernet held-out accuracy after discretisation: magnitude {}, PT {}",
        pct(mag.supernet_acc_after),
        pct(pt.supernet_acc_after)
    );
    for (name, r) in [("magnitude", mag), ("PT", pt)] {
        if let Some(e) = &r.nb201 {
            let _ = writeln!(
                s,
                "NAS-Bench-201 lookup ({name}; benchmark CIFAR-10 numbers, not this run's data): {:.2}% CIFAR-10 (rank {}/{}), {:.2}% CIFAR-100, {:.2}% ImageNet16-120",
                e.cifar10, e.rank_cifar10, e.total, e.cifar100, e.imagenet16_120
            );
        }
    }
    s
}
