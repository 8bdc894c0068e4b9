//! `darts-pt export`: a search run's supernet back to the official code, as safetensors with the
//! official `state_dict()` names and shapes, so `load_state_dict(..., strict=True)` takes it.
//!
//! Written into the output directory:
//! - `supernet.safetensors`: the state dict (BatchNorm's `num_batches_tracked`, which this
//!   crate does not count, as 0);
//! - `alpha.safetensors`: α as `alpha.0` (normal) and `alpha.1` (reduce), the checkpoint's
//!   `alpha` list (the official models keep α outside their state dict);
//! - `genotype.txt`: the selection's genotype, or α's magnitude genotype.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::tensor::TensorData;
use safetensors::Dtype;
use safetensors::tensor::TensorView;

use super::names::{ALPHA_NAMES, ALPHA_PATHS, supernet_layout};
use crate::checkpoint::Checkpoint;
use crate::nn::InputShape;
use crate::nn::supernet::SupernetConfig;
use crate::run::{RunDir, RunReader};

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

/// What was written.
#[derive(Clone, Debug)]
pub struct Exported {
    pub files: Vec<PathBuf>,
    pub tensors: usize,
    pub genotype: String,
}

/// One named tensor for a safetensors file: dtype, shape, little-endian bytes.
type Raw = (Dtype, Vec<usize>, Vec<u8>);

fn f32_raw(data: &TensorData) -> Result<Raw> {
    let v = data.clone().convert::<f32>().try_to_vec::<f32>()?;
    let bytes = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    Ok((Dtype::F32, data.shape().to_vec(), bytes))
}

/// The transpose of a 2-D tensor (burn's `[in, out]` linear weight to PyTorch's `[out, in]`).
fn transposed(data: &TensorData) -> Result<TensorData> {
    let [rows, cols] = [data.shape()[0], data.shape()[1]];
    let v = data.clone().convert::<f32>().try_to_vec::<f32>()?;
    let t = (0..rows * cols)
        .map(|i| v[(i % rows) * cols + i / rows])
        .collect();
    Ok(TensorData::new(t, [cols, rows]))
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

/// Exports the supernet of a search run.
pub fn export_run(req: &ExportRequest) -> Result<Exported> {
    let run = RunDir::open(&req.run)?;
    let reader = RunReader::local(&req.run);
    let cfg = reader.search_config().with_context(|| {
        format!(
            "{}: not a search run (export writes supernets)",
            req.run.display()
        )
    })?;
    let space = cfg.space.space();
    let (ckpt_path, genotype) = match &req.selection {
        Some(label) => {
            let text = crate::storage::read(&run.genotype(label))
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .with_context(|| {
                    format!("{}: the run has no selection '{label}'", req.run.display())
                })?;
            let tuned = run.selection_checkpoint(label);
            let ckpt = match crate::storage::exists(&tuned) {
                true => tuned,
                false => run.checkpoint(),
            };
            (ckpt, text.trim().to_string())
        }
        None => (run.checkpoint(), String::new()),
    };
    if !crate::storage::exists(&ckpt_path) {
        bail!("{}: the run has no checkpoint yet", req.run.display());
    }
    let ckpt = Checkpoint::load(&ckpt_path)?;
    let model = ckpt.section("model");
    let config = SupernetConfig {
        space: cfg.space,
        channels: cfg.channels,
        layers: cfg.layers,
        input: InputShape::CIFAR10,
    };
    let mut state_dict = BTreeMap::new();
    let layout = supernet_layout(&config);
    for e in &layout {
        let raw = match &e.ours {
            Some(ours) => {
                let data = model
                    .get(ours)
                    .with_context(|| format!("{}: no tensor '{ours}'", ckpt_path.display()))?;
                f32_raw(&if e.transpose {
                    transposed(data)?
                } else {
                    data.clone()
                })?
            }
            None => (Dtype::I64, Vec::new(), 0i64.to_le_bytes().to_vec()),
        };
        state_dict.insert(e.official.clone(), raw);
    }
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
    std::fs::create_dir_all(&req.out).with_context(|| format!("{}", req.out.display()))?;
    let meta = HashMap::from([
        ("format".to_string(), "pt".to_string()),
        ("darts_pt_space".to_string(), cfg.space.to_string()),
        ("darts_pt_channels".to_string(), cfg.channels.to_string()),
        ("darts_pt_layers".to_string(), cfg.layers.to_string()),
    ]);
    let files = vec![
        req.out.join("supernet.safetensors"),
        req.out.join("alpha.safetensors"),
        req.out.join("genotype.txt"),
    ];
    write_safetensors(&files[0], &state_dict, meta.clone())?;
    write_safetensors(&files[1], &alpha, meta)?;
    crate::storage::write_atomic(&files[2], format!("{genotype}\n").as_bytes())
        .with_context(|| format!("{}", files[2].display()))?;
    Ok(Exported {
        files,
        tensors: state_dict.len(),
        genotype,
    })
}
