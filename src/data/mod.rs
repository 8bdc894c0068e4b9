//! Image classification data for the search: readers for the standard datasets, a bundled
//! default, the weight/alpha search split, augmentation, batching with a prefetching worker,
//! summaries, previews and downloads.
//!
//! Images stay u8 N×C×H×W in memory; only batches become f32. Every random choice is a pure
//! function of a seed derived from (run seed, stream, epoch, step), so a run resumes exactly
//! from its epoch and step.

mod augment;
mod bundled;
pub(crate) mod cifar;
#[cfg(not(target_arch = "wasm32"))]
mod download;
mod error;
pub(crate) mod folder;
pub(crate) mod idx;
mod image_set;
mod info;
mod kind;
pub(crate) mod pickle;
mod prefetch;
mod preview;
mod sampling;

pub use augment::{Augment, Batch, make_batch};
#[cfg(not(target_arch = "wasm32"))]
pub use download::download;
pub use error::DataError;
pub use image_set::ImageSet;
pub use info::{DataInfo, info, render_text};
pub use kind::{DatasetKind, Format, Normalize};
pub use prefetch::{BatchRequest, Prefetcher};
pub use preview::preview;
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use preview::{draw_text, text_width};
pub use sampling::{epoch_permutation, random_sample, search_split, stream_seed};

use std::path::Path;

/// A dataset ready for training: images, class names, and how to normalise and augment them.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Human-readable name, e.g. "CIFAR-10".
    pub name: String,
    pub kind: DatasetKind,
    pub format: Format,
    /// The path it was read from, or "bundled".
    pub source: String,
    /// Class names, indexed by label.
    pub classes: Vec<String>,
    pub train: ImageSet,
    pub test: Option<ImageSet>,
    /// The normalisation batches use: the dataset's standard constants, or for image folders
    /// the statistics of the training images.
    pub normalize: Normalize,
    /// Whether random horizontal flips are label-preserving for this data.
    pub hflip: bool,
}

/// What a reader produces, before the dataset-level facts are attached.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub(crate) classes: Vec<String>,
    pub(crate) train: ImageSet,
    pub(crate) test: Option<ImageSet>,
}

impl Dataset {
    /// [`Self::open`] with the layout named as a user names it (`--dataset`, `data.dataset`).
    pub fn open_named(path: Option<&Path>, kind: Option<&str>) -> Result<Dataset, DataError> {
        Dataset::open(path, kind.map(str::parse).transpose()?)
    }

