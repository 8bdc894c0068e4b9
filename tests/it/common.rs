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
    use darts_pt::config::{Method, Preset, SearchConfig, SelectMethod};
    use darts_pt::device::{DeviceChoice, select};
    use darts_pt::job::Control;
    use darts_pt::search::{SearchStart, run_search};
    use darts_pt::select::{SelectRequest, run_select};
    use darts_pt::space::SpaceId;
    use std::sync::OnceLock;

    static RUN: OnceLock<tempfile::TempDir> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("nb201-tiny");
        let mut cfg = SearchConfig::preset(SpaceId::Nb201, Method::Darts, Preset::Tiny);
        cfg.epochs = 2;
        cfg.data.train_images = Some(1000);
        let device = select(&DeviceChoice::Cpu).unwrap();
        let control = Control::new();
        let start = SearchStart::New {
            config: Box::new(cfg),
            dir: out.clone(),
        };
        run_search(start, &device, &mut |_| {}, &control).expect("tiny search");
        for method in [SelectMethod::Magnitude, SelectMethod::Pt] {
            let mut req = SelectRequest::new(&out, method);
            req.pt.tune_epochs = Some(2);
            run_select(&req, &device, &mut |_| {}, &control)
                .expect("selection")
                .finished()
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
    checkpoint_file_contents(&run.join("checkpoint.safetensors"))
}

/// [`checkpoint_contents`] of any checkpoint file (a selection's).
pub fn checkpoint_file_contents(
    path: &std::path::Path,
) -> (Vec<(String, Vec<u8>)>, serde_json::Value) {
    let ckpt = darts_pt::checkpoint::Checkpoint::load(path).unwrap();
    let tensors = ckpt
        .tensors
        .iter()
        .map(|(k, v)| (k.clone(), v.as_bytes().to_vec()))
        .collect();
    let mut state = ckpt.state.clone();
    state.as_object_mut().unwrap().remove("elapsed");
    (tensors, state)
}

/// Every readable line of a JSON-lines file (none when it is missing).
pub fn read_jsonl<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Vec<T> {
    darts_pt::run::parse_jsonl(&std::fs::read(path).unwrap_or_default()).0
}

/// The selections recorded in a run directory.
pub fn selections(
    run: &std::path::Path,
) -> std::collections::BTreeMap<String, darts_pt::run::SelectionRecord> {
    darts_pt::run::RunReader::local(run)
        .selections()
        .expect("a readable selection.json")
}

/// `run.json` of a run directory.
pub fn status(run: &std::path::Path) -> darts_pt::run::RunStatus {
    darts_pt::run::RunReader::local(run)
        .status()
        .expect("a readable run.json")
        .expect("a run.json")
}

/// Runs the test `name` of this binary (module path included) in a child process and asserts
/// that it passes; returns true in that child, where the test does its work. Tests that
/// compare runs bit for bit need the process's one random stream of the device to themselves,
/// which the other tests of this binary, running in parallel threads, would draw from.
pub fn in_own_process(name: &str) -> bool {
    const CHILD: &str = "DARTS_PT_TEST_IN_OWN_PROCESS";
    if std::env::var(CHILD).is_ok_and(|v| v == name) {
        return true;
    }
    let out = std::process::Command::new(std::env::current_exe().expect("the test binary"))
        .args([name, "--exact", "--nocapture", "--test-threads", "1"])
        .env(CHILD, name)
        .output()
        .expect("the test binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{name} failed in its own process:\n{text}"
    );
    assert!(
        text.contains("1 passed"),
        "{name} did not run in its own process:\n{text}"
    );
    false
}

/// Copies a directory tree.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
