//! Pooling (max, or average excluding padding) and its input gradient.

use rayon::prelude::*;

use super::taps::{Tap, taps};

/// The geometry of a 2-D pooling (square kernel, symmetric padding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolGeom {
    /// Number of planes (batch x channels).
    pub planes: usize,
    pub h: usize,
    pub w: usize,
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
    /// Max pooling, else average excluding padding.
    pub max: bool,
}

impl PoolGeom {
    pub fn out_h(&self) -> usize {
        (self.h + 2 * self.pad - self.k) / self.stride + 1
    }
    pub fn out_w(&self) -> usize {
        (self.w + 2 * self.pad - self.k) / self.stride + 1
    }
    /// Input window rows/cols of output position `o`: `lo..hi` clipped to the image.
    #[inline]
    fn window(&self, o: usize, len: usize) -> (usize, usize) {
        let start = (o * self.stride) as isize - self.pad as isize;
        let lo = start.max(0) as usize;
        let hi = ((start + self.k as isize) as usize).min(len);
        (lo, hi)
    }
}

/// Reduces each length-`k` window of one row (taps `taps`, stride `s`) into `out` (length
/// `ow`): sum for average pooling, max (NaN-propagating) for max pooling.
#[inline]
fn pool_row(src: &[f32], out: &mut [f32], taps: &[Tap], s: usize, max: bool) {
    let init = if max { f32::NEG_INFINITY } else { 0.0 };
    out.fill(init);
    for t in taps {
        let out = &mut out[t.lo..t.hi];
        if s == 1 {
            // Plain slices, so the loops vectorise.
            reduce_into(out, &src[t.start..t.start + out.len()], max);
        } else {
            let src = src[t.start..].iter().step_by(s);
            for (o, v) in out.iter_mut().zip(src) {
                *o = if max {
                    if (*v > *o) | v.is_nan() { *v } else { *o }
                } else {
                    *o + *v
                };
            }
        }
    }
}

/// `out = max(out, src)` (NaN-propagating) or `out += src`, elementwise.
#[inline]
fn reduce_into(out: &mut [f32], src: &[f32], max: bool) {
    if max {
        for (o, v) in out.iter_mut().zip(src) {
            *o = if (*v > *o) | v.is_nan() { *v } else { *o };
        }
    } else {
        for (o, v) in out.iter_mut().zip(src) {
            *o += *v;
        }
    }
}

/// `1 / count` of every output position of average pooling, where `count` is the number of
/// the window's positions inside the image (`count_include_pad = false`).
fn avg_pool_scale(g: &PoolGeom) -> Vec<f32> {
    let (oh, ow) = (g.out_h(), g.out_w());
    let mut scale = Vec::with_capacity(oh * ow);
    for oy in 0..oh {
        let (ylo, yhi) = g.window(oy, g.h);
        for ox in 0..ow {
            let (xlo, xhi) = g.window(ox, g.w);
            scale.push(1.0 / ((yhi - ylo) * (xhi - xlo)).max(1) as f32);
        }
    }
    scale
}

/// 3x3 pooling at stride 1 with padding 1 over one whole plane, as flat passes: a horizontal
/// 3-sum (or max) over the plane read as one long row, its first and last column of each row
/// redone without the wrapped neighbour, then the same vertically. The long loops vectorise,
/// which row-by-row windows of 7 to 32 pixels do not. Needs `h, w >= 2`; `tmp` has `h * w`.
fn pool3_plane(x: &[f32], h: usize, w: usize, max: bool, tmp: &mut [f32], y: &mut [f32]) {
    let n = h * w;
    let op = |a: f32, b: f32| {
        if max {
            if (b > a) | b.is_nan() { b } else { a }
        } else {
            a + b
        }
    };
    for ((t, a), (b, c)) in tmp[1..n - 1]
        .iter_mut()
        .zip(&x[..n - 2])
        .zip(x[1..n - 1].iter().zip(&x[2..]))
    {
        *t = op(op(*a, *b), *c);
    }
    for r in 0..h {
        let row = &x[r * w..(r + 1) * w];
        tmp[r * w] = op(row[0], row[1]);
        tmp[r * w + w - 1] = op(row[w - 2], row[w - 1]);
    }
    for ((o, a), b) in y[..w].iter_mut().zip(&tmp[..w]).zip(&tmp[w..2 * w]) {
        *o = op(*a, *b);
    }
    for ((o, a), (b, c)) in y[w..n - w]
        .iter_mut()
        .zip(&tmp[..n - 2 * w])
        .zip(tmp[w..n - w].iter().zip(&tmp[2 * w..]))
    {
        *o = op(op(*a, *b), *c);
    }
    for ((o, a), b) in y[n - w..]
        .iter_mut()
        .zip(&tmp[n - 2 * w..n - w])
        .zip(&tmp[n - w..])
    {
        *o = op(*a, *b);
    }
}

