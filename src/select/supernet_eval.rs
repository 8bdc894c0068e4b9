//! `darts-pt eval` on a search run: the supernet's accuracy and loss on the test split or the
//! held-out half, with its current α or with a selection's discretisation, BatchNorm on batch
//! statistics (how PT scores) or on running statistics. Images in file order, no augmentation.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use super::projection::projection_of;
use crate::checkpoint::Checkpoint;
use crate::config::SearchConfig;
use crate::data::Dataset;
use crate::device::SelectedDevice;
use crate::genotype::Genotype;
use crate::nn::bn::BnMode;
use crate::nn::supernet::{CellProjection, weight_plans};
use crate::run::{RunDir, RunReader};
use crate::search::{EvalPass, PassSetup, load_search_data, restore_supernet};

/// Which images the supernet is evaluated on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Split {
    /// The dataset's test split.
    Test,
    /// The held-out half of the search's training images (where α and PT's scores are trained
    /// and measured).
    Heldout,
}

/// Which BatchNorm statistics the evaluation uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BnStats {
    /// Each batch's own statistics (PyTorch train(), how PT scores; running statistics untouched).
    Batch,
    /// The running statistics (PyTorch eval()).
    Running,
}

/// What to evaluate.
#[derive(Clone, Debug)]
pub struct SupernetEval {
    pub run: PathBuf,
    pub split: Split,
    pub bn: BnStats,
    /// A selection's label: its discretisation (and, for PT, its tuned supernet).
    pub selection: Option<String>,
    /// Another dataset's test split (or held-out half) than the run's.
    pub data: Option<PathBuf>,
    pub batch_size: usize,
}

/// The result, as `--json` prints it.
#[derive(Clone, Debug, Serialize)]
pub struct SupernetReport {
    pub run: String,
    pub space: String,
    pub epoch: usize,
    /// "alpha" (softmax(α) as searched), or the selection's label.
    pub weights: String,
    pub genotype: Option<String>,
    pub split: Split,
    pub bn: BnStats,
    pub dataset: String,
    pub images: usize,
    pub loss: f64,
    pub accuracy: f64,
}

/// Evaluates the supernet of a search run.
pub fn eval_supernet(req: &SupernetEval, device: &SelectedDevice) -> Result<SupernetReport> {
    let run = RunDir::open(&req.run)?;
    let reader = RunReader::local(&req.run);
    let mut cfg: SearchConfig = reader.search_config()?;
    if let Some(p) = &req.data {
        cfg.data.path = Some(p.clone());
        cfg.data.dataset = None;
    }
    let space = cfg.space.space();
    let mut data = load_search_data(&cfg.data)?;
    let (checkpoint, projections, genotype) = match &req.selection {
        None => (run.checkpoint(), None, None),
        Some(label) => {
            let (text, ckpt) = super::selection_source(&run, label)?;
            let genotype = Genotype::parse(&text)
                .with_context(|| format!("{}", run.genotype(label).display()))?;
            let proj = projection_of(&genotype, &space)?;
            (ckpt, Some(proj), Some(genotype.to_string()))
        }
    };
    if !crate::storage::exists(&checkpoint) {
        bail!("{}: the run has no checkpoint yet", req.run.display());
    }
    let ckpt = Checkpoint::load(&checkpoint)?;
    let epoch = ckpt.state["epoch"].as_u64().unwrap_or(0) as usize;
    let (model, _, _) = restore_supernet(&cfg, data.input, &ckpt, &device.device)
        .with_context(|| format!("{}", checkpoint.display()))?;
    let indices: Vec<u32> = match req.split {
        Split::Heldout => data.alpha_half.to_vec(),
        Split::Test => {
            let test = test_split(&cfg)?;
            let n = test.len() as u32;
            data.train = Arc::new(test);
            (0..n).collect()
        }
    };
    let projections = projections
        .unwrap_or_else(|| vec![CellProjection::new(space.num_edges()); space.cell_types().len()]);
    let plans = weight_plans(&projections, space.num_ops(), None);
    let setup = PassSetup {
        batch_size: req.batch_size,
        augment: None,
        bn: match req.bn {
            BnStats::Batch => BnMode::Batch,
            BnStats::Running => BnMode::Eval,
        },
        prefetch: true,
    };
    let probs = model.probabilities();
    let pass = EvalPass::new(
        &model,
        &probs,
        &plans,
        &data,
        &indices,
        setup,
        &device.device,
    );
    let (loss, accuracy) = pollster::block_on(pass.run_paced());
    Ok(SupernetReport {
        run: req.run.display().to_string(),
        space: cfg.space.to_string(),
        epoch,
        weights: req.selection.clone().unwrap_or_else(|| "alpha".into()),
        genotype,
        split: req.split,
        bn: req.bn,
        dataset: data.dataset_name.clone(),
        images: indices.len(),
        loss,
        accuracy,
    })
}

/// The test split of a run's dataset.
fn test_split(cfg: &SearchConfig) -> Result<crate::data::ImageSet> {
    let ds = Dataset::open_named(cfg.data.path.as_deref(), cfg.data.dataset.as_deref())?;
    ds.test.with_context(|| {
        format!(
            "{}: the dataset has no test split; use --split heldout",
            ds.source
        )
    })
}

/// True when `dir` holds a search run (its config is a search's).
pub fn is_search_run(dir: &Path) -> bool {
    RunReader::local(dir)
        .status()
        .ok()
        .flatten()
        .is_some_and(|s| s.kind == crate::run::RunKind::Search)
}
