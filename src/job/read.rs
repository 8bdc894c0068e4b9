//! Host reads of device values. A browser's WebGPU can only read asynchronously, so jobs await
//! every read through here; natively the read is synchronous and the await returns at once.

use burn::tensor::Tensor;

/// The values of a 1-D float tensor.
pub async fn floats(t: Tensor<1>) -> Vec<f32> {
    crate::device_stats::count_host_read();
    #[cfg(target_family = "wasm")]
    let data = t
        .into_data_async()
        .await
        .expect("the device returns its values");
    #[cfg(not(target_family = "wasm"))]
    let data = t.into_data();
    data.try_into_vec::<f32>().expect("f32 values")
}
