//! What a device does per step, for `darts-pt bench`: kernel dispatches (every kernel launch
//! on a CubeCL device, wgpu's included), host reads (a value brought back from the device, which
//! waits for everything queued before it) and the device memory burn holds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use burn::backend::DispatchDevice;
use burn::tensor::Device;
use burn_cubecl::cubecl::MemoryScope;
use burn_cubecl::cubecl::logging::{LaunchObservation, LaunchObserver};

thread_local! {
    /// Per thread: a job runs on one thread, and jobs on other threads (the studio's, parallel
    /// tests) must not count in its steps.
    static HOST_READS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Counts one host read. Every read of device values in the jobs goes through a function that
/// calls this (the jobs' `read::floats`, the checkpoint's one-transaction read).
pub fn count_host_read() {
    HOST_READS.with(|n| n.set(n.get() + 1));
}

/// Host reads so far on this thread.
pub fn host_reads() -> u64 {
    HOST_READS.with(|n| n.get())
}

/// Counts the kernels launched on CubeCL devices while it is installed ([`Self::watch`]), in
/// total and per kernel (which says where a step's dispatches go, and so which kernel to write
/// next). Only the installing thread's launches count (and, with fusion, the device's service
/// thread's): the observer is process-wide, and other threads (parallel tests, the studio)
/// launch their own.
pub struct Dispatches {
    thread: std::thread::ThreadId,
    total: AtomicU64,
    by_kernel: Mutex<HashMap<&'static str, u64>>,
}

impl LaunchObserver for Dispatches {
    fn launched(&self, kernel: &'static str) {
        if std::thread::current().id() != self.thread && !on_device_service_thread() {
            return;
        }
        self.total.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut map) = self.by_kernel.lock() {
            *map.entry(kernel).or_default() += 1;
        }
    }
}

impl Dispatches {
    /// Installs a counter process-wide until the returned guard drops.
    pub fn watch() -> (Arc<Self>, LaunchObservation) {
        let counter = Arc::new(Self {
            thread: std::thread::current().id(),
            total: AtomicU64::new(0),
            by_kernel: Mutex::new(HashMap::new()),
        });
        let guard = LaunchObservation::new(counter.clone());
        (counter, guard)
    }

    pub fn count(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Launches per kernel, most launched first; names are shortened to the kernel's own name
    /// (the last path segment before any generic arguments), and equal short names summed.
    pub fn by_kernel(&self) -> Vec<(String, u64)> {
        let mut short: HashMap<String, u64> = HashMap::new();
        if let Ok(map) = self.by_kernel.lock() {
            for (name, n) in map.iter() {
                *short.entry(short_name(name).to_string()).or_default() += n;
            }
        }
        let mut out: Vec<_> = short.into_iter().collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out
    }
}

/// Whether this thread is a device's service thread, where burn's fusion runs the operations a
/// job queued (its launches are the job's; with fusion, jobs sharing a device count together).
/// Without fusion every launch is issued by the job's own thread.
fn on_device_service_thread() -> bool {
    cfg!(feature = "fusion")
        && std::thread::current()
            .name()
            .is_some_and(|name| name.starts_with("DS"))
}

/// `a::b::kernel<T, U>` -> `kernel`.
fn short_name(name: &str) -> &str {
    let base = name.split('<').next().unwrap_or(name);
    base.rsplit("::").next().unwrap_or(base)
}

/// MiB of device memory burn's allocator holds on `device` (its pools keep their peak size, so
/// read after the work this is the work's peak footprint), or `None` off CubeCL devices.
pub fn device_memory_mib(device: &Device) -> Option<f64> {
    match device.clone().without_autodiff().as_dispatch() {
        DispatchDevice::Cube(d) => {
            let usage = d.client().memory_report(MemoryScope::Device).usage();
            Some(usage.bytes_reserved as f64 / (1u64 << 20) as f64)
        }
        _ => None,
    }
}
