//! Reading a checkpoint file of the official DARTS-PT code with burn's PyTorch reader.
//!
//! The training scripts save `{epoch, state_dict, alpha: [normal, reduce], optimizer,
//! arch_optimizer, scheduler}` with `torch.save`; a bare `state_dict()` is accepted too, and α
//! may come from a second file. Nothing here knows which network the tensors belong to: that
//! is [`super::names`]'s and [`super::import`]'s business.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::store::pytorch_reader::{self as pt, PickleValue, PytorchReader};
use burn::tensor::{DType, TensorData};

/// A tensor of the file, with the dtype it had there (`num_batches_tracked` is an integer).
#[derive(Clone, Debug)]
pub struct FileTensor {
    pub shape: Vec<usize>,
    /// As f32, for floating-point tensors; `None` for integer ones.
    pub data: Option<TensorData>,
}

/// What the official training scripts' checkpoint holds, by kind.
#[derive(Debug, Default)]
pub struct OfficialCheckpoint {
    /// The network's state dict by official name (a `DataParallel` `module.` prefix removed).
    pub state_dict: BTreeMap<String, FileTensor>,
    /// α per cell type (normal first), when the file has it.
    pub alpha: Vec<TensorData>,
    /// The file α came from.
    pub alpha_path: PathBuf,
    /// Epochs completed, when saved.
    pub epoch: Option<usize>,
    /// The weight optimiser's momentum buffers, by index in its parameter list.
    pub momentum: BTreeMap<usize, TensorData>,
    /// The α optimiser's Adam moments (first, second) and step count, by index (cell type).
    pub adam: BTreeMap<usize, (TensorData, TensorData, u64)>,
    /// Numbers of the saved optimisers and scheduler (`optimizer.lr`, `scheduler.T_max`, ...).
    pub settings: BTreeMap<String, f64>,
    /// Operations already decided by an official projection in progress (the projection
    /// phase's own checkpoints hold `proj_weights` and `candidate_flags`).
    pub projected_ops: usize,
}

/// The names under which a separately saved α may appear, normal first.
const ALPHA_KEYS: [&[&str]; 2] = [
    &["alpha.0", "0", "alphas_normal", "_arch_parameters"],
    &["alpha.1", "1", "alphas_reduce"],
];

fn open(path: &Path) -> Result<PytorchReader> {
    if !path.is_file() {
        bail!("{}: no such file", path.display());
    }
    PytorchReader::new(path).map_err(|e| {
        anyhow::anyhow!(
            "{}: not a PyTorch checkpoint (a file written by torch.save): {e}",
            path.display()
        )
    })
}

/// The tensor's values as f32, or `None` for an integer tensor.
fn read(t: &pt::Tensor, file: &Path) -> Result<FileTensor> {
    let dtype = match t.dtype() {
        pt::DType::F32 => DType::F32,
        pt::DType::F64 => DType::F64,
        pt::DType::F16 => DType::F16,
        pt::DType::BF16 => DType::BF16,
        _ => {
            return Ok(FileTensor {
                shape: t.shape().to_vec(),
                data: None,
            });
        }
    };
    let bytes = t
        .read()
        .with_context(|| format!("{}: reading tensor '{}'", file.display(), t.name))?;
    let data = TensorData::from_bytes_vec(bytes, t.shape().to_vec(), dtype).convert::<f32>();
    Ok(FileTensor {
        shape: t.shape().to_vec(),
        data: Some(data),
    })
}

/// Every tensor of a torch.save file, or of a safetensors file (a state dict saved with
/// `safetensors.torch.save_file`, or `darts-pt export`'s), by name.
/// The second value says whether the file is a torch.save one (which may hold more than tensors).
fn load_tensors(path: &Path) -> Result<(BTreeMap<String, FileTensor>, bool)> {
    if let Some(tensors) = load_safetensors(path)? {
        return Ok((tensors, false));
    }
    let reader = open(path)?;
    let tensors = reader
        .tensors()
        .iter()
        .map(|(name, t)| Ok((name.clone(), read(t, path)?)))
        .collect::<Result<_>>()?;
    Ok((tensors, true))
}

/// A safetensors file opens with its header's length (8 bytes, little-endian) and the header's
/// `{`: checked from its first 9 bytes, so a torch file is not read twice.
fn looks_like_safetensors(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 9];
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if f.read_exact(&mut head).is_err() {
        return false;
    }
    let header = u64::from_le_bytes(head[..8].try_into().expect("8 bytes"));
    head[8] == b'{' && header.saturating_add(8) <= len
}

/// The tensors of a safetensors file, or `None` when `path` is not one.
fn load_safetensors(path: &Path) -> Result<Option<BTreeMap<String, FileTensor>>> {
    if !looks_like_safetensors(path) {
        return Ok(None);
    }
    let bytes = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
    let Ok(st) = safetensors::SafeTensors::deserialize(&bytes) else {
        return Ok(None);
    };
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        let dtype = match view.dtype() {
            safetensors::Dtype::F32 => Some(DType::F32),
            safetensors::Dtype::F64 => Some(DType::F64),
            safetensors::Dtype::F16 => Some(DType::F16),
            safetensors::Dtype::BF16 => Some(DType::BF16),
            _ => None,
        };
        let shape = view.shape().to_vec();
        let data = dtype.map(|d| {
            TensorData::from_bytes_vec(view.data().to_vec(), shape.clone(), d).convert::<f32>()
        });
        out.insert(name, FileTensor { shape, data });
    }
    Ok(Some(out))
}

