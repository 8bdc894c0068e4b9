//! The DARTS-family genotype: two `(operation, input state)` genes per intermediate node of
//! the normal and the reduction cell, its checks and its canonical Python text.

use super::Genotype;
use super::error::{GenotypeError, candidates_text};
use super::text::parse_python;
use crate::space::{CellType, DARTS_NODES, Family, OpKind, SearchSpace, darts_node_edges};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Genes per DARTS cell: two per intermediate node.
pub const GENES_PER_CELL: usize = 2 * DARTS_NODES;
/// First intermediate state of a DARTS cell (states 0 and 1 are the cell inputs).
pub(super) const FIRST_STATE: usize = 2;
/// Last intermediate state of a DARTS cell.
pub(super) const LAST_STATE: usize = DARTS_NODES + 1;

/// One chosen edge of a DARTS node: the operation and the state it reads.
/// Serialises as the two-element array `["sep_conv_3x3", 0]`, mirroring the Python tuple.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "(OpKind, usize)", into = "(OpKind, usize)")]
pub struct Gene {
    pub op: OpKind,
    pub input: usize,
}

impl Gene {
    pub fn new(op: OpKind, input: usize) -> Self {
        Gene { op, input }
    }
}

impl From<(OpKind, usize)> for Gene {
    fn from((op, input): (OpKind, usize)) -> Self {
        Gene { op, input }
    }
}

impl From<Gene> for (OpKind, usize) {
    fn from(g: Gene) -> Self {
        (g.op, g.input)
    }
}

impl fmt::Display for Gene {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "('{}', {})", self.op, self.input)
    }
}

/// A DARTS-family architecture: per cell type, 8 genes (two per intermediate node, in node
/// order) and the intermediate states concatenated into the cell output.
///
/// The fields are public so networks can read them directly; values built by hand should go
/// through [`DartsGenotype::check`] or [`DartsGenotype::validate`]. Deserialising checks them.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawDarts")]
pub struct DartsGenotype {
    pub normal: Vec<Gene>,
    pub normal_concat: Vec<usize>,
    pub reduce: Vec<Gene>,
    pub reduce_concat: Vec<usize>,
}

/// Genes with operation names still unresolved, so unknown names get a message that says
/// which cell and gene they sit in.
#[derive(Deserialize)]
pub(super) struct RawGene(pub(super) String, pub(super) usize);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDarts {
    pub(super) normal: Vec<RawGene>,
    pub(super) normal_concat: Vec<usize>,
    pub(super) reduce: Vec<RawGene>,
    pub(super) reduce_concat: Vec<usize>,
}

fn resolve_genes(cell: CellType, raw: Vec<RawGene>) -> Result<Vec<Gene>, GenotypeError> {
    raw.into_iter()
        .enumerate()
        .map(|(gene, RawGene(name, input))| {
            let op = name
                .parse::<OpKind>()
                .map_err(|_| GenotypeError::UnknownOp {
                    cell,
                    gene,
                    op: name.clone(),
                })?;
            Ok(Gene { op, input })
        })
        .collect()
}

impl TryFrom<RawDarts> for DartsGenotype {
    type Error = GenotypeError;
    fn try_from(raw: RawDarts) -> Result<Self, GenotypeError> {
        let g = DartsGenotype {
            normal: resolve_genes(CellType::Normal, raw.normal)?,
            normal_concat: raw.normal_concat,
            reduce: resolve_genes(CellType::Reduce, raw.reduce)?,
            reduce_concat: raw.reduce_concat,
        };
        g.check()?;
        Ok(g)
    }
}

