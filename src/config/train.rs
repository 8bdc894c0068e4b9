//! The settings of final training (spec section 4), written as a training run's `config.toml`:
//! the papers' protocols, sized by the preset table.

use std::path::Path;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use super::DataConfig;
use super::presets::{Preset, scale};
use crate::device::DeviceChoice;
use crate::space::{Family, SpaceId};

/// The optimiser and schedule of final training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainOptim {
    /// Initial learning rate, annealed by a cosine over the epochs.
    pub lr: f64,
    /// Floor of the cosine, reached after the last epoch.
    pub lr_min: f64,
    pub momentum: f64,
    /// Nesterov momentum (NAS-Bench-201's recipe).
    pub nesterov: bool,
    /// Coupled L2 weight decay on every parameter.
    pub weight_decay: f64,
    /// Clip the global gradient norm to this value; 0 disables clipping.
    pub grad_clip: f64,
}

impl TrainOptim {
    /// DARTS's `train.py`: SGD 0.025 cosine to 0, momentum 0.9, wd 3e-4, clip 5.
    pub fn darts() -> Self {
        TrainOptim {
            lr: 0.025,
            lr_min: 0.0,
            momentum: 0.9,
            nesterov: false,
            weight_decay: 3e-4,
            grad_clip: 5.0,
        }
    }

    /// NAS-Bench-201's benchmark recipe: SGD 0.1 Nesterov cosine to 0, momentum 0.9, wd 5e-4,
    /// no clipping.
    pub fn nb201() -> Self {
        TrainOptim {
            lr: 0.1,
            lr_min: 0.0,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 5e-4,
            grad_clip: 0.0,
        }
    }
}

impl Default for TrainOptim {
    fn default() -> Self {
        TrainOptim::darts()
    }
}

/// Everything a training run needs; written as `config.toml` into the run directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// The search space the genotype belongs to (decides which network is built).
    pub space: SpaceId,
    pub preset: Preset,
    /// The genotype in its canonical text form.
    pub genotype: String,
    /// Where the genotype came from (text, a file, or a search run and its selection label).
    pub genotype_source: String,
    pub seed: u64,
    pub epochs: usize,
    pub batch_size: usize,
    /// Initial channels C.
    pub channels: usize,
    /// Cells L (DARTS family) or cells per stage N (NB201).
    pub layers: usize,
    /// Weight of the auxiliary head's loss (DARTS family); 0 builds no head.
    pub auxiliary_weight: f64,
    /// Final drop-path probability, reached linearly (p * epoch / epochs); 0 disables it.
    pub drop_path: f64,
    /// Cutout of 16 px at 32 px (scaled with the image) after crop and flip.
    pub cutout: bool,
    pub optim: TrainOptim,
    pub data: DataConfig,
    pub device: DeviceChoice,
    /// Batch size of the test passes (no effect on the result beyond float rounding).
    pub eval_batch_size: usize,
    /// Also write a metrics line every this many steps (0 = only per epoch).
    pub log_every: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig::preset(SpaceId::Darts, Preset::Paper)
    }
}

impl TrainConfig {
    /// The settings of `preset` for a space (the genotype is filled in by the caller).
    ///
    /// DARTS family, `paper`: the DARTS/PT evaluation protocol exactly (C=36, L=20, 600 epochs,
    /// batch 96, auxiliary 0.4, drop path 0.2, cutout). NB201, `paper`: the benchmark's own
    /// recipe (C=16, N=5, 200 epochs, batch 256, SGD 0.1 Nesterov, wd 5e-4, crop and flip only).
    /// `laptop` and `tiny` keep each family's recipe and shrink the network and the epochs.
    pub fn preset(space: SpaceId, preset: Preset) -> Self {
        let family = space.family();
        let s = scale(preset, family).train;
        let darts = family == Family::Darts;
        TrainConfig {
            space,
            preset,
            genotype: String::new(),
            genotype_source: String::new(),
            seed: 0,
            epochs: s.epochs,
            batch_size: s.batch_size,
            channels: s.channels,
            layers: s.layers,
            auxiliary_weight: if darts { 0.4 } else { 0.0 },
            drop_path: if darts { 0.2 } else { 0.0 },
            cutout: darts,
            optim: if darts {
                TrainOptim::darts()
            } else {
                TrainOptim::nb201()
            },
            data: DataConfig {
                train_images: s.train_images,
                ..DataConfig::default()
            },
            device: DeviceChoice::Auto,
            eval_batch_size: 256,
            log_every: s.log_every,
        }
    }

