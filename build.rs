//! Finds what some tests need from outside the repository (the full Fashion-MNIST of Debian's
//! dataset-fashion-mnist, a Vulkan driver for wgpu, Xvfb for the studio's real window, the
//! NAS-Bench-201 table in `../shared/nb201/`, Chromium with wasm-bindgen and the wasm32 target
//! for the browser test) and tells the compiler which are present, as
//! `cfg`s. A test whose resource is absent is then reported as ignored, saying what to
//! install, instead of passing without checking anything. `DARTS_PT_REQUIRE_EXTERNAL` (a
//! comma-separated list of the names below, or `all`) marks resources as present whatever the
//! machine has, so that CI, which installs them, fails when one is missing. A resource that
//! appears in a directory that did not exist before is noticed after `touch build.rs`.

use std::path::{Path, PathBuf};

/// A resource: its cfg, its name in `DARTS_PT_REQUIRE_EXTERNAL`, whether it is here, and the
/// files or directories whose change may change that.
struct Resource {
    cfg: &'static str,
    name: &'static str,
    present: bool,
    watch: Vec<PathBuf>,
}

/// `paths` exist; watched are those that do and the existing parents of those that do not.
fn files(cfg: &'static str, name: &'static str, paths: Vec<PathBuf>) -> Resource {
    let present = paths.iter().any(|p| p.exists());
    let watch = paths
        .iter()
        .filter_map(|p| match p.exists() {
            true => Some(p.clone()),
            false => p.parent().filter(|d| d.is_dir()).map(Path::to_path_buf),
        })
        .collect();
    Resource {
        cfg,
        name,
        present,
        watch,
    }
}

fn resources(manifest: &Path) -> Vec<Resource> {
    let mut table = vec![manifest.join("../shared/nb201/nats_bench_tss_200ep.csv")];
    if let Some(p) = std::env::var_os("DARTS_PT_NB201") {
        table.push(PathBuf::from(p));
    }
    let on_path = |name: &str| -> Vec<PathBuf> {
        std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).map(|d| d.join(name)).collect())
            .unwrap_or_default()
    };
    let xvfb = on_path("xvfb-run");
    // The browser test builds the page (the wasm32 standard library, wasm-bindgen) and drives
    // Chromium.
    let wasm_std = std::process::Command::new(std::env::var("RUSTC").unwrap_or("rustc".into()))
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .map(|o| {
            let root = String::from_utf8_lossy(&o.stdout).trim().to_string();
            PathBuf::from(root).join("lib/rustlib/wasm32-unknown-unknown")
        });
    let web_tools = [
        on_path("chromium"),
        on_path("chromedriver"),
        on_path("wasm-bindgen"),
        vec!["/usr/lib/python3/dist-packages/selenium".into()],
    ];
    let web_present = web_tools.iter().all(|c| c.iter().any(|p| p.exists()))
        && wasm_std.as_ref().is_some_and(|p| p.is_dir());
    // A Vulkan loader finds its drivers through these manifests (lavapipe's among them).
    let icd_dirs: Vec<PathBuf> = ["/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d"]
        .iter()
        .map(PathBuf::from)
        .collect();
    let icds = icd_dirs
        .iter()
        .flat_map(|d| std::fs::read_dir(d).into_iter().flatten())
        .any(|e| e.is_ok_and(|e| e.path().extension().is_some_and(|x| x == "json")));
    vec![
        files(
            "has_fashion_mnist",
            "fashion-mnist",
            vec!["/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz".into()],
        ),
        Resource {
            cfg: "has_vulkan",
            name: "vulkan",
            present: icds,
            watch: icd_dirs.into_iter().filter(|d| d.is_dir()).collect(),
        },
        files("has_xvfb", "xvfb", xvfb),
        files("has_nb201_table", "nb201-table", table),
        Resource {
            cfg: "has_web_tools",
            name: "web",
            present: web_present,
            watch: web_tools
                .into_iter()
                .flatten()
                .filter(|p| p.exists())
                .collect(),
        },
    ]
}

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let required = std::env::var("DARTS_PT_REQUIRE_EXTERNAL").unwrap_or_default();
    let required: Vec<&str> = required.split(',').map(str::trim).collect();
    println!("cargo::rerun-if-env-changed=DARTS_PT_REQUIRE_EXTERNAL");
    println!("cargo::rerun-if-env-changed=DARTS_PT_NB201");
    println!("cargo::rerun-if-env-changed=PATH");
    println!("cargo::rerun-if-changed=build.rs");
    for r in resources(&manifest) {
        println!("cargo::rustc-check-cfg=cfg({})", r.cfg);
        if r.present || required.contains(&r.name) || required.contains(&"all") {
            println!("cargo::rustc-cfg={}", r.cfg);
        }
        for p in r.watch {
            println!("cargo::rerun-if-changed={}", p.display());
        }
    }
}
