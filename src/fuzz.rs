//! Every parser of outside input, driven from raw bytes: the fuzz targets. `fuzz/` runs them
//! under libFuzzer (`cargo fuzz run NAME`), and `tests/it/fuzz.rs` runs them in every test run
//! on the committed corpora (`fuzz/corpus/NAME/`) and on mutations of them.
//!
//! A target may return any error; it must never panic, hang or allocate without bound, and
//! what it accepts must hold the invariants checked here (a parsed genotype prints back to
//! itself, a dataset's pixel count matches its labels, ...).

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use crate::checkpoint::Checkpoint;
use crate::config::layers::{PtFlags, RunFlags, SearchFlags};
use crate::config::{PtConfig, SearchConfig, TrainConfig};
use crate::data::DatasetKind;
use crate::data::ImageSet;
use crate::genotype::{Genotype, Nb201Genotype};
use crate::lookup::Nb201Table;
use crate::run::{
    AlphaRecord, DirEntry, Files, MetricsRecord, RunEvent, RunReader, RunRecord, parse_jsonl,
};

/// A fuzz target: it takes any bytes and panics only on a fault.
pub type Target = fn(&[u8]);

/// The targets by name, as `fuzz/fuzz_targets/NAME.rs` and the corpus folders name them.
pub const TARGETS: &[(&str, Target)] = &[
    ("genotype", genotype),
    ("nb201_arch", nb201_arch),
    ("idx", idx),
    ("cifar_binary", cifar_binary),
    ("cifar_python", cifar_python),
    ("image", image),
    ("config", config),
    ("checkpoint", checkpoint),
    ("pytorch_checkpoint", pytorch_checkpoint),
    ("nb201_csv", nb201_csv),
    ("run_records", run_records),
];

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// Genotype text in any form a user pastes (Python `Genotype(...)`, NB201 string, JSON).
pub fn genotype(data: &[u8]) {
    let Some(t) = text(data) else { return };
    if let Ok(g) = Genotype::parse(t) {
        let printed = g.to_string();
        let again = Genotype::parse(&printed)
            .unwrap_or_else(|e| panic!("{printed:?} does not parse back: {e}"));
        assert_eq!(again, g, "{printed:?} parses back to another genotype");
    }
}

/// An NB201 architecture string.
pub fn nb201_arch(data: &[u8]) {
    let Some(t) = text(data) else { return };
    if let Ok(g) = Nb201Genotype::parse_arch(t) {
        let printed = g.to_arch_string();
        assert_eq!(
            Nb201Genotype::parse_arch(&printed).ok(),
            Some(g),
            "{printed}"
        );
    }
}

/// A dataset's pixels are its labels times the image size.
fn check(set: &ImageSet, classes: usize) {
    let size = set.channels * set.height * set.width;
    assert_eq!(set.images.len(), set.labels.len() * size);
    assert!(set.labels.iter().all(|&l| (l as usize) < classes));
}

/// An IDX images file and labels file (either gzipped): the first byte says where the input
/// splits into the two.
pub fn idx(data: &[u8]) {
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let (images, labels) = rest.split_at(cut as usize * rest.len() / 256);
    let (ip, lp) = (
        Path::new("images-idx3-ubyte"),
        Path::new("labels-idx1-ubyte"),
    );
    if let Ok(set) =
        crate::data::idx::image_set_from_bytes(images.to_vec(), ip, labels.to_vec(), lp, 10)
    {
        check(&set, 10);
    }
}

/// CIFAR-10 or CIFAR-100 (and its classes), as the input's first byte picks, and the rest.
fn cifar_kind(data: &[u8]) -> Option<(DatasetKind, usize, &[u8])> {
    let (&kind, rest) = data.split_first()?;
    Some(match kind & 1 {
        0 => (DatasetKind::Cifar10, 10, rest),
        _ => (DatasetKind::Cifar100, 100, rest),
    })
}

/// A CIFAR binary batch; the first byte picks CIFAR-10 or CIFAR-100 records.
pub fn cifar_binary(data: &[u8]) {
    let Some((kind, classes, rest)) = cifar_kind(data) else {
        return;
    };
    let path = Path::new("data_batch_1.bin");
    if let Ok(set) = crate::data::cifar::parse_binary(rest, path, kind, classes) {
        check(&set, classes);
    }
}

