//! The registry of random streams. Every random choice of a job is a pure function of (run
//! seed, stream, epoch, step) through [`stream_seed`], so nothing depends on how many draws came
//! before, and a resumed run replays the interrupted one exactly from its epoch and step. Each
//! independent kind of choice has its own stream here, and nowhere else.

pub use crate::data::stream_seed;

/// A kind of random choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Stream {
    /// Order of the weight-half images within a search (or PT tuning) epoch.
    WeightOrder = 1,
    /// Augmentation of weight batches.
    WeightAugment = 2,
    /// Which alpha-half images form each alpha batch.
    AlphaSample = 3,
    /// Augmentation of alpha batches.
    AlphaAugment = 4,
    /// Order of the images when retraining a network.
    TrainOrder = 5,
    /// Augmentation when retraining a network.
    TrainAugment = 6,
    /// Order and augmentation of evaluation passes.
    Eval = 7,
    /// The device's random numbers in a search step (SDARTS noise, S4's noise op).
    SearchDevice = 101,
    /// The device's random numbers in a retraining step (drop-path masks).
    TrainDevice = 102,
    /// PT's choice of the next edge to decide.
    PtEdge = 200,
    /// PT's choice of the next node whose inputs to decide.
    PtNode = 201,
    /// The device's random numbers in a PT tuning step.
    PtDevice = 301,
}

/// PT's tuning epoch `e` draws as epoch `PT_TUNE_EPOCH + e` of the weight streams, so it never
/// repeats a search epoch's order or augmentation.
pub const PT_TUNE_EPOCH: u64 = 10_000;

/// PT's `k`-th scoring pass draws its order and augmentation as epoch `PT_PASS + k` of
/// [`Stream::Eval`].
pub const PT_PASS: u64 = 1_000_000;

/// SGAS+PT's scoring passes at the end of search epoch `e` draw as epoch `SGAS_PT_PASS + e`
/// of [`Stream::Eval`] (one step per cell type and operation).
pub const SGAS_PT_PASS: u64 = 2_000_000;

impl Stream {
    /// The seed of this stream's draw at (epoch, step) of a run seeded with `seed`.
    pub fn seed(self, seed: u64, epoch: u64, step: u64) -> u64 {
        stream_seed(seed, self as u64, epoch, step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_the_recorded_ids() {
        // Checkpoints and tests depend on these values: changing one changes every run.
        let ids: Vec<u64> = [
            Stream::WeightOrder,
            Stream::WeightAugment,
            Stream::AlphaSample,
            Stream::AlphaAugment,
            Stream::TrainOrder,
            Stream::TrainAugment,
            Stream::Eval,
            Stream::SearchDevice,
            Stream::TrainDevice,
            Stream::PtEdge,
            Stream::PtNode,
            Stream::PtDevice,
        ]
        .iter()
        .map(|s| *s as u64)
        .collect();
        assert_eq!(ids, [1, 2, 3, 4, 5, 6, 7, 101, 102, 200, 201, 301]);
        assert_eq!(Stream::Eval.seed(3, 4, 5), stream_seed(3, 7, 4, 5));
    }
}
