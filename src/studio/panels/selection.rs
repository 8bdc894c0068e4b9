//! The selection panel: PT's decisions from `selection.json` replayed edge by edge (every
//! operation's held-out accuracy when it is removed, and the one PT kept), and two selections
//! (magnitude and PT by default) drawn side by side with the edges where they differ marked.

use std::sync::Arc;

use egui::{Color32, RichText, Ui};
use egui_plot::{Bar, BarChart, HLine, Plot};

use crate::genotype::Genotype;
use crate::lookup::{Nb201Entry, Nb201Table};
use crate::run::{OpDecision, SelectionRecord, SgasDecision};
use crate::space::{CellType, Family, OpKind, SearchSpace};
use crate::studio::cell::{self, CellView, edge_name};
use crate::studio::colormap::{ValueRange, op_color, op_short};
use crate::studio::record::{RunRecord, chosen_ops};

/// What the panel remembers between frames.
pub struct SelectionUi {
    /// Index of the PT decision shown.
    pub step: usize,
    /// The record whose decisions are stepped through.
    pub stepped: String,
    /// The two selections compared.
    pub left: String,
    pub right: String,
    /// PT settings for a run started here.
    pub tune_epochs: Option<usize>,
    pub criterion: crate::config::Criterion,
}

impl Default for SelectionUi {
    fn default() -> Self {
        SelectionUi {
            step: 0,
            stepped: "pt".into(),
            left: "magnitude".into(),
            right: "pt".into(),
            tune_epochs: None,
            criterion: crate::config::Criterion::Acc,
        }
    }
}

/// What the panel asks the app to do.
pub enum SelectionAction {
    Run(crate::config::SelectMethod),
}

/// The NAS-Bench-201 table, loaded in the background when configured.
pub enum TableState {
    NotConfigured,
    Loading,
    Ready(Arc<Nb201Table>),
    Failed(String),
}

impl SelectionUi {
    /// Draws the panel; returns a request to start a selection job.
    pub fn ui(
        &mut self,
        ui: &mut Ui,
        rec: &RunRecord,
        table: &TableState,
        job_running: bool,
    ) -> Option<SelectionAction> {
        let mut action = None;
        let Some(space) = rec.space.clone() else {
            ui.label("This run has no readable config.toml.");
            return None;
        };
        ui.horizontal(|ui| {
            let can = rec.has_checkpoint && !job_running;
            let why = if job_running {
                "a job is running"
            } else {
                "the run has no checkpoint yet"
            };
            if ui
                .add_enabled(can, egui::Button::new("Run magnitude"))
                .on_disabled_hover_text(why)
                .on_hover_text("DARTS's rule: keep the operations with the largest softmax(α)")
                .clicked()
            {
                action = Some(SelectionAction::Run(crate::config::SelectMethod::Magnitude));
            }
            if ui
                .add_enabled(can, egui::Button::new("Run PT"))
                .on_disabled_hover_text(why)
                .on_hover_text("perturbation-based selection: tune, mask, decide, repeat")
                .clicked()
            {
                action = Some(SelectionAction::Run(crate::config::SelectMethod::Pt));
            }
            let mut custom = self.tune_epochs.is_some();
            let c = ui.checkbox(&mut custom, "tuning epochs");
            if custom {
                let mut n = self.tune_epochs.unwrap_or(1);
                ui.add(egui::DragValue::new(&mut n).range(1..=500))
                    .labelled_by(c.id);
                self.tune_epochs = Some(n);
            } else {
                self.tune_epochs = None;
                ui.weak("(the spec's schedule)");
            }
            egui::ComboBox::new("pt-criterion", "PT's criterion")
                .selected_text(match self.criterion {
                    crate::config::Criterion::Acc => "accuracy",
                    crate::config::Criterion::Loss => "loss",
                })
                .show_ui(ui, |ui| {
                    ui.selectable_value(
                        &mut self.criterion,
                        crate::config::Criterion::Acc,
                        "accuracy",
                    );
                    ui.selectable_value(
                        &mut self.criterion,
                        crate::config::Criterion::Loss,
                        "loss",
                    );
                });
        });
        let sgas_pt: Vec<&SgasDecision> = rec
            .sgas_decisions
            .iter()
            .filter(|d| d.pt.is_some())
            .collect();
        if rec.selections.is_empty() && sgas_pt.is_empty() {
            ui.add_space(8.0);
            ui.label("No selection yet: run magnitude or PT above (or `darts-pt select`).");
            return action;
        }
        ui.separator();
        let labels: Vec<String> = rec.selections.keys().cloned().collect();
        let with_decisions: Vec<&String> = labels
            .iter()
            .filter(|l| !rec.selections[*l].op_decisions.is_empty())
            .collect();
        if !rec.selections.contains_key(&self.stepped)
            && let Some(l) = with_decisions.first()
        {
            self.stepped = (*l).clone();
        }

        egui::ScrollArea::vertical()
            .id_salt("selection-scroll")
            .show(ui, |ui| {
                ui.columns(2, |cols| {
                    if with_decisions.is_empty() && !sgas_pt.is_empty() {
                        let epochs = rec.config.as_ref().map_or(usize::MAX, |c| c.epochs);
                        self.sgas_pt_decisions(&mut cols[0], &space, epochs, &sgas_pt);
                    } else {
                        self.decisions(&mut cols[0], rec, &space, &with_decisions);
                    }
                    if labels.is_empty() {
                        cols[1].label(
                            "No selection yet: `darts-pt select --method magnitude` reads the \
                             cell SGAS decided back.",
                        );
                    } else {
                        self.compare(&mut cols[1], rec, &space, &labels, table);
                    }
                });
            });
        action
    }

