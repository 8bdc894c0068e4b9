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

/// `dst (m x n) = [dst +] lhs (m x k) * rhs (k x n)` with explicit row/column strides.
#[allow(clippy::too_many_arguments)]
fn matmul(
    dst: &mut [f32],
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
    assert!(dst.len() >= m * n);
    assert!(k == 0 || lhs.len() > (m - 1) * lhs_rs + (k - 1) * lhs_cs);
    assert!(k == 0 || rhs.len() > (k - 1) * rhs_rs + (n - 1) * rhs_cs);
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(0.0);
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
            dst.as_mut_ptr(),
            1,
            n as isize,
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

/// im2col of one group of one sample: `cols[(c*kh + ky)*kw + kx][oy*ow + ox]`.
fn im2col(x: &[f32], g: &ConvGeom, cols: &mut [f32]) {
    let (oh, ow) = (g.out_h(), g.out_w());
    let ohw = oh * ow;
    for c in 0..g.cin_g() {
        let plane = &x[c * g.h * g.w..(c + 1) * g.h * g.w];
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                let row = &mut cols[((c * g.kh + ky) * g.kw + kx) * ohw..][..ohw];
                let offy = (ky * g.dil) as isize - g.pad as isize;
                let offx = (kx * g.dil) as isize - g.pad as isize;
                let (ylo, yhi) = valid_range(oh, g.stride, offy, g.h);
                let (xlo, xhi) = valid_range(ow, g.stride, offx, g.w);
                row[..ylo * ow].fill(0.0);
                row[yhi * ow..].fill(0.0);
                for oy in ylo..yhi {
                    let iy = (oy as isize * g.stride as isize + offy) as usize;
                    let out = &mut row[oy * ow..(oy + 1) * ow];
                    out[..xlo].fill(0.0);
                    out[xhi..].fill(0.0);
                    let src = &plane[iy * g.w..(iy + 1) * g.w];
                    if g.stride == 1 {
                        let start = (xlo as isize + offx).clamp(0, g.w as isize) as usize;
                        out[xlo..xhi].copy_from_slice(&src[start..start + (xhi - xlo)]);
                    } else {
                        for ox in xlo..xhi {
                            out[ox] = src[(ox as isize * g.stride as isize + offx) as usize];
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: accumulates columns back into one group's input gradient.
fn col2im(cols: &[f32], g: &ConvGeom, dx: &mut [f32]) {
    let (oh, ow) = (g.out_h(), g.out_w());
    let ohw = oh * ow;
    for c in 0..g.cin_g() {
        let plane = &mut dx[c * g.h * g.w..(c + 1) * g.h * g.w];
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                let row = &cols[((c * g.kh + ky) * g.kw + kx) * ohw..][..ohw];
                let offy = (ky * g.dil) as isize - g.pad as isize;
                let offx = (kx * g.dil) as isize - g.pad as isize;
                let (ylo, yhi) = valid_range(oh, g.stride, offy, g.h);
                let (xlo, xhi) = valid_range(ow, g.stride, offx, g.w);
                for oy in ylo..yhi {
                    let iy = (oy as isize * g.stride as isize + offy) as usize;
                    let src = &row[oy * ow..(oy + 1) * ow];
                    let dst = &mut plane[iy * g.w..(iy + 1) * g.w];
                    if g.stride == 1 {
                        let start = (xlo as isize + offx).clamp(0, g.w as isize) as usize;
                        for (d, s) in dst[start..start + (xhi - xlo)]
                            .iter_mut()
                            .zip(&src[xlo..xhi])
                        {
                            *d += *s;
                        }
                    } else {
                        for ox in xlo..xhi {
                            dst[(ox as isize * g.stride as isize + offx) as usize] += src[ox];
                        }
                    }
                }
            }
        }
    }
}

/// Depthwise forward of one plane: `y += w (*) x` (cross-correlation, strided, dilated).
fn depthwise_plane(x: &[f32], w: &[f32], y: &mut [f32], g: &ConvGeom) {
    let (oh, ow) = (g.out_h(), g.out_w());
    for ky in 0..g.kh {
        let offy = (ky * g.dil) as isize - g.pad as isize;
        let (ylo, yhi) = valid_range(oh, g.stride, offy, g.h);
        for kx in 0..g.kw {
            let wv = w[ky * g.kw + kx];
            let offx = (kx * g.dil) as isize - g.pad as isize;
            let (xlo, xhi) = valid_range(ow, g.stride, offx, g.w);
            for oy in ylo..yhi {
                let iy = (oy as isize * g.stride as isize + offy) as usize;
                let src = &x[iy * g.w..(iy + 1) * g.w];
                let dst = &mut y[oy * ow..(oy + 1) * ow];
                if g.stride == 1 {
                    let start = (xlo as isize + offx).clamp(0, g.w as isize) as usize;
                    for (d, s) in dst[xlo..xhi].iter_mut().zip(&src[start..]) {
                        *d += wv * *s;
                    }
                } else {
                    for ox in xlo..xhi {
                        dst[ox] += wv * src[(ox as isize * g.stride as isize + offx) as usize];
                    }
                }
            }
        }
    }
}

/// Depthwise input gradient of one plane: `dx += w (*)^T gy`.
fn depthwise_plane_dx(gy: &[f32], w: &[f32], dx: &mut [f32], g: &ConvGeom) {
    let (oh, ow) = (g.out_h(), g.out_w());
    for ky in 0..g.kh {
        let offy = (ky * g.dil) as isize - g.pad as isize;
        let (ylo, yhi) = valid_range(oh, g.stride, offy, g.h);
        for kx in 0..g.kw {
            let wv = w[ky * g.kw + kx];
            let offx = (kx * g.dil) as isize - g.pad as isize;
            let (xlo, xhi) = valid_range(ow, g.stride, offx, g.w);
            for oy in ylo..yhi {
                let iy = (oy as isize * g.stride as isize + offy) as usize;
                let src = &gy[oy * ow..(oy + 1) * ow];
                let dst = &mut dx[iy * g.w..(iy + 1) * g.w];
                if g.stride == 1 {
                    let start = (xlo as isize + offx).clamp(0, g.w as isize) as usize;
                    for (d, s) in dst[start..start + (xhi - xlo)]
                        .iter_mut()
                        .zip(&src[xlo..xhi])
                    {
                        *d += wv * *s;
                    }
                } else {
                    for ox in xlo..xhi {
                        dst[(ox as isize * g.stride as isize + offx) as usize] += wv * src[ox];
                    }
                }
            }
        }
    }
}

/// Depthwise weight gradient contribution of one plane: `dw[ky, kx] += sum gy * x(shifted)`.
fn depthwise_plane_dw(x: &[f32], gy: &[f32], dw: &mut [f32], g: &ConvGeom) {
    let (oh, ow) = (g.out_h(), g.out_w());
    for ky in 0..g.kh {
        let offy = (ky * g.dil) as isize - g.pad as isize;
        let (ylo, yhi) = valid_range(oh, g.stride, offy, g.h);
        for kx in 0..g.kw {
            let offx = (kx * g.dil) as isize - g.pad as isize;
            let (xlo, xhi) = valid_range(ow, g.stride, offx, g.w);
            let mut acc = 0.0f32;
            for oy in ylo..yhi {
                let iy = (oy as isize * g.stride as isize + offy) as usize;
                let src = &x[iy * g.w..(iy + 1) * g.w];
                let gr = &gy[oy * ow..(oy + 1) * ow];
                if g.stride == 1 {
                    let start = (xlo as isize + offx).clamp(0, g.w as isize) as usize;
                    acc += gr[xlo..xhi]
                        .iter()
                        .zip(&src[start..])
                        .map(|(a, b)| a * b)
                        .sum::<f32>();
                } else {
                    for ox in xlo..xhi {
                        acc += gr[ox] * src[(ox as isize * g.stride as isize + offx) as usize];
                    }
                }
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
    if g.is_depthwise() {
        let plane_in = g.h * g.w;
        y.par_chunks_mut(ohw).enumerate().for_each(|(i, yp)| {
            let c = i % g.c_out;
            depthwise_plane(
                &x[i * plane_in..(i + 1) * plane_in],
                &w[c * g.kh * g.kw..(c + 1) * g.kh * g.kw],
                yp,
                g,
            );
        });
        return y;
    }
    let k = g.k();
    let (cin_g, cout_g) = (g.cin_g(), g.cout_g());
    y.par_chunks_mut(y_sample)
        .zip(x.par_chunks(x_sample))
        .for_each_init(
            || vec![0.0f32; if g.is_pointwise() { 0 } else { k * ohw }],
            |cols, (yn, xn)| {
                for grp in 0..g.groups {
                    let xg = &xn[grp * cin_g * g.h * g.w..(grp + 1) * cin_g * g.h * g.w];
                    let wg = &w[grp * cout_g * k..(grp + 1) * cout_g * k];
                    let yg = &mut yn[grp * cout_g * ohw..(grp + 1) * cout_g * ohw];
                    let rhs: &[f32] = if g.is_pointwise() {
                        xg
                    } else {
                        im2col(xg, g, cols);
                        cols
                    };
                    matmul(yg, cout_g, ohw, k, false, wg, k, 1, rhs, ohw, 1);
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
    if g.groups == 1 && g.stride == 1 && g.kh == g.kw && full_pad >= 0 && !g.is_pointwise() {
        // At stride 1 the input gradient is itself a convolution of gy with the flipped,
        // transposed kernel: the fast forward path, instead of GEMM + col2im.
        let kk = g.kh * g.kw;
        let mut wt = vec![0.0f32; w.len()];
        for co in 0..g.c_out {
            for ci in 0..g.c_in {
                for t in 0..kk {
                    wt[(ci * g.c_out + co) * kk + (kk - 1 - t)] = w[(co * g.c_in + ci) * kk + t];
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
    if g.is_depthwise() {
        let plane_in = g.h * g.w;
        dx.par_chunks_mut(plane_in)
            .enumerate()
            .for_each(|(i, dxp)| {
                let c = i % g.c_in;
                depthwise_plane_dx(
                    &gy[i * ohw..(i + 1) * ohw],
                    &w[c * g.kh * g.kw..(c + 1) * g.kh * g.kw],
                    dxp,
                    g,
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
                        matmul(dxg, k, ohw, cout_g, false, wg, 1, k, gyg, ohw, 1);
                    } else {
                        matmul(cols, k, ohw, cout_g, false, wg, 1, k, gyg, ohw, 1);
                        col2im(cols, g, dxg);
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
    if g.is_depthwise() {
        let plane_in = g.h * g.w;
        let kk = g.kh * g.kw;
        // Parallel over channels; each sums its planes over the batch.
        let mut dw = vec![0.0f32; wlen];
        dw.par_chunks_mut(kk).enumerate().for_each(|(c, dwc)| {
            for n in 0..g.n {
                let i = n * g.c_in + c;
                depthwise_plane_dw(
                    &x[i * plane_in..(i + 1) * plane_in],
                    &gy[i * ohw..(i + 1) * ohw],
                    dwc,
                    g,
                );
            }
        });
        return dw;
    }
    let x_sample = g.c_in * g.h * g.w;
    let y_sample = g.c_out * ohw;
    let (cin_g, cout_g) = (g.cin_g(), g.cout_g());
    // Fixed groups of samples, each summed in order, then the groups summed in order: the
    // result does not depend on how rayon schedules the work (exact resume needs that).
    const SAMPLES_PER_GROUP: usize = 4;
    let partials: Vec<Vec<f32>> = x
        .par_chunks(x_sample * SAMPLES_PER_GROUP)
        .zip(gy.par_chunks(y_sample * SAMPLES_PER_GROUP))
        .map(|(xs, gys)| {
            let mut dw = vec![0.0f32; wlen];
            let mut cols = vec![0.0f32; if g.is_pointwise() { 0 } else { k * ohw }];
            for (xn, gyn) in xs.chunks(x_sample).zip(gys.chunks(y_sample)) {
                for grp in 0..g.groups {
                    let xg = &xn[grp * cin_g * g.h * g.w..(grp + 1) * cin_g * g.h * g.w];
                    let gyg = &gyn[grp * cout_g * ohw..(grp + 1) * cout_g * ohw];
                    let dwg = &mut dw[grp * cout_g * k..(grp + 1) * cout_g * k];
                    let rhs: &[f32] = if g.is_pointwise() {
                        xg
                    } else {
                        im2col(xg, g, &mut cols);
                        &cols
                    };
                    // dW (cout_g x k) += gy (cout_g x ohw) * cols^T (ohw x k)
                    matmul(dwg, cout_g, k, ohw, true, gyg, ohw, 1, rhs, 1, ohw);
                }
            }
            dw
        })
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

/// Reduces each length-`k` window of one row, stride `s`, padding `p`, into `out` (length
/// `ow`): sum for average pooling, max (NaN-propagating) for max pooling.
#[inline]
fn pool_row(src: &[f32], out: &mut [f32], k: usize, s: usize, p: usize, max: bool) {
    let w = src.len();
    let init = if max { f32::NEG_INFINITY } else { 0.0 };
    out.fill(init);
    for kx in 0..k {
        let off = kx as isize - p as isize;
        let (lo, hi) = valid_range(out.len(), s, off, w);
        if s == 1 {
            let start = (lo as isize + off).clamp(0, w as isize) as usize;
            let src = &src[start..start + (hi - lo)];
            if max {
                for (o, v) in out[lo..hi].iter_mut().zip(src) {
                    *o = if (*v > *o) | v.is_nan() { *v } else { *o };
                }
            } else {
                for (o, v) in out[lo..hi].iter_mut().zip(src) {
                    *o += *v;
                }
            }
        } else {
            for (ox, o) in out.iter_mut().enumerate().take(hi).skip(lo) {
                let v = src[(ox as isize * s as isize + off) as usize];
                if max {
                    if v > *o || v.is_nan() {
                        *o = v;
                    }
                } else {
                    *o += v;
                }
            }
        }
    }
}

/// Pooling forward: max, or average over the window's valid positions (`count_include_pad =
/// false`). Both are separable: rows first, then columns.
pub fn pool_forward(x: &[f32], g: &PoolGeom) -> Vec<f32> {
    let (oh, ow) = (g.out_h(), g.out_w());
    let plane_in = g.h * g.w;
    let mut y = vec![0.0f32; g.planes * oh * ow];
    y.par_chunks_mut(oh * ow).enumerate().for_each_init(
        || vec![0.0f32; g.h * ow],
        |rows, (p, yp)| {
            let xp = &x[p * plane_in..(p + 1) * plane_in];
            for iy in 0..g.h {
                pool_row(
                    &xp[iy * g.w..(iy + 1) * g.w],
                    &mut rows[iy * ow..(iy + 1) * ow],
                    g.k,
                    g.stride,
                    g.pad,
                    g.max,
                );
            }
            for oy in 0..oh {
                let (ylo, yhi) = g.window(oy, g.h);
                let out = &mut yp[oy * ow..(oy + 1) * ow];
                out.copy_from_slice(&rows[ylo * ow..(ylo + 1) * ow]);
                for iy in ylo + 1..yhi {
                    let r = &rows[iy * ow..(iy + 1) * ow];
                    if g.max {
                        for (o, v) in out.iter_mut().zip(r) {
                            *o = if (*v > *o) | v.is_nan() { *v } else { *o };
                        }
                    } else {
                        for (o, v) in out.iter_mut().zip(r) {
                            *o += *v;
                        }
                    }
                }
                if !g.max {
                    let rows_valid = (yhi - ylo) as f32;
                    for (ox, o) in out.iter_mut().enumerate() {
                        let (xlo, xhi) = g.window(ox, g.w);
                        *o /= rows_valid * (xhi - xlo).max(1) as f32;
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
    let inv_cols: Vec<f32> = (0..ow)
        .map(|ox| {
            let (lo, hi) = g.window(ox, g.w);
            1.0 / (hi - lo).max(1) as f32
        })
        .collect();
    dx.par_chunks_mut(plane_in).enumerate().for_each_init(
        || vec![0.0f32; ow],
        |scaled, (p, dxp)| {
            let xp = &x[p * plane_in..(p + 1) * plane_in];
            let gp = &gy[p * oh * ow..(p + 1) * oh * ow];
            for oy in 0..oh {
                let (ylo, yhi) = g.window(oy, g.h);
                let grow = &gp[oy * ow..(oy + 1) * ow];
                if g.max {
                    for (ox, gv) in grow.iter().enumerate() {
                        let (xlo, xhi) = g.window(ox, g.w);
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
                    let inv_rows = 1.0 / (yhi - ylo).max(1) as f32;
                    for ((s, gv), ic) in scaled.iter_mut().zip(grow).zip(&inv_cols) {
                        *s = gv * ic * inv_rows;
                    }
                    for iy in ylo..yhi {
                        let drow = &mut dxp[iy * g.w..(iy + 1) * g.w];
                        for kx in 0..g.k {
                            let off = kx as isize - g.pad as isize;
                            let (lo, hi) = valid_range(ow, g.stride, off, g.w);
                            if g.stride == 1 {
                                let start = (lo as isize + off).clamp(0, g.w as isize) as usize;
                                for (d, s) in drow[start..start + (hi - lo)]
                                    .iter_mut()
                                    .zip(&scaled[lo..hi])
                                {
                                    *d += *s;
                                }
                            } else {
                                for ox in lo..hi {
                                    drow[(ox as isize * g.stride as isize + off) as usize] +=
                                        scaled[ox];
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
    // Per channel: sum(gy) and sum(gy * xhat).
    let sums: Vec<(f32, f32)> = (0..c)
        .into_par_iter()
        .map(|ch| {
            let inv = 1.0 / (var[ch] + eps).sqrt();
            let mut sg = 0.0f64;
            let mut sgx = 0.0f64;
            for i in 0..n {
                let r = (i * c + ch) * hw..(i * c + ch + 1) * hw;
                for (g, v) in gy[r.clone()].iter().zip(&x[r]) {
                    sg += *g as f64;
                    sgx += (*g * (v - mean[ch]) * inv) as f64;
                }
            }
            (sg as f32, sgx as f32)
        })
        .collect();
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
            for (stride, h) in [(1, 7), (2, 8), (2, 7), (1, 1), (2, 2), (2, 1)] {
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
