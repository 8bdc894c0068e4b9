//! `darts-pt demo`: the paper's experiment in miniature. Search an NB201 supernet with DARTS on
//! the bundled Fashion-MNIST subset, then select the cell by alpha's magnitude and by PT from
//! the same supernet, and show both side by side.

use std::path::PathBuf;

use anyhow::{Result, bail};

use crate::config::{Method, Preset, SearchConfig, SelectMethod};
use crate::device::{DeviceChoice, SelectedDevice};
use crate::job::{Control, End, Event};
use crate::progress::Progress;
use crate::report::side_by_side;
use crate::run::{RunReader, SelectionRecord};
use crate::search::{SearchStart, run_search};
use crate::select::{SelectRequest, run_select};
use crate::space::SpaceId;

/// What the demo runs.
#[derive(Clone, Debug)]
pub struct DemoRequest {
    pub out: PathBuf,
    pub preset: Preset,
    pub data: Option<PathBuf>,
    pub seed: u64,
    pub epochs: Option<usize>,
    pub table: Option<PathBuf>,
}

/// The demo's search: DARTS on the NB201 supernet at `preset`'s size.
pub fn search_config(preset: Preset) -> SearchConfig {
    SearchConfig::preset(SpaceId::Nb201, Method::Darts, preset)
}

/// The selections the demo compares, in the order it runs them.
pub const SELECTIONS: [SelectMethod; 2] = [SelectMethod::Magnitude, SelectMethod::Pt];

/// Runs (or continues) the demo; returns magnitude's and PT's records and the report, or
/// `None` when it was interrupted.
pub fn run_demo(
    req: &DemoRequest,
    device: &SelectedDevice,
    progress: &mut Progress,
    control: &Control,
) -> Result<Option<(SelectionRecord, SelectionRecord, String)>> {
    let mut cfg = search_config(req.preset);
    cfg.seed = req.seed;
    cfg.data.path = req.data.clone();
    if let Some(e) = req.epochs {
        cfg.epochs = e;
    }
    cfg.device = DeviceChoice::Auto;
    let reader = RunReader::local(&req.out);
    let mut sink = |e: &Event| progress.on_event(e);
    if reader.is_finished() {
        sink(&Event::Note(format!(
            "reusing the finished search in {}",
            req.out.display()
        )));
    } else {
        let start = if reader.is_run() {
            sink(&Event::Note(format!(
                "continuing the demo run in {}",
                req.out.display()
            )));
            SearchStart::Resume {
                dir: req.out.clone(),
            }
        } else {
            SearchStart::New {
                config: Box::new(cfg),
                dir: req.out.clone(),
            }
        };
        match run_search(start, device, &mut sink, control)? {
            End::Finished(()) => {}
            End::Interrupted { .. } => return Ok(None),
            End::Diverged { epoch, step } => {
                bail!(
                    "the demo search stopped: {}",
                    crate::job::divergence(epoch, step)
                )
            }
        }
    }
    let mut select = |method: SelectMethod| {
        let req = SelectRequest {
            resume: true,
            table: req.table.clone(),
            ..SelectRequest::new(&req.out, method)
        };
        run_select(&req, device, &mut sink, control).map(End::finished)
    };
    let [magnitude, pt] = SELECTIONS;
    let Some(mag) = select(magnitude)? else {
        return Ok(None);
    };
    let Some(pt) = select(pt)? else {
        return Ok(None);
    };
    let report = side_by_side(&mag.record, &pt.record);
    Ok(Some((mag.record, pt.record, report)))
}
