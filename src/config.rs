//! Every hyperparameter of search and selection in one serde struct, with the paper's values
//! as defaults (spec sections 2 and 3), and the presets that scale them down for a CPU.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::device::DeviceChoice;
use crate::space::{Family, SpaceId};

/// How the supernet is trained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// First-order DARTS: alpha step on a fresh held-out batch, then a weight step.
    Darts,
    /// Second-order (unrolled) DARTS with the finite-difference Hessian-vector product.
    Darts2,
    /// SDARTS-RS: uniform noise on softmax(alpha) in the weight step.
    SdartsRs,
    /// SDARTS-ADV: a 7-step PGD attack on softmax(alpha) in the weight step.
    SdartsAdv,
    /// SGAS: greedy edge decisions on a schedule.
    Sgas,
    /// No alpha step at all: alpha stays at its random initialisation (near uniform).
    FixedAlpha,
}

impl Method {
    pub const ALL: [Method; 6] = [
        Method::Darts,
        Method::Darts2,
        Method::SdartsRs,
        Method::SdartsAdv,
        Method::Sgas,
        Method::FixedAlpha,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Method::Darts => "darts",
            Method::Darts2 => "darts2",
            Method::SdartsRs => "sdarts-rs",
            Method::SdartsAdv => "sdarts-adv",
            Method::Sgas => "sgas",
            Method::FixedAlpha => "fixed-alpha",
        }
    }

    /// Whether alpha is trained.
    pub fn trains_alpha(self) -> bool {
        self != Method::FixedAlpha
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Method::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                format!("unknown method '{s}' (expected darts, darts2, sdarts-rs, sdarts-adv, sgas or fixed-alpha)")
            })
    }
}

/// A named set of sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// The paper's settings exactly.
    Paper,
    /// Scaled down to minutes on a laptop CPU.
    Laptop,
    /// The smallest useful run: seconds to a minute on a CPU; for demos and tests.
    Tiny,
}

impl Preset {
    pub fn name(self) -> &'static str {
        match self {
            Preset::Paper => "paper",
            Preset::Laptop => "laptop",
            Preset::Tiny => "tiny",
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Preset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "paper" => Ok(Preset::Paper),
            "laptop" => Ok(Preset::Laptop),
            "tiny" => Ok(Preset::Tiny),
            _ => Err(format!(
                "unknown preset '{s}' (expected paper, laptop or tiny)"
            )),
        }
    }
}

/// Where the training data comes from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    /// A dataset directory or file; absent means the bundled Fashion-MNIST subset.
    pub path: Option<PathBuf>,
    /// Overrides format detection: cifar10, cifar100, fashion-mnist, mnist, folder.
    pub dataset: Option<String>,
    /// Use only the first N training images (both search halves come from these).
    pub train_images: Option<usize>,
}

/// Weight optimiser (SGD) settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WeightOptim {
    pub lr: f64,
    /// Cosine schedule floor, reached at the last epoch.
    pub lr_min: f64,
    pub momentum: f64,
    /// Coupled L2 weight decay.
    pub weight_decay: f64,
    /// Clip the global gradient norm of the weights to this value.
    pub grad_clip: f64,
}

impl Default for WeightOptim {
    fn default() -> Self {
        WeightOptim {
            lr: 0.025,
            lr_min: 0.001,
            momentum: 0.9,
            weight_decay: 3e-4,
            grad_clip: 5.0,
        }
    }
}

/// Architecture optimiser (Adam) settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlphaOptim {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Coupled L2 (added to the gradient, not AdamW).
    pub weight_decay: f64,
}

impl Default for AlphaOptim {
    fn default() -> Self {
        AlphaOptim {
            lr: 3e-4,
            beta1: 0.5,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 1e-3,
        }
    }
}

/// SDARTS settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SdartsConfig {
    /// Perturbation radius at the first epoch.
    pub epsilon_min: f64,
    /// Perturbation radius reached at the last epoch.
    pub epsilon_max: f64,
    /// PGD steps of SDARTS-ADV.
    pub adv_steps: usize,
}

impl Default for SdartsConfig {
    fn default() -> Self {
        SdartsConfig {
            epsilon_min: 0.03,
            epsilon_max: 0.3,
            adv_steps: 7,
        }
    }
}

/// SGAS settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SgasConfig {
    /// Criterion 1 (importance x certainty) or 2 (also x stability).
    pub criterion: u8,
    /// Epochs before the first decision.
    pub warmup: usize,
    /// Epochs between decisions.
    pub decision_freq: usize,
    /// Batch size added after each decision.
    pub batch_increase: usize,
    /// Epochs of history for the stability term of criterion 2.
    pub history: usize,
}

impl Default for SgasConfig {
    fn default() -> Self {
        SgasConfig {
            criterion: 1,
            warmup: 9,
            decision_freq: 5,
            batch_increase: 8,
            history: 4,
        }
    }
}

/// PT (perturbation-based selection) settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PtConfig {
    /// Tuning epochs between decisions.
    pub proj_intv: usize,
    /// Constant weight learning rate while tuning (the search lr / 10).
    pub lr: f64,
    /// Perturbation radius of SDARTS-RS+PT while tuning.
    pub epsilon: f64,
    /// Evaluation passes use the training augmentation and a fresh order each pass, as the
    /// official code does; `false` scores on a fixed order without augmentation.
    pub augment_eval: bool,
    /// Batch size of evaluation passes (0 = the search batch size).
    pub eval_batch_size: usize,
}

impl Default for PtConfig {
    fn default() -> Self {
        PtConfig {
            proj_intv: 5,
            lr: 0.0025,
            epsilon: 0.3,
            augment_eval: true,
            eval_batch_size: 0,
        }
    }
}

