//! `?demo=tiny`: the tiny demo on its own (search, then magnitude and PT on the same
//! supernet), shown live in the studio; its result goes to `<pre id="darts-pt-result">` for
//! automation. Each stage is one of the studio's jobs, started when the previous one ends.

use std::cell::{Cell, RefCell};
use std::path::PathBuf;

use serde::Serialize;
use web_time::Instant;

use super::page;
use crate::config::Preset;
use crate::demo::SELECTIONS;
use crate::run::RunReader;
use crate::search::SearchStart;
use crate::select::SelectRequest;
use crate::studio::Panel;
use crate::studio::StudioApp;
use crate::studio::jobs::JobSpec;
use crate::studio::panels::runs::RUNS_DIR;

/// The demo's run, in the page's folder of runs.
const DEMO_RUN: &str = "demo-tiny";

/// What `<pre id="darts-pt-result">` holds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Outcome {
    /// "done" or "error".
    pub state: String,
    /// The adapter that computed, or "cpu".
    pub backend: String,
    pub seconds: f64,
    pub magnitude: Option<String>,
    pub pt: Option<String>,
    /// The supernet's held-out accuracy before and after each discretisation.
    pub supernet_acc: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Outcome {
    pub fn error(backend: &str, seconds: f64, error: String) -> Outcome {
        Outcome {
            state: "error".into(),
            backend: backend.into(),
            seconds,
            error: Some(error),
            ..Outcome::default()
        }
    }

    /// Writes it into the page.
    pub fn publish(&self) {
        page::set_result(&serde_json::to_string_pretty(self).unwrap_or_default());
    }
}

/// The demo in progress.
pub struct Demo {
    dir: PathBuf,
    /// Selections started so far (of [`SELECTIONS`], after the search).
    stage: usize,
}

thread_local! {
    /// The running demo's start and backend, until its outcome is published; read by
    /// [`fail`], which a panic may call from anywhere.
    static RUNNING: RefCell<Option<(Instant, String)>> = const { RefCell::new(None) };
    static PUBLISHED: Cell<bool> = const { Cell::new(false) };
}

/// Publishes the outcome once: the first end, error or not, is the demo's.
fn finish(outcome: impl FnOnce(f64, String) -> Outcome) {
    if PUBLISHED.replace(true) {
        return;
    }
    let (seconds, backend) = RUNNING.take().map_or((0.0, String::new()), |(t, b)| {
        (t.elapsed().as_secs_f64(), b)
    });
    outcome(seconds, backend).publish();
}

/// Ends the demo (running or not yet started) with an error.
pub fn fail(message: String) {
    finish(|seconds, backend| Outcome::error(&backend, seconds, message));
}

impl Demo {
    /// Clears an earlier demo run and starts the search.
    pub fn start(app: &mut StudioApp, backend: String) -> Demo {
        let dir = PathBuf::from(RUNS_DIR).join(DEMO_RUN);
        let _ = crate::storage::remove_dir_all(&dir);
        let config = crate::demo::search_config(Preset::Tiny);
        app.start_job(JobSpec::Search(Box::new(SearchStart::New {
            config: Box::new(config),
            dir: dir.clone(),
        })));
        app.set_panel(Panel::Cell);
        RUNNING.set(Some((Instant::now(), backend)));
        Demo { dir, stage: 0 }
    }

    /// Called every frame: starts the next stage when a job has ended, publishes the outcome
    /// at the end.
    pub fn advance(&mut self, app: &mut StudioApp) {
        if PUBLISHED.get() {
            return;
        }
        let Some(outcome) = app.jobs().last().and_then(|j| j.outcome.clone()) else {
            return;
        };
        if let Err(e) = outcome {
            return fail(e);
        }
        let Some(&method) = SELECTIONS.get(self.stage) else {
            app.set_panel(Panel::Selection);
            return finish(|seconds, backend| self.outcome(seconds, backend));
        };
        self.stage += 1;
        app.start_job(JobSpec::Select(SelectRequest {
            resume: true,
            ..SelectRequest::new(&self.dir, method)
        }));
        app.set_panel(Panel::Selection);
    }

    fn outcome(&self, seconds: f64, backend: String) -> Outcome {
        let selections = match RunReader::local(&self.dir).selections() {
            Ok(s) => s,
            Err(e) => return Outcome::error(&backend, seconds, format!("{e:#}")),
        };
        let acc = |label: &str| {
            selections.get(label).map(|s| {
                serde_json::json!({
                    "before": s.supernet_acc_before,
                    "after": s.supernet_acc_after,
                })
            })
        };
        Outcome {
            state: "done".into(),
            backend,
            seconds,
            magnitude: selections.get("magnitude").and_then(|s| s.genotype.clone()),
            pt: selections.get("pt").and_then(|s| s.genotype.clone()),
            supernet_acc: Some(serde_json::json!({
                "magnitude": acc("magnitude"),
                "pt": acc("pt"),
            })),
            error: None,
        }
    }
}
