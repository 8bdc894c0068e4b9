//! The cell panel: softmax(alpha) on every edge of the run's cells, scrubbed or played
//! through the epochs of `alpha.jsonl`, beside heatmaps of the same weights and each
//! operation's mean weight over the epochs; a selection's choices can be highlighted.

use std::time::Duration;

use egui::{Align, Layout, Ui, Vec2};
use egui_plot::{Line, Plot, PlotPoints, VLine};

use crate::space::{Family, OpKind, SearchSpace};
use crate::studio::cell::{self, CellView, state_name};
use crate::studio::colormap::{self, ValueRange, op_color, op_short};
use crate::studio::heatmap::{self, Heatmap};
use crate::studio::record::{AlphaRange, RunRecord, chosen_ops};

/// The cell panel's own state.
pub struct CellUi {
    /// Index into the run's alpha records; `None` follows the latest.
    pub epoch: Option<usize>,
    pub playing: bool,
    pub last_tick: f64,
    /// A selection label whose choices are highlighted.
    pub highlight: Option<String>,
    /// Scale bars and colours from the run's smallest weight instead of 0.
    pub stretch: bool,
}

impl Default for CellUi {
    fn default() -> Self {
        CellUi {
            epoch: None,
            playing: false,
            last_tick: 0.0,
            highlight: None,
            stretch: true,
        }
    }
}

impl CellUi {
    /// Draws the panel for `rec`; `renderer` draws the heatmaps.
    pub fn ui(&mut self, ui: &mut Ui, rec: &RunRecord, renderer: heatmap::Renderer) {
        let Some(space) = rec.space.clone() else {
            return;
        };
        let n = rec.alphas.len();
        if n == 0 {
            ui.label("alpha.jsonl has no records yet.");
            return;
        }
        let now = ui.input(|i| i.time);
        let mut idx = self.epoch.unwrap_or(n - 1).min(n - 1);
        if self.playing && now - self.last_tick > 0.6 {
            self.last_tick = now;
            if idx + 1 < n {
                idx += 1;
                self.epoch = Some(idx);
            } else {
                self.playing = false;
            }
        }
        let labels: Vec<String> = rec.selections.keys().cloned().collect();
        if self.highlight.as_ref().is_some_and(|h| !labels.contains(h)) {
            self.highlight = None;
        }
        ui.horizontal(|ui| {
            let play = if self.playing {
                "‖ pause"
            } else {
                "▶ play"
            };
            if ui
                .button(play)
                .on_hover_text("step through the epochs of alpha.jsonl")
                .clicked()
            {
                self.playing = !self.playing;
                if self.playing && idx + 1 == n {
                    idx = 0;
                }
                self.last_tick = now;
                self.epoch = Some(idx);
            }
            let mut e = idx;
            let resp = ui.add(
                egui::Slider::new(&mut e, 0..=n - 1)
                    .text("epoch")
                    .custom_formatter(|v, _| {
                        rec.alphas
                            .get(v as usize)
                            .map_or(String::new(), |a| a.epoch.to_string())
                    }),
            );
            if resp.changed() {
                self.epoch = Some(e);
                idx = e;
            }
            let epoch = rec.alphas[idx].epoch;
            ui.label(if epoch == 0 {
                "softmax(α) at initialisation".to_string()
            } else {
                format!("softmax(α) after epoch {epoch}")
            });
            ui.separator();
            egui::ComboBox::new("highlight", "selection highlighted")
                .selected_text(match &self.highlight {
                    Some(h) => h.clone(),
                    None => "none".into(),
                })
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.highlight, None, "none");
                    for l in &labels {
                        ui.selectable_value(&mut self.highlight, Some(l.clone()), l);
                    }
                });
            ui.separator();
            ui.checkbox(&mut self.stretch, "stretch the scale")
                .on_hover_text(
                    "bars and colours span the run's smallest to largest weight instead of \
                     0 to the largest: small changes become visible (the legend gives the numbers)",
                );
        });
        if self.playing {
            ui.ctx().request_repaint_after(Duration::from_millis(100));
        }
        let mut op_kinds: Vec<OpKind> = Vec::new();
        for c in space.cell_types() {
            for e in 0..space.num_edges() {
                for op in space.ops(*c, e) {
                    if !op_kinds.contains(op) {
                        op_kinds.push(*op);
                    }
                }
            }
        }
        colormap::op_legend(ui, &op_kinds);
        ui.separator();
        let alpha = &rec.alphas[idx];
        let range = rec.alpha_range(self.stretch);
        let side_w = 330.0f32.min(ui.available_width() * 0.4);
        let main_w = ui.available_width() - side_w - 12.0;
        let highlight = self.highlight.as_ref().and_then(|h| rec.selections.get(h));
        ui.horizontal_top(|ui| {
            ui.allocate_ui_with_layout(
                Vec2::new(main_w, ui.available_height()),
                Layout::top_down(Align::Min),
                |ui| {
                    egui::ScrollArea::vertical()
                        .id_salt("cell-graphs")
                        .show(ui, |ui| {
                            ui.set_width(main_w - 14.0);
                            for &ct in space.cell_types() {
                                let Some(w) = RunRecord::cell_weights(alpha, ct) else {
                                    continue;
                                };
                                let chosen = highlight.and_then(|s| chosen_ops(s, &space, ct));
                                ui.strong(cell::cell_title(&space, ct));
                                let view = CellView {
                                    space: &space,
                                    cell: ct,
                                    weights: w,
                                    range,
                                    chosen: chosen.as_deref(),
                                    masked: &[],
                                    diff: None,
                                    focus: None,
                                    discrete: false,
                                    salt: "alpha",
                                };
                                cell::show(ui, &view);
                            }
                            ui.weak(format!(
                                "Each edge's box shows softmax(α) of its candidate operations as \
                                 bars (height {:.3} – {:.3}); the arc's thickness and colour follow \
                                 the strongest operation, named under the box. Hover a bar for the \
                                 numbers.",
                                range.min, range.max
                            ));
                        });
                },
            );
            ui.separator();
            ui.allocate_ui_with_layout(
                Vec2::new(side_w, ui.available_height()),
                Layout::top_down(Align::Min),
                |ui| {
                    egui::ScrollArea::vertical()
                        .id_salt("cell-side")
                        .show(ui, |ui| {
                            side(ui, rec, &space, idx, range, renderer);
                        });
                },
            );
        });
    }
}

