//! `darts-pt import pytorch`: an official DARTS-PT supernet checkpoint becomes a run directory
//! of this crate, so that `select`, `studio`, `eval` and `search --resume` work on it.
//!
//! Everything is checked before the directory is created (the network's shape found from the
//! tensors, every tensor against the official layout of that shape, α, the data's image
//! channels and classes), so a refused file leaves nothing behind.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::tensor::TensorData;

use super::names::{ALPHA_PATHS, Entry, supernet_layout};
use super::official::{FileTensor, OfficialCheckpoint};
use crate::checkpoint::Checkpoint;
use crate::config::{DataConfig, Method, Preset, SearchConfig};
use crate::nn::InputShape;
use crate::nn::supernet::SupernetConfig;
use crate::run::{AlphaRecord, RunDir, RunKind, RunState, RunStatus};
use crate::search::load_search_data;
use crate::search::state::imported_loop_state;
use crate::space::{Family, SpaceId};

/// What to import.
#[derive(Clone, Debug)]
pub struct ImportRequest {
    pub file: PathBuf,
    /// α saved apart (`torch.save(model.arch_parameters(), ...)`); without it and without
    /// `alpha` in `file`, α is uniform (the fixed-α case).
    pub alpha_file: Option<PathBuf>,
    pub space: SpaceId,
    pub out: PathBuf,
    pub data: DataConfig,
}

/// What an import found and wrote.
#[derive(Clone, Debug)]
pub struct Imported {
    pub config: SearchConfig,
    pub input: InputShape,
    pub epoch: usize,
    pub alpha_from_file: bool,
    pub weight_momentum: bool,
    pub alpha_moments: bool,
    pub tensors: usize,
    /// Operation decisions of an official projection in progress, which are not carried.
    pub projected_ops: usize,
}

/// The supernet shape a file's tensors describe: (channels C, layers L or N, input channels,
/// classes).
fn found_shape(
    space: SpaceId,
    sd: &BTreeMap<String, FileTensor>,
    file: &Path,
) -> Result<[usize; 4]> {
    let family = space.family();
    let nb201_file = sd.contains_key("lastact.0.weight");
    let darts_file = sd.keys().any(|k| k.contains(".preprocess0."));
    if (family == Family::Nb201 && darts_file) || (family == Family::Darts && nb201_file) {
        let held = if nb201_file {
            "a NAS-Bench-201"
        } else {
            "a DARTS-family"
        };
        bail!(
            "{}: holds {held} supernet, not one of space '{space}'; pass the matching --space",
            file.display()
        );
    }
    let shape = |name: &str| -> Result<&[usize]> {
        sd.get(name).map(|t| t.shape.as_slice()).with_context(|| {
            format!(
                "{}: no tensor '{name}': not a supernet of the official code's space '{space}'",
                file.display()
            )
        })
    };
    let (stem, classifier) = (shape("stem.0.weight")?, shape("classifier.weight")?);
    if stem.len() != 4 || classifier.len() != 2 {
        bail!(
            "{}: stem.0.weight is {stem:?} and classifier.weight {classifier:?}; expected a 4-D convolution and a 2-D linear weight",
            file.display()
        );
    }
    let indices: std::collections::BTreeSet<usize> = sd
        .keys()
        .filter_map(|k| k.strip_prefix("cells.")?.split('.').next()?.parse().ok())
        .collect();
    let cells = indices.len();
    if cells == 0 || indices.last() != Some(&(cells - 1)) {
        bail!("{}: the cells are not numbered 0..n", file.display());
    }
    let (channels, layers) = match family {
        Family::Nb201 => {
            if cells < 5 || !(cells - 2).is_multiple_of(3) {
                bail!(
                    "{}: {cells} cells; a NAS-Bench-201 supernet has 3N+2",
                    file.display()
                );
            }
            (stem[0], (cells - 2) / 3)
        }
        Family::Darts => {
            if !stem[0].is_multiple_of(3) {
                bail!("{}: stem has {} channels, not 3C", file.display(), stem[0]);
            }
            (stem[0] / 3, cells)
        }
    };
    // Far beyond any published supernet; a bound before a network of that shape is built.
    if channels == 0 || channels > MAX_CHANNELS || layers > MAX_LAYERS {
        bail!(
            "{}: C={channels} with {layers} layers is outside what this tool imports (C up to {MAX_CHANNELS}, up to {MAX_LAYERS} layers)",
            file.display()
        );
    }
    Ok([channels, layers, stem[1], classifier[0]])
}

