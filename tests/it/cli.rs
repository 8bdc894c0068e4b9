//! The command line as users meet it: the `darts-pt` binary run as a child process. Failures
//! must exit non-zero with a message that says where and what, never with a panic.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const DARTS_V2: &str = "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";

/// Runs the binary with `args` and returns what it did.
fn darts_pt(args: &[&str]) -> Output {
    let xdg = std::env::temp_dir().join("darts-pt-cli-xdg");
    std::fs::create_dir_all(&xdg).unwrap();
    Command::new(env!("CARGO_BIN_EXE_darts-pt"))
        .args(args)
        .env("XDG_RUNTIME_DIR", &xdg)
        .env_remove("DARTS_PT_NB201")
        .output()
        .expect("the darts-pt binary runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts success and parses stdout as one JSON value.
fn json_ok(args: &[&str]) -> Value {
    let out = darts_pt(args);
    assert!(
        out.status.success(),
        "darts-pt {args:?} failed:\n{}",
        stderr(&out)
    );
    serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| {
        panic!(
            "darts-pt {args:?}: stdout is not JSON ({e}):\n{}",
            stdout(&out)
        )
    })
}

/// Asserts a clean failure: non-zero exit, no panic, and every `needle` in stderr.
fn fails_cleanly(args: &[&str], needles: &[&str]) -> String {
    let out = darts_pt(args);
    let err = stderr(&out);
    assert!(
        !out.status.success(),
        "darts-pt {args:?} should fail; stdout:\n{}",
        stdout(&out)
    );
    assert!(
        out.status.code().is_some_and(|c| c != 0),
        "{:?}",
        out.status
    );
    assert!(
        !err.contains("panicked"),
        "darts-pt {args:?} panicked:\n{err}"
    );
    assert!(!err.contains("RUST_BACKTRACE"), "{err}");
    for n in needles {
        assert!(
            err.contains(n),
            "darts-pt {args:?}: stderr should mention {n:?}:\n{err}"
        );
    }
    err
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temp path")
}

/// An IDX u8 file: big-endian magic, dimensions, payload.
fn idx_bytes(magic: u32, dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut out = magic.to_be_bytes().to_vec();
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(payload);
    out
}

// ---------------------------------------------------------------------------------------------
// inspect

#[test]
fn inspect_counts_darts_v2_and_nb201_cells() {
    let v = json_ok(&[
        "inspect",
        "--space",
        "darts",
        "--genotype",
        DARTS_V2,
        "--json",
        "--device",
        "cpu",
    ]);
    assert_eq!(v["params"], 3_349_342, "{v}");
    assert!(v["params_with_aux"].as_u64().unwrap() > 3_349_342);
    assert_eq!(v["channels"], 36);
    assert_eq!(v["layers"], 20);
    // The genotype printed back parses to the same cell (the canonical print uses range(2, 6)).
    let normalized = v["normalized"].as_str().unwrap();
    assert_eq!(
        normalized,
        DARTS_V2.replace("[2, 3, 4, 5]", "range(2, 6)"),
        "{v}"
    );

    let skip = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|";
    let v = json_ok(&[
        "inspect",
        "--space",
        "nb201",
        "--genotype",
        skip,
        "--json",
        "--device",
        "cpu",
    ]);
    assert_eq!(v["params"], 73_306, "{v}");
    assert_eq!(v["normalized"], skip);
    let conv = skip.replace("skip_connect", "nor_conv_3x3");
    let v = json_ok(&[
        "inspect",
        "--space",
        "nb201",
        "--genotype",
        &conv,
        "--json",
        "--device",
        "cpu",
    ]);
    assert_eq!(v["params"], 1_531_546, "{v}");
    // NB201 networks have no auxiliary head.
    assert_eq!(v["params_with_aux"], v["params"]);
}

#[test]
fn malformed_genotypes_say_where_and_what() {
    // Gene 3 of the normal cell names an operation that does not exist.
    let bad_op = DARTS_V2.replacen(
        "('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1)",
        "('sep_conv_3x3', 0), ('sep_conv_4x4', 1), ('sep_conv_3x3', 1)",
        1,
    );
    assert_ne!(bad_op, DARTS_V2);
    let args = |g: &str| {
        vec![
            "inspect".to_string(),
            "--space".into(),
            "darts".into(),
            "--genotype".into(),
            g.to_string(),
            "--device".into(),
            "cpu".into(),
        ]
    };
    let run = |g: &str, needles: &[&str]| {
        let a = args(g);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        fails_cleanly(&a, needles)
    };
    run(&bad_op, &["sep_conv_4x4", "normal cell, gene 3"]);
    // Node 2 (genes 4 and 5) reads states 0..=3 only.
    let bad_input = DARTS_V2.replacen(
        "('sep_conv_3x3', 1), ('skip_connect', 0)",
        "('sep_conv_3x3', 7), ('skip_connect', 0)",
        1,
    );
    assert_ne!(bad_input, DARTS_V2);
    run(&bad_input, &["normal cell, node 2", "gene 4", "input 7"]);
    // A reduction-cell input out of range is reported for the reduce cell.
    let bad_reduce = DARTS_V2.replacen(
        "reduce=[('max_pool_3x3', 0)",
        "reduce=[('max_pool_3x3', 2)",
        1,
    );
    run(&bad_reduce, &["reduce cell, node 0", "input 2"]);
    // Broken syntax gets a line and column.
    let cut = &DARTS_V2[..DARTS_V2.len() - 30];
    run(cut, &["line 1, column"]);
    // NB201: an unknown operation and an input that does not exist.
    for (bad, needles) in [
        (
            "|nor_conv_3x3~0|+|nor_conv_5x5~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
            ["unknown operation 'nor_conv_5x5'", "node 2, entry 1"],
        ),
        (
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~4|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
            ["node 2, entry 2", "found ~4"],
        ),
    ] {
        fails_cleanly(
            &[
                "inspect",
                "--space",
                "nb201",
                "--genotype",
                bad,
                "--device",
                "cpu",
            ],
            &needles,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// data

#[test]
fn data_info_and_preview_on_the_bundled_default() {
    let v = json_ok(&["data", "info", "--json"]);
    assert_eq!(v["train"], 10_000, "{v}");
    assert_eq!(v["test"], 2_000, "{v}");
    assert_eq!(v["image_shape"], serde_json::json!([1, 28, 28]));
    assert_eq!(v["classes"].as_array().unwrap().len(), 10);
    assert_eq!(v["weight_half"], 5_000);
    assert_eq!(v["alpha_half"], 5_000);
    let hist: Vec<u64> = v["train_histogram"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_u64().unwrap())
        .collect();
    assert_eq!(hist.iter().sum::<u64>(), 10_000);
    assert_eq!(hist.len(), 10);

    let tmp = tempfile::tempdir().unwrap();
    let png = tmp.path().join("grid.png");
    let out = darts_pt(&["data", "preview", "--out", path_str(&png)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let img = image::open(&png).expect("a readable PNG");
    assert!(img.width() > 0 && img.height() > 0);
    // 64 images of 28 pixels in 8 columns: the grid is at least that large.
    assert!(
        img.width() >= 8 * 28 && img.height() >= 8 * 28,
        "{}x{}",
        img.width(),
        img.height()
    );
}

#[test]
fn bad_data_gives_clean_errors_that_name_the_file() {
    let tmp = tempfile::tempdir().unwrap();

    // A directory that does not exist.
    let missing = tmp.path().join("no-such-dataset");
    fails_cleanly(
        &["data", "info", path_str(&missing)],
        &["no-such-dataset", "no such file or directory"],
    );

    // A truncated CIFAR-10 binary batch: two records and a bit.
    let cifar = tmp.path().join("cifar");
    let batches = cifar.join("cifar-10-batches-bin");
    std::fs::create_dir_all(&batches).unwrap();
    std::fs::write(batches.join("data_batch_1.bin"), vec![1u8; 2 * 3073 + 100]).unwrap();
    fails_cleanly(
        &["data", "info", path_str(&cifar)],
        &[
            "data_batch_1.bin",
            "size 6246 is not a multiple of the 3073-byte record",
        ],
    );

    // An IDX image file with the label file's magic number.
    let idx = tmp.path().join("idx");
    std::fs::create_dir_all(&idx).unwrap();
    std::fs::write(
        idx.join("train-images-idx3-ubyte"),
        idx_bytes(0x0000_0802, &[2, 28, 28], &[0u8; 2 * 28 * 28]),
    )
    .unwrap();
    std::fs::write(
        idx.join("train-labels-idx1-ubyte"),
        idx_bytes(0x0000_0801, &[2], &[3, 4]),
    )
    .unwrap();
    fails_cleanly(
        &["data", "info", path_str(&idx)],
        &[
            "train-images-idx3-ubyte",
            "wrong IDX magic number 0x00000802, expected 0x00000803",
        ],
    );

    // An unknown dataset kind.
    fails_cleanly(
        &["data", "info", "--dataset", "nonsense"],
        &["unknown dataset kind 'nonsense'"],
    );

    // The same faults reach `search` as clean errors before any training, and leave no run
    // directory behind.
    let out_dir = tmp.path().join("search-out");
    fn search_on<'a>(data: &'a Path, out: &'a Path) -> [&'a str; 11] {
        [
            "search",
            "--space",
            "nb201",
            "--preset",
            "tiny",
            "--data",
            path_str(data),
            "--out",
            path_str(out),
            "--device",
            "cpu",
        ]
    }
    fails_cleanly(
        &search_on(&cifar, &out_dir),
        &["data_batch_1.bin", "not a multiple of the 3073-byte record"],
    );
    assert!(
        !out_dir.join("config.toml").exists(),
        "a failed search must not leave a run behind"
    );
    // So the corrected command can reuse the same --out.
    fails_cleanly(
        &search_on(&missing, &out_dir),
        &["no-such-dataset", "no such file or directory"],
    );
    assert!(!out_dir.join("config.toml").exists());
}

// ---------------------------------------------------------------------------------------------
// demo

/// A small Fashion-MNIST IDX dataset (the first `n` bundled training images), so the demo runs
/// its whole pipeline in seconds.
fn small_fashion_mnist(dir: &Path, n: usize) {
    let ds = darts_pt::data::Dataset::bundled();
    let size = ds.train.image_size();
    assert_eq!(size, 28 * 28);
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("train-images-idx3-ubyte"),
        idx_bytes(
            0x0000_0803,
            &[n as u32, 28, 28],
            &ds.train.images[..n * size],
        ),
    )
    .unwrap();
    let labels: Vec<u8> = ds.train.labels[..n].iter().map(|&l| l as u8).collect();
    std::fs::write(
        dir.join("train-labels-idx1-ubyte"),
        idx_bytes(0x0000_0801, &[n as u32], &labels),
    )
    .unwrap();
}

#[test]
fn demo_runs_end_to_end_and_prints_both_cells() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("fashion-small");
    small_fashion_mnist(&data, 200);
    let out_dir = tmp.path().join("demo");
    let out = darts_pt(&[
        "demo",
        "--preset",
        "tiny",
        "--epochs",
        "1",
        "--data",
        path_str(&data),
        "--out",
        path_str(&out_dir),
        "--device",
        "cpu",
    ]);
    let text = stdout(&out);
    assert!(
        out.status.success(),
        "demo failed:\n{text}\n{}",
        stderr(&out)
    );
    let cell = |label: &str| -> String {
        let line = text
            .lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("no '{label}' line in the demo output:\n{text}"));
        line[label.len()..].trim().to_string()
    };
    for label in ["magnitude:", "PT:"] {
        let g = cell(label);
        let parsed =
            darts_pt::genotype::Genotype::parse(&g).unwrap_or_else(|e| panic!("{label} {g}: {e}"));
        parsed
            .validate(&darts_pt::space::SpaceId::Nb201.space())
            .unwrap();
        assert_eq!(parsed.to_string(), g);
    }
    assert!(text.contains("PT (acc without the op)"), "{text}");
    // Both selections are recorded in the run directory, with the genotypes printed.
    let all = crate::common::selections(&out_dir);
    assert_eq!(
        all["magnitude"].genotype.as_deref(),
        Some(cell("magnitude:").as_str())
    );
    assert_eq!(all["pt"].genotype.as_deref(), Some(cell("PT:").as_str()));
    assert!(all["pt"].complete && all["pt"].op_decisions.len() == 6);
}

/// A finished run resumed with settings that would change it: refused, naming the flags, and
/// the run is left as it was (before, "resuming at epoch 1/1" and nothing done).
#[test]
fn resume_refuses_flags_that_would_change_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    crate::common::copy_dir(crate::common::tiny_nb201_run(), &run);
    let metrics = std::fs::read(run.join("metrics.jsonl")).unwrap();
    let err = fails_cleanly(
        &[
            "search",
            "--resume",
            path_str(&run),
            "--epochs",
            "4",
            "--seed",
            "3",
        ],
        &[
            "--epochs, --seed cannot change a resumed run",
            "config.toml",
        ],
    );
    assert!(err.contains("darts-pt search --config"), "{err}");
    assert_eq!(std::fs::read(run.join("metrics.jsonl")).unwrap(), metrics);
    fails_cleanly(
        &["train", "--resume", path_str(&run), "--batch-size", "8"],
        &[
            "--batch-size cannot change a resumed run",
            "darts-pt train --genotype",
        ],
    );
}

/// Waits up to 300 s for `done`, failing if `job` ends first.
fn wait_for(job: &mut std::process::Child, what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "no {what} after 300 s"
        );
        assert!(
            job.try_wait().unwrap().is_none(),
            "the job ended before {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Two processes on one run: while a search runs, a second `--resume` is refused with the
/// holder's process named, and a reader (magnitude selection) still works; after the first is
/// killed (SIGKILL, no cleanup), its lock is gone and the run resumes.
#[test]
fn a_run_being_written_refuses_a_second_writer_until_its_writer_dies() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let xdg = std::env::temp_dir().join("darts-pt-cli-xdg");
    std::fs::create_dir_all(&xdg).unwrap();
    let mut first = Command::new(env!("CARGO_BIN_EXE_darts-pt"))
        .args([
            "search", "--space", "nb201", "--preset", "tiny", "--device", "cpu",
        ])
        .args([
            "--train-images",
            "200",
            "--epochs",
            "1000",
            "--out",
            path_str(&run),
        ])
        .env("XDG_RUNTIME_DIR", &xdg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait for its first checkpoint (the end of epoch 1).
    wait_for(&mut first, "the first checkpoint", || {
        run.join("checkpoint.safetensors").exists()
    });
    let err = fails_cleanly(
        &["search", "--resume", path_str(&run), "--device", "cpu"],
        &[
            "is being written by another job",
            &format!("process {}", first.id()),
            "search",
        ],
    );
    assert!(!err.contains("resuming"), "{err}");
    let out = darts_pt(&["select", "--run", path_str(&run), "--method", "magnitude"]);
    assert!(out.status.success(), "{}", stderr(&out));
    first.kill().unwrap();
    first.wait().unwrap();
    // The lock file is still there, but nobody holds it.
    assert!(run.join(".lock").exists());
    let mut second = Command::new(env!("CARGO_BIN_EXE_darts-pt"))
        .args(["search", "--resume", path_str(&run), "--device", "cpu"])
        .env("XDG_RUNTIME_DIR", &xdg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // It runs: the run records a second start.
    let starts = || {
        std::fs::read_to_string(run.join("events.jsonl"))
            .unwrap()
            .matches("\"event\":\"started\"")
            .count()
    };
    wait_for(&mut second, "the resumed start", || starts() >= 2);
    second.kill().unwrap();
    second.wait().unwrap();
}

/// Sets `key` (a dotted path) in a run's config.toml, as a user would edit it.
fn edit_config(run: &Path, key: &str, value: f64) {
    let path = run.join("config.toml");
    let mut doc: toml::Table = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let (table, leaf) = match key.split_once('.') {
        Some((t, l)) => (doc[t].as_table_mut().unwrap(), l),
        None => (&mut doc, key),
    };
    table.insert(leaf.into(), toml::Value::Float(value));
    std::fs::write(&path, toml::to_string(&doc).unwrap()).unwrap();
}

/// A learning rate of 1e30 (forced through `--config`) makes the loss infinite: the job stops
/// with the epoch and step and how to go on (said once), the run says it diverged, and after the learning
/// rate is lowered in its config.toml, `--resume` finishes it.
#[test]
fn a_diverging_job_stops_and_resumes_with_a_smaller_learning_rate() {
    let tmp = tempfile::tempdir().unwrap();
    for (command, lr_key, good_lr) in [
        ("search", "weights.lr", 0.025),
        ("train", "optim.lr", 0.025),
    ] {
        let run = tmp.path().join(command);
        let config = tmp.path().join(format!("{command}.toml"));
        let table = lr_key.split_once('.').map(|(t, _)| format!("[{t}]\n"));
        let leaf = lr_key.rsplit('.').next().unwrap();
        std::fs::write(
            &config,
            format!("{}{leaf} = 1e30\n", table.unwrap_or_default()),
        )
        .unwrap();
        let mut args = vec![
            command, "--space", "nb201", "--preset", "tiny", "--device", "cpu",
        ];
        if command == "train" {
            args.extend(["--genotype", "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|"]);
        }
        args.extend([
            "--train-images",
            "256",
            "--epochs",
            "2",
            "--config",
            path_str(&config),
        ]);
        args.extend(["--out", path_str(&run)]);
        let err = fails_cleanly(
            &args,
            &[
                "the loss became NaN or infinite at epoch 1, step ",
                "lower the learning rate",
                &format!(
                    "error: the {} diverged",
                    if command == "train" {
                        "training"
                    } else {
                        "search"
                    }
                ),
                &format!("darts-pt {command} --resume {}", run.display()),
            ],
        );
        assert_eq!(err.matches("became NaN or infinite").count(), 1, "{err}");
        let status = crate::common::status(&run);
        assert_eq!(status.state, darts_pt::run::RunState::Diverged, "{err}");
        let events = std::fs::read_to_string(run.join("events.jsonl")).unwrap();
        assert!(events.contains("\"event\":\"diverged\""), "{events}");
        edit_config(&run, lr_key, good_lr);
        let out = darts_pt(&[command, "--resume", path_str(&run), "--device", "cpu"]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(
            crate::common::status(&run).state,
            darts_pt::run::RunState::Finished
        );
    }
}
