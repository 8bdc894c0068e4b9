//! Neural-network building blocks on burn: operations, the mixed operation, the search
//! supernets (DARTS and NAS-Bench-201) and the discrete networks built from genotypes.
//!
//! Every module lives on a runtime `burn::tensor::Device`; create it on `device.autodiff()` to
//! train it. BatchNorm behaviour is always passed in explicitly ([`bn::BnMode`]).

pub mod bn;
pub mod darts_eval;
pub mod darts_search;
pub mod mixed;
pub mod nb201;
pub mod ops;
pub mod params;
pub mod supernet;

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// The geometry of a network's input and output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputShape {
    /// Image channels (3 for CIFAR, 1 for MNIST-like data).
    pub channels: usize,
    /// Image height = width in pixels.
    pub size: usize,
    /// Number of classes of the classifier.
    pub classes: usize,
}

impl InputShape {
    /// CIFAR-10: 3x32x32, 10 classes.
    pub const CIFAR10: InputShape = InputShape {
        channels: 3,
        size: 32,
        classes: 10,
    };
}

/// Mean over the spatial dimensions: `[n, c, h, w] -> [n, c]`.
pub fn global_avg_pool(x: Tensor<4>) -> Tensor<2> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h * w]).mean_dim(2).reshape([n, c])
}
