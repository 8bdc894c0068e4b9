//! Convolution forward and backward passes: im2col + GEMM for dense and grouped kernels,
//! depthwise planes for depthwise ones, the wide layout at stride 1.

use rayon::prelude::*;

use super::depthwise::{axpy, depthwise_plane, depthwise_plane_dw, depthwise_plane_dx, dot};
use super::gemm::{Strided, matmul};
use super::geom::ConvGeom;
use super::scratch::WideScratch;
use super::taps::ConvTaps;
use super::wide::Wide;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::cpu::test_util::{dot, random};

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
}
