//! The optimisers of DARTS, written out so they match PyTorch exactly and checkpoint by name.
//!
//! burn's own optimisers differ from the reference code in ways that matter here: SGD momentum
//! dampening defaults to 0.1 (PyTorch 0), Adam's epsilon to 1e-5 (PyTorch 1e-8), gradient
//! clipping is per tensor (DARTS clips the global norm), and their state is keyed by runtime
//! parameter ids. These keep their state by parameter path, so a checkpoint restores it into a
//! freshly built network, and clip by the global norm without reading anything back to the host.

use std::collections::BTreeMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::Gradients;
use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::checkpoint::Readback;
use crate::kernels::linear_combination;

/// Gradients of a module's parameters by path, flattened, on the non-autodiff device.
#[derive(Clone, Debug, Default)]
pub struct GradSet {
    pub grads: BTreeMap<String, Tensor<1>>,
}

struct PathStack(Vec<String>);

impl PathStack {
    fn path(&self) -> String {
        self.0.join(".")
    }
}

impl GradSet {
    /// Collects the gradient of every parameter of `module` that has one in `grads`.
    pub fn from_backward<M: Module>(module: &M, grads: &Gradients) -> Self {
        struct Collect<'a> {
            path: PathStack,
            grads: &'a Gradients,
            out: BTreeMap<String, Tensor<1>>,
        }
        impl ModuleVisitor for Collect<'_> {
            fn enter_module(&mut self, name: &str, _c: &str) {
                self.path.0.push(name.to_string());
            }
            fn exit_module(&mut self, _name: &str, _c: &str) {
                self.path.0.pop();
            }
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                if let Some(g) = param.val().grad(self.grads) {
                    let n = g.shape().num_elements();
                    self.out.insert(self.path.path(), g.reshape([n]));
                }
            }
        }
        let mut c = Collect {
            path: PathStack(Vec::new()),
            grads,
            out: BTreeMap::new(),
        };
        module.visit(&mut c);
        GradSet { grads: c.out }
    }

    pub fn is_empty(&self) -> bool {
        self.grads.is_empty()
    }

    /// The global L2 norm of all gradients, as a one-element tensor (no host read).
    pub fn global_norm(&self) -> Option<Tensor<1>> {
        self.grads
            .values()
            .map(|g| g.clone().powi_scalar(2).sum())
            .reduce(|a, b| a.add(b))
            .map(|s| s.sqrt())
    }

    /// Scales all gradients so their global norm is at most `max_norm`, as PyTorch's
    /// `clip_grad_norm_` does (coefficient `max_norm / (norm + 1e-6)`, capped at 1). Returns the
    /// norm before clipping.
    pub fn clip_global_norm(&mut self, max_norm: f64) -> Option<Tensor<1>> {
        let norm = self.global_norm()?;
        let coef = norm
            .clone()
            .add_scalar(1e-6)
            .recip()
            .mul_scalar(max_norm)
            .clamp_max(1.0);
        for g in self.grads.values_mut() {
            *g = g.clone().mul(coef.clone());
        }
        Some(norm)
    }
}

/// Applies `update(path, weight, grad) -> new weight` to every parameter with a gradient,
/// keeping parameters trainable on autodiff devices.
fn apply_update<M: Module>(
    module: M,
    grads: &GradSet,
    mut update: impl FnMut(&str, Tensor<1>, Tensor<1>) -> Tensor<1>,
) -> M {
    struct Apply<'a, F> {
        path: PathStack,
        grads: &'a GradSet,
        update: F,
    }
    impl<F: FnMut(&str, Tensor<1>, Tensor<1>) -> Tensor<1>> ModuleMapper for Apply<'_, F> {
        fn enter_module(&mut self, name: &str, _c: &str) {
            self.path.0.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _c: &str) {
            self.path.0.pop();
        }
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let path = self.path.path();
            let Some(grad) = self.grads.grads.get(&path) else {
                return param;
            };
            let grad = grad.clone();
            let update = &mut self.update;
            param.map(|t| {
                let require_grad = t.is_require_grad();
                let shape = t.shape();
                let n = shape.num_elements();
                let w = t.inner().reshape([n]);
                let new = update(&path, w, grad).reshape(shape);
                let new = Tensor::from_inner(new);
                if require_grad {
                    new.require_grad()
                } else {
                    new
                }
            })
        }
    }
    let mut mapper = Apply {
        path: PathStack(Vec::new()),
        grads,
        update: &mut update,
    };
    module.map(&mut mapper)
}

