//! How settings combine. Every job's settings are the preset's values, then a TOML file, then
//! command-line flags (or the studio's form), each layer replacing only the keys it gives:
//! preset < file < flags. Values derived from others (SGAS's schedule from the epochs) are
//! derived after the layers are applied, unless a layer gives them.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Criterion, Method, Preset, PtConfig, SearchConfig, SgasConfig, SgasOp, TrainConfig};
use crate::device::DeviceChoice;
use crate::space::SpaceId;

/// Reads a whole settings file as `T` (keys left out take their defaults), naming the file in
/// any error.
pub fn read_toml<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text =
        crate::storage::read_to_string(path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| anyhow!("{}: {e}", path.display()))
}

/// One layer of settings: the keys it gives, as a TOML table, and where they came from.
#[derive(Clone, Debug, Default)]
pub struct Layer {
    table: toml::Table,
    source: String,
}

impl Layer {
    /// The flags layer (built with [`Layer::set`]).
    pub fn flags() -> Layer {
        Layer {
            table: toml::Table::new(),
            source: "command-line flags".into(),
        }
    }

    /// A TOML file, checked on its own as `T` so that a wrong key or value names the file.
    pub fn file<T: DeserializeOwned>(path: &Path) -> Result<Layer> {
        let text =
            crate::storage::read_to_string(path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
        Layer::text::<T>(&text, &path.display().to_string())
    }

    /// TOML text, checked as `T`; `source` names it in errors.
    pub fn text<T: DeserializeOwned>(text: &str, source: &str) -> Result<Layer> {
        toml::from_str::<T>(text).map_err(|e| anyhow!("{source}: {e}"))?;
        let table = toml::from_str(text).map_err(|e| anyhow!("{source}: {e}"))?;
        Ok(Layer {
            table,
            source: source.into(),
        })
    }

    /// Sets a key (`"data.train_images"` for a nested one) when `value` is given, written as
    /// the settings file would write it.
    pub fn set<V: Serialize>(&mut self, key: &str, value: Option<V>) -> &mut Self {
        let Some(value) = value else {
            return self;
        };
        // A value TOML cannot hold (a seed above 2^63) stays visible as text, so the
        // settings it lands in refuse it with a message instead of losing it.
        let value = toml::Value::try_from(&value)
            .unwrap_or_else(|e| toml::Value::String(format!("unrepresentable value: {e}")));
        let mut table = &mut self.table;
        let mut parts = key.split('.').peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                table.insert(part.into(), value);
                break;
            }
            table = table
                .entry(part)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .expect("a settings key path runs through tables");
        }
        self
    }

    /// Whether this layer gives `key` (a dotted path).
    pub fn gives(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    fn get(&self, key: &str) -> Option<&toml::Value> {
        let mut parts = key.split('.');
        let mut v = self.table.get(parts.next()?)?;
        for p in parts {
            v = v.as_table()?.get(p)?;
        }
        Some(v)
    }

    /// A string key of this layer parsed as `T` (the space, method or preset that choose the
    /// base the layers apply to).
    fn parsed<T: std::str::FromStr<Err = String>>(&self, key: &str) -> Result<Option<T>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => {
                let s = v
                    .as_str()
                    .ok_or_else(|| anyhow!("{}: '{key}' must be a string", self.source))?;
                s.parse()
                    .map(Some)
                    .map_err(|e| anyhow!("{}: {e}", self.source))
            }
        }
    }
}

