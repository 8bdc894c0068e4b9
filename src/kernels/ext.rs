//! The kernels as a burn backend extension: one trait whose default methods are burn's own
//! operations (used on wgpu and any other backend), overridden on the flex CPU backend by the
//! kernels of [`super::cpu`], with a handwritten backward pass on autodiff devices.

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::{FloatTensorOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Flex, TensorMetadata, backend_extension};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, IntDType, Shape, TensorData};

use burn_cubecl::CubeBackend;
use burn_cubecl::tensor::CubeTensor;

use super::cpu::{self, ConvGeom, PoolGeom};
use super::{cube, generic};

// The extension macro refers to `burn` by name.
use burn as _;

fn conv_options(stride: usize, pad: usize, dil: usize, groups: usize) -> ConvOptions<2> {
    ConvOptions::new([stride; 2], [pad; 2], [dil; 2], groups)
}

/// Operations darts-pt needs fast on every backend.
///
/// With the `fusion` feature, wgpu's backend is burn's fusion wrapper around the CubeCL backend:
/// convolutions and pooling keep burn's operations (so fusion sees them), and the BatchNorm and
/// linear-combination kernels run as opaque operations whose output shape is declared here.
/// On a remote device (feature `remote`) each kernel is one custom operation that the server
/// runs with its own backend's kernels (`kernels::remote`).
#[backend_extension(Flex, Cube, Autodiff, Fusion: cfg(feature = "fusion"), Remote: cfg(feature = "remote"))]
pub trait DartsKernels: Backend {
    /// 2-D convolution without bias, square kernel, symmetric padding.
    #[fusion(default)]
    fn dk_conv2d(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        stride: usize,
        pad: usize,
        dil: usize,
        groups: usize,
    ) -> FloatTensor<Self> {
        Self::conv2d(x, w, None, conv_options(stride, pad, dil, groups))
    }

    /// Gradient of [`Self::dk_conv2d`] with respect to its input.
    #[fusion(default)]
    fn dk_conv2d_dx(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        gy: FloatTensor<Self>,
        stride: usize,
        pad: usize,
        dil: usize,
        groups: usize,
    ) -> FloatTensor<Self> {
        Self::conv2d_x_backward(x, w, gy, conv_options(stride, pad, dil, groups))
    }

    /// Gradient of [`Self::dk_conv2d`] with respect to its weight.
    #[fusion(default)]
    fn dk_conv2d_dw(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        gy: FloatTensor<Self>,
        stride: usize,
        pad: usize,
        dil: usize,
        groups: usize,
    ) -> FloatTensor<Self> {
        Self::conv2d_weight_backward(x, w, gy, conv_options(stride, pad, dil, groups))
    }

    /// Max pooling, or average pooling that excludes padding from the count.
    #[fusion(default)]
    fn dk_pool2d(
        x: FloatTensor<Self>,
        k: usize,
        stride: usize,
        pad: usize,
        max: bool,
    ) -> FloatTensor<Self> {
        if max {
            Self::max_pool2d(x, [k; 2], [stride; 2], [pad; 2], [1, 1], false)
        } else {
            Self::avg_pool2d(x, [k; 2], [stride; 2], [pad; 2], false, false)
        }
    }

    /// Gradient of [`Self::dk_pool2d`] with respect to its input.
    #[fusion(default)]
    fn dk_pool2d_dx(
        x: FloatTensor<Self>,
        gy: FloatTensor<Self>,
        k: usize,
        stride: usize,
        pad: usize,
        max: bool,
    ) -> FloatTensor<Self> {
        if max {
            // i32 indices: WebGPU and lavapipe's Vulkan have no 64-bit integers in shaders
            // (with i64 the gradient on wgpu went to the wrong inputs), and a plane never
            // holds 2^31 elements.
            let out = Self::max_pool2d_with_indices(
                x.clone(),
                [k; 2],
                [stride; 2],
                [pad; 2],
                [1, 1],
                false,
                IntDType::I32,
            );
            Self::max_pool2d_with_indices_backward(
                x,
                [k; 2],
                [stride; 2],
                [pad; 2],
                [1, 1],
                false,
                gy,
                out.indices,
            )
            .x_grad
        } else {
            Self::avg_pool2d_backward(x, gy, [k; 2], [stride; 2], [pad; 2], false, false)
        }
    }

