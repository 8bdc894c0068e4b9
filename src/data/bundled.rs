//! A real Fashion-MNIST subset compiled into the binary (10,000 train and 2,000 test images,
//! class-balanced; see `data/fashion-mnist-subset/README.md`), so every command works with no
//! dataset on disk. Roughly 5 MB of gzipped IDX.

use super::Loaded;
use super::error::DataError;
use super::idx::image_set_from_bytes;
use super::kind::DatasetKind;
use std::path::Path;

macro_rules! subset_file {
    ($name:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/data/fashion-mnist-subset/",
            $name
        ))
    };
}

static TRAIN_IMAGES: &[u8] = subset_file!("train-images-idx3-ubyte.gz");
static TRAIN_LABELS: &[u8] = subset_file!("train-labels-idx1-ubyte.gz");
static TEST_IMAGES: &[u8] = subset_file!("t10k-images-idx3-ubyte.gz");
static TEST_LABELS: &[u8] = subset_file!("t10k-labels-idx1-ubyte.gz");

/// Decodes the embedded files. Errors name the files as `bundled/<name>`.
pub(crate) fn load() -> Result<Loaded, DataError> {
    let classes = DatasetKind::FashionMnist.default_classes();
    let split = |images: &'static [u8], labels: &'static [u8], prefix: &str| {
        image_set_from_bytes(
            images.to_vec(),
            Path::new(&format!("bundled/{prefix}-images-idx3-ubyte.gz")),
            labels.to_vec(),
            Path::new(&format!("bundled/{prefix}-labels-idx1-ubyte.gz")),
            classes.len(),
        )
    };
    Ok(Loaded {
        train: split(TRAIN_IMAGES, TRAIN_LABELS, "train")?,
        test: Some(split(TEST_IMAGES, TEST_LABELS, "t10k")?),
        classes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_subset_is_class_balanced_fashion_mnist() {
        let loaded = load().unwrap();
        assert_eq!(loaded.classes.len(), 10);
        let train = &loaded.train;
        assert_eq!(train.len(), 10_000);
        assert_eq!((train.channels, train.height, train.width), (1, 28, 28));
        assert_eq!(train.images.len(), 10_000 * 784);
        assert_eq!(train.class_histogram(10), vec![1000; 10]);
        let test = loaded.test.as_ref().unwrap();
        assert_eq!(test.len(), 2_000);
        assert_eq!(test.class_histogram(10), vec![200; 10]);
        // The subset keeps the original order, and the full file starts 9, 0, 0, 3, 0, 2, 7, 2.
        assert_eq!(&train.labels[..8], &[9, 0, 0, 3, 0, 2, 7, 2]);
        // Real photographs, not blanks: Fashion-MNIST's mean intensity is about 0.286.
        let (mean, _) = train.channel_stats();
        assert!((mean[0] - 0.286).abs() < 0.02, "mean {}", mean[0]);
    }

    #[test]
    #[cfg_attr(
        not(has_fashion_mnist),
        ignore = "needs Debian's dataset-fashion-mnist in /usr/share/datasets/fashion-mnist"
    )]
    fn bundled_subset_matches_the_full_files() {
        let dir = Path::new("/usr/share/datasets/fashion-mnist");
        let full = super::super::idx::read_pair(
            &dir.join("train-images-idx3-ubyte.gz"),
            &dir.join("train-labels-idx1-ubyte.gz"),
            10,
        )
        .unwrap();
        // Recompute the selection: first 1,000 of each class, in order.
        let mut taken = [0usize; 10];
        let keep: Vec<u32> = (0..full.len() as u32)
            .filter(|&i| {
                let c = full.labels[i as usize] as usize;
                taken[c] += 1;
                taken[c] <= 1000
            })
            .collect();
        assert_eq!(load().unwrap().train, full.subset(&keep));
    }
}
