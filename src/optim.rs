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
    pub fn step<M: Module>(&mut self, module: M, grads: &GradSet, lr: f64) -> M {
        let (momentum, wd, nesterov) = (self.momentum, self.weight_decay, self.nesterov);
        let buffers = &mut self.buffers;
        apply_update(module, grads, |path, w, g| {
            let mut d = g;
            if wd != 0.0 {
                d = d.add(w.clone().mul_scalar(wd));
            }
            if momentum != 0.0 {
                // PyTorch starts the buffer at the first gradient, then buf = mu*buf + d.
                let nesterov_grad = nesterov.then(|| d.clone());
                let buf = match buffers.remove(path) {
                    Some(b) => b.mul_scalar(momentum).add(d),
                    None => d,
                };
                buffers.insert(path.to_string(), buf.clone());
                d = match nesterov_grad {
                    Some(g) => g.add(buf.mul_scalar(momentum)),
                    None => buf,
                };
            }
            w.sub(d.mul_scalar(lr))
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
    pub fn export(&self, prefix: &str, out: &mut BTreeMap<String, TensorData>) {
        for (k, v) in &self.buffers {
            out.insert(format!("{prefix}.{k}"), v.clone().into_data());
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
    pub fn export(&self, prefix: &str, out: &mut BTreeMap<String, TensorData>) -> OptimState {
        for (k, v) in &self.m {
            out.insert(format!("{prefix}.m.{k}"), v.clone().into_data());
        }
        for (k, v) in &self.v {
            out.insert(format!("{prefix}.v.{k}"), v.clone().into_data());
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
