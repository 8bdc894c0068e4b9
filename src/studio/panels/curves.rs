//! Training curves from `metrics.jsonl`: losses, accuracies, the learning rate and SDARTS's
//! epsilon, for the current run and any run ticked for comparison. The file is re-read while a
//! run is being written, so the curves grow live.

use egui::{Color32, Ui};
use egui_plot::{Corner, Legend, Line, LineStyle, Plot, PlotPoints, VLine};

use crate::run::{MetricsKind, MetricsRecord};
use crate::studio::record::RunRecord;

/// Where a record sits on the epoch axis: search records by (epoch, step), PT's tuning records
/// after the search's last epoch.
fn x_of(m: &MetricsRecord, search_epochs: usize) -> f64 {
    let frac = if m.kind == MetricsKind::Epoch || m.steps == 0 {
        1.0
    } else {
        m.step as f64 / m.steps as f64
    };
    let base = if m.kind == MetricsKind::Tune {
        search_epochs
    } else {
        0
    };
    (base + m.epoch) as f64 + frac
}

/// One curve: a name, a colour and how to read its value.
struct Series {
    name: &'static str,
    color: Color32,
    value: fn(&MetricsRecord) -> Option<f64>,
}

const LOSSES: [Series; 3] = [
    Series {
        name: "train loss (weight half)",
        color: Color32::from_rgb(31, 120, 180),
        value: |m| m.train_loss,
    },
    Series {
        name: "alpha loss (held-out half)",
        color: Color32::from_rgb(228, 87, 46),
        value: |m| m.alpha_loss,
    },
    Series {
        name: "valid loss (eval mode)",
        color: Color32::from_rgb(51, 160, 44),
        value: |m| m.valid_loss,
    },
];

const ACCURACIES: [Series; 3] = [
    Series {
        name: "train acc",
        color: Color32::from_rgb(31, 120, 180),
        value: |m| m.train_acc.map(|v| 100.0 * v),
    },
    Series {
        name: "alpha acc",
        color: Color32::from_rgb(228, 87, 46),
        value: |m| m.alpha_acc.map(|v| 100.0 * v),
    },
    Series {
        name: "valid acc",
        color: Color32::from_rgb(51, 160, 44),
        value: |m| m.valid_acc.map(|v| 100.0 * v),
    },
];

const LR: [Series; 1] = [Series {
    name: "learning rate",
    color: Color32::from_rgb(140, 107, 177),
    value: |m| Some(m.lr),
}];

const EPSILON: [Series; 1] = [Series {
    name: "SDARTS epsilon",
    color: Color32::from_rgb(177, 89, 40),
    value: |m| m.epsilon,
}];

/// Line styles that tell compared runs apart (the colour says which quantity).
fn run_style(i: usize) -> LineStyle {
    match i % 3 {
        0 => LineStyle::Solid,
        1 => LineStyle::dashed_dense(),
        _ => LineStyle::dotted_dense(),
    }
}

/// The points of one series of one run, from the search (step and epoch records drawn as one
/// line) or from PT's tuning.
pub fn points(
    rec: &RunRecord,
    value: fn(&MetricsRecord) -> Option<f64>,
    tuning: bool,
) -> Vec<[f64; 2]> {
    let epochs = rec.config.as_ref().map_or(0, |c| c.epochs);
    let mut pts: Vec<[f64; 2]> = rec
        .metrics
        .iter()
        .filter(|m| (m.kind == MetricsKind::Tune) == tuning)
        .filter_map(|m| {
            let v = value(m)?;
            v.is_finite().then(|| [x_of(m, epochs), v])
        })
        .collect();
    pts.sort_by(|a, b| a[0].total_cmp(&b[0]));
    pts
}

/// What a plot says when it has nothing to draw, and where its legend goes.
struct PlotSpec<'a> {
    id: &'a str,
    title: &'a str,
    y_label: &'a str,
    empty: &'a str,
    legend: Corner,
}

