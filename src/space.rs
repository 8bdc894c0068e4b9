//! Search spaces as plain data: which candidate operations sit on which edge of a cell.
//!
//! Two cell families exist. The DARTS family (the DARTS CNN space and the RobustDARTS spaces
//! S1-S4) has two input states and four intermediate nodes, so 14 edges indexed node-major with
//! the input ascending, and separate normal and reduction cells. The NAS-Bench-201 family has one
//! input node and three computed nodes, 6 edges indexed by the sorted `i<-j` keys, and a single
//! cell type whose alpha is shared by every cell of the network.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A candidate operation, by the name the papers and genotype files use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    /// Zeros (strided when the edge reduces).
    #[serde(rename = "none")]
    None,
    #[serde(rename = "max_pool_3x3")]
    MaxPool3x3,
    #[serde(rename = "avg_pool_3x3")]
    AvgPool3x3,
    #[serde(rename = "skip_connect")]
    SkipConnect,
    #[serde(rename = "sep_conv_3x3")]
    SepConv3x3,
    #[serde(rename = "sep_conv_5x5")]
    SepConv5x5,
    #[serde(rename = "dil_conv_3x3")]
    DilConv3x3,
    #[serde(rename = "dil_conv_5x5")]
    DilConv5x5,
    /// NAS-Bench-201's ReLU-Conv1x1-BN.
    #[serde(rename = "nor_conv_1x1")]
    NorConv1x1,
    /// NAS-Bench-201's ReLU-Conv3x3-BN.
    #[serde(rename = "nor_conv_3x3")]
    NorConv3x3,
    /// RobustDARTS S4's input-independent Gaussian noise.
    #[serde(rename = "noise")]
    Noise,
}

impl OpKind {
    /// Every operation, in a fixed order.
    pub const ALL: [OpKind; 11] = [
        OpKind::None,
        OpKind::MaxPool3x3,
        OpKind::AvgPool3x3,
        OpKind::SkipConnect,
        OpKind::SepConv3x3,
        OpKind::SepConv5x5,
        OpKind::DilConv3x3,
        OpKind::DilConv5x5,
        OpKind::NorConv1x1,
        OpKind::NorConv3x3,
        OpKind::Noise,
    ];

    /// The name used in genotype texts and NB201 arch strings.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::None => "none",
            OpKind::MaxPool3x3 => "max_pool_3x3",
            OpKind::AvgPool3x3 => "avg_pool_3x3",
            OpKind::SkipConnect => "skip_connect",
            OpKind::SepConv3x3 => "sep_conv_3x3",
            OpKind::SepConv5x5 => "sep_conv_5x5",
            OpKind::DilConv3x3 => "dil_conv_3x3",
            OpKind::DilConv5x5 => "dil_conv_5x5",
            OpKind::NorConv1x1 => "nor_conv_1x1",
            OpKind::NorConv3x3 => "nor_conv_3x3",
            OpKind::Noise => "noise",
        }
    }

    /// True for parameter-free operations (pools, skip at stride 1, none, noise).
    pub fn is_parameter_free(self) -> bool {
        matches!(
            self,
            OpKind::None
                | OpKind::MaxPool3x3
                | OpKind::AvgPool3x3
                | OpKind::SkipConnect
                | OpKind::Noise
        )
    }
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Error for an operation name that no search space knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown operation '{0}'")]
pub struct UnknownOp(pub String);

impl FromStr for OpKind {
    type Err = UnknownOp;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OpKind::ALL
            .iter()
            .copied()
            .find(|op| op.name() == s)
            .ok_or_else(|| UnknownOp(s.to_string()))
    }
}

/// The two cell types of a DARTS-family network. NB201 has only `Normal`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CellType {
    Normal,
    Reduce,
}

impl CellType {
    pub fn name(self) -> &'static str {
        match self {
            CellType::Normal => "normal",
            CellType::Reduce => "reduce",
        }
    }
}

