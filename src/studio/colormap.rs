//! The studio's two colour codes: a categorical colour per operation (the same everywhere, so
//! skip_connect is always the same red whether it is a bar, a line or an edge) and a sequential
//! scale for softmax(alpha) values, whose stops `shaders/colormap.wgsl` repeats on the GPU.

use egui::{Color32, Pos2, Rect, Sense, Stroke, StrokeKind, Ui, Vec2};

use crate::space::OpKind;

/// The colour of an operation: warm for parameter-free ops (skip_connect, the op DARTS collapses
/// to, is the loudest), cool for convolutions, grey for `none`.
pub fn op_color(op: OpKind) -> Color32 {
    match op {
        OpKind::None => Color32::from_rgb(150, 150, 150),
        OpKind::SkipConnect => Color32::from_rgb(228, 87, 46),
        OpKind::MaxPool3x3 => Color32::from_rgb(140, 107, 177),
        OpKind::AvgPool3x3 => Color32::from_rgb(201, 130, 190),
        OpKind::SepConv3x3 => Color32::from_rgb(31, 120, 180),
        OpKind::SepConv5x5 => Color32::from_rgb(95, 170, 215),
        OpKind::DilConv3x3 => Color32::from_rgb(51, 160, 44),
        OpKind::DilConv5x5 => Color32::from_rgb(150, 205, 90),
        OpKind::NorConv1x1 => Color32::from_rgb(95, 170, 215),
        OpKind::NorConv3x3 => Color32::from_rgb(31, 120, 180),
        OpKind::Noise => Color32::from_rgb(177, 89, 40),
    }
}

/// A short name that fits under a bar.
pub fn op_short(op: OpKind) -> &'static str {
    match op {
        OpKind::None => "none",
        OpKind::SkipConnect => "skip",
        OpKind::MaxPool3x3 => "max3",
        OpKind::AvgPool3x3 => "avg3",
        OpKind::SepConv3x3 => "sep3",
        OpKind::SepConv5x5 => "sep5",
        OpKind::DilConv3x3 => "dil3",
        OpKind::DilConv5x5 => "dil5",
        OpKind::NorConv1x1 => "conv1",
        OpKind::NorConv3x3 => "conv3",
        OpKind::Noise => "noise",
    }
}

/// Stops of the sequential scale in sRGB (dark navy to yellow, luminance rising throughout, so
/// it stays readable in grey). `shaders/colormap.wgsl` holds the same numbers.
pub const STOPS: [[u8; 3]; 5] = [
    [20, 24, 52],
    [40, 70, 130],
    [35, 140, 140],
    [120, 195, 90],
    [250, 230, 80],
];

/// The sequential colour of `t` in 0..=1 (clamped), piecewise linear between [`STOPS`].
pub fn scale_color(t: f32) -> Color32 {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let x = t * (STOPS.len() - 1) as f32;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - i as f32;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |k: usize| (a[k] as f32 + (b[k] as f32 - a[k] as f32) * f).round() as u8;
    Color32::from_rgb(mix(0), mix(1), mix(2))
}

/// The value range a view maps onto the colour scale and the bar heights.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ValueRange {
    pub min: f32,
    pub max: f32,
}

impl ValueRange {
    /// 0 to the largest value seen (never an empty range).
    pub fn up_to(max: f32) -> Self {
        let max = if max.is_finite() && max > 0.0 {
            max
        } else {
            1.0
        };
        ValueRange { min: 0.0, max }
    }

    /// Where `v` sits in the range, 0..=1.
    pub fn unit(&self, v: f32) -> f32 {
        let span = self.max - self.min;
        if span <= 0.0 || !v.is_finite() {
            return 0.0;
        }
        ((v - self.min) / span).clamp(0.0, 1.0)
    }
}

/// A horizontal gradient bar labelled with the range, for the heatmap's colour scale.
pub fn scale_legend(ui: &mut Ui, title: &str, range: ValueRange, width: f32) {
    ui.horizontal(|ui| {
        ui.label(title);
        ui.label(format!("{:.3}", range.min));
        let (rect, _) = ui.allocate_exact_size(Vec2::new(width, 14.0), Sense::hover());
        let steps = 48;
        let w = rect.width() / steps as f32;
        for s in 0..steps {
            let r = Rect::from_min_size(
                Pos2::new(rect.left() + s as f32 * w, rect.top()),
                Vec2::new(w + 0.5, rect.height()),
            );
            ui.painter()
                .rect_filled(r, 0.0, scale_color((s as f32 + 0.5) / steps as f32));
        }
        ui.painter().rect_stroke(
            rect,
            0.0,
            Stroke::new(1.0, ui.visuals().weak_text_color()),
            StrokeKind::Outside,
        );
        ui.label(format!("{:.3}", range.max));
    });
}

/// One swatch and name per operation, so the graph's colours can be read.
pub fn op_legend(ui: &mut Ui, ops: &[OpKind]) {
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().item_spacing.x = 10.0;
        for &op in ops {
            ui.horizontal(|ui| {
                ui.spacing_mut().item_spacing.x = 4.0;
                let (rect, _) = ui.allocate_exact_size(Vec2::splat(12.0), Sense::hover());
                ui.painter().rect_filled(rect, 2.0, op_color(op));
                ui.label(op.name());
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_hits_its_stops_and_clamps() {
        assert_eq!(scale_color(0.0), Color32::from_rgb(20, 24, 52));
        assert_eq!(scale_color(1.0), Color32::from_rgb(250, 230, 80));
        assert_eq!(scale_color(0.5), Color32::from_rgb(35, 140, 140));
        assert_eq!(scale_color(-3.0), scale_color(0.0));
        assert_eq!(scale_color(f32::NAN), scale_color(0.0));
        assert_eq!(scale_color(7.0), scale_color(1.0));
    }

    #[test]
    fn scale_luminance_rises() {
        let lum =
            |c: Color32| 0.2126 * c.r() as f32 + 0.7152 * c.g() as f32 + 0.0722 * c.b() as f32;
        let mut last = -1.0;
        for i in 0..=100 {
            let l = lum(scale_color(i as f32 / 100.0));
            assert!(l >= last, "luminance falls at {i}");
            last = l;
        }
    }

    #[test]
    fn ranges_map_to_unit() {
        let r = ValueRange::up_to(0.5);
        assert_eq!(r.unit(0.25), 0.5);
        assert_eq!(r.unit(2.0), 1.0);
        assert_eq!(ValueRange::up_to(f32::NAN).max, 1.0);
    }
}
