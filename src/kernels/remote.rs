//! The kernels over burn's remote backend: both ends of the wire.
//!
//! The client ([`DartsKernels`] for `Remote`) sends each kernel as one custom operation (its
//! tensors, its integer and float arguments, the shape of its result); the server runs it with
//! the kernels of its own backend ([`with_kernels`]): the CPU kernels on flex, the CubeCL ones
//! on wgpu. Without this the server would run burn's generic convolution, pooling and
//! BatchNorm, which is what the kernels exist to avoid. The autodiff tape stays on the client,
//! whose backward pass calls the gradient kernels through here as well.

use burn::backend::tensor::FloatTensor;
use burn::backend::{DispatchDevice, Flex, Remote, TensorMetadata};
use burn::remote::CustomOpClient;
use burn::server::{CustomOpIr, HandleContainer, RemoteServer};
use burn::tensor::{Device, Shape};
use burn_cubecl::CubeBackend;
use burn_ir::{BackendIr, ScalarIr, TensorIr};

use super::DartsKernels;
use super::cpu::{ConvGeom, PoolGeom};

/// The custom operations, by the name the server registers them under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Conv,
    ConvDx,
    ConvDw,
    Pool,
    PoolDx,
    BatchNorm,
    BatchStats,
    BatchNormDx,
    BatchNormDparams,
    LinearCombination,
}

impl Op {
    const ALL: [Op; 10] = [
        Op::Conv,
        Op::ConvDx,
        Op::ConvDw,
        Op::Pool,
        Op::PoolDx,
        Op::BatchNorm,
        Op::BatchStats,
        Op::BatchNormDx,
        Op::BatchNormDparams,
        Op::LinearCombination,
    ];

    fn id(self) -> &'static str {
        match self {
            Op::Conv => "darts-pt/conv2d",
            Op::ConvDx => "darts-pt/conv2d-dx",
            Op::ConvDw => "darts-pt/conv2d-dw",
            Op::Pool => "darts-pt/pool2d",
            Op::PoolDx => "darts-pt/pool2d-dx",
            Op::BatchNorm => "darts-pt/batch-norm",
            Op::BatchStats => "darts-pt/batch-stats",
            Op::BatchNormDx => "darts-pt/batch-norm-dx",
            Op::BatchNormDparams => "darts-pt/batch-norm-dparams",
            Op::LinearCombination => "darts-pt/linear-combination",
        }
    }

    /// Tensor inputs and scalar arguments the operation carries.
    fn arity(self) -> (usize, usize) {
        match self {
            Op::Conv => (2, 4),
            Op::ConvDx | Op::ConvDw => (3, 4),
            Op::Pool => (1, 4),
            Op::PoolDx => (2, 4),
            Op::BatchNorm => (4, 1),
            Op::BatchStats => (1, 0),
            Op::BatchNormDx | Op::BatchNormDparams => (4, 1),
            Op::LinearCombination => (3, 3),
        }
    }
}

fn dims4(s: &Shape) -> [usize; 4] {
    [s[0], s[1], s[2], s[3]]
}

fn conv_out(x: &Shape, w: &Shape, s: [usize; 4]) -> Shape {
    let g = ConvGeom {
        n: x[0],
        c_in: x[1],
        h: x[2],
        w: x[3],
        c_out: w[0],
        kh: w[2],
        kw: w[3],
        stride: s[0],
        pad: s[1],
        dil: s[2],
        groups: s[3],
    };
    Shape::new([g.n, g.c_out, g.out_h(), g.out_w()])
}

fn pool_out(x: &Shape, k: usize, stride: usize, pad: usize, max: bool) -> Shape {
    let d = dims4(x);
    let g = PoolGeom {
        planes: d[0] * d[1],
        h: d[2],
        w: d[3],
        k,
        stride,
        pad,
        max,
    };
    Shape::new([d[0], d[1], g.out_h(), g.out_w()])
}

fn stats_shape(x: &Shape) -> Shape {
    Shape::new([2, x[1]])
}

/// Sends one operation and returns its (lazy) result.
fn send(
    op: Op,
    inputs: Vec<FloatTensor<Remote>>,
    out: Shape,
    scalars: Vec<ScalarIr>,
) -> FloatTensor<Remote> {
    let device = inputs[0].device();
    let dtype = inputs[0].dtype();
    let client = CustomOpClient::new(&device);
    let output = TensorIr::uninit(client.create_empty_handle(), out, dtype);
    let inputs: Vec<TensorIr> = inputs.into_iter().map(|t| t.into_ir()).collect();
    let ir = CustomOpIr::with_scalars(op.id(), &inputs, &[output], scalars);
    client.register(ir).remove(0)
}

fn uints(v: [usize; 4]) -> Vec<ScalarIr> {
    v.iter().map(|&u| ScalarIr::UInt(u as u64)).collect()
}

