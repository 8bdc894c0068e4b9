//! Host reads of device values. A browser's WebGPU can only read asynchronously, so jobs await
//! every read through here; natively the read is synchronous and the await returns at once.
//!
//! A read is also where a device that has gone away shows itself (a remote server stopped, its
//! connection dropped): the read raises [`DeviceLost`], which the job driver turns into the
//! job's error, and the run keeps its last checkpoint.

use std::fmt;
use std::sync::Once;

use burn::tensor::Tensor;

/// The device stopped answering in the middle of a job.
#[derive(Clone, Debug)]
pub struct DeviceLost(pub String);

impl fmt::Display for DeviceLost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the device stopped answering ({})", self.0)
    }
}

impl std::error::Error for DeviceLost {}

/// Unwinds to the job driver with [`DeviceLost`], printing nothing on the way (the driver
/// reports it as the job's error).
pub fn device_lost(reason: impl fmt::Display) -> ! {
    static QUIET: Once = Once::new();
    QUIET.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.payload().is::<DeviceLost>() {
                previous(info);
            }
        }));
    });
    // burn's execution errors span several lines; one line reads better after "error:".
    let reason: Vec<String> = reason
        .to_string()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    std::panic::panic_any(DeviceLost(reason.join(" ")))
}

/// The values of a 1-D float tensor.
pub async fn floats(t: Tensor<1>) -> Vec<f32> {
    crate::device_stats::count_host_read();
    #[cfg(target_family = "wasm")]
    let data = t
        .into_data_async()
        .await
        .expect("the device returns its values");
    #[cfg(not(target_family = "wasm"))]
    let data = t.try_into_data().unwrap_or_else(|e| device_lost(e));
    data.try_into_vec::<f32>().expect("f32 values")
}
