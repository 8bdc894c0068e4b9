//! Discrete architectures: what architecture selection produces and what the evaluation networks
//! and the NAS-Bench-201 lookup consume.
//!
//! A DARTS-family genotype lists two `(operation, input state)` genes for each of the four
//! intermediate nodes of the normal and the reduction cell. It reads and prints the Python
//! `Genotype(...)` text that DARTS and DARTS-PT write, so published genotypes can be pasted in
//! and results pasted back. A NAS-Bench-201 genotype is one operation per edge of the single
//! cell, read and printed as the benchmark's `|op~j|+...` architecture string, which is also the
//! key of the lookup table. Both forms (de)serialise as JSON.
//!
//! Numbering used in error messages: DARTS genes count from 0 (gene k belongs to node k/2), nodes
//! count from 0 and node n is state n+2, reading states 0..=n+1; NB201 nodes are 1..=3 (node 0
//! is the input) and the entries within a node count from 1.

use crate::space::{
    CellType, DARTS_NODES, Family, NB201_EDGES, OpKind, SearchSpace, SpaceId, darts_node_edges,
    nb201_edges,
};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Genes per DARTS cell: two per intermediate node.
pub const GENES_PER_CELL: usize = 2 * DARTS_NODES;
/// First intermediate state of a DARTS cell (states 0 and 1 are the cell inputs).
const FIRST_STATE: usize = 2;
/// Last intermediate state of a DARTS cell.
const LAST_STATE: usize = DARTS_NODES + 1;
/// Longest `range(...)` concat expanded; anything longer is out of range anyway, and the cap
/// keeps a hostile `range(0, 10**18)` from allocating.
const MAX_RANGE: usize = 64;

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

fn candidates_text(ops: Option<&Vec<OpKind>>) -> String {
    match ops {
        Some(ops) => ops.iter().map(|o| o.name()).collect::<Vec<_>>().join(", "),
        None => "the space has no such edge".to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// DARTS family
// ---------------------------------------------------------------------------------------------

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
struct RawGene(String, usize);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDarts {
    normal: Vec<RawGene>,
    normal_concat: Vec<usize>,
    reduce: Vec<RawGene>,
    reduce_concat: Vec<usize>,
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

// ---------------------------------------------------------------------------------------------
// Python text parser
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Int(String),
    Open(char),
    Close(char),
    Comma,
    Eq,
    Dot,
    End,
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    line: usize,
    column: usize,
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Ident(s) => format!("'{s}'"),
        Tok::Str(s) => format!("the string '{s}'"),
        Tok::Int(s) => format!("the number {s}"),
        Tok::Open(c) | Tok::Close(c) => format!("'{c}'"),
        Tok::Comma => "','".to_string(),
        Tok::Eq => "'='".to_string(),
        Tok::Dot => "'.'".to_string(),
        Tok::End => "the end of the text".to_string(),
    }
}

fn closer_of(open: char) -> char {
    match open {
        '(' => ')',
        '[' => ']',
        _ => '}',
    }
}

fn lex(text: &str) -> Result<Vec<Token>, GenotypeError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line, mut column) = (0usize, 1usize, 1usize);
    let syntax = |line, column, message: String| GenotypeError::Syntax {
        line,
        column,
        message,
    };
    while let Some(&c) = chars.get(i) {
        let (start_line, start_col) = (line, column);
        let push = |out: &mut Vec<Token>, tok| {
            out.push(Token {
                tok,
                line: start_line,
                column: start_col,
            })
        };
        if c == '\n' {
            i += 1;
            line += 1;
            column = 1;
            continue;
        }
        if c.is_whitespace() {
            i += 1;
            column += 1;
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            let mut s = String::new();
            while let Some(&d) = chars
                .get(i)
                .filter(|d| d.is_ascii_alphanumeric() || **d == '_')
            {
                s.push(d);
                i += 1;
                column += 1;
            }
            push(&mut out, Tok::Ident(s));
            continue;
        }
        if c.is_ascii_digit() {
            let mut s = String::new();
            while let Some(&d) = chars.get(i).filter(|d| d.is_ascii_digit()) {
                s.push(d);
                i += 1;
                column += 1;
            }
            push(&mut out, Tok::Int(s));
            continue;
        }
        if c == '\'' || c == '"' {
            let mut s = String::new();
            i += 1;
            column += 1;
            loop {
                match chars.get(i) {
                    Some(&d) if d == c => {
                        i += 1;
                        column += 1;
                        break;
                    }
                    Some(&d) if d != '\n' => {
                        s.push(d);
                        i += 1;
                        column += 1;
                    }
                    _ => {
                        return Err(syntax(
                            start_line,
                            start_col,
                            format!("string opened here with {c} is never closed"),
                        ));
                    }
                }
            }
            push(&mut out, Tok::Str(s));
            continue;
        }
        let tok = match c {
            '(' | '[' | '{' => Tok::Open(c),
            ')' | ']' | '}' => Tok::Close(c),
            ',' => Tok::Comma,
            '=' => Tok::Eq,
            '.' => Tok::Dot,
            _ => {
                return Err(syntax(line, column, format!("unexpected character {c:?}")));
            }
        };
        push(&mut out, tok);
        i += 1;
        column += 1;
    }
    out.push(Token {
        tok: Tok::End,
        line,
        column,
    });
    Ok(out)
}

