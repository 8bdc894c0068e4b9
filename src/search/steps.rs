//! One step of bilevel supernet training, per method (spec section 2): the alpha step (first
//! or second order), the weight step, and SDARTS's perturbations of softmax(alpha).
//!
//! Nothing here reads a tensor back to the host: losses and correct counts come back as device
//! tensors for the caller to accumulate.

use burn::module::Module;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};

use crate::data;
use crate::nn::bn::BnMode;
use crate::nn::supernet::{SearchNet, Supernet, WeightPlan, arch_weights};
use crate::optim::{Adam, GradSet, Sgd};

/// A batch on the device.
#[derive(Clone, Debug)]
pub struct DeviceBatch {
    pub x: Tensor<4>,
    pub y: Tensor<1, Int>,
    pub len: usize,
}

impl DeviceBatch {
    pub fn new(batch: &data::Batch, device: &Device) -> Self {
        let x = Tensor::<4>::from_data(TensorData::new(batch.images.clone(), batch.shape), device);
        let y = Tensor::<1, Int>::from_data(
            TensorData::new(batch.labels.clone(), [batch.labels.len()]),
            device,
        );
        DeviceBatch {
            x,
            y,
            len: batch.labels.len(),
        }
    }
}

/// Mean cross-entropy of logits against integer labels.
pub fn cross_entropy(logits: Tensor<2>, y: Tensor<1, Int>) -> Tensor<1> {
    let picked = log_softmax(logits, 1).gather(1, y.unsqueeze_dim(1));
    picked.mean().neg()
}

/// Number of correct predictions, as a one-element tensor.
pub fn correct(logits: Tensor<2>, y: Tensor<1, Int>) -> Tensor<1, Int> {
    logits.argmax(1).squeeze_dim::<1>(1).equal(y).int().sum()
}

/// What a step reports back: the batch's mean loss and correct count, detached.
#[derive(Clone, Debug)]
pub struct StepStats {
    pub loss: Tensor<1>,
    pub correct: Tensor<1, Int>,
    pub len: usize,
}

impl StepStats {
    /// The step's numbers as one device row: [loss * images, correct] (see
    /// [`crate::job::sums`]).
    pub fn row(&self) -> Tensor<1> {
        let loss = self.loss.clone().mul_scalar(self.len as f64);
        Tensor::cat(vec![loss, self.correct.clone().float()], 0)
    }

    fn new(logits: &Tensor<2>, loss: &Tensor<1>, batch: &DeviceBatch) -> Self {
        StepStats {
            loss: loss.clone().detach().inner(),
            correct: correct(logits.clone().detach().inner(), batch.y.clone().inner()),
            len: batch.len,
        }
    }
}

/// softmax(alpha) per cell type, detached from alpha.
pub fn detached_probs(model: &Supernet) -> Vec<Tensor<2>> {
    model
        .probabilities()
        .into_iter()
        .map(|p| p.detach())
        .collect()
}

/// A copy of `net` that records no weight gradients, leaving `net` itself trainable.
///
/// burn 0.22.1's `Param::set_require_grad` on a parameter that is not initialised yet (burn's
/// `Linear`, the classifier, initialises lazily) writes into the lazy state that all clones
/// share, so `net.clone().no_grad()` on a fresh supernet also switched off the original
/// classifier's gradient: it then never trained, unlike in a resumed run (whose parameters were
/// initialised by loading). Initialising every parameter first makes `no_grad` fork instead.
fn without_grad(net: &SearchNet) -> SearchNet {
    struct Init;
    impl burn::module::ModuleVisitor for Init {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            let _ = param.val();
        }
    }
    net.visit(&mut Init);
    net.clone().no_grad()
}

/// First-order alpha step (DARTS's `Architect.step` with `unrolled=False`): cross-entropy on
/// a held-out batch under softmax(alpha), Adam on alpha. Weights get no gradient.
pub fn alpha_step(
    model: &mut Supernet,
    adam: &mut Adam,
    lr: f64,
    batch: &DeviceBatch,
    plans: &[WeightPlan],
) -> StepStats {
    let net = without_grad(&model.net);
    let w = arch_weights(model.probabilities(), plans);
    let logits = net.forward(batch.x.clone(), &w, BnMode::Train);
    let loss = cross_entropy(logits.clone(), batch.y.clone());
    let stats = StepStats::new(&logits, &loss, batch);
    let grads = loss.backward();
    let g = GradSet::from_backward(&model.alphas, &grads);
    model.alphas = adam.step(model.alphas.clone(), &g, lr);
    stats
}