/// Deep-merges `over` into `base` (tables merge key by key; other values replace).
fn merge(base: &mut toml::Table, over: &toml::Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

/// `base` with every layer applied in order.
pub fn apply<T: Serialize + DeserializeOwned>(base: &T, layers: &[&Layer]) -> Result<T> {
    let mut table = toml::Table::try_from(base).context("settings serialise")?;
    for layer in layers {
        merge(&mut table, &layer.table);
    }
    let sources: Vec<&str> = layers.iter().map(|l| l.source.as_str()).collect();
    table
        .try_into()
        .map_err(|e| anyhow!("{}: {e}", sources.join(" and ")))
}

/// The first of the layers (latest first) that gives a choice, parsed.
fn choice<T: std::str::FromStr<Err = String>>(layers: &[&Layer], key: &str) -> Result<Option<T>> {
    for l in layers.iter().rev() {
        if let Some(v) = l.parsed(key)? {
            return Ok(Some(v));
        }
    }
    Ok(None)
}

/// The data flags every training command shares.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DataFlags {
    /// A dataset directory or file instead of the bundled subset.
    pub path: Option<PathBuf>,
    /// Forces the dataset format.
    pub dataset: Option<String>,
    /// Only the first N training images.
    pub train_images: Option<usize>,
}

impl DataFlags {
    fn set_on(&self, l: &mut Layer) {
        l.set("data.path", self.path.as_ref())
            .set("data.dataset", self.dataset.as_ref())
            .set("data.train_images", self.train_images);
    }
}

/// The flags a search and a retraining share: which space and preset, the data, the sizes,
/// the device.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunFlags {
    pub space: Option<SpaceId>,
    pub preset: Option<Preset>,
    pub data: DataFlags,
    pub epochs: Option<usize>,
    pub seed: Option<u64>,
    pub batch_size: Option<usize>,
    pub channels: Option<usize>,
    pub layers: Option<usize>,
    pub log_every: Option<usize>,
    pub device: Option<DeviceChoice>,
}

impl RunFlags {
    fn layer(&self) -> Layer {
        let mut l = Layer::flags();
        l.set("space", self.space)
            .set("preset", self.preset)
            .set("epochs", self.epochs)
            .set("seed", self.seed)
            .set("batch_size", self.batch_size)
            .set("channels", self.channels)
            .set("layers", self.layers)
            .set("log_every", self.log_every)
            .set("device", self.device.clone());
        self.data.set_on(&mut l);
        l
    }
}

/// The flags of a search (the `search` command's, or the studio's new-search form).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SearchFlags {
    pub run: RunFlags,
    pub method: Option<Method>,
    pub sgas_criterion: Option<u8>,
    pub sgas_op: Option<SgasOp>,
}

impl SearchFlags {
    fn layer(&self) -> Layer {
        let mut l = self.run.layer();
        l.set("method", self.method)
            .set("sgas.criterion", self.sgas_criterion)
            .set("sgas.op_choice", self.sgas_op);
        l
    }
}

impl SearchConfig {
    /// A search's settings: the preset of (space, method), then `file`, then `flags`. SGAS's
    /// schedule follows the resulting epochs unless the file or the flags give it.
    pub fn resolve(file: Option<&Path>, flags: &SearchFlags) -> Result<SearchConfig> {
        let file = file.map(Layer::file::<SearchConfig>).transpose()?;
        let flags = flags.layer();
        let layers: Vec<&Layer> = file.iter().chain([&flags]).collect();
        let Some(space) = choice::<SpaceId>(&layers, "space")? else {
            bail!("give --space (darts, darts8, nb201, s1, s2, s3 or s4)");
        };
        let method = choice(&layers, "method")?.unwrap_or(Method::Darts);
        let preset = choice(&layers, "preset")?.unwrap_or(Preset::Paper);
        let mut cfg = apply(&SearchConfig::preset(space, method, preset), &layers)?;
        let (warmup, freq) = SgasConfig::schedule_for(cfg.epochs);
        if !layers.iter().any(|l| l.gives("sgas.warmup")) {
            cfg.sgas.warmup = warmup;
        }
        if !layers.iter().any(|l| l.gives("sgas.decision_freq")) {
            cfg.sgas.decision_freq = freq;
        }
        cfg.validate()?;
        Ok(cfg)
    }
}

/// The flags of a selection.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PtFlags {
    pub criterion: Option<Criterion>,
    pub proj_intv: Option<usize>,
    pub tune_epochs: Option<usize>,
    pub lr: Option<f64>,
    pub epsilon: Option<f64>,
    pub fixed_alpha: Option<bool>,
    pub seed: Option<u64>,
    pub eval_batch_size: Option<usize>,
}

