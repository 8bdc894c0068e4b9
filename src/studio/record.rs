//! A run directory as the studio reads it: every file parsed tolerantly, with a message for
//! each file that is missing or damaged instead of an error that hides the rest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use super::colormap::ValueRange;
use super::files::Files;
use crate::config::SearchConfig;
use crate::genotype::Genotype;
use crate::run::{AlphaRecord, MetricsRecord, RunDir, RunStatus};
use crate::select::{SelectionRecord, projection_of};
use crate::space::{CellType, SearchSpace};

/// Everything the panels show of one run.
#[derive(Clone, Debug)]
pub struct RunRecord {
    pub root: PathBuf,
    /// The directory's name, shown instead of the full path.
    pub name: String,
    pub config: Option<SearchConfig>,
    pub space: Option<SearchSpace>,
    pub status: Option<RunStatus>,
    pub metrics: Vec<MetricsRecord>,
    /// softmax(alpha) per epoch, only records whose shape matches the space.
    pub alphas: Vec<AlphaRecord>,
    pub selections: BTreeMap<String, SelectionRecord>,
    pub has_checkpoint: bool,
    /// What could not be read, for the user.
    pub problems: Vec<String>,
}

/// JSON lines of `bytes`; returns the records and how many non-empty lines were unreadable.
pub fn parse_jsonl<T: DeserializeOwned>(bytes: &[u8]) -> (Vec<T>, usize) {
    let text = String::from_utf8_lossy(bytes);
    let mut out = Vec::new();
    let mut bad = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str(line) {
            Ok(v) => out.push(v),
            Err(_) => bad += 1,
        }
    }
    (out, bad)
}

fn shape_ok(m: &[Vec<f32>], space: &SearchSpace) -> bool {
    m.len() == space.num_edges() && m.iter().all(|r| r.len() == space.num_ops())
}

impl RunRecord {
    /// Reads the run in `root` through `files`. Never fails: problems are collected.
    pub fn load(files: &dyn Files, root: &Path) -> RunRecord {
        let dir = RunDir::new(root);
        let name = root
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| root.display().to_string());
        let mut problems = Vec::new();

        let config = match files.read(&dir.config()) {
            Ok(b) => match toml::from_str::<SearchConfig>(&String::from_utf8_lossy(&b)) {
                Ok(c) => Some(c),
                Err(e) => {
                    problems.push(format!("config.toml cannot be read: {e}"));
                    None
                }
            },
            Err(_) if !files.exists(root) => {
                problems.push(format!("{}: no such directory", root.display()));
                None
            }
            Err(_) => {
                problems.push("no config.toml: this is not a darts-pt run directory".into());
                None
            }
        };
        let space = config.as_ref().map(|c| c.space.space());

        let status = match files.read(&dir.status()) {
            Ok(b) => match serde_json::from_slice::<RunStatus>(&b) {
                Ok(s) => Some(s),
                Err(e) => {
                    problems.push(format!("run.json cannot be read: {e}"));
                    None
                }
            },
            Err(_) => None,
        };

        let mut jsonl = |path: PathBuf, what: &str| -> Vec<u8> {
            match files.read(&path) {
                Ok(b) => b,
                Err(_) => {
                    if config.is_some() {
                        problems.push(format!("no {what} yet"));
                    }
                    Vec::new()
                }
            }
        };
        let metrics_bytes = jsonl(dir.metrics(), "metrics.jsonl");
        let alpha_bytes = jsonl(dir.alpha(), "alpha.jsonl");
        let (metrics, bad_m) = parse_jsonl::<MetricsRecord>(&metrics_bytes);
        let (mut alphas, bad_a) = parse_jsonl::<AlphaRecord>(&alpha_bytes);
        // A line being written while we read is normal; more than one is damage.
        if bad_m > 1 {
            problems.push(format!("metrics.jsonl: {bad_m} unreadable lines skipped"));
        }
        if bad_a > 1 {
            problems.push(format!("alpha.jsonl: {bad_a} unreadable lines skipped"));
        }
        if let Some(space) = &space {
            let before = alphas.len();
            alphas.retain(|a| {
                shape_ok(&a.normal, space)
                    && match (&a.reduce, space.cell_types().len()) {
                        (Some(r), 2) => shape_ok(r, space),
                        (None, 1) => true,
                        _ => false,
                    }
            });
            if alphas.len() < before {
                problems.push(format!(
                    "alpha.jsonl: {} records do not match the {} space and are skipped",
                    before - alphas.len(),
                    space.id
                ));
            }
        }

