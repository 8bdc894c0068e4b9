//! What `events.jsonl` holds: the notable moments of a run (start, decisions, interruption,
//! divergence, the end), one JSON object per line tagged by `event`.

use serde::{Deserialize, Serialize};

use super::selection::{OpDecision, SgasDecision, TopologyDecision};

/// A decision a job made, as it is recorded and reported.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Decision {
    /// SGAS fixed an edge during the search.
    SgasDecision { decision: SgasDecision },
    /// PT kept one operation of an edge.
    PtOpDecision {
        summary: String,
        decision: OpDecision,
        /// The selection's label (`pt`, `pt-loss`, ...); absent in older runs.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
    },
    /// PT kept two inputs of a node.
    PtTopologyDecision {
        summary: String,
        decision: TopologyDecision,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
    },
}

impl Decision {
    /// The PT selection (label) and tuning epoch of a PT decision.
    pub fn pt_epoch(&self) -> Option<(Option<&str>, usize)> {
        match self {
            Decision::SgasDecision { .. } => None,
            Decision::PtOpDecision {
                decision, label, ..
            } => Some((label.as_deref(), decision.epoch)),
            Decision::PtTopologyDecision {
                decision, label, ..
            } => Some((label.as_deref(), decision.epoch)),
        }
    }

    /// One line for the user.
    pub fn summary(&self) -> String {
        match self {
            Decision::SgasDecision { decision: d } => {
                let mut line = format!(
                    "decision: {} cell, edge {} -> {}",
                    d.cell, d.edge, d.op_name
                );
                if let Some(pt) = &d.pt {
                    let acc: Vec<String> = (pt.candidates.iter().zip(&pt.acc_without))
                        .map(|(o, a)| format!("op {o}: {:.1}", 100.0 * a))
                        .collect();
                    line += &format!(
                        " by PT (acc without each: {}; SGAS alone: op {})",
                        acc.join(", "),
                        pt.magnitude_op
                    );
                }
                line
            }
            Decision::PtOpDecision { summary, .. }
            | Decision::PtTopologyDecision { summary, .. } => summary.clone(),
        }
    }
}

/// A job's start (or resumption) in `run_dir` on `device`, at `start_epoch` of `epochs`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Started {
    pub job: String,
    pub run_dir: String,
    pub device: String,
    pub epochs: usize,
    pub start_epoch: usize,
}

/// One line of `events.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunEvent {
    /// The job started (or resumed).
    Started(Started),
    /// Stopped on request at (epoch, step), a checkpoint written.
    Interrupted { epoch: usize, step: usize },
    /// A loss became NaN or infinite at (epoch, step).
    Diverged {
        epoch: usize,
        #[serde(default)]
        step: usize,
    },
    /// The job ran to its last epoch.
    Finished { epoch: usize },
    /// A decision (tagged by its own kind: `sgas_decision`, `pt_op_decision`, ...).
    #[serde(untagged)]
    Decision(Decision),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_lines_still_read() {
        let lines = [
            r#"{"event":"started","job":"search nb201 darts on fashion-mnist","run_dir":"r","device":"cpu","epochs":3,"start_epoch":0}"#,
            r#"{"event":"interrupted","epoch":1,"step":4}"#,
            r#"{"event":"diverged","epoch":2}"#,
            r#"{"event":"finished","epoch":3}"#,
        ];
        for l in lines {
            let e: RunEvent = serde_json::from_str(l).unwrap();
            assert_eq!(
                serde_json::from_str::<RunEvent>(&serde_json::to_string(&e).unwrap()).unwrap(),
                e
            );
        }
    }

    #[test]
    fn decisions_keep_their_own_tag() {
        let d = Decision::SgasDecision {
            decision: SgasDecision {
                epoch: 9,
                cell: "normal".into(),
                edge: 3,
                op: 1,
                op_name: "max_pool_3x3".into(),
                score: 0.5,
                pruned: vec![2],
                pt: None,
            },
        };
        let line = serde_json::to_string(&RunEvent::Decision(d.clone())).unwrap();
        assert!(
            line.starts_with(r#"{"event":"sgas_decision","decision":{"epoch":9"#),
            "{line}"
        );
        assert_eq!(
            serde_json::from_str::<RunEvent>(&line).unwrap(),
            RunEvent::Decision(d)
        );
    }
}