    /// The previous/slider/next row over `n` decisions.
    pub(super) fn stepper(&mut self, ui: &mut Ui, n: usize) {
        self.step = self.step.min(n - 1);
        ui.horizontal(|ui| {
            if ui
                .add_enabled(self.step > 0, egui::Button::new("◀ previous"))
                .clicked()
            {
                self.step -= 1;
            }
            let mut shown = self.step + 1;
            ui.add(egui::Slider::new(&mut shown, 1..=n).text("decision"));
            self.step = shown - 1;
            if ui
                .add_enabled(self.step + 1 < n, egui::Button::new("next ▶"))
                .clicked()
            {
                self.step += 1;
            }
        });
    }

    /// Left column: one PT decision at a time.
    fn decisions(&mut self, ui: &mut Ui, rec: &RunRecord, space: &SearchSpace, with: &[&String]) {
        ui.heading("PT's decisions, edge by edge");
        let Some(sel) = rec.selections.get(&self.stepped) else {
            ui.label("No PT selection in this run yet.");
            return;
        };
        if with.len() > 1 {
            egui::ComboBox::new("stepped-selection", "selection stepped through")
                .selected_text(self.stepped.as_str())
                .show_ui(ui, |ui| {
                    for l in with {
                        ui.selectable_value(&mut self.stepped, (*l).clone(), l.as_str());
                    }
                });
        }
        let n = sel.op_decisions.len();
        if n == 0 {
            ui.label(format!(
                "The '{}' selection records no operation decisions.",
                sel.label
            ));
            return;
        }
        self.stepper(ui, n);
        let d = &sel.op_decisions[self.step];
        decision_view(ui, rec, space, d, self.step, n);
        if !sel.topology_decisions.is_empty() {
            ui.add_space(8.0);
            ui.heading("Topology: two inputs per node");
            ui.label(
                "For each node PT cuts, round by round, the input edge whose removal hurts \
                 least until two remain.",
            );
            for t in &sel.topology_decisions {
                ui.collapsing(
                    format!("{} cell node {}: keeps edges {:?}", t.cell, t.node, t.kept),
                    |ui| {
                        for (i, r) in t.rounds.iter().enumerate() {
                            let parts: Vec<String> = r
                                .candidates
                                .iter()
                                .zip(&r.acc_without)
                                .map(|(e, a)| format!("edge {e}: {:.2}%", 100.0 * a))
                                .collect();
                            ui.label(format!(
                                "round {}: without {} → cut edge {}",
                                i + 1,
                                parts.join(", "),
                                r.removed
                            ));
                        }
                    },
                );
            }
        }
    }

