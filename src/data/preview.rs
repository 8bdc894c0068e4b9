//! A PNG contact sheet of the first training images with their class names, to check by eye
//! that images, labels and class names line up.

use super::Dataset;
use super::error::DataError;
use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};
use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder, Rgb, RgbImage};
use std::io::Write;
use std::path::Path;

const BACKGROUND: [u8; 3] = [246, 245, 241];
const FRAME: [u8; 3] = [205, 203, 196];
const INK: [u8; 3] = [40, 40, 44];
const CAPTION: [u8; 3] = [72, 72, 80];
const MARGIN: u32 = 16;
const GAP: u32 = 12;
const LABEL_PX: f32 = 14.0;
const TITLE_PX: f32 = 17.0;

/// Writes a grid of the first `count` training images, `columns` wide, each enlarged to about
/// 90 px and captioned with its class name. The file appears complete or not at all.
pub fn preview(ds: &Dataset, count: usize, columns: usize, out: &Path) -> Result<(), DataError> {
    let font = FontRef::try_from_slice(epaint_default_fonts::UBUNTU_LIGHT)
        .map_err(|e| DataError::malformed(Path::new("<built-in font>"), e.to_string()))?;
    let sheet = render(ds, count, columns, &font);
    let mut png = Vec::new();
    PngEncoder::new(&mut png)
        .write_image(
            sheet.as_raw(),
            sheet.width(),
            sheet.height(),
            ExtendedColorType::Rgb8,
        )
        .map_err(|e| DataError::Encode {
            path: out.to_path_buf(),
            message: e.to_string(),
        })?;
    write_atomic(out, &png)
}

fn render(ds: &Dataset, count: usize, columns: usize, font: &FontRef) -> RgbImage {
    let set = &ds.train;
    let count = count.clamp(1, set.len().max(1)).min(set.len());
    let columns = columns.clamp(1, count.max(1)) as u32;
    let rows = count.div_ceil(columns as usize) as u32;
    let (c, h, w) = (set.channels, set.height as u32, set.width as u32);
    let scale = (90 / h.max(w).max(1)).max(1);
    let (iw, ih) = (w * scale, h * scale);
    let cell_w = iw.max(80);
    let label_h = (LABEL_PX * 1.5).ceil() as u32;
    let cell_h = ih + 6 + label_h;
    let title_h = (TITLE_PX * 2.0).ceil() as u32;
    let width = 2 * MARGIN + columns * cell_w + (columns - 1) * GAP;
    let height = 2 * MARGIN + title_h + rows * cell_h + rows.saturating_sub(1) * GAP;
    let mut sheet = RgbImage::from_pixel(width, height, Rgb(BACKGROUND));

    let title = format!("{} — first {count} training images", ds.name);
    let title_px = fit(font, TITLE_PX, &title, width - 2 * MARGIN);
    draw_text(
        &mut sheet,
        font,
        title_px.0,
        MARGIN as f32,
        MARGIN as f32,
        &title_px.1,
        INK,
    );

    let plane = (h * w) as usize;
    for i in 0..count {
        let (col, row) = (i as u32 % columns, i as u32 / columns);
        let x0 = MARGIN + col * (cell_w + GAP);
        let y0 = MARGIN + title_h + row * (cell_h + GAP);
        let ix = x0 + (cell_w - iw) / 2;
        // A one-pixel frame separates dark images from each other and light ones from the page.
        for x in ix - 1..=ix + iw {
            sheet.put_pixel(x, y0 - 1, Rgb(FRAME));
            sheet.put_pixel(x, y0 + ih, Rgb(FRAME));
        }
        for y in y0 - 1..=y0 + ih {
            sheet.put_pixel(ix - 1, y, Rgb(FRAME));
            sheet.put_pixel(ix + iw, y, Rgb(FRAME));
        }
        let pixels = set.image(i);
        for y in 0..ih {
            for x in 0..iw {
                let k = ((y / scale) * w + x / scale) as usize;
                let v = |ch: usize| pixels[ch.min(c - 1) * plane + k];
                sheet.put_pixel(ix + x, y0 + y, Rgb([v(0), v(1), v(2)]));
            }
        }
        let label = set.labels[i] as usize;
        let name = ds
            .classes
            .get(label)
            .cloned()
            .unwrap_or_else(|| label.to_string());
        let (px, text) = fit(font, LABEL_PX, &name, cell_w);
        let tw = text_width(font, px, &text);
        let tx = x0 as f32 + (cell_w as f32 - tw) / 2.0;
        draw_text(
            &mut sheet,
            font,
            px,
            tx,
            (y0 + ih + 5) as f32,
            &text,
            CAPTION,
        );
    }
    sheet
}

