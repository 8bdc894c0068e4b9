//! The chosen cells as pictures beside the report: the studio's selection panel of each
//! search run (its selections side by side, the edges where they differ marked, PT's
//! decisions on the left), rendered offscreen as `darts-pt studio RUN --panel selection
//! --screenshot` does, into `cells/seedS-SEARCHER.png`.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};

use super::{Plan, Searcher, search_dir};
use crate::run::RunReader;
use crate::studio::{ComputePref, Launch, Panel, StudioOptions, launch};

/// Where a search run's picture goes.
pub fn cell_picture(out: &Path, seed: u64, searcher: Searcher) -> PathBuf {
    out.join("cells")
        .join(format!("seed{seed}-{}.png", searcher.name()))
}

/// Renders the picture of every search run with a finished selection that has none yet.
/// Returns the pictures there are, as (seed, searcher, path); an error when rendering failed
/// (no graphics adapter, for one), after trying each.
pub fn render_cells(
    out: &Path,
    seeds: &[u64],
    plan: &Plan,
) -> (Vec<(u64, Searcher, PathBuf)>, Result<()>) {
    let mut done = Vec::new();
    let mut failure = Ok(());
    for &seed in seeds {
        for searcher in plan.searchers() {
            let run = search_dir(out, seed, searcher);
            let reader = RunReader::local(&run);
            let labels = plan.arms().into_iter().filter(|a| a.searcher() == searcher);
            if !labels
                .into_iter()
                .any(|a| reader.finished_selection(a.selection_label()).is_some())
            {
                continue;
            }
            let png = cell_picture(out, seed, searcher);
            if !png.exists()
                && let Err(e) = screenshot(&run, &png)
            {
                failure = Err(e);
                continue;
            }
            done.push((seed, searcher, png));
        }
    }
    (done, failure)
}

/// The selection panel of `run`, offscreen, into `png`.
fn screenshot(run: &Path, png: &Path) -> Result<()> {
    if let Some(dir) = png.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let opts = StudioOptions {
        runs: vec![run.to_path_buf()],
        panel: Some(Panel::Selection),
        table: None,
        compute: ComputePref::Cpu,
        recent_file: None,
        masks: Vec::new(),
        capture: None,
        browse_dir: None,
        gpu_compute: None,
        host: None,
        remote: None,
    };
    let how = Launch {
        size: (1400.0, 1600.0),
        screenshot: Some(png.to_path_buf()),
        scale: 1.0,
        window: false,
    };
    // A missing or broken graphics driver may panic inside the renderer: the report stands
    // without the pictures.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| launch(opts, &how)))
        .map_err(|_| anyhow!("the renderer failed for {}", run.display()))?
}