fn pool_scalars(k: usize, stride: usize, pad: usize, max: bool) -> Vec<ScalarIr> {
    let mut s = uints([k, stride, pad, 0]);
    s[3] = ScalarIr::Bool(max);
    s
}

/// The client: each kernel becomes one custom operation on the server.
impl DartsKernels for Remote {
    fn dk_conv2d(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        stride: usize,
        pad: usize,
        dil: usize,
        groups: usize,
    ) -> FloatTensor<Self> {
        let s = [stride, pad, dil, groups];
        let out = conv_out(&x.shape(), &w.shape(), s);
        send(Op::Conv, vec![x, w], out, uints(s))
    }

    fn dk_conv2d_dx(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        gy: FloatTensor<Self>,
        stride: usize,
        pad: usize,
        dil: usize,
        groups: usize,
    ) -> FloatTensor<Self> {
        let out = x.shape();
        send(
            Op::ConvDx,
            vec![x, w, gy],
            out,
            uints([stride, pad, dil, groups]),
        )
    }

    fn dk_conv2d_dw(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        gy: FloatTensor<Self>,
        stride: usize,
        pad: usize,
        dil: usize,
        groups: usize,
    ) -> FloatTensor<Self> {
        let out = w.shape();
        send(
            Op::ConvDw,
            vec![x, w, gy],
            out,
            uints([stride, pad, dil, groups]),
        )
    }

    fn dk_pool2d(
        x: FloatTensor<Self>,
        k: usize,
        stride: usize,
        pad: usize,
        max: bool,
    ) -> FloatTensor<Self> {
        let out = pool_out(&x.shape(), k, stride, pad, max);
        send(Op::Pool, vec![x], out, pool_scalars(k, stride, pad, max))
    }

    fn dk_pool2d_dx(
        x: FloatTensor<Self>,
        gy: FloatTensor<Self>,
        k: usize,
        stride: usize,
        pad: usize,
        max: bool,
    ) -> FloatTensor<Self> {
        let out = x.shape();
        send(
            Op::PoolDx,
            vec![x, gy],
            out,
            pool_scalars(k, stride, pad, max),
        )
    }

    fn dk_batch_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        eps: f64,
    ) -> FloatTensor<Self> {
        let out = x.shape();
        let inputs = vec![x, gamma, beta, stats];
        send(Op::BatchNorm, inputs, out, vec![ScalarIr::Float(eps)])
    }

    fn dk_batch_stats(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let out = stats_shape(&x.shape());
        send(Op::BatchStats, vec![x], out, Vec::new())
    }

    fn dk_batch_norm_dx(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        gy: FloatTensor<Self>,
        eps: f64,
    ) -> FloatTensor<Self> {
        let out = x.shape();
        let inputs = vec![x, gamma, stats, gy];
        send(Op::BatchNormDx, inputs, out, vec![ScalarIr::Float(eps)])
    }

    fn dk_batch_norm_dparams(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        gy: FloatTensor<Self>,
        eps: f64,
    ) -> FloatTensor<Self> {
        let out = stats_shape(&x.shape());
        let inputs = vec![x, gamma, stats, gy];
        send(
            Op::BatchNormDparams,
            inputs,
            out,
            vec![ScalarIr::Float(eps)],
        )
    }

    fn dk_linear_combination(
        x: FloatTensor<Self>,
        y: FloatTensor<Self>,
        z: FloatTensor<Self>,
        k: [f64; 3],
    ) -> FloatTensor<Self> {
        let out = x.shape();
        let k = k.iter().map(|&v| ScalarIr::Float(v)).collect();
        send(Op::LinearCombination, vec![x, y, z], out, k)
    }
}

/// The server: registers every kernel for the backend of the device it serves (flex or
/// CubeCL); other devices keep the server as it is.
pub fn with_kernels(server: RemoteServer, device: &Device) -> RemoteServer {
    match device.clone().inner().as_dispatch() {
        DispatchDevice::Flex(_) => register::<Flex>(server),
        DispatchDevice::Cube(_) => register::<CubeBackend>(server),
        #[allow(unreachable_patterns)]
        _ => server,
    }
}

fn register<B: BackendIr + DartsKernels>(mut server: RemoteServer) -> RemoteServer {
    for op in Op::ALL {
        server = server.with_custom_op::<B, _>(op.id(), move |handles, ir, _device| {
            run::<B>(op, handles, ir)
        });
    }
    server
}

/// A client's request that does not fit the operation. Only a client other than darts-pt's
/// sends one: the panic ends that client's session (the server catches it) and says why in
/// the server's log; other sessions go on.
fn malformed(op: Op, why: impl std::fmt::Display) -> ! {
    panic!("malformed {} from a client: {why}", op.id())
}

