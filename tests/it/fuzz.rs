//! The fuzz targets (`darts_pt::fuzz`) in every test run: each on its committed corpus
//! (`fuzz/corpus/NAME/`: seeds and the inputs of every crash found, kept as regressions) and on
//! a fixed number of mutations of it. The coverage-guided search runs under libFuzzer
//! (`fuzz/README.md`); this keeps every target and every past crash exercised in CI.

use std::path::{Path, PathBuf};

use darts_pt::fuzz::TARGETS;

/// Mutations per target and test run: a fixed count (seconds in all), or with
/// `DARTS_PT_FUZZ_SECONDS=S` as many as fit in S seconds, with the count printed (a long run
/// without libFuzzer: `it fuzz:: --test-threads 1 --nocapture`; see [`rng`] for more than one).
fn budget() -> (usize, Option<std::time::Duration>) {
    match std::env::var("DARTS_PT_FUZZ_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        Some(s) => (usize::MAX, Some(std::time::Duration::from_secs(s))),
        None => (3000, None),
    }
}

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (the seed corpus is committed)", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: no seeds", dir.display());
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

/// A small deterministic generator (xorshift), so a failure reproduces.
struct Rng(u64);

/// The generator of `target`'s mutations: a fixed sequence, another one for each
/// `DARTS_PT_FUZZ_SEED=N` (so that long runs need not repeat each other).
fn rng(target: &str) -> Rng {
    let seed: u64 = std::env::var("DARTS_PT_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let name = target
        .bytes()
        .fold(0u64, |h, b| h.rotate_left(5) ^ b as u64);
    Rng((0x9e37_79b9_7f4a_7c15 ^ name).wrapping_add(seed.wrapping_mul(0x2545_f491_4f6c_dd1d)) | 1)
}

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// Values that break size fields: zero, one, sign bits, all ones, 2^31.
const INTERESTING: [u32; 6] = [0, 1, 0x7f, 0x8000_0000, 0x7fff_ffff, 0xffff_ffff];

/// One to four edits of `seed`: a bit flip, an interesting 32-bit value (big or little
/// endian), a byte inserted or deleted, a range duplicated, or a splice with `other`.
fn mutate(seed: &[u8], other: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(b.len() + 1);
        match rng.below(6) {
            0 if !b.is_empty() => {
                let i = at.min(b.len() - 1);
                b[i] ^= 1 << rng.below(8);
            }
            1 if b.len() >= 4 => {
                let i = at.min(b.len() - 4);
                let v = INTERESTING[rng.below(INTERESTING.len())];
                let bytes = match rng.below(2) {
                    0 => v.to_be_bytes(),
                    _ => v.to_le_bytes(),
                };
                b[i..i + 4].copy_from_slice(&bytes);
            }
            2 => b.insert(at, rng.below(256) as u8),
            3 if at < b.len() => {
                let end = (at + 1 + rng.below(16)).min(b.len());
                b.drain(at..end);
            }
            4 if at < b.len() => {
                let end = (at + 1 + rng.below(64)).min(b.len());
                let copy = b[at..end].to_vec();
                b.splice(at..at, copy);
            }
            _ => {
                let from = rng.below(other.len() + 1);
                b.truncate(at);
                b.extend_from_slice(&other[from..]);
            }
        }
    }
    b
}

/// Runs `target` on its corpus and its mutations; a panic fails the test and leaves the input
/// in the target directory for `cargo fuzz run NAME FILE`.
fn exercise(name: &str) {
    let run = TARGETS.iter().find(|t| t.0 == name).unwrap().1;
    let seeds = corpus(name);
    let failed = |input: &[u8], what: &str| -> ! {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fuzz-crash-{name}"));
        std::fs::write(&out, input).unwrap();
        panic!(
            "fuzz target {name} panicked on {what}; input saved to {}",
            out.display()
        );
    };
    for (path, bytes) in &seeds {
        if std::panic::catch_unwind(|| run(bytes)).is_err() {
            failed(bytes, &path.display().to_string());
        }
    }
    let mut rng = rng(name);
    let (count, time) = budget();
    let start = std::time::Instant::now();
    for i in 0..count {
        if time.is_some_and(|t| start.elapsed() > t) {
            println!(
                "fuzz {name}: {i} mutations in {:.0} s, no crash",
                start.elapsed().as_secs_f64()
            );
            break;
        }
        let seed = &seeds[rng.below(seeds.len())].1;
        let other = &seeds[rng.below(seeds.len())].1;
        let input = mutate(seed, other, &mut rng);
        if std::panic::catch_unwind(|| run(&input)).is_err() {
            failed(&input, &format!("mutation {i}"));
        }
    }
}

#[test]
fn every_target_has_a_test_and_a_libfuzzer_entry() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let cargo = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    for (name, _) in TARGETS {
        let target = root.join("fuzz_targets").join(format!("{name}.rs"));
        let source = std::fs::read_to_string(&target)
            .unwrap_or_else(|e| panic!("{}: {e}", target.display()));
        assert!(
            source.contains(&format!("darts_pt::fuzz::{name}(")),
            "{}",
            target.display()
        );
        assert!(
            cargo.contains(&format!("name = \"{name}\"")),
            "fuzz/Cargo.toml lacks {name}"
        );
    }
}

macro_rules! targets {
    ($($name:ident),* $(,)?) => {
        $(#[test]
        fn $name() {
            exercise(stringify!($name));
        })*

        #[test]
        fn every_target_is_exercised() {
            let tested = [$(stringify!($name)),*];
            for (name, _) in TARGETS {
                assert!(tested.contains(name), "no test runs the fuzz target {name}");
            }
        }
    };
}

targets!(
    genotype,
    nb201_arch,
    idx,
    cifar_binary,
    cifar_python,
    image,
    config,
    checkpoint,
    pytorch_checkpoint,
    nb201_csv,
    run_records,
);