fn plot(ui: &mut Ui, spec: &PlotSpec<'_>, runs: &[&RunRecord], series: &[Series], height: f32) {
    ui.strong(spec.title);
    let any = runs.iter().any(|r| {
        series
            .iter()
            .any(|s| !points(r, s.value, false).is_empty() || !points(r, s.value, true).is_empty())
    });
    if !any {
        ui.weak(spec.empty);
        ui.add_space(height - 16.0);
        return;
    }
    Plot::new(spec.id)
        .height(height)
        .legend(Legend::default().position(spec.legend))
        .x_axis_label("epoch")
        .y_axis_label(spec.y_label)
        .link_cursor(egui::Id::unique("curves-x"), [true, false])
        .show(ui, |p| {
            for (i, r) in runs.iter().enumerate() {
                for s in series {
                    for tuning in [false, true] {
                        let pts = points(r, s.value, tuning);
                        if pts.is_empty() {
                            continue;
                        }
                        let mut name = if runs.len() > 1 {
                            format!("{}: {}", r.name, s.name)
                        } else {
                            s.name.to_string()
                        };
                        if tuning {
                            name += " (PT tuning)";
                        }
                        let color = if tuning {
                            s.color.gamma_multiply(0.55)
                        } else {
                            s.color
                        };
                        p.line(
                            Line::new(name, PlotPoints::from(pts))
                                .color(color)
                                .style(run_style(i))
                                .width(2.0),
                        );
                    }
                }
                let tuned = r.metrics.iter().any(|m| m.kind == MetricsKind::Tune);
                if let (true, Some(c)) = (tuned, &r.config) {
                    p.vline(
                        VLine::new("", c.epochs as f64)
                            .color(Color32::GRAY)
                            .style(LineStyle::dashed_loose()),
                    );
                }
            }
        });
}

/// The curves panel for the current run and the runs compared with it.
pub fn ui(ui: &mut Ui, runs: &[&RunRecord]) {
    let Some(first) = runs.first() else {
        ui.label("Open a run to see its curves.");
        return;
    };
    if first.metrics.is_empty() {
        ui.label("metrics.jsonl has no records yet.");
    }
    let names: Vec<String> = runs.iter().map(|r| r.name.clone()).collect();
    ui.label(format!(
        "{} · {} records{}",
        names.join(" vs "),
        first.metrics.len(),
        if runs.len() > 1 {
            " · line style tells the runs apart (solid, dashed, dotted)"
        } else {
            ""
        }
    ));
    let h = ((ui.available_height() - 90.0) / 2.0).clamp(140.0, 400.0);
    let spec = |id, title, y_label, legend| PlotSpec {
        id,
        title,
        y_label,
        empty: "no values recorded",
        legend,
    };
    ui.columns(2, |c| {
        plot(
            &mut c[0],
            &spec("curve-loss", "Losses", "cross-entropy", Corner::RightTop),
            runs,
            &LOSSES,
            h,
        );
        plot(
            &mut c[1],
            &spec("curve-acc", "Accuracies", "%", Corner::RightBottom),
            runs,
            &ACCURACIES,
            h,
        );
    });
    ui.columns(2, |c| {
        plot(
            &mut c[0],
            &spec("curve-lr", "Learning rate", "lr", Corner::RightTop),
            runs,
            &LR,
            h,
        );
        plot(
            &mut c[1],
            &PlotSpec {
                empty: "no values recorded: only SDARTS perturbs α while training",
                ..spec(
                    "curve-eps",
                    "SDARTS perturbation radius",
                    "epsilon",
                    Corner::RightBottom,
                )
            },
            runs,
            &EPSILON,
            h,
        );
    });
    ui.weak("PT's tuning epochs, when recorded, follow the search (after the dashed line), in lighter colours.");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuning_records_follow_the_search() {
        let m = |kind: MetricsKind, epoch, step, steps| MetricsRecord {
            kind,
            epoch,
            step,
            steps,
            ..Default::default()
        };
        assert_eq!(x_of(&m(MetricsKind::Step, 1, 5, 10), 3), 1.5);
        assert_eq!(x_of(&m(MetricsKind::Epoch, 1, 10, 10), 3), 2.0);
        assert_eq!(x_of(&m(MetricsKind::Tune, 0, 10, 10), 3), 4.0);
    }
}