/// Reports bracket mistakes before parsing, where they can be named precisely; the parser
/// itself would only see an unexpected token somewhere later.
fn check_brackets(tokens: &[Token]) -> Result<(), GenotypeError> {
    let mut stack: Vec<(char, &Token)> = Vec::new();
    for t in tokens {
        match t.tok {
            Tok::Open(c) => stack.push((c, t)),
            Tok::Close(c) => match stack.pop() {
                None => {
                    return Err(GenotypeError::Unbalanced {
                        line: t.line,
                        column: t.column,
                        message: format!("'{c}' has no matching opening bracket"),
                    });
                }
                Some((open, o)) if closer_of(open) != c => {
                    return Err(GenotypeError::Unbalanced {
                        line: t.line,
                        column: t.column,
                        message: format!(
                            "'{c}' closes the '{open}' opened at line {}, column {}",
                            o.line, o.column
                        ),
                    });
                }
                Some(_) => {}
            },
            _ => {}
        }
    }
    match stack.last() {
        Some((open, o)) => Err(GenotypeError::Unbalanced {
            line: o.line,
            column: o.column,
            message: format!("'{open}' is never closed"),
        }),
        None => Ok(()),
    }
}

struct Parser<'a> {
    toks: &'a [Token],
    pos: usize,
}

/// The four `Genotype` fields in positional order.
const FIELDS: [&str; 4] = ["normal", "normal_concat", "reduce", "reduce_concat"];

enum Value {
    Genes(Vec<RawGene>),
    Concat(Vec<usize>),
}