const MAX_CHANNELS: usize = 1024;
const MAX_LAYERS: usize = 64;

/// Names what does not fit between the file's state dict and the official layout.
fn check_layout(
    layout: &[Entry],
    sd: &BTreeMap<String, FileTensor>,
    expected_shapes: &BTreeMap<String, Vec<usize>>,
    what: &str,
    file: &Path,
) -> Result<()> {
    let mut missing = Vec::new();
    let mut wrong = Vec::new();
    for e in layout {
        match sd.get(&e.official) {
            None => missing.push(e.official.clone()),
            Some(t) => {
                if let Some(shape) = expected_shapes.get(&e.official)
                    && &t.shape != shape
                {
                    wrong.push(format!(
                        "{} is {:?}, expected {shape:?}",
                        e.official, t.shape
                    ));
                }
            }
        }
    }
    let known: std::collections::BTreeSet<&str> =
        layout.iter().map(|e| e.official.as_str()).collect();
    let unexpected: Vec<String> = sd
        .keys()
        .filter(|k| !known.contains(k.as_str()))
        .cloned()
        .collect();
    if missing.is_empty() && wrong.is_empty() && unexpected.is_empty() {
        return Ok(());
    }
    let mut msg = format!("{}: the tensors do not fit {what}", file.display());
    for (label, list) in [
        ("with another shape", &wrong),
        ("missing", &missing),
        ("not in that network", &unexpected),
    ] {
        if !list.is_empty() {
            let shown: Vec<&str> = list.iter().take(4).map(String::as_str).collect();
            let more = if list.len() > 4 { ", ..." } else { "" };
            write!(
                msg,
                "\n  {} {label}: {}{more}",
                list.len(),
                shown.join(", ")
            )
            .unwrap();
        }
    }
    bail!(msg)
}

/// Another space of the same family whose official network has exactly the file's tensor names.
fn fitting_space(config: &SupernetConfig, sd: &BTreeMap<String, FileTensor>) -> Option<SpaceId> {
    SpaceId::ALL
        .into_iter()
        .filter(|s| *s != config.space && s.family() == config.space.family())
        .find(|&space| {
            let layout = supernet_layout(&SupernetConfig {
                space,
                ..config.clone()
            });
            layout.len() == sd.len() && layout.iter().all(|e| sd.contains_key(&e.official))
        })
}

/// The official shape of every entry, from a supernet of this crate built for `config`.
fn official_shapes(config: &SupernetConfig, layout: &[Entry]) -> BTreeMap<String, Vec<usize>> {
    let device = burn::tensor::Device::flex();
    let ours =
        crate::nn::params::named_tensors(&crate::nn::supernet::Supernet::new(config, &device));
    layout
        .iter()
        .filter_map(|e| {
            let mut shape = ours.get(e.ours.as_ref()?)?.shape().to_vec();
            if e.transpose {
                shape.reverse();
            }
            Some((e.official.clone(), shape))
        })
        .collect()
}

/// Flattened, as the optimisers of this crate keep their buffers.
fn flat(data: TensorData) -> TensorData {
    let n = data.num_elements();
    TensorData::new(data.try_to_vec::<f32>().expect("f32 data"), [n])
}

/// The search settings of an imported supernet: this crate's defaults for the space, with
/// what the file told put in.
fn settings(
    req: &ImportRequest,
    ckpt: &OfficialCheckpoint,
    channels: usize,
    layers: usize,
) -> SearchConfig {
    let mut cfg = SearchConfig::preset(req.space, Method::Darts, Preset::Paper);
    cfg.channels = channels;
    cfg.layers = layers;
    cfg.data = req.data.clone();
    let s = &ckpt.settings;
    if let Some(&t) = s.get("scheduler.T_max") {
        cfg.epochs = t.round() as usize;
    }
    cfg.epochs = cfg.epochs.max(ckpt.epoch.unwrap_or(0)).max(1);
    if let Some(&lr) = s.get("scheduler.base_lrs.0") {
        cfg.weights.lr = lr;
    }
    if let Some(&lr) = s.get("scheduler.eta_min") {
        cfg.weights.lr_min = lr;
    }
    if let Some(&m) = s.get("optimizer.param_groups.0.momentum") {
        cfg.weights.momentum = m;
    }
    if let Some(&wd) = s.get("optimizer.param_groups.0.weight_decay") {
        cfg.weights.weight_decay = wd;
    }
    if let Some(&lr) = s.get("arch_optimizer.param_groups.0.lr") {
        cfg.alpha.lr = lr;
    }
    if let Some(&wd) = s.get("arch_optimizer.param_groups.0.weight_decay") {
        cfg.alpha.weight_decay = wd;
    }
    (cfg.sgas.warmup, cfg.sgas.decision_freq) = crate::config::SgasConfig::schedule_for(cfg.epochs);
    cfg
}

