//! One wgpu device for the window and for burn. egui normally asks for a bare device (no
//! optional features, default limits); burn's kernels then fail validation on it (they use
//! 64-bit integers, larger buffers, subgroups...). So the studio creates the window's device
//! itself, asking for everything the adapter offers, the way burn would, and afterwards hands
//! that same device and queue to burn.

use std::sync::Arc;

use egui_wgpu::{RenderState, WgpuSetup, WgpuSetupCreateNew, wgpu};

use crate::device::{SelectedDevice, device_type_name, is_gpu};

/// What the UI calls the GPU that burn may share: a window's wgpu device, or in a page the
/// WebGPU device the page computes on.
pub const SHARED_GPU: &str = if cfg!(target_arch = "wasm32") {
    "the page's WebGPU"
} else {
    "the window's GPU"
};

/// The device request: all of the adapter's features (except mappable primary buffers, which
/// slow down discrete GPUs) and its limits, as burn's own device request does.
pub fn shared_device_descriptor(adapter: &wgpu::Adapter) -> wgpu::DeviceDescriptor<'static> {
    wgpu::DeviceDescriptor {
        label: Some("darts-pt studio: shared by egui and burn"),
        required_features: adapter
            .features()
            .difference(wgpu::Features::MAPPABLE_PRIMARY_BUFFERS),
        required_limits: adapter.limits(),
        // SAFETY: burn's wgpu runtime requests these on its own devices too; they only allow
        // extra shader paths, which the egui renderer does not use.
        experimental_features: unsafe { wgpu::ExperimentalFeatures::enabled() },
        memory_hints: wgpu::MemoryHints::MemoryUsage,
        trace: wgpu::Trace::Off,
    }
}

/// How eframe (or the offscreen renderer) should create its device.
pub fn shared_setup() -> WgpuSetup {
    let mut setup = WgpuSetupCreateNew::without_display_handle();
    setup.device_descriptor = Arc::new(shared_device_descriptor);
    WgpuSetup::CreateNew(setup)
}

/// The offscreen variant: the same device request on the adapter wgpu prefers, software
/// adapters first so renders do not depend on the machine's GPU.
#[cfg(not(target_arch = "wasm32"))]
pub fn offscreen_setup() -> WgpuSetup {
    let WgpuSetup::CreateNew(mut setup) = egui_kittest::wgpu::default_wgpu_setup() else {
        return shared_setup();
    };
    setup.device_descriptor = Arc::new(shared_device_descriptor);
    WgpuSetup::CreateNew(setup)
}

/// What the status bar and the device panel say about rendering and compute.
#[derive(Clone, Debug)]
pub struct GpuInfo {
    pub adapter: wgpu::AdapterInfo,
    pub is_gpu: bool,
    /// Whether the device was created with the adapter's features (so burn can use it).
    pub has_adapter_features: bool,
    pub features: usize,
    pub max_buffer_size: u64,
    pub max_storage_buffer_binding_size: u64,
    pub max_compute_invocations_per_workgroup: u32,
    pub target_format: String,
    /// burn registered on the same device, or why not.
    pub burn: Result<SelectedDevice, String>,
}

impl GpuInfo {
    pub fn adapter_line(&self) -> String {
        format!(
            "{} ({:?}, {})",
            self.adapter.name,
            self.adapter.backend,
            device_type_name(self.adapter.device_type)
        )
    }
}

/// Registers the window's device with burn, unless it lacks the adapter's features (a device
/// eframe made with its default request); returns what the studio knows about it.
pub fn share_with_burn(rs: &RenderState) -> GpuInfo {
    let mut info = describe(rs, Err(String::new()));
    let adapter = &info.adapter;
    info.burn = if info.has_adapter_features {
        let setup = burn::tensor::wgpu::WgpuSetup {
            instance: rs.instance.clone(),
            adapter: rs.adapter.clone(),
            device: rs.device.clone(),
            queue: rs.queue.clone(),
            backend: adapter.backend,
        };
        match burn::tensor::Device::wgpu_options().setup(setup).init() {
            Ok(device) => Ok(SelectedDevice {
                device,
                description: format!(
                    "shared wgpu: {} ({:?}, {})",
                    adapter.name,
                    adapter.backend,
                    device_type_name(adapter.device_type)
                ),
                is_gpu: info.is_gpu,
            }),
            Err(e) => Err(format!("burn cannot use the window's device: {e}")),
        }
    } else {
        let wanted = rs
            .adapter
            .features()
            .difference(wgpu::Features::MAPPABLE_PRIMARY_BUFFERS);
        Err(format!(
            "the window's device lacks {} of the adapter's features burn needs",
            wanted.difference(rs.device.features()).iter().count()
        ))
    };
    info
}

/// What the studio knows about the window's device, with `burn` the GPU device jobs may
/// compute on (the window's own, or one of their own, as in a page).
pub fn describe(rs: &RenderState, burn: Result<SelectedDevice, String>) -> GpuInfo {
    let adapter = rs.adapter.get_info();
    let wanted = rs
        .adapter
        .features()
        .difference(wgpu::Features::MAPPABLE_PRIMARY_BUFFERS);
    let has = rs.device.features();
    let limits = rs.device.limits();
    GpuInfo {
        has_adapter_features: has.contains(wanted),
        features: has.iter().count(),
        max_buffer_size: limits.max_buffer_size,
        max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
        max_compute_invocations_per_workgroup: limits.max_compute_invocations_per_workgroup,
        target_format: format!("{:?}", rs.target_format),
        is_gpu: is_gpu(adapter.device_type),
        adapter,
        burn,
    }
}
