//! The settings of a supernet search (spec section 2), with the paper's values as defaults.

use std::fmt;
use std::str::FromStr;

use anyhow::bail;
use serde::{Deserialize, Serialize};

use super::presets::{Preset, scale};
use super::{DataConfig, PtConfig};
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
    /// Epochs before the first decision (scaled with `epochs` unless given).
    pub warmup: usize,
    /// Epochs between decisions (scaled with `epochs` unless given).
    pub decision_freq: usize,
    /// Batch size added after each decision.
    pub batch_increase: usize,
    /// Epochs of history for the stability term of criterion 2.
    pub history: usize,
    /// Who chooses the operation on the edge SGAS decides: SGAS (its largest probability) or
    /// PT (the operation whose removal hurts the supernet most): SGAS+PT, the paper's 2.4.
    pub op_choice: SgasOp,
}

/// The operation choice of an SGAS decision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SgasOp {
    /// SGAS's own: the first maximum of the edge's non-`none` probabilities.
    #[default]
    Magnitude,
    /// PT's: mask each non-`none` operation in turn on the held-out half and keep the one
    /// whose removal hurts most (the run's `[pt]` criterion, batch size and augmentation).
    Pt,
}

impl SgasOp {
    pub fn name(self) -> &'static str {
        match self {
            SgasOp::Magnitude => "magnitude",
            SgasOp::Pt => "pt",
        }
    }
}

impl fmt::Display for SgasOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SgasOp {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "magnitude" => Ok(SgasOp::Magnitude),
            "pt" => Ok(SgasOp::Pt),
            _ => Err(format!(
                "unknown SGAS operation choice '{s}' (expected magnitude or pt)"
            )),
        }
    }
}

impl Default for SgasConfig {
    fn default() -> Self {
        SgasConfig {
            criterion: 1,
            warmup: 9,
            decision_freq: 5,
            batch_increase: 8,
            history: 4,
            op_choice: SgasOp::Magnitude,
        }
    }
}

impl SgasConfig {
    /// The paper's schedule fitted to an epoch budget, keeping its proportions (9 warm-up
    /// epochs and 8 decisions 5 epochs apart within 50 epochs): (warmup, decision_freq).
    pub fn schedule_for(epochs: usize) -> (usize, usize) {
        if epochs >= 50 {
            return (9, 5);
        }
        let scale = epochs as f64 / 50.0;
        (
            ((9.0 * scale).round() as usize).max(1),
            ((5.0 * scale).round() as usize).max(1),
        )
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
    /// The PT settings selections of this run start from (`select` can override them).
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
    /// The settings of `preset` for a space and method: the paper's values, sized by the
    /// preset table.
    pub fn preset(space: SpaceId, method: Method, preset: Preset) -> Self {
        let s = scale(preset, space.family());
        let mut c = SearchConfig {
            space,
            method,
            preset,
            seed: 0,
            epochs: s.search.epochs,
            batch_size: s.search.batch_size,
            channels: s.search.channels,
            layers: s.search.layers,
            data: DataConfig {
                train_images: s.search.train_images,
                ..DataConfig::default()
            },
            device: DeviceChoice::Auto,
            weights: WeightOptim::default(),
            alpha: AlphaOptim::default(),
            sdarts: SdartsConfig::default(),
            sgas: SgasConfig::default(),
            pt: PtConfig::preset(preset, space.family()),
            unrolled_r: 0.01,
            log_every: s.search.log_every,
            eval_each_epoch: true,
        };
        (c.sgas.warmup, c.sgas.decision_freq) = SgasConfig::schedule_for(c.epochs);
        c
    }

    /// Reads a run's `config.toml`; keys left out take their defaults.
    pub fn from_toml_file(path: &std::path::Path) -> anyhow::Result<Self> {
        super::layers::read_toml(path)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("config serialises")
    }

    /// Checks the values a user could get wrong.
    pub fn validate(&self) -> anyhow::Result<()> {
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
        if self.sgas.op_choice == SgasOp::Pt && self.method != Method::Sgas {
            bail!("sgas.op_choice = \"pt\" (SGAS+PT) needs --method sgas");
        }
        self.pt.validate()
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
    fn sgas_schedule_keeps_the_papers_proportions() {
        assert_eq!(SgasConfig::schedule_for(50), (9, 5));
        assert_eq!(SgasConfig::schedule_for(100), (9, 5));
        assert_eq!(SgasConfig::schedule_for(10), (2, 1));
        assert_eq!(SgasConfig::schedule_for(25), (5, 3));
        assert_eq!(SgasConfig::schedule_for(1), (1, 1));
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
