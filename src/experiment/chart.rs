//! The report's figure, drawn with `image` and the built-in font. Left: retrained test
//! accuracy per seed (and the mean over seeds), one bar per method, each bar labelled with the
//! skip connections of its normal cell. Right: every retrained cell as a point, skip
//! connections against accuracy on the same axis, the picture of DARTS's collapse into
//! parameter-free cells. The accuracy axis does not start at zero (the differences would
//! vanish); its lower end is written on the axis.

use std::path::Path;

use ab_glyph::FontRef;
use anyhow::{Context, Result};
use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder, Rgb, RgbImage};

use super::Arm;
use super::report::{Row, mean_sd};
use crate::checkpoint::write_atomic;
use crate::data::{draw_text, text_width};

pub const WIDTH: u32 = 1320;
pub const HEIGHT: u32 = 560;
/// Where the bars end and the scatter panel begins.
pub const SPLIT: u32 = 900;
const LEFT: u32 = 70;
const RIGHT: u32 = 24;
const TOP: u32 = 78;
const BOTTOM: u32 = 120;
/// The row of both panels' horizontal axis; below it are labels and the legend.
pub const PLOT_BOTTOM: u32 = HEIGHT - BOTTOM;
const BACKGROUND: [u8; 3] = [255, 255, 255];
const INK: [u8; 3] = [40, 40, 44];
const GRID: [u8; 3] = [225, 224, 220];
const AXIS: [u8; 3] = [120, 120, 126];

/// The colour of a method's bars and points.
pub fn colour(arm: Arm) -> [u8; 3] {
    match arm {
        Arm::Magnitude => [150, 150, 160],
        Arm::Pt => [214, 110, 40],
        Arm::SdartsRs => [120, 170, 110],
        Arm::SdartsRsPt => [30, 120, 60],
        Arm::Sgas => [190, 150, 200],
        Arm::SgasPt => [130, 60, 150],
        Arm::PtFixedAlpha => [60, 130, 180],
    }
}

/// The arms that have rows, in [`Arm::ALL`]'s order.
fn arms_in(rows: &[Row]) -> Vec<Arm> {
    Arm::ALL
        .into_iter()
        .filter(|a| rows.iter().any(|r| r.arm == *a))
        .collect()
}

/// One bar: its method, accuracy in percent and the normal cell's skip connections (the mean
/// over seeds in the mean group).
struct Bar {
    arm: Arm,
    acc: f64,
    skips: Option<f64>,
}

/// The bars to draw, grouped by seed, then the means over seeds.
fn groups(rows: &[Row], arms: &[Arm]) -> Vec<(String, Vec<Bar>)> {
    let mut seeds: Vec<u64> = rows.iter().map(|r| r.seed).collect();
    seeds.sort_unstable();
    seeds.dedup();
    let mut out: Vec<(String, Vec<Bar>)> = seeds
        .iter()
        .map(|&seed| {
            let bars = arms
                .iter()
                .filter_map(|&arm| {
                    let r = rows.iter().find(|r| r.seed == seed && r.arm == arm)?;
                    Some(Bar {
                        arm,
                        acc: 100.0 * r.test_acc?,
                        skips: r.normal_skips.map(|n| n as f64),
                    })
                })
                .collect();
            (format!("seed {seed}"), bars)
        })
        .filter(|(_, bars): &(String, Vec<_>)| !bars.is_empty())
        .collect();
    if out.len() > 1 {
        let means = arms
            .iter()
            .filter_map(|&arm| {
                let done: Vec<&Row> = rows
                    .iter()
                    .filter(|r| r.arm == arm && r.test_acc.is_some())
                    .collect();
                let acc: Vec<f64> = done.iter().filter_map(|r| r.test_acc).collect();
                let skips: Vec<f64> = done
                    .iter()
                    .filter_map(|r| r.normal_skips.map(|n| n as f64))
                    .collect();
                Some(Bar {
                    arm,
                    acc: 100.0 * mean_sd(&acc)?.0,
                    skips: mean_sd(&skips).map(|m| m.0),
                })
            })
            .collect();
        out.push(("mean".into(), means));
    }
    out
}