/// SGD with momentum (dampening 0) and coupled L2 weight decay, as `torch.optim.SGD`.
#[derive(Clone, Debug)]
pub struct Sgd {
    pub momentum: f64,
    pub weight_decay: f64,
    /// Nesterov momentum (`nesterov=True`): step along d + momentum * buf instead of buf.
    /// NAS-Bench-201's training recipe uses it; DARTS does not.
    pub nesterov: bool,
    /// Momentum buffers by parameter path.
    pub buffers: BTreeMap<String, Tensor<1>>,
}

impl Sgd {
    pub fn new(momentum: f64, weight_decay: f64) -> Self {
        Sgd {
            momentum,
            weight_decay,
            nesterov: false,
            buffers: BTreeMap::new(),
        }
    }

    /// The same optimiser with Nesterov momentum switched on or off.
    pub fn with_nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }

    /// One step at learning rate `lr` on every parameter that has a gradient.
    ///
    /// With `d = g + wd * w`, PyTorch's step is `buf = mu * buf + d` (`buf = d` at first), then
    /// `w -= lr * buf`, or `w -= lr * (d + mu * buf)` with Nesterov momentum: linear
    /// combinations of `w`, `g` and `buf`, one kernel each on wgpu (two per parameter with
    /// momentum). The terms keep the order of that expression, so the CPU's results stay
    /// bit for bit what the plain expression gives.
    pub fn step<M: Module>(&mut self, module: M, grads: &GradSet, lr: f64) -> M {
        let (mu, wd, nesterov) = (self.momentum, self.weight_decay, self.nesterov);
        let buffers = &mut self.buffers;
        apply_update(module, grads, |path, w, g| {
            let d = if mu == 0.0 {
                linear_combination(g, w.clone(), w.clone(), [1.0, wd, 0.0])
            } else {
                let buf = match buffers.remove(path) {
                    Some(b) => linear_combination(g.clone(), w.clone(), b, [1.0, wd, mu]),
                    None => linear_combination(g.clone(), w.clone(), w.clone(), [1.0, wd, 0.0]),
                };
                buffers.insert(path.to_string(), buf.clone());
                if nesterov {
                    // d + mu * buf, with d = g + wd * w.
                    linear_combination(g, w.clone(), buf, [1.0, wd, mu])
                } else {
                    buf
                }
            };
            linear_combination(w, d.clone(), d, [1.0, -lr, 0.0])
        })
    }
}

/// Adam with coupled L2 weight decay (added to the gradient), as `torch.optim.Adam`.
#[derive(Clone, Debug)]
pub struct Adam {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// Steps taken so far (for bias correction), per parameter path.
    pub steps: BTreeMap<String, u64>,
    pub m: BTreeMap<String, Tensor<1>>,
    pub v: BTreeMap<String, Tensor<1>>,
}

impl Adam {
    pub fn new(beta1: f64, beta2: f64, eps: f64, weight_decay: f64) -> Self {
        Adam {
            beta1,
            beta2,
            eps,
            weight_decay,
            steps: BTreeMap::new(),
            m: BTreeMap::new(),
            v: BTreeMap::new(),
        }
    }

    pub fn step<M: Module>(&mut self, module: M, grads: &GradSet, lr: f64) -> M {
        let (b1, b2, eps, wd) = (self.beta1, self.beta2, self.eps, self.weight_decay);
        let (steps, ms, vs) = (&mut self.steps, &mut self.m, &mut self.v);
        apply_update(module, grads, |path, w, g| {
            let g = if wd != 0.0 {
                g.add(w.clone().mul_scalar(wd))
            } else {
                g
            };
            let t = steps.entry(path.to_string()).or_insert(0);
            *t += 1;
            let m = match ms.remove(path) {
                Some(m) => m.mul_scalar(b1).add(g.clone().mul_scalar(1.0 - b1)),
                None => g.clone().mul_scalar(1.0 - b1),
            };
            let v = match vs.remove(path) {
                Some(v) => v
                    .mul_scalar(b2)
                    .add(g.clone().powi_scalar(2).mul_scalar(1.0 - b2)),
                None => g.powi_scalar(2).mul_scalar(1.0 - b2),
            };
            let bc1 = 1.0 - b1.powi(*t as i32);
            let bc2 = 1.0 - b2.powi(*t as i32);
            let denom = v.clone().div_scalar(bc2).sqrt().add_scalar(eps);
            let new = w.sub(m.clone().div(denom).mul_scalar(lr / bc1));
            ms.insert(path.to_string(), m);
            vs.insert(path.to_string(), v);
            new
        })
    }
}

