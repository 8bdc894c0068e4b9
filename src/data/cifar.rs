//! CIFAR-10 and CIFAR-100 in both official layouts: fixed-size binary records, and pickled
//! Python dicts holding a numpy array. Both store each image as 1024 red, 1024 green and 1024
//! blue bytes, which is already C×H×W, so pixels are copied without reordering.

use super::Loaded;
use super::error::{DataError, read_file};
use super::image_set::{ImageSet, concat};
use super::kind::{DatasetKind, Format};
use super::pickle::{PickleDict, int_list, string_list, u8_array};
use std::path::{Path, PathBuf};

const SIDE: usize = 32;
const PIXELS: usize = 3 * SIDE * SIDE;

/// Where one CIFAR layout lives and which files make it up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) dir: PathBuf,
    pub(crate) kind: DatasetKind,
    pub(crate) format: Format,
}

struct Spec {
    kind: DatasetKind,
    format: Format,
    /// The folder name of the official archive, which users may point at or at its parent.
    folder: &'static str,
    train: &'static [&'static str],
    test: &'static str,
    /// A file whose presence identifies the layout.
    marker: &'static str,
}

const SPECS: [Spec; 4] = [
    Spec {
        kind: DatasetKind::Cifar10,
        format: Format::CifarBinary,
        folder: "cifar-10-batches-bin",
        train: &[
            "data_batch_1.bin",
            "data_batch_2.bin",
            "data_batch_3.bin",
            "data_batch_4.bin",
            "data_batch_5.bin",
        ],
        test: "test_batch.bin",
        marker: "data_batch_1.bin",
    },
    Spec {
        kind: DatasetKind::Cifar100,
        format: Format::CifarBinary,
        folder: "cifar-100-binary",
        train: &["train.bin"],
        test: "test.bin",
        marker: "train.bin",
    },
    Spec {
        kind: DatasetKind::Cifar10,
        format: Format::CifarPython,
        folder: "cifar-10-batches-py",
        train: &[
            "data_batch_1",
            "data_batch_2",
            "data_batch_3",
            "data_batch_4",
            "data_batch_5",
        ],
        test: "test_batch",
        marker: "data_batch_1",
    },
    Spec {
        kind: DatasetKind::Cifar100,
        format: Format::CifarPython,
        folder: "cifar-100-python",
        train: &["train"],
        test: "test",
        marker: "meta",
    },
];

fn spec(layout: &Layout) -> &'static Spec {
    SPECS
        .iter()
        .find(|s| s.kind == layout.kind && s.format == layout.format)
        .unwrap_or(&SPECS[0])
}

/// The CIFAR layout in `dir` or in its official subfolder, optionally only of one kind.
pub(crate) fn find(dir: &Path, kind: Option<DatasetKind>) -> Option<Layout> {
    SPECS
        .iter()
        .filter(|s| kind.is_none_or(|k| k == s.kind))
        .find_map(|s| {
            [dir.to_path_buf(), dir.join(s.folder)]
                .into_iter()
                .find(|d| d.join(s.marker).is_file() && d.join(s.train[0]).is_file())
                .map(|d| Layout {
                    dir: d,
                    kind: s.kind,
                    format: s.format,
                })
        })
}

/// Reads every split of a layout. A missing training file is an error; a missing test file
/// means the dataset has no test split.
pub(crate) fn load(layout: &Layout) -> Result<Loaded, DataError> {
    let spec = spec(layout);
    let classes = classes(layout)?;
    let read = |name: &str| {
        let path = layout.dir.join(name);
        match layout.format {
            Format::CifarPython => read_python(&path, layout.kind, classes.len()),
            _ => read_binary(&path, layout.kind, classes.len()),
        }
    };
    let train = concat(
        spec.train
            .iter()
            .map(|name| read(name))
            .collect::<Result<Vec<_>, _>>()?,
    );
    let test = if layout.dir.join(spec.test).exists() {
        Some(read(spec.test)?)
    } else {
        None
    };
    Ok(Loaded {
        classes,
        train,
        test,
    })
}