    /// Drop-path probability of an epoch: the linear ramp p * epoch / epochs of `train.py`.
    pub fn drop_prob(&self, epoch: usize) -> f64 {
        if self.epochs == 0 {
            return 0.0;
        }
        self.drop_path * epoch as f64 / self.epochs as f64
    }

    /// Reads a run's `config.toml`; keys left out take their defaults.
    pub fn from_toml_file(path: &Path) -> Result<Self> {
        super::layers::read_toml(path)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("config serialises")
    }

    /// Checks the values a user could get wrong.
    pub fn validate(&self) -> Result<()> {
        if self.genotype.trim().is_empty() {
            bail!("no genotype to train");
        }
        if self.batch_size == 0 || self.eval_batch_size == 0 {
            bail!("batch sizes must be positive");
        }
        if self.channels == 0 || self.layers == 0 {
            bail!("channels and layers must be positive");
        }
        if self.space.family() == Family::Darts && self.layers < 3 {
            bail!("a DARTS network needs at least 3 cells (reductions at L/3 and 2L/3)");
        }
        if self.epochs == 0 {
            bail!("epochs must be at least 1");
        }
        if !(0.0..1.0).contains(&self.drop_path) {
            bail!("drop_path must be in [0, 1)");
        }
        if self.auxiliary_weight < 0.0 {
            bail!("auxiliary_weight must not be negative");
        }
        if self.space.family() == Family::Nb201 && self.auxiliary_weight > 0.0 {
            bail!("NAS-Bench-201 networks have no auxiliary head; set auxiliary_weight = 0");
        }
        if self.optim.lr <= 0.0 || self.optim.lr_min < 0.0 || self.optim.lr_min > self.optim.lr {
            bail!("need 0 <= optim.lr_min <= optim.lr and optim.lr > 0");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_presets_are_the_protocols() {
        let d = TrainConfig::preset(SpaceId::S3, Preset::Paper);
        assert_eq!(
            (d.epochs, d.batch_size, d.channels, d.layers),
            (600, 96, 36, 20)
        );
        assert_eq!(
            (d.auxiliary_weight, d.drop_path, d.cutout),
            (0.4, 0.2, true)
        );
        assert_eq!(d.optim, TrainOptim::darts());
        let n = TrainConfig::preset(SpaceId::Nb201, Preset::Paper);
        assert_eq!(
            (n.epochs, n.batch_size, n.channels, n.layers),
            (200, 256, 16, 5)
        );
        assert!(n.optim.nesterov && n.optim.lr == 0.1 && n.optim.weight_decay == 5e-4);
        assert_eq!(
            (n.auxiliary_weight, n.drop_path, n.cutout),
            (0.0, 0.0, false)
        );
    }

    #[test]
    fn drop_path_ramps_linearly_from_zero() {
        let c = TrainConfig::preset(SpaceId::Darts, Preset::Paper);
        assert_eq!(c.drop_prob(0), 0.0);
        assert!((c.drop_prob(300) - 0.1).abs() < 1e-12);
        assert!((c.drop_prob(599) - 0.2 * 599.0 / 600.0).abs() < 1e-12);
    }

    #[test]
    fn toml_round_trips_and_validation_names_the_fault() {
        let mut c = TrainConfig::preset(SpaceId::Nb201, Preset::Tiny);
        assert!(c.validate().unwrap_err().to_string().contains("genotype"));
        c.genotype = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|".into();
        c.validate().unwrap();
        let back: TrainConfig = toml::from_str(&c.to_toml()).unwrap();
        assert_eq!(back, c);
        c.auxiliary_weight = 0.4;
        assert!(c.validate().unwrap_err().to_string().contains("auxiliary"));
    }
}