/// Optimiser state as plain data for checkpoints: tensors by name plus scalars.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct OptimState {
    /// Adam step counts by parameter path.
    pub steps: BTreeMap<String, u64>,
}

impl Sgd {
    /// Buffers as named host data (`<prefix>.<path>`).
    pub fn export(&self, prefix: &str, out: &mut Readback) {
        for (k, v) in &self.buffers {
            out.add(format!("{prefix}.{k}"), v.clone());
        }
    }

    /// Restores buffers written by [`Sgd::export`].
    pub fn import(
        &mut self,
        prefix: &str,
        tensors: &BTreeMap<String, TensorData>,
        device: &burn::tensor::Device,
    ) {
        self.buffers = take_prefixed(prefix, tensors, device);
    }
}

impl Adam {
    pub fn export(&self, prefix: &str, out: &mut Readback) -> OptimState {
        for (k, v) in &self.m {
            out.add(format!("{prefix}.m.{k}"), v.clone());
        }
        for (k, v) in &self.v {
            out.add(format!("{prefix}.v.{k}"), v.clone());
        }
        OptimState {
            steps: self.steps.clone(),
        }
    }

    pub fn import(
        &mut self,
        prefix: &str,
        tensors: &BTreeMap<String, TensorData>,
        state: &OptimState,
        device: &burn::tensor::Device,
    ) {
        self.m = take_prefixed(&format!("{prefix}.m"), tensors, device);
        self.v = take_prefixed(&format!("{prefix}.v"), tensors, device);
        self.steps = state.steps.clone();
    }
}

fn take_prefixed(
    prefix: &str,
    tensors: &BTreeMap<String, TensorData>,
    device: &burn::tensor::Device,
) -> BTreeMap<String, Tensor<1>> {
    let dotted = format!("{prefix}.");
    tensors
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix(&dotted)
                .map(|rest| (rest.to_string(), Tensor::<1>::from_data(v.clone(), device)))
        })
        .collect()
}

/// The cosine learning rate of epoch `epoch` of `epochs`, from `lr_max` down to `lr_min`
/// (`CosineAnnealingLR` stepped once per epoch).
pub fn cosine_lr(lr_max: f64, lr_min: f64, epoch: usize, epochs: usize) -> f64 {
    if epochs == 0 {
        return lr_max;
    }
    let t = epoch as f64 / epochs as f64;
    lr_min + (lr_max - lr_min) * (1.0 + (std::f64::consts::PI * t).cos()) / 2.0
}

#[cfg(test)]
mod tests {
    //! The optimiser math against hand computations of PyTorch's update rules
    //! (`torch.optim.SGD` with dampening 0, `torch.optim.Adam` with L2 added to the gradient,
    //! `torch.nn.utils.clip_grad_norm_`).

    use super::*;
    use burn::tensor::Device;

    #[derive(Module, Debug)]
    struct Toy {
        a: Param<Tensor<1>>,
        b: Param<Tensor<2>>,
    }

    fn device() -> Device {
        Device::flex().autodiff()
    }

    fn toy(a: &[f32], b: &[f32], d: &Device) -> Toy {
        Toy {
            a: Param::from_tensor(Tensor::from_data(TensorData::new(a.to_vec(), [a.len()]), d)),
            b: Param::from_tensor(Tensor::from_data(
                TensorData::new(b.to_vec(), [1, b.len()]),
                d,
            )),
        }
    }

    fn host<const D: usize>(t: Tensor<D>) -> Vec<f64> {
        t.into_data()
            .try_into_vec::<f32>()
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect()
    }

