//! The report's bar chart: retrained test accuracy per seed (and the mean over seeds), one bar
//! per method, drawn with `image` and the built-in font. The value axis does not start at
//! zero (the differences would vanish); its lower end is written on the axis.

use std::path::Path;

use ab_glyph::FontRef;
use anyhow::{Context, Result};
use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder, Rgb, RgbImage};

use super::Arm;
use super::report::{Row, mean_sd};
use crate::checkpoint::write_atomic;
use crate::data::{draw_text, text_width};

const WIDTH: u32 = 900;
const HEIGHT: u32 = 520;
const LEFT: u32 = 70;
const RIGHT: u32 = 24;
const TOP: u32 = 78;
const BOTTOM: u32 = 92;
const BACKGROUND: [u8; 3] = [255, 255, 255];
const INK: [u8; 3] = [40, 40, 44];
const GRID: [u8; 3] = [225, 224, 220];
const AXIS: [u8; 3] = [120, 120, 126];

/// The colour of a method's bars.
pub fn colour(arm: Arm) -> [u8; 3] {
    match arm {
        Arm::Magnitude => [150, 150, 160],
        Arm::Pt => [214, 110, 40],
        Arm::PtFixedAlpha => [60, 130, 180],
    }
}

/// The bars to draw: (group label, [(arm, accuracy in percent)]).
fn groups(rows: &[Row]) -> Vec<(String, Vec<(Arm, f64)>)> {
    let mut seeds: Vec<u64> = rows.iter().map(|r| r.seed).collect();
    seeds.sort_unstable();
    seeds.dedup();
    let mut out: Vec<(String, Vec<(Arm, f64)>)> = seeds
        .iter()
        .map(|&seed| {
            let bars = Arm::ALL
                .iter()
                .filter_map(|&arm| {
                    rows.iter()
                        .find(|r| r.seed == seed && r.arm == arm)
                        .and_then(|r| r.test_acc)
                        .map(|a| (arm, 100.0 * a))
                })
                .collect();
            (format!("seed {seed}"), bars)
        })
        .filter(|(_, bars): &(String, Vec<_>)| !bars.is_empty())
        .collect();
    if out.len() > 1 {
        let means = Arm::ALL
            .iter()
            .filter_map(|&arm| {
                let v: Vec<f64> = rows
                    .iter()
                    .filter(|r| r.arm == arm)
                    .filter_map(|r| r.test_acc)
                    .collect();
                mean_sd(&v).map(|(m, _)| (arm, 100.0 * m))
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

/// Draws the chart.
pub fn render(title: &str, rows: &[Row], font: &FontRef) -> RgbImage {
    let mut img = RgbImage::from_pixel(WIDTH, HEIGHT, Rgb(BACKGROUND));
    draw_text(&mut img, font, 20.0, LEFT as f32, 14.0, title, INK);
    let groups = groups(rows);
    if groups.is_empty() {
        draw_text(
            &mut img,
            font,
            16.0,
            LEFT as f32,
            (HEIGHT / 2) as f32,
            "no cell has been retrained yet",
            INK,
        );
        return img;
    }
    let values: Vec<f64> = groups
        .iter()
        .flat_map(|(_, b)| b.iter().map(|(_, v)| *v))
        .collect();
    let (lo, hi, step) = axis(&values);
    let (plot_top, plot_bottom) = (TOP, HEIGHT - BOTTOM);
    let y_of = |v: f64| -> u32 {
        let t = ((v - lo) / (hi - lo)).clamp(0.0, 1.0);
        plot_bottom - (t * (plot_bottom - plot_top) as f64).round() as u32
    };
    draw_text(
        &mut img,
        font,
        13.0,
        LEFT as f32,
        44.0,
        &format!("retrained test accuracy (%), axis from {lo}%"),
        AXIS,
    );
    // Grid lines and tick labels.
    let mut v = lo;
    while v <= hi + 1e-9 {
        let y = y_of(v);
        fill(&mut img, LEFT, y, WIDTH - RIGHT, y + 1, GRID);
        let label = if step < 1.0 {
            format!("{v:.1}")
        } else {
            format!("{v:.0}")
        };
        let w = text_width(font, 12.0, &label);
        draw_text(
            &mut img,
            font,
            12.0,
            LEFT as f32 - 8.0 - w,
            y as f32 - 8.0,
            &label,
            AXIS,
        );
        v += step;
    }
    fill(&mut img, LEFT, plot_top, LEFT + 1, plot_bottom + 1, AXIS);
    fill(
        &mut img,
        LEFT,
        plot_bottom,
        WIDTH - RIGHT,
        plot_bottom + 1,
        AXIS,
    );

    let n = groups.len() as u32;
    let group_w = (WIDTH - LEFT - RIGHT) / n;
    let bar_w = (group_w * 2 / 3 / Arm::ALL.len() as u32).clamp(6, 60);
    for (g, (label, bars)) in groups.iter().enumerate() {
        let gx = LEFT + g as u32 * group_w;
        let used = bar_w * Arm::ALL.len() as u32;
        let x_start = gx + (group_w - used) / 2;
        for (arm, value) in bars {
            let slot = Arm::ALL.iter().position(|a| a == arm).unwrap_or(0) as u32;
            let x0 = x_start + slot * bar_w + 2;
            let x1 = x0 + bar_w - 4;
            let y = y_of(*value);
            fill(&mut img, x0, y, x1, plot_bottom, colour(*arm));
            let text = format!("{value:.1}");
            let w = text_width(font, 11.0, &text);
            let tx = x0 as f32 + (x1 - x0) as f32 / 2.0 - w / 2.0;
            draw_text(&mut img, font, 11.0, tx, y as f32 - 16.0, &text, INK);
        }
        let w = text_width(font, 14.0, label);
        draw_text(
            &mut img,
            font,
            14.0,
            gx as f32 + group_w as f32 / 2.0 - w / 2.0,
            plot_bottom as f32 + 8.0,
            label,
            INK,
        );
    }
    // Legend.
    let mut x = LEFT as f32;
    let y = (HEIGHT - BOTTOM / 2 + 4) as f32;
    for arm in Arm::ALL {
        fill(
            &mut img,
            x as u32,
            y as u32 + 3,
            x as u32 + 14,
            y as u32 + 17,
            colour(arm),
        );
        let name = match arm {
            Arm::Magnitude => "magnitude (DARTS supernet)",
            Arm::Pt => "PT (DARTS supernet)",
            Arm::PtFixedAlpha => "PT (fixed-alpha supernet)",
        };
        draw_text(&mut img, font, 14.0, x + 20.0, y, name, INK);
        x += 20.0 + text_width(font, 14.0, name) + 28.0;
    }
    img
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