    /// BatchNorm with the batch statistics `stats` (`[2, C]`: mean, biased variance, as
    /// [`Self::dk_batch_stats`] computes them from `x`); gamma/beta are ones/zeros for an
    /// affine-free layer. The gradient accounts for the statistics' dependence on `x`.
    #[fusion(dtype = x, shape = x)]
    fn dk_batch_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        eps: f64,
    ) -> FloatTensor<Self> {
        generic::batch_norm::<Self>(x, gamma, beta, stats, eps)
    }

    /// Per-channel batch mean and biased variance, as a `[2, C]` tensor.
    #[fusion(dtype = x, shape = stats_shape(x))]
    fn dk_batch_stats(x: FloatTensor<Self>) -> FloatTensor<Self> {
        generic::batch_stats::<Self>(x)
    }

    /// Gradients of [`Self::dk_batch_norm`]: the input gradient, and `[2, C]` holding the
    /// gradients of gamma and beta.
    #[fusion(dtype = x, shape = x)]
    fn dk_batch_norm_dx(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        gy: FloatTensor<Self>,
        eps: f64,
    ) -> FloatTensor<Self> {
        generic::batch_norm_dx::<Self>(x, gamma, stats, gy, eps)
    }

    /// See [`Self::dk_batch_norm_dx`].
    #[fusion(dtype = x, shape = stats_shape(x))]
    fn dk_batch_norm_dparams(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        gy: FloatTensor<Self>,
        eps: f64,
    ) -> FloatTensor<Self> {
        generic::batch_norm_dparams::<Self>(x, gamma, stats, gy, eps)
    }

    /// `k[0] * x + k[1] * y + k[2] * z` for tensors of one shape, without a gradient (optimiser
    /// steps and running statistics).
    #[fusion(dtype = x, shape = x)]
    fn dk_linear_combination(
        x: FloatTensor<Self>,
        y: FloatTensor<Self>,
        z: FloatTensor<Self>,
        k: [f64; 3],
    ) -> FloatTensor<Self> {
        generic::linear_combination::<Self>(x, y, z, k)
    }
}

/// The `[2, C]` shape of the per-channel statistics of an `[N, C, H, W]` tensor.
#[cfg_attr(not(feature = "fusion"), allow(dead_code))]
fn stats_shape(x: &Shape) -> Shape {
    Shape::new([2, x[1]])
}

/// burn's CubeCL backends (wgpu) run BatchNorm and linear combinations as the kernels of
/// [`cube`] on f32 tensors, and keep burn's own convolutions and pooling. Without the `fusion`
/// feature this is the backend wgpu devices run; with it, fusion wraps it.
impl DartsKernels for CubeBackend {
    fn dk_batch_norm(
        x: CubeTensor,
        gamma: CubeTensor,
        beta: CubeTensor,
        stats: CubeTensor,
        eps: f64,
    ) -> CubeTensor {
        if x.dtype != DType::F32 {
            return generic::batch_norm::<Self>(x, gamma, beta, stats, eps);
        }
        cube::batch_norm(x, gamma, beta, stats, eps)
    }

    fn dk_batch_stats(x: CubeTensor) -> CubeTensor {
        if x.dtype != DType::F32 {
            return generic::batch_stats::<Self>(x);
        }
        cube::batch_stats(x)
    }

    fn dk_batch_norm_dx(
        x: CubeTensor,
        gamma: CubeTensor,
        stats: CubeTensor,
        gy: CubeTensor,
        eps: f64,
    ) -> CubeTensor {
        if x.dtype != DType::F32 {
            return generic::batch_norm_dx::<Self>(x, gamma, stats, gy, eps);
        }
        cube::batch_norm_dx(x, gamma, stats, gy, eps)
    }