impl<'a> Parser<'a> {
    fn peek(&self) -> &'a Token {
        // `lex` always ends the stream with `End` and `bump` never moves past it.
        &self.toks[self.pos.min(self.toks.len() - 1)]
    }

    fn peek2(&self) -> Option<&'a Token> {
        self.toks.get(self.pos + 1)
    }

    fn bump(&mut self) -> &'a Token {
        let t = self.peek();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    fn error_at(t: &Token, message: String) -> GenotypeError {
        GenotypeError::Syntax {
            line: t.line,
            column: t.column,
            message,
        }
    }

    fn expected(&self, what: &str) -> GenotypeError {
        let t = self.peek();
        Self::error_at(t, format!("expected {what}, found {}", describe(&t.tok)))
    }

    fn eat(&mut self, tok: &Tok) -> bool {
        if &self.peek().tok == tok {
            self.bump();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, tok: &Tok, what: &str) -> Result<(), GenotypeError> {
        if self.eat(tok) {
            Ok(())
        } else {
            Err(self.expected(what))
        }
    }

    fn ident(&mut self, what: &str) -> Result<String, GenotypeError> {
        match &self.peek().tok {
            Tok::Ident(s) => {
                self.bump();
                Ok(s.clone())
            }
            _ => Err(self.expected(what)),
        }
    }

    fn number(&mut self, what: &str) -> Result<usize, GenotypeError> {
        let t = self.peek();
        match &t.tok {
            Tok::Int(s) => {
                self.bump();
                s.parse::<usize>()
                    .map_err(|_| Self::error_at(t, format!("the number {s} is too large")))
            }
            _ => Err(self.expected(what)),
        }
    }

    /// An opening `[` or `(`; returns the closer to expect.
    fn open_seq(&mut self, what: &str) -> Result<char, GenotypeError> {
        match self.peek().tok {
            Tok::Open(c @ ('[' | '(')) => {
                self.bump();
                Ok(closer_of(c))
            }
            _ => Err(self.expected(what)),
        }
    }

    /// After an element: a comma (then possibly the closer) or the closer. True when closed.
    fn sep_or_close(&mut self, close: char, what: &str) -> Result<bool, GenotypeError> {
        if self.eat(&Tok::Close(close)) {
            return Ok(true);
        }
        if self.eat(&Tok::Comma) {
            return Ok(self.eat(&Tok::Close(close)));
        }
        Err(self.expected(&format!("',' or '{close}' {what}")))
    }

    fn genotype(&mut self) -> Result<DartsGenotype, GenotypeError> {
        const START: &str = "`Genotype(` (or an NB201 string `|op~0|+...`, or JSON)";
        let mut name = self.ident(START)?;
        while self.eat(&Tok::Dot) {
            name = self.ident("a name after '.'")?;
        }
        if name != "Genotype" {
            let t = &self.toks[self.pos.saturating_sub(1)];
            return Err(Self::error_at(
                t,
                format!("expected {START}, found '{name}'"),
            ));
        }
        self.expect(&Tok::Open('('), "'(' after Genotype")?;
        let mut values: [Option<Value>; 4] = [None, None, None, None];
        let mut positional = 0;
        let mut keywords = false;
        if !self.eat(&Tok::Close(')')) {
            loop {
                let start = self.peek();
                let slot = match (&start.tok, self.peek2().map(|t| &t.tok)) {
                    (Tok::Ident(name), Some(Tok::Eq)) => {
                        self.bump();
                        self.bump();
                        keywords = true;
                        FIELDS.iter().position(|f| f == name).ok_or_else(|| {
                            Self::error_at(
                                start,
                                format!(
                                    "unknown argument '{name}' (expected normal, normal_concat, \
                                     reduce, reduce_concat)"
                                ),
                            )
                        })?
                    }
                    _ if keywords => {
                        return Err(self.expected("a keyword argument such as `reduce=`"));
                    }
                    _ if positional >= FIELDS.len() => {
                        return Err(Self::error_at(
                            start,
                            "too many arguments; Genotype has four fields".to_string(),
                        ));
                    }
                    _ => {
                        positional += 1;
                        positional - 1
                    }
                };
                if values[slot].is_some() {
                    return Err(Self::error_at(
                        start,
                        format!("argument `{}=` given twice", FIELDS[slot]),
                    ));
                }
                values[slot] = Some(if slot % 2 == 0 {
                    Value::Genes(self.gene_list()?)
                } else {
                    Value::Concat(self.concat()?)
                });
                if self.sep_or_close(')', "between arguments")? {
                    break;
                }
            }
        }
        if self.peek().tok != Tok::End {
            return Err(self.expected("nothing after the closing ')'"));
        }
        let [normal, normal_concat, reduce, reduce_concat] = values;
        let genes = |v: Option<Value>, i: usize| match v {
            Some(Value::Genes(g)) => Ok(g),
            _ => Err(GenotypeError::MissingArgument(FIELDS[i])),
        };
        let concat = |v: Option<Value>, i: usize| match v {
            Some(Value::Concat(c)) => Ok(c),
            _ => Err(GenotypeError::MissingArgument(FIELDS[i])),
        };
        DartsGenotype::try_from(RawDarts {
            normal: genes(normal, 0)?,
            normal_concat: concat(normal_concat, 1)?,
            reduce: genes(reduce, 2)?,
            reduce_concat: concat(reduce_concat, 3)?,
        })
    }

    fn gene_list(&mut self) -> Result<Vec<RawGene>, GenotypeError> {
        let close = self.open_seq("'[' starting a list of genes")?;
        let mut genes = Vec::new();
        if self.eat(&Tok::Close(close)) {
            return Ok(genes);
        }
        loop {
            genes.push(self.gene()?);
            if self.sep_or_close(close, "between genes")? {
                return Ok(genes);
            }
        }
    }

    fn gene(&mut self) -> Result<RawGene, GenotypeError> {
        let close = self.open_seq("a gene such as ('sep_conv_3x3', 0)")?;
        let op = match &self.peek().tok {
            Tok::Str(s) => {
                self.bump();
                s.clone()
            }
            _ => return Err(self.expected("an operation name in quotes")),
        };
        self.expect(&Tok::Comma, "',' after the operation name")?;
        let input = self.number("the input state number")?;
        if !self.sep_or_close(close, "ending the gene")? {
            return Err(self.expected(&format!("'{close}' ending the gene")));
        }
        Ok(RawGene(op, input))
    }

    /// `range(a, b)`, `range(b)`, `list(range(...))`, or a list/tuple of numbers.
    fn concat(&mut self) -> Result<Vec<usize>, GenotypeError> {
        const WHAT: &str = "`range(2, 6)` or a list such as [2, 3, 4, 5]";
        let wrapped = match &self.peek().tok {
            Tok::Ident(s) if s == "list" => {
                self.bump();
                self.expect(&Tok::Open('('), "'(' after list")?;
                true
            }
            _ => false,
        };
        let values = match &self.peek().tok {
            Tok::Ident(s) if s == "range" => {
                self.bump();
                self.expect(&Tok::Open('('), "'(' after range")?;
                let first = self.number("a number")?;
                let second = if self.eat(&Tok::Comma) && self.peek().tok != Tok::Close(')') {
                    let stop = self.number("a number")?;
                    self.eat(&Tok::Comma);
                    Some(stop)
                } else {
                    None
                };
                self.expect(&Tok::Close(')'), "')' ending range")?;
                let (start, stop) = match second {
                    Some(stop) => (first, stop),
                    None => (0, first),
                };
                (start..stop).take(MAX_RANGE).collect()
            }
            Tok::Open(_) => {
                let close = self.open_seq(WHAT)?;
                let mut v = Vec::new();
                if !self.eat(&Tok::Close(close)) {
                    loop {
                        v.push(self.number("a state number")?);
                        if self.sep_or_close(close, "in the concat list")? {
                            break;
                        }
                    }
                }
                v
            }
            _ => return Err(self.expected(WHAT)),
        };
        if wrapped {
            self.expect(&Tok::Close(')'), "')' closing list(")?;
        }
        Ok(values)
    }
}

