//! SGAS (spec 2.4): greedily decide one edge per cell type on a schedule, scoring edges by how
//! important (mass on non-`none` ops), certain (low entropy) and, for criterion 2, stable
//! (overlap with recent epochs) their operation distribution is.

use crate::nn::supernet::CellProjection;
use crate::space::{Family, OpKind, darts_node_edges};

/// Min-max normalisation; a constant vector maps to ones (it cannot rank anything).
fn min_max(v: &[f64]) -> Vec<f64> {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if hi - lo <= f64::EPSILON {
        return vec![1.0; v.len()];
    }
    v.iter().map(|x| (x - lo) / (hi - lo)).collect()
}

/// The distribution over non-`none` operations of each edge, renormalised, and its mass.
pub fn non_none(probs: &[Vec<f32>], ops: &[Vec<OpKind>]) -> (Vec<f64>, Vec<Vec<f64>>) {
    let mut importance = Vec::with_capacity(probs.len());
    let mut dists = Vec::with_capacity(probs.len());
    for (row, kinds) in probs.iter().zip(ops) {
        let kept: Vec<f64> = row
            .iter()
            .zip(kinds)
            .filter(|(_, k)| **k != OpKind::None)
            .map(|(p, _)| *p as f64)
            .collect();
        let mass: f64 = kept.iter().sum();
        importance.push(mass);
        dists.push(kept.iter().map(|p| p / mass.max(1e-12)).collect());
    }
    (importance, dists)
}

/// Edge scores of criterion 1 (importance x certainty) or 2 (x stability), normalised over
/// all edges (decided ones included, as the reference code does).
pub fn scores(
    probs: &[Vec<f32>],
    ops: &[Vec<OpKind>],
    history: &[Vec<Vec<f64>>],
    criterion: u8,
) -> Vec<f64> {
    let (importance, dists) = non_none(probs, ops);
    let certainty: Vec<f64> = dists
        .iter()
        .map(|d| {
            let k = d.len();
            if k <= 1 {
                return 1.0;
            }
            let h: f64 = d.iter().filter(|p| **p > 0.0).map(|p| -p * p.ln()).sum();
            1.0 - h / (k as f64).ln()
        })
        .collect();
    let mut s: Vec<f64> = min_max(&importance)
        .iter()
        .zip(min_max(&certainty))
        .map(|(a, b)| a * b)
        .collect();
    if criterion == 2 {
        let stability: Vec<f64> = (0..dists.len())
            .map(|e| {
                if history.is_empty() {
                    return 0.0;
                }
                let total: f64 = history
                    .iter()
                    .map(|h| {
                        h[e].iter()
                            .zip(&dists[e])
                            .map(|(a, b)| a.min(*b))
                            .sum::<f64>()
                    })
                    .sum();
                total / history.len() as f64
            })
            .collect();
        for (x, st) in s.iter_mut().zip(min_max(&stability)) {
            *x *= st;
        }
    }
    s
}

/// SGAS's choice of the next edge of one cell type: the best-scoring undecided edge (ties to
/// the lower index), with its score; `None` when every edge is decided or removed.
pub fn choose_edge(
    proj: &CellProjection,
    probs: &[Vec<f32>],
    ops: &[Vec<OpKind>],
    history: &[Vec<Vec<f64>>],
    criterion: u8,
) -> Option<(usize, f64)> {
    let s = scores(probs, ops, history, criterion);
    let edge = *proj
        .undecided_edges()
        .iter()
        .max_by(|a, b| s[**a].total_cmp(&s[**b]).then(b.cmp(a)))?;
    Some((edge, s[edge]))
}

/// SGAS's own choice of operation on an edge: the first maximum of its non-`none`
/// probabilities, as an index into the edge's operations.
pub fn magnitude_op(probs: &[f32], ops: &[OpKind]) -> usize {
    let mut best: Option<(usize, f32)> = None;
    for (o, (p, k)) in probs.iter().zip(ops).enumerate() {
        if *k != OpKind::None && best.is_none_or(|(_, bp)| *p > bp) {
            best = Some((o, *p));
        }
    }
    best.map(|(o, _)| o).unwrap_or(0)
}

