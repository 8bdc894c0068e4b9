//! The data of a search: the training images it uses, DARTS's split into a weight half and an
//! alpha half, and how batches are normalised and augmented.

use std::ops::Range;
use std::sync::Arc;

use anyhow::{Result, bail};

use crate::config::DataConfig;
use crate::data::{self, Augment, BatchRequest, Dataset, ImageSet, Normalize};
use crate::job::streams::Stream;
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

impl SearchData {
    /// The batches of bilevel steps `steps` of one epoch: per step a weight batch from the
    /// epoch's permutation of the weight half and, when `alpha`, a batch drawn from the alpha
    /// half. `epoch` is the epoch the random streams see (PT's tuning epochs are offset).
    pub fn bilevel_requests(
        &self,
        seed: u64,
        epoch: u64,
        batch: usize,
        steps: Range<usize>,
        alpha: bool,
    ) -> Vec<BatchRequest> {
        let (w_half, a_half) = (&self.weight_half, &self.alpha_half);
        let perm = data::epoch_permutation(w_half.len(), Stream::WeightOrder.seed(seed, epoch, 0));
        let mut requests = Vec::new();
        for s in steps {
            let indices = perm[s * batch..((s + 1) * batch).min(w_half.len())]
                .iter()
                .map(|&p| w_half[p as usize])
                .collect();
            requests.push(BatchRequest {
                indices,
                augment: self.augment.clone(),
                seed: Stream::WeightAugment.seed(seed, epoch, s as u64),
            });
            if alpha {
                let sample = Stream::AlphaSample.seed(seed, epoch, s as u64);
                requests.push(BatchRequest {
                    indices: data::random_sample(a_half, batch.min(a_half.len()), sample),
                    augment: self.augment.clone(),
                    seed: Stream::AlphaAugment.seed(seed, epoch, s as u64),
                });
            }
        }
        requests
    }
}

/// Opens the dataset a config names and splits it for search.
pub fn load_search_data(cfg: &DataConfig) -> Result<SearchData> {
    let ds = Dataset::open_named(cfg.path.as_deref(), cfg.dataset.as_deref())?;
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
