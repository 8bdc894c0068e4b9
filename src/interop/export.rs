//! `darts-pt export`: a run's network back to the official code, as safetensors with the official
//! `state_dict()` names and shapes, so `load_state_dict(..., strict=True)` takes it.
//!
//! Written into the output directory, for a search run:
//! - `supernet.safetensors`: the supernet's state dict;
//! - `alpha.safetensors`: α as `alpha.0` (normal) and `alpha.1` (reduce), the checkpoint's
//!   `alpha` list (the official models keep α outside their state dict);
//!
//! for a training run:
//! - `network.safetensors`: the state dict of the official evaluation network of its genotype;
//!
//! and for both `genotype.txt` (a selection's, α's magnitude genotype, or the trained one) and
//! `export.json` (what to build in PyTorch: class, C, layers, classes, auxiliary head).
//! BatchNorm's `num_batches_tracked`, which this crate does not count, is written as 0.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::tensor::TensorData;
use safetensors::Dtype;
use safetensors::tensor::TensorView;

use super::names::{
    ALPHA_NAMES, ALPHA_PATHS, Entry, NetworkShape, network_layout, supernet_layout,
};
use crate::checkpoint::Checkpoint;
use crate::config::TrainConfig;
use crate::genotype::Genotype;
use crate::nn::InputShape;
use crate::nn::supernet::SupernetConfig;
use crate::run::{RunDir, RunKind, RunReader};
use crate::space::Family;

/// What to export.
#[derive(Clone, Debug)]
pub struct ExportRequest {
    pub run: PathBuf,
    /// The directory to write.
    pub out: PathBuf,
    /// A selection whose tuned supernet (PT's) and genotype are exported instead of the
    /// search's.
    pub selection: Option<String>,
}

/// What was written, and what to build in PyTorch to load it (`export.json`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Exported {
    /// The official class: `TinyNetworkDartsProj`, `DartsNetworkProj` (supernets), `Network`
    /// (`sota/cnn/model.py`) or NAS-Bench-201's `TinyNetwork` (discrete networks).
    pub class: String,
    pub space: String,
    pub channels: usize,
    /// DARTS: cells L; NB201: cells per stage N.
    pub layers: usize,
    pub classes: usize,
    pub auxiliary: bool,
    pub genotype: String,
    pub tensors: usize,
    pub files: Vec<PathBuf>,
}

/// One named tensor for a safetensors file: dtype, shape, little-endian bytes.
type Raw = (Dtype, Vec<usize>, Vec<u8>);

fn f32_raw(data: &TensorData) -> Result<Raw> {
    let v = data.clone().convert::<f32>().try_to_vec::<f32>()?;
    let bytes = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    Ok((Dtype::F32, data.shape().to_vec(), bytes))
}