/// Whether [`pool3_plane`] computes this pooling.
fn is_pool3_same(g: &PoolGeom) -> bool {
    g.k == 3 && g.stride == 1 && g.pad == 1 && g.h >= 2 && g.w >= 2
}

/// Pooling forward: max, or average over the window's valid positions (`count_include_pad =
/// false`). Both are separable: rows first, then columns.
pub fn pool_forward(x: &[f32], g: &PoolGeom) -> Vec<f32> {
    let (oh, ow) = (g.out_h(), g.out_w());
    let plane_in = g.h * g.w;
    let mut y = vec![0.0f32; g.planes * oh * ow];
    let tx = taps(ow, g.stride, g.k, 1, g.pad, g.w);
    let scale = if g.max { Vec::new() } else { avg_pool_scale(g) };
    if is_pool3_same(g) {
        y.par_chunks_mut(plane_in).enumerate().for_each_init(
            || vec![0.0f32; plane_in],
            |tmp, (p, yp)| {
                pool3_plane(
                    &x[p * plane_in..(p + 1) * plane_in],
                    g.h,
                    g.w,
                    g.max,
                    tmp,
                    yp,
                );
                if !g.max {
                    for (o, s) in yp.iter_mut().zip(&scale) {
                        *o *= *s;
                    }
                }
            },
        );
        return y;
    }
    y.par_chunks_mut(oh * ow).enumerate().for_each_init(
        || vec![0.0f32; g.h * ow],
        |rows, (p, yp)| {
            let xp = &x[p * plane_in..(p + 1) * plane_in];
            for iy in 0..g.h {
                pool_row(
                    &xp[iy * g.w..(iy + 1) * g.w],
                    &mut rows[iy * ow..(iy + 1) * ow],
                    &tx,
                    g.stride,
                    g.max,
                );
            }
            for oy in 0..oh {
                let (ylo, yhi) = g.window(oy, g.h);
                let out = &mut yp[oy * ow..(oy + 1) * ow];
                out.copy_from_slice(&rows[ylo * ow..(ylo + 1) * ow]);
                for iy in ylo + 1..yhi {
                    reduce_into(out, &rows[iy * ow..(iy + 1) * ow], g.max);
                }
                if !g.max {
                    for (o, s) in out.iter_mut().zip(&scale[oy * ow..(oy + 1) * ow]) {
                        *o *= *s;
                    }
                }
            }
        },
    );
    y
}

