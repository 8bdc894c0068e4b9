//! NAS-Bench-201 table lookup: the accuracy a selected NB201 cell reaches when trained in full,
//! read from a CSV export of the benchmark instead of retraining.
//!
//! The CSV needs the columns `CIFAR10TestAccuracy200Epochs`, `CIFAR100TestAccuracy200Epochs`,
//! `ImageNetTestAccuracy200Epochs` (percent) and `ArchitectureString`, found by header name in
//! any order; other columns are ignored. Fields are split on commas: the layout has no quoted
//! commas, and a field wrapped in double quotes has them removed.

use crate::genotype::{GenotypeError, Nb201Genotype};
use crate::space::{NB201_EDGES, OpKind};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Environment variable naming the table when no `--table PATH` is given.
pub const ENV_VAR: &str = "DARTS_PT_NB201";
/// Number of cells in the NAS-Bench-201 space (5 ops on 6 edges); a complete table has this
/// many rows.
pub const NB201_CELLS: usize = 15_625;

const COL_CIFAR10: &str = "CIFAR10TestAccuracy200Epochs";
const COL_CIFAR100: &str = "CIFAR100TestAccuracy200Epochs";
const COL_IMAGENET: &str = "ImageNetTestAccuracy200Epochs";
const COL_ARCH: &str = "ArchitectureString";

/// The benchmark's figures for one cell, with its CIFAR-10 rank among all rows of the table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Nb201Entry {
    pub arch: String,
    pub cifar10: f64,
    pub cifar100: f64,
    pub imagenet16_120: f64,
    /// 1 + the number of rows with a strictly higher CIFAR-10 accuracy (1 = best).
    pub rank_cifar10: usize,
    /// Rows in the table, the denominator of the rank.
    pub total: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    // Causes are in the messages, not also `source`s (a chained message would repeat them).
    #[error("cannot read NB201 table {}: {error}", .path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: line {line}: not valid CSV: {message}", .path.display())]
    Csv {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{}: the table is empty (no header line)", .path.display())]
    NoHeader { path: PathBuf },
    #[error("{}: line {line}: the header lacks column '{column}' (found: {found})", .path.display())]
    MissingColumn {
        path: PathBuf,
        line: usize,
        column: &'static str,
        found: String,
    },
    #[error("{}: line {line}: column '{column}' appears more than once in the header", .path.display())]
    DuplicateColumn {
        path: PathBuf,
        line: usize,
        column: &'static str,
    },
    #[error("{}: line {line}: expected at least {expected} comma-separated fields, found {found}", .path.display())]
    FieldCount {
        path: PathBuf,
        line: usize,
        expected: usize,
        found: usize,
    },
    #[error("{}: line {line}: column '{column}' holds '{value}', which is not a finite number", .path.display())]
    BadNumber {
        path: PathBuf,
        line: usize,
        column: &'static str,
        value: String,
    },
    #[error("{}: line {line}: bad architecture string: {error}", .path.display())]
    BadArch {
        path: PathBuf,
        line: usize,
        error: GenotypeError,
    },
    #[error("{}: line {line}: architecture {arch} already appeared on line {first_line}", .path.display())]
    DuplicateArch {
        path: PathBuf,
        line: usize,
        first_line: usize,
        arch: String,
    },
    #[error("{}: the table has a header but no rows", .path.display())]
    NoRows { path: PathBuf },
    #[error("architecture {arch} is not in the NB201 table {} ({rows} rows)", .path.display())]
    NotFound {
        arch: String,
        path: PathBuf,
        rows: usize,
    },
}

#[derive(Clone, Debug)]
struct Row {
    arch: Nb201Genotype,
    cifar10: f64,
    cifar100: f64,
    imagenet16_120: f64,
}

/// A loaded NAS-Bench-201 table, indexed by architecture.
#[derive(Clone, Debug)]
pub struct Nb201Table {
    source: PathBuf,
    rows: Vec<Row>,
    index: HashMap<[OpKind; NB201_EDGES], usize>,
    /// CIFAR-10 accuracies sorted best first, for ranks by binary search.
    cifar10_desc: Vec<f64>,
}

/// The configured table path: the explicit one, else a non-empty `env` value.
fn resolve_path(explicit: Option<&Path>, env: Option<OsString>) -> Option<PathBuf> {
    explicit
        .map(Path::to_path_buf)
        .or_else(|| env.filter(|v| !v.is_empty()).map(PathBuf::from))
}

