//! Batches with DARTS's CIFAR augmentation, in its order: zero-pad and random-crop, random
//! horizontal flip, normalise, then cutout. Padding is done on bytes before normalising, so a
//! padded pixel becomes (0 - mean) / std, as in the reference pipeline, which pads 8-bit images.

use super::Dataset;
use super::image_set::ImageSet;
use super::kind::Normalize;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Which random transforms a batch gets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Augment {
    /// Zero padding on each side before a random crop back to the original size; 0 disables.
    pub crop_padding: usize,
    /// Mirror left-right with probability 1/2.
    pub hflip: bool,
    /// Side of the square zeroed after normalisation.
    pub cutout: Option<usize>,
}

/// `base` pixels at 32 px, scaled to an image of side `side` and rounded half up.
fn scaled(base: usize, side: usize) -> usize {
    (2 * base * side + 32) / 64
}

impl Augment {
    /// No augmentation: for evaluation.
    pub fn none() -> Augment {
        Augment {
            crop_padding: 0,
            hflip: false,
            cutout: None,
        }
    }

    /// The search phase's augmentation: padding 4 at 32 px (scaled with the image), flips where
    /// they keep labels, no cutout.
    pub fn search(ds: &Dataset) -> Augment {
        Augment {
            crop_padding: scaled(4, ds.train.height),
            hflip: ds.hflip,
            cutout: None,
        }
    }

    /// Final training's augmentation: the search one plus cutout of 16 at 32 px (scaled).
    pub fn train(ds: &Dataset) -> Augment {
        Augment {
            cutout: Some(scaled(16, ds.train.height)),
            ..Augment::search(ds)
        }
    }
}

/// Normalised images and their labels, ready to become tensors.
#[derive(Clone, PartialEq)]
pub struct Batch {
    /// N*C*H*W values.
    pub images: Vec<f32>,
    /// Class indices, i64 as loss functions take them.
    pub labels: Vec<i64>,
    /// [N, C, H, W].
    pub shape: [usize; 4],
}

/// Shape, labels and a checksum instead of every value.
impl fmt::Debug for Batch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sum: f64 = self.images.iter().map(|&v| v as f64).sum();
        f.debug_struct("Batch")
            .field("shape", &self.shape)
            .field("labels", &self.labels)
            .field("sum", &sum)
            .finish()
    }
}