/// The header of the imported run's `config.toml`: what came from the file, what did not.
fn config_header(req: &ImportRequest, ckpt: &OfficialCheckpoint) -> String {
    let mut told = vec!["space (checked against every tensor)", "channels", "layers"];
    if ckpt.epoch.is_some() {
        told.push("the epoch reached");
    }
    let s = &ckpt.settings;
    if s.contains_key("scheduler.T_max") {
        told.push("epochs");
    }
    if s.contains_key("scheduler.base_lrs.0") {
        told.push("weights.lr, weights.lr_min");
    }
    if s.contains_key("optimizer.param_groups.0.momentum") {
        told.push("weights.momentum, weights.weight_decay");
    }
    if s.contains_key("arch_optimizer.param_groups.0.lr") {
        told.push("alpha.lr, alpha.weight_decay");
    }
    format!(
        "# Imported by `darts-pt import pytorch` from {}.\n\
         # From the file: {}.\n\
         # Not in the file (this tool's defaults for the space; check them before\n\
         # `search --resume`): method, seed, batch_size, grad_clip, Adam's betas, the PT settings and\n\
         # everything else not named above. data: as given to the import.\n",
        req.file.display(),
        told.join(", ")
    )
}

/// Imports `req.file` into a new run directory `req.out`.
pub fn import_pytorch(req: &ImportRequest) -> Result<Imported> {
    let ckpt = OfficialCheckpoint::read(&req.file, req.alpha_file.as_deref())?;
    let [channels, layers, in_channels, classes] =
        found_shape(req.space, &ckpt.state_dict, &req.file)?;
    let cfg = settings(req, &ckpt, channels, layers);
    let data = load_search_data(&cfg.data)?;
    if (data.input.channels, data.input.classes) != (in_channels, classes) {
        bail!(
            "{}: the supernet reads {in_channels}-channel images into {classes} classes, but the data ({}) has {} channels and {} classes; pass the dataset it was trained on with --data",
            req.file.display(),
            data.dataset_name,
            data.input.channels,
            data.input.classes
        );
    }
    let config = SupernetConfig {
        space: req.space,
        channels,
        layers,
        input: data.input,
    };
    let layout = supernet_layout(&config);
    let shapes = official_shapes(&config, &layout);
    let what = format!(
        "space '{}' at C={channels}, {}={layers}",
        req.space,
        match req.space.family() {
            Family::Nb201 => "N",
            Family::Darts => "L",
        }
    );
    check_layout(&layout, &ckpt.state_dict, &shapes, &what, &req.file).map_err(|e| {
        match fitting_space(&config, &ckpt.state_dict) {
            Some(other) => e.context(format!(
                "the file fits space '{other}': pass --space {other}"
            )),
            None => e,
        }
    })?;
    let tensors = convert(&ckpt, &layout, &config, &req.file)?;
    let epoch = ckpt.epoch.unwrap_or(0);
    write_run(req, &cfg, &ckpt, tensors, epoch)?;
    Ok(Imported {
        config: cfg,
        input: data.input,
        epoch,
        alpha_from_file: !ckpt.alpha.is_empty(),
        weight_momentum: !ckpt.momentum.is_empty(),
        alpha_moments: !ckpt.adam.is_empty(),
        tensors: layout.len(),
        projected_ops: ckpt.projected_ops,
    })
}