    fn dk_batch_norm_dparams(
        x: CubeTensor,
        gamma: CubeTensor,
        stats: CubeTensor,
        gy: CubeTensor,
        eps: f64,
    ) -> CubeTensor {
        if x.dtype != DType::F32 {
            return generic::batch_norm_dparams::<Self>(x, gamma, stats, gy, eps);
        }
        cube::batch_norm_dparams(x, stats, gy, eps)
    }

    fn dk_linear_combination(
        x: CubeTensor,
        y: CubeTensor,
        z: CubeTensor,
        k: [f64; 3],
    ) -> CubeTensor {
        if x.dtype != DType::F32 {
            return generic::linear_combination::<Self>(x, y, z, k);
        }
        cube::linear_combination(x, y, z, k)
    }
}

/// A contiguous f32 view of a flex tensor, or `None` for other dtypes.
fn f32s(t: &FlexTensor) -> Option<FlexTensor> {
    (t.dtype() == DType::F32).then(|| t.to_contiguous())
}

fn flex_from(values: Vec<f32>, shape: impl Into<Shape>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape.into()))
}

/// The batch statistics stored as one `[2, c]` tensor (means, then variances).
fn stats_of(s: &[f32], c: usize, eps: f64) -> cpu::Stats<'_> {
    cpu::Stats {
        mean: &s[..c],
        var: &s[c..],
        eps: eps as f32,
    }
}

fn dims4(t: &FlexTensor) -> [usize; 4] {
    let s = t.shape();
    [s[0], s[1], s[2], s[3]]
}

fn geom(
    x: [usize; 4],
    w: [usize; 4],
    stride: usize,
    pad: usize,
    dil: usize,
    groups: usize,
) -> ConvGeom {
    ConvGeom {
        n: x[0],
        c_in: x[1],
        h: x[2],
        w: x[3],
        c_out: w[0],
        kh: w[2],
        kw: w[3],
        stride,
        pad,
        dil,
        groups,
    }
}

fn pool_geom(x: [usize; 4], k: usize, stride: usize, pad: usize, max: bool) -> PoolGeom {
    PoolGeom {
        planes: x[0] * x[1],
        h: x[2],
        w: x[3],
        k,
        stride,
        pad,
        max,
    }
}

/// The flex CPU backend runs the kernels of [`cpu`] on f32 data.
impl DartsKernels for Flex {
    fn dk_conv2d(
        x: FlexTensor,
        w: FlexTensor,
        stride: usize,
        pad: usize,
        dil: usize,
        groups: usize,
    ) -> FlexTensor {
        let (Some(xc), Some(wc)) = (f32s(&x), f32s(&w)) else {
            return Self::conv2d(x, w, None, conv_options(stride, pad, dil, groups));
        };
        let g = geom(dims4(&x), dims4(&w), stride, pad, dil, groups);
        let y = cpu::conv_forward(
            xc.as_slice().expect("contiguous"),
            wc.as_slice().expect("contiguous"),
            &g,
        );
        flex_from(y, [g.n, g.c_out, g.out_h(), g.out_w()])
    }

    fn dk_conv2d_dx(
        x: FlexTensor,
        w: FlexTensor,
        gy: FlexTensor,
        stride: usize,
        pad: usize,
        dil: usize,
        groups: usize,
    ) -> FlexTensor {
        let (Some(wc), Some(gc)) = (f32s(&w), f32s(&gy)) else {
            return Self::conv2d_x_backward(x, w, gy, conv_options(stride, pad, dil, groups));
        };
        let g = geom(dims4(&x), dims4(&w), stride, pad, dil, groups);
        let dx = cpu::conv_backward_input(
            wc.as_slice().expect("contiguous"),
            gc.as_slice().expect("contiguous"),
            &g,
        );
        flex_from(dx, [g.n, g.c_in, g.h, g.w])
    }