/// Pooling input gradient: to the first maximum of each window (scan order), or spread evenly
/// over the window's valid positions.
pub fn pool_backward(x: &[f32], gy: &[f32], g: &PoolGeom) -> Vec<f32> {
    let (oh, ow) = (g.out_h(), g.out_w());
    let plane_in = g.h * g.w;
    let mut dx = vec![0.0f32; g.planes * plane_in];
    let tx = taps(ow, g.stride, g.k, 1, g.pad, g.w);
    let scale = if g.max { Vec::new() } else { avg_pool_scale(g) };
    if !g.max && is_pool3_same(g) {
        // The window relation is symmetric, so the adjoint is the same box sum of gy / count.
        dx.par_chunks_mut(plane_in).enumerate().for_each_init(
            || (vec![0.0f32; plane_in], vec![0.0f32; plane_in]),
            |(scaled, tmp), (p, dxp)| {
                for ((s, gv), c) in scaled
                    .iter_mut()
                    .zip(&gy[p * plane_in..(p + 1) * plane_in])
                    .zip(&scale)
                {
                    *s = gv * c;
                }
                pool3_plane(scaled, g.h, g.w, false, tmp, dxp);
            },
        );
        return dx;
    }
    let xwin: Vec<(usize, usize)> = (0..ow).map(|ox| g.window(ox, g.w)).collect();
    dx.par_chunks_mut(plane_in).enumerate().for_each_init(
        || vec![0.0f32; ow],
        |scaled, (p, dxp)| {
            let xp = &x[p * plane_in..(p + 1) * plane_in];
            let gp = &gy[p * oh * ow..(p + 1) * oh * ow];
            for oy in 0..oh {
                let (ylo, yhi) = g.window(oy, g.h);
                let grow = &gp[oy * ow..(oy + 1) * ow];
                if g.max {
                    for (gv, &(xlo, xhi)) in grow.iter().zip(&xwin) {
                        let mut best = ylo * g.w + xlo;
                        let mut m = f32::NEG_INFINITY;
                        'scan: for iy in ylo..yhi {
                            for ix in xlo..xhi {
                                let v = xp[iy * g.w + ix];
                                if v.is_nan() {
                                    best = iy * g.w + ix;
                                    break 'scan;
                                }
                                if v > m {
                                    m = v;
                                    best = iy * g.w + ix;
                                }
                            }
                        }
                        dxp[best] += gv;
                    }
                } else {
                    // Spread g / count over the window: scale, then the transposed separable sum.
                    for ((s, gv), c) in scaled
                        .iter_mut()
                        .zip(grow)
                        .zip(&scale[oy * ow..(oy + 1) * ow])
                    {
                        *s = gv * c;
                    }
                    for iy in ylo..yhi {
                        let drow = &mut dxp[iy * g.w..(iy + 1) * g.w];
                        for t in &tx {
                            let src = &scaled[t.lo..t.hi];
                            if g.stride == 1 {
                                reduce_into(&mut drow[t.start..t.start + src.len()], src, false);
                            } else {
                                for (d, s) in drow[t.start..].iter_mut().step_by(g.stride).zip(src)
                                {
                                    *d += *s;
                                }
                            }
                        }
                    }
                }
            }
        },
    );
    dx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::cpu::test_util::{dot, random};

    #[test]
    fn pooling_matches_the_definition_and_its_gradient_is_the_adjoint() {
        for max in [false, true] {
            for (stride, h) in [(1, 7), (1, 2), (2, 8), (2, 7), (1, 1), (2, 2), (2, 1)] {
                let g = PoolGeom {
                    planes: 3,
                    h,
                    w: h,
                    k: 3,
                    stride,
                    pad: 1,
                    max,
                };
                let x = random(g.planes * h * h, 5);
                let y = pool_forward(&x, &g);
                let (oh, ow) = (g.out_h(), g.out_w());
                for p in 0..g.planes {
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let mut vals = Vec::new();
                            for ky in 0..3 {
                                for kx in 0..3 {
                                    let iy = (oy * stride + ky) as isize - 1;
                                    let ix = (ox * stride + kx) as isize - 1;
                                    if iy >= 0 && ix >= 0 && iy < h as isize && ix < h as isize {
                                        vals.push(x[(p * h + iy as usize) * h + ix as usize]);
                                    }
                                }
                            }
                            let want = if max {
                                vals.iter().copied().fold(f32::NEG_INFINITY, f32::max)
                            } else {
                                vals.iter().sum::<f32>() / vals.len() as f32
                            };
                            assert!((y[(p * oh + oy) * ow + ox] - want).abs() < 1e-6);
                        }
                    }
                }
                // Average pooling is linear: its backward is the exact adjoint. Max pooling is
                // linear in x around a point with distinct values, with the same identity.
                let gy = random(y.len(), 9);
                let dx = pool_backward(&x, &gy, &g);
                assert!(
                    (dot(&y, &gy) - dot(&x, &dx)).abs() < 1e-4,
                    "max={max} stride={stride}"
                );
            }
        }
    }
}