/// The run's checkpoint tensors: the network, α, and the optimisers' states the file has.
fn convert(
    ckpt: &OfficialCheckpoint,
    layout: &[Entry],
    config: &SupernetConfig,
    file: &Path,
) -> Result<Checkpoint> {
    let space = config.space.space();
    let cells = space.cell_types().len();
    let mut out = Checkpoint::default();
    for e in layout {
        let Some(ours) = &e.ours else { continue };
        let data = ckpt.state_dict[&e.official]
            .data
            .as_ref()
            .with_context(|| {
                format!(
                    "{}: tensor '{}' is not floating point",
                    file.display(),
                    e.official
                )
            })?;
        out.tensors
            .insert(format!("model.{ours}"), e.reoriented(data));
    }
    let shape = [space.num_edges(), space.num_ops()];
    let fits = |a: &TensorData| a.shape().as_slice() == shape;
    if !ckpt.alpha.is_empty() && (ckpt.alpha.len() != cells || !ckpt.alpha.iter().all(fits)) {
        let found: Vec<String> = ckpt
            .alpha
            .iter()
            .map(|a| format!("{:?}", a.shape().as_slice()))
            .collect();
        bail!(
            "{}: α is {}; space '{}' needs {cells} of {shape:?} ({} edges x {} operations{})",
            ckpt.alpha_path.display(),
            found.join(" and "),
            config.space,
            shape[0],
            shape[1],
            if cells == 2 {
                "; normal, then reduce"
            } else {
                ""
            }
        );
    }
    for (c, path) in ALPHA_PATHS.iter().enumerate().take(cells) {
        let alpha = match ckpt.alpha.get(c) {
            Some(a) => a.clone(),
            None => TensorData::new(vec![0.0f32; shape[0] * shape[1]], shape),
        };
        out.tensors.insert(format!("model.{path}"), alpha);
    }
    // The official optimiser lists the parameters in registration order.
    for (k, e) in layout.iter().filter(|e| e.param).enumerate() {
        let (Some(buf), Some(ours)) = (ckpt.momentum.get(&k), &e.ours) else {
            continue;
        };
        let path = ours.strip_prefix("net.").unwrap_or(ours);
        let data = TensorData::new(
            buf.try_to_vec::<f32>()?,
            ckpt.state_dict[&e.official].shape.clone(),
        );
        out.tensors
            .insert(format!("sgd.{path}"), flat(e.reoriented(&data)));
    }
    let mut steps = BTreeMap::new();
    for (c, path) in ALPHA_PATHS.iter().enumerate().take(cells) {
        if let Some((m, v, step)) = ckpt.adam.get(&c) {
            let name = path.strip_prefix("alphas.").expect("alpha path");
            out.tensors
                .insert(format!("adam.m.{name}"), flat(m.clone()));
            out.tensors
                .insert(format!("adam.v.{name}"), flat(v.clone()));
            steps.insert(name.to_string(), *step);
        }
    }
    out.state = serde_json::json!({ "adam_steps": steps });
    Ok(out)
}

/// Writes the run directory; on a failure, removes what it wrote.
fn write_run(
    req: &ImportRequest,
    cfg: &SearchConfig,
    ckpt: &OfficialCheckpoint,
    mut tensors: Checkpoint,
    epoch: usize,
) -> Result<()> {
    let existed = req.out.exists();
    let run = RunDir::create(&req.out, "import")?;
    let result = (|| -> Result<()> {
        let steps = serde_json::from_value(tensors.state["adam_steps"].take())?;
        tensors.state = imported_loop_state(cfg, epoch, steps);
        run.write_config(&(config_header(req, ckpt) + &cfg.to_toml()))?;
        tensors.save(&run.checkpoint())?;
        let probs = |a: &TensorData| -> Vec<Vec<f32>> {
            let ops = a.shape()[1];
            let v = a.try_to_vec::<f32>().expect("f32 alpha");
            v.chunks(ops).map(softmax).collect()
        };
        let normal = probs(&tensors.tensors[&format!("model.{}", ALPHA_PATHS[0])]);
        let reduce = tensors
            .tensors
            .get(&format!("model.{}", ALPHA_PATHS[1]))
            .map(probs);
        run.append(
            &run.alpha(),
            &AlphaRecord {
                epoch,
                normal,
                reduce,
            },
        )?;
        let finished = epoch >= cfg.epochs;
        run.write_status(&RunStatus {
            format: crate::run::FORMAT,
            kind: RunKind::Search,
            state: if finished {
                RunState::Finished
            } else {
                RunState::Interrupted
            },
            epoch,
            epochs: cfg.epochs,
            device: "imported".into(),
            message: format!("imported from {} at epoch {epoch}", req.file.display()),
        })
    })();
    if result.is_err() {
        drop(run);
        if existed {
            for f in [
                "config.toml",
                "checkpoint.safetensors",
                "alpha.jsonl",
                "run.json",
                ".lock",
            ] {
                let _ = std::fs::remove_file(req.out.join(f));
            }
        } else {
            let _ = std::fs::remove_dir_all(&req.out);
        }
    }
    result
}

/// softmax of one row of α.
pub(crate) fn softmax(row: &[f32]) -> Vec<f32> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = row.iter().map(|x| (x - max).exp()).collect();
    let sum: f32 = e.iter().sum();
    e.into_iter().map(|x| x / sum).collect()
}