/// Weight step: cross-entropy on a training batch under the given (detached, possibly
/// perturbed) probabilities, global-norm clipping, SGD on the weights. Alpha gets no gradient.
pub fn weight_step(
    model: &mut Supernet,
    sgd: &mut Sgd,
    lr: f64,
    grad_clip: f64,
    batch: &DeviceBatch,
    probs: Vec<Tensor<2>>,
    plans: &[WeightPlan],
) -> StepStats {
    let w = arch_weights(probs, plans);
    let logits = model.net.forward(batch.x.clone(), &w, BnMode::Train);
    let loss = cross_entropy(logits.clone(), batch.y.clone());
    let stats = StepStats::new(&logits, &loss, batch);
    let grads = loss.backward();
    let mut g = GradSet::from_backward(&model.net, &grads);
    if grad_clip > 0.0 {
        g.clip_global_norm(grad_clip);
    }
    model.net = sgd.step(model.net.clone(), &g, lr);
    stats
}

/// Projects each row onto the simplex as SDARTS does: clamp to [0, 1]; a row that clamps to
/// all zeros becomes the one-hot of its largest pre-clamp entry; divide by the row sum.
pub fn project_rows(pre: Tensor<2>) -> Tensor<2> {
    let dims = pre.dims();
    let clamped = pre.clone().clamp(0.0, 1.0);
    let sums = clamped.clone().sum_dim(1);
    let empty = sums.equal_elem(0.0).expand(dims);
    let max = pre.clone().max_dim(1).expand(dims);
    let onehot = pre.equal(max).float();
    let rows = clamped.mask_where(empty, onehot);
    let total = rows.clone().sum_dim(1).expand(dims);
    rows.div(total)
}

/// SDARTS-RS: uniform noise in [-eps, eps] on each probability, then projection.
pub fn perturb_uniform(probs: Vec<Tensor<2>>, eps: f64) -> Vec<Tensor<2>> {
    probs
        .into_iter()
        .map(|p| {
            let noise = Tensor::random(p.dims(), Distribution::Uniform(-eps, eps), &p.device());
            project_rows(p.add(noise))
        })
        .collect()
}

fn eval_loss(
    net: &SearchNet,
    probs: Vec<Tensor<2>>,
    plans: &[WeightPlan],
    b: &DeviceBatch,
) -> Tensor<1> {
    let w = arch_weights(probs, plans);
    cross_entropy(net.forward(b.x.clone(), &w, BnMode::Eval), b.y.clone())
}

/// SDARTS-ADV: a PGD attack on the probabilities that ascends the training loss, with the
/// model in eval mode (running BN statistics). Random start in the eps-ball, `steps` signed
/// gradient steps of 2*eps/steps, each followed by clamping to the ball and projection. The
/// perturbation is dropped when it did not raise the loss (decided on the device).
pub fn perturb_adversarial(
    model: &Supernet,
    probs: Vec<Tensor<2>>,
    eps: f64,
    steps: usize,
    batch: &DeviceBatch,
    plans: &[WeightPlan],
) -> Vec<Tensor<2>> {
    let net = without_grad(&model.net);
    let originals: Vec<Tensor<2>> = probs.iter().map(|p| p.clone().detach()).collect();
    let before = eval_loss(&net, originals.clone(), plans, batch).detach();
    let mut current = perturb_uniform(originals.clone(), eps);
    let step_size = 2.0 * eps / steps.max(1) as f64;
    for _ in 0..steps {
        let leaves: Vec<Tensor<2>> = current
            .iter()
            .map(|p| p.clone().detach().require_grad())
            .collect();
        let loss = eval_loss(&net, leaves.clone(), plans, batch);
        let grads = loss.backward();
        current = leaves
            .iter()
            .zip(&originals)
            .map(|(p, p0)| {
                let g = p.grad(&grads).expect("probabilities receive a gradient");
                let stepped = p
                    .clone()
                    .detach()
                    .inner()
                    .add(g.sign().mul_scalar(step_size));
                let stepped = Tensor::from_inner(stepped);
                let delta = stepped.sub(p0.clone()).clamp(-eps, eps);
                project_rows(p0.clone().add(delta))
            })
            .collect();
    }
    let after = eval_loss(&net, current.clone(), plans, batch).detach();
    // Keep the attack only if it raised the loss.
    let worse = after.lower(before);
    current
        .into_iter()
        .zip(originals)
        .map(|(adv, p0)| {
            let dims = adv.dims();
            let keep_original = worse.clone().reshape([1, 1]).expand(dims);
            adv.mask_where(keep_original, p0)
        })
        .collect()
}

/// The step sizes of the second-order alpha step (spec 2.2).
#[derive(Clone, Copy, Debug)]
pub struct Unrolled {
    /// Adam's learning rate on alpha.
    pub alpha_lr: f64,
    /// The virtual weight step's size: the weights' current learning rate.
    pub xi: f64,
    /// The finite-difference radius is r0 / ||v||.
    pub r0: f64,
}

/// Second-order alpha step (DARTS's unrolled architect): the gradient of
/// L_val(w', alpha) with w' = w - xi (mu m + grad_w L_train + lambda w), its Hessian term
/// approximated by central differences at w +- r v with r = r0 / ||v||.
pub fn alpha_step_second_order(
    model: &mut Supernet,
    adam: &mut Adam,
    sgd: &Sgd,
    u: Unrolled,
    train: &DeviceBatch,
    valid: &DeviceBatch,
    plans: &[WeightPlan],
) -> StepStats {
    let (g_alpha, stats) = unrolled_alpha_grad(model, sgd, u.xi, u.r0, train, valid, plans);
    model.alphas = adam.step(model.alphas.clone(), &g_alpha, u.alpha_lr);
    stats
}

