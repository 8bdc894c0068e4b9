//! The studio page in a real browser: the site is built from scratch (`web/build.sh`), served
//! on 127.0.0.1 and driven in headless Chromium by WebDriver (`web/tests/drive.py`: selenium
//! and chromedriver) through the tiny demo, on burn's CPU backend compiled to wasm and on
//! WebGPU. Screenshots of every panel go to `<target>/web-screenshots/`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use darts_pt::genotype::Genotype;

/// The cargo target directory of this test build.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// Builds `web/dist` once per test process, in a target directory of its own (this one is
/// locked by the cargo that runs the tests).
fn site() -> &'static Path {
    static SITE: OnceLock<PathBuf> = OnceLock::new();
    SITE.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let status = Command::new(root.join("web/build.sh"))
            .env("CARGO_TARGET_DIR", target_dir().join("web"))
            .status()
            .expect("web/build.sh runs");
        assert!(status.success(), "web/build.sh failed");
        root.join("web/dist")
    })
}

/// A static file server on 127.0.0.1 for `dir`; returns its address.
fn serve(dir: &'static Path) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a local port");
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(&stream);
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/");
                let path = path
                    .split('?')
                    .next()
                    .unwrap_or("/")
                    .trim_start_matches('/');
                let path = if path.is_empty() { "index.html" } else { path };
                let file = dir.join(path);
                let (status, body) = match (path.contains(".."), std::fs::read(&file)) {
                    (false, Ok(b)) => ("200 OK", b),
                    _ => ("404 Not Found", b"not found".to_vec()),
                };
                let kind = match file.extension().and_then(|e| e.to_str()) {
                    Some("html") => "text/html",
                    Some("js") => "text/javascript",
                    Some("css") => "text/css",
                    Some("wasm") => "application/wasm",
                    _ => "application/octet-stream",
                };
                let mut s = &stream;
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(&body);
            });
        }
    });
    format!("http://{addr}")
}

/// Loads `url` in Chromium until the page writes its result; returns what the driver saw.
fn drive(url: &str, prefix: &str) -> serde_json::Value {
    let shots = target_dir().join("web-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("web/tests/drive.py");
    // Debian's python, which has Debian's selenium (a python3 earlier on PATH may not).
    let out = Command::new("/usr/bin/python3")
        .arg(script)
        .args([url, shots.to_str().unwrap(), prefix, "1500"])
        .output()
        .expect("/usr/bin/python3 runs the WebDriver script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the WebDriver script failed: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("driver output is not JSON ({e}): {stdout}"));
    for panel in [
        "runs",
        "cell",
        "selection",
        "perturbation",
        "curves",
        "device",
    ] {
        let png = shots.join(format!("{prefix}-{panel}.png"));
        let img = image::open(&png).expect("a screenshot").to_rgba8();
        let first = *img.get_pixel(0, 0);
        let differing = img.pixels().filter(|p| **p != first).count();
        assert!(
            differing > img.pixels().len() / 50,
            "{}: the page looks blank",
            png.display()
        );
    }
    seen
}

/// Runs `?demo=tiny&backend=...` and checks what it reports.
fn demo(base: &str, backend: &str) -> serde_json::Value {
    let seen = drive(
        &format!("{base}/index.html?demo=tiny&backend={backend}"),
        backend,
    );
    eprintln!("web demo, {backend}: {seen}");
    let r = &seen["result"];
    assert_eq!(r["state"], "done", "{backend}: {seen}");
    let pt = r["pt"].as_str().expect("PT's genotype");
    pt.parse::<Genotype>()
        .unwrap_or_else(|e| panic!("PT's genotype does not parse: {e}: {pt}"));
    r["magnitude"]
        .as_str()
        .expect("magnitude's genotype")
        .parse::<Genotype>()
        .unwrap();
    for label in ["magnitude", "pt"] {
        let before = r["supernet_acc"][label]["before"].as_f64().unwrap();
        assert!(
            before > 0.4,
            "{backend} {label}: supernet accuracy {before} near chance (0.1)"
        );
    }
    r.clone()
}

#[test]
#[cfg_attr(
    not(has_web_tools),
    ignore = "needs chromium, chromium-driver, python3-selenium, wasm-bindgen-cli (Cargo.lock's \
              version) and `rustup target add wasm32-unknown-unknown`"
)]
fn the_page_runs_the_tiny_demo_on_the_cpu() {
    let r = demo(&serve(site()), "cpu");
    assert_eq!(r["backend"], "cpu");
}

#[test]
#[ignore = "burn's kernels do not run on Chromium's SwiftShader WebGPU adapter yet: a matmul \
            pipeline is invalid there (an invalid bind group layout) and the device is lost; \
            run with --ignored where a browser has a real WebGPU adapter"]
fn the_page_runs_the_tiny_demo_on_webgpu() {
    let r = demo(&serve(site()), "webgpu");
    assert!(r["backend"].as_str().unwrap().starts_with("WebGPU"), "{r}");
}
