//! Every setting of darts-pt in one place: what a search, PT and retraining read, the presets
//! that size them ([`presets`]), and how a preset, a TOML file and command-line flags combine
//! ([`layers`]: preset < file < flags, one rule for every job).
//!
//! A run directory records the resolved settings as its `config.toml`; a job reads nothing
//! else, so a run can always be repeated or resumed from its directory alone.

pub mod layers;
pub mod presets;
pub mod pt;
pub mod search;
pub mod train;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use layers::{DataFlags, Layer, PtFlags, RunFlags, SearchFlags};
pub use presets::{Preset, Scale};
pub use pt::{Criterion, PtConfig, SelectMethod};
pub use search::{AlphaOptim, Method, SdartsConfig, SearchConfig, SgasConfig, SgasOp, WeightOptim};
pub use train::{TrainConfig, TrainOptim};

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
