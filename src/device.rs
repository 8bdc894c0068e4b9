//! Choosing the compute device: burn's flex CPU backend or its wgpu backend.
//!
//! burn's `Device::default()` prefers a GPU and silently starts wgpu; darts-pt never uses it.
//! Every command takes `--device`, resolves it here once, and passes the device down.

#[cfg(not(target_arch = "wasm32"))]
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
#[cfg(not(target_arch = "wasm32"))]
use std::sync::{Mutex, OnceLock};

pub use burn::tensor::Device;
use burn::tensor::DeviceKind;
use serde::{Deserialize, Serialize};

/// The user's device request.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DeviceChoice {
    /// A real GPU through wgpu when there is one, otherwise the flex CPU backend.
    #[default]
    Auto,
    /// burn's flex backend (pure Rust, multi-threaded).
    Cpu,
    /// wgpu on whichever graphics API the platform offers, software adapters included.
    Wgpu,
    Vulkan,
    Metal,
    Dx12,
    /// The device a `darts-pt serve` process offers at this WebSocket address
    /// (`ws://HOST:PORT`): the tensors live there, the run directory stays here.
    Remote(String),
}

impl DeviceChoice {
    /// The devices of this machine, as `--device` names them.
    pub const LOCAL: [DeviceChoice; 6] = [
        DeviceChoice::Auto,
        DeviceChoice::Cpu,
        DeviceChoice::Wgpu,
        DeviceChoice::Vulkan,
        DeviceChoice::Metal,
        DeviceChoice::Dx12,
    ];

    pub fn name(&self) -> &'static str {
        match self {
            DeviceChoice::Auto => "auto",
            DeviceChoice::Cpu => "cpu",
            DeviceChoice::Wgpu => "wgpu",
            DeviceChoice::Vulkan => "vulkan",
            DeviceChoice::Metal => "metal",
            DeviceChoice::Dx12 => "dx12",
            DeviceChoice::Remote(_) => "remote",
        }
    }

    pub fn is_remote(&self) -> bool {
        matches!(self, DeviceChoice::Remote(_))
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Remote(url) => write!(f, "remote:{url}"),
            d => f.write_str(d.name()),
        }
    }
}

impl FromStr for DeviceChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(url) = s.strip_prefix("remote:") {
            return remote_url(url).map(DeviceChoice::Remote);
        }
        DeviceChoice::LOCAL
            .into_iter()
            .find(|d| d.name() == s.to_ascii_lowercase())
            .ok_or_else(|| {
                format!(
                    "unknown device '{s}' (expected auto, cpu, wgpu, vulkan, metal, dx12 or \
                     remote:ws://HOST:PORT)"
                )
            })
    }
}