/// A CIFAR Python (pickled) batch; the first byte picks CIFAR-10 or CIFAR-100 keys.
pub fn cifar_python(data: &[u8]) {
    let Some((kind, classes, rest)) = cifar_kind(data) else {
        return;
    };
    let path = Path::new("data_batch_1");
    if let Ok(set) = crate::data::cifar::parse_python(rest, path, kind, classes) {
        check(&set, classes);
    }
}

/// One image of an image-folder dataset (PNG or JPEG, told by content).
pub fn image(data: &[u8]) {
    if let Ok(img) = crate::data::folder::decode(data, Path::new("class/image.png")) {
        assert!(img.width() <= 4096 && img.height() <= 4096);
    }
}

/// A settings file, as `--config` reads it for a search, a retraining and a selection, and as
/// `--resume` reads a run's own.
pub fn config(data: &[u8]) {
    let path = scratch_file("toml");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let _ = SearchConfig::resolve(Some(&path), &SearchFlags::default());
    let _ = TrainConfig::resolve(Some(&path), &RunFlags::default(), None);
    let _ = PtConfig::resolve(&PtConfig::default(), Some(&path), &PtFlags::default());
    if let Some(t) = text(data)
        && let Ok(cfg) = toml::from_str::<SearchConfig>(t)
    {
        let _ = cfg.validate();
    }
}

/// A file of this process's own under the temporary directory.
fn scratch_file(ext: &str) -> PathBuf {
    std::env::temp_dir().join(format!("darts-pt-fuzz-{}.{ext}", std::process::id()))
}

/// A checkpoint file (safetensors with darts-pt's state and checksum).
pub fn checkpoint(data: &[u8]) {
    if let Ok(c) = Checkpoint::from_bytes(data, Path::new("checkpoint.safetensors")) {
        for t in c.tensors.values() {
            assert_eq!(t.as_bytes().len(), t.num_elements() * t.dtype().size());
        }
    }
}

/// A PyTorch checkpoint as `import pytorch` reads it (burn's reader; torch.save's ZIP and
/// legacy layouts, safetensors). The reader takes a path, so the bytes go through a file of
/// this thread's own.
pub fn pytorch_checkpoint(data: &[u8]) {
    let path = std::env::temp_dir().join(format!(
        "darts-pt-fuzz-{}-{:?}.pt",
        std::process::id(),
        std::thread::current().id()
    ));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Ok(c) = crate::interop::official::OfficialCheckpoint::read(&path, None) {
        for t in c.state_dict.values() {
            if let Some(d) = &t.data {
                assert_eq!(d.num_elements(), t.shape.iter().product::<usize>());
            }
        }
    }
    let _ = std::fs::remove_file(&path);
}

/// An NAS-Bench-201 results table.
pub fn nb201_csv(data: &[u8]) {
    let Some(t) = text(data) else { return };
    if let Ok(table) = Nb201Table::from_csv(t, Path::new("nb201.csv")) {
        assert!(!table.is_empty());
        for e in table.entries() {
            assert!(e.rank_cifar10 >= 1 && e.rank_cifar10 <= table.len());
        }
    }
}

/// A run directory's records as the studio and the CLI read them: the input is split at NUL
/// bytes into config.toml, run.json, metrics.jsonl, alpha.jsonl, events.jsonl,
/// selection.json and result.json.
pub fn run_records(data: &[u8]) {
    const NAMES: [&str; 7] = [
        "config.toml",
        "run.json",
        "metrics.jsonl",
        "alpha.jsonl",
        "events.jsonl",
        "selection.json",
        "result.json",
    ];
    let root = Path::new("run");
    let files = MemoryFiles(
        NAMES
            .iter()
            .zip(data.split(|&b| b == 0))
            .map(|(name, bytes)| (root.join(name), bytes.to_vec()))
            .collect(),
    );
    let record = RunRecord::load(&files, root);
    let _ = record.summary();
    let reader = RunReader::new(&files, root);
    let _ = reader.check_format();
    let _ = reader.selections();
    let _ = reader.result();
    let _ = parse_jsonl::<RunEvent>(&files.get(&root.join("events.jsonl")));
    let _ = parse_jsonl::<MetricsRecord>(&files.get(&root.join("metrics.jsonl")));
    let _ = parse_jsonl::<AlphaRecord>(&files.get(&root.join("alpha.jsonl")));
}

