//! The Python-literal lexer and parser that reads the `Genotype(...)` text DARTS and DARTS-PT
//! print, with line and column in every error.

use super::darts::{DartsGenotype, RawDarts, RawGene};
use super::error::GenotypeError;

/// Longest `range(...)` concat expanded; anything longer is out of range anyway, and the cap
/// keeps a hostile `range(0, 10**18)` from allocating.
const MAX_RANGE: usize = 64;

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

pub(super) fn parse_python(text: &str) -> Result<DartsGenotype, GenotypeError> {
    let tokens = lex(text)?;
    check_brackets(&tokens)?;
    Parser {
        toks: &tokens,
        pos: 0,
    }
    .genotype()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genotype::samples::{DARTS_V2, S5, darts};
    use crate::genotype::{Gene, Genotype};
    use crate::space::{CellType, OpKind};

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
}