    /// Opens the dataset at `path` (a dataset folder or a file inside one), detecting its layout
    /// unless `kind` says what to expect; with no path, the bundled Fashion-MNIST subset.
    pub fn open(path: Option<&Path>, kind: Option<DatasetKind>) -> Result<Dataset, DataError> {
        let Some(path) = path else {
            return match kind {
                None | Some(DatasetKind::FashionMnist) => Ok(Dataset::bundled()),
                Some(other) => Err(DataError::NotADataset {
                    path: "bundled".into(),
                    message: format!(
                        "the bundled data is Fashion-MNIST; give a path to read {other}"
                    ),
                }),
            };
        };
        if !path.exists() {
            return Err(DataError::NotFound {
                path: path.to_path_buf(),
            });
        }
        let dir = if path.is_file() {
            path.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
        } else {
            path
        };
        let source = path.display().to_string();
        // `find` only looks for CIFAR layouts of the requested kind, if one was given.
        if let Some(layout) = cifar::find(dir, kind) {
            let loaded = cifar::load(&layout)?;
            return finish(loaded, layout.kind, layout.format, source, None);
        }
        if kind.is_none_or(|k| matches!(k, DatasetKind::Mnist | DatasetKind::FashionMnist)) {
            let idx_dir = [dir.to_path_buf(), dir.join("raw")]
                .into_iter()
                .find(|d| idx::find_split(d, "train").is_some());
            if let Some(idx_dir) = idx_dir {
                let kind = kind.unwrap_or_else(|| idx_kind_from_path(dir));
                let loaded = read_idx_dir(&idx_dir, kind)?;
                return finish(loaded, kind, Format::Idx, source, None);
            }
        }
        if kind == Some(DatasetKind::Folder) || (kind.is_none() && folder::looks_like(dir)) {
            let loaded = folder::load(dir)?;
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| source.clone());
            return finish(
                loaded,
                DatasetKind::Folder,
                Format::ImageFolder,
                source,
                Some(name),
            );
        }
        let message = match kind {
            None => "no CIFAR batches, IDX files or class folders found".to_string(),
            Some(k @ (DatasetKind::Cifar10 | DatasetKind::Cifar100)) => {
                let n = if k == DatasetKind::Cifar10 { "10" } else { "100" };
                format!(
                    "no {} files (expected the official binary or python layout, e.g. a cifar-{n}-* folder)",
                    k.display_name()
                )
            }
            Some(_) => "no IDX files (expected train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz])".to_string(),
        };
        Err(DataError::NotADataset {
            path: path.to_path_buf(),
            message,
        })
    }

    /// The Fashion-MNIST subset compiled into the binary.
    pub fn bundled() -> Dataset {
        // The embedded bytes are fixed at build time and checked by the tests, so a failure
        // here is a build defect, not bad input.
        let loaded = bundled::load().expect("the bundled dataset decodes");
        let mut ds = finish(
            loaded,
            DatasetKind::FashionMnist,
            Format::Bundled,
            "bundled".into(),
            None,
        )
        .expect("the bundled dataset is consistent");
        ds.name = "Fashion-MNIST (bundled subset)".into();
        ds
    }

    pub fn num_classes(&self) -> usize {
        self.classes.len()
    }

    /// Shape of one image, [C, H, W].
    pub fn image_shape(&self) -> [usize; 3] {
        [self.train.channels, self.train.height, self.train.width]
    }
}

/// MNIST when the path says so (and does not say Fashion), otherwise Fashion-MNIST, the default
/// IDX dataset of this project.
fn idx_kind_from_path(dir: &Path) -> DatasetKind {
    let full = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let text = format!("{} {}", dir.display(), full.display()).to_lowercase();
    if text.contains("mnist") && !text.contains("fashion") {
        DatasetKind::Mnist
    } else {
        DatasetKind::FashionMnist
    }
}

fn read_idx_dir(dir: &Path, kind: DatasetKind) -> Result<Loaded, DataError> {
    let classes = kind.default_classes();
    let Some((images, labels)) = idx::find_split(dir, "train") else {
        return Err(DataError::NotADataset {
            path: dir.to_path_buf(),
            message: "no IDX training files".into(),
        });
    };
    let train = idx::read_pair(&images, &labels, classes.len())?;
    let test = match idx::find_split(dir, "t10k") {
        Some((images, labels)) => Some(idx::read_pair(&images, &labels, classes.len())?),
        None => None,
    };
    Ok(Loaded {
        classes,
        train,
        test,
    })
}

/// Attaches the kind-level facts and checks the splits agree with each other.
fn finish(
    loaded: Loaded,
    kind: DatasetKind,
    format: Format,
    source: String,
    name: Option<String>,
) -> Result<Dataset, DataError> {
    let Loaded {
        classes,
        train,
        test,
    } = loaded;
    if train.is_empty() {
        return Err(DataError::NotADataset {
            path: source.into(),
            message: "holds no training images".into(),
        });
    }
    if let Some(test) = &test {
        let (a, b) = (
            [train.channels, train.height, train.width],
            [test.channels, test.height, test.width],
        );
        if !test.is_empty() && a != b {
            return Err(DataError::NotADataset {
                path: source.into(),
                message: format!("test images are {b:?} (C, H, W) but training images are {a:?}"),
            });
        }
    }
    let normalize = kind.normalize().unwrap_or_else(|| {
        let (mean, std) = train.channel_stats();
        Normalize {
            mean: mean.iter().map(|&m| m as f32).collect(),
            // A constant channel has zero spread; dividing by it would give infinities.
            std: std.iter().map(|&s| (s as f32).max(1e-3)).collect(),
        }
    });
    Ok(Dataset {
        name: name.unwrap_or_else(|| kind.display_name().to_string()),
        kind,
        format,
        source,
        classes,
        train,
        test,
        normalize,
        hflip: kind.hflip(),
    })
}

