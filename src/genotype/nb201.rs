//! The NAS-Bench-201 genotype: one operation per edge of the single cell, read and printed as
//! the benchmark's `|op~j|+...` architecture string.

use super::Genotype;
use super::error::{GenotypeError, candidates_text};
use crate::space::{Family, NB201_EDGES, OpKind, SearchSpace, nb201_edges};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A NAS-Bench-201 cell: one operation per edge, in edge order 1<-0, 2<-0, 2<-1, 3<-0, 3<-1,
/// 3<-2. `none` is a legitimate choice (it removes the edge).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawNb201")]
pub struct Nb201Genotype {
    pub ops: [OpKind; NB201_EDGES],
}

/// NB201 JSON: `{"ops": [...]}` as serialised, or the bare architecture string.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawNb201 {
    Arch(String),
    Ops(RawNb201Ops),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNb201Ops {
    ops: Vec<String>,
}

impl TryFrom<RawNb201Ops> for Nb201Genotype {
    type Error = GenotypeError;
    fn try_from(raw: RawNb201Ops) -> Result<Self, GenotypeError> {
        let mut ops = [OpKind::None; NB201_EDGES];
        if raw.ops.len() != NB201_EDGES {
            return Err(GenotypeError::Nb201OpListLen {
                found: raw.ops.len(),
            });
        }
        for (edge, name) in raw.ops.iter().enumerate() {
            ops[edge] = name
                .parse()
                .map_err(|_| GenotypeError::Nb201UnknownEdgeOp {
                    edge,
                    op: name.clone(),
                })?;
        }
        Ok(Nb201Genotype { ops })
    }
}

impl TryFrom<RawNb201> for Nb201Genotype {
    type Error = GenotypeError;
    fn try_from(raw: RawNb201) -> Result<Self, GenotypeError> {
        match raw {
            RawNb201::Arch(s) => Nb201Genotype::parse_arch(&s),
            RawNb201::Ops(o) => o.try_into(),
        }
    }
}

impl Nb201Genotype {
    pub fn new(ops: [OpKind; NB201_EDGES]) -> Self {
        Nb201Genotype { ops }
    }

    /// The operation on `edge` (0..6); `None` past the last edge.
    pub fn op(&self, edge: usize) -> Option<OpKind> {
        self.ops.get(edge).copied()
    }

    /// Parses `|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`; surrounding whitespace is ignored.
    pub fn parse_arch(text: &str) -> Result<Self, GenotypeError> {
        let s = text.trim();
        if !(s.starts_with('|') && s.ends_with('|')) {
            return Err(GenotypeError::Nb201Syntax(
                "the string must start and end with '|'".to_string(),
            ));
        }
        let nodes: Vec<&str> = s.split('+').collect();
        if nodes.len() != 3 {
            return Err(GenotypeError::Nb201NodeCount { found: nodes.len() });
        }
        let mut ops = [OpKind::None; NB201_EDGES];
        let mut edge = 0;
        for (k, part) in nodes.iter().enumerate() {
            let node = k + 1;
            let inner = part
                .strip_prefix('|')
                .and_then(|p| p.strip_suffix('|'))
                .ok_or_else(|| {
                    GenotypeError::Nb201Syntax(format!(
                        "node {node} is '{part}', which does not start and end with '|'"
                    ))
                })?;
            let entries: Vec<&str> = if inner.is_empty() {
                Vec::new()
            } else {
                inner.split('|').collect()
            };
            if entries.len() != node {
                return Err(GenotypeError::Nb201OpCount {
                    node,
                    found: entries.len(),
                    expected: node,
                });
            }
            for (j, entry) in entries.iter().enumerate() {
                let (name, input) =
                    entry
                        .split_once('~')
                        .ok_or_else(|| GenotypeError::Nb201Entry {
                            node,
                            entry: j + 1,
                            text: entry.to_string(),
                        })?;
                let op = name
                    .parse::<OpKind>()
                    .map_err(|_| GenotypeError::Nb201UnknownOp {
                        node,
                        entry: j + 1,
                        op: name.to_string(),
                    })?;
                if input.parse::<usize>().ok() != Some(j) {
                    return Err(GenotypeError::Nb201Input {
                        node,
                        entry: j + 1,
                        expected: j,
                        found: input.to_string(),
                    });
                }
                // Nodes list their inputs in order, which is exactly the edge order.
                ops[edge] = op;
                edge += 1;
            }
        }
        Ok(Nb201Genotype { ops })
    }

    /// The benchmark's architecture string, the key of the lookup table.
    pub fn to_arch_string(&self) -> String {
        let mut s = String::new();
        let mut edges = nb201_edges().into_iter().zip(self.ops).peekable();
        for to in 1..4 {
            if to > 1 {
                s.push('+');
            }
            s.push('|');
            while let Some((e, op)) = edges.next_if(|(e, _)| e.to == to) {
                s.push_str(op.name());
                s.push('~');
                s.push_str(&e.from.to_string());
                s.push('|');
            }
        }
        s
    }

