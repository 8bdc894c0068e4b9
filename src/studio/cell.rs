//! A cell drawn as its DAG: input nodes, intermediate nodes and the output, with every edge's
//! mixed op shown as a small bar chart of softmax(alpha), one bar per candidate operation in the
//! operation's colour. Edges into the next node run straight along the baseline; longer edges
//! arc above (from the cell inputs) or below (between intermediate nodes), higher the farther
//! they reach, so no arc passes through another edge's bars.

use egui::{
    Align2, Color32, FontId, Id, Pos2, Rect, Response, Sense, Shape, Stroke, StrokeKind, Ui, Vec2,
    epaint::CubicBezierShape,
};

use super::colormap::{ValueRange, op_color, op_short};
use crate::space::{CellType, Edge, Family, OpKind, SearchSpace};

/// What to draw.
pub struct CellView<'a> {
    pub space: &'a SearchSpace,
    pub cell: CellType,
    /// Mixing weights, rows = edges (softmax(alpha), or a selection's final weights).
    pub weights: &'a [Vec<f32>],
    /// The range the bar heights span.
    pub range: ValueRange,
    /// A selection to highlight: per edge the kept op, `None` for an edge the cell drops.
    pub chosen: Option<&'a [Option<usize>]>,
    /// Operations masked by hand (edge, op), drawn crossed out.
    pub masked: &'a [(usize, usize)],
    /// Edges to mark as different from another selection.
    pub diff: Option<&'a [bool]>,
    /// The edge to outline (the one being inspected).
    pub focus: Option<usize>,
    /// Draw only the kept operation of each edge (a selected cell), not the mixed op's bars.
    pub discrete: bool,
    /// A distinct name per view on screen (ids and accessibility labels).
    pub salt: &'a str,
}

/// What the user clicked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpClick {
    pub cell: CellType,
    pub edge: usize,
    pub op: usize,
}

/// Title of a cell type in a space.
pub fn cell_title(space: &SearchSpace, cell: CellType) -> &'static str {
    match (space.family, cell) {
        (Family::Nb201, _) => "NB201 cell (one alpha shared by every cell)",
        (_, CellType::Normal) => "normal cell",
        (_, CellType::Reduce) => "reduction cell",
    }
}

/// The name of state `s` as the papers draw it.
pub fn state_name(family: Family, s: usize) -> String {
    match family {
        Family::Darts => match s {
            0 => "c_{k-2}".into(),
            1 => "c_{k-1}".into(),
            _ => format!("{}", s - 2),
        },
        Family::Nb201 => format!("{s}"),
    }
}

/// "node 1 ← c_{k-1}" for an edge.
pub fn edge_name(family: Family, e: &Edge) -> String {
    format!(
        "{} ← {}",
        match family {
            Family::Darts => format!("node {}", e.to - 2),
            Family::Nb201 => format!("node {}", e.to),
        },
        state_name(family, e.from)
    )
}

/// Where an edge runs: 0 on the baseline, positive levels above, negative below.
fn edge_level(family: Family, e: &Edge) -> i32 {
    let span = (e.to - e.from) as i32;
    if span == 1 {
        return 0;
    }
    match family {
        // Edges from the two cell inputs arc above, edges between intermediate nodes below.
        Family::Darts if e.from >= 2 => -(span - 1),
        _ => span - 1,
    }
}

/// The index of the strongest operation, skipping `none` unless it is all there is.
pub fn dominant(row: &[f32], ops: &[OpKind]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (o, w) in row.iter().enumerate() {
        if ops.get(o) == Some(&OpKind::None) && ops.len() > 1 {
            continue;
        }
        if best.is_none_or(|b| *w > row[b]) {
            best = Some(o);
        }
    }
    best
}

/// Pixel geometry of one view.
struct Geometry {
    origin: Pos2,
    unit_x: f32,
    level_h: f32,
    box_size: Vec2,
    bar_w: f32,
}

impl Geometry {
    fn node(&self, x: f32) -> Pos2 {
        Pos2::new(self.origin.x + x * self.unit_x, self.origin.y)
    }
    fn level_y(&self, level: i32) -> f32 {
        self.origin.y - level as f32 * self.level_h
    }
}

