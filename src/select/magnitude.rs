//! DARTS's magnitude-based selection (spec 1.4): keep the operations with the largest
//! softmax(alpha).
//!
//! DARTS family: for each node rank its incoming edges by their strongest non-`none` weight
//! (stable sort, so ties go to the lower edge), keep the top two, and give each its strongest
//! non-`none` operation (first maximum). NAS-Bench-201: per-edge argmax, `none` allowed.

use crate::genotype::{DartsGenotype, Gene, Genotype, Nb201Genotype};
use crate::run::EdgeChoice;
use crate::space::{
    CellType, DARTS_NODES, Family, OpKind, SearchSpace, darts_edges, darts_node_edges,
};

/// The strongest non-`none` operation of a row: (op index, weight), first maximum.
fn best_non_none(row: &[f32], ops: &[OpKind]) -> Option<(usize, f32)> {
    let mut best: Option<(usize, f32)> = None;
    for (o, (&w, &k)) in row.iter().zip(ops).enumerate() {
        if k == OpKind::None {
            continue;
        }
        if best.is_none_or(|(_, b)| w > b) {
            best = Some((o, w));
        }
    }
    best
}

/// Applies the DARTS rule to one cell's weight matrix (rows = edges).
pub fn darts_cell(
    weights: &[Vec<f32>],
    space: &SearchSpace,
    cell: CellType,
    record: &mut Vec<EdgeChoice>,
) -> Vec<Gene> {
    let edges = darts_edges();
    let mut genes = Vec::with_capacity(2 * DARTS_NODES);
    for node in 0..DARTS_NODES {
        let range = darts_node_edges(node);
        let mut ranked: Vec<(usize, usize, f32)> = range
            .clone()
            .map(|e| {
                let (op, w) = best_non_none(&weights[e], space.ops(cell, e))
                    .unwrap_or((0, f32::NEG_INFINITY));
                (e, op, w)
            })
            .collect();
        // Stable sort by strength, descending: ties keep the lower edge first.
        ranked.sort_by(|a, b| b.2.total_cmp(&a.2));
        let kept: Vec<usize> = ranked.iter().take(2).map(|r| r.0).collect();
        for (e, op, w) in &ranked {
            record.push(EdgeChoice {
                cell: cell.name().into(),
                edge: *e,
                from: edges[*e].from,
                to: edges[*e].to,
                weights: weights[*e].clone(),
                best_op: space.ops(cell, *e)[*op].name().into(),
                strength: *w,
                kept: kept.contains(e),
            });
        }
        for (e, op, _) in ranked.into_iter().take(2) {
            genes.push(Gene::new(space.ops(cell, e)[op], edges[e].from));
        }
    }
    genes
}

/// The genotype DARTS derives from `weights` (one matrix per cell type, normal first).
pub fn derive(weights: &[Vec<Vec<f32>>], space: &SearchSpace) -> (Genotype, Vec<EdgeChoice>) {
    let mut record = Vec::new();
    match space.family {
        Family::Darts => {
            let normal = darts_cell(&weights[0], space, CellType::Normal, &mut record);
            let reduce = darts_cell(&weights[1], space, CellType::Reduce, &mut record);
            let g = DartsGenotype {
                normal,
                normal_concat: vec![2, 3, 4, 5],
                reduce,
                reduce_concat: vec![2, 3, 4, 5],
            };
            (Genotype::Darts(g), record)
        }
        Family::Nb201 => {
            let mut ops = [OpKind::None; 6];
            for (e, edge) in crate::space::nb201_edges().iter().enumerate() {
                let row = &weights[0][e];
                let mut best = 0;
                for o in 1..row.len() {
                    if row[o] > row[best] {
                        best = o;
                    }
                }
                ops[e] = space.ops(CellType::Normal, e)[best];
                record.push(EdgeChoice {
                    cell: "normal".into(),
                    edge: e,
                    from: edge.from,
                    to: edge.to,
                    weights: row.clone(),
                    best_op: ops[e].name().into(),
                    strength: row[best],
                    kept: true,
                });
            }
            (Genotype::Nb201(Nb201Genotype::new(ops)), record)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::SpaceId;

    #[test]
    fn darts_rule_ranks_edges_by_strongest_non_none_op() {
        let space = SpaceId::Darts8.space();
        // none, max, avg, skip, sep3, sep5, dil3, dil5
        let mut w = vec![vec![0.125f32; 8]; 14];
        // Node 0 (edges 0, 1): edge 1 has sep_conv_3x3 strongest.
        w[0] = vec![0.5, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05];
        w[1] = vec![0.1, 0.05, 0.05, 0.1, 0.5, 0.1, 0.05, 0.05];
        // Node 1 (edges 2..5): `none` dominates edge 2 but does not count.
        w[2] = vec![0.9, 0.02, 0.02, 0.02, 0.01, 0.01, 0.01, 0.01];
        w[3] = vec![0.1, 0.1, 0.1, 0.4, 0.1, 0.1, 0.05, 0.05];
        w[4] = vec![0.1, 0.3, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1];
        let (g, rec) = derive(&[w.clone(), w], &space);
        let Genotype::Darts(g) = g else { panic!() };
        assert_eq!(g.normal[0], Gene::new(OpKind::SepConv3x3, 1));
        // Edge 0's strongest non-none op: max_pool_3x3 at 0.1 vs skip_connect at 0.1: first maximum.
        assert_eq!(g.normal[1], Gene::new(OpKind::MaxPool3x3, 0));
        assert_eq!(g.normal[2], Gene::new(OpKind::SkipConnect, 1));
        assert_eq!(g.normal[3], Gene::new(OpKind::MaxPool3x3, 2));
        assert!(rec.iter().any(|r| r.edge == 2 && !r.kept));
        // Node 2: all equal weights: stable ties keep edges 5 and 6 (inputs 0 and 1).
        assert_eq!(g.normal[4].input, 0);
        assert_eq!(g.normal[5].input, 1);
    }

    #[test]
    fn nb201_rule_is_per_edge_argmax_with_none_allowed() {
        let space = SpaceId::Nb201.space();
        let mut w = vec![vec![0.2f32; 5]; 6];
        w[0] = vec![0.6, 0.1, 0.1, 0.1, 0.1];
        w[1] = vec![0.1, 0.1, 0.1, 0.6, 0.1];
        let (g, _) = derive(&[w], &space);
        assert_eq!(
            g.to_string(),
            "|none~0|+|nor_conv_3x3~0|none~1|+|none~0|none~1|none~2|"
        );
    }
}