    /// The gradients of `sum(a * ca) + sum(b * cb)`, which are exactly `ca` and `cb`.
    fn grads_of(model: &Toy, ca: &[f64], cb: &[f64]) -> GradSet {
        let d = model.a.val().device();
        let f = |v: &[f64]| v.iter().map(|x| *x as f32).collect::<Vec<f32>>();
        let ca = Tensor::<1>::from_data(TensorData::new(f(ca), [ca.len()]), &d);
        let cb = Tensor::<2>::from_data(TensorData::new(f(cb), [1, cb.len()]), &d);
        let loss = model.a.val().mul(ca).sum().add(model.b.val().mul(cb).sum());
        let g = GradSet::from_backward(model, &loss.backward());
        assert_eq!(g.grads.len(), 2, "both parameters get a gradient");
        g
    }

    /// `torch.optim.SGD(momentum=mu, dampening=0, weight_decay=wd)` on one weight vector:
    /// the weights after each step and the final momentum buffer.
    fn torch_sgd(
        w0: &[f64],
        grads: &[Vec<f64>],
        lrs: &[f64],
        mu: f64,
        wd: f64,
    ) -> (Vec<Vec<f64>>, Vec<f64>) {
        let mut w = w0.to_vec();
        let mut buf: Option<Vec<f64>> = None;
        let mut out = Vec::new();
        for (g, lr) in grads.iter().zip(lrs) {
            let d: Vec<f64> = g.iter().zip(&w).map(|(g, w)| g + wd * w).collect();
            let b: Vec<f64> = match &buf {
                None => d,
                Some(b) => b.iter().zip(&d).map(|(b, d)| mu * b + d).collect(),
            };
            for (w, b) in w.iter_mut().zip(&b) {
                *w -= lr * b;
            }
            buf = Some(b);
            out.push(w.clone());
        }
        (out, buf.unwrap())
    }

    /// `torch.optim.Adam(betas=(b1, b2), eps=eps, weight_decay=wd)` on one weight vector.
    fn torch_adam(
        w0: &[f64],
        grads: &[Vec<f64>],
        lrs: &[f64],
        (b1, b2, eps, wd): (f64, f64, f64, f64),
    ) -> Vec<Vec<f64>> {
        let n = w0.len();
        let (mut w, mut m, mut v) = (w0.to_vec(), vec![0.0; n], vec![0.0; n]);
        let mut out = Vec::new();
        for (t, (g, lr)) in grads.iter().zip(lrs).enumerate() {
            let step = (t + 1) as i32;
            let bc1 = 1.0 - b1.powi(step);
            let bc2 = 1.0 - b2.powi(step);
            for (((w, m), v), g) in w.iter_mut().zip(&mut m).zip(&mut v).zip(g) {
                let g = g + wd * *w;
                *m = b1 * *m + (1.0 - b1) * g;
                *v = b2 * *v + (1.0 - b2) * g * g;
                let denom = v.sqrt() / bc2.sqrt() + eps;
                *w -= lr / bc1 * *m / denom;
            }
            out.push(w.clone());
        }
        out
    }