/// Class names from the layout's metadata file when present, else the official list.
fn classes(layout: &Layout) -> Result<Vec<String>, DataError> {
    let defaults = layout.kind.default_classes();
    let (file, key) = match (layout.format, layout.kind) {
        (Format::CifarPython, DatasetKind::Cifar100) => ("meta", "fine_label_names"),
        (Format::CifarPython, _) => ("batches.meta", "label_names"),
        (_, DatasetKind::Cifar100) => ("fine_label_names.txt", ""),
        _ => ("batches.meta.txt", ""),
    };
    let path = layout.dir.join(file);
    if !path.is_file() {
        return Ok(defaults);
    }
    let bytes = read_file(&path)?;
    let names = if layout.format == Format::CifarPython {
        let mut dict = PickleDict::parse(&bytes, &path)?;
        string_list(dict.require(key, &path)?, key, &path)?
    } else {
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    };
    if names.len() != defaults.len() {
        return Err(DataError::malformed(
            &path,
            format!(
                "lists {} class names, expected {}",
                names.len(),
                defaults.len()
            ),
        ));
    }
    Ok(names)
}

/// One binary batch: records of label byte(s) then 3072 pixel bytes. CIFAR-100 records carry
/// the coarse label first; the fine label (the one the literature reports) is the second byte.
fn read_binary(path: &Path, kind: DatasetKind, classes: usize) -> Result<ImageSet, DataError> {
    parse_binary(&read_file(path)?, path, kind, classes)
}

/// [`read_binary`] on the file's bytes; `path` names it in errors.
pub(crate) fn parse_binary(
    bytes: &[u8],
    path: &Path,
    kind: DatasetKind,
    classes: usize,
) -> Result<ImageSet, DataError> {
    let label_bytes = if kind == DatasetKind::Cifar100 { 2 } else { 1 };
    let record = label_bytes + PIXELS;
    if !bytes.len().is_multiple_of(record) {
        return Err(DataError::RecordSize {
            path: path.to_path_buf(),
            size: bytes.len() as u64,
            record,
        });
    }
    let n = bytes.len() / record;
    let mut images = Vec::with_capacity(n * PIXELS);
    let mut labels = Vec::with_capacity(n);
    for (index, rec) in bytes.chunks_exact(record).enumerate() {
        let label = rec[label_bytes - 1];
        if label as usize >= classes {
            return Err(DataError::LabelOutOfRange {
                path: path.to_path_buf(),
                label: label as i64,
                index,
                classes,
            });
        }
        labels.push(label as u16);
        images.extend_from_slice(&rec[label_bytes..]);
    }
    Ok(ImageSet {
        images,
        labels,
        channels: 3,
        height: SIDE,
        width: SIDE,
    })
}

/// One pickled batch: a dict with `data` (uint8 N×3072) and `labels` / `fine_labels`.
fn read_python(path: &Path, kind: DatasetKind, classes: usize) -> Result<ImageSet, DataError> {
    parse_python(&read_file(path)?, path, kind, classes)
}

