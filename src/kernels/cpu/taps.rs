//! Kernel taps along one axis: which output positions each tap reads inside the image.

use super::geom::ConvGeom;

/// One kernel tap along one axis: it reads input `o*stride + off` (`off = k*dil - pad`) for the
/// output positions `lo..hi`, the ones whose input lies inside the image; `start` is the input
/// read at `lo` (clamped to the image, so an empty tap slices nothing).
#[derive(Clone, Copy, Debug)]
pub(super) struct Tap {
    pub(super) off: isize,
    pub(super) lo: usize,
    pub(super) hi: usize,
    pub(super) start: usize,
}

/// The taps of a kernel of size `k` along one axis, computed once per call instead of per
/// plane or row (their integer divisions showed up in profiles of small maps).
pub(super) fn taps(
    out_len: usize,
    stride: usize,
    k: usize,
    dil: usize,
    pad: usize,
    len: usize,
) -> Vec<Tap> {
    (0..k)
        .map(|t| {
            let off = (t * dil) as isize - pad as isize;
            let (lo, hi) = valid_range(out_len, stride, off, len);
            let start = (lo as isize * stride as isize + off).clamp(0, len as isize) as usize;
            Tap { off, lo, hi, start }
        })
        .collect()
}

/// The range of output positions `o` whose input `o*s + off` (off = k*d - pad) lies in
/// `0..len`.
#[inline]
fn valid_range(out_len: usize, s: usize, off: isize, len: usize) -> (usize, usize) {
    let s = s as isize;
    // o*s + off >= 0  <=>  o >= ceil(-off / s)
    let lo = if off >= 0 { 0 } else { ((-off) + s - 1) / s };
    // o*s + off <= len - 1  <=>  o <= floor((len - 1 - off) / s)
    let hi_num = len as isize - 1 - off;
    let hi = if hi_num < 0 { -1 } else { hi_num / s };
    let lo = lo.max(0) as usize;
    let hi = (hi + 1).clamp(0, out_len as isize) as usize;
    (lo.min(hi), hi)
}

/// The row and column taps of a convolution.
pub(super) struct ConvTaps {
    pub(super) y: Vec<Tap>,
    pub(super) x: Vec<Tap>,
}

impl ConvTaps {
    pub(super) fn new(g: &ConvGeom) -> Self {
        ConvTaps {
            y: taps(g.out_h(), g.stride, g.kh, g.dil, g.pad, g.h),
            x: taps(g.out_w(), g.stride, g.kw, g.dil, g.pad, g.w),
        }
    }
}