/// Runs one operation on the server's backend, checking what the client sent.
fn run<B: BackendIr + DartsKernels>(
    op: Op,
    handles: &mut HandleContainer<B::Handle>,
    ir: &CustomOpIr,
) {
    let (n_in, n_scalars) = op.arity();
    if ir.inputs.len() != n_in || ir.scalars.len() != n_scalars || ir.outputs.len() != 1 {
        malformed(op, "wrong number of tensors or arguments");
    }
    let rank = |i: usize| ir.inputs[i].shape.num_dims();
    // Convolution and pooling take only 4-D tensors; BatchNorm a 4-D input and per-channel
    // vectors; a linear combination tensors of any one shape.
    let four_d = match op {
        Op::BatchNorm | Op::BatchNormDx | Op::BatchNormDparams => rank(0) == 4,
        Op::LinearCombination => true,
        _ => (0..n_in).all(|i| rank(i) == 4),
    };
    if !four_d {
        malformed(op, "tensors of the wrong rank");
    }
    let u = |i: usize| match ir.scalars[i] {
        ScalarIr::UInt(v) => usize::try_from(v).unwrap_or_else(|_| malformed(op, "huge integer")),
        _ => malformed(op, "an integer argument of another type"),
    };
    let f = |i: usize| match ir.scalars[i] {
        ScalarIr::Float(v) => v,
        _ => malformed(op, "a float argument of another type"),
    };
    let flag = |i: usize| match ir.scalars[i] {
        ScalarIr::Bool(v) => v,
        _ => malformed(op, "a flag of another type"),
    };
    let mut t = |i: usize| handles.get_float_tensor::<B>(&ir.inputs[i]);
    let y = match op {
        Op::Conv => B::dk_conv2d(t(0), t(1), u(0), u(1), u(2), u(3)),
        Op::ConvDx => B::dk_conv2d_dx(t(0), t(1), t(2), u(0), u(1), u(2), u(3)),
        Op::ConvDw => B::dk_conv2d_dw(t(0), t(1), t(2), u(0), u(1), u(2), u(3)),
        Op::Pool => B::dk_pool2d(t(0), u(0), u(1), u(2), flag(3)),
        Op::PoolDx => B::dk_pool2d_dx(t(0), t(1), u(0), u(1), u(2), flag(3)),
        Op::BatchNorm => B::dk_batch_norm(t(0), t(1), t(2), t(3), f(0)),
        Op::BatchStats => B::dk_batch_stats(t(0)),
        Op::BatchNormDx => B::dk_batch_norm_dx(t(0), t(1), t(2), t(3), f(0)),
        Op::BatchNormDparams => B::dk_batch_norm_dparams(t(0), t(1), t(2), t(3), f(0)),
        Op::LinearCombination => B::dk_linear_combination(t(0), t(1), t(2), [f(0), f(1), f(2)]),
    };
    let declared = &ir.outputs[0].shape;
    if &y.shape() != declared {
        malformed(
            op,
            format!(
                "declared a result of shape {declared:?}, computed {:?}",
                y.shape()
            ),
        );
    }
    handles.register_float_tensor::<B>(&ir.outputs[0].id, y);
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::DType;
    use burn_ir::TensorId;

    fn tensor(id: u64, dims: &[usize]) -> TensorIr {
        TensorIr::uninit(TensorId::new(id), Shape::from(dims.to_vec()), DType::F32)
    }

    fn serve_one(ir: CustomOpIr) {
        let mut handles = HandleContainer::<<Flex as BackendIr>::Handle>::new();
        run::<Flex>(Op::Conv, &mut handles, &ir);
    }

    #[test]
    #[should_panic(expected = "malformed darts-pt/conv2d from a client: wrong number")]
    fn a_request_with_missing_arguments_is_refused_before_any_tensor_is_touched() {
        serve_one(CustomOpIr::with_scalars(
            Op::Conv.id(),
            &[tensor(1, &[1, 1, 4, 4])],
            &[tensor(2, &[1, 1, 4, 4])],
            uints([1, 0, 1, 1]),
        ));
    }

    #[test]
    #[should_panic(expected = "malformed darts-pt/conv2d from a client: tensors of the wrong rank")]
    fn a_request_with_tensors_of_the_wrong_rank_is_refused() {
        let (x, w) = (tensor(1, &[16]), tensor(2, &[1, 1, 3, 3]));
        serve_one(CustomOpIr::with_scalars(
            Op::Conv.id(),
            &[x, w],
            &[tensor(3, &[1, 1, 4, 4])],
            uints([1, 1, 1, 1]),
        ));
    }

    #[test]
    fn every_operation_has_its_own_name() {
        let mut ids: Vec<_> = Op::ALL.iter().map(|o| o.id()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), Op::ALL.len());
    }
}
