//! Working with the PyTorch NAS world: the official DARTS-PT code's supernet checkpoints come
//! in as run directories ([`import`]), with the name mapping in one place ([`names`]).

#[cfg(not(target_arch = "wasm32"))]
pub mod export;
#[cfg(not(target_arch = "wasm32"))]
pub mod import;
pub mod names;
#[cfg(not(target_arch = "wasm32"))]
pub mod official;
