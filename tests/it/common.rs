//! Helpers shared by the integration tests.

use burn::tensor::{Device, Distribution, Tensor};

/// The flex CPU device the numerical tests run on.
pub fn cpu() -> Device {
    Device::flex()
}

/// A seeded random input batch.
pub fn random_input(shape: [usize; 4], seed: u64, device: &Device) -> Tensor<4> {
    device.seed(seed);
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
}

pub fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec::<f32>().expect("f32 tensor")
}

/// Largest absolute difference between two equally long vectors.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// A real run directory shared by the tests of one process: a short DARTS search of the NB201
/// supernet on the bundled data, then magnitude and PT selections. Built once, on first use.
pub fn tiny_nb201_run() -> &'static std::path::Path {
    use darts_pt::config::{Method, Preset, SearchConfig};
    use darts_pt::device::{DeviceChoice, select};
    use darts_pt::job::Control;
    use darts_pt::search::run_search;
    use darts_pt::select::pt::Criterion;
    use darts_pt::select::{SelectMethod, SelectRequest, run_select};
    use darts_pt::space::SpaceId;
    use std::sync::OnceLock;

    static RUN: OnceLock<tempfile::TempDir> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("nb201-tiny");
        let mut cfg = SearchConfig::preset(SpaceId::Nb201, Method::Darts, Preset::Tiny);
        cfg.epochs = 2;
        cfg.data.train_images = Some(1000);
        let device = select(DeviceChoice::Cpu).unwrap();
        let control = Control::new();
        run_search(&cfg, &out, false, &device, &mut |_| {}, &control).expect("tiny search");
        for method in [SelectMethod::Magnitude, SelectMethod::Pt] {
            let req = SelectRequest {
                run: out.clone(),
                method,
                criterion: Criterion::Acc,
                fixed_alpha: false,
                resume: false,
                out: None,
                tune_epochs: Some(2),
                seed: None,
                table: None,
            };
            run_select(&req, &device, &mut |_| {}, &control)
                .expect("selection")
                .expect("not cancelled");
        }
        dir
    })
    .path()
    .join("nb201-tiny")
    .leak_path()
}

/// Turns a temporary path into a `'static` one for the shared fixture.
trait LeakPath {
    fn leak_path(self) -> &'static std::path::Path;
}

impl LeakPath for std::path::PathBuf {
    fn leak_path(self) -> &'static std::path::Path {
        Box::leak(self.into_boxed_path())
    }
}

/// Every tensor of a run's checkpoint, and its loop state without the wall-clock time: what
/// must be bit-identical between an interrupted-and-resumed run and an uninterrupted one.
pub fn checkpoint_contents(run: &std::path::Path) -> (Vec<(String, Vec<u8>)>, serde_json::Value) {
    let ckpt = darts_pt::checkpoint::Checkpoint::load(&run.join("checkpoint.safetensors")).unwrap();
    let tensors = ckpt
        .tensors
        .iter()
        .map(|(k, v)| (k.clone(), v.as_bytes().to_vec()))
        .collect();
    let mut state = ckpt.state.clone();
    state.as_object_mut().unwrap().remove("elapsed");
    (tensors, state)
}