impl DartsGenotype {
    /// Builds a genotype from each node's two `(input, op)` choices, as selection produces them,
    /// with both cells concatenating every intermediate state.
    pub fn from_edges(
        normal: [[(usize, OpKind); 2]; DARTS_NODES],
        reduce: [[(usize, OpKind); 2]; DARTS_NODES],
    ) -> Result<Self, GenotypeError> {
        let genes = |nodes: [[(usize, OpKind); 2]; DARTS_NODES]| {
            nodes
                .iter()
                .flatten()
                .map(|&(input, op)| Gene { op, input })
                .collect::<Vec<_>>()
        };
        let g = DartsGenotype {
            normal: genes(normal),
            normal_concat: (FIRST_STATE..=LAST_STATE).collect(),
            reduce: genes(reduce),
            reduce_concat: (FIRST_STATE..=LAST_STATE).collect(),
        };
        g.check()?;
        Ok(g)
    }

    /// Parses the Python `Genotype(...)` text (JSON goes through [`Genotype::parse`]).
    pub fn parse_python(text: &str) -> Result<Self, GenotypeError> {
        parse_python(text)
    }

    /// The genes of one cell type, two per node in node order.
    pub fn genes(&self, cell: CellType) -> &[Gene] {
        match cell {
            CellType::Normal => &self.normal,
            CellType::Reduce => &self.reduce,
        }
    }

    /// The intermediate states (2..=5) concatenated into the output of one cell type.
    pub fn concat(&self, cell: CellType) -> &[usize] {
        match cell {
            CellType::Normal => &self.normal_concat,
            CellType::Reduce => &self.reduce_concat,
        }
    }

    /// The global edge index (as in the supernet's alpha rows) of intermediate node `node`
    /// (0..4) reading state `input`; `None` when that edge does not exist.
    pub fn edge_of(node: usize, input: usize) -> Option<usize> {
        (node < DARTS_NODES && input < node + 2).then(|| darts_node_edges(node).start + input)
    }

    /// The chosen edges of one cell type as `(global edge index, op)`, in gene order.
    pub fn edge_ops(&self, cell: CellType) -> Vec<(usize, OpKind)> {
        self.genes(cell)
            .iter()
            .enumerate()
            .filter_map(|(k, g)| Self::edge_of(k / 2, g.input).map(|e| (e, g.op)))
            .collect()
    }

    /// Structural check, independent of any search space: 8 genes per cell, each input an
    /// earlier state of its node, and a non-empty, duplicate-free concat of intermediate states.
    pub fn check(&self) -> Result<(), GenotypeError> {
        for cell in [CellType::Normal, CellType::Reduce] {
            let genes = self.genes(cell);
            if genes.len() != GENES_PER_CELL {
                return Err(GenotypeError::GeneCount {
                    cell,
                    expected: GENES_PER_CELL,
                    found: genes.len(),
                });
            }
            for (gene, g) in genes.iter().enumerate() {
                let node = gene / 2;
                let max = node + 1;
                if g.input > max {
                    return Err(GenotypeError::BadInput {
                        cell,
                        node,
                        gene,
                        input: g.input,
                        max,
                    });
                }
            }
            let concat = self.concat(cell);
            if concat.is_empty() {
                return Err(GenotypeError::ConcatEmpty { cell });
            }
            for (i, &value) in concat.iter().enumerate() {
                if !(FIRST_STATE..=LAST_STATE).contains(&value) {
                    return Err(GenotypeError::ConcatOutOfRange { cell, value });
                }
                if concat[..i].contains(&value) {
                    return Err(GenotypeError::ConcatDuplicate { cell, value });
                }
            }
        }
        Ok(())
    }