        let selections = match files.read(&root.join("selection.json")) {
            Ok(b) => match serde_json::from_slice::<BTreeMap<String, SelectionRecord>>(&b) {
                Ok(s) => s,
                Err(e) => {
                    problems.push(format!("selection.json cannot be read: {e}"));
                    BTreeMap::new()
                }
            },
            Err(_) => BTreeMap::new(),
        };

        RunRecord {
            root: root.to_path_buf(),
            name,
            has_checkpoint: files.exists(&dir.checkpoint()),
            config,
            space,
            status,
            metrics,
            alphas,
            selections,
            problems,
        }
    }

    /// Whether the run is still being written.
    pub fn is_running(&self) -> bool {
        self.status.as_ref().is_some_and(|s| s.state == "running")
    }

    /// A one-line description: space, method, preset, state.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(c) = &self.config {
            parts.push(format!("{} · {} · {}", c.space, c.method, c.preset));
        }
        if let Some(s) = &self.status {
            parts.push(format!("{} {}/{}", s.state, s.epoch, s.epochs));
        }
        if parts.is_empty() {
            "unreadable".into()
        } else {
            parts.join(" · ")
        }
    }

    /// The largest softmax weight over every epoch and cell (the top of the shared scale).
    pub fn alpha_max(&self) -> f32 {
        self.alphas
            .iter()
            .flat_map(|a| a.normal.iter().chain(a.reduce.iter().flatten()))
            .flatten()
            .copied()
            .filter(|v| v.is_finite())
            .fold(0.0, f32::max)
    }

    /// The smallest softmax weight over every epoch and cell.
    pub fn alpha_min(&self) -> f32 {
        self.alphas
            .iter()
            .flat_map(|a| a.normal.iter().chain(a.reduce.iter().flatten()))
            .flatten()
            .copied()
            .filter(|v| v.is_finite())
            .fold(f32::INFINITY, f32::min)
    }

    /// The range bars and colours span: 0 to the largest weight, or (stretched) the smallest to
    /// the largest weight of the run, which shows the small changes of a short search.
    pub fn alpha_range(&self, stretch: bool) -> ValueRange {
        let hi = ValueRange::up_to(self.alpha_max());
        let lo = self.alpha_min();
        if stretch && lo.is_finite() && lo < hi.max {
            ValueRange {
                min: lo,
                max: hi.max,
            }
        } else {
            hi
        }
    }

    /// The weights of one cell type in an alpha record.
    pub fn cell_weights(rec: &AlphaRecord, cell: CellType) -> Option<&Vec<Vec<f32>>> {
        match cell {
            CellType::Normal => Some(&rec.normal),
            CellType::Reduce => rec.reduce.as_ref(),
        }
    }
}

/// A selection as a per-edge choice for one cell type: `Some(op)` for a kept edge, `None` for
/// an edge the genotype does not use.
pub fn chosen_ops(
    rec: &SelectionRecord,
    space: &SearchSpace,
    cell: CellType,
) -> Option<Vec<Option<usize>>> {
    let g: Genotype = match &rec.genotype_json {
        Some(g) => g.clone(),
        None => Genotype::parse(rec.genotype.as_deref()?).ok()?,
    };
    if g.family() != space.family {
        return None;
    }
    let proj = projection_of(&g, space).ok()?;
    let ci = space.cell_types().iter().position(|c| *c == cell)?;
    let p = proj.get(ci)?;
    Some(
        (0..space.num_edges())
            .map(|e| if p.removed[e] { None } else { p.decided[e] })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_skips_damaged_lines_and_counts_them() {
        let (v, bad) = parse_jsonl::<serde_json::Value>(b"{\"a\":1}\n\n{\"a\":\n{\"b\":2}\n");
        assert_eq!(v.len(), 2);
        assert_eq!(bad, 1);
    }

    #[test]
    fn missing_directory_is_a_message_not_a_panic() {
        let r = RunRecord::load(
            &super::super::files::LocalFiles,
            Path::new("/nonexistent/darts-pt/run"),
        );
        assert!(r.config.is_none());
        assert!(
            r.problems[0].contains("no such directory"),
            "{:?}",
            r.problems
        );
    }
}