/// The four points of an edge's arc from `a` to `b` whose middle passes through `top`.
fn arc_points(a: Pos2, b: Pos2, top: Pos2) -> [Pos2; 4] {
    let up = (top.y - a.y).signum();
    let p0 = a + Vec2::new(6.0, up * 12.0);
    let p3 = b + Vec2::new(-6.0, up * 12.0);
    // A cubic with equal control heights peaks at 1/4 start + 3/4 control.
    let yc = (top.y - 0.25 * p0.y) / 0.75;
    let dx = b.x - a.x;
    [
        p0,
        Pos2::new(a.x + 0.3 * dx, yc),
        Pos2::new(a.x + 0.7 * dx, yc),
        p3,
    ]
}

/// Draws the cell and returns a click on one of its bars.
pub fn show(ui: &mut Ui, view: &CellView<'_>) -> Option<OpClick> {
    let space = view.space;
    let family = space.family;
    let edges = space.edges();
    let ops_n = space.num_ops();
    // Positions: DARTS states 0..=5 then the output at 6; NB201 nodes 0..=3.
    let positions = match family {
        Family::Darts => 7.0,
        Family::Nb201 => 4.0,
    };
    let above = edges
        .iter()
        .map(|e| edge_level(family, e))
        .max()
        .unwrap_or(0)
        .max(0);
    let below = match family {
        // The concat bus of the output runs one level under the lowest arc.
        Family::Darts => 3,
        Family::Nb201 => 0,
    };
    let width = ui.available_width().max(240.0);
    let margin_x = 40.0;
    let unit_x = (width - 2.0 * margin_x) / (positions - 1.0);
    let (box_size, bar_w) = if view.discrete {
        (Vec2::new((unit_x * 0.62).clamp(38.0, 86.0), 20.0), 0.0)
    } else {
        let bar_w = ((unit_x * 0.7 - 8.0) / ops_n as f32).clamp(4.0, 26.0);
        let h = (bar_w * 2.2).clamp(26.0, 56.0);
        (Vec2::new(bar_w * ops_n as f32 + 8.0, h), bar_w)
    };
    let level_h = box_size.y + 20.0;
    // Room above the highest box, and for its ≠ mark when differences are shown.
    let pad_top = box_size.y / 2.0 + if view.diff.is_some() { 18.0 } else { 8.0 };
    // Room under the baseline for the straight edges' boxes and their captions.
    let pad_bottom = (box_size.y / 2.0 + 18.0).max(34.0);
    let height = (above + below) as f32 * level_h + pad_top + pad_bottom;
    let (rect, _) = ui.allocate_exact_size(Vec2::new(width, height), Sense::hover());
    let g = Geometry {
        origin: Pos2::new(
            rect.left() + margin_x,
            rect.top() + pad_top + above as f32 * level_h,
        ),
        unit_x,
        level_h,
        box_size,
        bar_w,
    };
    let painter = ui.painter_at(rect.expand(2.0));
    let visuals = ui.visuals().clone();
    let text_color = visuals.text_color();
    let weak = visuals.weak_text_color();
    let panel_bg = visuals.extreme_bg_color;

    // The output: DARTS concatenates the four intermediate states on a bus below the cell.
    if family == Family::Darts {
        let bus_y = g.level_y(-below) + 8.0;
        let stroke = Stroke::new(1.0, weak);
        for s in 2..=5 {
            let p = g.node(s as f32);
            painter.extend(Shape::dashed_line(
                &[p + Vec2::new(0.0, 14.0), Pos2::new(p.x, bus_y)],
                stroke,
                4.0,
                3.0,
            ));
        }
        let out = g.node(6.0);
        painter.extend(Shape::dashed_line(
            &[
                Pos2::new(g.node(2.0).x, bus_y),
                Pos2::new(out.x, bus_y),
                out + Vec2::new(0.0, 14.0),
            ],
            stroke,
            4.0,
            3.0,
        ));
        painter.text(
            Pos2::new(g.node(4.0).x, bus_y + 3.0),
            Align2::CENTER_TOP,
            "output = concat(0, 1, 2, 3)",
            FontId::proportional(11.0),
            weak,
        );
    }

    // Edges, longest first so shorter arcs and their boxes are drawn on top.
    let mut order: Vec<&Edge> = edges.iter().collect();
    order.sort_by_key(|e| std::cmp::Reverse(edge_level(family, e).abs()));
    let mut boxes = Vec::new();
    for e in order {
        let level = edge_level(family, e);
        let a = g.node(e.from as f32);
        let b = g.node(e.to as f32);
        let top = Pos2::new((a.x + b.x) / 2.0, g.level_y(level));
        let ops = space.ops(view.cell, e.index);
        let row = view.weights.get(e.index);
        let kept = view.chosen.map(|c| c.get(e.index).copied().flatten());
        let dom = match kept {
            Some(k) => k,
            None => row.and_then(|r| dominant(r, ops)),
        };
        let strength = row
            .zip(dom)
            .and_then(|(r, d)| r.get(d))
            .map(|w| view.range.unit(*w))
            .unwrap_or(0.0);
        let kept_op = kept.flatten().and_then(|o| ops.get(o)).copied();
        let (color, width, dashed) = match (kept, kept_op) {
            (Some(None), _) | (Some(Some(_)), Some(OpKind::None)) => {
                (weak.gamma_multiply(0.6), 1.0, true)
            }
            (Some(Some(_)), op) => (op.map_or(weak, op_color), 3.5, false),
            (None, _) => (
                dom.and_then(|d| ops.get(d))
                    .map_or(weak, |op| op_color(*op))
                    .gamma_multiply(0.45 + 0.55 * strength),
                1.0 + 4.0 * strength,
                false,
            ),
        };
        let stroke = Stroke::new(width, color);
        let (tip, dir) = if level == 0 {
            let pts = [a + Vec2::new(16.0, 0.0), b - Vec2::new(16.0, 0.0)];
            if dashed {
                painter.extend(Shape::dashed_line(&pts, stroke, 5.0, 4.0));
            } else {
                painter.line_segment(pts, stroke);
            }
            (pts[1], Vec2::new(1.0, 0.0))
        } else {
            let pts = arc_points(a, b, top);
            let curve =
                CubicBezierShape::from_points_stroke(pts, false, Color32::TRANSPARENT, stroke);
            if dashed {
                let path: Vec<Pos2> = curve.flatten(Some(0.5));
                painter.extend(Shape::dashed_line(&path, stroke, 5.0, 4.0));
            } else {
                painter.add(curve);
            }
            (pts[3], (pts[3] - pts[2]).normalized())
        };
        // Arrowhead into the target node.
        let n = Vec2::new(-dir.y, dir.x);
        let head = 3.0 + width;
        painter.add(Shape::convex_polygon(
            vec![
                tip,
                tip - dir * head * 1.6 + n * head,
                tip - dir * head * 1.6 - n * head,
            ],
            color,
            Stroke::NONE,
        ));
        boxes.push((e, Rect::from_center_size(top, g.box_size), dom, kept));
    }

    // Nodes.
    let node_count = match family {
        Family::Darts => 6,
        Family::Nb201 => 4,
    };
    for s in 0..node_count {
        let p = g.node(s as f32);
        let label = state_name(family, s);
        let is_input = match family {
            Family::Darts => s < 2,
            Family::Nb201 => s == 0,
        };
        node_shape(&painter, p, &label, is_input, &visuals);
    }
    if family == Family::Darts {
        node_shape(&painter, g.node(6.0), "c_{k}", true, &visuals);
    } else {
        for (s, what) in [(0.0, "input"), (3.0, "output")] {
            painter.text(
                g.node(s) + Vec2::new(0.0, 17.0),
                Align2::CENTER_TOP,
                what,
                FontId::proportional(11.0),
                weak,
            );
        }
    }

    // Mixed-op boxes (or the chosen op's chip) on top of everything.
    let mut click = None;
    for (e, brect, dom, kept) in boxes {
        if view.diff.is_some_and(|d| d.get(e.index) == Some(&true)) {
            let orange = Color32::from_rgb(255, 140, 0);
            painter.rect_stroke(
                brect.expand(4.0),
                7.0,
                Stroke::new(2.5, orange),
                StrokeKind::Outside,
            );
            painter.text(
                brect.right_top() + Vec2::new(5.0, -4.0),
                Align2::LEFT_BOTTOM,
                "≠",
                FontId::proportional(16.0),
                orange,
            );
        }
        if view.discrete {
            chip(ui, &painter, view, e, brect, kept);
            continue;
        }
        let ops = space.ops(view.cell, e.index);
        let row = view.weights.get(e.index);
        let dropped = matches!(kept, Some(None));
        painter.rect_filled(brect, 4.0, panel_bg);
        let outline = if view.focus == Some(e.index) {
            Stroke::new(2.5, visuals.selection.stroke.color)
        } else {
            Stroke::new(1.0, weak.gamma_multiply(if dropped { 0.4 } else { 0.8 }))
        };
        painter.rect_stroke(brect, 4.0, outline, StrokeKind::Outside);
        let inner = brect.shrink2(Vec2::new(4.0, 3.0));
        for (o, op) in ops.iter().enumerate() {
            let w = row.and_then(|r| r.get(o)).copied().unwrap_or(f32::NAN);
            let col = Rect::from_min_size(
                Pos2::new(inner.left() + o as f32 * g.bar_w, inner.top()),
                Vec2::new(g.bar_w, inner.height()),
            );
            let h = view.range.unit(w) * col.height();
            let bar = Rect::from_min_max(
                Pos2::new(col.left() + 1.0, col.bottom() - h.max(2.0)),
                Pos2::new(col.right() - 1.0, col.bottom()),
            );
            let masked = view.masked.contains(&(e.index, o));
            let mut fill = op_color(*op);
            if dropped || masked || kept.is_some_and(|k| k != Some(o)) {
                fill = fill.gamma_multiply(0.3);
            }
            painter.rect_filled(bar, 1.0, fill);
            if kept == Some(Some(o)) {
                painter.rect_stroke(
                    bar.expand(1.0),
                    1.0,
                    Stroke::new(2.0, text_color),
                    StrokeKind::Outside,
                );
            }
            if masked {
                let s = Stroke::new(2.0, Color32::from_rgb(220, 30, 30));
                let c = col.shrink(1.0);
                painter.line_segment([c.left_top(), c.right_bottom()], s);
                painter.line_segment([c.left_bottom(), c.right_top()], s);
            }
            let id = Id::unique(("cell-bar", view.salt, view.cell, e.index, o));
            let resp: Response = ui.interact(col, id, Sense::click());
            let label = format!(
                "{} {} edge {} {}",
                view.salt,
                view.cell.name(),
                e.index,
                op.name()
            );
            resp.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &label));
            if resp.clicked() {
                click = Some(OpClick {
                    cell: view.cell,
                    edge: e.index,
                    op: o,
                });
            }
            resp.on_hover_ui(|ui| {
                edge_tooltip(ui, view, e, Some(o), kept);
            });
        }
        // The name under the box: the kept op, or the strongest one with its weight.
        let caption = match (kept, dom) {
            (Some(None), _) => "dropped".to_string(),
            (_, Some(d)) => {
                let w = row.and_then(|r| r.get(d)).copied().unwrap_or(f32::NAN);
                let name = ops.get(d).map_or("?", |o| op_short(*o));
                match kept {
                    Some(_) => name.to_string(),
                    None => format!("{name} {w:.3}"),
                }
            }
            _ => String::new(),
        };
        painter.text(
            Pos2::new(brect.center().x, brect.bottom() + 1.0),
            Align2::CENTER_TOP,
            caption,
            FontId::proportional(11.0),
            if dropped { weak } else { text_color },
        );
    }
    click
}

