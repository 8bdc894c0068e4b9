//! `darts-pt demo`: the paper's experiment in miniature. Search an NB201 supernet with DARTS on
//! the bundled Fashion-MNIST subset, then select the cell by alpha's magnitude and by PT from
//! the same supernet, and show both side by side.

use std::path::PathBuf;

use anyhow::Result;

use crate::config::{Method, Preset, SearchConfig};
use crate::device::SelectedDevice;
use crate::job::{Control, Event};
use crate::progress::Progress;
use crate::report::side_by_side;
use crate::run::RunDir;
use crate::search::{SearchEnd, run_search};
use crate::select::pt::Criterion;
use crate::select::{SelectMethod, SelectRequest, SelectionRecord, run_select};
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

/// Runs (or continues) the demo; returns magnitude's and PT's records and the report.
pub fn run_demo(
    req: &DemoRequest,
    device: &SelectedDevice,
    progress: &mut Progress,
    control: &Control,
) -> Result<Option<(SelectionRecord, SelectionRecord, String)>> {
    let mut cfg = SearchConfig::preset(SpaceId::Nb201, Method::Darts, req.preset);
    cfg.seed = req.seed;
    cfg.data.path = req.data.clone();
    if let Some(e) = req.epochs {
        cfg.epochs = e;
    }
    cfg.device = crate::device::DeviceChoice::Auto;
    let run = RunDir::new(&req.out);
    let finished = run.read_status().is_some_and(|s| s.state == "finished");
    let mut sink = |e: &Event| progress.on_event(e);
    if !finished {
        let resume = run.config().exists();
        if resume {
            sink(&Event::Note(format!(
                "continuing the demo run in {}",
                run.root.display()
            )));
        }
        match run_search(&cfg, &req.out, resume, device, &mut sink, control)? {
            SearchEnd::Finished => {}
            SearchEnd::Interrupted { .. } => return Ok(None),
            SearchEnd::Diverged { epoch, step } => {
                anyhow::bail!("the demo search diverged at epoch {epoch}, step {step}")
            }
        }
    } else {
        sink(&Event::Note(format!(
            "reusing the finished search in {}",
            run.root.display()
        )));
    }
    let select = |method: SelectMethod| SelectRequest {
        run: req.out.clone(),
        method,
        criterion: Criterion::Acc,
        fixed_alpha: false,
        resume: true,
        out: None,
        tune_epochs: None,
        seed: None,
        table: req.table.clone(),
    };
    let Some(mag) = run_select(&select(SelectMethod::Magnitude), device, &mut sink, control)?
    else {
        return Ok(None);
    };
    let Some(pt) = run_select(&select(SelectMethod::Pt), device, &mut sink, control)? else {
        return Ok(None);
    };
    let report = side_by_side(&mag.record, &pt.record);
    Ok(Some((mag.record, pt.record, report)))
}
