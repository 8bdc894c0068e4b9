//! What `selection.json` holds: one record per selection of a search run, with every decision
//! and its scores, so a selection can be replayed, compared and retrained from the file alone.

use serde::{Deserialize, Serialize};

use crate::config::{Criterion, PtConfig, SelectMethod};
use crate::genotype::Genotype;
use crate::lookup::Nb201Entry;
use crate::space::{CellType, SearchSpace};

/// Everything `select` records about one selection.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SelectionRecord {
    /// "magnitude", "pt", "pt-loss", "pt-fixed-alpha"...
    pub label: String,
    pub method: SelectMethod,
    pub criterion: Option<Criterion>,
    pub fixed_alpha: bool,
    pub space: String,
    pub search_method: String,
    pub seed: u64,
    /// Whether selection ran to completion.
    pub complete: bool,
    pub genotype: Option<String>,
    pub genotype_json: Option<Genotype>,
    /// The final mixing weights per cell type (normal first).
    pub weights: Vec<Vec<Vec<f32>>>,
    /// Held-out accuracy of the supernet under the final (discretised) weights, BN in
    /// batch-statistics mode, and before selection.
    pub supernet_acc_before: Option<f64>,
    pub supernet_acc_after: Option<f64>,
    /// Magnitude: every edge's weights and whether it was kept.
    #[serde(default)]
    pub edges: Vec<EdgeChoice>,
    /// PT: every operation decision and topology decision, in order.
    #[serde(default)]
    pub op_decisions: Vec<OpDecision>,
    #[serde(default)]
    pub topology_decisions: Vec<TopologyDecision>,
    pub tune_epochs: Option<usize>,
    /// PT: every setting the selection ran with, resolved (absent in older records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<PtConfig>,
    pub evaluations: usize,
    pub elapsed: f64,
    pub nb201: Option<Nb201Entry>,
}

/// The magnitude rule's view of one edge.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EdgeChoice {
    pub cell: String,
    pub edge: usize,
    pub from: usize,
    pub to: usize,
    pub weights: Vec<f32>,
    pub best_op: String,
    pub strength: f32,
    pub kept: bool,
}

/// One operation decision of PT.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpDecision {
    pub epoch: usize,
    pub cell: String,
    pub edge: usize,
    pub from: usize,
    pub to: usize,
    /// Operation names of the edge, in index order.
    pub ops: Vec<String>,
    /// Held-out accuracy with each operation masked.
    pub acc_without: Vec<f64>,
    /// Held-out loss with each operation masked.
    pub loss_without: Vec<f64>,
    pub chosen: usize,
    pub chosen_name: String,
    /// Supernet accuracy before and after the decision.
    pub acc_before: f64,
    pub acc_after: f64,
}

/// One round of a topology decision: every remaining candidate's score when its edge is cut.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TopologyRound {
    pub candidates: Vec<usize>,
    pub acc_without: Vec<f64>,
    pub loss_without: Vec<f64>,
    pub removed: usize,
}

/// A topology decision of PT for one node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TopologyDecision {
    pub epoch: usize,
    pub cell: String,
    /// Intermediate node index (0..4); node n is state n+2.
    pub node: usize,
    pub rounds: Vec<TopologyRound>,
    pub kept: Vec<usize>,
    pub acc_before: f64,
    pub acc_after: f64,
}

/// One SGAS decision during a search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SgasDecision {
    pub epoch: usize,
    pub cell: String,
    pub edge: usize,
    pub op: usize,
    pub op_name: String,
    pub score: f64,
    /// Edges removed because their node now has two decided inputs.
    pub pruned: Vec<usize>,
    /// SGAS+PT: how PT chose `op` (absent when SGAS chose it by magnitude).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pt: Option<SgasPtScores>,
}

impl SgasDecision {
    /// The cell type it was made in, when `space` has one of that name.
    pub fn cell_type(&self, space: &SearchSpace) -> Option<CellType> {
        space
            .cell_types()
            .iter()
            .copied()
            .find(|c| c.name() == self.cell)
    }

    /// SGAS+PT: whether PT kept another operation than SGAS's own rule (None for SGAS alone).
    pub fn overridden_by_pt(&self) -> Option<bool> {
        self.pt.as_ref().map(|pt| pt.magnitude_op != self.op)
    }

    /// Whether every index it holds exists in `space` (a record read from a file is checked
    /// before it is drawn).
    pub fn fits(&self, space: &SearchSpace) -> bool {
        let Some(cell) = self.cell_type(space) else {
            return false;
        };
        if self.edge >= space.num_edges() {
            return false;
        }
        let n = space.ops(cell, self.edge).len();
        self.op < n
            && self.pt.as_ref().is_none_or(|pt| {
                pt.magnitude_op < n
                    && pt.candidates.iter().all(|&o| o < n)
                    && pt.acc_without.len() == pt.candidates.len()
            })
    }
}

/// PT's measurements behind an SGAS+PT decision: the supernet's held-out accuracy and loss
/// with each non-`none` operation of the edge masked in turn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SgasPtScores {
    /// The operations scored (indices into the edge's operations).
    pub candidates: Vec<usize>,
    pub acc_without: Vec<f64>,
    pub loss_without: Vec<f64>,
    /// What SGAS's own rule (the largest probability) would have chosen.
    pub magnitude_op: usize,
}