/// A run directory held in memory.
struct MemoryFiles(BTreeMap<PathBuf, Vec<u8>>);

impl MemoryFiles {
    fn get(&self, path: &Path) -> Vec<u8> {
        self.0.get(path).cloned().unwrap_or_default()
    }
}

impl Files for MemoryFiles {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.0
            .get(path)
            .cloned()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    fn exists(&self, path: &Path) -> bool {
        self.0.contains_key(path) || self.0.keys().any(|k| k.starts_with(path))
    }

    fn list(&self, _dir: &Path) -> io::Result<Vec<DirEntry>> {
        Ok(Vec::new())
    }

    fn write(&self, _path: &Path, _bytes: &[u8]) -> io::Result<()> {
        Ok(())
    }
}

/// The seed corpora: small valid inputs of every format, built with the writers the unit tests
/// check the readers against, and the inputs of past faults (kept as regressions). `cargo test --release --lib write_fuzz_seeds -- --ignored` writes
/// them to `fuzz/corpus/` (committed; `run_records`' seeds come from a real run and
/// `pytorch_checkpoint`'s from torch itself, see `fuzz/README.md`).
#[cfg(test)]
mod seeds {
    use std::path::Path;

    use crate::config::{Method, Preset, PtConfig, SearchConfig, TrainConfig};
    use crate::data::DatasetKind;
    use crate::data::cifar::tests::{binary_batch, python_batch, sample};
    use crate::data::pickle::tests::{Style, Writer};
    use crate::space::{Family, SpaceId};

    fn put(target: &str, name: &str, bytes: &[u8]) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus")
            .join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
        // Each seed goes through its target once before it is kept.
        let run = super::TARGETS.iter().find(|t| t.0 == target).unwrap().1;
        run(bytes);
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn idx(magic: u32, dims: &[u32], payload: &[u8]) -> Vec<u8> {
        let mut out = magic.to_be_bytes().to_vec();
        dims.iter().for_each(|d| out.extend(d.to_be_bytes()));
        out.extend_from_slice(payload);
        out
    }