/// A selected cell's edge: the kept operation's name on its colour.
fn chip(
    ui: &mut Ui,
    painter: &egui::Painter,
    view: &CellView<'_>,
    e: &Edge,
    brect: Rect,
    kept: Option<Option<usize>>,
) {
    let ops = view.space.ops(view.cell, e.index);
    let op = kept.flatten().and_then(|o| ops.get(o)).copied();
    let v = ui.visuals();
    let (fill, text, name) = match op {
        Some(OpKind::None) | None => (
            v.extreme_bg_color,
            v.weak_text_color(),
            if op.is_some() { "none" } else { "—" },
        ),
        Some(op) => {
            let c = op_color(op);
            let lum = 0.299 * c.r() as f32 + 0.587 * c.g() as f32 + 0.114 * c.b() as f32;
            let t = if lum > 150.0 {
                Color32::BLACK
            } else {
                Color32::WHITE
            };
            (c, t, op_short(op))
        }
    };
    painter.rect_filled(brect, 10.0, fill);
    painter.rect_stroke(
        brect,
        10.0,
        Stroke::new(1.0, v.weak_text_color()),
        StrokeKind::Inside,
    );
    painter.text(
        brect.center(),
        Align2::CENTER_CENTER,
        name,
        FontId::proportional(12.0),
        text,
    );
    let id = Id::unique(("cell-chip", view.salt, view.cell, e.index));
    let resp = ui.interact(brect, id, Sense::hover());
    let label = format!(
        "{} {} edge {} {}",
        view.salt,
        view.cell.name(),
        e.index,
        op.map_or("dropped", |o| o.name())
    );
    resp.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, &label));
    resp.on_hover_ui(|ui| edge_tooltip(ui, view, e, None, kept));
}

