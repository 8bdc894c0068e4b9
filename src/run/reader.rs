//! The one reader of run directories, over [`Files`]: the CLI, the experiment and the studio
//! all read runs through it. Reading never trusts a file: a missing or damaged one is reported
//! by name, and a run written by a newer darts-pt is refused with the version it needs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use super::dir::RunDir;
use super::events::{Decision, RunEvent};
use super::files::{Files, LocalFiles};
use super::records::{AlphaRecord, FORMAT, MetricsRecord, RunState, RunStatus, TrainResult};
use super::selection::{SelectionRecord, SgasDecision};
use crate::config::SearchConfig;
use crate::space::{CellType, SearchSpace};

/// A file of a run that is damaged, or from a newer darts-pt.
#[derive(Debug, thiserror::Error)]
#[error("{}: {why}", crate::storage::text::path(path))]
pub struct FileError {
    pub path: PathBuf,
    pub why: String,
}

impl FileError {
    fn new(path: &Path, why: impl ToString) -> Self {
        FileError {
            path: path.to_path_buf(),
            why: why.to_string(),
        }
    }

    /// "selection.json cannot be read: ..." (the file's name, not its whole path).
    pub fn brief(&self) -> String {
        let name = self
            .path
            .file_name()
            .map(|n| crate::storage::text::path(Path::new(n)))
            .unwrap_or_default();
        format!("{name} cannot be read: {}", self.why)
    }
}

/// Reads the files of one run directory.
pub struct RunReader<'a> {
    files: &'a dyn Files,
    pub dir: RunDir,
}

impl<'a> RunReader<'a> {
    pub fn new(files: &'a dyn Files, root: &Path) -> Self {
        RunReader {
            files,
            dir: RunDir::new(root),
        }
    }

    /// A reader of the local disk.
    pub fn local(root: &Path) -> RunReader<'static> {
        RunReader::new(&LocalFiles, root)
    }

    fn read(&self, path: &Path) -> Option<Vec<u8>> {
        self.files.read(path).ok()
    }

    /// Whether the directory holds a run (its `config.toml`).
    pub fn is_run(&self) -> bool {
        self.files.exists(&self.dir.config())
    }

    pub fn has_checkpoint(&self) -> bool {
        self.files.exists(&self.dir.checkpoint())
    }

    /// `run.json`, if written; refused when it is damaged or from a newer layout.
    pub fn status(&self) -> Result<Option<RunStatus>, FileError> {
        self.check_format()?;
        let path = self.dir.status();
        let Some(bytes) = self.read(&path) else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| FileError::new(&path, e))
    }

    /// Refuses a run whose `run.json` says it was written in a newer layout than this build
    /// reads. A missing or damaged `run.json` passes: a job rewrites it.
    pub fn check_format(&self) -> Result<(), FileError> {
        #[derive(serde::Deserialize)]
        struct Format {
            #[serde(default)]
            format: u32,
        }
        let path = self.dir.status();
        let Some(f) = self
            .read(&path)
            .and_then(|b| serde_json::from_slice::<Format>(&b).ok())
        else {
            return Ok(());
        };
        if f.format > FORMAT {
            return Err(FileError::new(
                &path,
                format!(
                    "written by a newer darts-pt (run format {}; this build reads formats up to {FORMAT}); update darts-pt to open this run",
                    f.format
                ),
            ));
        }
        Ok(())
    }

    /// Whether the run's job has finished (a missing or unreadable status means no).
    pub fn is_finished(&self) -> bool {
        matches!(self.status(), Ok(Some(s)) if s.state == RunState::Finished)
    }

    /// The settings of a search run.
    pub fn search_config(&self) -> Result<SearchConfig, FileError> {
        self.toml(&self.dir.config())
    }

    /// A TOML file of the run as `T`.
    pub fn toml<T: DeserializeOwned>(&self, path: &Path) -> Result<T, FileError> {
        let bytes = self.files.read(path).map_err(|e| FileError::new(path, e))?;
        let text = crate::storage::text::utf8(&bytes).map_err(|e| FileError::new(path, e))?;
        toml::from_str(text).map_err(|e| FileError::new(path, e))
    }

    /// Every readable line of a JSON-lines file, and how many non-empty lines were not.
    pub fn lines<T: DeserializeOwned>(&self, path: &Path) -> (Vec<T>, usize) {
        parse_jsonl(&self.read(path).unwrap_or_default())
    }

    /// `selection.json` (label -> record); empty when no selection was made yet.
    pub fn selections(&self) -> Result<BTreeMap<String, SelectionRecord>, FileError> {
        let path = self.dir.selections();
        match self.read(&path) {
            None => Ok(BTreeMap::new()),
            Some(b) => serde_json::from_slice(&b).map_err(|e| FileError::new(&path, e)),
        }
    }

    /// SGAS's decisions during the search, in order, from `events.jsonl` (none for other
    /// methods; unreadable lines are skipped).
    pub fn sgas_decisions(&self) -> Vec<SgasDecision> {
        let (events, _) = self.lines::<RunEvent>(&self.dir.events());
        events
            .into_iter()
            .filter_map(|e| match e {
                RunEvent::Decision(Decision::SgasDecision { decision }) => Some(decision),
                _ => None,
            })
            .collect()
    }

    /// The completed selection recorded under `label`, if any.
    pub fn finished_selection(&self, label: &str) -> Option<SelectionRecord> {
        self.selections().ok()?.remove(label).filter(|r| r.complete)
    }

    /// A finished training run's `result.json`.
    pub fn result(&self) -> Option<TrainResult> {
        serde_json::from_slice(&self.read(&self.dir.result())?).ok()
    }
}

