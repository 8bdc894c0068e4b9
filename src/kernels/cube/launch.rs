//! What the launches of every kernel here share: the element type they take, an output buffer
//! shaped like an input, and the grid of one unit per element.

use burn::tensor::{DType, Shape};
use burn_cubecl::cubecl;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use cubecl::calculate_cube_count_elemwise;
use cubecl::ir::{ElemType, FloatKind};
use cubecl::prelude::*;

/// The kernels' element type, f32: callers keep burn's generic operations for other types
/// (`kernels` names the caller's kernels in the message).
pub fn f32_elem(x: &CubeTensor, kernels: &str) -> ElemType {
    assert_eq!(
        x.dtype,
        DType::F32,
        "the {kernels} kernels take f32 tensors"
    );
    ElemType::Float(FloatKind::F32)
}

/// An uninitialised row-major tensor of `shape` on `x`'s device, of `x`'s type (the kernels
/// index their outputs by buffer position, so no padded rows).
pub fn empty_like(x: &CubeTensor, shape: Shape) -> CubeTensor {
    empty_device_contiguous_dtype(x.client.clone(), x.device.clone(), shape, x.dtype)
}

/// The cube count and cube size that give each of `out`'s elements one unit.
pub fn per_element(out: &CubeTensor) -> (CubeCount, CubeDim) {
    let n = out.meta.num_elements();
    let dim = CubeDim::new(&out.client, n);
    (calculate_cube_count_elemwise(&out.client, n, dim), dim)
}