/// The unrolled alpha gradient, exposed for tests (it is checked against finite differences).
pub fn unrolled_alpha_grad(
    model: &Supernet,
    sgd: &Sgd,
    xi: f64,
    r0: f64,
    train: &DeviceBatch,
    valid: &DeviceBatch,
    plans: &[WeightPlan],
) -> (GradSet, StepStats) {
    // 1. grad_w L_train(w, alpha) at the current weights.
    let w_train = arch_weights(detached_probs(model), plans);
    let loss = cross_entropy(
        model.net.forward(train.x.clone(), &w_train, BnMode::Batch),
        train.y.clone(),
    );
    let g_w = GradSet::from_backward(&model.net, &loss.backward());

    // 2. The virtual step w' (no clipping, as the reference architect).
    let momentum = sgd.momentum;
    let wd = sgd.weight_decay;
    let unrolled = map_weights(model.net.clone(), true, |path, w| {
        let g = g_w.grads.get(path)?.clone();
        let mut d = g.add(w.clone().mul_scalar(wd));
        if let Some(m) = sgd.buffers.get(path) {
            d = d.add(m.clone().mul_scalar(momentum));
        }
        Some(w.sub(d.mul_scalar(xi)))
    });

    // 3. L_val(w', alpha): gradients for alpha and for w' (v).
    let w_val = arch_weights(model.probabilities(), plans);
    let logits = unrolled.forward(valid.x.clone(), &w_val, BnMode::Batch);
    let loss = cross_entropy(logits.clone(), valid.y.clone());
    let stats = StepStats::new(&logits, &loss, valid);
    let grads = loss.backward();
    let d_alpha = GradSet::from_backward(&model.alphas, &grads);
    let v = GradSet::from_backward(&unrolled, &grads);

    // 4. r = r0 / ||v||, w+- = w +- r v, H v ~ (grad_a L_train(w+) - grad_a L_train(w-)) / 2r.
    let norm = v.global_norm().expect("the network has parameters");
    let r = norm.recip().mul_scalar(r0);
    let shifted = |sign: f64| {
        let r = r.clone();
        let net = map_weights(model.net.clone(), false, |path, w| {
            let vv = v.grads.get(path)?.clone();
            Some(w.add(vv.mul(r.clone()).mul_scalar(sign)))
        });
        let w = arch_weights(model.probabilities(), plans);
        let loss = cross_entropy(
            net.forward(train.x.clone(), &w, BnMode::Batch),
            train.y.clone(),
        );
        GradSet::from_backward(&model.alphas, &loss.backward())
    };
    let g_plus = shifted(1.0);
    let g_minus = shifted(-1.0);
    let two_r = r.mul_scalar(2.0);
    let mut out = GradSet::default();
    for (path, da) in d_alpha.grads {
        let hp = g_plus.grads.get(&path).cloned();
        let hm = g_minus.grads.get(&path).cloned();
        let g = match (hp, hm) {
            (Some(hp), Some(hm)) => da.sub(hp.sub(hm).div(two_r.clone()).mul_scalar(xi)),
            _ => da,
        };
        out.grads.insert(path, g);
    }
    (out, stats)
}

/// A copy of `net` whose parameters are replaced by `f(path, flattened weight)` where it
/// returns a value; `trainable` makes the new parameters require gradients.
pub fn map_weights(
    net: SearchNet,
    trainable: bool,
    mut f: impl FnMut(&str, Tensor<1>) -> Option<Tensor<1>>,
) -> SearchNet {
    use burn::module::{ModuleMapper, Param};
    struct M<'a, F> {
        path: Vec<String>,
        f: &'a mut F,
        trainable: bool,
    }
    impl<F: FnMut(&str, Tensor<1>) -> Option<Tensor<1>>> ModuleMapper for M<'_, F> {
        fn enter_module(&mut self, name: &str, _c: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _n: &str, _c: &str) {
            self.path.pop();
        }
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let path = self.path.join(".");
            if matches!(
                self.path.last().map(String::as_str),
                Some("running_mean" | "running_var")
            ) {
                return param;
            }
            let (f, trainable) = (&mut self.f, self.trainable);
            param.map(|t| {
                let shape = t.shape();
                let flat = t.clone().detach().inner().reshape([shape.num_elements()]);
                match f(&path, flat) {
                    Some(new) => {
                        let new = Tensor::from_inner(new.reshape(shape));
                        if trainable { new.require_grad() } else { new }
                    }
                    None => {
                        let t = t.detach();
                        if trainable { t.require_grad() } else { t }
                    }
                }
            })
        }
    }
    let mut m = M {
        path: Vec::new(),
        f: &mut f,
        trainable,
    };
    net.map(&mut m)
}
