//! Kernels for burn's CubeCL backends (wgpu: Vulkan, Metal, DX12, WebGPU), written in CubeCL so
//! one source serves every GPU API. They replace compositions of burn's generic operations
//! where the composition dispatches many kernels or computes the same thing twice.

mod bn;
mod combine;
mod launch;

pub use bn::{batch_norm, batch_norm_dparams, batch_norm_dx, batch_stats};
pub use combine::linear_combination;