    fn assert_close(got: &[f64], want: &[f64], tol: f64, what: &str) {
        assert_eq!(got.len(), want.len(), "{what}");
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() <= tol, "{what}: got {got:?}, want {want:?}");
        }
    }

    /// Weights after each step against the hand computation, to 1e-6 (f32 weights near 1).
    fn assert_trajectory(got: &[Vec<f64>], want: &[Vec<f64>], name: &str) {
        assert_eq!(got.len(), want.len());
        for (t, (g, w)) in got.iter().zip(want).enumerate() {
            assert_close(g, w, 1e-6, &format!("{name} after step {}", t + 1));
        }
    }

    const GA: [[f64; 3]; 3] = [[0.1, -0.3, 0.2], [0.4, 0.1, -0.5], [-0.2, 0.25, 0.05]];
    const A0: [f32; 3] = [1.0, -2.0, 0.5];

    #[test]
    fn sgd_takes_pytorchs_steps_with_momentum_no_dampening_and_coupled_weight_decay() {
        let d = device();
        // A weight decay large enough to show in f32, and a learning rate that changes per step
        // (the cosine schedule changes it per epoch).
        let (mu, wd) = (0.9, 0.1);
        let lrs = [0.1, 0.05, 0.025];
        let gb = [[1.0, -1.0], [0.5, 0.5], [-0.25, 2.0]];
        let b0 = [0.25f32, -0.75];
        let mut model = toy(&A0, &b0, &d);
        let mut sgd = Sgd::new(mu, wd);
        let mut got_a = Vec::new();
        let mut got_b = Vec::new();
        for ((ga, gb), lr) in GA.iter().zip(&gb).zip(lrs) {
            let g = grads_of(&model, ga, gb);
            model = sgd.step(model, &g, lr);
            got_a.push(host(model.a.val()));
            got_b.push(host(model.b.val()));
        }
        // By hand, a[0]: d = 0.1 + 0.1*1 = 0.2, buf = 0.2, w = 1 - 0.1*0.2 = 0.98;
        // d = 0.4 + 0.098 = 0.498, buf = 0.18 + 0.498 = 0.678, w = 0.98 - 0.05*0.678 = 0.9461;
        // d = -0.2 + 0.09461 = -0.10539, buf = 0.6102 - 0.10539 = 0.50481,
        // w = 0.9461 - 0.025*0.50481 = 0.93347975. (burn's default dampening 0.1 would give
        // buf = 0.18 + 0.9*0.498 in the second step instead.)
        assert!((got_a[0][0] - 0.98).abs() < 1e-6, "{got_a:?}");
        assert!((got_a[1][0] - 0.9461).abs() < 1e-6, "{got_a:?}");
        assert!((got_a[2][0] - 0.93347975).abs() < 1e-6, "{got_a:?}");
        let w0 = |v: &[f32]| v.iter().map(|x| f64::from(*x)).collect::<Vec<f64>>();
        let ga: Vec<Vec<f64>> = GA.iter().map(|r| r.to_vec()).collect();
        let gbv: Vec<Vec<f64>> = gb.iter().map(|r| r.to_vec()).collect();
        let (want_a, buf_a) = torch_sgd(&w0(&A0), &ga, &lrs, mu, wd);
        let (want_b, buf_b) = torch_sgd(&w0(&b0), &gbv, &lrs, mu, wd);
        assert_trajectory(&got_a, &want_a, "a");
        assert_trajectory(&got_b, &want_b, "b");
        assert!((buf_a[0] - 0.50481).abs() < 1e-12);
        // The momentum buffers (what a checkpoint stores) are PyTorch's too.
        let bufs: Vec<Vec<f64>> = sgd.buffers.values().map(|b| host(b.clone())).collect();
        assert_eq!(bufs.len(), 2);
        assert_close(&bufs[0], &buf_a, 1e-6, "momentum buffer of a");
        assert_close(&bufs[1], &buf_b, 1e-6, "momentum buffer of b");
    }

    #[test]
    fn adam_takes_pytorchs_steps_with_eps_1e_8_and_l2_added_to_the_gradient() {
        let d = device();
        // DARTS's alpha betas, PyTorch's eps, and a weight decay large enough to show in f32.
        let (b1, b2, eps, wd) = (0.5, 0.999, 1e-8, 0.1);
        let lrs = [0.01, 0.01, 0.02];
        // b starts at 0 with gradients near eps, where eps 1e-8 (PyTorch) and 1e-5 (burn's
        // default) give very different first steps.
        let gb = [[2e-6, -3e-6], [0.5, -0.5], [0.1, 0.3]];
        let b0 = [0.0f32, 0.0];
        let mut model = toy(&A0, &b0, &d);
        let mut adam = Adam::new(b1, b2, eps, wd);
        let mut got_a = Vec::new();
        let mut got_b = Vec::new();
        for ((ga, gb), lr) in GA.iter().zip(&gb).zip(lrs) {
            let g = grads_of(&model, ga, gb);
            model = adam.step(model, &g, lr);
            got_a.push(host(model.a.val()));
            got_b.push(host(model.b.val()));
        }
        // By hand, the first step: m_hat = g and sqrt(v_hat) = |g|, so a weight moves by
        // lr * g / (|g| + eps): by lr * sign(g + wd*w) for a, where |g| >> eps ...
        let first_a: Vec<f64> = A0
            .iter()
            .zip(GA[0])
            .map(|(w, g)| {
                let g = g + wd * f64::from(*w);
                f64::from(*w) - 0.01 * g.signum()
            })
            .collect();
        assert_close(&got_a[0], &first_a, 1e-6, "a after the first step");
        // ... and by lr * 2e-6 / (2e-6 + 1e-8) = 0.00995025 for b[0] (burn's eps 1e-5 would
        // move it by 0.00166667).
        assert_close(
            &got_b[0],
            &[-0.01 * 2e-6 / (2e-6 + 1e-8), 0.01 * 3e-6 / (3e-6 + 1e-8)],
            1e-7,
            "b after the first step",
        );
        let w0 = |v: &[f32]| v.iter().map(|x| f64::from(*x)).collect::<Vec<f64>>();
        let ga: Vec<Vec<f64>> = GA.iter().map(|r| r.to_vec()).collect();
        let gbv: Vec<Vec<f64>> = gb.iter().map(|r| r.to_vec()).collect();
        let want_a = torch_adam(&w0(&A0), &ga, &lrs, (b1, b2, eps, wd));
        let want_b = torch_adam(&w0(&b0), &gbv, &lrs, (b1, b2, eps, wd));
        assert_trajectory(&got_a, &want_a, "a");
        assert_trajectory(&got_b, &want_b, "b");
        assert!(adam.steps.values().all(|&t| t == 3));
    }

    fn grad_set(parts: &[(&str, &[f32])]) -> GradSet {
        let d = Device::flex();
        GradSet {
            grads: parts
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        Tensor::<1>::from_data(TensorData::new(v.to_vec(), [v.len()]), &d),
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn global_norm_clipping_scales_every_tensor_by_one_coefficient() {
        // Three tensors: |(3, 4)| = 5, |12| = 12, |(0, 0)| = 0; global norm sqrt(25 + 144) = 13.
        let parts: [(&str, &[f32]); 3] = [("x", &[3.0, 4.0]), ("y", &[12.0]), ("z", &[0.0, 0.0])];
        let mut g = grad_set(&parts);
        let norm = host(g.clip_global_norm(5.0).unwrap());
        assert_eq!(norm, vec![13.0]);
        // PyTorch: coefficient max_norm / (norm + 1e-6) = 5 / 13.000001.
        let c = 5.0 / (13.0 + 1e-6);
        assert_close(&host(g.grads["x"].clone()), &[3.0 * c, 4.0 * c], 1e-6, "x");
        assert_close(&host(g.grads["y"].clone()), &[12.0 * c], 1e-6, "y");
        assert_eq!(host(g.grads["z"].clone()), vec![0.0, 0.0]);
        // x alone has norm 5, so clipping each tensor separately (burn's built-in) would have
        // left it at (3, 4); the global norm after clipping is 5 (to 4e-7).
        let after = host(g.global_norm().unwrap())[0];
        assert!((after - 5.0).abs() < 1e-5, "{after}");

        // Below the maximum, nothing changes, bit for bit.
        let mut g = grad_set(&parts);
        let norm = host(g.clip_global_norm(20.0).unwrap());
        assert_eq!(norm, vec![13.0]);
        for (k, v) in parts {
            let want: Vec<f64> = v.iter().map(|x| f64::from(*x)).collect();
            assert_eq!(host(g.grads[k].clone()), want, "{k}");
        }
        // No gradients, no norm.
        assert!(GradSet::default().clip_global_norm(5.0).is_none());
    }

    #[test]
    fn cosine_lr_runs_from_0_025_to_0_001_stepped_per_epoch() {
        let lr = |e| cosine_lr(0.025, 0.001, e, 50);
        assert!((lr(0) - 0.025).abs() < 1e-15);
        assert!((lr(25) - 0.013).abs() < 1e-15);
        assert!((lr(50) - 0.001).abs() < 1e-15);
        let last = 0.001 + 0.024 * (1.0 + (std::f64::consts::PI * 49.0 / 50.0).cos()) / 2.0;
        assert!((lr(49) - last).abs() < 1e-15 && lr(49) > 0.001);
        assert!((1..50).all(|e| lr(e) < lr(e - 1)));
    }
}
