//! The selection panel's view of an SGAS+PT search: its decisions were made during the search
//! (SGAS chose when and which edge, PT's held-out measurement the operation), so they are
//! stepped through from `events.jsonl` rather than `selection.json`, with SGAS's own choice
//! (the largest softmax(α)) beside PT's.

use egui::Ui;

use super::selection::{SelectionUi, decision_heading, without_chart, without_table};
use crate::run::{SgasDecision, SgasPtScores};
use crate::space::SearchSpace;

impl SelectionUi {
    /// Left column for an SGAS+PT run: one decision at a time (`decisions` all carry PT's
    /// scores).
    pub(super) fn sgas_pt_decisions(
        &mut self,
        ui: &mut Ui,
        space: &SearchSpace,
        epochs: usize,
        decisions: &[&SgasDecision],
    ) {
        ui.heading("SGAS+PT's decisions, made during the search");
        let overridden = decisions
            .iter()
            .filter(|d| d.overridden_by_pt() == Some(true))
            .count();
        ui.label(format!(
            "SGAS chose when and which edge; PT kept the operation whose removal hurt the \
             held-out accuracy most. PT kept another operation than SGAS's own rule on \
             {overridden} of {} edges.",
            decisions.len()
        ));
        let n = decisions.len();
        self.stepper(ui, n);
        let d = decisions[self.step];
        if let Some(pt) = &d.pt {
            decision_view(ui, space, epochs, d, pt, (self.step, n));
        }
    }
}

/// One SGAS+PT decision: the accuracy without each candidate as bars and as a table.
fn decision_view(
    ui: &mut Ui,
    space: &SearchSpace,
    epochs: usize,
    d: &SgasDecision,
    pt: &SgasPtScores,
    (index, total): (usize, usize),
) {
    // The run record keeps only decisions that fit the space.
    let Some(cell) = d.cell_type(space) else {
        return;
    };
    // Decisions are recorded at the 0-based epoch that just ended; the ones after the last
    // epoch (the edges left undecided) at `epochs`.
    let when = match d.epoch < epochs {
        true => format!("after search epoch {}", d.epoch + 1),
        false => "after the search".into(),
    };
    decision_heading(ui, (index, total), &when, space, &d.cell, d.edge);
    let edge_ops = space.ops(cell, d.edge);
    let ops: Vec<_> = pt.candidates.iter().map(|&o| edge_ops[o]).collect();
    let kept = pt.candidates.iter().position(|&o| o == d.op);
    let sgas = pt.candidates.iter().position(|&o| o == pt.magnitude_op);
    without_chart(
        ui,
        ("sgas-pt-decision", index),
        &ops,
        &pt.acc_without,
        kept.unwrap_or(usize::MAX),
        None,
    );
    let mark = |o: usize| {
        let mut m = Vec::new();
        if Some(o) == kept {
            m.push("● kept (PT)");
        }
        if Some(o) == sgas {
            m.push("SGAS's own choice");
        }
        m.join(", ")
    };
    without_table(
        ui,
        ("sgas-pt-decision-table", index),
        &ops,
        &pt.acc_without,
        None,
        &mark,
    );
    let name = |o: usize| edge_ops.get(o).map_or("?", |k| k.name());
    let mut text = format!(
        "PT keeps {}: removing it leaves {:.2}%, the lowest of the {}. SGAS's own rule would \
         keep {}{}",
        name(d.op),
        kept.map_or(f64::NAN, |k| 100.0 * pt.acc_without[k]),
        ops.len(),
        name(pt.magnitude_op),
        if pt.magnitude_op == d.op {
            ": the same choice."
        } else {
            ": a different choice."
        }
    );
    if !d.pruned.is_empty() {
        text += &format!(
            " The node now has its two inputs: edges {:?} are dropped.",
            d.pruned
        );
    }
    ui.label(text);
}