    /// Right column: two selections side by side.
    fn compare(
        &mut self,
        ui: &mut Ui,
        rec: &RunRecord,
        space: &SearchSpace,
        labels: &[String],
        table: &TableState,
    ) {
        if labels.len() == 1 {
            // SGAS's own cell, say: nothing to compare it with.
            ui.heading("The selection");
        } else {
            ui.heading("Selections side by side");
        }
        // A side whose selection is absent (PT not run yet) shows the first one, and its own
        // as soon as it appears: the choice is kept, not overwritten.
        let effective = |want: &str| match rec.selections.contains_key(want) {
            true => want.to_string(),
            false => labels[0].clone(),
        };
        if labels.len() > 1 {
            ui.horizontal(|ui| {
                for (salt, side) in [("left", &mut self.left), ("right", &mut self.right)] {
                    egui::ComboBox::new(salt, salt)
                        .selected_text(effective(side))
                        .show_ui(ui, |ui| {
                            for l in labels {
                                ui.selectable_value(side, l.clone(), l.as_str());
                            }
                        });
                }
            });
        }
        let (left, right) = (effective(&self.left), effective(&self.right));
        let (Some(a), Some(b)) = (rec.selections.get(&left), rec.selections.get(&right)) else {
            return;
        };
        // One selection (SGAS's own, say) is drawn once, not beside itself.
        let same = left == right;
        let mut differing = 0;
        let mut total = 0;
        let range = ValueRange::up_to(1.0);
        for (ci, &cell_type) in space.cell_types().iter().enumerate() {
            let ca = chosen_ops(a, space, cell_type);
            let cb = chosen_ops(b, space, cell_type);
            let diff: Vec<bool> = match (&ca, &cb) {
                (Some(x), Some(y)) => x.iter().zip(y).map(|(p, q)| p != q).collect(),
                _ => vec![false; space.num_edges()],
            };
            differing += diff.iter().filter(|d| **d).count();
            total += diff.len();
            let draw = |ui: &mut Ui, sel: &SelectionRecord, chosen: &Option<Vec<Option<usize>>>| {
                ui.strong(match space.family {
                    Family::Nb201 => sel.label.clone(),
                    Family::Darts => format!("{} · {} cell", sel.label, cell_type.name()),
                });
                let Some(weights) = sel.weights.get(ci) else {
                    ui.label("no final weights recorded (incomplete selection)");
                    return;
                };
                let view = CellView {
                    space,
                    cell: cell_type,
                    weights,
                    range,
                    chosen: chosen.as_deref(),
                    masked: &[],
                    diff: Some(&diff),
                    focus: None,
                    discrete: true,
                    salt: &sel.label,
                };
                cell::show(ui, &view);
            };
            if same {
                draw(ui, a, &ca);
            } else if space.family == Family::Nb201 {
                ui.columns(2, |c| {
                    draw(&mut c[0], a, &ca);
                    draw(&mut c[1], b, &cb);
                });
            } else {
                draw(ui, a, &ca);
                draw(ui, b, &cb);
            }
        }
        if !same {
            ui.label(
                RichText::new(format!("{differing} of {total} edges differ (marked ≠)")).strong(),
            );
        }
        ui.add_space(6.0);
        let shown = if same { vec![a] } else { vec![a, b] };
        egui::Grid::new("selection-facts")
            .striped(true)
            .num_columns(1 + shown.len())
            .show(ui, |ui| {
                ui.strong("");
                for s in &shown {
                    ui.strong(&s.label);
                }
                ui.end_row();
                let pct = |v: Option<f64>| v.map_or("–".into(), |v| format!("{:.2}%", 100.0 * v));
                let entries: Vec<_> = shown.iter().map(|s| lookup(s, table)).collect();
                let mut rows: Vec<(&str, Vec<String>)> = vec![
                    (
                        "supernet acc before",
                        shown.iter().map(|s| pct(s.supernet_acc_before)).collect(),
                    ),
                    (
                        "supernet acc after",
                        shown.iter().map(|s| pct(s.supernet_acc_after)).collect(),
                    ),
                ];
                if entries.iter().any(|e| e.is_some()) {
                    let each = |f: &dyn Fn(&Nb201Entry) -> String| {
                        entries
                            .iter()
                            .map(|e| e.as_ref().map_or("–".into(), f))
                            .collect()
                    };
                    rows.push((
                        "NB201 CIFAR-10",
                        each(&|e| {
                            format!("{:.2}% (rank {} of {})", e.cifar10, e.rank_cifar10, e.total)
                        }),
                    ));
                    rows.push(("NB201 CIFAR-100", each(&|e| format!("{:.2}%", e.cifar100))));
                    rows.push((
                        "NB201 ImageNet16-120",
                        each(&|e| format!("{:.2}%", e.imagenet16_120)),
                    ));
                }
                for (name, cells) in rows {
                    ui.label(name);
                    for c in cells {
                        ui.label(c);
                    }
                    ui.end_row();
                }
            });
        if space.family == Family::Nb201 {
            match table {
                TableState::NotConfigured => {
                    ui.weak(if cfg!(target_arch = "wasm32") {
                        "NAS-Bench-201 lookup: load the table's CSV in the runs panel"
                    } else {
                        "NAS-Bench-201 lookup: give --table CSV or set DARTS_PT_NB201"
                    });
                }
                TableState::Loading => {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label("loading the NAS-Bench-201 table …");
                    });
                }
                TableState::Failed(e) => {
                    ui.colored_label(ui.visuals().error_fg_color, e);
                }
                TableState::Ready(t) => {
                    ui.weak(format!("NAS-Bench-201 table: {} cells", t.len()));
                }
            }
        }
        ui.with_layout(egui::Layout::top_down(egui::Align::Min), |ui| {
            for s in &shown {
                if let Some(g) = &s.genotype {
                    ui.label(format!("{} genotype:", s.label));
                    ui.add(
                        egui::Label::new(RichText::new(g).monospace().size(11.0))
                            .wrap_mode(egui::TextWrapMode::Wrap),
                    );
                }
            }
        });
    }
}