/// The value axis: (low, high, tick step) in percent, with a little room around the bars.
fn axis(values: &[f64]) -> (f64, f64, f64) {
    let (min, max) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    if !min.is_finite() {
        return (0.0, 100.0, 10.0);
    }
    let span = (max - min).max(1.0);
    let step = [0.5, 1.0, 2.0, 5.0, 10.0, 20.0]
        .into_iter()
        .find(|s| span / s <= 6.0)
        .unwrap_or(20.0);
    let lo = ((min - step) / step).floor() * step;
    let hi = ((max + step) / step).ceil() * step;
    (lo.max(0.0), hi.min(100.0), step)
}

fn fill(img: &mut RgbImage, x0: u32, y0: u32, x1: u32, y1: u32, c: [u8; 3]) {
    for y in y0.min(HEIGHT)..y1.min(HEIGHT) {
        for x in x0.min(WIDTH)..x1.min(WIDTH) {
            img.put_pixel(x, y, Rgb(c));
        }
    }
}

fn centred(img: &mut RgbImage, font: &FontRef, size: f32, cx: f32, y: f32, text: &str, c: [u8; 3]) {
    let w = text_width(font, size, text);
    draw_text(img, font, size, cx - w / 2.0, y, text, c);
}

/// The accuracy axis shared by both panels: maps percent to a row.
struct YAxis {
    lo: f64,
    hi: f64,
    step: f64,
}