/// The augmented, normalised batch of `set[indices]`. A pure function of its arguments: the
/// random choices come from a ChaCha8 generator seeded with `seed`, drawn per image in a fixed
/// order (crop offsets, flip, cutout centre), each only when that transform is on.
///
/// # Panics
/// When an index is out of range or `normalize` does not fit the channel count; both are
/// caller bugs, as indices come from the set's own length and constants from its dataset.
pub fn make_batch(
    set: &ImageSet,
    indices: &[u32],
    augment: &Augment,
    normalize: &Normalize,
    seed: u64,
) -> Batch {
    let (c, h, w) = (set.channels, set.height, set.width);
    let tables = normalize.tables(c);
    let plane = h * w;
    let mut images = vec![0f32; indices.len() * c * plane];
    let mut labels = Vec::with_capacity(indices.len());
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let pad = augment.crop_padding;
    for (n, &index) in indices.iter().enumerate() {
        let src = set.image(index as usize);
        labels.push(set.labels[index as usize] as i64);
        // Offsets of the crop window in the padded image; `pad` is the centred, identity crop.
        let (dy, dx) = if pad > 0 {
            (rng.random_range(0..=2 * pad), rng.random_range(0..=2 * pad))
        } else {
            (0, 0)
        };
        let flip = augment.hflip && rng.random_bool(0.5);
        let dst = &mut images[n * c * plane..(n + 1) * c * plane];
        // Output column x reads source column x + dx - pad; these bound the columns in range.
        let x0 = pad.saturating_sub(dx).min(w);
        let x1 = (w + pad).saturating_sub(dx).clamp(x0, w);
        let sx0 = (x0 + dx).saturating_sub(pad).min(w);
        for (ch, table) in tables.iter().enumerate() {
            let zero = table[0];
            for y in 0..h {
                let row = &mut dst[ch * plane + y * w..ch * plane + (y + 1) * w];
                let sy = (y + dy).checked_sub(pad).filter(|&sy| sy < h);
                let Some(sy) = sy else {
                    row.fill(zero);
                    continue;
                };
                let src_row = &src[ch * plane + sy * w..ch * plane + (sy + 1) * w];
                row[..x0].fill(zero);
                for (o, &p) in row[x0..x1].iter_mut().zip(&src_row[sx0..]) {
                    *o = table[p as usize];
                }
                row[x1..].fill(zero);
                if flip {
                    row.reverse();
                }
            }
        }
        if let Some(side) = augment.cutout.filter(|&s| s > 0) {
            let cy = rng.random_range(0..h);
            let cx = rng.random_range(0..w);
            let (y0, y1) = (cy.saturating_sub(side / 2), (cy + side / 2).min(h));
            let (x0, x1) = (cx.saturating_sub(side / 2), (cx + side / 2).min(w));
            for ch in 0..c {
                for y in y0..y1 {
                    let start = ch * plane + y * w;
                    dst[start + x0..start + x1].fill(0.0);
                }
            }
        }
    }
    Batch {
        images,
        labels,
        shape: [indices.len(), c, h, w],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A set whose pixel values are distinct per (image, channel, y, x) where possible.
    fn ramp_set(n: usize, c: usize, h: usize, w: usize) -> ImageSet {
        let size = c * h * w;
        ImageSet {
            images: (0..n * size)
                .map(|k| ((k % size) * 3 + 1 + 17 * (k / size)) as u8)
                .collect(),
            labels: (0..n as u16).collect(),
            channels: c,
            height: h,
            width: w,
        }
    }

    fn norm(c: usize) -> Normalize {
        Normalize {
            mean: (0..c).map(|i| 0.1 * i as f32 + 0.2).collect(),
            std: (0..c).map(|i| 0.05 * i as f32 + 0.3).collect(),
        }
    }

    /// Straightforward per-pixel reference of the pad-crop-flip-normalise steps.
    fn reference_pixel(
        set: &ImageSet,
        i: usize,
        n: &Normalize,
        (dy, dx, pad, flip): (usize, usize, usize, bool),
        (ch, y, x): (usize, usize, usize),
    ) -> f32 {
        let (h, w) = (set.height as isize, set.width as isize);
        let x = if flip { w as usize - 1 - x } else { x };
        let sy = y as isize + dy as isize - pad as isize;
        let sx = x as isize + dx as isize - pad as isize;
        let byte = if (0..h).contains(&sy) && (0..w).contains(&sx) {
            set.image(i)[ch * (h * w) as usize + (sy * w + sx) as usize]
        } else {
            0
        };
        (byte as f32 / 255.0 - n.mean[ch]) / n.std[ch]
    }

    #[test]
    fn no_augmentation_is_plain_normalisation() {
        let set = ramp_set(3, 3, 4, 5);
        let n = norm(3);
        let b = make_batch(&set, &[2, 0], &Augment::none(), &n, 1);
        assert_eq!(b.shape, [2, 3, 4, 5]);
        assert_eq!(b.labels, vec![2, 0]);
        for (slot, &i) in [2usize, 0].iter().enumerate() {
            for ch in 0..3 {
                for y in 0..4 {
                    for x in 0..5 {
                        let got = b.images[slot * 60 + ch * 20 + y * 5 + x];
                        let want = reference_pixel(&set, i, &n, (0, 0, 0, false), (ch, y, x));
                        assert!((got - want).abs() < 1e-5);
                    }
                }
            }
        }
    }

    /// Every (dy, dx, flip) whose reference output equals the first image of `b`.
    fn explanations(
        set: &ImageSet,
        b: &Batch,
        n: &Normalize,
        pad: usize,
    ) -> Vec<(usize, usize, bool)> {
        let (c, h, w) = (set.channels, set.height, set.width);
        let mut found = Vec::new();
        for dy in 0..=2 * pad {
            for dx in 0..=2 * pad {
                for flip in [false, true] {
                    let fits = (0..c).all(|ch| {
                        (0..h).all(|y| {
                            (0..w).all(|x| {
                                let want =
                                    reference_pixel(set, 0, n, (dy, dx, pad, flip), (ch, y, x));
                                (b.images[(ch * h + y) * w + x] - want).abs() < 1e-5
                            })
                        })
                    });
                    if fits {
                        found.push((dy, dx, flip));
                    }
                }
            }
        }
        found
    }

    #[test]
    fn crops_and_flips_match_a_per_pixel_reference() {
        let set = ramp_set(1, 2, 6, 7);
        let n = norm(2);
        let pad = 3;
        let aug = Augment {
            crop_padding: pad,
            hflip: true,
            cutout: None,
        };
        let mut seen_offsets = std::collections::HashSet::new();
        let mut flips = 0;
        for seed in 0..300 {
            let b = make_batch(&set, &[0], &aug, &n, seed);
            // Pixel values are distinct, so exactly one crop and flip explains the output.
            let found = explanations(&set, &b, &n, pad);
            assert_eq!(found.len(), 1, "seed {seed}: {found:?}");
            let (dy, dx, flip) = found[0];
            seen_offsets.insert((dy, dx));
            flips += flip as usize;
        }
        // 300 draws over 49 offsets should reach most of them, and flips should be near half.
        assert!(seen_offsets.len() > 40, "{} offsets", seen_offsets.len());
        assert!((100..200).contains(&flips), "{flips} flips");
    }

    #[test]
    fn padding_wider_than_the_image_is_handled() {
        // Crops may then lie entirely in the padding: a constant image of padding values.
        let set = ramp_set(1, 1, 3, 3);
        let n = norm(1);
        let aug = Augment {
            crop_padding: 5,
            hflip: true,
            cutout: None,
        };
        let mut blank = 0;
        for seed in 0..200 {
            let b = make_batch(&set, &[0], &aug, &n, seed);
            assert!(!explanations(&set, &b, &n, 5).is_empty(), "seed {seed}");
            blank += b.images.iter().all(|&v| v == b.images[0]) as usize;
        }
        assert!(blank > 0 && blank < 200, "{blank} blank crops");
    }

    #[test]
    fn cutout_zeroes_one_clipped_square_after_normalising() {
        let set = ramp_set(1, 3, 8, 8);
        // Identity-free constants so that no un-cut pixel is exactly 0.0.
        let n = norm(3);
        let aug = Augment {
            crop_padding: 0,
            hflip: false,
            cutout: Some(4),
        };
        let mut sizes = std::collections::HashSet::new();
        for seed in 0..200 {
            let b = make_batch(&set, &[0], &aug, &n, seed);
            let zero: Vec<(usize, usize)> = (0..8)
                .flat_map(|y| (0..8).map(move |x| (y, x)))
                .filter(|&(y, x)| b.images[y * 8 + x] == 0.0)
                .collect();
            // The same square in every channel.
            for ch in 1..3 {
                for &(y, x) in &zero {
                    assert_eq!(b.images[ch * 64 + y * 8 + x], 0.0);
                }
            }
            let (ys, xs): (Vec<_>, Vec<_>) = zero.iter().copied().unzip();
            let (h, w) = (
                ys.iter().max().unwrap() - ys.iter().min().unwrap() + 1,
                xs.iter().max().unwrap() - xs.iter().min().unwrap() + 1,
            );
            assert_eq!(h * w, zero.len(), "a filled rectangle");
            assert!((2..=4).contains(&h) && (2..=4).contains(&w), "{h}x{w}");
            sizes.insert((h, w));
        }
        // Clipping at the borders produces smaller rectangles too.
        assert!(sizes.contains(&(4, 4)) && sizes.len() > 3, "{sizes:?}");
    }

    #[test]
    fn batches_are_a_pure_function_of_their_arguments() {
        let set = ramp_set(5, 1, 8, 8);
        let n = norm(1);
        let aug = Augment {
            crop_padding: 2,
            hflip: true,
            cutout: Some(3),
        };
        let a = make_batch(&set, &[4, 1, 3], &aug, &n, 42);
        assert_eq!(a, make_batch(&set, &[4, 1, 3], &aug, &n, 42));
        assert_ne!(a, make_batch(&set, &[4, 1, 3], &aug, &n, 43));
    }

    #[test]
    fn presets_follow_the_dataset() {
        let ds = super::super::bundled_for_tests();
        let s = Augment::search(ds);
        assert_eq!(
            s,
            Augment {
                crop_padding: 4,
                hflip: true,
                cutout: None
            }
        );
        assert_eq!(Augment::train(ds).cutout, Some(14));
        assert_eq!((scaled(4, 32), scaled(16, 32), scaled(4, 64)), (4, 16, 8));
        assert_eq!(scaled(4, 12), 2); // 1.5 rounds up
    }
}