    /// Checks the structure and that every gene's op is a candidate of its edge in `space`.
    ///
    /// Edges are looked up by their global index (node start + input), which matters for
    /// RobustDARTS S1 whose candidate lists differ per edge; indexing by a node-local position
    /// would check the wrong list.
    pub fn validate(&self, space: &SearchSpace) -> Result<(), GenotypeError> {
        self.check()?;
        if space.family != Family::Darts {
            return Err(GenotypeError::WrongFamily {
                genotype: Family::Darts,
                space: space.id,
            });
        }
        for cell in [CellType::Normal, CellType::Reduce] {
            let lists = match cell {
                CellType::Normal => &space.normal,
                CellType::Reduce => &space.reduce,
            };
            for (gene, g) in self.genes(cell).iter().enumerate() {
                let node = gene / 2;
                let Some(edge) = Self::edge_of(node, g.input) else {
                    continue; // unreachable after check()
                };
                let list = lists.get(edge);
                if !list.is_some_and(|l| l.contains(&g.op)) {
                    return Err(GenotypeError::NotInSpace {
                        cell,
                        node,
                        gene,
                        edge,
                        op: g.op,
                        space: space.id,
                        candidates: candidates_text(list),
                    });
                }
            }
        }
        Ok(())
    }
}

fn fmt_genes(f: &mut fmt::Formatter<'_>, genes: &[Gene]) -> fmt::Result {
    f.write_str("[")?;
    for (i, g) in genes.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{g}")?;
    }
    f.write_str("]")
}

/// `range(2, 6)` for the usual concat, as DARTS-PT prints it; a list otherwise.
fn fmt_concat(f: &mut fmt::Formatter<'_>, concat: &[usize]) -> fmt::Result {
    if concat.iter().copied().eq(FIRST_STATE..=LAST_STATE) {
        return write!(f, "range({FIRST_STATE}, {})", LAST_STATE + 1);
    }
    f.write_str("[")?;
    for (i, v) in concat.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{v}")?;
    }
    f.write_str("]")
}

/// The canonical one-line Python text.
impl fmt::Display for DartsGenotype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Genotype(normal=")?;
        fmt_genes(f, &self.normal)?;
        f.write_str(", normal_concat=")?;
        fmt_concat(f, &self.normal_concat)?;
        f.write_str(", reduce=")?;
        fmt_genes(f, &self.reduce)?;
        f.write_str(", reduce_concat=")?;
        fmt_concat(f, &self.reduce_concat)?;
        f.write_str(")")
    }
}

