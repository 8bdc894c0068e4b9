//! The batches of a job's steps: a list of [`BatchRequest`]s made into batches either ahead of
//! time on a worker thread (native) or one at a time when a step asks (a browser, a thread-free
//! driver). Both give the same batches: each is a pure function of its request.

use std::sync::Arc;
use web_time::Instant;

use super::streams::Stream;
use crate::data::{
    Augment, Batch, BatchRequest, Dataset, ImageSet, Normalize, Prefetcher, epoch_permutation,
    make_batch, search_split,
};

/// The batches of one epoch or pass, in request order.
pub enum Batches {
    Prefetched(Prefetcher),
    Inline {
        set: Arc<ImageSet>,
        normalize: Normalize,
        requests: std::vec::IntoIter<BatchRequest>,
    },
}

impl Batches {
    pub fn new(
        set: &Arc<ImageSet>,
        normalize: &Normalize,
        requests: Vec<BatchRequest>,
        prefetch: bool,
    ) -> Batches {
        if prefetch {
            Batches::Prefetched(Prefetcher::new(set.clone(), normalize.clone(), requests))
        } else {
            Batches::Inline {
                set: set.clone(),
                normalize: normalize.clone(),
                requests: requests.into_iter(),
            }
        }
    }
}

impl Iterator for Batches {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        match self {
            Batches::Prefetched(p) => p.next(),
            Batches::Inline {
                set,
                normalize,
                requests,
            } => {
                let r = requests.next()?;
                Some(make_batch(set, &r.indices, &r.augment, normalize, r.seed))
            }
        }
    }
}

/// Batches per second of the search loader: `batches` weight-half batches of size `batch`
/// with search augmentation, in the search's order, built by a [`Prefetcher`] and consumed as
/// fast as they come.
pub fn bench_loader(ds: &Dataset, batch: usize, batches: usize) -> f64 {
    let batch = batch.max(1);
    let (weights, _) = search_split(ds.train.len());
    let augment = Augment::search(ds);
    let per_epoch = (weights.len() / batch).max(1);
    let mut order: (u64, Vec<u32>) = (u64::MAX, Vec::new());
    let requests = (0..batches as u64).map(move |i| {
        let (epoch, step) = (i / per_epoch as u64, i % per_epoch as u64);
        if order.0 != epoch {
            let seed = Stream::WeightOrder.seed(0, epoch, 0);
            order = (epoch, epoch_permutation(weights.len(), seed));
        }
        let start = step as usize * batch;
        BatchRequest {
            indices: order.1[start..(start + batch).min(order.1.len())]
                .iter()
                .map(|&k| weights[k as usize])
                .collect(),
            augment: augment.clone(),
            seed: Stream::WeightAugment.seed(0, epoch, step),
        }
    });
    let set = Arc::new(ds.train.clone());
    let start = Instant::now();
    let mut checksum = 0f64;
    let mut count = 0usize;
    for b in Prefetcher::new(set, ds.normalize.clone(), requests) {
        checksum += b.images.first().copied().unwrap_or(0.0) as f64;
        count += 1;
    }
    let seconds = start.elapsed().as_secs_f64();
    std::hint::black_box(checksum);
    count as f64 / seconds.max(1e-9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_batches_equal_prefetched_ones() {
        let ds = crate::data::bundled_for_tests();
        let set = Arc::new(ds.train.clone());
        let requests: Vec<BatchRequest> = (0..6u64)
            .map(|step| BatchRequest {
                indices: (step as u32 * 7..step as u32 * 7 + 16).collect(),
                augment: Augment::search(ds),
                seed: Stream::WeightAugment.seed(3, 0, step),
            })
            .collect();
        let inline: Vec<Batch> =
            Batches::new(&set, &ds.normalize, requests.clone(), false).collect();
        let prefetched: Vec<Batch> = Batches::new(&set, &ds.normalize, requests, true).collect();
        assert_eq!(inline.len(), 6);
        assert_eq!(inline, prefetched);
    }

    #[test]
    fn bench_loader_reports_a_positive_rate() {
        let ds = crate::data::bundled_for_tests();
        let rate = bench_loader(ds, 64, 40);
        assert!(rate.is_finite() && rate > 0.0, "{rate}");
    }
}