impl fmt::Display for CellType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which cell topology a space uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// Two inputs, four intermediate nodes, 14 edges, normal and reduction cells.
    Darts,
    /// One input, three computed nodes, 6 edges, one shared cell.
    Nb201,
}

/// The named spaces darts-pt knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpaceId {
    /// The DARTS CNN space without `none` (7 ops), as DARTS-PT's own results use.
    Darts,
    /// The original 8-op DARTS space with `none` first.
    Darts8,
    /// NAS-Bench-201: 5 ops, 6 edges.
    Nb201,
    S1,
    S2,
    S3,
    S4,
}

impl SpaceId {
    pub const ALL: [SpaceId; 7] = [
        SpaceId::Darts,
        SpaceId::Darts8,
        SpaceId::Nb201,
        SpaceId::S1,
        SpaceId::S2,
        SpaceId::S3,
        SpaceId::S4,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SpaceId::Darts => "darts",
            SpaceId::Darts8 => "darts8",
            SpaceId::Nb201 => "nb201",
            SpaceId::S1 => "s1",
            SpaceId::S2 => "s2",
            SpaceId::S3 => "s3",
            SpaceId::S4 => "s4",
        }
    }

    pub fn family(self) -> Family {
        match self {
            SpaceId::Nb201 => Family::Nb201,
            _ => Family::Darts,
        }
    }

    /// Builds the space's per-edge operation lists.
    pub fn space(self) -> SearchSpace {
        SearchSpace::new(self)
    }
}

impl fmt::Display for SpaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SpaceId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SpaceId::ALL
            .iter()
            .copied()
            .find(|id| id.name() == s.to_ascii_lowercase())
            .ok_or_else(|| {
                format!("unknown search space '{s}' (expected one of darts, darts8, nb201, s1, s2, s3, s4)")
            })
    }
}

/// One edge of a cell: the state it reads and the node it feeds.
///
/// States are numbered as in the genotype text. DARTS: 0 and 1 are the cell inputs, 2..6 the
/// intermediate nodes, so `to` is in 2..6. NB201: node 0 is the input and `to` is in 1..4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edge {
    pub index: usize,
    pub from: usize,
    pub to: usize,
}

/// DARTS primitives in DARTS-PT's order (the 7-op space drops `none`).
pub const DARTS_OPS: [OpKind; 7] = [
    OpKind::MaxPool3x3,
    OpKind::AvgPool3x3,
    OpKind::SkipConnect,
    OpKind::SepConv3x3,
    OpKind::SepConv5x5,
    OpKind::DilConv3x3,
    OpKind::DilConv5x5,
];

/// The original DARTS primitives, `none` first.
pub const DARTS8_OPS: [OpKind; 8] = [
    OpKind::None,
    OpKind::MaxPool3x3,
    OpKind::AvgPool3x3,
    OpKind::SkipConnect,
    OpKind::SepConv3x3,
    OpKind::SepConv5x5,
    OpKind::DilConv3x3,
    OpKind::DilConv5x5,
];

/// NAS-Bench-201 operations in index order.
pub const NB201_OPS: [OpKind; 5] = [
    OpKind::None,
    OpKind::SkipConnect,
    OpKind::NorConv1x1,
    OpKind::NorConv3x3,
    OpKind::AvgPool3x3,
];

/// Number of intermediate nodes in a DARTS cell.
pub const DARTS_NODES: usize = 4;
/// Number of edges in a DARTS cell: 2 + 3 + 4 + 5.
pub const DARTS_EDGES: usize = 14;
/// Number of edges in a NAS-Bench-201 cell.
pub const NB201_EDGES: usize = 6;

/// A search space: the cell topology and each edge's candidate operations per cell type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchSpace {
    pub id: SpaceId,
    pub family: Family,
    /// Candidate operations of each edge of the normal cell (the only cell for NB201).
    pub normal: Vec<Vec<OpKind>>,
    /// Candidate operations of each edge of the reduction cell (empty for NB201).
    pub reduce: Vec<Vec<OpKind>>,
}

