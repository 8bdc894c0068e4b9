//! BatchNorm with batch statistics: the statistics, the forward pass and the backward pass.

use rayon::prelude::*;

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

/// The per-channel statistics a batch is normalised with, and BatchNorm's epsilon.
#[derive(Clone, Copy, Debug)]
pub struct Stats<'a> {
    pub mean: &'a [f32],
    pub var: &'a [f32],
    pub eps: f32,
}

/// BatchNorm with batch statistics on `x` (`[n, c, hw]`):
/// `(x - mean) / sqrt(var + eps) * gamma + beta`.
pub fn bn_forward(
    x: &[f32],
    c: usize,
    hw: usize,
    stats: Stats<'_>,
    gamma: Option<&[f32]>,
    beta: Option<&[f32]>,
) -> Vec<f32> {
    let Stats { mean, var, eps } = stats;
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
    y
}

/// The per-channel sums BatchNorm's backward pass needs: `sum(gy)` (beta's gradient) and
/// `sum(gy * xhat)` (gamma's gradient).
pub fn bn_grad_sums(
    x: &[f32],
    gy: &[f32],
    n: usize,
    c: usize,
    hw: usize,
    stats: Stats<'_>,
) -> Vec<(f32, f32)> {
    let Stats { mean, var, eps } = stats;
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
pub fn bn_backward(
    x: &[f32],
    gy: &[f32],
    n: usize,
    c: usize,
    hw: usize,
    stats: Stats<'_>,
    gamma: Option<&[f32]>,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let Stats { mean, var, eps } = stats;
    let m = (n * hw) as f32;
    let sums = bn_grad_sums(x, gy, n, c, hw, stats);
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
    use crate::kernels::cpu::test_util::{dot, random};

    #[test]
    fn batch_norm_backward_matches_finite_differences() {
        let (n, c, hw) = (4, 3, 5);
        let x = random(n * c * hw, 3);
        let gamma = vec![1.5f32, -0.5, 2.0];
        let beta = vec![0.1f32, 0.2, -0.3];
        let gy = random(x.len(), 4);
        let loss = |x: &[f32], gamma: &[f32]| {
            let (m, v) = bn_stats(x, n, c, hw);
            let stats = Stats {
                mean: &m,
                var: &v,
                eps: 1e-5,
            };
            let y = bn_forward(x, c, hw, stats, Some(gamma), Some(&beta));
            dot(&y, &gy)
        };
        let (m, v) = bn_stats(&x, n, c, hw);
        let stats = Stats {
            mean: &m,
            var: &v,
            eps: 1e-5,
        };
        let (dx, dgamma, dbeta) = bn_backward(&x, &gy, n, c, hw, stats, Some(&gamma));
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