    #[test]
    #[ignore = "writes fuzz/corpus/; run by hand when a format changes"]
    fn write_fuzz_seeds() {
        let v2 = crate::genotype::samples::DARTS_V2;
        let nb = crate::genotype::samples::NB201_SAMPLE;
        put("genotype", "darts-v2.txt", v2.as_bytes());
        put(
            "genotype",
            "s5-range-concat.txt",
            crate::genotype::samples::S5[0].as_bytes(),
        );
        put("genotype", "nb201.txt", nb.as_bytes());
        let g = crate::genotype::Genotype::parse(v2).unwrap();
        put(
            "genotype",
            "darts-v2.json",
            serde_json::to_string(&g).unwrap().as_bytes(),
        );
        put("genotype", "nb201.json", format!("\"{nb}\"").as_bytes());
        put("nb201_arch", "sample.txt", nb.as_bytes());
        put(
            "nb201_arch",
            "all-none.txt",
            b"|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        );

        let pixels: Vec<u8> = (0..3 * 4 * 4).map(|i| (i * 37) as u8).collect();
        let images = idx(0x0803, &[3, 4, 4], &pixels);
        let labels = idx(0x0801, &[3], &[0, 9, 4]);
        let pair = |a: &[u8], b: &[u8]| {
            // The first byte puts the cut where the labels file starts.
            let rest = a.len() + b.len();
            let cut = (a.len() * 256).div_ceil(rest) as u8;
            [&[cut][..], a, b].concat()
        };
        put("idx", "plain.bin", &pair(&images, &labels));
        put("idx", "gzipped.bin", &pair(&gzip(&images), &gzip(&labels)));
        // Headers that claim more than their file holds (2^31 images): refused before memory
        // is reserved for them.
        let claim = idx(0x0803, &[1 << 31, 28, 28], &pixels);
        put("idx", "claims-2e31-images.bin", &pair(&claim, &labels));
        put(
            "idx",
            "claims-2e31-images-gzipped.bin",
            &pair(&gzip(&claim), &gzip(&labels)),
        );

        let kinds = [
            (DatasetKind::Cifar10, "cifar10", 0u8, 10),
            (DatasetKind::Cifar100, "cifar100", 1, 100),
        ];
        for (kind, kind_name, k, classes) in kinds {
            let set = sample(2, classes, 7);
            let name = format!("{kind_name}.bin");
            put(
                "cifar_binary",
                &name,
                &[&[k][..], &binary_batch(&set, kind)].concat(),
            );
            for style in [Style::Python2, Style::Python3Proto4, Style::Python3Proto5] {
                let name = format!("{kind_name}-{style:?}.pickle");
                let bytes = [&[k][..], &python_batch(&set, kind, style)].concat();
                put("cifar_python", &name, &bytes);
            }
        }
        // An array that claims a billion images with the bytes of one.
        let mut w = Writer::new(Style::Python3Proto4);
        w.begin_dict();
        w.key("labels");
        w.int_list(&[1]);
        w.key("data");
        w.u8_array(&[1_000_000_000, 3072], &[0; 3072]);
        w.end_dict();
        let bytes = [&[0][..], &w.finish()].concat();
        put("cifar_python", "claims-a-billion-images.pickle", &bytes);

        let mut png = Vec::new();
        let rgb =
            image::RgbImage::from_fn(6, 5, |x, y| image::Rgb([x as u8 * 40, y as u8 * 50, 7]));
        rgb.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        put("image", "rgb.png", &png);
        let mut jpeg = Vec::new();
        rgb.write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
        put("image", "rgb.jpg", &jpeg);
        let mut gray = Vec::new();
        image::GrayImage::from_fn(4, 4, |x, y| image::Luma([(x * 60 + y) as u8]))
            .write_to(
                &mut std::io::Cursor::new(&mut gray),
                image::ImageFormat::Png,
            )
            .unwrap();
        put("image", "gray.png", &gray);

        let search = SearchConfig::preset(SpaceId::Nb201, Method::Darts, Preset::Tiny);
        put(
            "config",
            "search-nb201-tiny.toml",
            search.to_toml().as_bytes(),
        );
        let search = SearchConfig::preset(SpaceId::S2, Method::SdartsRs, Preset::Laptop);
        put(
            "config",
            "search-s2-sdarts.toml",
            search.to_toml().as_bytes(),
        );
        let train = TrainConfig::preset(SpaceId::Darts, Preset::Paper);
        put("config", "train-darts.toml", train.to_toml().as_bytes());
        let pt = toml::to_string(&toml::toml! { [pt] }).unwrap()
            + &toml::to_string(&PtConfig::preset(Preset::Tiny, Family::Darts)).unwrap();
        put("config", "pt.toml", pt.as_bytes());

        let mut c = crate::checkpoint::Checkpoint::default();
        let w = burn::tensor::TensorData::new(vec![1.0f32, -2.0, 0.5, 3.0], [2, 2]);
        c.tensors.insert("net.w".into(), w);
        let step = burn::tensor::TensorData::new(vec![3i64], [1]);
        c.tensors.insert("opt.step".into(), step);
        c.state = serde_json::json!({"epoch": 1, "step": 0, "elapsed": 2.5});
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("c.safetensors");
        c.save(&path).unwrap();
        put(
            "checkpoint",
            "small.safetensors",
            &std::fs::read(&path).unwrap(),
        );

        let header = "CIFAR10TestAccuracy200Epochs,CIFAR100TestAccuracy200Epochs,ImageNetTestAccuracy200Epochs,ArchitectureString";
        let csv = format!(
            "{header}\n93.5,70.1,44.2,{nb}\n54.3,15.6,16.3,|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|\n"
        );
        put("nb201_csv", "two-rows.csv", csv.as_bytes());
        let pandas = format!(",{header},Note\n0,93.5,70.1,44.2,\"{nb}\",\"cell, from pandas\"\n");
        put("nb201_csv", "pandas.csv", pandas.as_bytes());
    }
}
