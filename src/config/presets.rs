//! The presets: one table that sizes the search supernet, PT and the retrained network for
//! each (preset, search-space family). `search`, `select`, `train`, `demo`, `experiment` and
//! the studio all read this table, so a preset means the same run everywhere.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::space::Family;

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
    pub const ALL: [Preset; 3] = [Preset::Tiny, Preset::Laptop, Preset::Paper];

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
        Preset::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| format!("unknown preset '{s}' (expected paper, laptop or tiny)"))
    }
}

/// The search supernet of a preset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SupernetScale {
    /// Initial channels C.
    pub channels: usize,
    /// Cells L (DARTS family) or cells per stage N (NB201).
    pub layers: usize,
    pub epochs: usize,
    pub batch_size: usize,
    /// Only the first N training images (`None`: all).
    pub train_images: Option<usize>,
    /// A metrics line every this many steps (0: per epoch only).
    pub log_every: usize,
}

/// PT's schedule of a preset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PtScale {
    /// Tuning epochs between decisions.
    pub proj_intv: usize,
    /// Total tuning epochs (`None`: the spec's schedule from `proj_intv`).
    pub tune_epochs: Option<usize>,
}

/// The retrained (discrete) network of a preset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetworkScale {
    pub channels: usize,
    pub layers: usize,
    pub epochs: usize,
    pub batch_size: usize,
    pub train_images: Option<usize>,
    pub log_every: usize,
}

/// Everything a preset sets for one family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scale {
    pub search: SupernetScale,
    pub pt: PtScale,
    pub train: NetworkScale,
}

const fn supernet(
    channels: usize,
    layers: usize,
    (epochs, batch_size): (usize, usize),
    train_images: Option<usize>,
    log_every: usize,
) -> SupernetScale {
    SupernetScale {
        channels,
        layers,
        epochs,
        batch_size,
        train_images,
        log_every,
    }
}

const fn network(
    channels: usize,
    layers: usize,
    epochs: usize,
    batch_size: usize,
    train_images: Option<usize>,
    log_every: usize,
) -> NetworkScale {
    NetworkScale {
        channels,
        layers,
        epochs,
        batch_size,
        train_images,
        log_every,
    }
}

const fn pt(proj_intv: usize, tune_epochs: Option<usize>) -> PtScale {
    PtScale {
        proj_intv,
        tune_epochs,
    }
}

/// The table. `paper` is the papers' protocols (spec sections 2-4): DARTS C=16 L=8 for 50
/// epochs, NB201 C=16 N=5 for 100, PT deciding every 5 tuning epochs, retraining DARTS cells as
/// C=36 L=20 for 600 epochs and NB201 cells with the benchmark's C=16 N=5, 200 epochs, batch
/// 256. `laptop` fits a 2-core CPU in minutes per run (NB201: the README's PT-vs-magnitude
/// experiment, three seeds in about half an hour); `tiny` exists for demos and tests.
pub const fn scale(preset: Preset, family: Family) -> Scale {
    match (preset, family) {
        (Preset::Paper, Family::Darts) => Scale {
            search: supernet(16, 8, (50, 64), None, 0),
            pt: pt(5, None),
            train: network(36, 20, 600, 96, None, 0),
        },
        (Preset::Paper, Family::Nb201) => Scale {
            search: supernet(16, 5, (100, 64), None, 0),
            pt: pt(5, None),
            train: network(16, 5, 200, 256, None, 0),
        },
        // Sized so that `experiment pt-vs-magnitude --space darts` (the 7-op space, the
        // dearest) runs 3 seeds in about two hours on a 2-core CPU: PT's ~290 passes over the
        // held-out half dominate, so the halves are 400 images each; batch 32 gives the
        // supernet 13 steps per epoch. The retrained network is the supernet's shape at C=8.
        (Preset::Laptop, Family::Darts) => Scale {
            search: supernet(4, 5, (12, 32), Some(800), 5),
            pt: pt(1, None),
            train: network(8, 5, 4, 96, None, 20),
        },
        (Preset::Laptop, Family::Nb201) => Scale {
            search: supernet(8, 1, (8, 64), Some(4000), 20),
            pt: pt(1, None),
            train: network(8, 1, 5, 96, None, 20),
        },
        // A tiny experiment on the 7-op space runs in CI: PT's ~290 passes each read 128
        // held-out images.
        (Preset::Tiny, Family::Darts) => Scale {
            search: supernet(4, 3, (2, 32), Some(256), 2),
            // The spec's schedule would be 17 tuning epochs: two keep a tiny run tiny (the
            // second makes every remaining decision).
            pt: pt(1, Some(2)),
            train: network(4, 3, 1, 96, Some(512), 2),
        },
        (Preset::Tiny, Family::Nb201) => Scale {
            search: supernet(8, 1, (3, 64), Some(2000), 5),
            pt: pt(1, None),
            train: network(8, 1, 2, 96, Some(2000), 5),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_rows_are_the_protocols() {
        let d = scale(Preset::Paper, Family::Darts);
        assert_eq!(
            (d.search.channels, d.search.layers, d.search.epochs),
            (16, 8, 50)
        );
        assert_eq!(
            (d.train.channels, d.train.layers, d.train.epochs),
            (36, 20, 600)
        );
        assert_eq!(d.pt, pt(5, None));
        let n = scale(Preset::Paper, Family::Nb201);
        assert_eq!((n.search.layers, n.search.epochs), (5, 100));
        assert_eq!((n.train.epochs, n.train.batch_size), (200, 256));
        assert!(d.search.train_images.is_none() && n.train.train_images.is_none());
    }

    #[test]
    fn presets_parse_and_print() {
        for p in Preset::ALL {
            assert_eq!(p.name().parse::<Preset>().unwrap(), p);
        }
        assert!("huge".parse::<Preset>().unwrap_err().contains("laptop"));
    }
}