impl SearchSpace {
    pub fn new(id: SpaceId) -> Self {
        use OpKind::*;
        let same = |ops: &[OpKind], n: usize| vec![ops.to_vec(); n];
        let (normal, reduce) = match id {
            SpaceId::Darts => (same(&DARTS_OPS, 14), same(&DARTS_OPS, 14)),
            SpaceId::Darts8 => (same(&DARTS8_OPS, 14), same(&DARTS8_OPS, 14)),
            SpaceId::Nb201 => (same(&NB201_OPS, 6), Vec::new()),
            SpaceId::S1 => {
                let normal = [
                    [SkipConnect, DilConv3x3],
                    [SkipConnect, DilConv5x5],
                    [SkipConnect, DilConv5x5],
                    [SkipConnect, SepConv3x3],
                    [SkipConnect, DilConv3x3],
                    [MaxPool3x3, SkipConnect],
                    [SkipConnect, SepConv3x3],
                    [SkipConnect, SepConv3x3],
                    [SkipConnect, DilConv3x3],
                    [SkipConnect, SepConv3x3],
                    [MaxPool3x3, SkipConnect],
                    [SkipConnect, DilConv3x3],
                    [DilConv3x3, DilConv5x5],
                    [DilConv3x3, DilConv5x5],
                ];
                let reduce = [
                    [MaxPool3x3, AvgPool3x3],
                    [MaxPool3x3, DilConv3x3],
                    [MaxPool3x3, AvgPool3x3],
                    [MaxPool3x3, AvgPool3x3],
                    [SkipConnect, DilConv5x5],
                    [MaxPool3x3, AvgPool3x3],
                    [MaxPool3x3, SepConv3x3],
                    [SkipConnect, DilConv3x3],
                    [SkipConnect, DilConv5x5],
                    [MaxPool3x3, AvgPool3x3],
                    [MaxPool3x3, AvgPool3x3],
                    [SkipConnect, DilConv5x5],
                    [SkipConnect, DilConv5x5],
                    [SkipConnect, DilConv5x5],
                ];
                (
                    normal.iter().map(|e| e.to_vec()).collect(),
                    reduce.iter().map(|e| e.to_vec()).collect(),
                )
            }
            SpaceId::S2 => (
                same(&[SkipConnect, SepConv3x3], 14),
                same(&[SkipConnect, SepConv3x3], 14),
            ),
            SpaceId::S3 => (
                same(&[None, SkipConnect, SepConv3x3], 14),
                same(&[None, SkipConnect, SepConv3x3], 14),
            ),
            SpaceId::S4 => (
                same(&[Noise, SepConv3x3], 14),
                same(&[Noise, SepConv3x3], 14),
            ),
        };
        SearchSpace {
            id,
            family: id.family(),
            normal,
            reduce,
        }
    }

    /// The cell types that carry their own alpha: normal and reduce, or only normal for NB201.
    pub fn cell_types(&self) -> &'static [CellType] {
        match self.family {
            Family::Darts => &[CellType::Normal, CellType::Reduce],
            Family::Nb201 => &[CellType::Normal],
        }
    }

    pub fn num_edges(&self) -> usize {
        self.normal.len()
    }

    /// Number of candidate operations per edge (the width of an alpha row); every space here
    /// has the same count on every edge.
    pub fn num_ops(&self) -> usize {
        self.normal[0].len()
    }

    /// Candidate operations of `edge` in a cell of type `cell`.
    pub fn ops(&self, cell: CellType, edge: usize) -> &[OpKind] {
        match (self.family, cell) {
            (Family::Darts, CellType::Reduce) => &self.reduce[edge],
            _ => &self.normal[edge],
        }
    }

    /// Whether `op` is a candidate on any edge of any cell type.
    pub fn contains(&self, op: OpKind) -> bool {
        self.normal
            .iter()
            .chain(&self.reduce)
            .any(|e| e.contains(&op))
    }

    /// All edges of a cell in index order.
    pub fn edges(&self) -> Vec<Edge> {
        match self.family {
            Family::Darts => darts_edges(),
            Family::Nb201 => nb201_edges(),
        }
    }
}

