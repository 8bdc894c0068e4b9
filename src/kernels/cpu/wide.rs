//! The "wide" layout of stride-1 convolutions over zero-padded input planes.

use super::geom::ConvGeom;

/// Stride-1 convolutions over the zero-padded input plane (the "wide" layout).
///
/// Output position `(oy, ox)` sits at `oy * wp + ox` of a row-major buffer as wide as the
/// padded plane, so each kernel tap reads one contiguous run of the padded plane: im2col
/// becomes one copy per tap and channel, and depthwise taps become one long vectorised
/// multiply-add. The `wp - ow` columns between output rows are computed and dropped.
pub(super) struct Wide {
    /// Padded plane height and width.
    pub(super) hp: usize,
    pub(super) wp: usize,
    /// Image height and width.
    h: usize,
    w: usize,
    pub(super) pad: usize,
    /// Output height and width.
    oh: usize,
    ow: usize,
    /// Length of one wide output plane: `(oh - 1) * wp + ow`, so the last tap stays inside
    /// the padded plane.
    pub(super) len: usize,
    /// Offset of each kernel tap (row-major over `ky, kx`) in the padded plane.
    pub(super) offs: Vec<usize>,
}

impl Wide {
    /// The wide layout of `g`, when it is stride 1 with a non-empty output.
    pub(super) fn new(g: &ConvGeom) -> Option<Wide> {
        if g.stride != 1 || g.out_h() == 0 || g.out_w() == 0 {
            return None;
        }
        let (hp, wp) = (g.h + 2 * g.pad, g.w + 2 * g.pad);
        let (oh, ow) = (g.out_h(), g.out_w());
        let offs = (0..g.kh)
            .flat_map(|ky| (0..g.kw).map(move |kx| ky * g.dil * wp + kx * g.dil))
            .collect();
        Some(Wide {
            hp,
            wp,
            h: g.h,
            w: g.w,
            pad: g.pad,
            oh,
            ow,
            len: (oh - 1) * wp + ow,
            offs,
        })
    }

    #[inline]
    pub(super) fn plane(&self) -> usize {
        self.hp * self.wp
    }

    /// Copies an image plane into the interior of a padded plane whose border is zero.
    #[inline]
    pub(super) fn pad_into(&self, x: &[f32], padded: &mut [f32]) {
        for iy in 0..self.h {
            let dst = (iy + self.pad) * self.wp + self.pad;
            padded[dst..dst + self.w].copy_from_slice(&x[iy * self.w..(iy + 1) * self.w]);
        }
    }

    /// Drops the in-between columns of a wide output plane.
    #[inline]
    pub(super) fn compact(&self, wide: &[f32], out: &mut [f32]) {
        for oy in 0..self.oh {
            out[oy * self.ow..(oy + 1) * self.ow]
                .copy_from_slice(&wide[oy * self.wp..oy * self.wp + self.ow]);
        }
    }

    /// Spreads an output plane into a wide plane, zeroing the in-between columns.
    #[inline]
    pub(super) fn expand(&self, out: &[f32], wide: &mut [f32]) {
        for oy in 0..self.oh {
            let row = &mut wide[oy * self.wp..(oy * self.wp + self.wp).min(self.len)];
            row[..self.ow].copy_from_slice(&out[oy * self.ow..(oy + 1) * self.ow]);
            row[self.ow..].fill(0.0);
        }
    }

    /// im2col of `channels` padded planes: row `c * taps + t` is the run of tap `t` over
    /// channel `c`.
    #[inline]
    pub(super) fn im2col(&self, padded: &[f32], channels: usize, cols: &mut [f32]) {
        let taps = self.offs.len();
        for c in 0..channels {
            let plane = &padded[c * self.plane()..(c + 1) * self.plane()];
            for (t, &off) in self.offs.iter().enumerate() {
                cols[(c * taps + t) * self.len..][..self.len]
                    .copy_from_slice(&plane[off..off + self.len]);
            }
        }
    }
}
