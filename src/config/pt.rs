//! The settings of architecture selection: which method, and PT's criterion, schedule and
//! tuning (spec section 3). A search run records the PT settings its preset gives; `select`
//! starts from those and applies its own file and flags on top.

use std::str::FromStr;

use anyhow::bail;
use serde::{Deserialize, Serialize};

use super::presets::{Preset, scale};
use crate::space::Family;

/// Which selection to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SelectMethod {
    /// DARTS's rule: the largest softmax(alpha).
    Magnitude,
    /// Perturbation-based selection.
    Pt,
}

impl SelectMethod {
    pub fn name(self) -> &'static str {
        match self {
            SelectMethod::Magnitude => "magnitude",
            SelectMethod::Pt => "pt",
        }
    }
}

impl FromStr for SelectMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "magnitude" => Ok(SelectMethod::Magnitude),
            "pt" => Ok(SelectMethod::Pt),
            _ => Err(format!(
                "unknown selection method '{s}' (expected magnitude or pt)"
            )),
        }
    }
}

/// What PT measures when an operation is masked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Criterion {
    /// Held-out accuracy: keep the op whose removal gives the lowest accuracy.
    #[default]
    Acc,
    /// Held-out loss: keep the op whose removal gives the highest loss.
    Loss,
}

impl FromStr for Criterion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "acc" => Ok(Criterion::Acc),
            "loss" => Ok(Criterion::Loss),
            _ => Err(format!("unknown criterion '{s}' (expected acc or loss)")),
        }
    }
}

/// PT's operation rule: the index of the operation whose removal hurts most, the first
/// minimum of accuracy (strict <) or, for loss, the first maximum (strict >).
pub fn choose_op(criterion: Criterion, acc: &[f64], loss: &[f64]) -> usize {
    let mut best = 0;
    for o in 1..acc.len() {
        let better = match criterion {
            Criterion::Acc => acc[o] < acc[best],
            Criterion::Loss => loss[o] > loss[best],
        };
        if better {
            best = o;
        }
    }
    best
}

/// PT (perturbation-based selection) settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PtConfig {
    /// What a masked operation is scored by.
    pub criterion: Criterion,
    /// Tuning epochs between decisions.
    pub proj_intv: usize,
    /// Total tuning epochs; absent: the spec's schedule for `proj_intv`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tune_epochs: Option<usize>,
    /// Constant weight learning rate while tuning (the search lr / 10).
    pub lr: f64,
    /// Perturbation radius of SDARTS-RS+PT while tuning.
    pub epsilon: f64,
    /// No alpha updates while tuning (automatic for fixed-alpha searches).
    pub fixed_alpha: bool,
    /// Seed of the edge order and the scoring passes; absent: the search's seed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Evaluation passes use the training augmentation and a fresh order each pass, as the
    /// official code does; `false` scores on a fixed order without augmentation.
    pub augment_eval: bool,
    /// Batch size of evaluation passes (0 = the search batch size).
    pub eval_batch_size: usize,
}

impl Default for PtConfig {
    fn default() -> Self {
        PtConfig {
            criterion: Criterion::Acc,
            proj_intv: 5,
            tune_epochs: None,
            lr: 0.0025,
            epsilon: 0.3,
            fixed_alpha: false,
            seed: None,
            augment_eval: true,
            eval_batch_size: 0,
        }
    }
}

impl PtConfig {
    /// The paper's PT with the schedule of `preset`.
    pub fn preset(preset: Preset, family: Family) -> Self {
        let s = scale(preset, family).pt;
        PtConfig {
            proj_intv: s.proj_intv,
            tune_epochs: s.tune_epochs,
            ..PtConfig::default()
        }
    }

    /// Checks the values a user could get wrong.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.proj_intv == 0 {
            bail!("pt.proj_intv must be at least 1");
        }
        if self.tune_epochs == Some(0) {
            bail!("pt.tune_epochs must be at least 1");
        }
        if self.lr.is_nan() || self.lr <= 0.0 {
            bail!("pt.lr must be positive");
        }
        if !(0.0..=1.0).contains(&self.epsilon) {
            bail!("pt.epsilon must be in [0, 1]");
        }
        Ok(())
    }
}