    fn dk_conv2d_dw(
        x: FlexTensor,
        w: FlexTensor,
        gy: FlexTensor,
        stride: usize,
        pad: usize,
        dil: usize,
        groups: usize,
    ) -> FlexTensor {
        let (Some(xc), Some(gc)) = (f32s(&x), f32s(&gy)) else {
            return Self::conv2d_weight_backward(x, w, gy, conv_options(stride, pad, dil, groups));
        };
        let wd = dims4(&w);
        let g = geom(dims4(&x), wd, stride, pad, dil, groups);
        let dw = cpu::conv_backward_weight(
            xc.as_slice().expect("contiguous"),
            gc.as_slice().expect("contiguous"),
            &g,
        );
        flex_from(dw, wd)
    }

    fn dk_pool2d(x: FlexTensor, k: usize, stride: usize, pad: usize, max: bool) -> FlexTensor {
        let Some(xc) = f32s(&x) else {
            return if max {
                Self::max_pool2d(x, [k; 2], [stride; 2], [pad; 2], [1, 1], false)
            } else {
                Self::avg_pool2d(x, [k; 2], [stride; 2], [pad; 2], false, false)
            };
        };
        let d = dims4(&x);
        let g = pool_geom(d, k, stride, pad, max);
        let y = cpu::pool_forward(xc.as_slice().expect("contiguous"), &g);
        flex_from(y, [d[0], d[1], g.out_h(), g.out_w()])
    }

    fn dk_pool2d_dx(
        x: FlexTensor,
        gy: FlexTensor,
        k: usize,
        stride: usize,
        pad: usize,
        max: bool,
    ) -> FlexTensor {
        let (Some(xc), Some(gc)) = (f32s(&x), f32s(&gy)) else {
            return Self::avg_pool2d_backward(x, gy, [k; 2], [stride; 2], [pad; 2], false, false);
        };
        let d = dims4(&x);
        let g = pool_geom(d, k, stride, pad, max);
        let dx = cpu::pool_backward(
            xc.as_slice().expect("contiguous"),
            gc.as_slice().expect("contiguous"),
            &g,
        );
        flex_from(dx, d)
    }

    fn dk_batch_norm(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        stats: FlexTensor,
        eps: f64,
    ) -> FlexTensor {
        let (Some(xc), Some(gc), Some(bc), Some(sc)) =
            (f32s(&x), f32s(&gamma), f32s(&beta), f32s(&stats))
        else {
            return Self::batch_norm_train(x, gamma, beta, eps).output;
        };
        let [n, c, h, w] = dims4(&x);
        let s: &[f32] = sc.as_slice().expect("contiguous");
        let y = cpu::bn_forward(
            xc.as_slice().expect("contiguous"),
            c,
            h * w,
            stats_of(s, c, eps),
            gc.as_slice(),
            bc.as_slice(),
        );
        flex_from(y, [n, c, h, w])
    }

    fn dk_batch_stats(x: FlexTensor) -> FlexTensor {
        let Some(xc) = f32s(&x) else {
            let c = x.shape()[1];
            let ones = FlexTensor::from_data(TensorData::new(vec![1.0f32; c], [c]));
            let zeros = FlexTensor::from_data(TensorData::new(vec![0.0f32; c], [c]));
            let r = Self::batch_norm_train(x, ones, zeros, 1e-5);
            let mean = Self::float_reshape(r.mean, Shape::new([1, c]));
            let var = Self::float_reshape(r.variance, Shape::new([1, c]));
            return Self::float_cat(vec![mean, var], 0);
        };
        let [n, c, h, w] = dims4(&x);
        let (mut mean, var) = cpu::bn_stats(xc.as_slice().expect("contiguous"), n, c, h * w);
        mean.extend(var);
        flex_from(mean, [2, c])
    }

    fn dk_batch_norm_dx(
        x: FlexTensor,
        gamma: FlexTensor,
        stats: FlexTensor,
        gy: FlexTensor,
        eps: f64,
    ) -> FlexTensor {
        let [n, c, h, w] = dims4(&x);
        let (xc, gc, sc, yc) = (
            x.to_contiguous(),
            gamma.to_contiguous(),
            stats.to_contiguous(),
            gy.to_contiguous(),
        );
        let s: &[f32] = sc.as_slice().expect("f32 stats");
        let (dx, _, _) = cpu::bn_backward(
            xc.as_slice().expect("f32"),
            yc.as_slice().expect("f32"),
            n,
            c,
            h * w,
            stats_of(s, c, eps),
            gc.as_slice(),
        );
        flex_from(dx, [n, c, h, w])
    }