/// [`read_python`] on the file's bytes; `path` names it in errors.
pub(crate) fn parse_python(
    bytes: &[u8],
    path: &Path,
    kind: DatasetKind,
    classes: usize,
) -> Result<ImageSet, DataError> {
    let mut dict = PickleDict::parse(bytes, path)?;
    let label_key = if kind == DatasetKind::Cifar100 {
        "fine_labels"
    } else {
        "labels"
    };
    let labels = int_list(dict.require(label_key, path)?, label_key, path)?;
    let (shape, images) = u8_array(dict.require("data", path)?, "data", path)?;
    let rows = match shape.as_slice() {
        [n, PIXELS] => *n,
        [n, 3, SIDE, SIDE] => *n,
        _ => {
            return Err(DataError::malformed(
                path,
                format!("'data' has shape {shape:?}, expected (N, {PIXELS})"),
            ));
        }
    };
    if rows != labels.len() {
        return Err(DataError::CountMismatch {
            path: path.to_path_buf(),
            images: rows,
            labels: labels.len(),
        });
    }
    let labels = labels
        .iter()
        .enumerate()
        .map(|(index, &label)| {
            if (0..classes as i64).contains(&label) {
                Ok(label as u16)
            } else {
                Err(DataError::LabelOutOfRange {
                    path: path.to_path_buf(),
                    label,
                    index,
                    classes,
                })
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ImageSet {
        images,
        labels,
        channels: 3,
        height: SIDE,
        width: SIDE,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::pickle::tests::{Style, Writer};
    use super::*;

    /// `n` deterministic pseudo-random images and labels.
    pub(crate) fn sample(n: usize, classes: usize, salt: u32) -> ImageSet {
        let mut x = 0x9e37_79b9u32 ^ salt;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        let images = (0..n * PIXELS).map(|_| next() as u8).collect();
        let labels = (0..n).map(|_| (next() as usize % classes) as u16).collect();
        ImageSet {
            images,
            labels,
            channels: 3,
            height: SIDE,
            width: SIDE,
        }
    }

    pub(crate) fn binary_batch(set: &ImageSet, kind: DatasetKind) -> Vec<u8> {
        let mut out = Vec::new();
        for i in 0..set.len() {
            if kind == DatasetKind::Cifar100 {
                out.push((set.labels[i] / 5) as u8); // coarse label
            }
            out.push(set.labels[i] as u8);
            out.extend_from_slice(set.image(i));
        }
        out
    }

    pub(crate) fn python_batch(set: &ImageSet, kind: DatasetKind, style: Style) -> Vec<u8> {
        let mut w = Writer::new(style);
        let labels: Vec<i64> = set.labels.iter().map(|&l| l as i64).collect();
        w.begin_dict();
        w.key("batch_label");
        w.text("training batch 1 of 1");
        if kind == DatasetKind::Cifar100 {
            w.key("coarse_labels");
            w.int_list(&labels.iter().map(|l| l / 5).collect::<Vec<_>>());
            w.key("fine_labels");
        } else {
            w.key("labels");
        }
        w.int_list(&labels);
        w.key("data");
        w.u8_array(&[set.len(), PIXELS], &set.images);
        w.key("filenames");
        let names: Vec<String> = (0..set.len()).map(|i| format!("img_{i}.png")).collect();
        w.text_list(&names.iter().map(String::as_str).collect::<Vec<_>>());
        w.end_dict();
        w.finish()
    }

    fn python_meta(kind: DatasetKind, names: &[&str], style: Style) -> Vec<u8> {
        let mut w = Writer::new(style);
        w.begin_dict();
        if kind == DatasetKind::Cifar100 {
            w.key("fine_label_names");
            w.bytes_list(names);
            w.key("coarse_label_names");
            w.bytes_list(&["c"; 20]);
        } else {
            w.key("num_cases_per_batch");
            w.int(10000);
            w.key("label_names");
            w.bytes_list(names);
            w.key("num_vis");
            w.int(3072);
        }
        w.end_dict();
        w.finish()
    }

    /// Writes a full official layout under `root` and returns the train and test sets written.
    pub(crate) fn write_layout(
        root: &Path,
        kind: DatasetKind,
        format: Format,
        style: Style,
    ) -> (ImageSet, ImageSet) {
        let classes = kind.default_classes().len();
        let spec = SPECS
            .iter()
            .find(|s| s.kind == kind && s.format == format)
            .unwrap();
        let dir = root.join(spec.folder);
        std::fs::create_dir_all(&dir).unwrap();
        let names: Vec<String> = (0..classes).map(|c| format!("class{c}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut parts = Vec::new();
        for (i, file) in spec.train.iter().enumerate() {
            let part = sample(3 + i, classes, i as u32);
            let bytes = match format {
                Format::CifarPython => python_batch(&part, kind, style),
                _ => binary_batch(&part, kind),
            };
            std::fs::write(dir.join(file), bytes).unwrap();
            parts.push(part);
        }
        let test = sample(4, classes, 99);
        match format {
            Format::CifarPython => {
                std::fs::write(dir.join(spec.test), python_batch(&test, kind, style)).unwrap();
                let meta = if kind == DatasetKind::Cifar100 {
                    "meta"
                } else {
                    "batches.meta"
                };
                std::fs::write(dir.join(meta), python_meta(kind, &names, style)).unwrap();
            }
            _ => {
                std::fs::write(dir.join(spec.test), binary_batch(&test, kind)).unwrap();
                let meta = if kind == DatasetKind::Cifar100 {
                    "fine_label_names.txt"
                } else {
                    "batches.meta.txt"
                };
                std::fs::write(dir.join(meta), names.join("\n") + "\n\n").unwrap();
            }
        }
        (concat(parts), test)
    }

    fn check_round_trip(kind: DatasetKind, format: Format, style: Style) {
        let root = tempfile::tempdir().unwrap();
        let (train, test) = write_layout(root.path(), kind, format, style);
        let layout = find(root.path(), None).expect("layout found from the parent folder");
        assert_eq!((layout.kind, layout.format), (kind, format));
        // Pointing at the layout folder itself finds the same thing.
        assert_eq!(find(&layout.dir, Some(kind)), Some(layout.clone()));
        let loaded = load(&layout).unwrap();
        assert_eq!(loaded.train, train, "{kind} {format:?} {style:?}");
        assert_eq!(loaded.test, Some(test));
        assert_eq!(loaded.classes.len(), kind.default_classes().len());
        assert_eq!(
            loaded.classes[1], "class1",
            "names come from the metadata file"
        );
    }

    #[test]
    fn binary_layouts_round_trip() {
        check_round_trip(DatasetKind::Cifar10, Format::CifarBinary, Style::Python2);
        check_round_trip(DatasetKind::Cifar100, Format::CifarBinary, Style::Python2);
    }

    #[test]
    fn python_layouts_round_trip_in_every_pickle_dialect() {
        for style in [
            Style::Python2,
            Style::Python3Proto2,
            Style::Python3Proto4,
            Style::Python3Proto5,
        ] {
            check_round_trip(DatasetKind::Cifar10, Format::CifarPython, style);
            check_round_trip(DatasetKind::Cifar100, Format::CifarPython, style);
        }
    }

    #[test]
    fn binary_size_and_label_faults_name_the_file() {
        let root = tempfile::tempdir().unwrap();
        write_layout(
            root.path(),
            DatasetKind::Cifar10,
            Format::CifarBinary,
            Style::Python2,
        );
        let dir = root.path().join("cifar-10-batches-bin");
        let first = dir.join("data_batch_1.bin");
        std::fs::write(&first, vec![0u8; 3000]).unwrap();
        let layout = find(root.path(), None).unwrap();
        let err = load(&layout).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}: size 3000 is not a multiple of the 3073-byte record",
                first.display()
            )
        );

        let mut records = binary_batch(&sample(7, 10, 1), DatasetKind::Cifar10);
        records[5 * 3073] = 12;
        std::fs::write(&first, records).unwrap();
        let err = load(&layout).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}: label 12 at record 5 is out of range for 10 classes",
                first.display()
            )
        );

        let third = dir.join("data_batch_3.bin");
        std::fs::write(
            &first,
            binary_batch(&sample(2, 10, 1), DatasetKind::Cifar10),
        )
        .unwrap();
        std::fs::remove_file(&third).unwrap();
        let err = load(&layout).unwrap_err().to_string();
        assert_eq!(
            err,
            format!("{}: no such file or directory", third.display())
        );
    }

    #[test]
    fn corrupted_pickles_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data_batch_1");
        let mut x = 12345u32;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as usize
        };
        for style in [Style::Python2, Style::Python3Proto2, Style::Python3Proto5] {
            let good = python_batch(&sample(2, 10, 1), DatasetKind::Cifar10, style);
            // Damage the structure, not the pixels: flip bytes outside the big data payload.
            let structural: Vec<usize> = (0..good.len())
                .filter(|&i| i < 400 || i > good.len() - 200)
                .collect();
            for _ in 0..400 {
                let mut bad = good.clone();
                for _ in 0..1 + next() % 3 {
                    let at = structural[next() % structural.len()];
                    bad[at] = next() as u8;
                }
                std::fs::write(&path, &bad).unwrap();
                // Any outcome but a panic is acceptable; damage may happen to be harmless.
                let _ = read_python(&path, DatasetKind::Cifar10, 10);
            }
        }
    }

    #[test]
    fn python_faults_are_errors_not_panics() {
        let root = tempfile::tempdir().unwrap();
        write_layout(
            root.path(),
            DatasetKind::Cifar10,
            Format::CifarPython,
            Style::Python3Proto4,
        );
        let layout = find(root.path(), None).unwrap();
        let first = layout.dir.join("data_batch_1");
        let good = python_batch(&sample(3, 10, 0), DatasetKind::Cifar10, Style::Python2);
        // Every truncation of a valid pickle must fail cleanly.
        for cut in (0..good.len()).step_by(97) {
            std::fs::write(&first, &good[..cut]).unwrap();
            let err = load(&layout).unwrap_err();
            assert!(
                err.to_string().starts_with(&first.display().to_string()),
                "{err}"
            );
        }
        // Labels that disagree with the number of rows.
        let mut short = sample(3, 10, 0);
        short.labels.pop();
        let mut w = Writer::new(Style::Python2);
        w.begin_dict();
        w.key("labels");
        w.int_list(&[1, 2]);
        w.key("data");
        w.u8_array(&[3, PIXELS], &short.images);
        w.end_dict();
        std::fs::write(&first, w.finish()).unwrap();
        let err = load(&layout).unwrap_err().to_string();
        assert_eq!(err, format!("{}: 3 images but 2 labels", first.display()));
        // A dict without data.
        let mut w = Writer::new(Style::Python2);
        w.begin_dict();
        w.key("labels");
        w.int_list(&[1]);
        w.end_dict();
        std::fs::write(&first, w.finish()).unwrap();
        let err = load(&layout).unwrap_err().to_string();
        assert_eq!(
            err,
            format!("{}: the pickled dict has no 'data'", first.display())
        );
    }

    /// A pickle whose array claims a billion images, or whose byte string claims a terabyte, is
    /// refused with the file named, without memory reserved for the claim.
    #[test]
    fn pickles_that_claim_more_than_the_file_holds_are_refused_without_allocating() {
        let path = Path::new("data_batch_1");
        for style in [Style::Python2, Style::Python3Proto4, Style::Python3Proto5] {
            let mut w = Writer::new(style);
            w.begin_dict();
            w.key("labels");
            w.int_list(&[1]);
            w.key("data");
            w.u8_array(&[1_000_000_000, PIXELS], &[0; PIXELS]);
            w.end_dict();
            let err = parse_python(&w.finish(), path, DatasetKind::Cifar10, 10).unwrap_err();
            assert_eq!(
                err.to_string(),
                "data_batch_1: 'data' has shape [1000000000, 3072] but 3072 data bytes; \
                 expected a uint8 array"
            );
        }
        // BINBYTES8 claiming 2^40 bytes, followed by three.
        let mut claim = vec![0x80, 4, 0x8e];
        claim.extend_from_slice(&(1u64 << 40).to_le_bytes());
        claim.extend_from_slice(b"abc");
        let err = parse_python(&claim, path, DatasetKind::Cifar10, 10).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("data_batch_1: cannot read the pickle"),
            "{err}"
        );
    }
}