/// Accepts every form [`Genotype::parse`] does, provided it is a DARTS-family genotype.
impl FromStr for DartsGenotype {
    type Err = GenotypeError;
    fn from_str(s: &str) -> Result<Self, GenotypeError> {
        match Genotype::parse(s)? {
            Genotype::Darts(g) => Ok(g),
            Genotype::Nb201(_) => Err(GenotypeError::WrongForm {
                expected: Family::Darts,
                found: Family::Nb201,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genotype::samples::{DARTS_V2, S5, darts, published};
    use crate::space::{SpaceId, darts_edges};

    #[test]
    fn published_genotypes_round_trip() {
        for text in published() {
            let g = darts(text);
            let printed = g.to_string();
            assert_eq!(darts(&printed), g, "{text}");
            assert_eq!(Genotype::parse(&printed), Ok(Genotype::Darts(g.clone())));
            g.validate(&SpaceId::Darts.space()).unwrap();
            g.validate(&SpaceId::Darts8.space()).unwrap();
        }
        // DARTS-PT's own texts come back byte for byte.
        for text in S5 {
            assert_eq!(darts(text).to_string(), text);
        }
        // DARTS_V2 writes its concat as a list; the canonical print uses range(2, 6).
        assert_eq!(
            darts(DARTS_V2).to_string(),
            DARTS_V2.replace("[2, 3, 4, 5]", "range(2, 6)")
        );
    }

    #[test]
    fn partial_concat_prints_as_a_list() {
        let text = S5[2].replacen("normal_concat=range(2, 6)", "normal_concat=range(3, 6)", 1);
        let g = darts(&text);
        assert_eq!(g.normal_concat, vec![3, 4, 5]);
        let printed = g.to_string();
        assert!(printed.contains("normal_concat=[3, 4, 5]"), "{printed}");
        assert!(printed.contains("reduce_concat=range(2, 6)"), "{printed}");
        assert_eq!(darts(&printed), g);
    }

    #[test]
    fn darts_content_errors() {
        let text = S5[0].replacen("('dil_conv_3x3', 1)", "('sep_conv_4x4', 1)", 1);
        let err = DartsGenotype::parse_python(&text).unwrap_err();
        assert_eq!(
            err,
            GenotypeError::UnknownOp {
                cell: CellType::Normal,
                gene: 3,
                op: "sep_conv_4x4".into()
            }
        );
        assert!(
            err.to_string()
                .starts_with("unknown operation 'sep_conv_4x4' in normal cell, gene 3"),
            "{err}"
        );

        let text = S5[0].replacen("('skip_connect', 2)", "('skip_connect', 7)", 1);
        let err = DartsGenotype::parse_python(&text).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "normal cell, node 2 (gene 5) lists input 7 but only inputs 0..=3 exist"
            ),
            "{err}"
        );
        // The first node may only read the two cell inputs.
        let text = S5[0].replacen("('sep_conv_3x3', 1)", "('sep_conv_3x3', 2)", 1);
        assert_eq!(
            DartsGenotype::parse_python(&text),
            Err(GenotypeError::BadInput {
                cell: CellType::Normal,
                node: 0,
                gene: 1,
                input: 2,
                max: 1
            })
        );

        let text = S5[0].replacen(", ('skip_connect', 4)]", "]", 1);
        let err = DartsGenotype::parse_python(&text).unwrap_err();
        assert_eq!(
            err.to_string(),
            "expected 8 genes in the reduce cell, found 7"
        );

        let text = S5[0].replacen(
            "reduce_concat=range(2, 6)",
            "reduce_concat=[2, 3, 4, 5, 6]",
            1,
        );
        let err = DartsGenotype::parse_python(&text).unwrap_err();
        assert_eq!(
            err.to_string(),
            "reduce_concat lists 6 but only intermediate states 2..=5 exist"
        );
        let text = S5[0].replacen(
            "reduce_concat=range(2, 6)",
            "reduce_concat=range(2, 1000000000000)",
            1,
        );
        assert_eq!(
            DartsGenotype::parse_python(&text),
            Err(GenotypeError::ConcatOutOfRange {
                cell: CellType::Reduce,
                value: 6
            })
        );
        let text = S5[0].replacen("normal_concat=range(2, 6)", "normal_concat=[2, 3, 3]", 1);
        assert_eq!(
            DartsGenotype::parse_python(&text),
            Err(GenotypeError::ConcatDuplicate {
                cell: CellType::Normal,
                value: 3
            })
        );
        let text = S5[0].replacen("normal_concat=range(2, 6)", "normal_concat=[]", 1);
        assert_eq!(
            DartsGenotype::parse_python(&text),
            Err(GenotypeError::ConcatEmpty {
                cell: CellType::Normal
            })
        );
    }

    #[test]
    fn edge_helpers_agree_with_the_space() {
        let edges = darts_edges();
        for node in 0..DARTS_NODES {
            for input in 0..node + 2 {
                let e = DartsGenotype::edge_of(node, input).unwrap();
                assert_eq!((edges[e].from, edges[e].to), (input, node + 2));
            }
            assert_eq!(DartsGenotype::edge_of(node, node + 2), None);
        }
        assert_eq!(DartsGenotype::edge_of(DARTS_NODES, 0), None);
        assert_eq!(DartsGenotype::edge_of(usize::MAX, usize::MAX), None);

        let g = darts(DARTS_V2);
        let ops = g.edge_ops(CellType::Normal);
        assert_eq!(ops.len(), 8);
        for (k, (e, op)) in ops.iter().enumerate() {
            assert_eq!(edges[*e].to, k / 2 + 2);
            assert_eq!(edges[*e].from, g.normal[k].input);
            assert_eq!(*op, g.normal[k].op);
        }
    }

    #[test]
    fn from_edges_builds_and_checks() {
        let normal = [
            [(0, OpKind::SepConv3x3), (1, OpKind::SepConv3x3)],
            [(0, OpKind::SepConv3x3), (1, OpKind::SepConv3x3)],
            [(1, OpKind::SepConv3x3), (0, OpKind::SkipConnect)],
            [(0, OpKind::SkipConnect), (2, OpKind::DilConv3x3)],
        ];
        let reduce = [
            [(0, OpKind::MaxPool3x3), (1, OpKind::MaxPool3x3)],
            [(2, OpKind::SkipConnect), (1, OpKind::MaxPool3x3)],
            [(0, OpKind::MaxPool3x3), (2, OpKind::SkipConnect)],
            [(2, OpKind::SkipConnect), (1, OpKind::MaxPool3x3)],
        ];
        let g = DartsGenotype::from_edges(normal, reduce).unwrap();
        assert_eq!(g, darts(DARTS_V2));
        let mut bad = normal;
        bad[1][0].0 = 3;
        assert!(matches!(
            DartsGenotype::from_edges(bad, reduce),
            Err(GenotypeError::BadInput {
                node: 1,
                gene: 2,
                input: 3,
                ..
            })
        ));
    }

    /// Picks, for each node, inputs 0 and node+1 with the last candidate of each edge.
    fn genotype_from_space(space: &SearchSpace) -> DartsGenotype {
        let pick = |cell| {
            let mut nodes = [[(0, OpKind::None); 2]; DARTS_NODES];
            for (node, pair) in nodes.iter_mut().enumerate() {
                for (slot, input) in [0, node + 1].into_iter().enumerate() {
                    let edge = DartsGenotype::edge_of(node, input).unwrap();
                    let ops = space.ops(cell, edge);
                    pair[slot] = (input, ops[ops.len() - 1]);
                }
            }
            nodes
        };
        DartsGenotype::from_edges(pick(CellType::Normal), pick(CellType::Reduce)).unwrap()
    }

    #[test]
    fn validate_uses_global_edge_ids() {
        for id in [
            SpaceId::S1,
            SpaceId::S2,
            SpaceId::S3,
            SpaceId::S4,
            SpaceId::Darts,
        ] {
            let space = id.space();
            let g = genotype_from_space(&space);
            g.validate(&space).unwrap();
            // Any op outside an edge's list is rejected, naming that edge.
            for cell in [CellType::Normal, CellType::Reduce] {
                for k in 0..GENES_PER_CELL {
                    let edge = DartsGenotype::edge_of(k / 2, g.genes(cell)[k].input).unwrap();
                    let Some(&other) = OpKind::ALL
                        .iter()
                        .find(|o| !space.ops(cell, edge).contains(o))
                    else {
                        continue;
                    };
                    let mut bad = g.clone();
                    match cell {
                        CellType::Normal => bad.normal[k].op = other,
                        CellType::Reduce => bad.reduce[k].op = other,
                    }
                    match bad.validate(&space) {
                        Err(GenotypeError::NotInSpace { edge: e, gene, .. }) => {
                            assert_eq!((e, gene), (edge, k));
                        }
                        other => panic!("{id} {cell} gene {k}: {other:?}"),
                    }
                }
            }
        }
        // S1, node 1 reading state 1 is edge 3 ({skip, sep3}); the node-local index 1 would
        // point at edge 1 ({skip, dil5}) and judge the opposite way.
        let s1 = SpaceId::S1.space();
        let mut g = genotype_from_space(&s1);
        g.normal[2] = Gene::new(OpKind::SepConv3x3, 1);
        g.validate(&s1).unwrap();
        g.normal[2] = Gene::new(OpKind::DilConv5x5, 1);
        let err = g.validate(&s1).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "normal cell, node 1 (gene 2, edge 3): 'dil_conv_5x5' is not a candidate"
            ),
            "{err}"
        );
        assert!(
            err.to_string().contains("skip_connect, sep_conv_3x3"),
            "{err}"
        );
    }
}
