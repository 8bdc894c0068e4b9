//! `GenotypeError`: everything that can be wrong with a genotype text or value, with the
//! helpers its messages use.

use super::darts::{FIRST_STATE, LAST_STATE};
use crate::space::{CellType, Family, NB201_EDGES, OpKind, SpaceId};

/// Everything that can be wrong with a genotype text or value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenotypeError {
    #[error("syntax error at line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("unbalanced brackets at line {line}, column {column}: {message}")]
    Unbalanced {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("missing `{0}=` argument in Genotype(...)")]
    MissingArgument(&'static str),
    #[error("unknown operation '{op}' in {cell} cell, gene {gene} (genes count from 0)")]
    UnknownOp {
        cell: CellType,
        gene: usize,
        op: String,
    },
    #[error("expected {expected} genes in the {cell} cell, found {found}")]
    GeneCount {
        cell: CellType,
        expected: usize,
        found: usize,
    },
    #[error(
        "{cell} cell, node {node} (gene {gene}) lists input {input} but only inputs 0..={max} exist \
         (nodes and genes count from 0; node n is state n+2 and reads states 0..=n+1)"
    )]
    BadInput {
        cell: CellType,
        node: usize,
        gene: usize,
        input: usize,
        max: usize,
    },
    #[error(
        "{cell}_concat lists {value} but only intermediate states {FIRST_STATE}..={LAST_STATE} exist"
    )]
    ConcatOutOfRange { cell: CellType, value: usize },
    #[error("{cell}_concat lists {value} twice")]
    ConcatDuplicate { cell: CellType, value: usize },
    #[error("{cell}_concat is empty; the cell output needs at least one intermediate state")]
    ConcatEmpty { cell: CellType },
    #[error(
        "{cell} cell, node {node} (gene {gene}, edge {edge}): '{op}' is not a candidate of that \
         edge in search space {space} (candidates: {candidates})"
    )]
    NotInSpace {
        cell: CellType,
        node: usize,
        gene: usize,
        edge: usize,
        op: OpKind,
        space: SpaceId,
        candidates: String,
    },
    #[error(
        "NB201 edge {edge} ({to}<-{from}): '{op}' is not a candidate in search space {space} \
         (candidates: {candidates})"
    )]
    Nb201NotInSpace {
        edge: usize,
        to: usize,
        from: usize,
        op: OpKind,
        space: SpaceId,
        candidates: String,
    },
    #[error("a {} genotype does not fit search space {space}, which is a {} space", family_name(.genotype), family_name(&.space.family()))]
    WrongFamily { genotype: Family, space: SpaceId },
    #[error("expected a {} genotype, found a {} one", family_name(.expected), family_name(.found))]
    WrongForm { expected: Family, found: Family },
    #[error("not an NB201 architecture string (like |op~0|+|op~0|op~1|+|op~0|op~1|op~2|): {0}")]
    Nb201Syntax(String),
    #[error("NB201 architecture string has {found} nodes separated by '+', expected 3")]
    Nb201NodeCount { found: usize },
    #[error("node {node} lists {found} operations, expected {expected}")]
    Nb201OpCount {
        node: usize,
        found: usize,
        expected: usize,
    },
    #[error(
        "node {node}, entry {entry}: expected input ~{expected}, found ~{found} \
         (entries count from 1; node n lists inputs ~0..~n-1 in order)"
    )]
    Nb201Input {
        node: usize,
        entry: usize,
        expected: usize,
        found: String,
    },
    #[error("node {node}, entry {entry}: expected 'operation~input', found '{text}'")]
    Nb201Entry {
        node: usize,
        entry: usize,
        text: String,
    },
    #[error("unknown operation '{op}' at node {node}, entry {entry}")]
    Nb201UnknownOp {
        node: usize,
        entry: usize,
        op: String,
    },
    #[error("expected {NB201_EDGES} operations in an NB201 genotype, found {found}")]
    Nb201OpListLen { found: usize },
    #[error("unknown operation '{op}' on NB201 edge {edge}")]
    Nb201UnknownEdgeOp { edge: usize, op: String },
    #[error("invalid genotype JSON: {0}")]
    Json(String),
}

fn family_name(f: &Family) -> &'static str {
    match f {
        Family::Darts => "DARTS-family",
        Family::Nb201 => "NAS-Bench-201",
    }
}

pub(super) fn candidates_text(ops: Option<&Vec<OpKind>>) -> String {
    match ops {
        Some(ops) => ops.iter().map(|o| o.name()).collect::<Vec<_>>().join(", "),
        None => "the space has no such edge".to_string(),
    }
}