    /// Checks that every edge's op is a candidate in `space` (which must be an NB201 space).
    pub fn validate(&self, space: &SearchSpace) -> Result<(), GenotypeError> {
        if space.family != Family::Nb201 {
            return Err(GenotypeError::WrongFamily {
                genotype: Family::Nb201,
                space: space.id,
            });
        }
        for (e, op) in nb201_edges().into_iter().zip(self.ops) {
            let list = space.normal.get(e.index);
            if !list.is_some_and(|l| l.contains(&op)) {
                return Err(GenotypeError::Nb201NotInSpace {
                    edge: e.index,
                    to: e.to,
                    from: e.from,
                    op,
                    space: space.id,
                    candidates: candidates_text(list),
                });
            }
        }
        Ok(())
    }
}

impl fmt::Display for Nb201Genotype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_arch_string())
    }
}

/// Accepts every form [`Genotype::parse`] does, provided it is an NB201 genotype.
impl FromStr for Nb201Genotype {
    type Err = GenotypeError;
    fn from_str(s: &str) -> Result<Self, GenotypeError> {
        match Genotype::parse(s)? {
            Genotype::Nb201(g) => Ok(g),
            Genotype::Darts(_) => Err(GenotypeError::WrongForm {
                expected: Family::Nb201,
                found: Family::Darts,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genotype::samples::NB201_SAMPLE;
    use crate::space::{NB201_OPS, SpaceId};

    #[test]
    fn nb201_round_trip_over_the_whole_space() {
        let g = Nb201Genotype::parse_arch(NB201_SAMPLE).unwrap();
        assert_eq!(g.to_arch_string(), NB201_SAMPLE);
        assert_eq!(g.to_string(), NB201_SAMPLE);
        assert_eq!(
            Genotype::parse(NB201_SAMPLE).unwrap().family(),
            Family::Nb201
        );
        assert_eq!(
            Nb201Genotype::parse_arch(&format!(" {NB201_SAMPLE}\n")),
            Ok(g)
        );
        // Every one of the 5^6 cells prints to a distinct string that parses back to it.
        let mut seen = std::collections::HashSet::new();
        for code in 0..NB201_OPS.len().pow(6) {
            let mut ops = [OpKind::None; NB201_EDGES];
            let mut c = code;
            for op in ops.iter_mut() {
                *op = NB201_OPS[c % NB201_OPS.len()];
                c /= NB201_OPS.len();
            }
            let g = Nb201Genotype::new(ops);
            let s = g.to_arch_string();
            assert_eq!(Nb201Genotype::parse_arch(&s), Ok(g), "{s}");
            g.validate(&SpaceId::Nb201.space()).unwrap();
            assert!(seen.insert(s));
        }
        assert_eq!(seen.len(), 15_625);
    }

    #[test]
    fn nb201_ops_follow_edge_order() {
        let g = Nb201Genotype::parse_arch(NB201_SAMPLE).unwrap();
        // Read each edge's op straight out of the string by its `to` node and `~from` entry.
        let nodes: Vec<Vec<&str>> = NB201_SAMPLE
            .split('+')
            .map(|n| n.trim_matches('|').split('|').collect())
            .collect();
        for e in nb201_edges() {
            let entry = nodes[e.to - 1][e.from];
            let (name, from) = entry.split_once('~').unwrap();
            assert_eq!(from.parse::<usize>().unwrap(), e.from);
            assert_eq!(
                g.op(e.index),
                Some(name.parse().unwrap()),
                "edge {}",
                e.index
            );
        }
        assert_eq!(g.op(NB201_EDGES), None);
    }

    #[test]
    fn nb201_errors() {
        let err = |s: &str| Nb201Genotype::parse_arch(s).unwrap_err();
        let e = err(
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|none~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
        );
        assert_eq!(e.to_string(), "node 2 lists 3 operations, expected 2");
        let e = err(
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~2|skip_connect~2|",
        );
        assert!(
            e.to_string()
                .starts_with("node 3, entry 2: expected input ~1, found ~2"),
            "{e}"
        );
        let e = err(
            "|conv~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
        );
        assert!(
            e.to_string()
                .starts_with("unknown operation 'conv' at node 1"),
            "{e}"
        );
        assert_eq!(
            err("|none~0|+|none~0|none~1|"),
            GenotypeError::Nb201NodeCount { found: 2 }
        );
        assert_eq!(
            err("|none~0|+|none~0|none1|+|none~0|none~1|none~2|"),
            GenotypeError::Nb201Entry {
                node: 2,
                entry: 2,
                text: "none1".into()
            }
        );
        assert_eq!(
            err("|none~0|+||+|none~0|none~1|none~2|"),
            GenotypeError::Nb201OpCount {
                node: 2,
                found: 0,
                expected: 2
            }
        );
        assert!(matches!(err("none~0|+|"), GenotypeError::Nb201Syntax(_)));
        assert!(matches!(err("|+|+|"), GenotypeError::Nb201Syntax(_)));
        assert!(matches!(
            err("|none~0|+|none~0|none~x|+|none~0|none~1|none~2|"),
            GenotypeError::Nb201Input {
                node: 2,
                entry: 2,
                ..
            }
        ));
    }
}
