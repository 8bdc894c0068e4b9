//! Which images go into which batch. Every draw is a pure function of a seed derived from
//! (run seed, stream, epoch, step), so nothing depends on how many draws came before and a
//! resumed run replays the interrupted one exactly from its epoch and step.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// DARTS's search split: weights train on the first half of the training set by index, the
/// architecture on the second; with an odd count the second half gets the extra image.
pub fn search_split(n: usize) -> (Vec<u32>, Vec<u32>) {
    let half = n / 2;
    (
        (0..half as u32).collect(),
        (half as u32..n as u32).collect(),
    )
}

/// SplitMix64's finaliser: a bijection on u64 whose outputs look independent for nearby inputs.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// The seed of one batch's random choices. For fixed other arguments it is a bijection in each
/// argument, so two different steps (or epochs, or streams) never share a seed.
pub fn stream_seed(seed: u64, stream: u64, epoch: u64, step: u64) -> u64 {
    let mut h = mix(seed.wrapping_add(GOLDEN));
    for (i, x) in [stream, epoch, step].into_iter().enumerate() {
        // A distinct offset per position keeps (a, b) and (b, a) apart.
        let salt = GOLDEN.wrapping_mul(i as u64 + 2);
        h = mix(h ^ mix(x.wrapping_add(salt)));
    }
    h
}

/// A uniformly random permutation of 0..n (Fisher-Yates).
pub fn epoch_permutation(n: usize, seed: u64) -> Vec<u32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<u32> = (0..n as u32).collect();
    for i in (1..n).rev() {
        let j = rng.random_range(0..=i);
        order.swap(i, j);
    }
    order
}

/// `k` distinct elements of `pool` drawn uniformly, in random order: the first `k` of a random
/// permutation, as DARTS draws each architecture batch. `k` is capped at the pool size.
pub fn random_sample(pool: &[u32], k: usize, seed: u64) -> Vec<u32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut items = pool.to_vec();
    let k = k.min(items.len());
    // A partial Fisher-Yates shuffle: only the first k positions are drawn.
    for i in 0..k {
        let j = rng.random_range(i..items.len());
        items.swap(i, j);
    }
    items.truncate(k);
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn search_split_halves_by_index() {
        let (w, a) = search_split(10);
        assert_eq!(w, (0..5).collect::<Vec<_>>());
        assert_eq!(a, (5..10).collect::<Vec<_>>());
        let (w, a) = search_split(7);
        assert_eq!((w.len(), a.len()), (3, 4));
        assert_eq!((w[2], a[0]), (2, 3));
        assert_eq!(search_split(0), (vec![], vec![]));
    }

    #[test]
    fn stream_seeds_are_distinct_and_sensitive_to_every_argument() {
        let mut seen = HashSet::new();
        for stream in 0..4 {
            for epoch in 0..50 {
                for step in 0..100 {
                    assert!(seen.insert(stream_seed(7, stream, epoch, step)));
                }
            }
        }
        let base = stream_seed(1, 2, 3, 4);
        assert_eq!(base, stream_seed(1, 2, 3, 4));
        for other in [
            stream_seed(0, 2, 3, 4),
            stream_seed(1, 3, 3, 4),
            stream_seed(1, 2, 4, 4),
            stream_seed(1, 2, 3, 5),
            stream_seed(1, 3, 2, 4),
        ] {
            assert_ne!(base, other);
            // A good mix flips about half the bits.
            let flipped = (base ^ other).count_ones();
            assert!((12..=52).contains(&flipped), "{flipped} bits");
        }
    }

    #[test]
    fn permutations_are_permutations_and_uniform() {
        let p = epoch_permutation(1000, 1);
        let mut sorted = p.clone();
        sorted.sort();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
        assert_ne!(p, epoch_permutation(1000, 2));
        assert_eq!(p, epoch_permutation(1000, 1));
        assert!(epoch_permutation(0, 1).is_empty());
        // Where element 0 lands over many seeds: each of 8 slots about 1/8 of the time.
        let mut counts = [0u32; 8];
        for s in 0..8000 {
            let p = epoch_permutation(8, stream_seed(s, 0, 0, 0));
            counts[p.iter().position(|&x| x == 0).unwrap()] += 1;
        }
        assert!(
            counts.iter().all(|&c| (850..1150).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn random_samples_are_distinct_members_drawn_uniformly() {
        let pool: Vec<u32> = (100..150).collect();
        let s = random_sample(&pool, 20, 9);
        assert_eq!(s.len(), 20);
        assert_eq!(s.iter().collect::<HashSet<_>>().len(), 20);
        assert!(s.iter().all(|x| pool.contains(x)));
        assert_eq!(s, random_sample(&pool, 20, 9));
        assert_eq!(random_sample(&pool, 99, 1).len(), 50);
        let mut counts = [0u32; 10];
        for seed in 0..10_000 {
            for x in random_sample(&(0..10).collect::<Vec<_>>(), 3, seed) {
                counts[x as usize] += 1;
            }
        }
        // Each element is in a 3-of-10 sample 30% of the time: 3000 ± a few standard deviations.
        assert!(
            counts.iter().all(|&c| (2800..3200).contains(&c)),
            "{counts:?}"
        );
    }
}
