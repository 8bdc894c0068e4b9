//! `darts-pt studio --screenshot FILE.png`: the studio rendered at a fixed size into a PNG.
//! Offscreen (the default) it runs the app in egui's test harness on a wgpu device, with no
//! window or display; with `--window` it opens the real eframe window (under Xvfb in CI) and
//! captures it through egui's viewport screenshot command.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use egui::Vec2;
use egui_kittest::Harness;

use super::app::{StudioApp, StudioOptions};
use super::gpu;

/// How long a screenshot may wait for the studio to settle (reading runs, evaluations).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(600);

/// Runs the studio offscreen until it is idle, then renders it into `out`.
pub fn offscreen(opts: StudioOptions, size: Vec2, pixels_per_point: f32, out: &Path) -> Result<()> {
    let mut harness = Harness::builder()
        .with_size(size)
        .with_pixels_per_point(pixels_per_point)
        .with_max_steps(64)
        .with_theme(egui::Theme::Light)
        // Accessibility is checked by the tests; a screenshot only needs the pixels.
        .with_accessibility_check(false)
        // As in the window: a character no font has is drawn as a box, never a panic (the
        // harness's default, for tests).
        .allow_missing_glyphs()
        .wgpu_setup(gpu::offscreen_setup())
        .build_eframe(|cc| StudioApp::new(cc, opts));
    settle(&mut harness)?;
    let img = harness
        .render()
        .map_err(|e| anyhow::anyhow!("rendering failed: {e}"))?;
    img.save(out)
        .with_context(|| format!("cannot write {}", out.display()))?;
    Ok(())
}

/// Steps the harness until the studio has nothing pending and the frame is stable.
pub fn settle(harness: &mut Harness<'_, StudioApp>) -> Result<()> {
    let start = Instant::now();
    loop {
        harness.step();
        if !harness.state().is_busy() {
            // A few more frames for grids and plots, whose first frame only measures.
            harness.run_steps(4);
            if !harness.state().is_busy() {
                return Ok(());
            }
        }
        if start.elapsed() > SETTLE_TIMEOUT {
            bail!("the studio did not settle within {:?}", SETTLE_TIMEOUT);
        }
        std::thread::sleep(Duration::from_millis(30));
    }
}

/// Opens the real window, captures it once idle and closes it.
pub fn window(opts: StudioOptions, size: Vec2) -> Result<()> {
    let out = opts.capture.clone().context("no screenshot file")?;
    let state = std::sync::Arc::new(std::sync::Mutex::new(None));
    let slot = state.clone();
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_inner_size(size)
            .with_resizable(false)
            .with_title("darts-pt studio"),
        wgpu_options: egui_wgpu::WgpuConfiguration {
            wgpu_setup: gpu::shared_setup(),
            ..Default::default()
        },
        ..Default::default()
    };
    eframe::run_native(
        "darts-pt studio",
        native,
        Box::new(move |cc| {
            let app = StudioApp::new(cc, opts);
            *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(app.capture_state());
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the studio window: {e}"))?;
    let captured = state
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        .and_then(|s| s.lock().unwrap_or_else(|p| p.into_inner()).take());
    match captured {
        Some(Ok(())) => Ok(()),
        Some(Err(e)) => bail!("cannot save the window screenshot: {e}"),
        None => bail!(
            "the window closed before its screenshot was taken ({} not written)",
            out.display()
        ),
    }
}