fn node_shape(painter: &egui::Painter, p: Pos2, label: &str, is_input: bool, v: &egui::Visuals) {
    let font = FontId::proportional(13.0);
    let galley = painter.layout_no_wrap(label.to_string(), font, v.strong_text_color());
    let size = Vec2::new((galley.size().x + 14.0).max(28.0), 28.0);
    let r = Rect::from_center_size(p, size);
    let fill = if is_input {
        v.widgets.inactive.weak_bg_fill
    } else {
        v.faint_bg_color
    };
    painter.rect_filled(r, 14.0, fill);
    painter.rect_stroke(
        r,
        14.0,
        Stroke::new(1.5, v.strong_text_color()),
        StrokeKind::Inside,
    );
    painter.galley(
        r.center() - galley.size() / 2.0,
        galley,
        v.strong_text_color(),
    );
}

/// The numbers of an edge: every op's weight, the kept op and the hovered one marked.
fn edge_tooltip(
    ui: &mut Ui,
    view: &CellView<'_>,
    e: &Edge,
    hovered: Option<usize>,
    kept: Option<Option<usize>>,
) {
    let family = view.space.family;
    ui.strong(format!(
        "{} · edge {} ({})",
        view.cell.name(),
        e.index,
        edge_name(family, e)
    ));
    if matches!(kept, Some(None)) {
        ui.label("this edge is not part of the selected cell");
    }
    let ops = view.space.ops(view.cell, e.index);
    let row = view.weights.get(e.index);
    egui::Grid::new(("edge-tip", view.salt, e.index))
        .num_columns(3)
        .show(ui, |ui| {
            for (o, op) in ops.iter().enumerate() {
                let w = row.and_then(|r| r.get(o)).copied().unwrap_or(f32::NAN);
                let mut name = egui::RichText::new(op.name()).color(op_color(*op));
                if hovered == Some(o) {
                    name = name.strong();
                }
                ui.label(name);
                ui.label(format!("{w:.4}"));
                let mut marks = Vec::new();
                if kept == Some(Some(o)) {
                    marks.push("kept");
                }
                if view.masked.contains(&(e.index, o)) {
                    marks.push("masked");
                }
                ui.label(marks.join(", "));
                ui.end_row();
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::{SpaceId, darts_edges, nb201_edges};

    #[test]
    fn arcs_of_one_level_never_share_a_box_position() {
        for (family, edges) in [
            (Family::Darts, darts_edges()),
            (Family::Nb201, nb201_edges()),
        ] {
            let mut seen = std::collections::HashSet::new();
            for e in &edges {
                // Box centres are at half-unit x positions: compare doubled.
                let key = (edge_level(family, e), e.from + e.to);
                assert!(seen.insert(key), "{family:?} edge {} collides", e.index);
            }
        }
    }

    #[test]
    fn dominant_skips_none() {
        let ops = SpaceId::Darts8.space().ops(CellType::Normal, 0).to_vec();
        let mut row = vec![0.1; 8];
        row[0] = 0.5;
        row[3] = 0.2;
        assert_eq!(dominant(&row, &ops), Some(3));
    }
}