fn write_safetensors(
    path: &Path,
    tensors: &BTreeMap<String, Raw>,
    meta: HashMap<String, String>,
) -> Result<()> {
    let views = tensors
        .iter()
        .map(|(name, (dtype, shape, bytes))| {
            TensorView::new(*dtype, shape.clone(), bytes)
                .map(|v| (name.clone(), v))
                .map_err(|e| anyhow::anyhow!("{name}: {e}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let bytes = safetensors::serialize(views, Some(meta))?;
    crate::storage::write_atomic(path, &bytes).with_context(|| format!("{}", path.display()))
}

/// The official state dict: every layout entry from this crate's tensors (`model`, paths
/// without a prefix).
fn state_dict(
    layout: &[Entry],
    model: &BTreeMap<String, TensorData>,
    source: &Path,
) -> Result<BTreeMap<String, Raw>> {
    let mut out = BTreeMap::new();
    for e in layout {
        let raw = match &e.ours {
            Some(ours) => {
                let data = model
                    .get(ours)
                    .with_context(|| format!("{}: no tensor '{ours}'", source.display()))?;
                f32_raw(&e.reoriented(data))?
            }
            None => (Dtype::I64, Vec::new(), 0i64.to_le_bytes().to_vec()),
        };
        out.insert(e.official.clone(), raw);
    }
    Ok(out)
}

/// Exports the network of a run: a search run's supernet, or a training run's network.
pub fn export_run(req: &ExportRequest) -> Result<Exported> {
    let run = RunDir::open(&req.run)?;
    let reader = RunReader::local(&req.run);
    let kind = reader.status()?.map(|s| s.kind);
    let mut done = match kind {
        Some(RunKind::Train) => export_network(req, &run, &reader)?,
        _ => export_supernet(req, &run, &reader)?,
    };
    let json = req.out.join("export.json");
    done.files.push(json.clone());
    let text = serde_json::to_string_pretty(&done)? + "\n";
    crate::storage::write_atomic(&json, text.as_bytes())
        .with_context(|| format!("{}", json.display()))?;
    Ok(done)
}

fn export_supernet(req: &ExportRequest, run: &RunDir, reader: &RunReader) -> Result<Exported> {
    let cfg = reader.search_config()?;
    let space = cfg.space.space();
    let (ckpt_path, genotype) = match &req.selection {
        Some(label) => {
            let (genotype, checkpoint) = crate::select::selection_source(run, label)?;
            (checkpoint, genotype)
        }
        None => (run.checkpoint(), String::new()),
    };
    if !crate::storage::exists(&ckpt_path) {
        bail!("{}: the run has no checkpoint yet", req.run.display());
    }
    let model = Checkpoint::load(&ckpt_path)?.section("model");
    let config = SupernetConfig {
        space: cfg.space,
        channels: cfg.channels,
        layers: cfg.layers,
        input: InputShape::CIFAR10,
    };
    let state = state_dict(&supernet_layout(&config), &model, &ckpt_path)?;
    let mut alpha = BTreeMap::new();
    let mut probs = Vec::new();
    for (c, path) in ALPHA_PATHS
        .iter()
        .enumerate()
        .take(space.cell_types().len())
    {
        let a = model
            .get(*path)
            .with_context(|| format!("{}: no tensor '{path}'", ckpt_path.display()))?;
        alpha.insert(ALPHA_NAMES[c].to_string(), f32_raw(a)?);
        let ops = a.shape()[1];
        let v = a.clone().convert::<f32>().try_to_vec::<f32>()?;
        probs.push(
            v.chunks(ops)
                .map(super::import::softmax)
                .collect::<Vec<_>>(),
        );
    }
    let genotype = match genotype.is_empty() {
        true => crate::select::magnitude::derive(&probs, &space)
            .0
            .to_string(),
        false => genotype,
    };
    let classes = model
        .get(if space.family == Family::Nb201 {
            "net.Nb201.ends.classifier.bias"
        } else {
            "net.Darts.classifier.bias"
        })
        .map(|t| t.shape()[0])
        .unwrap_or(0);
    let files = write_files(
        req,
        &cfg.space.to_string(),
        &[
            ("supernet.safetensors", &state),
            ("alpha.safetensors", &alpha),
        ],
        &genotype,
    )?;
    Ok(Exported {
        class: match space.family {
            Family::Nb201 => "TinyNetworkDartsProj",
            Family::Darts => "DartsNetworkProj",
        }
        .into(),
        space: cfg.space.to_string(),
        channels: cfg.channels,
        layers: cfg.layers,
        classes,
        auxiliary: false,
        genotype,
        tensors: state.len(),
        files,
    })
}

fn export_network(req: &ExportRequest, run: &RunDir, reader: &RunReader) -> Result<Exported> {
    if req.selection.is_some() {
        bail!(
            "{}: a training run has no selections; --selection is for search runs",
            req.run.display()
        );
    }
    let cfg: TrainConfig = reader.toml(&run.config())?;
    let genotype: Genotype = cfg
        .genotype
        .parse()
        .with_context(|| format!("{}: genotype '{}'", run.config().display(), cfg.genotype))?;
    if !crate::storage::exists(&run.checkpoint()) {
        bail!("{}: the run has no checkpoint yet", req.run.display());
    }
    let model = Checkpoint::load(&run.checkpoint())?.section("model");
    let auxiliary = model.contains_key("Darts.aux.classifier.bias");
    let shape = NetworkShape {
        genotype: &genotype,
        channels: cfg.channels,
        layers: cfg.layers,
        auxiliary,
    };
    let state = state_dict(&network_layout(&shape), &model, &run.checkpoint())?;
    let classes = model
        .get(match genotype {
            Genotype::Darts(_) => "Darts.classifier.bias",
            Genotype::Nb201(_) => "Nb201.ends.classifier.bias",
        })
        .map(|t| t.shape()[0])
        .unwrap_or(0);
    let text = genotype.to_string();
    let files = write_files(
        req,
        &cfg.space.to_string(),
        &[("network.safetensors", &state)],
        &text,
    )?;
    Ok(Exported {
        class: match genotype {
            Genotype::Darts(_) => "Network",
            Genotype::Nb201(_) => "TinyNetwork",
        }
        .into(),
        space: cfg.space.to_string(),
        channels: cfg.channels,
        layers: cfg.layers,
        classes,
        auxiliary,
        genotype: text,
        tensors: state.len(),
        files,
    })
}

/// Writes the safetensors files and `genotype.txt` into the output directory.
fn write_files(
    req: &ExportRequest,
    space: &str,
    tensors: &[(&str, &BTreeMap<String, Raw>)],
    genotype: &str,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(&req.out).with_context(|| format!("{}", req.out.display()))?;
    let meta = HashMap::from([
        ("format".to_string(), "pt".to_string()),
        ("darts_pt_space".to_string(), space.to_string()),
    ]);
    let mut files = Vec::new();
    for (name, t) in tensors {
        let path = req.out.join(name);
        write_safetensors(&path, t, meta.clone())?;
        files.push(path);
    }
    let path = req.out.join("genotype.txt");
    crate::storage::write_atomic(&path, format!("{genotype}\n").as_bytes())
        .with_context(|| format!("{}", path.display()))?;
    files.push(path);
    Ok(files)
}