fn parse_python(text: &str) -> Result<DartsGenotype, GenotypeError> {
    let tokens = lex(text)?;
    check_brackets(&tokens)?;
    Parser {
        toks: &tokens,
        pos: 0,
    }
    .genotype()
}

// ---------------------------------------------------------------------------------------------
// NAS-Bench-201
// ---------------------------------------------------------------------------------------------

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
struct RawNb201Ops {
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

// ---------------------------------------------------------------------------------------------
// Either form
// ---------------------------------------------------------------------------------------------

/// A genotype of either family. Serialises as the inner form's JSON (no tag), since the two
/// shapes cannot be confused.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Genotype {
    Darts(DartsGenotype),
    Nb201(Nb201Genotype),
}

impl Genotype {
    /// Reads a genotype in any form a user is likely to paste: the Python `Genotype(...)` text,
    /// an NB201 `|op~0|+...` string, or the JSON of either (including a JSON string holding
    /// an NB201 architecture string). The form is told by the first non-blank character.
    pub fn parse(text: &str) -> Result<Self, GenotypeError> {
        // Detect on the trimmed text but parse the original, so positions count every line.
        match text.trim_start().chars().next() {
            Some('|') => Nb201Genotype::parse_arch(text).map(Genotype::Nb201),
            Some('{') | Some('"') => parse_json(text),
            _ => parse_python(text).map(Genotype::Darts),
        }
    }

    pub fn family(&self) -> Family {
        match self {
            Genotype::Darts(_) => Family::Darts,
            Genotype::Nb201(_) => Family::Nb201,
        }
    }

    /// Checks the genotype against a search space of its own family.
    pub fn validate(&self, space: &SearchSpace) -> Result<(), GenotypeError> {
        match self {
            Genotype::Darts(g) => g.validate(space),
            Genotype::Nb201(g) => g.validate(space),
        }
    }
}

fn parse_json(text: &str) -> Result<Genotype, GenotypeError> {
    let json = |e: serde_json::Error| GenotypeError::Json(e.to_string());
    let value: serde_json::Value = serde_json::from_str(text).map_err(json)?;
    match value {
        serde_json::Value::String(s) => Nb201Genotype::parse_arch(&s).map(Genotype::Nb201),
        // Shapes are read again from the text (not the value) so errors keep their positions.
        serde_json::Value::Object(ref map) if map.contains_key("ops") => {
            let raw: RawNb201Ops = serde_json::from_str(text).map_err(json)?;
            Nb201Genotype::try_from(raw).map(Genotype::Nb201)
        }
        serde_json::Value::Object(ref map)
            if map.contains_key("normal") || map.contains_key("reduce") =>
        {
            let raw: RawDarts = serde_json::from_str(text).map_err(json)?;
            DartsGenotype::try_from(raw).map(Genotype::Darts)
        }
        _ => Err(GenotypeError::Json(
            "expected an object with `normal`, `normal_concat`, `reduce`, `reduce_concat` \
             (DARTS family) or `ops` (NB201), or an NB201 architecture string"
                .to_string(),
        )),
    }
}

