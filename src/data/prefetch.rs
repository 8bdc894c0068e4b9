//! Builds batches on a worker thread while the model works on the previous ones, so the model
//! never waits for augmentation. Each batch is `make_batch` of its request, so the output is the
//! same as building them one after another on the caller's thread.

use super::augment::{Augment, Batch, make_batch};
use super::image_set::ImageSet;
use super::kind::Normalize;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

/// What one batch holds and how it is augmented.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchRequest {
    pub indices: Vec<u32>,
    pub augment: Augment,
    /// Seed of the batch's augmentation (see [`super::stream_seed`]).
    pub seed: u64,
}

/// An iterator over batches built ahead of time by a worker thread. Dropping it stops the
/// worker: its next send fails, it returns, and the drop joins it.
pub struct Prefetcher {
    receiver: Option<Receiver<Batch>>,
    worker: Option<JoinHandle<()>>,
}

impl Prefetcher {
    /// How many finished batches may wait: enough to cover a slow step, few enough that memory
    /// stays small.
    pub const DEPTH: usize = 3;

    pub fn new<I>(set: Arc<ImageSet>, normalize: Normalize, requests: I) -> Prefetcher
    where
        I: IntoIterator<Item = BatchRequest>,
        I::IntoIter: Send + 'static,
    {
        Prefetcher::with_depth(set, normalize, requests, Prefetcher::DEPTH)
    }

    /// Like [`Prefetcher::new`] with a chosen queue depth (at least 1).
    pub fn with_depth<I>(
        set: Arc<ImageSet>,
        normalize: Normalize,
        requests: I,
        depth: usize,
    ) -> Prefetcher
    where
        I: IntoIterator<Item = BatchRequest>,
        I::IntoIter: Send + 'static,
    {
        let (sender, receiver) = sync_channel(depth.max(1));
        let requests = requests.into_iter();
        let worker = std::thread::Builder::new()
            .name("batch-prefetch".into())
            .spawn(move || work(&set, &normalize, requests, sender));
        Prefetcher {
            receiver: Some(receiver),
            // Failing to start a thread means the process is out of resources; there is no
            // sensible way to go on producing batches.
            worker: Some(worker.expect("cannot start the batch prefetch thread")),
        }
    }
}

fn work(
    set: &ImageSet,
    normalize: &Normalize,
    requests: impl Iterator<Item = BatchRequest>,
    sender: SyncSender<Batch>,
) {
    for r in requests {
        let batch = make_batch(set, &r.indices, &r.augment, normalize, r.seed);
        if sender.send(batch).is_err() {
            return; // The consumer is gone.
        }
    }
}

impl Iterator for Prefetcher {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        let batch = self.receiver.as_ref()?.recv().ok();
        if batch.is_none() {
            // The worker finished or died; a panic there (a caller bug such as an index out of
            // range) is passed on rather than read as a short epoch.
            self.receiver = None;
            if let Some(Err(panic)) = self.worker.take().map(JoinHandle::join) {
                std::panic::resume_unwind(panic);
            }
        }
        batch
    }
}

impl Drop for Prefetcher {
    fn drop(&mut self) {
        self.receiver = None;
        if let Some(worker) = self.worker.take() {
            // Drop must not panic; a worker panic was either reported by `next` or is moot.
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{random_sample, stream_seed};
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn requests(set: &ImageSet, n: usize) -> Vec<BatchRequest> {
        (0..n as u64)
            .map(|step| BatchRequest {
                indices: random_sample(
                    &(0..set.len() as u32).collect::<Vec<_>>(),
                    16,
                    stream_seed(5, 3, 0, step),
                ),
                augment: Augment {
                    crop_padding: 4,
                    hflip: true,
                    cutout: if step % 2 == 0 { Some(8) } else { None },
                },
                seed: stream_seed(5, 4, 0, step),
            })
            .collect()
    }

    #[test]
    fn prefetched_batches_equal_sequential_ones() {
        let ds = super::super::bundled_for_tests();
        let reqs = requests(&ds.train, 25);
        let want: Vec<Batch> = reqs
            .iter()
            .map(|r| make_batch(&ds.train, &r.indices, &r.augment, &ds.normalize, r.seed))
            .collect();
        for depth in [1, 2, 4] {
            let got: Vec<Batch> = Prefetcher::with_depth(
                Arc::new(ds.train.clone()),
                ds.normalize.clone(),
                reqs.clone(),
                depth,
            )
            .collect();
            assert_eq!(got, want, "depth {depth}");
        }
    }

    #[test]
    fn dropping_stops_the_worker_early() {
        let ds = super::super::bundled_for_tests();
        let built = Arc::new(AtomicUsize::new(0));
        let counter = built.clone();
        let reqs = requests(&ds.train, 1)
            .into_iter()
            .cycle()
            .inspect(move |_| {
                counter.fetch_add(1, Ordering::SeqCst);
            });
        let mut p =
            Prefetcher::with_depth(Arc::new(ds.train.clone()), ds.normalize.clone(), reqs, 2);
        assert!(p.next().is_some());
        assert!(p.next().is_some());
        drop(p); // Joins the worker; an endless request stream must not hang it.
        let n = built.load(Ordering::SeqCst);
        // Two consumed, at most two queued, and one being built when the channel closed.
        assert!(n <= 5, "{n} batches built");
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn a_worker_panic_reaches_the_consumer() {
        let set = Arc::new(super::super::bundled_for_tests().train.clone());
        let bad = BatchRequest {
            indices: vec![u32::MAX],
            augment: Augment::none(),
            seed: 0,
        };
        let mut p = Prefetcher::new(set, Normalize::identity(1), vec![bad]);
        p.next();
    }
}
