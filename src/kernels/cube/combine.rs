//! `kx * x + ky * y + kz * z` over three tensors of one shape, in one dispatch: an SGD step
//! (momentum buffer, then weight) and a BatchNorm running-statistics update are each a chain of
//! four to six element-wise operations, each its own kernel, in burn's generic composition.

use burn_cubecl::cubecl;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use cubecl::ir::ElemType;
use cubecl::prelude::*;

use super::launch::{empty_like, f32_elem, per_element};

#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn combine_kernel<F: Float>(
    x: &Tensor<F>,
    y: &Tensor<F>,
    z: &Tensor<F>,
    out: &mut Tensor<F>,
    kx: f32,
    ky: f32,
    kz: f32,
    #[define(F)] _dtype: ElemType,
) {
    let pos = ABSOLUTE_POS;
    if pos >= out.len() {
        terminate!();
    }
    out[pos] = F::cast_from(kx) * x[pos] + F::cast_from(ky) * y[pos] + F::cast_from(kz) * z[pos];
}

/// `k[0] * x + k[1] * y + k[2] * z` for f32 tensors of equal shape.
pub fn linear_combination(x: CubeTensor, y: CubeTensor, z: CubeTensor, k: [f64; 3]) -> CubeTensor {
    let elem = f32_elem(&x, "combination");
    assert!(x.meta.shape() == y.meta.shape() && x.meta.shape() == z.meta.shape());
    let [x, y, z] = [x, y, z].map(into_contiguous);
    let out = empty_like(&x, x.meta.shape().clone());
    let (count, dim) = per_element(&out);
    combine_kernel::launch(
        &out.client.clone(),
        count,
        dim,
        x.into_tensor_arg(),
        y.into_tensor_arg(),
        z.into_tensor_arg(),
        out.clone().into_tensor_arg(),
        k[0] as f32,
        k[1] as f32,
        k[2] as f32,
        elem,
    );
    out
}
