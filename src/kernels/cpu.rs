//! Plain f32 CPU kernels for the operations a supernet spends its time in: 2-D convolution
//! (dense, grouped and depthwise, with stride, padding and dilation), 3x3-style pooling and
//! BatchNorm, each with its backward passes.
//!
//! burn's flex backend computes convolution weight gradients as a convolution whose kernel is
//! the whole output map, and depthwise ones group by group; at DARTS's small channel counts
//! that is 10-40x slower than the forward pass. These kernels use im2col + GEMM for dense
//! convolutions and direct loops for depthwise ones, parallel over the batch with rayon.
//! Tensors are NCHW, contiguous; weights are `[c_out, c_in / groups, kh, kw]`.

use rayon::prelude::*;

/// The geometry of a 2-D convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    pub n: usize,
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub pad: usize,
    pub dil: usize,
    pub groups: usize,
}

impl ConvGeom {
    pub fn out_h(&self) -> usize {
        (self.h + 2 * self.pad - self.dil * (self.kh - 1) - 1) / self.stride + 1
    }
    pub fn out_w(&self) -> usize {
        (self.w + 2 * self.pad - self.dil * (self.kw - 1) - 1) / self.stride + 1
    }
    fn cin_g(&self) -> usize {
        self.c_in / self.groups
    }
    fn cout_g(&self) -> usize {
        self.c_out / self.groups
    }
    /// Rows of the im2col matrix of one group: `c_in/groups * kh * kw`.
    fn k(&self) -> usize {
        self.cin_g() * self.kh * self.kw
    }
    fn is_depthwise(&self) -> bool {
        self.cin_g() == 1 && self.cout_g() == 1
    }
    fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == 1 && self.pad == 0
    }
    pub fn x_len(&self) -> usize {
        self.n * self.c_in * self.h * self.w
    }
    pub fn y_len(&self) -> usize {
        self.n * self.c_out * self.out_h() * self.out_w()
    }
    pub fn w_len(&self) -> usize {
        self.c_out * self.k()
    }
}

/// A matrix in a mutable slice, with row and column strides.
struct Strided<'a> {
    data: &'a mut [f32],
    rs: usize,
    cs: usize,
}

impl<'a> Strided<'a> {
    /// A row-major matrix with `n` columns.
    fn rows(data: &'a mut [f32], n: usize) -> Self {
        Strided { data, rs: n, cs: 1 }
    }
}

/// `dst (m x n) = [dst +] lhs (m x k) * rhs (k x n)` with explicit row/column strides; the
/// destination may have any strides (a transposed one, for instance).
#[allow(clippy::too_many_arguments)]
fn matmul(
    dst: Strided,
    m: usize,
    n: usize,
    k: usize,
    accumulate: bool,
    lhs: &[f32],
    lhs_rs: usize,
    lhs_cs: usize,
    rhs: &[f32],
    rhs_rs: usize,
    rhs_cs: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    // The pointers below are only read within these extents.
    assert!(dst.data.len() > (m - 1) * dst.rs + (n - 1) * dst.cs);
    assert!(k == 0 || lhs.len() > (m - 1) * lhs_rs + (k - 1) * lhs_cs);
    assert!(k == 0 || rhs.len() > (k - 1) * rhs_rs + (n - 1) * rhs_cs);
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                for j in 0..n {
                    dst.data[i * dst.rs + j * dst.cs] = 0.0;
                }
            }
        }
        return;
    }
    // SAFETY: the assertions above keep every index gemm computes inside the three slices, and
    // `dst` does not alias `lhs` or `rhs` (they are distinct borrows).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.data.as_mut_ptr(),
            dst.cs as isize,
            dst.rs as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// One kernel tap along one axis: it reads input `o*stride + off` (`off = k*dil - pad`) for the
/// output positions `lo..hi`, the ones whose input lies inside the image; `start` is the input
/// read at `lo` (clamped to the image, so an empty tap slices nothing).
#[derive(Clone, Copy, Debug)]
struct Tap {
    off: isize,
    lo: usize,
    hi: usize,
    start: usize,
}

