//! A set of same-sized images kept as raw bytes: u8 pixels are four times smaller than f32, and
//! the batch builder converts only the images a step actually uses.

use std::fmt;

/// Images as one contiguous u8 buffer in N×C×H×W order, with one label per image.
#[derive(Clone, PartialEq, Eq)]
pub struct ImageSet {
    /// Pixels, N*C*H*W bytes, channel-major within each image.
    pub images: Vec<u8>,
    /// Class index of each image.
    pub labels: Vec<u16>,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

/// A summary rather than every pixel: a full set would print millions of numbers.
impl fmt::Debug for ImageSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let head = |v: &[u8]| v.iter().take(8).map(|b| b.to_string()).collect::<Vec<_>>();
        f.debug_struct("ImageSet")
            .field("len", &self.len())
            .field("shape", &[self.channels, self.height, self.width])
            .field(
                "images",
                &format_args!("{} bytes {:?}…", self.images.len(), head(&self.images)),
            )
            .field(
                "labels",
                &format_args!("{:?}…", &self.labels[..self.labels.len().min(8)]),
            )
            .finish()
    }
}

impl ImageSet {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Bytes per image (C*H*W).
    pub fn image_size(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The pixels of image `i` (C×H×W). Panics when `i` is out of range, like slice indexing.
    pub fn image(&self, i: usize) -> &[u8] {
        let size = self.image_size();
        &self.images[i * size..(i + 1) * size]
    }

    /// A new set holding the given images in the given order (repeats allowed).
    pub fn subset(&self, indices: &[u32]) -> ImageSet {
        let mut images = Vec::with_capacity(indices.len() * self.image_size());
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            images.extend_from_slice(self.image(i as usize));
            labels.push(self.labels[i as usize]);
        }
        ImageSet {
            images,
            labels,
            channels: self.channels,
            height: self.height,
            width: self.width,
        }
    }

    /// Images per class; the vector grows past `classes` if a label is larger, so no image is
    /// silently left out of the count.
    pub fn class_histogram(&self, classes: usize) -> Vec<usize> {
        let top = self
            .labels
            .iter()
            .map(|&l| l as usize + 1)
            .max()
            .unwrap_or(0);
        let mut counts = vec![0; classes.max(top)];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }

    /// Per-channel mean and standard deviation of the pixels in [0, 1] units, the statistics a
    /// normalisation for this data should use.
    pub fn channel_stats(&self) -> (Vec<f64>, Vec<f64>) {
        let plane = self.height * self.width;
        let mut sum = vec![0u64; self.channels];
        let mut sum_sq = vec![0u64; self.channels];
        if plane > 0 {
            for image in self.images.chunks_exact(self.image_size()) {
                for (c, pixels) in image.chunks_exact(plane).enumerate() {
                    // Integer sums are exact: 255² × 2⁴⁰ pixels still fits in a u64.
                    let (s, q) = pixels.iter().fold((0u64, 0u64), |(s, q), &p| {
                        let p = p as u64;
                        (s + p, q + p * p)
                    });
                    sum[c] += s;
                    sum_sq[c] += q;
                }
            }
        }
        let count = (self.len() * plane) as f64;
        if count == 0.0 {
            return (vec![0.0; self.channels], vec![0.0; self.channels]);
        }
        let mean: Vec<f64> = sum.iter().map(|&s| s as f64 / count / 255.0).collect();
        let std = sum_sq
            .iter()
            .zip(&mean)
            .map(|(&q, &m)| (q as f64 / count / (255.0 * 255.0) - m * m).max(0.0).sqrt())
            .collect();
        (mean, std)
    }
}

/// Joins same-shaped sets in order.
pub(crate) fn concat(parts: Vec<ImageSet>) -> ImageSet {
    let mut parts = parts.into_iter();
    let Some(mut out) = parts.next() else {
        return ImageSet {
            images: Vec::new(),
            labels: Vec::new(),
            channels: 0,
            height: 0,
            width: 0,
        };
    };
    for part in parts {
        out.images.extend_from_slice(&part.images);
        out.labels.extend_from_slice(&part.labels);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_channel_set() -> ImageSet {
        // Three 2×1×2 images whose pixel values encode (image, channel, x).
        let mut images = Vec::new();
        for i in 0..3u8 {
            for c in 0..2u8 {
                for x in 0..2u8 {
                    images.push(100 * c + 10 * i + x);
                }
            }
        }
        ImageSet {
            images,
            labels: vec![2, 0, 2],
            channels: 2,
            height: 1,
            width: 2,
        }
    }

    #[test]
    fn image_and_subset_pick_the_right_pixels() {
        let set = two_channel_set();
        assert_eq!(set.len(), 3);
        assert_eq!(set.image_size(), 4);
        assert_eq!(set.image(1), &[10, 11, 110, 111]);
        let sub = set.subset(&[2, 0, 2]);
        assert_eq!(sub.len(), 3);
        assert_eq!(sub.labels, vec![2, 2, 2]);
        assert_eq!(sub.image(0), set.image(2));
        assert_eq!(sub.image(1), set.image(0));
        assert_eq!((sub.channels, sub.height, sub.width), (2, 1, 2));
    }

    #[test]
    fn debug_output_is_a_short_summary() {
        let mut set = two_channel_set();
        set.images = vec![7; 100_000];
        set.labels = vec![1; 25_000];
        let text = format!("{set:?}");
        assert!(text.len() < 200, "{text}");
        assert!(
            text.contains("len: 25000") && text.contains("100000 bytes"),
            "{text}"
        );
    }

    #[test]
    fn histogram_counts_and_grows_for_large_labels() {
        let set = two_channel_set();
        assert_eq!(set.class_histogram(4), vec![1, 0, 2, 0]);
        assert_eq!(set.class_histogram(1), vec![1, 0, 2]);
    }

    #[test]
    fn channel_stats_match_a_direct_computation() {
        let set = two_channel_set();
        let (mean, std) = set.channel_stats();
        for c in 0..2 {
            let values: Vec<f64> = (0..3)
                .flat_map(|i| set.image(i)[c * 2..c * 2 + 2].to_vec())
                .map(|p| p as f64 / 255.0)
                .collect();
            let m = values.iter().sum::<f64>() / values.len() as f64;
            let v = values.iter().map(|x| (x - m).powi(2)).sum::<f64>() / values.len() as f64;
            assert!((mean[c] - m).abs() < 1e-12, "mean {c}");
            assert!((std[c] - v.sqrt()).abs() < 1e-9, "std {c}");
        }
    }
}