impl PtFlags {
    fn layer(&self) -> Layer {
        let mut l = Layer::flags();
        l.set("pt.criterion", self.criterion)
            .set("pt.proj_intv", self.proj_intv)
            .set("pt.tune_epochs", self.tune_epochs)
            .set("pt.lr", self.lr)
            .set("pt.epsilon", self.epsilon)
            .set("pt.fixed_alpha", self.fixed_alpha)
            .set("pt.seed", self.seed)
            .set("pt.eval_batch_size", self.eval_batch_size);
        l
    }
}

/// A file of PT settings: a `[pt]` table, as in a run's `config.toml`, and nothing else.
#[derive(serde::Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
struct PtFile {
    #[serde(default)]
    pt: PtConfig,
}

impl PtConfig {
    /// A selection's PT settings: the search run's own (`base`, from its preset), then
    /// `file` (its `[pt]` table), then `flags`.
    pub fn resolve(base: &PtConfig, file: Option<&Path>, flags: &PtFlags) -> Result<PtConfig> {
        let file = file.map(Layer::file::<PtFile>).transpose()?;
        let flags = flags.layer();
        let layers: Vec<&Layer> = file.iter().chain([&flags]).collect();
        let pt = apply(&PtFile { pt: base.clone() }, &layers)?.pt;
        pt.validate()?;
        Ok(pt)
    }
}