/// The taps of a kernel of size `k` along one axis, computed once per call instead of per
/// plane or row (their integer divisions showed up in profiles of small maps).
fn taps(out_len: usize, stride: usize, k: usize, dil: usize, pad: usize, len: usize) -> Vec<Tap> {
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
struct ConvTaps {
    y: Vec<Tap>,
    x: Vec<Tap>,
}

impl ConvTaps {
    fn new(g: &ConvGeom) -> Self {
        ConvTaps {
            y: taps(g.out_h(), g.stride, g.kh, g.dil, g.pad, g.h),
            x: taps(g.out_w(), g.stride, g.kw, g.dil, g.pad, g.w),
        }
    }
}

/// `sum a[i] * b[i]` in 16 independent lanes, so the loop vectorises.
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
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
fn axpy(acc: &mut [f32], w: f32, src: &[f32]) {
    for (a, s) in acc.iter_mut().zip(src) {
        *a += w * *s;
    }
}

/// Stride-1 convolutions over the zero-padded input plane (the "wide" layout).
///
/// Output position `(oy, ox)` sits at `oy * wp + ox` of a row-major buffer as wide as the
/// padded plane, so each kernel tap reads one contiguous run of the padded plane: im2col
/// becomes one copy per tap and channel, and depthwise taps become one long vectorised
/// multiply-add. The `wp - ow` columns between output rows are computed and dropped.
struct Wide {
    /// Padded plane height and width.
    hp: usize,
    wp: usize,
    /// Image height and width.
    h: usize,
    w: usize,
    pad: usize,
    /// Output height and width.
    oh: usize,
    ow: usize,
    /// Length of one wide output plane: `(oh - 1) * wp + ow`, so the last tap stays inside
    /// the padded plane.
    len: usize,
    /// Offset of each kernel tap (row-major over `ky, kx`) in the padded plane.
    offs: Vec<usize>,
}

impl Wide {
    /// The wide layout of `g`, when it is stride 1 with a non-empty output.
    fn new(g: &ConvGeom) -> Option<Wide> {
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

    fn plane(&self) -> usize {
        self.hp * self.wp
    }

    /// Copies an image plane into the interior of a padded plane whose border is zero.
    fn pad_into(&self, x: &[f32], padded: &mut [f32]) {
        for iy in 0..self.h {
            let dst = (iy + self.pad) * self.wp + self.pad;
            padded[dst..dst + self.w].copy_from_slice(&x[iy * self.w..(iy + 1) * self.w]);
        }
    }

    /// Drops the in-between columns of a wide output plane.
    fn compact(&self, wide: &[f32], out: &mut [f32]) {
        for oy in 0..self.oh {
            out[oy * self.ow..(oy + 1) * self.ow]
                .copy_from_slice(&wide[oy * self.wp..oy * self.wp + self.ow]);
        }
    }

    /// Spreads an output plane into a wide plane, zeroing the in-between columns.
    fn expand(&self, out: &[f32], wide: &mut [f32]) {
        for oy in 0..self.oh {
            let row = &mut wide[oy * self.wp..(oy * self.wp + self.wp).min(self.len)];
            row[..self.ow].copy_from_slice(&out[oy * self.ow..(oy + 1) * self.ow]);
            row[self.ow..].fill(0.0);
        }
    }

    /// im2col of `channels` padded planes: row `c * taps + t` is the run of tap `t` over
    /// channel `c`.
    fn im2col(&self, padded: &[f32], channels: usize, cols: &mut [f32]) {
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

/// Per-thread scratch of the wide stride-1 path: padded input planes, columns and one wide
/// output (or output-gradient) block. The padded planes' borders are written only once, as
/// zeros, and stay zero: every use writes just the interior.
struct WideScratch {
    padded: Vec<f32>,
    cols: Vec<f32>,
    out: Vec<f32>,
}

/// What a [`WideScratch`]'s sizes and zero borders depend on: the padded plane and its
/// padding, the wide length, input channels, rows of columns and output channels per group.
type ScratchKey = (usize, usize, usize, usize, usize, usize, usize);

thread_local! {
    /// Each thread's scratch per layout. Zeroing fresh scratch for every parallel job cost a
    /// few percent of a supernet step; a network has only a handful of layouts.
    static WIDE_SCRATCH: std::cell::RefCell<std::collections::HashMap<ScratchKey, WideScratch>> =
        Default::default();
}

impl WideScratch {
    fn new(wd: &Wide, g: &ConvGeom) -> Self {
        WideScratch {
            padded: vec![0.0; g.cin_g() * wd.plane()],
            cols: vec![0.0; g.k() * wd.len],
            out: vec![0.0; g.cout_g() * wd.len],
        }
    }

    /// Runs `f` on this thread's scratch for the layout of `wd` and `g`. `f` must not start
    /// parallel work (a job stolen meanwhile could ask for the same scratch).
    fn with<R>(wd: &Wide, g: &ConvGeom, f: impl FnOnce(&mut WideScratch) -> R) -> R {
        let key = (wd.hp, wd.wp, wd.pad, wd.len, g.cin_g(), g.k(), g.cout_g());
        WIDE_SCRATCH
            .with_borrow_mut(|cache| f(cache.entry(key).or_insert_with(|| WideScratch::new(wd, g))))
    }
}

/// im2col of one group of one sample: `cols[(c*kh + ky)*kw + kx][oy*ow + ox]`.
fn im2col(x: &[f32], g: &ConvGeom, t: &ConvTaps, cols: &mut [f32]) {
    let (oh, ow) = (g.out_h(), g.out_w());
    let ohw = oh * ow;
    for c in 0..g.cin_g() {
        let plane = &x[c * g.h * g.w..(c + 1) * g.h * g.w];
        for (ky, ty) in t.y.iter().enumerate() {
            for (kx, tx) in t.x.iter().enumerate() {
                let row = &mut cols[((c * g.kh + ky) * g.kw + kx) * ohw..][..ohw];
                row[..ty.lo * ow].fill(0.0);
                row[ty.hi * ow..].fill(0.0);
                let start = tx.start;
                for oy in ty.lo..ty.hi {
                    let iy = (oy as isize * g.stride as isize + ty.off) as usize;
                    let out = &mut row[oy * ow..(oy + 1) * ow];
                    out[..tx.lo].fill(0.0);
                    out[tx.hi..].fill(0.0);
                    let src = &plane[iy * g.w..(iy + 1) * g.w];
                    if g.stride == 1 {
                        out[tx.lo..tx.hi].copy_from_slice(&src[start..start + (tx.hi - tx.lo)]);
                    } else {
                        for (o, s) in out[tx.lo..tx.hi]
                            .iter_mut()
                            .zip(src[start..].iter().step_by(g.stride))
                        {
                            *o = *s;
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: accumulates columns back into one group's input gradient.
fn col2im(cols: &[f32], g: &ConvGeom, t: &ConvTaps, dx: &mut [f32]) {
    let (oh, ow) = (g.out_h(), g.out_w());
    let ohw = oh * ow;
    for c in 0..g.cin_g() {
        let plane = &mut dx[c * g.h * g.w..(c + 1) * g.h * g.w];
        for (ky, ty) in t.y.iter().enumerate() {
            for (kx, tx) in t.x.iter().enumerate() {
                let row = &cols[((c * g.kh + ky) * g.kw + kx) * ohw..][..ohw];
                let start = tx.start;
                for oy in ty.lo..ty.hi {
                    let iy = (oy as isize * g.stride as isize + ty.off) as usize;
                    let src = &row[oy * ow + tx.lo..oy * ow + tx.hi];
                    let dst = &mut plane[iy * g.w..(iy + 1) * g.w];
                    for (d, s) in dst[start..].iter_mut().step_by(g.stride).zip(src) {
                        *d += *s;
                    }
                }
            }
        }
    }
}

/// Depthwise forward of one plane: `y += w (*) x` (cross-correlation, strided, dilated).
fn depthwise_plane(x: &[f32], w: &[f32], y: &mut [f32], g: &ConvGeom, t: &ConvTaps) {
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
fn depthwise_plane_dx(gy: &[f32], w: &[f32], dx: &mut [f32], g: &ConvGeom, t: &ConvTaps) {
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
fn depthwise_plane_dw(x: &[f32], gy: &[f32], dw: &mut [f32], g: &ConvGeom, t: &ConvTaps) {
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

/// Convolution forward: `y[n, co] = sum_ci w[co, ci] (*) x[n, ci]`, no bias.
pub fn conv_forward(x: &[f32], w: &[f32], g: &ConvGeom) -> Vec<f32> {
    assert_eq!(x.len(), g.x_len());
    assert_eq!(w.len(), g.w_len());
    let (oh, ow) = (g.out_h(), g.out_w());
    let ohw = oh * ow;
    let x_sample = g.c_in * g.h * g.w;
    let y_sample = g.c_out * ohw;
    let mut y = vec![0.0f32; g.y_len()];
    if ohw == 0 {
        return y;
    }
    let plane_in = g.h * g.w;
    if g.is_depthwise() {
        let kk = g.kh * g.kw;
        if let Some(wd) = Wide::new(g) {
            y.par_chunks_mut(ohw).enumerate().for_each(|(i, yp)| {
                WideScratch::with(&wd, g, |s| {
                    let c = i % g.c_out;
                    wd.pad_into(&x[i * plane_in..(i + 1) * plane_in], &mut s.padded);
                    s.out.fill(0.0);
                    for (t, &off) in wd.offs.iter().enumerate() {
                        axpy(&mut s.out, w[c * kk + t], &s.padded[off..off + wd.len]);
                    }
                    wd.compact(&s.out, yp);
                })
            });
            return y;
        }
        let t = ConvTaps::new(g);
        y.par_chunks_mut(ohw).enumerate().for_each(|(i, yp)| {
            let c = i % g.c_out;
            depthwise_plane(
                &x[i * plane_in..(i + 1) * plane_in],
                &w[c * kk..(c + 1) * kk],
                yp,
                g,
                &t,
            );
        });
        return y;
    }
    let k = g.k();
    let (cin_g, cout_g) = (g.cin_g(), g.cout_g());
    if !g.is_pointwise()
        && let Some(wd) = Wide::new(g)
    {
        y.par_chunks_mut(y_sample)
            .zip(x.par_chunks(x_sample))
            .for_each(|(yn, xn)| {
                WideScratch::with(&wd, g, |s| {
                    for grp in 0..g.groups {
                        let wg = &w[grp * cout_g * k..(grp + 1) * cout_g * k];
                        for c in 0..cin_g {
                            let ci = grp * cin_g + c;
                            wd.pad_into(
                                &xn[ci * plane_in..(ci + 1) * plane_in],
                                &mut s.padded[c * wd.plane()..(c + 1) * wd.plane()],
                            );
                        }
                        wd.im2col(&s.padded, cin_g, &mut s.cols);
                        let out = Strided::rows(&mut s.out, wd.len);
                        matmul(out, cout_g, wd.len, k, false, wg, k, 1, &s.cols, wd.len, 1);
                        for co in 0..cout_g {
                            let o = grp * cout_g + co;
                            wd.compact(
                                &s.out[co * wd.len..(co + 1) * wd.len],
                                &mut yn[o * ohw..(o + 1) * ohw],
                            );
                        }
                    }
                })
            });
        return y;
    }
    let t = ConvTaps::new(g);
    y.par_chunks_mut(y_sample)
        .zip(x.par_chunks(x_sample))
        .for_each_init(
            || vec![0.0f32; if g.is_pointwise() { 0 } else { k * ohw }],
            |cols, (yn, xn)| {
                for grp in 0..g.groups {
                    let xg = &xn[grp * cin_g * plane_in..(grp + 1) * cin_g * plane_in];
                    let wg = &w[grp * cout_g * k..(grp + 1) * cout_g * k];
                    let yg = &mut yn[grp * cout_g * ohw..(grp + 1) * cout_g * ohw];
                    let rhs: &[f32] = if g.is_pointwise() {
                        xg
                    } else {
                        im2col(xg, g, &t, cols);
                        cols
                    };
                    let dst = Strided::rows(yg, ohw);
                    matmul(dst, cout_g, ohw, k, false, wg, k, 1, rhs, ohw, 1);
                }
            },
        );
    y
}

/// Convolution input gradient.
pub fn conv_backward_input(w: &[f32], gy: &[f32], g: &ConvGeom) -> Vec<f32> {
    assert_eq!(gy.len(), g.y_len());
    assert_eq!(w.len(), g.w_len());
    let (oh, ow) = (g.out_h(), g.out_w());
    let ohw = oh * ow;
    let x_sample = g.c_in * g.h * g.w;
    let y_sample = g.c_out * ohw;
    let full_pad = (g.dil * (g.kh - 1)) as isize - g.pad as isize;
    let kk = g.kh * g.kw;
    if (g.groups == 1 || g.is_depthwise())
        && g.stride == 1
        && g.kh == g.kw
        && full_pad >= 0
        && !g.is_pointwise()
        && ohw > 0
    {
        // At stride 1 the input gradient is itself a convolution of gy with the flipped
        // (and, for dense kernels, transposed) kernel: the fast forward path, instead of
        // GEMM + col2im.
        let mut wt = vec![0.0f32; w.len()];
        if g.is_depthwise() {
            for c in 0..g.c_in {
                for t in 0..kk {
                    wt[c * kk + (kk - 1 - t)] = w[c * kk + t];
                }
            }
        } else {
            for co in 0..g.c_out {
                for ci in 0..g.c_in {
                    for t in 0..kk {
                        wt[(ci * g.c_out + co) * kk + (kk - 1 - t)] =
                            w[(co * g.c_in + ci) * kk + t];
                    }
                }
            }
        }
        let gt = ConvGeom {
            n: g.n,
            c_in: g.c_out,
            h: oh,
            w: ow,
            c_out: g.c_in,
            pad: full_pad as usize,
            ..*g
        };
        return conv_forward(gy, &wt, &gt);
    }
    let mut dx = vec![0.0f32; g.x_len()];
    let t = ConvTaps::new(g);
    if g.is_depthwise() {
        let plane_in = g.h * g.w;
        dx.par_chunks_mut(plane_in)
            .enumerate()
            .for_each(|(i, dxp)| {
                let c = i % g.c_in;
                depthwise_plane_dx(
                    &gy[i * ohw..(i + 1) * ohw],
                    &w[c * kk..(c + 1) * kk],
                    dxp,
                    g,
                    &t,
                );
            });
        return dx;
    }
    let k = g.k();
    let (cin_g, cout_g) = (g.cin_g(), g.cout_g());
    dx.par_chunks_mut(x_sample)
        .zip(gy.par_chunks(y_sample))
        .for_each_init(
            || vec![0.0f32; k * ohw],
            |cols, (dxn, gyn)| {
                for grp in 0..g.groups {
                    let wg = &w[grp * cout_g * k..(grp + 1) * cout_g * k];
                    let gyg = &gyn[grp * cout_g * ohw..(grp + 1) * cout_g * ohw];
                    let dxg = &mut dxn[grp * cin_g * g.h * g.w..(grp + 1) * cin_g * g.h * g.w];
                    if g.is_pointwise() {
                        // dx = W^T gy directly.
                        let dst = Strided::rows(dxg, ohw);
                        matmul(dst, k, ohw, cout_g, false, wg, 1, k, gyg, ohw, 1);
                    } else {
                        let dst = Strided::rows(cols, ohw);
                        matmul(dst, k, ohw, cout_g, false, wg, 1, k, gyg, ohw, 1);
                        col2im(cols, g, &t, dxg);
                    }
                }
            },
        );
    dx
}

/// Convolution weight gradient, summed over the batch.
pub fn conv_backward_weight(x: &[f32], gy: &[f32], g: &ConvGeom) -> Vec<f32> {
    assert_eq!(x.len(), g.x_len());
    assert_eq!(gy.len(), g.y_len());
    let (oh, ow) = (g.out_h(), g.out_w());
    let ohw = oh * ow;
    let k = g.k();
    let wlen = g.w_len();
    let plane_in = g.h * g.w;
    if ohw == 0 {
        return vec![0.0f32; wlen];
    }
    if g.is_depthwise() {
        let kk = g.kh * g.kw;
        // Parallel over channels; each sums its planes over the batch, in order.
        let mut dw = vec![0.0f32; wlen];
        if let Some(wd) = Wide::new(g) {
            dw.par_chunks_mut(kk).enumerate().for_each(|(c, dwc)| {
                WideScratch::with(&wd, g, |s| {
                    for n in 0..g.n {
                        let i = n * g.c_in + c;
                        wd.pad_into(&x[i * plane_in..(i + 1) * plane_in], &mut s.padded);
                        wd.expand(&gy[i * ohw..(i + 1) * ohw], &mut s.out);
                        for (d, &off) in dwc.iter_mut().zip(&wd.offs) {
                            *d += dot(&s.out, &s.padded[off..off + wd.len]);
                        }
                    }
                })
            });
            return dw;
        }
        let t = ConvTaps::new(g);
        dw.par_chunks_mut(kk).enumerate().for_each(|(c, dwc)| {
            for n in 0..g.n {
                let i = n * g.c_in + c;
                depthwise_plane_dw(
                    &x[i * plane_in..(i + 1) * plane_in],
                    &gy[i * ohw..(i + 1) * ohw],
                    dwc,
                    g,
                    &t,
                );
            }
        });
        return dw;
    }
    let x_sample = g.c_in * plane_in;
    let y_sample = g.c_out * ohw;
    let (cin_g, cout_g) = (g.cin_g(), g.cout_g());
    let wide = if g.is_pointwise() { None } else { Wide::new(g) };
    let t = ConvTaps::new(g);
    // Fixed groups of samples, each summed in order, then the groups summed in order: the
    // result does not depend on how rayon schedules the work (exact resume needs that).
    const SAMPLES_PER_GROUP: usize = 4;
    let partials: Vec<Vec<f32>> = x
        .par_chunks(x_sample * SAMPLES_PER_GROUP)
        .zip(gy.par_chunks(y_sample * SAMPLES_PER_GROUP))
        .map_init(
            || {
                vec![
                    0.0f32;
                    if g.is_pointwise() || wide.is_some() {
                        0
                    } else {
                        k * ohw
                    }
                ]
            },
            |cols, (xs, gys)| {
                let mut dw = vec![0.0f32; wlen];
                for (xn, gyn) in xs.chunks(x_sample).zip(gys.chunks(y_sample)) {
                    for grp in 0..g.groups {
                        let xg = &xn[grp * cin_g * plane_in..(grp + 1) * cin_g * plane_in];
                        let gyg = &gyn[grp * cout_g * ohw..(grp + 1) * cout_g * ohw];
                        let dwg = &mut dw[grp * cout_g * k..(grp + 1) * cout_g * k];
                        if let Some(wd) = &wide {
                            WideScratch::with(wd, g, |s| {
                                // dW (cout_g x k) += gy_wide (cout_g x len) * cols^T (len x k);
                                // the in-between columns of gy_wide are zero.
                                for c in 0..cin_g {
                                    wd.pad_into(
                                        &xg[c * plane_in..(c + 1) * plane_in],
                                        &mut s.padded[c * wd.plane()..(c + 1) * wd.plane()],
                                    );
                                }
                                wd.im2col(&s.padded, cin_g, &mut s.cols);
                                for co in 0..cout_g {
                                    wd.expand(
                                        &gyg[co * ohw..(co + 1) * ohw],
                                        &mut s.out[co * wd.len..(co + 1) * wd.len],
                                    );
                                }
                                // As its transpose, dW^T (k x cout_g) += cols (k x len) *
                                // gy_wide^T.
                                let dwt = Strided {
                                    data: dwg,
                                    rs: 1,
                                    cs: k,
                                };
                                let len = wd.len;
                                matmul(dwt, k, cout_g, len, true, &s.cols, len, 1, &s.out, 1, len);
                            });
                            continue;
                        }
                        let rhs: &[f32] = if g.is_pointwise() {
                            xg
                        } else {
                            im2col(xg, g, &t, cols);
                            cols
                        };
                        // dW (cout_g x k) += gy (cout_g x ohw) * cols^T (ohw x k)
                        let dst = Strided::rows(dwg, k);
                        matmul(dst, cout_g, k, ohw, true, gyg, ohw, 1, rhs, 1, ohw);
                    }
                }
                dw
            },
        )
        .collect();
    let mut dw = vec![0.0f32; wlen];
    for p in partials {
        for (a, b) in dw.iter_mut().zip(&p) {
            *a += *b;
        }
    }
    dw
}

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

/// Sum and sum of squares of `v - shift`, in 8 independent lanes so the loop vectorises.
fn shifted_sums(v: &[f32], shift: f32) -> (f64, f64) {
    let mut s = [0.0f32; 8];
    let mut q = [0.0f32; 8];
    let chunks = v.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for l in 0..8 {
            let d = c[l] - shift;
            s[l] += d;
            q[l] += d * d;
        }
    }
    let (mut ts, mut tq) = (0.0f64, 0.0f64);
    for l in 0..8 {
        ts += s[l] as f64;
        tq += q[l] as f64;
    }
    for &x in rest {
        let d = (x - shift) as f64;
        ts += d;
        tq += d * d;
    }
    (ts, tq)
}

/// `sum g` and `sum g * (v - mean)` over one plane, in 8 independent lanes so the loop
/// vectorises.
fn grad_sums(g: &[f32], v: &[f32], mean: f32) -> (f64, f64) {
    let mut s = [0.0f32; 8];
    let mut q = [0.0f32; 8];
    let (cg, cv) = (g.chunks_exact(8), v.chunks_exact(8));
    let (rg, rv) = (cg.remainder(), cv.remainder());
    for (a, b) in cg.zip(cv) {
        for l in 0..8 {
            s[l] += a[l];
            q[l] += a[l] * (b[l] - mean);
        }
    }
    let (mut ts, mut tq) = (0.0f64, 0.0f64);
    for l in 0..8 {
        ts += s[l] as f64;
        tq += q[l] as f64;
    }
    for (a, b) in rg.iter().zip(rv) {
        ts += *a as f64;
        tq += (*a * (*b - mean)) as f64;
    }
    (ts, tq)
}

/// Per-channel batch statistics of `x` (`[n, c, hw]`): mean and biased variance, one pass
/// with f64 accumulation of per-plane f32 sums.
pub fn bn_stats(x: &[f32], n: usize, c: usize, hw: usize) -> (Vec<f32>, Vec<f32>) {
    let count = (n * hw) as f64;
    let stats: Vec<(f32, f32)> = (0..c)
        .into_par_iter()
        .map(|ch| {
            // Shifting by one sample keeps E[(x-k)^2] - E[x-k]^2 well conditioned.
            let shift = x.get(ch * hw).copied().unwrap_or(0.0);
            let (mut s, mut q) = (0.0f64, 0.0f64);
            for i in 0..n {
                let plane = &x[(i * c + ch) * hw..(i * c + ch + 1) * hw];
                let (ps, pq) = shifted_sums(plane, shift);
                s += ps;
                q += pq;
            }
            let mean = s / count;
            let var = (q / count - mean * mean).max(0.0);
            ((mean + shift as f64) as f32, var as f32)
        })
        .collect();
    stats.into_iter().unzip()
}

/// BatchNorm with batch statistics: `(x - mean) / sqrt(var + eps) * gamma + beta`.
#[allow(clippy::too_many_arguments)]
pub fn bn_forward(
    x: &[f32],
    n: usize,
    c: usize,
    hw: usize,
    mean: &[f32],
    var: &[f32],
    gamma: Option<&[f32]>,
    beta: Option<&[f32]>,
    eps: f32,
) -> Vec<f32> {
    let mut y = vec![0.0f32; x.len()];
    y.par_chunks_mut(hw).enumerate().for_each(|(i, yp)| {
        let ch = i % c;
        let inv = 1.0 / (var[ch] + eps).sqrt();
        let scale = inv * gamma.map_or(1.0, |g| g[ch]);
        let shift = beta.map_or(0.0, |b| b[ch]) - mean[ch] * scale;
        for (o, v) in yp.iter_mut().zip(&x[i * hw..(i + 1) * hw]) {
            *o = v * scale + shift;
        }
    });
    let _ = n;
    y
}

/// The per-channel sums BatchNorm's backward pass needs: `sum(gy)` (beta's gradient) and
/// `sum(gy * xhat)` (gamma's gradient).
#[allow(clippy::too_many_arguments)]
pub fn bn_grad_sums(
    x: &[f32],
    gy: &[f32],
    n: usize,
    c: usize,
    hw: usize,
    mean: &[f32],
    var: &[f32],
    eps: f32,
) -> Vec<(f32, f32)> {
    (0..c)
        .into_par_iter()
        .map(|ch| {
            let inv = 1.0 / (var[ch] + eps).sqrt();
            let mut sg = 0.0f64;
            let mut sgx = 0.0f64;
            for i in 0..n {
                let r = (i * c + ch) * hw..(i * c + ch + 1) * hw;
                let (a, b) = grad_sums(&gy[r.clone()], &x[r], mean[ch]);
                sg += a;
                sgx += b;
            }
            (sg as f32, (sgx * inv as f64) as f32)
        })
        .collect()
}

/// BatchNorm backward with batch statistics: input gradient, and gamma/beta gradients.
#[allow(clippy::too_many_arguments)]
pub fn bn_backward(
    x: &[f32],
    gy: &[f32],
    n: usize,
    c: usize,
    hw: usize,
    mean: &[f32],
    var: &[f32],
    gamma: Option<&[f32]>,
    eps: f32,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let m = (n * hw) as f32;
    let sums = bn_grad_sums(x, gy, n, c, hw, mean, var, eps);
    let mut dx = vec![0.0f32; x.len()];
    dx.par_chunks_mut(hw).enumerate().for_each(|(i, dp)| {
        let ch = i % c;
        let inv = 1.0 / (var[ch] + eps).sqrt();
        let gam = gamma.map_or(1.0, |g| g[ch]);
        let (sg, sgx) = sums[ch];
        let a = gam * inv / m;
        for ((d, g), v) in dp
            .iter_mut()
            .zip(&gy[i * hw..(i + 1) * hw])
            .zip(&x[i * hw..(i + 1) * hw])
        {
            let xhat = (v - mean[ch]) * inv;
            *d = a * (m * g - sg - xhat * sgx);
        }
    });
    let dgamma = sums.iter().map(|s| s.1).collect();
    let dbeta = sums.iter().map(|s| s.0).collect();
    (dx, dgamma, dbeta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random(len: usize, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..len).map(|_| rng.random_range(-1.0f32..1.0)).collect()
    }

    /// Direct definition of the convolution, for reference.
    fn naive_conv(x: &[f32], w: &[f32], g: &ConvGeom) -> Vec<f32> {
        let (oh, ow) = (g.out_h(), g.out_w());
        let (cin_g, cout_g) = (g.c_in / g.groups, g.c_out / g.groups);
        let mut y = vec![0.0; g.y_len()];
        for n in 0..g.n {
            for co in 0..g.c_out {
                let grp = co / cout_g;
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut s = 0.0;
                        for ci in 0..cin_g {
                            let c = grp * cin_g + ci;
                            for ky in 0..g.kh {
                                for kx in 0..g.kw {
                                    let iy = (oy * g.stride + ky * g.dil) as isize - g.pad as isize;
                                    let ix = (ox * g.stride + kx * g.dil) as isize - g.pad as isize;
                                    if iy < 0 || ix < 0 || iy >= g.h as isize || ix >= g.w as isize
                                    {
                                        continue;
                                    }
                                    s += w[((co * cin_g + ci) * g.kh + ky) * g.kw + kx]
                                        * x[((n * g.c_in + c) * g.h + iy as usize) * g.w
                                            + ix as usize];
                                }
                            }
                        }
                        y[((n * g.c_out + co) * oh + oy) * ow + ox] = s;
                    }
                }
            }
        }
        y
    }

    fn dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (*x as f64) * (*y as f64))
            .sum()
    }

    fn geoms() -> Vec<ConvGeom> {
        let base = ConvGeom {
            n: 3,
            c_in: 4,
            h: 9,
            w: 8,
            c_out: 6,
            kh: 3,
            kw: 3,
            stride: 1,
            pad: 1,
            dil: 1,
            groups: 1,
        };
        vec![
            base,
            ConvGeom {
                kh: 1,
                kw: 1,
                pad: 0,
                ..base
            },
            ConvGeom {
                kh: 1,
                kw: 1,
                pad: 0,
                stride: 2,
                ..base
            },
            ConvGeom { stride: 2, ..base },
            ConvGeom {
                c_out: 4,
                groups: 4,
                ..base
            },
            ConvGeom {
                c_out: 4,
                groups: 4,
                kh: 5,
                kw: 5,
                pad: 4,
                dil: 2,
                ..base
            },
            ConvGeom {
                c_out: 4,
                groups: 4,
                kh: 5,
                kw: 5,
                pad: 2,
                stride: 2,
                ..base
            },
            ConvGeom {
                c_out: 4,
                groups: 2,
                ..base
            },
            ConvGeom {
                pad: 2,
                dil: 2,
                ..base
            },
            // Maps smaller than the dilated kernel (DARTS's dil_conv_5x5 on 4x4 and smaller maps):
            // some kernel taps never touch the image.
            ConvGeom {
                c_out: 4,
                groups: 4,
                h: 3,
                w: 2,
                kh: 5,
                kw: 5,
                pad: 4,
                dil: 2,
                ..base
            },
            ConvGeom {
                h: 2,
                w: 3,
                kh: 5,
                kw: 5,
                pad: 4,
                dil: 2,
                ..base
            },
            ConvGeom { h: 1, w: 1, ..base },
            ConvGeom {
                kh: 5,
                kw: 5,
                pad: 2,
                c_out: 3,
                ..base
            },
        ]
        .into_iter()
        // dil_conv_3x3's depthwise part, at stride 1 and 2.
        .chain([1, 2].map(|stride| ConvGeom {
            c_out: 4,
            groups: 4,
            pad: 2,
            dil: 2,
            stride,
            ..base
        }))
        .collect()
    }

    #[test]
    fn convolution_matches_the_definition() {
        for (i, g) in geoms().into_iter().enumerate() {
            let x = random(g.x_len(), 1 + i as u64);
            let w = random(g.w_len(), 100 + i as u64);
            let fast = conv_forward(&x, &w, &g);
            let slow = naive_conv(&x, &w, &g);
            let err = fast
                .iter()
                .zip(&slow)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(err < 1e-4, "{g:?}: {err}");
        }
    }

    /// The backward passes are the adjoints of the forward map: <conv(x, w), gy> equals
    /// <x, dx(gy)> and <w, dw(x, gy)>.
    #[test]
    fn convolution_gradients_are_adjoints() {
        for (i, g) in geoms().into_iter().enumerate() {
            let x = random(g.x_len(), 10 + i as u64);
            let w = random(g.w_len(), 20 + i as u64);
            let gy = random(g.y_len(), 30 + i as u64);
            let y = conv_forward(&x, &w, &g);
            let lhs = dot(&y, &gy);
            let dx = conv_backward_input(&w, &gy, &g);
            let dw = conv_backward_weight(&x, &gy, &g);
            assert!(
                (lhs - dot(&x, &dx)).abs() < 1e-3 * lhs.abs().max(1.0),
                "{g:?} dx"
            );
            assert!(
                (lhs - dot(&w, &dw)).abs() < 1e-3 * lhs.abs().max(1.0),
                "{g:?} dw"
            );
        }
    }

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

    #[test]
    fn batch_norm_backward_matches_finite_differences() {
        let (n, c, hw) = (4, 3, 5);
        let x = random(n * c * hw, 3);
        let gamma = vec![1.5f32, -0.5, 2.0];
        let beta = vec![0.1f32, 0.2, -0.3];
        let gy = random(x.len(), 4);
        let loss = |x: &[f32], gamma: &[f32]| {
            let (m, v) = bn_stats(x, n, c, hw);
            let y = bn_forward(x, n, c, hw, &m, &v, Some(gamma), Some(&beta), 1e-5);
            dot(&y, &gy)
        };
        let (m, v) = bn_stats(&x, n, c, hw);
        let (dx, dgamma, dbeta) = bn_backward(&x, &gy, n, c, hw, &m, &v, Some(&gamma), 1e-5);
        let h = 1e-2f32;
        for i in [0, 7, 19, 33, 59] {
            let mut xp = x.clone();
            xp[i] += h;
            let mut xm = x.clone();
            xm[i] -= h;
            let fd = (loss(&xp, &gamma) - loss(&xm, &gamma)) / (2.0 * h as f64);
            assert!(
                (fd - dx[i] as f64).abs() < 2e-2,
                "dx[{i}] {fd} vs {}",
                dx[i]
            );
        }
        for ch in 0..c {
            let mut gp = gamma.clone();
            gp[ch] += h;
            let mut gm = gamma.clone();
            gm[ch] -= h;
            let fd = (loss(&x, &gp) - loss(&x, &gm)) / (2.0 * h as f64);
            assert!((fd - dgamma[ch] as f64).abs() < 2e-2);
            let sum: f32 = (0..n)
                .flat_map(|i| gy[(i * c + ch) * hw..(i * c + ch + 1) * hw].to_vec())
                .sum();
            assert!((sum - dbeta[ch]).abs() < 1e-4);
        }
    }
}