impl Nb201Table {
    /// Reads the table from a CSV file.
    pub fn load(path: &Path) -> Result<Self, LookupError> {
        let text = crate::storage::read_to_string(path).map_err(|error| LookupError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        Self::from_csv(&text, path)
    }

    /// The table path the user configured: `explicit` (from `--table PATH`), else the
    /// `DARTS_PT_NB201` environment variable; `None` when neither is set.
    pub fn configured_path(explicit: Option<&Path>) -> Option<PathBuf> {
        resolve_path(explicit, std::env::var_os(ENV_VAR))
    }

    /// Loads the configured table; `None` when none is configured, since lookups are optional.
    pub fn from_env_or(explicit: Option<&Path>) -> Option<Result<Self, LookupError>> {
        Self::configured_path(explicit).map(|p| Self::load(&p))
    }

    /// Parses CSV text (RFC 4180: quoted fields may hold commas, quotes and line breaks);
    /// `source` only names the origin in error messages.
    pub fn from_csv(text: &str, source: &Path) -> Result<Self, LookupError> {
        let path = || source.to_path_buf();
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let mut records = reader.records().filter_map(|r| match r {
            // Lines of blanks only are skipped like empty ones.
            Ok(r) if r.iter().all(str::is_empty) => None,
            Ok(r) => Some(Ok((r.position().map_or(0, |p| p.line() as usize), r))),
            Err(e) => Some(Err(LookupError::Csv {
                path: path(),
                line: e.position().map_or(0, |p| p.line() as usize),
                message: e.to_string(),
            })),
        });
        let (header_line, header) = records
            .next()
            .ok_or_else(|| LookupError::NoHeader { path: path() })??;
        let column = |name: &'static str| -> Result<usize, LookupError> {
            let mut hits = header.iter().enumerate().filter(|(_, h)| *h == name);
            let (i, _) = hits.next().ok_or_else(|| LookupError::MissingColumn {
                path: path(),
                line: header_line,
                column: name,
                found: header.iter().collect::<Vec<_>>().join(", "),
            })?;
            if hits.next().is_some() {
                return Err(LookupError::DuplicateColumn {
                    path: path(),
                    line: header_line,
                    column: name,
                });
            }
            Ok(i)
        };
        let cols = [
            column(COL_CIFAR10)?,
            column(COL_CIFAR100)?,
            column(COL_IMAGENET)?,
            column(COL_ARCH)?,
        ];
        let needed = cols.iter().max().map_or(0, |m| m + 1);

        let mut rows = Vec::new();
        let mut index = HashMap::new();
        let mut row_lines = Vec::new();
        for record in records {
            let (line, f) = record?;
            if f.len() < needed {
                return Err(LookupError::FieldCount {
                    path: path(),
                    line,
                    expected: needed,
                    found: f.len(),
                });
            }
            let number = |col: usize, name: &'static str| -> Result<f64, LookupError> {
                let value = &f[col];
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| LookupError::BadNumber {
                        path: path(),
                        line,
                        column: name,
                        value: value.to_string(),
                    })
            };
            let cifar10 = number(cols[0], COL_CIFAR10)?;
            let cifar100 = number(cols[1], COL_CIFAR100)?;
            let imagenet16_120 = number(cols[2], COL_IMAGENET)?;
            let arch =
                Nb201Genotype::parse_arch(&f[cols[3]]).map_err(|error| LookupError::BadArch {
                    path: path(),
                    line,
                    error,
                })?;
            if let Some(&first) = index.get(&arch.ops) {
                return Err(LookupError::DuplicateArch {
                    path: path(),
                    line,
                    first_line: row_lines[first],
                    arch: arch.to_arch_string(),
                });
            }
            index.insert(arch.ops, rows.len());
            row_lines.push(line);
            rows.push(Row {
                arch,
                cifar10,
                cifar100,
                imagenet16_120,
            });
        }
        if rows.is_empty() {
            return Err(LookupError::NoRows { path: path() });
        }
        let mut cifar10_desc: Vec<f64> = rows.iter().map(|r| r.cifar10).collect();
        cifar10_desc.sort_by(|a, b| b.total_cmp(a));
        Ok(Nb201Table {
            source: source.to_path_buf(),
            rows,
            index,
            cifar10_desc,
        })
    }

    /// Number of rows (architectures) in the table.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Whether every NB201 cell is present; a partial table still answers, but its ranks are
    /// only among the rows it has, which is worth a warning.
    pub fn is_complete(&self) -> bool {
        self.rows.len() == NB201_CELLS
    }

    /// Where the table was read from.
    pub fn source(&self) -> &Path {
        &self.source
    }

    fn entry(&self, row: &Row) -> Nb201Entry {
        let higher = self.cifar10_desc.partition_point(|&v| v > row.cifar10);
        Nb201Entry {
            arch: row.arch.to_arch_string(),
            cifar10: row.cifar10,
            cifar100: row.cifar100,
            imagenet16_120: row.imagenet16_120,
            rank_cifar10: higher + 1,
            total: self.rows.len(),
        }
    }

    /// The benchmark's figures for `g`; an architecture missing from the table is an error.
    pub fn query(&self, g: &Nb201Genotype) -> Result<Nb201Entry, LookupError> {
        self.index
            .get(&g.ops)
            .map(|&i| self.entry(&self.rows[i]))
            .ok_or_else(|| LookupError::NotFound {
                arch: g.to_arch_string(),
                path: self.source.clone(),
                rows: self.rows.len(),
            })
    }

    /// Every row, in file order.
    pub fn entries(&self) -> impl Iterator<Item = Nb201Entry> + '_ {
        self.rows.iter().map(|r| self.entry(r))
    }

    /// The row with the highest CIFAR-10 accuracy (the first such row on ties).
    pub fn best_cifar10(&self) -> Option<Nb201Entry> {
        self.rows
            .iter()
            .reduce(|best, r| if r.cifar10 > best.cifar10 { r } else { best })
            .map(|r| self.entry(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    const TABLE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/nb201/nats_bench_tss_200ep.csv"
    );
    const BEST: &str = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|";
    const ALL_SKIP: &str = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|";
    const A: &str = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|";
    const B: &str = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|";
    const C: &str = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|";
    const D: &str = "|avg_pool_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|skip_connect~2|";

    /// The real table, loaded once (the tests that use it are ignored where it is absent).
    fn real_table() -> &'static Nb201Table {
        static TABLE_CELL: OnceLock<Nb201Table> = OnceLock::new();
        TABLE_CELL.get_or_init(|| {
            Nb201Table::load(Path::new(TABLE)).expect("the shared NB201 table loads")
        })
    }

    fn arch(s: &str) -> Nb201Genotype {
        Nb201Genotype::parse_arch(s).unwrap()
    }

    fn small(text: &str) -> Result<Nb201Table, LookupError> {
        Nb201Table::from_csv(text, Path::new("small.csv"))
    }

    fn round2(x: f64) -> f64 {
        (x * 100.0).round() / 100.0
    }

    #[test]
    #[cfg_attr(
        not(has_nb201_table),
        ignore = "needs ../shared/nb201/nats_bench_tss_200ep.csv"
    )]
    fn real_table_facts() {
        let table = real_table();
        assert_eq!(table.len(), NB201_CELLS);
        assert!(table.is_complete());
        let best = table.query(&arch(BEST)).unwrap();
        assert_eq!(round2(best.cifar10), 94.37);
        assert_eq!(best.rank_cifar10, 1);
        assert_eq!(best.total, NB201_CELLS);
        assert_eq!(best.arch, BEST);
        assert_eq!(table.best_cifar10().unwrap(), best);
        let skip = table.query(&arch(ALL_SKIP)).unwrap();
        assert_eq!(
            (
                round2(skip.cifar10),
                round2(skip.cifar100),
                round2(skip.imagenet16_120)
            ),
            (54.30, 15.61, 16.32)
        );
        let mean = table.entries().map(|e| e.cifar10).sum::<f64>() / table.len() as f64;
        assert_eq!(round2(mean), 87.06);
    }

    #[test]
    #[cfg_attr(
        not(has_nb201_table),
        ignore = "needs ../shared/nb201/nats_bench_tss_200ep.csv"
    )]
    fn real_table_ranks_and_queries_agree() {
        let table = real_table();
        let entries: Vec<Nb201Entry> = table.entries().collect();
        let mut by_rank = 0;
        for (i, e) in entries.iter().enumerate() {
            // Every row is found again from its printed arch string.
            assert_eq!(&table.query(&arch(&e.arch)).unwrap(), e);
            if i % 97 == 0 {
                let higher = entries.iter().filter(|o| o.cifar10 > e.cifar10).count();
                assert_eq!(e.rank_cifar10, higher + 1, "{}", e.arch);
            }
            by_rank = by_rank.max(e.rank_cifar10);
        }
        assert!(by_rank <= table.len());
    }

    #[test]
    fn entry_serialises_with_the_documented_fields() {
        let t = small(&format!(
            "CIFAR10TestAccuracy200Epochs,CIFAR100TestAccuracy200Epochs,ImageNetTestAccuracy200Epochs,ArchitectureString\n90.5,70,40,{C}\n"
        ))
        .unwrap();
        let v = serde_json::to_value(t.query(&arch(C)).unwrap()).unwrap();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "arch",
                "cifar10",
                "cifar100",
                "imagenet16_120",
                "rank_cifar10",
                "total"
            ]
        );
        assert_eq!(v["cifar10"], 90.5);
        assert_eq!(v["arch"], C);
    }

    #[test]
    fn columns_by_name_quotes_crlf_and_ties() {
        let text = format!(
            "\u{feff}Extra,ArchitectureString,ImageNetTestAccuracy200Epochs,CIFAR100TestAccuracy200Epochs,CIFAR10TestAccuracy200Epochs\r\n\
             x,{A},10,20,90\r\n\
             y,\"{B}\",11,21,95\r\n\
             \r\n\
             z,{C},12,22,95\r\n\
             w,{D},13,23,80\r\n"
        );
        let t = small(&text).unwrap();
        assert_eq!(t.len(), 4);
        assert!(!t.is_complete());
        let ranks: Vec<usize> = [A, B, C, D]
            .iter()
            .map(|a| t.query(&arch(a)).unwrap().rank_cifar10)
            .collect();
        assert_eq!(ranks, [3, 1, 1, 4]);
        let b = t.query(&arch(B)).unwrap();
        assert_eq!(
            (b.cifar10, b.cifar100, b.imagenet16_120),
            (95.0, 21.0, 11.0)
        );
        assert_eq!(b.total, 4);
        assert_eq!(
            t.best_cifar10().unwrap().arch,
            B,
            "first of the tied best rows"
        );
        let missing = t.query(&arch(BEST)).unwrap_err();
        assert!(matches!(missing, LookupError::NotFound { rows: 4, .. }));
        assert!(missing.to_string().contains(BEST), "{missing}");
    }

    /// A pandas export: an unnamed index column, and quoted fields holding commas, quotes
    /// and a line break (the line numbers count physical lines).
    #[test]
    fn quoted_fields_may_hold_commas_quotes_and_line_breaks() {
        let text = format!(
            ",{HEADER},Note\n\
             0,90,70,40,{A},u,\"cell, exported by pandas\"\n\
             1,91,71,41,\"{B}\",u,\"said \"\"best\"\"\nover two lines\"\n\
             2,92,72,42,{C},u,\"x, y\"\n\
             3,93,7x,43,{D},u,\"x, y\"\n"
        );
        let err = small(&text).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "small.csv: line 6: column 'CIFAR100TestAccuracy200Epochs' holds '7x'"
            ),
            "{err}"
        );
        let t = small(text.rsplit_once("3,93").unwrap().0).unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(t.query(&arch(B)).unwrap().cifar10, 91.0);
        assert_eq!(t.query(&arch(C)).unwrap().cifar100, 72.0);
    }

    const HEADER: &str = "CIFAR10TestAccuracy200Epochs,CIFAR100TestAccuracy200Epochs,ImageNetTestAccuracy200Epochs,ArchitectureString,UniqueString";

    #[test]
    fn malformed_tables_name_the_line() {
        let cases: Vec<(String, &str)> = vec![
            (
                format!(
                    "CIFAR10TestAccuracy200Epochs,CIFAR100,ImageNetTestAccuracy200Epochs,ArchitectureString\n90,70,40,{A}\n"
                ),
                "small.csv: line 1: the header lacks column 'CIFAR100TestAccuracy200Epochs'",
            ),
            (
                format!("{HEADER}\n90,70,40,{A},u\n91,7O,41,{B},u\n"),
                "small.csv: line 3: column 'CIFAR100TestAccuracy200Epochs' holds '7O'",
            ),
            (
                format!("{HEADER}\n90,NaN,40,{A},u\n"),
                "small.csv: line 2: column 'CIFAR100TestAccuracy200Epochs' holds 'NaN'",
            ),
            (
                format!("{HEADER}\n90,70,40,|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|,u\n"),
                "small.csv: line 2: bad architecture string: unknown operation 'conv' at node 1",
            ),
            (
                format!("{HEADER}\n90,70,40,{A},u\n91,71,41,{B},u\n92,72,42,{A},u\n"),
                "small.csv: line 4: architecture |none~0|+|none~0|none~1|+|none~0|none~1|none~2| already appeared on line 2",
            ),
            (
                format!("{HEADER}\n90,70,40\n"),
                "small.csv: line 2: expected at least 4 comma-separated fields, found 3",
            ),
            (
                format!("{HEADER}\n\n"),
                "small.csv: the table has a header but no rows",
            ),
            ("\n  \n".to_string(), "small.csv: the table is empty"),
            (
                format!("{HEADER},ArchitectureString\n"),
                "small.csv: line 1: column 'ArchitectureString' appears more than once",
            ),
        ];
        for (text, expected) in cases {
            let err = small(&text).unwrap_err();
            assert!(
                err.to_string().starts_with(expected),
                "{err}\nwanted: {expected}"
            );
        }
    }

    /// A scratch file under the system temp dir, removed on drop.
    struct TempFile(PathBuf);
    impl TempFile {
        fn new(name: &str, contents: &str) -> Self {
            let path = std::env::temp_dir()
                .join(format!("darts-pt-lookup-{}-{name}.csv", std::process::id()));
            std::fs::write(&path, contents).unwrap();
            TempFile(path)
        }
    }
    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn load_reports_the_file_and_line() {
        let f = TempFile::new(
            "bad-arch",
            &format!("{HEADER}\n90,70,40,{A},u\n91,71,41,|none~0|+|none~0|,u\n"),
        );
        let err = Nb201Table::load(&f.0).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!("{}: line 3:", f.0.display())),
            "{msg}"
        );
        assert!(matches!(err, LookupError::BadArch { line: 3, .. }));

        let good = TempFile::new("good", &format!("{HEADER}\n90,70,40,{A},u\n"));
        let t = Nb201Table::load(&good.0).unwrap();
        assert_eq!((t.len(), t.source()), (1, good.0.as_path()));

        let absent = good.0.with_extension("absent");
        let err = Nb201Table::load(&absent).unwrap_err();
        assert!(matches!(err, LookupError::Io { .. }));
        assert!(
            err.to_string().contains(&absent.display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn table_path_configuration() {
        let explicit = Path::new("/explicit.csv");
        let env = Some(OsString::from("/from-env.csv"));
        assert_eq!(
            resolve_path(Some(explicit), env.clone()),
            Some(explicit.to_path_buf())
        );
        assert_eq!(
            resolve_path(None, env),
            Some(PathBuf::from("/from-env.csv"))
        );
        assert_eq!(resolve_path(None, Some(OsString::new())), None);
        assert_eq!(resolve_path(None, None), None);

        let f = TempFile::new("configured", &format!("{HEADER}\n90,70,40,{B},u\n"));
        let t = Nb201Table::from_env_or(Some(&f.0)).unwrap().unwrap();
        assert_eq!(t.query(&arch(B)).unwrap().cifar10, 90.0);
        let missing = f.0.with_extension("missing");
        assert!(matches!(
            Nb201Table::from_env_or(Some(&missing)),
            Some(Err(LookupError::Io { .. }))
        ));
    }

    /// Mutated tables must produce a table or an error, never a panic.
    #[test]
    fn fuzz_csv_never_panics() {
        let base = format!("{HEADER}\n90,70,40,{A},u\n91.5,71,41,{B},u\n92,72,42,{C},u\n");
        let alphabet: Vec<char> = ",\n\r\"|~+.-0123456789eaNn_ x".chars().collect();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n.max(1) as u64) as usize
        };
        let (mut ok, mut err) = (0, 0);
        for _ in 0..400 {
            let mut chars: Vec<char> = base.chars().collect();
            for _ in 0..1 + next(3) {
                let at = next(chars.len() + 1);
                match next(5) {
                    0 if at < chars.len() => {
                        chars.remove(at);
                    }
                    1 => chars.insert(at, alphabet[next(alphabet.len())]),
                    2 if at < chars.len() => chars[at] = alphabet[next(alphabet.len())],
                    3 => chars.truncate(at),
                    _ => chars.insert(at, ' '),
                }
            }
            let text: String = chars.into_iter().collect();
            match small(&text) {
                Ok(t) => {
                    ok += 1;
                    assert!(!t.is_empty());
                    for e in t.entries() {
                        assert!(e.rank_cifar10 >= 1 && e.rank_cifar10 <= e.total);
                    }
                }
                Err(e) => {
                    err += 1;
                    assert!(e.to_string().starts_with("small.csv"), "{e}");
                }
            }
        }
        assert!(ok >= 10 && err >= 200, "ok {ok}, err {err}");
    }
}