impl TrainConfig {
    /// A retraining's settings: the preset of the space, then `file`, then `flags`. `space`
    /// is the genotype's own when it names one (a search run does); the file and the flags may
    /// not contradict it.
    pub fn resolve(
        file: Option<&Path>,
        flags: &RunFlags,
        genotype_space: Option<SpaceId>,
    ) -> Result<TrainConfig> {
        let file = file.map(Layer::file::<TrainConfig>).transpose()?;
        let flags = flags.layer();
        let layers: Vec<&Layer> = file.iter().chain([&flags]).collect();
        let space = match (choice::<SpaceId>(&layers, "space")?, genotype_space) {
            (Some(s), Some(g)) if s != g => {
                bail!("--space {s} contradicts the run, which searched the {g} space")
            }
            (Some(s), _) | (None, Some(s)) => s,
            (None, None) => bail!("give --space (darts, darts8, nb201, s1, s2, s3 or s4)"),
        };
        let preset = choice(&layers, "preset")?.unwrap_or(Preset::Paper);
        apply(&TrainConfig::preset(space, preset), &layers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("settings.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn search_settings_take_the_preset_then_the_file_then_the_flags() {
        let dir = tempfile::tempdir().unwrap();
        let flags = SearchFlags {
            run: RunFlags {
                space: Some(SpaceId::S2),
                preset: Some(Preset::Laptop),
                ..RunFlags::default()
            },
            method: Some(Method::Sgas),
            ..SearchFlags::default()
        };
        let preset = SearchConfig::preset(SpaceId::S2, Method::Sgas, Preset::Laptop);
        assert_eq!(SearchConfig::resolve(None, &flags).unwrap(), preset);

        // The file replaces what it gives and nothing else.
        let file = write(dir.path(), "epochs = 20\nseed = 4\n[weights]\nlr = 0.05\n");
        let c = SearchConfig::resolve(Some(&file), &flags).unwrap();
        assert_eq!((c.epochs, c.seed, c.weights.lr), (20, 4, 0.05));
        assert_eq!((c.channels, c.weights.momentum), (preset.channels, 0.9));
        // ... and SGAS's schedule follows its epochs, as it would follow a flag's.
        assert_eq!(
            (c.sgas.warmup, c.sgas.decision_freq),
            SgasConfig::schedule_for(20)
        );

        // Flags win over the file.
        let over = SearchFlags {
            run: RunFlags {
                epochs: Some(30),
                seed: Some(9),
                data: DataFlags {
                    train_images: Some(500),
                    ..DataFlags::default()
                },
                ..flags.run.clone()
            },
            ..flags.clone()
        };
        let c = SearchConfig::resolve(Some(&file), &over).unwrap();
        assert_eq!((c.epochs, c.seed, c.weights.lr), (30, 9, 0.05));
        assert_eq!(c.data.train_images, Some(500));
        assert_eq!(
            (c.sgas.warmup, c.sgas.decision_freq),
            SgasConfig::schedule_for(30)
        );
        assert_ne!(SgasConfig::schedule_for(30), SgasConfig::schedule_for(20));

        // A schedule the file gives is kept whatever the epochs.
        let file = write(dir.path(), "epochs = 20\n[sgas]\nwarmup = 3\n");
        let c = SearchConfig::resolve(Some(&file), &over).unwrap();
        assert_eq!(c.sgas.warmup, 3);
        assert_eq!(c.sgas.decision_freq, SgasConfig::schedule_for(30).1);
    }

    #[test]
    fn the_file_may_choose_the_space_and_a_wrong_key_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "space = \"nb201\"\npreset = \"tiny\"\n");
        let c = SearchConfig::resolve(Some(&file), &SearchFlags::default()).unwrap();
        assert_eq!(
            c,
            SearchConfig::preset(SpaceId::Nb201, Method::Darts, Preset::Tiny)
        );
        let flags = SearchFlags {
            run: RunFlags {
                preset: Some(Preset::Laptop),
                ..RunFlags::default()
            },
            ..SearchFlags::default()
        };
        assert_eq!(
            SearchConfig::resolve(Some(&file), &flags).unwrap().preset,
            Preset::Laptop
        );
        let bad = write(dir.path(), "space = \"nb201\"\nepochz = 3\n");
        let err = SearchConfig::resolve(Some(&bad), &flags)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("settings.toml") && err.contains("epochz"),
            "{err}"
        );
        let err = SearchConfig::resolve(None, &SearchFlags::default()).unwrap_err();
        assert!(err.to_string().contains("--space"));
    }

    #[test]
    fn pt_settings_take_the_run_then_the_file_then_the_flags() {
        let dir = tempfile::tempdir().unwrap();
        let run = PtConfig::preset(Preset::Laptop, crate::space::Family::Nb201);
        let flags = PtFlags::default();
        assert_eq!(PtConfig::resolve(&run, None, &flags).unwrap(), run);
        let file = write(
            dir.path(),
            "[pt]\nproj_intv = 3\nlr = 0.01\ncriterion = \"loss\"\n",
        );
        let p = PtConfig::resolve(&run, Some(&file), &flags).unwrap();
        assert_eq!((p.proj_intv, p.lr, p.criterion), (3, 0.01, Criterion::Loss));
        assert_eq!(p.epsilon, run.epsilon);
        let flags = PtFlags {
            proj_intv: Some(2),
            tune_epochs: Some(7),
            ..PtFlags::default()
        };
        let p = PtConfig::resolve(&run, Some(&file), &flags).unwrap();
        assert_eq!((p.proj_intv, p.tune_epochs, p.lr), (2, Some(7), 0.01));
        let other = write(dir.path(), "epochs = 3\n");
        let err = PtConfig::resolve(&run, Some(&other), &flags)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("settings.toml") && err.contains("epochs"),
            "{err}"
        );
    }

    #[test]
    fn train_settings_take_the_preset_then_the_file_then_the_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "epochs = 7\n[optim]\nlr = 0.05\n");
        let flags = RunFlags {
            preset: Some(Preset::Tiny),
            epochs: Some(3),
            ..RunFlags::default()
        };
        let c = TrainConfig::resolve(Some(&file), &flags, Some(SpaceId::Nb201)).unwrap();
        let preset = TrainConfig::preset(SpaceId::Nb201, Preset::Tiny);
        assert_eq!((c.epochs, c.optim.lr), (3, 0.05));
        assert_eq!((c.channels, c.optim.nesterov), (preset.channels, true));
        let wrong = RunFlags {
            space: Some(SpaceId::S2),
            ..flags
        };
        let err = TrainConfig::resolve(None, &wrong, Some(SpaceId::Nb201)).unwrap_err();
        assert!(err.to_string().contains("contradicts"));
    }
}