    fn dk_batch_norm_dparams(
        x: FlexTensor,
        gamma: FlexTensor,
        stats: FlexTensor,
        gy: FlexTensor,
        eps: f64,
    ) -> FlexTensor {
        let [n, c, h, w] = dims4(&x);
        // gamma scales only the input gradient.
        let _ = gamma;
        let (xc, sc, yc) = (x.to_contiguous(), stats.to_contiguous(), gy.to_contiguous());
        let s: &[f32] = sc.as_slice().expect("f32 stats");
        let sums = cpu::bn_grad_sums(
            xc.as_slice().expect("f32"),
            yc.as_slice().expect("f32"),
            n,
            c,
            h * w,
            stats_of(s, c, eps),
        );
        let (db, mut dg): (Vec<f32>, Vec<f32>) = sums.into_iter().unzip();
        dg.extend(db);
        flex_from(dg, [2, c])
    }
}

#[derive(Debug)]
struct Conv2dOp;

impl<B: Backend + DartsKernels> Backward<B, 2> for Conv2dOp {
    type State = (NodeId, NodeId, [usize; 4]);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_w] = ops.parents;
        let gy = grads.consume::<B>(&ops.node);
        let (x_state, w_state, [stride, pad, dil, groups]) = ops.state;
        let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x_state);
        let w = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(w_state);
        if let Some(node) = node_x {
            let dx = B::dk_conv2d_dx(x.clone(), w.clone(), gy.clone(), stride, pad, dil, groups);
            grads.register::<B>(node.id, dx);
        }
        if let Some(node) = node_w {
            let dw = B::dk_conv2d_dw(x, w, gy, stride, pad, dil, groups);
            grads.register::<B>(node.id, dw);
        }
    }
}

#[derive(Debug)]
struct Pool2dOp;

impl<B: Backend + DartsKernels> Backward<B, 1> for Pool2dOp {
    type State = (NodeId, usize, usize, usize, bool);

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x] = ops.parents;
        let gy = grads.consume::<B>(&ops.node);
        let (x_state, k, stride, pad, max) = ops.state;
        let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x_state);
        if let Some(node) = node_x {
            grads.register::<B>(node.id, B::dk_pool2d_dx(x, gy, k, stride, pad, max));
        }
    }
}

#[derive(Debug)]
struct BatchNormOp;

impl<B: Backend + DartsKernels> Backward<B, 3> for BatchNormOp {
    type State = (NodeId, NodeId, B::FloatTensorPrimitive, f64);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let gy = grads.consume::<B>(&ops.node);
        let (x_state, gamma_state, stats, eps) = ops.state;
        let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x_state);
        let gamma = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(gamma_state);
        if node_gamma.is_some() || node_beta.is_some() {
            let c = x.shape()[1];
            let both =
                B::dk_batch_norm_dparams(x.clone(), gamma.clone(), stats.clone(), gy.clone(), eps);
            if let Some(node) = node_gamma {
                let g = B::float_reshape(
                    B::float_slice(both.clone(), &[(0..1).into(), (0..c).into()]),
                    Shape::new([c]),
                );
                grads.register::<B>(node.id, g);
            }
            if let Some(node) = node_beta {
                let b = B::float_reshape(
                    B::float_slice(both, &[(1..2).into(), (0..c).into()]),
                    Shape::new([c]),
                );
                grads.register::<B>(node.id, b);
            }
        }
        if let Some(node) = node_x {
            grads.register::<B>(node.id, B::dk_batch_norm_dx(x, gamma, stats, gy, eps));
        }
    }
}

