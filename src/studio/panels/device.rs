//! The device panel: the wgpu device the window renders with and burn computes on, the
//! choice of the compute device, and a check that burn computes correctly on it (a matrix
//! product compared with the CPU's).

use std::sync::{Arc, Mutex};

use egui::Ui;

use crate::device::SelectedDevice;
use crate::studio::gpu::GpuInfo;
use crate::studio::jobs::{catch_async, lock, spawn_task};
use crate::studio::panels::runs::{Compute, RemoteCompute};

/// The outcome of the device check, shared with its worker.
type CheckSlot = Arc<Mutex<Option<Result<String, String>>>>;

/// What the panel asks the app to do.
pub enum DeviceAction {
    /// Compute on this device from now on.
    Compute(Compute),
}

/// The panel's own state.
#[derive(Default)]
pub struct DeviceUi {
    check: Option<CheckSlot>,
}

impl DeviceUi {
    /// True while the check runs.
    pub fn is_busy(&self) -> bool {
        self.check.as_ref().is_some_and(|c| lock(c).is_none())
    }

    /// Draws the panel: what is known about the window's device (`gpu`), the choice of the
    /// compute device (`compute`, else `cpu`) and the check; `wake` repaints the UI when the
    /// check has run.
    pub fn ui(
        &mut self,
        ui: &mut Ui,
        gpu: Option<&GpuInfo>,
        (cpu, remote): (&SelectedDevice, Option<&RemoteCompute>),
        compute: Compute,
        wake: impl Fn() + Send + 'static,
    ) -> Option<DeviceAction> {
        let words = Words::here();
        ui.heading(words.heading);
        ui.label(words.about);
        ui.add_space(6.0);
        match gpu {
            None => {
                ui.label(
                    "No wgpu device: the window renders without wgpu; burn computes on the CPU.",
                );
            }
            Some(g) => {
                egui::Grid::new("device-facts")
                    .striped(true)
                    .num_columns(2)
                    .show(ui, |ui| {
                        ui.label("adapter");
                        ui.label(g.adapter_line());
                        ui.end_row();
                        ui.label("driver");
                        ui.label(format!("{} {}", g.adapter.driver, g.adapter.driver_info));
                        ui.end_row();
                        ui.label("device features");
                        ui.label(format!(
                            "{} ({})",
                            g.features,
                            if g.has_adapter_features {
                                "all the adapter offers"
                            } else {
                                "fewer than the adapter offers"
                            }
                        ));
                        ui.end_row();
                        ui.label("max buffer size");
                        ui.label(format!("{} MiB", g.max_buffer_size >> 20));
                        ui.end_row();
                        ui.label("max storage binding");
                        ui.label(format!("{} MiB", g.max_storage_buffer_binding_size >> 20));
                        ui.end_row();
                        ui.label("max invocations per workgroup");
                        ui.label(g.max_compute_invocations_per_workgroup.to_string());
                        ui.end_row();
                        ui.label("window format");
                        ui.label(&g.target_format);
                        ui.end_row();
                        ui.label("burn on this device");
                        match &g.burn {
                            Ok(d) => ui.label(format!("registered: {}", d.description)),
                            Err(e) => ui.colored_label(ui.visuals().warn_fg_color, e),
                        };
                        ui.end_row();
                    });
            }
        }
        ui.add_space(8.0);
        ui.strong("Compute on");
        let gpu_ok = gpu.is_some_and(|g| g.burn.is_ok());
        let mut chosen = compute;
        ui.horizontal(|ui| {
            ui.radio_value(&mut chosen, Compute::Cpu, &cpu.description);
            ui.add_enabled_ui(gpu_ok, |ui| {
                ui.radio_value(&mut chosen, Compute::SharedGpu, words.gpu);
            });
            if let Some(r) = remote {
                ui.radio_value(&mut chosen, Compute::Remote, &r.device.description);
            }
        });
        ui.weak(
            "Software adapters (lavapipe, llvmpipe) are far slower than the flex CPU backend; \
             the studio picks the GPU by default only when the adapter is a real GPU.",
        );
        ui.add_space(8.0);
        let running = self.check.as_ref().is_some_and(|c| lock(c).is_none());
        if ui
            .add_enabled(
                !running,
                egui::Button::new("Check: a matrix product on the compute device"),
            )
            .clicked()
        {
            let slot: CheckSlot = Arc::new(Mutex::new(None));
            let s = slot.clone();
            let device = chosen.device(gpu, cpu, remote);
            let cpu = cpu.clone();
            spawn_task("darts-pt device check", move || async move {
                let r = catch_async(matmul_check(&device, &cpu)).await;
                *lock(&s) = Some(r);
                wake();
            });
            self.check = Some(slot);
        }
        if let Some(c) = &self.check {
            match &*lock(c) {
                None => {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label("running (the first kernels compile their shaders) …");
                    });
                }
                Some(Ok(s)) => {
                    ui.label(s);
                }
                Some(Err(e)) => {
                    ui.colored_label(ui.visuals().error_fg_color, e);
                }
            }
        }
        (chosen != compute).then_some(DeviceAction::Compute(chosen))
    }
}

/// How the panel names the devices: a window renders and computes on one wgpu device; a page
/// draws with WebGL and computes on a WebGPU device of its own.
struct Words {
    heading: &'static str,
    about: &'static str,
    gpu: &'static str,
}

impl Words {
    fn here() -> Self {
        if cfg!(target_arch = "wasm32") {
            Words {
                heading: "The page draws with WebGL and computes on WebGPU or the CPU",
                about: "The page draws through WebGL, which every browser offers (the adapter \
                        below); burn computes on a WebGPU device of its own when the browser \
                        offers one, else on its CPU backend compiled to wasm.",
                gpu: "the page's WebGPU device",
            }
        } else {
            Words {
                heading: "Rendering and compute share one wgpu device",
                about: "The window's device is created with every feature and limit its \
                        adapter offers, as burn's kernels need, and then registered with burn: \
                        rendering, the heatmap shader and (when chosen) search, selection and \
                        perturbation all run on it.",
                gpu: "the window's wgpu device",
            }
        }
    }
}

/// A 256x256 product on `device`, compared with the CPU's: proves burn computes correctly on
/// the device the window renders with. Reads are awaited: a page's WebGPU cannot read
/// synchronously.
async fn matmul_check(device: &SelectedDevice, cpu: &SelectedDevice) -> anyhow::Result<String> {
    use burn::tensor::{Tensor, TensorData};
    let n = 256;
    let a: Vec<f32> = (0..n * n)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
        .collect();
    let b: Vec<f32> = (0..n * n)
        .map(|i| ((i * 53 % 97) as f32 - 48.0) / 48.0)
        .collect();
    let run = |d: &burn::tensor::Device| {
        let x = Tensor::<2>::from_data(TensorData::new(a.clone(), [n, n]), d);
        let y = Tensor::<2>::from_data(TensorData::new(b.clone(), [n, n]), d);
        crate::job::read::floats(x.matmul(y).reshape([n * n]))
    };
    // Once to compile, once to time.
    let _ = run(&device.device).await;
    let clock = web_time::Instant::now();
    let got = run(&device.device).await;
    let ms = clock.elapsed().as_secs_f64() * 1e3;
    let want = run(&cpu.device).await;
    anyhow::ensure!(
        got.len() == want.len(),
        "the device returned {} values",
        got.len()
    );
    let diff = got
        .iter()
        .zip(&want)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    Ok(format!(
        "256×256 matmul on {}: {ms:.1} ms; largest difference from the CPU result {diff:.2e}",
        device.description
    ))
}
