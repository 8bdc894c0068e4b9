//! Walking a module's tensors by name: parameter counts, and reading or replacing tensors by
//! their path (checkpoints, copying weights between networks, tests).

use std::collections::BTreeMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Tensor, TensorData};

use crate::checkpoint::Readback;

/// Names of the BatchNorm buffers, which are state but not parameters.
const BUFFERS: [&str; 2] = ["running_mean", "running_var"];

/// Tracks the dotted path of the module being visited.
#[derive(Default)]
struct PathTracker {
    stack: Vec<String>,
}

impl PathTracker {
    fn enter(&mut self, name: &str) {
        self.stack.push(name.to_string());
    }
    fn exit(&mut self) {
        self.stack.pop();
    }
    fn path(&self) -> String {
        self.stack.join(".")
    }
    fn is_buffer(&self) -> bool {
        self.stack
            .last()
            .is_some_and(|last| BUFFERS.contains(&last.as_str()))
    }
}

struct Counter<'a> {
    path: PathTracker,
    exclude_prefix: Option<&'a str>,
    total: usize,
}

impl ModuleVisitor for Counter<'_> {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.enter(name);
    }
    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.exit();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if self.path.is_buffer() {
            return;
        }
        if let Some(prefix) = self.exclude_prefix
            && self.path.path().starts_with(prefix)
        {
            return;
        }
        self.total += param.lazy_shape().num_elements();
    }
}

/// Number of learnable parameters (BatchNorm running statistics excluded), skipping every
/// tensor whose path starts with `exclude_prefix` (e.g. `"aux"` for the auxiliary head).
pub fn count_params<M: Module>(module: &M, exclude_prefix: Option<&str>) -> usize {
    let mut counter = Counter {
        path: PathTracker::default(),
        exclude_prefix,
        total: 0,
    };
    module.visit(&mut counter);
    counter.total
}

struct Collector<'a> {
    path: PathTracker,
    prefix: &'a str,
    out: &'a mut Readback,
}

impl ModuleVisitor for Collector<'_> {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.enter(name);
    }
    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.exit();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let name = match self.prefix {
            "" => self.path.path(),
            p => format!("{p}.{}", self.path.path()),
        };
        self.out.add(name, param.val());
    }
}

/// Adds every float tensor of a module (parameters and BatchNorm buffers) to `out`, named
/// `prefix.` and its dotted path.
pub fn add_named<M: Module>(module: &M, prefix: &str, out: &mut Readback) {
    module.visit(&mut Collector {
        path: PathTracker::default(),
        prefix,
        out,
    });
}

/// Every float tensor of a module by dotted path, read at once: for callers outside a job
/// (natively, or on a CPU device); jobs read through [`Readback::read`].
pub fn named_tensors<M: Module>(module: &M) -> BTreeMap<String, TensorData> {
    let mut out = Readback::default();
    add_named(module, "", &mut out);
    pollster::block_on(out.read())
}

/// Paths of the learnable parameters of a module, in visiting order.
pub fn param_paths<M: Module>(module: &M) -> Vec<String> {
    struct Paths {
        path: PathTracker,
        out: Vec<String>,
    }
    impl ModuleVisitor for Paths {
        fn enter_module(&mut self, name: &str, _container: &str) {
            self.path.enter(name);
        }
        fn exit_module(&mut self, _name: &str, _container: &str) {
            self.path.exit();
        }
        fn visit_float<const D: usize>(&mut self, _param: &Param<Tensor<D>>) {
            if !self.path.is_buffer() {
                self.out.push(self.path.path());
            }
        }
    }
    let mut v = Paths {
        path: PathTracker::default(),
        out: Vec::new(),
    };
    module.visit(&mut v);
    v.out
}

/// Why a set of named tensors does not fit a module.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("tensor '{0}' is missing")]
    Missing(String),
    #[error("tensor '{path}' has shape {found:?}, expected {expected:?}")]
    Shape {
        path: String,
        found: Vec<usize>,
        expected: Vec<usize>,
    },
}

struct Loader<'a> {
    path: PathTracker,
    tensors: &'a BTreeMap<String, TensorData>,
    error: Option<LoadError>,
}

impl ModuleMapper for Loader<'_> {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.enter(name);
    }
    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.exit();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if self.error.is_some() {
            return param;
        }
        let path = self.path.path();
        let Some(data) = self.tensors.get(&path) else {
            self.error = Some(LoadError::Missing(path));
            return param;
        };
        let expected = param.lazy_shape().to_vec();
        if data.shape().as_slice() != expected.as_slice() {
            self.error = Some(LoadError::Shape {
                path,
                found: data.shape().to_vec(),
                expected,
            });
            return param;
        }
        let data = data.clone();
        param.map(|t| {
            let device = t.device();
            let grad = t.is_require_grad();
            let fresh = Tensor::<D>::from_data(data, &device);
            if grad { fresh.require_grad() } else { fresh }
        })
    }
}

/// Replaces every float tensor of `module` by the tensor of the same path in `tensors`.
/// Fails (leaving the module partially updated) if one is missing or has another shape.
pub fn load_named<M: Module>(
    module: M,
    tensors: &BTreeMap<String, TensorData>,
) -> Result<M, LoadError> {
    let mut loader = Loader {
        path: PathTracker::default(),
        tensors,
        error: None,
    };
    let module = module.map(&mut loader);
    match loader.error {
        Some(e) => Err(e),
        None => Ok(module),
    }
}