/// On autodiff devices the kernels record themselves with their own backward passes.
impl<B: Backend + DartsKernels, C: CheckpointStrategy> DartsKernels for Autodiff<B, C> {
    fn dk_conv2d(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        stride: usize,
        pad: usize,
        dil: usize,
        groups: usize,
    ) -> FloatTensor<Self> {
        match Conv2dOp
            .prepare::<C>([x.node(), w.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let xs = prep.checkpoint(&x);
                let ws = prep.checkpoint(&w);
                let y = B::dk_conv2d(
                    x.into_primitive(),
                    w.into_primitive(),
                    stride,
                    pad,
                    dil,
                    groups,
                );
                prep.finish((xs, ws, [stride, pad, dil, groups]), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::dk_conv2d(
                x.into_primitive(),
                w.into_primitive(),
                stride,
                pad,
                dil,
                groups,
            )),
        }
    }

    fn dk_pool2d(
        x: FloatTensor<Self>,
        k: usize,
        stride: usize,
        pad: usize,
        max: bool,
    ) -> FloatTensor<Self> {
        match Pool2dOp.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let xs = prep.checkpoint(&x);
                let y = B::dk_pool2d(x.into_primitive(), k, stride, pad, max);
                prep.finish((xs, k, stride, pad, max), y)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::dk_pool2d(x.into_primitive(), k, stride, pad, max))
            }
        }
    }

    fn dk_batch_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        eps: f64,
    ) -> FloatTensor<Self> {
        let stats = stats.into_primitive();
        match BatchNormOp
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let xs = prep.checkpoint(&x);
                let gs = prep.checkpoint(&gamma);
                let y = B::dk_batch_norm(
                    x.into_primitive(),
                    gamma.into_primitive(),
                    beta.into_primitive(),
                    stats.clone(),
                    eps,
                );
                prep.finish((xs, gs, stats, eps), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::dk_batch_norm(
                x.into_primitive(),
                gamma.into_primitive(),
                beta.into_primitive(),
                stats,
                eps,
            )),
        }
    }

    fn dk_batch_stats(x: FloatTensor<Self>) -> FloatTensor<Self> {
        <FloatTensor<Self>>::new(B::dk_batch_stats(x.into_primitive()))
    }

    fn dk_linear_combination(
        x: FloatTensor<Self>,
        y: FloatTensor<Self>,
        z: FloatTensor<Self>,
        k: [f64; 3],
    ) -> FloatTensor<Self> {
        <FloatTensor<Self>>::new(B::dk_linear_combination(
            x.into_primitive(),
            y.into_primitive(),
            z.into_primitive(),
            k,
        ))
    }

    fn dk_conv2d_dx(
        _: FloatTensor<Self>,
        _: FloatTensor<Self>,
        _: FloatTensor<Self>,
        _: usize,
        _: usize,
        _: usize,
        _: usize,
    ) -> FloatTensor<Self> {
        panic!("second-order gradients of convolutions are not supported")
    }
    fn dk_conv2d_dw(
        _: FloatTensor<Self>,
        _: FloatTensor<Self>,
        _: FloatTensor<Self>,
        _: usize,
        _: usize,
        _: usize,
        _: usize,
    ) -> FloatTensor<Self> {
        panic!("second-order gradients of convolutions are not supported")
    }
    fn dk_pool2d_dx(
        _: FloatTensor<Self>,
        _: FloatTensor<Self>,
        _: usize,
        _: usize,
        _: usize,
        _: bool,
    ) -> FloatTensor<Self> {
        panic!("second-order gradients of pooling are not supported")
    }
    fn dk_batch_norm_dx(
        _: FloatTensor<Self>,
        _: FloatTensor<Self>,
        _: FloatTensor<Self>,
        _: FloatTensor<Self>,
        _: f64,
    ) -> FloatTensor<Self> {
        panic!("second-order gradients of BatchNorm are not supported")
    }
    fn dk_batch_norm_dparams(
        _: FloatTensor<Self>,
        _: FloatTensor<Self>,
        _: FloatTensor<Self>,
        _: FloatTensor<Self>,
        _: f64,
    ) -> FloatTensor<Self> {
        panic!("second-order gradients of BatchNorm are not supported")
    }
}
