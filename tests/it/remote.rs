//! Remote devices on loopback: `darts-pt serve` as a child process, the binary as its client.
//! They need the `remote` feature (the README's test command builds with it); without it they
//! are reported as ignored.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use darts_pt::run::{AlphaRecord, RunReader, RunState};

use crate::common::{checkpoint_contents, read_jsonl};

const BIN: &str = env!("CARGO_BIN_EXE_darts-pt");

/// A `darts-pt serve --device cpu` child on a free port, killed when dropped.
struct Server {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Server {
    fn start(dir: &Path, token: &str) -> Server {
        let token_file = dir.join(format!("server-token-{token}"));
        std::fs::write(&token_file, format!("{token}\n")).unwrap();
        let log = dir.join(format!("server-{token}.log"));
        let mut child = Command::new(BIN)
            .args(["serve", "--device", "cpu", "--port", "0", "--token-file"])
            .arg(&token_file)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("darts-pt serve starts");
        // The first line says where it listens (the port the system chose).
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("ws://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        assert!(url.starts_with("ws://127.0.0.1:"), "{url}");
        Server { child, url, log }
    }

    fn device(&self) -> String {
        format!("remote:{}", self.url)
    }

    /// Waits (up to a minute) until the log holds `text` `n` times: sessions are reported as
    /// the server notices them, a moment after the client has gone.
    fn wait_for(&self, text: &str, n: usize) {
        let started = Instant::now();
        while std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .matches(text)
            .count()
            < n
        {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no {n} x {text:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server (SIGKILL) and returns what it logged.
    fn kill(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn token_file(dir: &Path, token: &str) -> PathBuf {
    let p = dir.join(format!("client-token-{token}"));
    std::fs::write(&p, token).unwrap();
    p
}

fn search_args(out: &Path, device: &str, token: Option<&Path>, epochs: usize) -> Vec<String> {
    let mut a: Vec<String> = [
        "search",
        "--space",
        "nb201",
        "--method",
        "darts",
        "--preset",
        "tiny",
        "--train-images",
        "640",
        "--epochs",
        &epochs.to_string(),
        "--seed",
        "5",
        "--device",
        device,
        "--out",
        &out.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Some(t) = token {
        a.extend(["--token-file".to_string(), t.display().to_string()]);
    }
    a
}

fn run(args: &[String]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn alphas(run: &Path) -> Vec<AlphaRecord> {
    read_jsonl(&run.join("alpha.jsonl"))
}

#[test]
#[cfg_attr(
    not(feature = "remote"),
    ignore = "needs the remote feature: cargo test --features remote"
)]
fn a_search_on_a_remote_cpu_ends_with_the_alpha_and_weights_of_the_same_search_here() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), "t0k3n");
    let token = token_file(dir.path(), "t0k3n");
    let (here, there) = (dir.path().join("here"), dir.path().join("there"));
    let o = run(&search_args(&here, "cpu", None, 2));
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&search_args(&there, &server.device(), Some(&token), 2));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("device: remote ws://127.0.0.1:"));
    // The server runs the same flex backend and the same kernels on the same operations in
    // the same order, seeded the same; values cross the wire as raw f32. So nothing may differ.
    let a = alphas(&here);
    assert_eq!(a.len(), 3);
    assert_eq!(a, alphas(&there));
    let (ta, _) = checkpoint_contents(&here);
    let (tb, _) = checkpoint_contents(&there);
    assert_eq!(ta.len(), tb.len());
    for ((ka, va), (kb, vb)) in ta.iter().zip(&tb) {
        assert_eq!(ka, kb);
        assert!(
            va == vb,
            "tensor {ka} differs between the local and the remote search"
        );
    }
}

#[test]
#[cfg_attr(
    not(feature = "remote"),
    ignore = "needs the remote feature: cargo test --features remote"
)]
fn a_server_killed_mid_search_ends_the_client_with_a_message_and_the_run_resumes_here() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), "k1ll");
    let token = token_file(dir.path(), "k1ll");
    let out = dir.path().join("run");
    let mut client = Command::new(BIN)
        .args(search_args(&out, &server.device(), Some(&token), 4))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while RunReader::local(&out)
        .status()
        .ok()
        .flatten()
        .is_none_or(|s| s.epoch < 1)
    {
        assert!(started.elapsed() < Duration::from_secs(300), "no epoch");
        assert!(
            client.try_wait().unwrap().is_none(),
            "the client ended early"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill();
    let o = client.wait_with_output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("stopped answering"), "{err}");
    assert!(err.contains("darts-pt search --resume"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let st = RunReader::local(&out).status().unwrap().unwrap();
    assert_eq!(st.state, RunState::Running);

    let o = run(&[
        "search".into(),
        "--resume".into(),
        out.display().to_string(),
        "--device".into(),
        "cpu".into(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(RunReader::local(&out).is_finished());
    assert_eq!(alphas(&out).len(), 5);
}

#[test]
#[cfg_attr(
    not(feature = "remote"),
    ignore = "needs the remote feature: cargo test --features remote"
)]
fn a_client_with_a_wrong_or_no_token_is_refused_on_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), "right");
    let wrong = token_file(dir.path(), "wrong");
    let out = dir.path().join("run");
    let o = run(&search_args(&out, &server.device(), Some(&wrong), 1));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("refused this token"), "{}", stderr(&o));
    assert!(!out.exists(), "nothing is written for a refused device");
    let o = Command::new(BIN)
        .args(search_args(&out, &server.device(), None, 1))
        .env_remove("DARTS_PT_TOKEN")
        .env_remove("DARTS_PT_TOKEN_FILE")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("wants a token"), "{}", stderr(&o));
    let log = server.kill();
    assert_eq!(
        log.matches("refused (wrong or missing token)").count(),
        2,
        "{log}"
    );
    assert!(!log.contains("token accepted"), "{log}");
}

