//! What every operator computes, written as plainly as possible: the
//! specification that the fast CPU operators and the CUDA kernels are
//! tested against. All tensors are row-major `f32` slices.
//!
//! Layouts (the same on every backend):
//! * `Gemm {m,k,n}`: `a[m×k] · b[k×n] → c[m×n]`.
//! * `RmsNorm {tokens,hidden}`: `y = x / sqrt(mean(x²) + EPS) · w`, `x[t×d]`, `w[d]`.
//! * `Rope {tokens,heads,head_dim}`: `x[t×heads×hd]` rotated in place; token
//!   `i` sits at position `i`; pairs are `(x[j], x[j + hd/2])` (the Llama /
//!   GPT-NeoX half-split form), angle `i · ROPE_BASE^(−2j/hd)`.
//! * `AttentionPrefill {seqs,len,heads,kv_heads,hd}`: `q[s×len×heads×hd]`,
//!   `k, v[s×len×kv_heads×hd]` → `o[s×len×heads×hd]`, causal, query head `h`
//!   reads key/value head `h / (heads / kv_heads)` (grouped-query), scores
//!   scaled by `1/sqrt(hd)`.
//! * `AttentionDecode {seqs,context,heads,kv_heads,hd}`: `q[s×heads×hd]`,
//!   KV cache `k, v[s×context×kv_heads×hd]` → `o[s×heads×hd]`, every cached
//!   position visible.
//! * `SiluMul {tokens,ffn}`: `gu[t×2f]` (gate in the first `f` columns, up in
//!   the last `f`, as a fused gate-up GEMM writes them) → `y[t×f] = silu(gate)·up`.
//! * `ResidualAdd {tokens,hidden}`: `x += y`.

pub const EPS: f32 = 1e-5;
pub const ROPE_BASE: f32 = 10_000.0;

pub fn gemm(a: &[f32], b: &[f32], c: &mut [f32], m: usize, k: usize, n: usize) {
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0f64;
            for p in 0..k {
                s += a[i * k + p] as f64 * b[p * n + j] as f64;
            }
            c[i * n + j] = s as f32;
        }
    }
}

pub fn rms_norm(x: &[f32], w: &[f32], y: &mut [f32], hidden: usize) {
    for (xr, yr) in x.chunks(hidden).zip(y.chunks_mut(hidden)) {
        let ms = xr.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / hidden as f64;
        let inv = 1.0 / (ms + EPS as f64).sqrt();
        for j in 0..hidden {
            yr[j] = (xr[j] as f64 * inv * w[j] as f64) as f32;
        }
    }
}

pub fn rope(x: &mut [f32], tokens: usize, heads: usize, head_dim: usize) {
    let half = head_dim / 2;
    for t in 0..tokens {
        for h in 0..heads {
            let row = &mut x[(t * heads + h) * head_dim..][..head_dim];
            for j in 0..half {
                let theta = t as f64 * (ROPE_BASE as f64).powf(-2.0 * j as f64 / head_dim as f64);
                let (s, c) = theta.sin_cos();
                let (a, b) = (row[j] as f64, row[j + half] as f64);
                row[j] = (a * c - b * s) as f32;
                row[j + half] = (a * s + b * c) as f32;
            }
        }
    }
}

/// One query row against `keys` key rows (already chosen: causal prefix or whole cache).
fn attend(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    o: &mut [f32],
    keys: usize,
    stride: usize,
    head_dim: usize,
) {
    let scale = 1.0 / (head_dim as f64).sqrt();
    let scores: Vec<f64> = (0..keys)
        .map(|p| {
            (0..head_dim)
                .map(|d| q[d] as f64 * k[p * stride + d] as f64)
                .sum::<f64>()
                * scale
        })
        .collect();
    let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
    let sum: f64 = w.iter().sum();
    for d in 0..head_dim {
        o[d] = ((0..keys)
            .map(|p| w[p] * v[p * stride + d] as f64)
            .sum::<f64>()
            / sum) as f32;
    }
}

#[allow(clippy::too_many_arguments)]
pub fn attention_prefill(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    o: &mut [f32],
    seqs: usize,
    len: usize,
    heads: usize,
    kv_heads: usize,
    hd: usize,
) {
    let group = heads / kv_heads;
    let kv_stride = kv_heads * hd;
    for s in 0..seqs {
        for t in 0..len {
            for h in 0..heads {
                let qi = ((s * len + t) * heads + h) * hd;
                let kv = (s * len * kv_heads + h / group) * hd;
                attend(
                    &q[qi..qi + hd],
                    &k[kv..],
                    &v[kv..],
                    &mut o[qi..qi + hd],
                    t + 1,
                    kv_stride,
                    hd,
                );
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub fn attention_decode(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    o: &mut [f32],
    seqs: usize,
    context: usize,
    heads: usize,
    kv_heads: usize,
    hd: usize,
) {
    let group = heads / kv_heads;
    let kv_stride = kv_heads * hd;
    for s in 0..seqs {
        for h in 0..heads {
            let qi = (s * heads + h) * hd;
            let kv = (s * context * kv_heads + h / group) * hd;
            attend(
                &q[qi..qi + hd],
                &k[kv..],
                &v[kv..],
                &mut o[qi..qi + hd],
                context,
                kv_stride,
                hd,
            );
        }
    }
}

pub fn silu_mul(gu: &[f32], y: &mut [f32], ffn: usize) {
    for (r, yr) in gu.chunks(2 * ffn).zip(y.chunks_mut(ffn)) {
        for j in 0..ffn {
            let g = r[j] as f64;
            yr[j] = (g / (1.0 + (-g).exp()) * r[ffn + j] as f64) as f32;
        }
    }
}

pub fn residual_add(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += *b;
    }
}