/// Heatmaps of the current epoch and the mean weight of each operation over the epochs.
fn side(
    ui: &mut Ui,
    rec: &RunRecord,
    space: &SearchSpace,
    idx: usize,
    range: ValueRange,
    renderer: heatmap::Renderer,
) {
    let alpha = &rec.alphas[idx];
    let edges = space.edges();
    for (k, &ct) in space.cell_types().iter().enumerate() {
        let Some(w) = RunRecord::cell_weights(alpha, ct) else {
            continue;
        };
        ui.strong(format!("softmax(α), {}", ct.name()));
        let row_labels = edges
            .iter()
            .map(|e| {
                format!(
                    "{}←{}",
                    match space.family {
                        Family::Darts => (e.to - 2).to_string(),
                        Family::Nb201 => e.to.to_string(),
                    },
                    state_name(space.family, e.from)
                        .replace("c_{k-2}", "k-2")
                        .replace("c_{k-1}", "k-1")
                )
            })
            .collect();
        let col_labels = space
            .ops(ct, 0)
            .iter()
            .map(|o| op_short(*o).to_string())
            .collect();
        let label = format!("{} alpha heatmap", ct.name());
        heatmap::show(
            ui,
            &Heatmap {
                key: k as u64,
                label: &label,
                rows: w,
                row_labels,
                col_labels,
                range,
            },
            renderer,
        );
        ui.add_space(4.0);
    }
    colormap::scale_legend(ui, "scale", range, 120.0);
    ui.weak(match renderer {
        heatmap::Renderer::Gpu { .. } => "cells drawn by shaders/colormap.wgsl on the GPU",
        heatmap::Renderer::Cpu => "cells drawn on the CPU (no wgpu device)",
    });
    ui.add_space(8.0);
    ui.strong("mean softmax(α) per operation over the epochs");
    let mut kinds: Vec<OpKind> = Vec::new();
    for c in space.cell_types() {
        for e in 0..space.num_edges() {
            for op in space.ops(*c, e) {
                if !kinds.contains(op) {
                    kinds.push(*op);
                }
            }
        }
    }
    let lines: Vec<(OpKind, Vec<[f64; 2]>)> = kinds
        .iter()
        .map(|&op| {
            let pts = rec
                .alphas
                .iter()
                .map(|a| {
                    let mut sum = 0.0;
                    let mut count = 0;
                    for &ct in space.cell_types() {
                        let Some(w) = RunRecord::cell_weights(a, ct) else {
                            continue;
                        };
                        for (e, row) in w.iter().enumerate() {
                            for (o, v) in row.iter().enumerate() {
                                if space.ops(ct, e).get(o) == Some(&op) {
                                    sum += *v as f64;
                                    count += 1;
                                }
                            }
                        }
                    }
                    [a.epoch as f64, sum / count.max(1) as f64]
                })
                .collect();
            (op, pts)
        })
        .collect();
    let epoch = alpha.epoch as f64;
    Plot::new("op-trend")
        .height(180.0)
        .x_axis_label("epoch")
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .show(ui, |p| {
            for (op, pts) in lines {
                p.line(
                    Line::new(op_short(op), PlotPoints::from(pts))
                        .color(op_color(op))
                        .width(2.0),
                );
            }
            p.vline(VLine::new("", epoch).color(egui::Color32::GRAY));
        });
    ui.weak(
        "Watch skip_connect here: over a long DARTS search, parameter-free operations \
         (skip_connect above all) gain weight, the collapse that selecting by magnitude \
         inherits and PT avoids.",
    );
}
