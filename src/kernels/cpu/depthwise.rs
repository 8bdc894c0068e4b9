//! Depthwise convolution, one plane at a time: direct loops over the kernel taps, and the
//! vector helpers of the wide stride-1 path.

use super::geom::ConvGeom;
use super::taps::ConvTaps;

/// `sum a[i] * b[i]` in 16 independent lanes, so the loop vectorises.
#[inline]
pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..16 {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `acc[i] += w * src[i]`.
#[inline]
pub(super) fn axpy(acc: &mut [f32], w: f32, src: &[f32]) {
    for (a, s) in acc.iter_mut().zip(src) {
        *a += w * *s;
    }
}

/// Depthwise forward of one plane: `y += w (*) x` (cross-correlation, strided, dilated).
#[inline]
pub(super) fn depthwise_plane(x: &[f32], w: &[f32], y: &mut [f32], g: &ConvGeom, t: &ConvTaps) {
    let ow = g.out_w();
    for (ky, ty) in t.y.iter().enumerate() {
        for (kx, tx) in t.x.iter().enumerate() {
            let wv = w[ky * g.kw + kx];
            let start = tx.start;
            for oy in ty.lo..ty.hi {
                let iy = (oy as isize * g.stride as isize + ty.off) as usize;
                let src = &x[iy * g.w..(iy + 1) * g.w];
                let dst = &mut y[oy * ow + tx.lo..oy * ow + tx.hi];
                for (d, s) in dst.iter_mut().zip(src[start..].iter().step_by(g.stride)) {
                    *d += wv * *s;
                }
            }
        }
    }
}

/// Depthwise input gradient of one plane: `dx += w (*)^T gy`.
#[inline]
pub(super) fn depthwise_plane_dx(
    gy: &[f32],
    w: &[f32],
    dx: &mut [f32],
    g: &ConvGeom,
    t: &ConvTaps,
) {
    let ow = g.out_w();
    for (ky, ty) in t.y.iter().enumerate() {
        for (kx, tx) in t.x.iter().enumerate() {
            let wv = w[ky * g.kw + kx];
            let start = tx.start;
            for oy in ty.lo..ty.hi {
                let iy = (oy as isize * g.stride as isize + ty.off) as usize;
                let src = &gy[oy * ow + tx.lo..oy * ow + tx.hi];
                let dst = &mut dx[iy * g.w..(iy + 1) * g.w];
                for (d, s) in dst[start..].iter_mut().step_by(g.stride).zip(src) {
                    *d += wv * *s;
                }
            }
        }
    }
}

/// Depthwise weight gradient contribution of one plane: `dw[ky, kx] += sum gy * x(shifted)`.
#[inline]
pub(super) fn depthwise_plane_dw(
    x: &[f32],
    gy: &[f32],
    dw: &mut [f32],
    g: &ConvGeom,
    t: &ConvTaps,
) {
    let ow = g.out_w();
    for (ky, ty) in t.y.iter().enumerate() {
        for (kx, tx) in t.x.iter().enumerate() {
            let start = tx.start;
            let mut acc = 0.0f32;
            for oy in ty.lo..ty.hi {
                let iy = (oy as isize * g.stride as isize + ty.off) as usize;
                let src = &x[iy * g.w..(iy + 1) * g.w];
                let gr = &gy[oy * ow + tx.lo..oy * ow + tx.hi];
                acc += gr
                    .iter()
                    .zip(src[start..].iter().step_by(g.stride))
                    .map(|(a, b)| a * b)
                    .sum::<f32>();
            }
            dw[ky * g.kw + kx] += acc;
        }
    }
}