/// The bundled dataset decoded once for all tests, which would otherwise each decode 5 MB.
#[cfg(test)]
pub(crate) fn bundled_for_tests() -> &'static Dataset {
    static DATASET: std::sync::OnceLock<Dataset> = std::sync::OnceLock::new();
    DATASET.get_or_init(Dataset::bundled)
}

#[cfg(test)]
mod tests {
    use super::cifar::tests::write_layout;
    use super::pickle::tests::Style;
    use super::*;

    #[test]
    fn detection_finds_each_layout_from_a_folder_or_a_file_inside_it() {
        for (kind, format) in [
            (DatasetKind::Cifar10, Format::CifarBinary),
            (DatasetKind::Cifar100, Format::CifarBinary),
            (DatasetKind::Cifar10, Format::CifarPython),
            (DatasetKind::Cifar100, Format::CifarPython),
        ] {
            let root = tempfile::tempdir().unwrap();
            let (train, test) = write_layout(root.path(), kind, format, Style::Python2);
            let ds = Dataset::open(Some(root.path()), None).unwrap();
            assert_eq!((ds.kind, ds.format), (kind, format));
            assert_eq!(ds.train, train);
            assert_eq!(ds.test.as_ref(), Some(&test));
            assert_eq!(ds.normalize, kind.normalize().unwrap());
            assert!(ds.hflip);
            // A file inside the layout folder finds the same dataset.
            let inner = std::fs::read_dir(root.path())
                .unwrap()
                .next()
                .unwrap()
                .unwrap();
            let file = std::fs::read_dir(inner.path())
                .unwrap()
                .next()
                .unwrap()
                .unwrap();
            let again = Dataset::open(Some(&file.path()), None).unwrap();
            assert_eq!((again.kind, again.train.len()), (kind, train.len()));
            // The wrong explicit kind is refused with a message naming the path.
            let other = if kind == DatasetKind::Cifar10 {
                DatasetKind::Cifar100
            } else {
                DatasetKind::Cifar10
            };
            let err = Dataset::open(Some(root.path()), Some(other)).unwrap_err();
            assert!(matches!(err, DataError::NotADataset { .. }), "{err}");
        }
    }

    #[test]
    fn idx_kind_follows_the_path_and_the_override() {
        let root = tempfile::tempdir().unwrap();
        for (sub, want) in [
            ("MNIST/raw", DatasetKind::Mnist),
            ("fashion-mnist", DatasetKind::FashionMnist),
            ("digits", DatasetKind::FashionMnist),
        ] {
            let dir = root.path().join(sub);
            std::fs::create_dir_all(&dir).unwrap();
            let train = idx::tests::write_split(&dir, "train", 12, true);
            let ds = Dataset::open(Some(&dir), None).unwrap();
            assert_eq!((ds.kind, ds.format), (want, Format::Idx), "{sub}");
            assert_eq!(ds.train, train);
            assert!(ds.test.is_none());
            assert_eq!(ds.hflip, want != DatasetKind::Mnist);
            assert_eq!(ds.classes, want.default_classes());
        }
        // MNIST found through the parent's raw/ folder, and an explicit kind wins over the name.
        let ds = Dataset::open(Some(&root.path().join("MNIST")), None).unwrap();
        assert_eq!(ds.kind, DatasetKind::Mnist);
        let dir = root.path().join("digits");
        idx::tests::write_split(&dir, "t10k", 5, false);
        let ds = Dataset::open(Some(&dir), Some(DatasetKind::Mnist)).unwrap();
        assert_eq!(ds.kind, DatasetKind::Mnist);
        assert_eq!(ds.test.map(|t| t.len()), Some(5));
        assert_eq!(ds.normalize.mean, vec![0.1307]);
    }