/// JSON lines of `bytes`; returns the records and how many non-empty lines were unreadable.
pub fn parse_jsonl<T: DeserializeOwned>(bytes: &[u8]) -> (Vec<T>, usize) {
    let mut out = Vec::new();
    let mut bad = 0;
    let lines = bytes.split(|&b| b == b'\n');
    for line in lines.filter(|l| !l.trim_ascii().is_empty()) {
        // A line that is not UTF-8 is a damaged line (JSON is UTF-8).
        match serde_json::from_slice(line) {
            Ok(v) => out.push(v),
            Err(_) => bad += 1,
        }
    }
    (out, bad)
}

/// Everything the studio shows of one search run, read tolerantly: each file that is missing
/// or damaged adds a message instead of hiding the rest.
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
    /// SGAS's decisions made during the search (SGAS+PT's carry PT's measurements).
    pub sgas_decisions: Vec<SgasDecision>,
    pub has_checkpoint: bool,
    /// What could not be read, for the user.
    pub problems: Vec<String>,
}

fn shape_ok(m: &[Vec<f32>], space: &SearchSpace) -> bool {
    m.len() == space.num_edges() && m.iter().all(|r| r.len() == space.num_ops())
}

impl RunRecord {
    /// Reads the run in `root` through `files`. Never fails: problems are collected.
    pub fn load(files: &dyn Files, root: &Path) -> RunRecord {
        let reader = RunReader::new(files, root);
        let dir = &reader.dir;
        let name = root
            .file_name()
            .map(|n| crate::storage::text::path(Path::new(n)))
            .unwrap_or_else(|| crate::storage::text::path(root));
        let mut problems = Vec::new();

        let config = if !files.exists(root) {
            problems.push(format!(
                "{}: no such directory",
                crate::storage::text::path(root)
            ));
            None
        } else if !reader.is_run() {
            problems.push("no config.toml: this is not a darts-pt run directory".into());
            None
        } else {
            match reader.search_config() {
                Ok(c) => Some(c),
                Err(e) => {
                    problems.push(e.brief());
                    None
                }
            }
        };
        let space = config.as_ref().map(|c| c.space.space());

        let status = reader.status().unwrap_or_else(|e| {
            problems.push(e.brief());
            None
        });

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

        let mut sgas_decisions = reader.sgas_decisions();
        if let Some(space) = &space {
            let before = sgas_decisions.len();
            sgas_decisions.retain(|d| d.fits(space));
            if sgas_decisions.len() < before {
                problems.push(format!(
                    "events.jsonl: {} SGAS decisions do not match the {} space and are skipped",
                    before - sgas_decisions.len(),
                    space.id
                ));
            }
        }

        let selections = reader.selections().unwrap_or_else(|e| {
            problems.push(e.brief());
            BTreeMap::new()
        });

        RunRecord {
            root: root.to_path_buf(),
            name,
            has_checkpoint: reader.has_checkpoint(),
            config,
            space,
            status,
            metrics,
            alphas,
            selections,
            sgas_decisions,
            problems,
        }
    }

