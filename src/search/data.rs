//! The data of a search: the training images it uses, DARTS's split into a weight half and an
//! alpha half, and how batches are normalised and augmented.

use std::sync::Arc;

use anyhow::{Result, bail};

use crate::config::DataConfig;
use crate::data::{self, Augment, Dataset, DatasetKind, ImageSet, Normalize};
use crate::nn::InputShape;

/// The search data: the training images used, the two halves, and how batches are made.
#[derive(Clone)]
pub struct SearchData {
    pub dataset_name: String,
    pub classes: Vec<String>,
    pub train: Arc<ImageSet>,
    pub weight_half: Arc<Vec<u32>>,
    pub alpha_half: Arc<Vec<u32>>,
    pub normalize: Normalize,
    pub augment: Augment,
    pub input: InputShape,
}

/// Opens the dataset a config names and splits it for search.
pub fn load_search_data(cfg: &DataConfig) -> Result<SearchData> {
    let kind = cfg
        .dataset
        .as_deref()
        .map(|s| s.parse::<DatasetKind>().map_err(|e| anyhow::anyhow!(e)))
        .transpose()?;
    let ds = Dataset::open(cfg.path.as_deref(), kind)?;
    let augment = Augment::search(&ds);
    let mut train = ds.train.clone();
    if let Some(n) = cfg.train_images {
        if n < 2 {
            bail!("data.train_images must be at least 2");
        }
        if n < train.len() {
            let idx: Vec<u32> = (0..n as u32).collect();
            train = train.subset(&idx);
        }
    }
    if train.len() < 2 {
        bail!("{}: too few training images to split for search", ds.source);
    }
    let (w, a) = data::search_split(train.len());
    let input = InputShape {
        channels: train.channels,
        size: train.height,
        classes: ds.classes.len(),
    };
    if train.height != train.width {
        bail!(
            "{}: images are {}x{}; darts-pt networks need square images",
            ds.source,
            train.height,
            train.width
        );
    }
    Ok(SearchData {
        dataset_name: ds.name.clone(),
        classes: ds.classes.clone(),
        train: Arc::new(train),
        weight_half: Arc::new(w),
        alpha_half: Arc::new(a),
        normalize: ds.normalize.clone(),
        augment,
        input,
    })
}