#[test]
#[cfg_attr(
    not(feature = "remote"),
    ignore = "needs the remote feature: cargo test --features remote"
)]
fn garbage_on_the_port_leaves_the_server_serving() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), "junk");
    let addr = server.url.trim_start_matches("ws://").to_string();
    let junk: [&[u8]; 3] = [
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x00\xff",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        &[0xff; 4096],
    ];
    for bytes in junk {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        let _ = s.write_all(bytes);
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server died"
    );
    let token = token_file(dir.path(), "junk");
    let out = dir.path().join("run");
    let o = run(&search_args(&out, &server.device(), Some(&token), 1));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(server.kill().contains("token accepted"));
}

#[test]
#[cfg_attr(
    not(feature = "remote"),
    ignore = "needs the remote feature: cargo test --features remote"
)]
fn two_clients_on_one_server_each_finish() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), "two");
    let token = token_file(dir.path(), "two");
    let outs = [dir.path().join("a"), dir.path().join("b")];
    let clients: Vec<Child> = outs
        .iter()
        .map(|out| {
            Command::new(BIN)
                .args(search_args(out, &server.device(), Some(&token), 2))
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in clients {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    }
    for out in &outs {
        assert!(RunReader::local(out).is_finished());
        assert_eq!(alphas(out).len(), 3);
    }
    // Not asserted: that the two α are equal. A server's random numbers are process-wide
    // (burn's flex keeps one generator), so sessions drawing at the same moment may take each
    // other's draws; reproducibility holds for one session at a time.
    server.wait_for(" closed", 2);
    let log = server.kill();
    assert_eq!(log.matches("token accepted").count(), 2, "{log}");
    assert_eq!(log.matches(" opened").count(), 2, "{log}");
}

#[test]
#[cfg_attr(
    not(feature = "remote"),
    ignore = "needs the remote feature: cargo test --features remote"
)]
fn an_experiment_over_a_local_and_a_remote_device_writes_the_full_report() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), "exp");
    let token = token_file(dir.path(), "exp");
    let out = dir.path().join("exp");
    let devices = format!("cpu,{}", server.device());
    let o = Command::new(BIN)
        .args([
            "experiment",
            "pt-vs-magnitude",
            "--space",
            "nb201",
            "--seeds",
            "0",
            "--preset",
            "tiny",
            "--devices",
            &devices,
            "--token-file",
        ])
        .arg(&token)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    // Both devices took phases.
    assert!(err.contains("on cpu (flex"), "{err}");
    assert!(err.contains(&format!("on remote {}", server.url)), "{err}");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains(&format!("remote {}", server.url)),
        "{report}"
    );
    let mut csv = csv::Reader::from_path(out.join("report.csv")).unwrap();
    let rows: Vec<csv::StringRecord> = csv.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 3, "one row per arm");
    assert!(out.join("report.png").is_file());
    for arm in ["magnitude", "pt", "pt-fixed-alpha"] {
        assert!(
            RunReader::local(&out.join(format!("seed0/train-{arm}")))
                .result()
                .is_some()
        );
    }
}