impl TryFrom<String> for DeviceChoice {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<DeviceChoice> for String {
    fn from(d: DeviceChoice) -> String {
        d.to_string()
    }
}

/// Checks a server address: `ws://HOST:PORT`, nothing after the port (a path would be
/// ignored by the server, and a typo there should not pass silently).
fn remote_url(url: &str) -> Result<String, String> {
    let bad = |why: &str| format!("remote device '{url}': {why} (expected remote:ws://HOST:PORT)");
    let rest = url
        .strip_prefix("ws://")
        .ok_or_else(|| bad("the address must start with ws://"))?;
    let (host, port) = rest
        .rsplit_once(':')
        .ok_or_else(|| bad("the address needs a port"))?;
    if host.is_empty() || host.contains('/') {
        return Err(bad("the host is missing or malformed"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(url.to_string()),
        _ => Err(bad("the port must be a number from 1 to 65535")),
    }
}

/// A resolved device and a line describing it for the user.
#[derive(Clone, Debug)]
pub struct SelectedDevice {
    /// The device without autodiff; call `.autodiff()` to train on it.
    pub device: Device,
    /// What was chosen, e.g. `cpu (flex, 2 threads)` or `wgpu: NVIDIA RTX 3060 (Vulkan, discrete GPU)`.
    pub description: String,
    /// Whether the device is a GPU (software adapters count as not).
    pub is_gpu: bool,
}

/// Why a device could not be started.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the {choice} device: {reason}")]
pub struct DeviceError {
    pub choice: DeviceChoice,
    pub reason: String,
}

/// One adapter wgpu can see.
#[derive(Clone, Debug, Serialize)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub is_gpu: bool,
}

/// The adapters wgpu sees on this machine (empty when no graphics driver loads). A page has
/// no synchronous adapter list: its one adapter is the one the studio renders with.
#[cfg(target_arch = "wasm32")]
pub fn list_adapters() -> Vec<AdapterSummary> {
    Vec::new()
}

/// The adapters wgpu sees on this machine (empty when no graphics driver loads).
#[cfg(not(target_arch = "wasm32"))]
pub fn list_adapters() -> Vec<AdapterSummary> {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    adapters.iter().map(|a| summarize(&a.get_info())).collect()
}

#[cfg(not(target_arch = "wasm32"))]
fn summarize(info: &wgpu::AdapterInfo) -> AdapterSummary {
    AdapterSummary {
        name: info.name.clone(),
        backend: format!("{:?}", info.backend),
        device_type: device_type_name(info.device_type).to_string(),
        is_gpu: is_gpu(info.device_type),
    }
}

/// Whether an adapter of this type is a real GPU (software adapters are not).
pub fn is_gpu(t: wgpu::DeviceType) -> bool {
    matches!(
        t,
        wgpu::DeviceType::DiscreteGpu
            | wgpu::DeviceType::IntegratedGpu
            | wgpu::DeviceType::VirtualGpu
    )
}

pub fn device_type_name(t: wgpu::DeviceType) -> &'static str {
    match t {
        wgpu::DeviceType::DiscreteGpu => "discrete GPU",
        wgpu::DeviceType::IntegratedGpu => "integrated GPU",
        wgpu::DeviceType::VirtualGpu => "virtual GPU",
        wgpu::DeviceType::Cpu => "software adapter",
        wgpu::DeviceType::Other => "other",
    }
}

/// The browser's WebGPU adapter as a device of its own (a page's only way to one: it starts
/// asynchronously).
#[cfg(target_arch = "wasm32")]
pub async fn webgpu() -> Result<SelectedDevice, DeviceError> {
    let (device, setup) = Device::wgpu_options()
        .init_with_setup_async()
        .await
        .map_err(|e| DeviceError {
            choice: DeviceChoice::Wgpu,
            reason: format!("the browser offers no WebGPU adapter ({e})"),
        })?;
    // Browsers often keep the adapter's name to themselves; the driver then names it.
    let info = setup.adapter.get_info();
    let name = if info.name.is_empty() {
        &info.driver
    } else {
        &info.name
    };
    Ok(SelectedDevice {
        device,
        description: format!("WebGPU: {name} ({})", device_type_name(info.device_type)),
        is_gpu: is_gpu(info.device_type),
    })
}

fn cpu_device() -> SelectedDevice {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    SelectedDevice {
        device: Device::flex(),
        description: format!("cpu (flex backend, {threads} threads)"),
        is_gpu: false,
    }
}

/// A wgpu runtime can be initialised once per graphics API; later requests reuse it.
#[cfg(not(target_arch = "wasm32"))]
fn wgpu_cache() -> &'static Mutex<HashMap<DeviceChoice, SelectedDevice>> {
    static CACHE: OnceLock<Mutex<HashMap<DeviceChoice, SelectedDevice>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// In a page burn's wgpu device is the one the studio renders with (shared once WebGPU is up);
/// a device of its own would need an asynchronous start.
#[cfg(target_arch = "wasm32")]
fn wgpu_device(choice: DeviceChoice, _kind: DeviceKind) -> Result<SelectedDevice, DeviceError> {
    Err(DeviceError {
        choice,
        reason: "in a browser, WebGPU is the page's device (the studio shares it)".into(),
    })
}

#[cfg(not(target_arch = "wasm32"))]
fn wgpu_device(choice: DeviceChoice, kind: DeviceKind) -> Result<SelectedDevice, DeviceError> {
    use burn::tensor::wgpu::WgpuBackend;
    let mut cache = wgpu_cache().lock().unwrap_or_else(|p| p.into_inner());
    if let Some(d) = cache.get(&choice) {
        return Ok(d.clone());
    }
    let api = match choice {
        DeviceChoice::Vulkan => WgpuBackend::Vulkan,
        DeviceChoice::Metal => WgpuBackend::Metal,
        DeviceChoice::Dx12 => WgpuBackend::Dx12,
        _ => WgpuBackend::Auto,
    };
    let mut options = Device::wgpu_options().device_kind(kind);
    if api != WgpuBackend::Auto {
        options = options.graphics_api(api);
    }
    // Adapter discovery can panic inside the graphics stack on broken drivers; report it.
    let result = std::panic::catch_unwind(|| options.init_with_setup());
    let (device, setup) = match result {
        Ok(Ok(pair)) => pair,
        Ok(Err(e)) => {
            return Err(DeviceError {
                choice,
                reason: e.to_string(),
            });
        }
        Err(_) => {
            return Err(DeviceError {
                choice,
                reason: "the graphics driver failed while opening an adapter".into(),
            });
        }
    };
    let info = summarize(&setup.adapter.get_info());
    let selected = SelectedDevice {
        device,
        description: format!(
            "{choice}: {} ({}, {})",
            info.name, info.backend, info.device_type
        ),
        is_gpu: info.is_gpu,
    };
    cache.insert(choice, selected.clone());
    Ok(selected)
}

/// Resolves a device request. `auto` takes wgpu only when a real GPU adapter exists; a remote
/// device connects with the token of `DARTS_PT_TOKEN_FILE` or `DARTS_PT_TOKEN`.
pub fn select(choice: &DeviceChoice) -> Result<SelectedDevice, DeviceError> {
    select_with(choice, None)
}

/// [`select`], with a remote server's token read from `token_file` when one is given.
pub fn select_with(
    choice: &DeviceChoice,
    token_file: Option<&std::path::Path>,
) -> Result<SelectedDevice, DeviceError> {
    match choice {
        DeviceChoice::Cpu => Ok(cpu_device()),
        DeviceChoice::Auto => {
            let gpu = list_adapters().into_iter().find(|a| a.is_gpu);
            match gpu {
                Some(_) => match wgpu_device(DeviceChoice::Wgpu, DeviceKind::DefaultDevice) {
                    Ok(d) if d.is_gpu => Ok(d),
                    _ => Ok(cpu_device()),
                },
                None => Ok(cpu_device()),
            }
        }
        DeviceChoice::Wgpu | DeviceChoice::Vulkan | DeviceChoice::Metal | DeviceChoice::Dx12 => {
            let has_gpu = list_adapters().iter().any(|a| a.is_gpu);
            // With no GPU, ask for the software adapter explicitly so `--device wgpu` still runs.
            let kind = if has_gpu {
                DeviceKind::DefaultDevice
            } else {
                DeviceKind::Cpu
            };
            wgpu_device(choice.clone(), kind)
        }
        DeviceChoice::Remote(url) => remote_device(url, token_file),
    }
}

#[cfg(all(feature = "remote", not(target_arch = "wasm32")))]
fn remote_device(
    url: &str,
    token_file: Option<&std::path::Path>,
) -> Result<SelectedDevice, DeviceError> {
    let device = crate::remote::connect(url, token_file).map_err(|e| DeviceError {
        choice: DeviceChoice::Remote(url.to_string()),
        reason: format!("{e:#}"),
    })?;
    Ok(SelectedDevice {
        device,
        description: format!("remote {url}"),
        // What the server computes on is its own business; locally this is no GPU.
        is_gpu: false,
    })
}

#[cfg(not(all(feature = "remote", not(target_arch = "wasm32"))))]
fn remote_device(
    url: &str,
    _token_file: Option<&std::path::Path>,
) -> Result<SelectedDevice, DeviceError> {
    Err(DeviceError {
        choice: DeviceChoice::Remote(url.to_string()),
        reason: if cfg!(target_arch = "wasm32") {
            "a page cannot reach a remote device".into()
        } else {
            "this darts-pt was built without remote devices: build it with \
             `cargo build --release --features remote`"
                .into()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_parse_print_and_serialise_as_typed() {
        for s in ["auto", "cpu", "wgpu", "vulkan", "remote:ws://gpu.lan:3000"] {
            let d: DeviceChoice = s.parse().unwrap();
            assert_eq!(d.to_string(), s);
            let toml = toml::to_string(&serde_json::json!({ "device": d })).unwrap();
            assert_eq!(toml.trim(), format!("device = \"{s}\""));
        }
        assert!(matches!(
            "remote:ws://127.0.0.1:3000".parse::<DeviceChoice>(),
            Ok(DeviceChoice::Remote(u)) if u == "ws://127.0.0.1:3000"
        ));
        for bad in [
            "remote:127.0.0.1:3000",
            "remote:ws://gpu",
            "remote:ws://:3000",
            "remote:ws://gpu:0",
            "remote:ws://gpu:3000/x",
            "tpu",
        ] {
            let e = bad.parse::<DeviceChoice>().unwrap_err();
            assert!(e.contains("expected"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_remote_device_without_the_feature_says_how_to_get_it() {
        let choice: DeviceChoice = "remote:ws://127.0.0.1:1".parse().unwrap();
        let err = select(&choice).unwrap_err().to_string();
        if cfg!(feature = "remote") {
            assert!(err.contains("nothing answers at ws://127.0.0.1:1"), "{err}");
        } else {
            assert!(err.contains("--features remote"), "{err}");
        }
    }
}