    /// Whether the run is still being written.
    pub fn is_running(&self) -> bool {
        self.status
            .as_ref()
            .is_some_and(|s| s.state == RunState::Running)
    }

    /// The largest softmax weight over every epoch and cell.
    pub fn alpha_max(&self) -> f32 {
        self.alpha_values().fold(0.0, f32::max)
    }

    /// The smallest softmax weight over every epoch and cell.
    pub fn alpha_min(&self) -> f32 {
        self.alpha_values().fold(f32::INFINITY, f32::min)
    }

    fn alpha_values(&self) -> impl Iterator<Item = f32> + '_ {
        self.alphas
            .iter()
            .flat_map(|a| a.normal.iter().chain(a.reduce.iter().flatten()))
            .flatten()
            .copied()
            .filter(|v| v.is_finite())
    }

    /// The weights of one cell type in an alpha record.
    pub fn cell_weights(rec: &AlphaRecord, cell: CellType) -> Option<&Vec<Vec<f32>>> {
        match cell {
            CellType::Normal => Some(&rec.normal),
            CellType::Reduce => rec.reduce.as_ref(),
        }
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
        let r = RunRecord::load(&LocalFiles, Path::new("/nonexistent/darts-pt/run"));
        assert!(r.config.is_none());
        assert!(
            r.problems[0].contains("no such directory"),
            "{:?}",
            r.problems
        );
    }

    #[test]
    fn sgas_decisions_that_do_not_fit_the_space_are_skipped_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        std::fs::write(run.config(), "space = \"darts\"\n").unwrap();
        let line = |cell: &str, edge: usize, candidates: &str| {
            format!(
                r#"{{"event":"sgas_decision","decision":{{"epoch":2,"cell":"{cell}","edge":{edge},"op":1,"op_name":"avg_pool_3x3","score":0.5,"pruned":[],"pt":{{"candidates":{candidates},"acc_without":[0.5,0.4],"loss_without":[1.0,1.1],"magnitude_op":0}}}}}}"#
            )
        };
        let lines = [
            line("normal", 3, "[0,1]"),
            line("reduce", 14, "[0,1]"),
            line("normal", 3, "[0,7]"),
            line("middle", 3, "[0,1]"),
        ];
        std::fs::write(run.events(), lines.join("\n")).unwrap();
        assert_eq!(RunReader::local(dir.path()).sgas_decisions().len(), 4);
        let rec = RunRecord::load(&LocalFiles, dir.path());
        assert_eq!(rec.sgas_decisions.len(), 1);
        assert_eq!(rec.sgas_decisions[0].overridden_by_pt(), Some(true));
        assert!(
            rec.problems
                .iter()
                .any(|p| p.contains("3 SGAS decisions do not match the darts space")),
            "{:?}",
            rec.problems
        );
    }

    #[test]
    fn a_run_from_a_newer_layout_is_refused_and_an_older_one_read() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        std::fs::write(run.config(), "space = \"nb201\"\n").unwrap();
        let old = r#"{"kind":"search","state":"finished","epoch":1,"epochs":1,"device":"cpu","message":""}"#;
        std::fs::write(run.status(), old).unwrap();
        let s = RunReader::local(dir.path()).status().unwrap().unwrap();
        assert_eq!((s.format, s.state), (1, RunState::Finished));
        RunDir::open(dir.path()).unwrap();

        let newer = old.replace("{\"kind\"", "{\"format\":99,\"kind\"");
        std::fs::write(run.status(), newer).unwrap();
        let err = RunDir::open(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("newer darts-pt") && err.contains("99"),
            "{err}"
        );
        let rec = RunRecord::load(&LocalFiles, dir.path());
        assert!(
            rec.problems.iter().any(|p| p.contains("newer darts-pt")),
            "{:?}",
            rec.problems
        );

        // A damaged run.json is reported by the reader but does not stop a job from taking
        // the run over (it rewrites the file).
        std::fs::write(run.status(), "{\"kind\":").unwrap();
        RunDir::open(dir.path()).unwrap();
        assert!(RunReader::local(dir.path()).status().is_err());
    }
}