impl YAxis {
    fn y(&self, v: f64) -> u32 {
        let (top, bottom) = (TOP, HEIGHT - BOTTOM);
        let t = ((v - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0);
        bottom - (t * (bottom - top) as f64).round() as u32
    }

    /// Grid lines from `x0` to `x1`, tick labels left of `x0`, and the axis line.
    fn draw(&self, img: &mut RgbImage, font: &FontRef, x0: u32, x1: u32) {
        let mut v = self.lo;
        while v <= self.hi + 1e-9 {
            let y = self.y(v);
            fill(img, x0, y, x1, y + 1, GRID);
            let label = match self.step < 1.0 {
                true => format!("{v:.1}"),
                false => format!("{v:.0}"),
            };
            let w = text_width(font, 12.0, &label);
            draw_text(
                img,
                font,
                12.0,
                x0 as f32 - 8.0 - w,
                y as f32 - 8.0,
                &label,
                AXIS,
            );
            v += self.step;
        }
        let bottom = HEIGHT - BOTTOM;
        fill(img, x0, TOP, x0 + 1, bottom + 1, AXIS);
        fill(img, x0, bottom, x1, bottom + 1, AXIS);
    }
}

/// Draws the figure.
pub fn render(title: &str, rows: &[Row], font: &FontRef) -> RgbImage {
    let mut img = RgbImage::from_pixel(WIDTH, HEIGHT, Rgb(BACKGROUND));
    draw_text(&mut img, font, 20.0, LEFT as f32, 14.0, title, INK);
    let arms = arms_in(rows);
    let groups = groups(rows, &arms);
    if groups.is_empty() {
        let msg = "no cell has been retrained yet";
        draw_text(
            &mut img,
            font,
            16.0,
            LEFT as f32,
            (HEIGHT / 2) as f32,
            msg,
            INK,
        );
        return img;
    }
    let values: Vec<f64> = groups
        .iter()
        .flat_map(|(_, b)| b.iter().map(|b| b.acc))
        .collect();
    let (lo, hi, step) = axis(&values);
    let axis = YAxis { lo, hi, step };
    let note = format!(
        "retrained test accuracy (%), axis from {lo}%; under each bar: skip connections in its normal cell"
    );
    draw_text(&mut img, font, 13.0, LEFT as f32, 44.0, &note, AXIS);
    bars(&mut img, font, &groups, &arms, &axis);
    scatter(&mut img, font, rows, &arms, &axis);
    legend(&mut img, font, &arms);
    img
}

/// The left panel: a group of bars per seed and for the mean.
fn bars(
    img: &mut RgbImage,
    font: &FontRef,
    groups: &[(String, Vec<Bar>)],
    arms: &[Arm],
    axis: &YAxis,
) {
    let (x_end, bottom) = (SPLIT - RIGHT, HEIGHT - BOTTOM);
    axis.draw(img, font, LEFT, x_end);
    let group_w = (x_end - LEFT) / groups.len() as u32;
    let bar_w = (group_w * 4 / 5 / arms.len() as u32).clamp(6, 60);
    for (g, (label, bars)) in groups.iter().enumerate() {
        let gx = LEFT + g as u32 * group_w;
        let x_start = gx + (group_w - bar_w * arms.len() as u32) / 2;
        for bar in bars {
            let slot = arms.iter().position(|a| *a == bar.arm).unwrap_or(0) as u32;
            let (x0, x1) = (x_start + slot * bar_w + 2, x_start + (slot + 1) * bar_w - 2);
            let (y, cx) = (axis.y(bar.acc), (x0 + x1) as f32 / 2.0);
            fill(img, x0, y, x1, bottom, colour(bar.arm));
            centred(
                img,
                font,
                11.0,
                cx,
                y as f32 - 16.0,
                &format!("{:.1}", bar.acc),
                INK,
            );
            if let Some(n) = bar.skips {
                let text = match n.fract() == 0.0 {
                    true => format!("{n:.0}"),
                    false => format!("{n:.1}"),
                };
                centred(img, font, 11.0, cx, bottom as f32 + 4.0, &text, AXIS);
            }
        }
        let cx = gx as f32 + group_w as f32 / 2.0;
        centred(img, font, 14.0, cx, bottom as f32 + 22.0, label, INK);
    }
}

/// The right panel: each retrained cell at (skip connections, accuracy).
fn scatter(img: &mut RgbImage, font: &FontRef, rows: &[Row], arms: &[Arm], axis: &YAxis) {
    let (x0, x1, bottom) = (SPLIT + 40, WIDTH - RIGHT, HEIGHT - BOTTOM);
    axis.draw(img, font, x0, x1);
    let points: Vec<(Arm, usize, f64)> = rows
        .iter()
        .filter_map(|r| Some((r.arm, r.normal_skips?, 100.0 * r.test_acc?)))
        .collect();
    let most = points.iter().map(|p| p.1).max().unwrap_or(0).max(4);
    let x_of = |n: f64| x0 as f32 + 20.0 + (x1 - x0 - 40) as f32 * n as f32 / most as f32;
    for n in 0..=most {
        centred(
            img,
            font,
            12.0,
            x_of(n as f64),
            bottom as f32 + 4.0,
            &n.to_string(),
            AXIS,
        );
    }
    let label = "skip connections in the normal cell";
    centred(
        img,
        font,
        13.0,
        (x0 + x1) as f32 / 2.0,
        bottom as f32 + 22.0,
        label,
        INK,
    );
    // Methods side by side within a skip count, so equal points stay visible.
    let spread = |arm: Arm| {
        let slot = arms.iter().position(|a| *a == arm).unwrap_or(0) as f32;
        (slot - (arms.len() as f32 - 1.0) / 2.0) * 5.0
    };
    for (arm, n, acc) in points {
        let (cx, cy) = ((x_of(n as f64) + spread(arm)) as u32, axis.y(acc));
        fill(
            img,
            cx.saturating_sub(4),
            cy.saturating_sub(4),
            cx + 5,
            cy + 5,
            colour(arm),
        );
    }
}

/// The methods' colours and names along the bottom, wrapping as needed.
fn legend(img: &mut RgbImage, font: &FontRef, arms: &[Arm]) {
    let (mut x, mut y) = (LEFT as f32, (HEIGHT - BOTTOM + 52) as f32);
    for &arm in arms {
        let name = arm.title();
        let w = 20.0 + text_width(font, 14.0, name) + 28.0;
        if x + w > (WIDTH - RIGHT) as f32 {
            (x, y) = (LEFT as f32, y + 24.0);
        }
        fill(
            img,
            x as u32,
            y as u32 + 3,
            x as u32 + 14,
            y as u32 + 17,
            colour(arm),
        );
        draw_text(img, font, 14.0, x + 20.0, y, name, INK);
        x += w;
    }
}

/// Renders the chart and writes it as a PNG (atomically).
pub fn write_png(path: &Path, title: &str, rows: &[Row]) -> Result<()> {
    let font =
        FontRef::try_from_slice(epaint_default_fonts::UBUNTU_LIGHT).context("the built-in font")?;
    let img = render(title, rows, &font);
    let mut png = Vec::new();
    PngEncoder::new(&mut png)
        .write_image(img.as_raw(), WIDTH, HEIGHT, ExtendedColorType::Rgb8)
        .with_context(|| format!("cannot encode {}", path.display()))?;
    write_atomic(path, &png)?;
    Ok(())
}