/// The benchmark entry of a selection: recorded at selection time, or looked up now.
fn lookup(sel: &SelectionRecord, table: &TableState) -> Option<Nb201Entry> {
    if let Some(e) = &sel.nb201 {
        return Some(e.clone());
    }
    let TableState::Ready(t) = table else {
        return None;
    };
    match Genotype::parse(sel.genotype.as_deref()?) {
        Ok(Genotype::Nb201(g)) => t.query(&g).ok(),
        _ => None,
    }
}

/// One operation decision: the accuracies as bars and as a table.
fn decision_view(
    ui: &mut Ui,
    rec: &RunRecord,
    space: &SearchSpace,
    d: &OpDecision,
    index: usize,
    total: usize,
) {
    let cell_type = if d.cell == "reduce" {
        CellType::Reduce
    } else {
        CellType::Normal
    };
    decision_heading(
        ui,
        (index, total),
        &format!("tuning epoch {}", d.epoch),
        space,
        &d.cell,
        d.edge,
    );
    let ops: Vec<OpKind> = d
        .ops
        .iter()
        .map(|n| n.parse().unwrap_or(OpKind::None))
        .collect();
    let before = Some(d.acc_before).filter(|v| v.is_finite());
    without_chart(
        ui,
        ("pt-decision", d.cell.as_str(), d.edge, d.epoch),
        &ops,
        &d.acc_without,
        d.chosen,
        before.map(|b| ("supernet before the decision", b)),
    );
    let kept = |o: usize| if o == d.chosen { "● kept" } else { "" }.to_string();
    without_table(
        ui,
        ("pt-decision-table", index),
        &ops,
        &d.acc_without,
        Some(d.acc_before),
        &kept,
    );
    let chosen_acc = d.acc_without.get(d.chosen).copied().unwrap_or(f64::NAN);
    ui.label(format!(
        "PT keeps {}: removing it leaves {:.2}%, the lowest of the {} (the supernet before the \
         decision: {:.2}%; with the edge fixed to {}: {:.2}%).",
        d.chosen_name,
        100.0 * chosen_acc,
        d.acc_without.len(),
        100.0 * d.acc_before,
        d.chosen_name,
        100.0 * d.acc_after
    ));
    // What alpha's magnitude says about the same edge at the end of the search.
    if let Some(last) = rec.alphas.last()
        && let Some(row) = RunRecord::cell_weights(last, cell_type).and_then(|w| w.get(d.edge))
        && let Some(m) = cell::dominant(row, space.ops(cell_type, d.edge))
    {
        let name = space.ops(cell_type, d.edge)[m].name();
        ui.label(format!(
            "Magnitude would keep {name} here (softmax {:.3}){}",
            row[m],
            if name == d.chosen_name {
                ": same choice."
            } else {
                ": a different choice."
            }
        ));
    }
}