/// Width in pixels of `text` at `px` pixels per em, kerning included.
pub(crate) fn text_width(font: &FontRef, px: f32, text: &str) -> f32 {
    let scaled = font.as_scaled(PxScale::from(px));
    let mut width = 0.0;
    let mut previous = None;
    for ch in text.chars() {
        let id = scaled.glyph_id(ch);
        if let Some(p) = previous {
            width += scaled.kern(p, id);
        }
        width += scaled.h_advance(id);
        previous = Some(id);
    }
    width
}

/// Shrinks the text a little, then shortens it with an ellipsis, until it fits `max` pixels.
fn fit(font: &FontRef, px: f32, text: &str, max: u32) -> (f32, String) {
    let max = max as f32;
    let mut size = px;
    while size > px * 0.8 && text_width(font, size, text) > max {
        size -= 0.5;
    }
    if text_width(font, size, text) <= max {
        return (size, text.to_string());
    }
    let mut chars: Vec<char> = text.chars().collect();
    while !chars.is_empty() {
        chars.pop();
        let short: String = chars.iter().collect::<String>() + "…";
        if text_width(font, size, &short) <= max {
            return (size, short);
        }
    }
    (size, String::new())
}

/// Draws `text` with its top-left at (x, top), blending coverage into the background.
pub(crate) fn draw_text(
    img: &mut RgbImage,
    font: &FontRef,
    px: f32,
    x: f32,
    top: f32,
    text: &str,
    ink: [u8; 3],
) {
    let scale = PxScale::from(px);
    let scaled = font.as_scaled(scale);
    let baseline = top + scaled.ascent();
    let mut caret = x;
    let mut previous = None;
    for ch in text.chars() {
        let id = scaled.glyph_id(ch);
        if let Some(p) = previous {
            caret += scaled.kern(p, id);
        }
        let glyph = id.with_scale_and_position(scale, point(caret.round(), baseline.round()));
        caret += scaled.h_advance(id);
        previous = Some(id);
        let Some(outline) = font.outline_glyph(glyph) else {
            continue;
        };
        let bounds = outline.px_bounds();
        outline.draw(|gx, gy, coverage| {
            let (px, py) = (
                bounds.min.x as i64 + gx as i64,
                bounds.min.y as i64 + gy as i64,
            );
            if px < 0 || py < 0 || px >= img.width() as i64 || py >= img.height() as i64 {
                return;
            }
            let a = coverage.clamp(0.0, 1.0);
            let pixel = img.get_pixel_mut(px as u32, py as u32);
            for (dst, &src) in pixel.0.iter_mut().zip(&ink) {
                *dst = (*dst as f32 * (1.0 - a) + src as f32 * a).round() as u8;
            }
        });
    }
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`, so readers
/// never see a half-written file.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| DataError::malformed(path, "not a file path"))?;
    let temp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        DataError::io(path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preview_draws_images_and_captions() {
        let ds = super::super::bundled_for_tests();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("grid.png");
        preview(ds, 20, 5, &out).unwrap();
        let img = image::open(&out).unwrap().to_rgb8();
        // 5 columns of 84-px images in 84-wide cells (80 px minimum), 4 rows.
        assert_eq!(img.width(), 2 * MARGIN + 5 * 84 + 4 * GAP);
        let font = FontRef::try_from_slice(epaint_default_fonts::UBUNTU_LIGHT).unwrap();
        assert_eq!(
            img,
            render(ds, 20, 5, &font),
            "the file holds the rendered sheet"
        );
        // The first image is reproduced at 3×: its pixel (10, 14) becomes a 3×3 block.
        let (ix, iy) = (MARGIN, MARGIN + (TITLE_PX * 2.0).ceil() as u32);
        let want = ds.train.image(0)[10 * 28 + 14];
        for dy in 0..3 {
            for dx in 0..3 {
                assert_eq!(
                    img.get_pixel(ix + 14 * 3 + dx, iy + 10 * 3 + dy).0,
                    [want; 3]
                );
            }
        }
        // Captions are drawn: the strip under the first image has dark text pixels.
        let ink = (0..84)
            .flat_map(|x| (0..20).map(move |y| (x, y)))
            .filter(|&(x, y)| img.get_pixel(ix + x, iy + 84 + 4 + y).0[0] < 150)
            .count();
        assert!(ink > 20, "{ink} text pixels");
        // Nothing but the result is left in the folder.
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    /// A CIFAR-100-like dataset: 32-px colour images and long class names.
    pub(crate) fn colour_dataset() -> Dataset {
        let mut train = super::super::cifar::tests::sample(30, 100, 3);
        // Give the first image flat, distinct planes so its colour is easy to check.
        train.images[..1024].fill(250);
        train.images[1024..2048].fill(120);
        train.images[2048..3072].fill(10);
        Dataset {
            name: "CIFAR-100".into(),
            kind: super::super::DatasetKind::Cifar100,
            format: super::super::Format::CifarPython,
            source: "test".into(),
            classes: super::super::DatasetKind::Cifar100.default_classes(),
            train,
            test: None,
            normalize: super::super::DatasetKind::Cifar100.normalize().unwrap(),
            hflip: true,
        }
    }

    #[test]
    fn colour_images_keep_their_channels_at_2x() {
        let ds = colour_dataset();
        let font = FontRef::try_from_slice(epaint_default_fonts::UBUNTU_LIGHT).unwrap();
        let img = render(&ds, 12, 6, &font);
        // 32-px images become 64 px in 80-px cells.
        assert_eq!(img.width(), 2 * MARGIN + 6 * 80 + 5 * GAP);
        let (ix, iy) = (MARGIN + 8, MARGIN + (TITLE_PX * 2.0).ceil() as u32);
        assert_eq!(img.get_pixel(ix, iy).0, [250, 120, 10]);
        assert_eq!(img.get_pixel(ix + 63, iy + 63).0, [250, 120, 10]);
        assert_eq!(img.get_pixel(ix + 64, iy + 63).0, FRAME);
        // The second image's top-left pixel, from its three planes.
        let second = ds.train.image(1);
        let x2 = MARGIN + 80 + GAP + 8;
        assert_eq!(
            img.get_pixel(x2 + 1, iy + 1).0,
            [second[0], second[1024], second[2048]]
        );
    }

    #[test]
    fn long_names_are_fitted_into_their_cell() {
        let font = FontRef::try_from_slice(epaint_default_fonts::UBUNTU_LIGHT).unwrap();
        let (px, text) = fit(&font, LABEL_PX, "a_rather_long_class_name_indeed", 80);
        assert!(
            text.ends_with('…') && text_width(&font, px, &text) <= 80.0,
            "{text}"
        );
        assert_eq!(fit(&font, LABEL_PX, "cat", 80), (LABEL_PX, "cat".into()));
    }

    #[test]
    fn unwritable_output_is_an_error_naming_it() {
        let ds = super::super::bundled_for_tests();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("missing").join("grid.png");
        let err = preview(ds, 4, 2, &out).unwrap_err().to_string();
        assert!(err.starts_with(&out.display().to_string()), "{err}");
    }
}