/// Everything a search run needs; written as `config.toml` into the run directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchConfig {
    pub space: SpaceId,
    pub method: Method,
    pub preset: Preset,
    pub seed: u64,
    pub epochs: usize,
    pub batch_size: usize,
    /// Initial channels C of the supernet.
    pub channels: usize,
    /// Cells L (DARTS family) or cells per stage N (NB201).
    pub layers: usize,
    pub data: DataConfig,
    pub device: DeviceChoice,
    pub weights: WeightOptim,
    pub alpha: AlphaOptim,
    pub sdarts: SdartsConfig,
    pub sgas: SgasConfig,
    pub pt: PtConfig,
    /// r = unrolled_r / ||v|| in the second-order Hessian-vector product.
    pub unrolled_r: f64,
    /// Also write a metrics line every this many steps (0 = only per epoch).
    pub log_every: usize,
    /// Evaluate the supernet on the held-out half (BN running statistics) after each epoch.
    pub eval_each_epoch: bool,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig::preset(SpaceId::Darts, Method::Darts, Preset::Paper)
    }
}

impl SearchConfig {
    /// The settings of `preset` for a space and method.
    pub fn preset(space: SpaceId, method: Method, preset: Preset) -> Self {
        let family = space.family();
        let mut c = SearchConfig {
            space,
            method,
            preset,
            seed: 0,
            epochs: match family {
                Family::Darts => 50,
                Family::Nb201 => 100,
            },
            batch_size: 64,
            channels: 16,
            layers: match family {
                Family::Darts => 8,
                Family::Nb201 => 5,
            },
            data: DataConfig::default(),
            device: DeviceChoice::Auto,
            weights: WeightOptim::default(),
            alpha: AlphaOptim::default(),
            sdarts: SdartsConfig::default(),
            sgas: SgasConfig::default(),
            pt: PtConfig::default(),
            unrolled_r: 0.01,
            log_every: 0,
            eval_each_epoch: true,
        };
        match preset {
            Preset::Paper => {}
            Preset::Laptop => {
                c.channels = 8;
                c.layers = match family {
                    Family::Darts => 5,
                    Family::Nb201 => 2,
                };
                c.epochs = match family {
                    Family::Darts => 8,
                    Family::Nb201 => 10,
                };
                c.data.train_images = Some(6000);
                c.pt.proj_intv = 1;
                c.log_every = 20;
            }
            Preset::Tiny => {
                c.channels = match family {
                    Family::Darts => 4,
                    Family::Nb201 => 8,
                };
                c.layers = match family {
                    Family::Darts => 5,
                    Family::Nb201 => 1,
                };
                c.epochs = 3;
                c.data.train_images = Some(2000);
                c.pt.proj_intv = 1;
                c.log_every = 5;
            }
        }
        c.scale_sgas_schedule();
        c
    }

    /// Fits SGAS's warm-up and decision interval to the epoch budget, keeping the paper's
    /// proportions (9 warm-up + 8 decisions 5 epochs apart within 50 epochs).
    pub fn scale_sgas_schedule(&mut self) {
        if self.epochs >= 50 {
            self.sgas.warmup = 9;
            self.sgas.decision_freq = 5;
        } else {
            let scale = self.epochs as f64 / 50.0;
            self.sgas.warmup = ((9.0 * scale).round() as usize).max(1);
            self.sgas.decision_freq = ((5.0 * scale).round() as usize).max(1);
        }
    }

    /// Reads a TOML file; keys left out take their defaults.
    pub fn from_toml_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("config serialises")
    }

    /// Checks the values a user could get wrong.
    pub fn validate(&self) -> anyhow::Result<()> {
        use anyhow::bail;
        if self.batch_size == 0 {
            bail!("batch_size must be positive");
        }
        if self.channels == 0 || self.layers == 0 {
            bail!("channels and layers must be positive");
        }
        if self.space.family() == Family::Darts && self.layers < 3 {
            bail!("a DARTS-family supernet needs at least 3 cells");
        }
        if self.epochs == 0 {
            bail!("epochs must be at least 1");
        }
        if !(1..=2).contains(&self.sgas.criterion) {
            bail!("sgas.criterion must be 1 or 2");
        }
        if self.sgas.decision_freq == 0 {
            bail!("sgas.decision_freq must be at least 1");
        }
        if self.pt.proj_intv == 0 {
            bail!("pt.proj_intv must be at least 1");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_preset_is_the_spec() {
        let c = SearchConfig::preset(SpaceId::Darts, Method::Darts, Preset::Paper);
        assert_eq!(
            (c.epochs, c.batch_size, c.channels, c.layers),
            (50, 64, 16, 8)
        );
        assert_eq!(c.weights.lr, 0.025);
        assert_eq!(c.weights.lr_min, 0.001);
        assert_eq!(c.alpha.eps, 1e-8);
        assert_eq!((c.sgas.warmup, c.sgas.decision_freq), (9, 5));
        let nb = SearchConfig::preset(SpaceId::Nb201, Method::Darts, Preset::Paper);
        assert_eq!((nb.epochs, nb.layers), (100, 5));
    }

    #[test]
    fn toml_round_trips_and_rejects_unknown_keys() {
        let c = SearchConfig::preset(SpaceId::S2, Method::Sgas, Preset::Tiny);
        let back: SearchConfig = toml::from_str(&c.to_toml()).unwrap();
        assert_eq!(back, c);
        let err = toml::from_str::<SearchConfig>("epochz = 3").unwrap_err();
        assert!(err.to_string().contains("epochz"));
        let partial: SearchConfig = toml::from_str("epochs = 7\n[weights]\nlr = 0.1").unwrap();
        assert_eq!(partial.epochs, 7);
        assert_eq!(partial.weights.lr, 0.1);
        assert_eq!(partial.weights.momentum, 0.9);
    }
}