/// Fixes `op` on `edge` and, in the DARTS family, prunes the other inputs of its node once
/// two are decided. Returns the pruned edges.
pub fn commit(proj: &mut CellProjection, edge: usize, op: usize, family: Family) -> Vec<usize> {
    proj.decided[edge] = Some(op);
    let mut pruned = Vec::new();
    if family == Family::Darts {
        for node in 0..4 {
            let range = darts_node_edges(node);
            if !range.contains(&edge) {
                continue;
            }
            let decided = range.clone().filter(|e| proj.decided[*e].is_some()).count();
            if decided >= 2 {
                for e in range {
                    if proj.decided[e].is_none() && !proj.removed[e] {
                        proj.removed[e] = true;
                        pruned.push(e);
                    }
                }
            }
        }
    }
    pruned
}

/// One SGAS decision with SGAS's own operation choice: (edge, op, score, pruned edges).
pub fn decide(
    proj: &mut CellProjection,
    probs: &[Vec<f32>],
    ops: &[Vec<OpKind>],
    history: &[Vec<Vec<f64>>],
    criterion: u8,
    family: Family,
) -> Option<(usize, usize, f64, Vec<usize>)> {
    let (edge, score) = choose_edge(proj, probs, ops, history, criterion)?;
    let op = magnitude_op(&probs[edge], &ops[edge]);
    let pruned = commit(proj, edge, op, family);
    Some((edge, op, score, pruned))
}

/// Whether SGAS decides at the end of epoch `epoch`.
pub fn is_decision_epoch(epoch: usize, warmup: usize, freq: usize) -> bool {
    epoch >= warmup && (epoch - warmup).is_multiple_of(freq.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::SpaceId;

    #[test]
    fn the_confident_important_edge_wins_and_its_node_is_pruned() {
        let space = SpaceId::Darts8.space();
        let ops = space.normal.clone();
        let mut probs = vec![vec![1.0 / 8.0; 8]; 14];
        // Edge 3 (node 1): almost all mass on sep_conv_3x3 (index 4).
        probs[3] = vec![0.01, 0.01, 0.01, 0.01, 0.93, 0.01, 0.01, 0.01];
        let mut proj = CellProjection::new(14);
        let (edge, op, _, pruned) = decide(&mut proj, &probs, &ops, &[], 1, Family::Darts).unwrap();
        assert_eq!((edge, op), (3, 4));
        assert!(pruned.is_empty());
        // Decide edge 2 next by making it the most certain; node 1 then has two inputs.
        probs[2] = vec![0.0, 0.0, 0.0, 0.97, 0.01, 0.01, 0.005, 0.005];
        let (edge, op, _, pruned) = decide(&mut proj, &probs, &ops, &[], 1, Family::Darts).unwrap();
        assert_eq!((edge, op), (2, 3));
        assert_eq!(pruned, vec![4]);
        assert!(proj.removed[4]);
    }

    #[test]
    fn none_mass_lowers_importance() {
        let ops = vec![crate::space::DARTS8_OPS.to_vec(); 2];
        let probs = vec![
            vec![
                0.9,
                0.1 / 7.0,
                0.1 / 7.0,
                0.1 / 7.0,
                0.1 / 7.0,
                0.1 / 7.0,
                0.1 / 7.0,
                0.1 / 7.0,
            ],
            vec![
                0.0,
                0.1 / 7.0,
                0.1 / 7.0,
                0.1 / 7.0,
                0.1 / 7.0,
                0.1 / 7.0,
                0.1 / 7.0,
                0.9,
            ],
        ];
        let s = scores(&probs, &ops, &[], 1);
        assert!(s[1] > s[0]);
        assert!(is_decision_epoch(9, 9, 5) && is_decision_epoch(14, 9, 5));
        assert!(!is_decision_epoch(8, 9, 5) && !is_decision_epoch(10, 9, 5));
    }
}