/// "decision i of n · WHEN · normal cell · edge e (node 2 ← c_{k-1})", in bold.
pub(super) fn decision_heading(
    ui: &mut Ui,
    (index, total): (usize, usize),
    when: &str,
    space: &SearchSpace,
    cell: &str,
    edge: usize,
) {
    let name = space
        .edges()
        .into_iter()
        .find(|e| e.index == edge)
        .map_or(String::new(), |e| {
            format!(" ({})", edge_name(space.family, &e))
        });
    ui.label(
        RichText::new(format!(
            "decision {} of {total} · {when} · {cell} cell · edge {edge}{name}",
            index + 1
        ))
        .strong(),
    );
}

/// The held-out accuracy without each operation of an edge, as bars zoomed onto their range
/// (the differences PT acts on are often a fraction of a point), the kept one outlined, and a
/// dashed reference line when there is one.
pub(super) fn without_chart(
    ui: &mut Ui,
    id: impl egui::AsIdSalt,
    ops: &[OpKind],
    acc: &[f64],
    chosen: usize,
    reference: Option<(&str, f64)>,
) {
    let bars: Vec<Bar> = acc
        .iter()
        .enumerate()
        .map(|(o, a)| {
            let op = ops.get(o).copied().unwrap_or(OpKind::None);
            let mut bar = Bar::new(o as f64, 100.0 * a)
                .width(0.7)
                .name(op.name())
                .fill(op_color(op).gamma_multiply(if o == chosen { 1.0 } else { 0.55 }));
            if o == chosen {
                bar = bar.stroke(egui::Stroke::new(2.5, ui.visuals().strong_text_color()));
            }
            bar
        })
        .collect();
    let names: Vec<&'static str> = ops.iter().map(|o| op_short(*o)).collect();
    let finite = || {
        acc.iter()
            .copied()
            .chain(reference.map(|r| r.1))
            .filter(|v| v.is_finite())
    };
    let lo = finite().fold(1.0f64, f64::min);
    let hi = finite().fold(0.0f64, f64::max);
    let pad = ((hi - lo) * 0.25).max(0.005);
    Plot::new(id)
        .height(190.0)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .default_y_bounds(100.0 * (lo - pad).max(0.0), 100.0 * (hi + pad).min(1.0))
        .default_x_bounds(-0.6, acc.len() as f64 - 0.4)
        .y_axis_label("held-out acc without op (%)")
        .x_axis_formatter(move |m, _| {
            let i = m.value.round();
            if (m.value - i).abs() < 1e-6 && i >= 0.0 {
                names
                    .get(i as usize)
                    .map_or(String::new(), |s| s.to_string())
            } else {
                String::new()
            }
        })
        .show(ui, |p| {
            p.bar_chart(BarChart::new("acc without", bars));
            if let Some((name, v)) = reference {
                p.hline(
                    HLine::new(name, 100.0 * v)
                        .color(Color32::from_rgb(120, 120, 120))
                        .style(egui_plot::LineStyle::dashed_loose()),
                );
            }
        });
}

/// The same numbers as a table: each operation, the accuracy without it, its change from
/// `before` when known, and `mark(o)` (which operation was kept, which another rule keeps).
pub(super) fn without_table(
    ui: &mut Ui,
    id: impl egui::AsIdSalt,
    ops: &[OpKind],
    acc: &[f64],
    before: Option<f64>,
    mark: &dyn Fn(usize) -> String,
) {
    egui::Grid::new(id)
        .striped(true)
        .num_columns(3 + usize::from(before.is_some()))
        .show(ui, |ui| {
            ui.strong("operation");
            ui.strong("acc without it");
            if before.is_some() {
                ui.strong("change");
            }
            ui.strong("");
            ui.end_row();
            for (o, a) in acc.iter().enumerate() {
                let op = ops.get(o).copied().unwrap_or(OpKind::None);
                ui.label(RichText::new(op.name()).color(op_color(op)));
                ui.label(format!("{:.2}%", 100.0 * a));
                if let Some(b) = before {
                    ui.label(format!("{:+.2}", 100.0 * (a - b)));
                }
                ui.label(mark(o));
                ui.end_row();
            }
        });
}