impl fmt::Display for Genotype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Genotype::Darts(g) => g.fmt(f),
            Genotype::Nb201(g) => g.fmt(f),
        }
    }
}

impl FromStr for Genotype {
    type Err = GenotypeError;
    fn from_str(s: &str) -> Result<Self, GenotypeError> {
        Genotype::parse(s)
    }
}

impl From<DartsGenotype> for Genotype {
    fn from(g: DartsGenotype) -> Self {
        Genotype::Darts(g)
    }
}

impl From<Nb201Genotype> for Genotype {
    fn from(g: Nb201Genotype) -> Self {
        Genotype::Nb201(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::{NB201_OPS, darts_edges};

    const DARTS_V2: &str = "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";
    const S5: [&str; 4] = [
        "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_5x5', 0), ('dil_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 2), ('skip_connect', 0), ('max_pool_3x3', 4)], normal_concat=range(2, 6), reduce=[('sep_conv_3x3', 0), ('avg_pool_3x3', 1), ('dil_conv_5x5', 1), ('dil_conv_3x3', 2), ('avg_pool_3x3', 0), ('max_pool_3x3', 2), ('sep_conv_3x3', 2), ('skip_connect', 4)], reduce_concat=range(2, 6))",
        "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('dil_conv_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 0), ('dil_conv_3x3', 4)], normal_concat=range(2, 6), reduce=[('dil_conv_5x5', 0), ('avg_pool_3x3', 1), ('max_pool_3x3', 0), ('sep_conv_5x5', 2), ('max_pool_3x3', 1), ('dil_conv_3x3', 3), ('sep_conv_5x5', 0), ('sep_conv_3x3', 4)], reduce_concat=range(2, 6))",
        "Genotype(normal=[('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('dil_conv_3x3', 1), ('skip_connect', 2), ('dil_conv_3x3', 3), ('max_pool_3x3', 1), ('skip_connect', 2)], normal_concat=range(2, 6), reduce=[('avg_pool_3x3', 0), ('max_pool_3x3', 1), ('avg_pool_3x3', 0), ('sep_conv_3x3', 1), ('dil_conv_5x5', 2), ('skip_connect', 3), ('sep_conv_3x3', 2), ('sep_conv_5x5', 4)], reduce_concat=range(2, 6))",
        "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 2), ('sep_conv_3x3', 1), ('skip_connect', 3)], normal_concat=range(2, 6), reduce=[('avg_pool_3x3', 0), ('sep_conv_5x5', 1), ('max_pool_3x3', 1), ('skip_connect', 2), ('dil_conv_5x5', 1), ('max_pool_3x3', 3), ('sep_conv_5x5', 2), ('skip_connect', 3)], reduce_concat=range(2, 6))",
    ];
    const NB201_SAMPLE: &str = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|";

    fn darts(text: &str) -> DartsGenotype {
        DartsGenotype::parse_python(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    fn published() -> Vec<&'static str> {
        std::iter::once(DARTS_V2).chain(S5).collect()
    }

    /// Minimal deterministic generator for the fuzz tests (xorshift64*).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

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
    fn parsed_values_match_the_text() {
        let g = darts(DARTS_V2);
        assert_eq!(g.normal.len(), 8);
        assert_eq!(g.normal[7], Gene::new(OpKind::DilConv3x3, 2));
        assert_eq!(g.normal[5], Gene::new(OpKind::SkipConnect, 0));
        assert_eq!(g.reduce[2], Gene::new(OpKind::SkipConnect, 2));
        assert_eq!(g.reduce[7], Gene::new(OpKind::MaxPool3x3, 1));
        assert_eq!(g.concat(CellType::Normal), &[2, 3, 4, 5]);
        assert_eq!(g.genes(CellType::Reduce), g.reduce.as_slice());
        let s = darts(S5[0]);
        assert_eq!(s.normal[7], Gene::new(OpKind::MaxPool3x3, 4));
        assert_eq!(s.reduce[0], Gene::new(OpKind::SepConv3x3, 0));
    }

    #[test]
    fn accepts_python_variants() {
        let canonical = darts(S5[1]);
        let variants = [
            // double quotes, list concat
            S5[1]
                .replace('\'', "\"")
                .replace("range(2, 6)", "[2, 3, 4, 5]"),
            // newlines, indentation and trailing commas everywhere
            S5[1]
                .replace(", ", ",\n    ")
                .replace("[(", "[\n  (")
                .replace(")]", "),\n]")
                .replace("6))", "6),\n)")
                .replace("0)", "0,)"),
            // keyword arguments in another order
            {
                let g = &canonical;
                format!(
                    "Genotype(reduce_concat=range(2, 6), reduce={}, normal_concat=[2,3,4,5], normal={})",
                    list(&g.reduce),
                    list(&g.normal)
                )
            },
            // positional arguments, a module prefix, list genes, list(range(..)), a tuple concat
            {
                let g = &canonical;
                format!(
                    "genotypes.Genotype({}, list(range(2, 6)), {}, (2, 3, 4, 5))",
                    list(&g.normal).replace('(', "[").replace(')', "]"),
                    list(&g.reduce)
                )
            },
            format!("  \n{}\n\t", S5[1]),
        ];
        fn list(genes: &[Gene]) -> String {
            let items: Vec<String> = genes.iter().map(|g| g.to_string()).collect();
            format!("[{}]", items.join(","))
        }
        for v in &variants {
            assert_eq!(darts(v), canonical, "{v}");
        }
        // range with one argument starts at 0, which is out of range for a concat.
        let one_arg = S5[1].replacen("range(2, 6)", "range(6)", 1);
        assert_eq!(
            DartsGenotype::parse_python(&one_arg),
            Err(GenotypeError::ConcatOutOfRange {
                cell: CellType::Normal,
                value: 0
            })
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
    fn json_forms() {
        let g = darts(DARTS_V2);
        let json = serde_json::to_string(&g).unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["normal"][0], serde_json::json!(["sep_conv_3x3", 0]));
        assert_eq!(v["reduce"][7], serde_json::json!(["max_pool_3x3", 1]));
        assert_eq!(v["normal_concat"], serde_json::json!([2, 3, 4, 5]));
        assert_eq!(serde_json::from_str::<DartsGenotype>(&json).unwrap(), g);
        assert_eq!(Genotype::parse(&json), Ok(Genotype::Darts(g.clone())));
        let either = serde_json::to_string(&Genotype::Darts(g.clone())).unwrap();
        assert_eq!(either, json, "Genotype serialises without a tag");
        assert_eq!(
            serde_json::from_str::<Genotype>(&either).unwrap(),
            Genotype::Darts(g)
        );

        let nb = Nb201Genotype::parse_arch(NB201_SAMPLE).unwrap();
        let json = serde_json::to_string(&nb).unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&json).unwrap()["ops"][2],
            "avg_pool_3x3"
        );
        assert_eq!(Genotype::parse(&json), Ok(Genotype::Nb201(nb)));
        assert_eq!(
            serde_json::from_str::<Genotype>(&json).unwrap(),
            Genotype::Nb201(nb)
        );
        let quoted = format!("\"{NB201_SAMPLE}\"");
        assert_eq!(Genotype::parse(&quoted), Ok(Genotype::Nb201(nb)));
        assert_eq!(serde_json::from_str::<Nb201Genotype>(&quoted).unwrap(), nb);

        // Deserialising checks the value and names the spot.
        let bad = r#"{"normal": [["sep_conv_3x3", 0], ["conv", 1]], "normal_concat": [2], "reduce": [], "reduce_concat": [2]}"#;
        assert_eq!(
            Genotype::parse(bad),
            Err(GenotypeError::UnknownOp {
                cell: CellType::Normal,
                gene: 1,
                op: "conv".into()
            })
        );
        let err = serde_json::from_str::<DartsGenotype>(bad).unwrap_err();
        assert!(
            err.to_string().contains("unknown operation 'conv'"),
            "{err}"
        );
        let short = r#"{"ops": ["none", "none"]}"#;
        assert_eq!(
            Genotype::parse(short),
            Err(GenotypeError::Nb201OpListLen { found: 2 })
        );
        assert!(matches!(
            Genotype::parse(r#"{"normal": 3}"#),
            Err(GenotypeError::Json(_))
        ));
        assert!(matches!(Genotype::parse("{"), Err(GenotypeError::Json(_))));
        assert!(matches!(
            Genotype::parse(r#"{"other": 1}"#),
            Err(GenotypeError::Json(_))
        ));
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

    /// Line and column (1-based) of the first occurrence of `needle` in `text`.
    fn position(text: &str, needle: &str) -> (usize, usize) {
        let at = text.find(needle).expect("needle present");
        let before = &text[..at];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    }

    #[test]
    fn darts_syntax_errors_give_positions() {
        // A list that is never closed: the cell's final ')' is the first closer that cannot
        // match, and the message points back at the list's opening bracket.
        let text = S5[0].replacen("('max_pool_3x3', 4)]", "('max_pool_3x3', 4)", 1);
        let (line, column) = position(&text, "[");
        let err = DartsGenotype::parse_python(&text).unwrap_err();
        assert!(matches!(err, GenotypeError::Unbalanced { .. }));
        assert!(
            err.to_string().ends_with(&format!(
                "')' closes the '[' opened at line {line}, column {column}"
            )),
            "{err}"
        );
        // A bracket still open at the end is reported where it opened.
        let text = format!("\n  {}", S5[0].strip_suffix(')').unwrap());
        assert_eq!(
            DartsGenotype::parse_python(&text),
            Err(GenotypeError::Unbalanced {
                line: 2,
                column: 11,
                message: "'(' is never closed".into()
            })
        );
        // A closer that does not match its opener.
        let text = "Genotype(normal=[('a', 0)), normal_concat=[2])";
        let err = DartsGenotype::parse_python(text).unwrap_err();
        assert!(
            err.to_string()
                .contains("line 1, column 26: ')' closes the '[' opened at line 1, column 17"),
            "{err}"
        );
        // A stray closer.
        let err = DartsGenotype::parse_python(&format!("{})", S5[0])).unwrap_err();
        assert!(err.to_string().contains("has no matching"), "{err}");

        let text = format!(
            "Genotype({}",
            &S5[0][S5[0].find("normal_concat").unwrap()..]
        );
        let err = DartsGenotype::parse_python(&text).unwrap_err();
        assert_eq!(err, GenotypeError::MissingArgument("normal"));
        assert_eq!(
            err.to_string(),
            "missing `normal=` argument in Genotype(...)"
        );
        let text = S5[0].replacen(", reduce_concat=range(2, 6)", "", 1);
        assert_eq!(
            DartsGenotype::parse_python(&text),
            Err(GenotypeError::MissingArgument("reduce_concat"))
        );

        // Garbage inside the text, on the second line.
        let text = S5[3].replacen(", reduce=", ",\n  reduce=[('skip_connect', 0) ; ", 1);
        let (line, column) = position(&text, ";");
        let err = DartsGenotype::parse_python(&text).unwrap_err();
        assert!(matches!(err, GenotypeError::Syntax { .. }));
        assert!(
            err.to_string().starts_with(&format!(
                "syntax error at line {line}, column {column}: unexpected character ';'"
            )),
            "{err}"
        );
        assert_eq!(line, 2);

        let cases: [(&str, &str); 8] = [
            ("Genotyp(normal=[])", "found 'Genotyp'"),
            (
                "Genotype(normal=[('a' 0)])",
                "expected ',' after the operation name",
            ),
            ("Genotype(normal=[(0, 0)])", "an operation name in quotes"),
            (
                "Genotype(normal=[('a', 0)], color=[2])",
                "unknown argument 'color'",
            ),
            ("Genotype(normal=[], normal=[])", "given twice"),
            ("Genotype(normal=[]) extra", "nothing after the closing ')'"),
            ("Genotype(normal=[('sep_conv_3x3, 0)])", "never closed"),
            (
                "Genotype(normal=[('a', 99999999999999999999999)])",
                "too large",
            ),
        ];
        for (text, expected) in cases {
            let err = DartsGenotype::parse_python(text).unwrap_err();
            assert!(err.to_string().contains(expected), "{text}: {err}");
            assert!(err.to_string().contains("column"), "{text}: {err}");
        }
        // Leading blank lines count when the form is auto-detected.
        let err = Genotype::parse(&format!("\n\n{text}")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("syntax error at line {}", line + 2)),
            "{err}"
        );
        let err = Genotype::parse("\n{\"normal\": [[\"sep_conv_3x3\", -1]]}").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        let err = Genotype::parse("").unwrap_err();
        assert!(err.to_string().contains("line 1, column 1"), "{err}");
    }

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

    #[test]
    fn validate_checks_family_and_none() {
        let mut g = darts(S5[2]);
        g.normal[0].op = OpKind::None;
        assert!(g.validate(&SpaceId::Darts.space()).is_err());
        g.validate(&SpaceId::Darts8.space()).unwrap();
        assert_eq!(
            g.validate(&SpaceId::Nb201.space()),
            Err(GenotypeError::WrongFamily {
                genotype: Family::Darts,
                space: SpaceId::Nb201
            })
        );
        let nb = Nb201Genotype::parse_arch(NB201_SAMPLE).unwrap();
        assert!(matches!(
            nb.validate(&SpaceId::Darts.space()),
            Err(GenotypeError::WrongFamily { .. })
        ));
        let mut other = nb;
        other.ops[4] = OpKind::SepConv3x3;
        match other.validate(&SpaceId::Nb201.space()) {
            Err(
                e @ GenotypeError::Nb201NotInSpace {
                    edge: 4,
                    to: 3,
                    from: 1,
                    ..
                },
            ) => {
                assert!(e.to_string().contains("'sep_conv_3x3'"), "{e}");
            }
            r => panic!("{r:?}"),
        }
        // A hand-built value with a wrong gene count fails validate too.
        let mut short = darts(S5[2]);
        short.reduce.pop();
        assert!(matches!(
            short.validate(&SpaceId::Darts.space()),
            Err(GenotypeError::GeneCount { found: 7, .. })
        ));
    }

    #[test]
    fn family_and_wrong_form() {
        assert_eq!(Genotype::parse(S5[0]).unwrap().family(), Family::Darts);
        assert_eq!(
            NB201_SAMPLE.parse::<DartsGenotype>(),
            Err(GenotypeError::WrongForm {
                expected: Family::Darts,
                found: Family::Nb201
            })
        );
        assert!(S5[0].parse::<Nb201Genotype>().is_err());
        assert_eq!(S5[0].parse::<DartsGenotype>(), Ok(darts(S5[0])));
        let g: Genotype = S5[3].parse().unwrap();
        assert_eq!(g.to_string(), S5[3]);
        g.validate(&SpaceId::Darts.space()).unwrap();
    }

    /// Hundreds of mutated and random texts: parsing must return, never panic, and whatever
    /// parses must print back to an equal value.
    #[test]
    fn fuzz_parsers_never_panic() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let darts_json = serde_json::to_string(&darts(S5[0])).unwrap();
        let nb_json =
            serde_json::to_string(&Nb201Genotype::parse_arch(NB201_SAMPLE).unwrap()).unwrap();
        let seeds: Vec<String> = published()
            .into_iter()
            .map(String::from)
            .chain([NB201_SAMPLE.to_string(), darts_json, nb_json])
            .collect();
        let alphabet: Vec<char> = "()[]{}'\",=|~+._ 0123456789abcdeglnoprstuvx\n\té\u{0}"
            .chars()
            .collect();
        let (mut ok, mut err) = (0, 0);
        for round in 0..1200 {
            let text: String = if round % 6 == 5 {
                (0..rng.below(80))
                    .map(|_| alphabet[rng.below(alphabet.len())])
                    .collect()
            } else {
                let mut chars: Vec<char> = seeds[rng.below(seeds.len())].chars().collect();
                for _ in 0..1 + rng.below(3) {
                    let at = rng.below(chars.len() + 1);
                    match rng.below(5) {
                        0 if at < chars.len() => {
                            chars.remove(at);
                        }
                        1 => chars.insert(at, alphabet[rng.below(alphabet.len())]),
                        2 if at < chars.len() => chars[at] = alphabet[rng.below(alphabet.len())],
                        3 => chars.truncate(at),
                        _ => chars.insert(at, ' '),
                    }
                }
                chars.into_iter().collect()
            };
            match Genotype::parse(&text) {
                Ok(g) => {
                    ok += 1;
                    assert_eq!(Genotype::parse(&g.to_string()), Ok(g.clone()), "{text}");
                    let json = serde_json::to_string(&g).unwrap();
                    assert_eq!(Genotype::parse(&json), Ok(g), "{text}");
                }
                Err(e) => {
                    err += 1;
                    assert!(!e.to_string().is_empty());
                }
            }
            let _ = Nb201Genotype::parse_arch(&text);
        }
        assert!(ok >= 20 && err >= 600, "ok {ok}, err {err}");
    }
}