    #[test]
    fn folders_get_measured_normalisation() {
        let root = tempfile::tempdir().unwrap();
        for (class, v) in [("dark", 0u8), ("light", 255)] {
            let dir = root.path().join(class);
            std::fs::create_dir(&dir).unwrap();
            image::GrayImage::from_pixel(4, 4, image::Luma([v]))
                .save(dir.join("a.png"))
                .unwrap();
        }
        let ds = Dataset::open(Some(root.path()), None).unwrap();
        assert_eq!(
            (ds.kind, ds.format),
            (DatasetKind::Folder, Format::ImageFolder)
        );
        assert_eq!(ds.num_classes(), 2);
        assert_eq!(ds.image_shape(), [1, 4, 4]);
        assert!((ds.normalize.mean[0] - 0.5).abs() < 1e-6);
        assert!((ds.normalize.std[0] - 0.5).abs() < 1e-6);
        assert_eq!(ds.name, root.path().file_name().unwrap().to_string_lossy());
    }

    #[test]
    fn missing_and_unrecognised_paths_are_errors() {
        let root = tempfile::tempdir().unwrap();
        let missing = root.path().join("nope");
        let err = Dataset::open(Some(&missing), None).unwrap_err().to_string();
        assert_eq!(
            err,
            format!("{}: no such file or directory", missing.display())
        );
        let err = Dataset::open(Some(root.path()), None)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!(
                "{}: no CIFAR batches, IDX files or class folders found",
                root.path().display()
            )
        );
        assert!(Dataset::open(None, Some(DatasetKind::Cifar10)).is_err());
    }

    #[test]
    fn no_path_means_the_bundled_subset() {
        let ds = Dataset::open(None, None).unwrap();
        assert_eq!(ds.format, Format::Bundled);
        assert_eq!(ds.source, "bundled");
        assert_eq!(ds.kind, DatasetKind::FashionMnist);
        assert_eq!(ds.num_classes(), 10);
        assert_eq!(ds.image_shape(), [1, 28, 28]);
        assert_eq!(ds.train.len(), 10_000);
        assert_eq!(ds.test.as_ref().map(ImageSet::len), Some(2_000));
        assert!(ds.hflip);
    }

    #[test]
    #[cfg_attr(
        not(has_fashion_mnist),
        ignore = "needs Debian's dataset-fashion-mnist in /usr/share/datasets/fashion-mnist"
    )]
    fn full_fashion_mnist_from_the_system_files() {
        let dir = Path::new("/usr/share/datasets/fashion-mnist");
        let ds = Dataset::open(Some(dir), None).unwrap();
        assert_eq!(
            (ds.kind, ds.format),
            (DatasetKind::FashionMnist, Format::Idx)
        );
        assert_eq!(ds.train.len(), 60_000);
        assert_eq!(ds.image_shape(), [1, 28, 28]);
        assert_eq!(&ds.train.labels[..8], &[9, 0, 0, 3, 0, 2, 7, 2]);
        assert_eq!(ds.train.class_histogram(10), vec![6000; 10]);
        assert_eq!(ds.test.as_ref().map(ImageSet::len), Some(10_000));
        let (mean, std) = ds.train.channel_stats();
        // The published constants are these statistics, rounded.
        assert!((mean[0] - 0.2860).abs() < 5e-4 && (std[0] - 0.3530).abs() < 5e-4);
        // A file inside the folder finds the same data.
        let file = dir.join("train-labels-idx1-ubyte.gz");
        assert_eq!(
            Dataset::open(Some(&file), None).unwrap().train.len(),
            60_000
        );
    }
}
