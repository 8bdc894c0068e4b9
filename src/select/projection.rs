//! Between a supernet and a genotype: the projection (decided, removed and free edges) that
//! discretises a supernet to a genotype, the genotype a finished projection encodes, and the
//! mixing weights a projection leaves.

use anyhow::{Context, Result, bail};

use crate::genotype::{DartsGenotype, Gene, Genotype, Nb201Genotype};
use crate::job::read;
use crate::nn::supernet::{CellProjection, Supernet, WeightPlan};
use crate::search::steps::detached_probs;
use crate::space::{
    CellType, DARTS_NODES, Family, OpKind, SearchSpace, darts_edges, darts_node_edges,
};

/// The host copy of the projected weights W per cell type (rows = edges).
pub async fn projected_weights(model: &Supernet, plans: &[WeightPlan]) -> Vec<Vec<Vec<f32>>> {
    let mut out = Vec::new();
    for (p, plan) in detached_probs(model).into_iter().zip(plans) {
        let m = plan.matrix(p);
        let [e, o] = m.dims();
        let v = read::floats(m.reshape([e * o])).await;
        out.push(v.chunks(o).map(<[f32]>::to_vec).collect());
    }
    out
}

/// The genotype a finished projection encodes: each node's surviving edges (DARTS, in edge
/// order, as the tie-broken magnitude rule lists weight-1 edges) or each edge's op (NB201).
pub fn genotype_from_projection(
    space: &SearchSpace,
    projections: &[CellProjection],
) -> Result<Genotype> {
    match space.family {
        Family::Darts => {
            let edges = darts_edges();
            let mut cells = Vec::new();
            for (ci, cell) in space.cell_types().iter().enumerate() {
                let p = &projections[ci];
                let mut genes = Vec::new();
                for node in 0..DARTS_NODES {
                    let kept: Vec<usize> = darts_node_edges(node)
                        .filter(|e| !p.removed[*e] && p.decided[*e].is_some())
                        .collect();
                    if kept.len() != 2 {
                        bail!(
                            "{cell} cell node {node} has {} selected inputs, expected 2",
                            kept.len()
                        );
                    }
                    for e in kept {
                        let op = space.ops(*cell, e)[p.decided[e].expect("decided")];
                        genes.push(Gene::new(op, edges[e].from));
                    }
                }
                cells.push(genes);
            }
            let mut cells = cells.into_iter();
            Ok(Genotype::Darts(DartsGenotype {
                normal: cells.next().unwrap_or_default(),
                normal_concat: vec![2, 3, 4, 5],
                reduce: cells.next().unwrap_or_default(),
                reduce_concat: vec![2, 3, 4, 5],
            }))
        }
        Family::Nb201 => {
            let mut ops = [OpKind::None; 6];
            for (e, op) in ops.iter_mut().enumerate() {
                let o = projections[0].decided[e].context("an NB201 edge is undecided")?;
                *op = space.ops(CellType::Normal, e)[o];
            }
            Ok(Genotype::Nb201(Nb201Genotype::new(ops)))
        }
    }
}

/// The projection that discretises a supernet to `genotype`.
pub fn projection_of(genotype: &Genotype, space: &SearchSpace) -> Result<Vec<CellProjection>> {
    let edges = space.num_edges();
    match genotype {
        Genotype::Nb201(g) => {
            let mut p = CellProjection::new(edges);
            for e in 0..edges {
                let op = g.ops[e];
                p.decided[e] = Some(
                    space
                        .ops(CellType::Normal, e)
                        .iter()
                        .position(|o| *o == op)
                        .with_context(|| format!("{op} is not a candidate on edge {e}"))?,
                );
            }
            Ok(vec![p])
        }
        Genotype::Darts(g) => {
            let mut out = Vec::new();
            for cell in space.cell_types() {
                let mut p = CellProjection::new(edges);
                p.removed = vec![true; edges];
                for (e, op) in g.edge_ops(*cell) {
                    let o = space
                        .ops(*cell, e)
                        .iter()
                        .position(|c| *c == op)
                        .with_context(|| format!("{op} is not a candidate on {cell} edge {e}"))?;
                    p.removed[e] = false;
                    p.decided[e] = Some(o);
                }
                out.push(p);
            }
            Ok(out)
        }
    }
}