fn float(tensors: &BTreeMap<String, FileTensor>, key: &str, file: &Path) -> Result<TensorData> {
    tensors[key]
        .data
        .clone()
        .with_context(|| format!("{}: tensor '{key}' is not floating point", file.display()))
}

/// A one-element tensor's value.
fn number(tensors: &BTreeMap<String, FileTensor>, key: &str) -> Option<f64> {
    let data = tensors.get(key)?.data.clone()?;
    data.convert::<f64>()
        .try_to_vec::<f64>()
        .ok()?
        .first()
        .copied()
}

impl OfficialCheckpoint {
    /// Reads `file` (and α from `alpha_file` when given, else from `file` when it has it).
    pub fn read(file: &Path, alpha_file: Option<&Path>) -> Result<Self> {
        let (tensors, torch_file) = load_tensors(file)?;
        let wrapped = tensors.keys().any(|k| k.starts_with("state_dict."));
        let mut ckpt = OfficialCheckpoint::default();
        for (name, t) in &tensors {
            let net_name = match wrapped {
                true => name.strip_prefix("state_dict."),
                false => Some(name.as_str()),
            };
            if let Some(n) = net_name
                && !(ALPHA_KEYS.iter().any(|ks| ks.contains(&n)))
            {
                let n = n.strip_prefix("module.").unwrap_or(n);
                ckpt.state_dict.insert(n.to_string(), t.clone());
            }
        }
        if ckpt.state_dict.is_empty() {
            bail!(
                "{}: holds no network weights (neither a 'state_dict' entry nor a state dict)",
                file.display()
            );
        }
        let alpha_path = alpha_file.unwrap_or(file).to_path_buf();
        let alpha_source = match alpha_file {
            Some(p) => load_tensors(p)?.0,
            None => tensors.clone(),
        };
        for keys in ALPHA_KEYS {
            match keys.iter().find(|k| alpha_source.contains_key(**k)) {
                Some(k) => ckpt.alpha.push(float(&alpha_source, k, &alpha_path)?),
                None => break,
            }
        }
        if alpha_file.is_some() && ckpt.alpha.is_empty() {
            bail!(
                "{}: holds no α (expected a list of tensors as model.arch_parameters() gives, or 'alpha')",
                alpha_path.display()
            );
        }
        ckpt.alpha_path = alpha_path;
        ckpt.projected_ops = ["proj_weights.normal", "proj_weights.reduce"]
            .iter()
            .filter_map(|k| {
                tensors
                    .get(*k)?
                    .data
                    .as_ref()?
                    .clone()
                    .try_to_vec::<f32>()
                    .ok()
            })
            .map(|w| w.iter().filter(|&&v| v != 0.0).count())
            .sum();
        if torch_file {
            let pickled = Pickled::read(file);
            ckpt.read_optimisers(&tensors, &pickled, file)?;
            ckpt.epoch = pickled
                .number("epoch")
                .filter(|e| *e >= 0.0)
                .map(|e| e as usize);
        }
        Ok(ckpt)
    }

    /// The optimisers' states and the numbers of their settings, as far as the file has them.
    fn read_optimisers(
        &mut self,
        tensors: &BTreeMap<String, FileTensor>,
        pickled: &Pickled,
        file: &Path,
    ) -> Result<()> {
        for name in tensors.keys() {
            let parts: Vec<&str> = name.split('.').collect();
            match parts.as_slice() {
                ["optimizer", "state", k, "momentum_buffer"] => {
                    if let Ok(k) = k.parse() {
                        self.momentum.insert(k, float(tensors, name, file)?);
                    }
                }
                ["arch_optimizer", "state", k, "exp_avg"] => {
                    let Ok(k) = k.parse::<usize>() else { continue };
                    let prefix = format!("arch_optimizer.state.{k}");
                    let sq = format!("{prefix}.exp_avg_sq");
                    if !tensors.contains_key(&sq) {
                        continue;
                    }
                    // torch 1.12 and later keep Adam's step as a tensor, earlier ones as a number.
                    let step = number(tensors, &format!("{prefix}.step"))
                        .or_else(|| pickled.number(&format!("{prefix}.step")))
                        .unwrap_or(0.0);
                    let m = float(tensors, name, file)?;
                    self.adam
                        .insert(k, (m, float(tensors, &sq, file)?, step as u64));
                }
                _ => {}
            }
        }
        for key in [
            "optimizer.param_groups.0.lr",
            "optimizer.param_groups.0.momentum",
            "optimizer.param_groups.0.weight_decay",
            "arch_optimizer.param_groups.0.lr",
            "arch_optimizer.param_groups.0.weight_decay",
            "scheduler.T_max",
            "scheduler.eta_min",
            "scheduler.base_lrs.0",
        ] {
            if let Some(v) = pickled.number(key) {
                self.settings.insert(key.to_string(), v);
            }
        }
        Ok(())
    }
}

/// The file's whole pickle (tensors in it left opaque), parsed once, for its numbers.
struct Pickled(Option<PickleValue>);

impl Pickled {
    fn read(file: &Path) -> Self {
        Pickled(PytorchReader::read_pickle_data(file, None).ok())
    }

    /// The number at a dotted path (dictionary keys and list indices).
    fn number(&self, dotted: &str) -> Option<f64> {
        let mut v = self.0.as_ref()?;
        for p in dotted.split('.') {
            v = match v {
                PickleValue::Dict(d) => d.get(p)?,
                PickleValue::List(l) => l.get(p.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        match v {
            PickleValue::Int(i) => Some(*i as f64),
            PickleValue::Float(f) => Some(*f),
            _ => None,
        }
    }
}
