//! What a dataset is (kind), how it is stored (format), and the per-kind facts that follow from
//! the kind alone: class names, normalisation constants, and whether mirroring is label-safe.

use super::error::DataError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The dataset a user means; it fixes class names and normalisation when the files do not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DatasetKind {
    #[serde(rename = "cifar10")]
    Cifar10,
    #[serde(rename = "cifar100")]
    Cifar100,
    #[serde(rename = "fashion-mnist")]
    FashionMnist,
    #[serde(rename = "mnist")]
    Mnist,
    #[serde(rename = "folder")]
    Folder,
}

impl DatasetKind {
    /// The name `FromStr` accepts.
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetKind::Cifar10 => "cifar10",
            DatasetKind::Cifar100 => "cifar100",
            DatasetKind::FashionMnist => "fashion-mnist",
            DatasetKind::Mnist => "mnist",
            DatasetKind::Folder => "folder",
        }
    }

    /// The name papers use.
    pub fn display_name(self) -> &'static str {
        match self {
            DatasetKind::Cifar10 => "CIFAR-10",
            DatasetKind::Cifar100 => "CIFAR-100",
            DatasetKind::FashionMnist => "Fashion-MNIST",
            DatasetKind::Mnist => "MNIST",
            DatasetKind::Folder => "image folder",
        }
    }

    /// The standard normalisation; `None` for folders, whose statistics must be measured.
    pub fn normalize(self) -> Option<Normalize> {
        let (mean, std): (&[f32], &[f32]) = match self {
            DatasetKind::Cifar10 => (
                &[0.491_399_68, 0.482_158_27, 0.446_531_24],
                &[0.247_032_33, 0.243_485_05, 0.261_587_68],
            ),
            DatasetKind::Cifar100 => (&[0.5071, 0.4865, 0.4409], &[0.2673, 0.2564, 0.2762]),
            DatasetKind::Mnist => (&[0.1307], &[0.3081]),
            DatasetKind::FashionMnist => (&[0.2860], &[0.3530]),
            DatasetKind::Folder => return None,
        };
        Some(Normalize {
            mean: mean.to_vec(),
            std: std.to_vec(),
        })
    }

    /// Whether a mirrored image keeps its label: false for digits, where a mirrored 2 or 7 is no
    /// longer a digit.
    pub fn hflip(self) -> bool {
        !matches!(self, DatasetKind::Mnist)
    }

    /// Built-in class names, used when the files carry none.
    pub fn default_classes(self) -> Vec<String> {
        let names: &[&str] = match self {
            DatasetKind::Cifar10 => &CIFAR10_CLASSES,
            DatasetKind::Cifar100 => &CIFAR100_CLASSES,
            DatasetKind::FashionMnist => &FASHION_MNIST_CLASSES,
            DatasetKind::Mnist => &["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
            DatasetKind::Folder => &[],
        };
        names.iter().map(|s| s.to_string()).collect()
    }
}

impl fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DatasetKind {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "cifar10" => Ok(DatasetKind::Cifar10),
            "cifar100" => Ok(DatasetKind::Cifar100),
            "fashion-mnist" => Ok(DatasetKind::FashionMnist),
            "mnist" => Ok(DatasetKind::Mnist),
            "folder" => Ok(DatasetKind::Folder),
            _ => Err(DataError::UnknownKind(s.to_string())),
        }
    }
}

/// How the data was stored, which tells a user which reader produced it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    CifarBinary,
    CifarPython,
    Idx,
    ImageFolder,
    Bundled,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::CifarBinary => "CIFAR binary batches",
            Format::CifarPython => "CIFAR Python pickles",
            Format::Idx => "IDX files",
            Format::ImageFolder => "image folder",
            Format::Bundled => "bundled (gzipped IDX in the binary)",
        })
    }
}

/// Per-channel normalisation applied to pixels in [0, 1]: (x - mean) / std.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalize {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Normalize {
    /// Identity on [0, 1] pixels, for callers that want raw intensities.
    pub fn identity(channels: usize) -> Normalize {
        Normalize {
            mean: vec![0.0; channels],
            std: vec![1.0; channels],
        }
    }

    /// For each channel, a table mapping a byte to its normalised value. A table lookup replaces
    /// a conversion, a multiply and an add per pixel, and it makes the result independent of
    /// how the arithmetic is ordered. A single mean/std pair applies to every channel.
    ///
    /// # Panics
    /// When the constants have neither one entry nor one per channel: a caller bug, since every
    /// [`super::Dataset`] carries constants that match its images.
    pub fn tables(&self, channels: usize) -> Vec<[f32; 256]> {
        assert!(
            self.mean.len() == self.std.len()
                && (self.mean.len() == channels || self.mean.len() == 1),
            "normalisation has {} means and {} stds for {channels} channels",
            self.mean.len(),
            self.std.len()
        );
        (0..channels)
            .map(|c| {
                let k = if self.mean.len() == 1 { 0 } else { c };
                let scale = 1.0 / (255.0 * self.std[k]);
                let shift = -self.mean[k] / self.std[k];
                std::array::from_fn(|v| v as f32 * scale + shift)
            })
            .collect()
    }
}

pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// CIFAR-100 fine labels in label order (alphabetical, as in the official metadata).
pub const CIFAR100_CLASSES: [&str; 100] = [
    "apple",
    "aquarium_fish",
    "baby",
    "bear",
    "beaver",
    "bed",
    "bee",
    "beetle",
    "bicycle",
    "bottle",
    "bowl",
    "boy",
    "bridge",
    "bus",
    "butterfly",
    "camel",
    "can",
    "castle",
    "caterpillar",
    "cattle",
    "chair",
    "chimpanzee",
    "clock",
    "cloud",
    "cockroach",
    "couch",
    "crab",
    "crocodile",
    "cup",
    "dinosaur",
    "dolphin",
    "elephant",
    "flatfish",
    "forest",
    "fox",
    "girl",
    "hamster",
    "house",
    "kangaroo",
    "keyboard",
    "lamp",
    "lawn_mower",
    "leopard",
    "lion",
    "lizard",
    "lobster",
    "man",
    "maple_tree",
    "motorcycle",
    "mountain",
    "mouse",
    "mushroom",
    "oak_tree",
    "orange",
    "orchid",
    "otter",
    "palm_tree",
    "pear",
    "pickup_truck",
    "pine_tree",
    "plain",
    "plate",
    "poppy",
    "porcupine",
    "possum",
    "rabbit",
    "raccoon",
    "ray",
    "road",
    "rocket",
    "rose",
    "sea",
    "seal",
    "shark",
    "shrew",
    "skunk",
    "skyscraper",
    "snail",
    "snake",
    "spider",
    "squirrel",
    "streetcar",
    "sunflower",
    "sweet_pepper",
    "table",
    "tank",
    "telephone",
    "television",
    "tiger",
    "tractor",
    "train",
    "trout",
    "tulip",
    "turtle",
    "wardrobe",
    "whale",
    "willow_tree",
    "wolf",
    "woman",
    "worm",
];

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [DatasetKind; 5] = [
        DatasetKind::Cifar10,
        DatasetKind::Cifar100,
        DatasetKind::FashionMnist,
        DatasetKind::Mnist,
        DatasetKind::Folder,
    ];

    #[test]
    fn kind_names_round_trip_through_from_str_and_serde() {
        for kind in ALL {
            assert_eq!(kind.as_str().parse::<DatasetKind>().unwrap(), kind);
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        assert_eq!(
            "Fashion-MNIST".parse::<DatasetKind>().unwrap(),
            DatasetKind::FashionMnist
        );
        let err = "svhn".parse::<DatasetKind>().unwrap_err().to_string();
        assert!(
            err.contains("'svhn'") && err.contains("fashion-mnist"),
            "{err}"
        );
    }

    #[test]
    fn class_lists_are_complete() {
        assert_eq!(CIFAR100_CLASSES.len(), 100);
        // The official fine-label order is alphabetical, with no repeats.
        assert!(CIFAR100_CLASSES.windows(2).all(|w| w[0] < w[1]));
        for kind in [
            DatasetKind::Cifar10,
            DatasetKind::FashionMnist,
            DatasetKind::Mnist,
        ] {
            assert_eq!(kind.default_classes().len(), 10, "{kind}");
        }
    }

    #[test]
    fn normalisation_tables_map_bytes_to_standardised_values() {
        let n = DatasetKind::Cifar10.normalize().unwrap();
        let t = n.tables(3);
        for (c, table) in t.iter().enumerate() {
            for v in [0usize, 77, 255] {
                let want = (v as f32 / 255.0 - n.mean[c]) / n.std[c];
                assert!((table[v] - want).abs() < 1e-5, "c{c} v{v}");
            }
        }
        // One pair broadcasts over channels.
        let t = Normalize::identity(1).tables(3);
        assert_eq!(t[2][255], 1.0);
        assert_eq!(t[1][0], 0.0);
        assert!(!DatasetKind::Mnist.hflip() && DatasetKind::FashionMnist.hflip());
        assert!(DatasetKind::Folder.normalize().is_none());
    }
}