/// DARTS edges in node-major order: node i (state 2+i) reads states 0..2+i.
pub fn darts_edges() -> Vec<Edge> {
    let mut edges = Vec::with_capacity(DARTS_EDGES);
    for node in 0..DARTS_NODES {
        for from in 0..node + 2 {
            edges.push(Edge {
                index: edges.len(),
                from,
                to: node + 2,
            });
        }
    }
    edges
}

/// The edge indices feeding DARTS intermediate node `node` (0..4).
pub fn darts_node_edges(node: usize) -> std::ops::Range<usize> {
    let start: usize = (0..node).map(|n| n + 2).sum();
    start..start + node + 2
}

/// NAS-Bench-201 edges in the sorted `i<-j` order: 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2.
pub fn nb201_edges() -> Vec<Edge> {
    let mut edges = Vec::with_capacity(NB201_EDGES);
    for to in 1..4 {
        for from in 0..to {
            edges.push(Edge {
                index: edges.len(),
                from,
                to,
            });
        }
    }
    edges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn darts_edges_are_node_major() {
        let e = darts_edges();
        assert_eq!(e.len(), 14);
        assert_eq!((e[0].from, e[0].to), (0, 2));
        assert_eq!((e[1].from, e[1].to), (1, 2));
        assert_eq!((e[2].from, e[2].to), (0, 3));
        assert_eq!((e[4].from, e[4].to), (2, 3));
        assert_eq!((e[5].from, e[5].to), (0, 4));
        assert_eq!((e[9].from, e[9].to), (0, 5));
        assert_eq!((e[13].from, e[13].to), (4, 5));
        assert_eq!(darts_node_edges(0), 0..2);
        assert_eq!(darts_node_edges(1), 2..5);
        assert_eq!(darts_node_edges(2), 5..9);
        assert_eq!(darts_node_edges(3), 9..14);
    }

    #[test]
    fn nb201_edges_follow_sorted_keys() {
        let keys: Vec<_> = nb201_edges().iter().map(|e| (e.to, e.from)).collect();
        assert_eq!(keys, vec![(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)]);
    }

    #[test]
    fn spaces_have_expected_shapes() {
        let darts = SpaceId::Darts.space();
        assert_eq!((darts.num_edges(), darts.num_ops()), (14, 7));
        assert!(!darts.contains(OpKind::None));
        let darts8 = SpaceId::Darts8.space();
        assert_eq!(darts8.num_ops(), 8);
        assert_eq!(darts8.ops(CellType::Normal, 0)[0], OpKind::None);
        let nb = SpaceId::Nb201.space();
        assert_eq!((nb.num_edges(), nb.num_ops()), (6, 5));
        assert_eq!(nb.cell_types(), &[CellType::Normal]);
        let s1 = SpaceId::S1.space();
        assert_eq!(s1.num_ops(), 2);
        assert_eq!(
            s1.ops(CellType::Normal, 5),
            &[OpKind::MaxPool3x3, OpKind::SkipConnect]
        );
        assert_eq!(
            s1.ops(CellType::Reduce, 1),
            &[OpKind::MaxPool3x3, OpKind::DilConv3x3]
        );
        for id in SpaceId::ALL {
            let s = id.space();
            for cell in s.cell_types() {
                for e in 0..s.num_edges() {
                    assert_eq!(s.ops(*cell, e).len(), s.num_ops(), "{id} {cell} {e}");
                }
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for op in OpKind::ALL {
            assert_eq!(op.name().parse::<OpKind>().unwrap(), op);
        }
        assert!("sep_conv_4x4".parse::<OpKind>().is_err());
        for id in SpaceId::ALL {
            assert_eq!(id.name().parse::<SpaceId>().unwrap(), id);
        }
    }
}
