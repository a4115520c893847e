//! The operators on the CPU in `f32`: GEMM from the `gemm` crate (chosen
//! over `matrixmultiply` by measurement, see BENCHMARKS.md), the rest as
//! rayon loops over rows or heads; and a decoder layer with real data flow.
//!
//! Timing keeps weights cold, as in serving, where each step streams every
//! layer's weights from memory: a GEMM's weight matrix rotates through
//! enough copies to exceed the last-level cache, as the layers of a stack do
//! (twice the cache this machine reports: [`crate::cache`]).

use std::collections::BTreeMap;
use std::time::Instant;

use rayon::prelude::*;

use crate::cache::ColdRotation;
use crate::stack::Stack;
use crate::{Op, Timing, random_inputs, reference, tensor_sizes};

/// Most operand copies one timed operator rotates through (its smallest
/// operands, a few KiB, would otherwise need hundreds of thousands).
const MAX_COPIES: usize = 1 << 16;

pub struct CpuBackend {
    /// Bytes of weights (or KV cache) to cycle through so none stay cached
    /// between calls, and where that size came from.
    cold: ColdRotation,
    /// cos/sin tables for rotary embedding by (tokens, head_dim), built once
    /// as inference servers cache them.
    rope_tables: BTreeMap<(usize, usize), (Vec<f32>, Vec<f32>)>,
    /// Layers and activations of each stack timed so far.
    stacks: BTreeMap<String, (Vec<Layer>, Activations)>,
}

/// `c[m×n] = a[m×k] · b[k×n]`, all row-major, on every rayon thread.
///
/// Threads split the columns of `b` into one panel each and run the `gemm`
/// crate's single-threaded kernel on their panel: each thread streams its
/// own share of the weights. Measured here, this is up to 3× faster than
/// the crate's own rayon split for the few-row products of decoding, and as
/// fast for large ones; products under 2²⁰ multiply-adds run on the
/// calling thread, where handing work to the pool costs more than it saves.
/// One-row products (GEMV, decoding one sequence) go to [`gemv`].
pub fn gemm(a: &[f32], b: &[f32], c: &mut [f32], m: usize, k: usize, n: usize) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
    let threads = rayon::current_num_threads();
    let panel = n.div_ceil(threads).next_multiple_of(16);
    if m == 1 {
        return gemv(a, b, c, k, n, threads);
    }
    if threads == 1 || m * k * n < 1 << 20 || panel >= n {
        // SAFETY: dense row-major matrices of the asserted sizes.
        unsafe {
            gemm_strided(
                m,
                k,
                n,
                c.as_mut_ptr(),
                n as isize,
                a.as_ptr(),
                k as isize,
                1,
                b.as_ptr(),
                n as isize,
                1,
                1.0,
            )
        };
        return;
    }
    let out = SharedOut(c.as_mut_ptr());
    (0..n.div_ceil(panel)).into_par_iter().for_each(|p| {
        let (j0, j1) = (p * panel, ((p + 1) * panel).min(n));
        // SAFETY: columns j0..j1 of b and c, rows as asserted; panels are disjoint.
        unsafe {
            gemm_strided(
                m,
                k,
                j1 - j0,
                out.ptr().add(j0),
                n as isize,
                a.as_ptr(),
                k as isize,
                1,
                b.as_ptr().add(j0),
                n as isize,
                1,
                1.0,
            )
        };
    });
}

/// Dot product with eight independent partial sums, so that the compiler
/// can vectorise it (a plain `sum()` is one dependent chain of adds).
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `c[1×n] = a[1×k] · b[k×n]`: stream the rows of `b` once, four at a
/// time, adding them scaled into the output; threads take column panels of
/// at least 256 columns. The `gemm` crate's kernels are built for many rows:
/// on one row they streamed weights at 10–28 GB/s depending on the shape
/// (`gemv_shapes` example), which no per-operator model can follow.
fn gemv(a: &[f32], b: &[f32], c: &mut [f32], k: usize, n: usize, threads: usize) {
    let panels = if k * n < 1 << 20 {
        1
    } else {
        threads.min(n.div_ceil(256)).max(1)
    };
    let width = n.div_ceil(panels).next_multiple_of(16).min(n);
    c[..n]
        .par_chunks_mut(width)
        .enumerate()
        .with_min_len(1)
        .for_each(|(p, out)| {
            let j0 = p * width;
            gemv_panel(a, b, out, k, n, j0);
        });
}

/// One panel of [`gemv`], compiled for AVX2 and FMA when the CPU has them
/// (the default x86-64 target has only SSE2).
fn gemv_panel(a: &[f32], b: &[f32], out: &mut [f32], k: usize, n: usize, j0: usize) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        // SAFETY: the features were just detected.
        return unsafe { gemv_panel_avx2(a, b, out, k, n, j0) };
    }
    gemv_panel_plain(a, b, out, k, n, j0)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gemv_panel_avx2(a: &[f32], b: &[f32], out: &mut [f32], k: usize, n: usize, j0: usize) {
    gemv_panel_plain(a, b, out, k, n, j0)
}

#[inline(always)]
fn gemv_panel_plain(a: &[f32], b: &[f32], out: &mut [f32], k: usize, n: usize, j0: usize) {
    let w = out.len();
    out.fill(0.0);
    let mut p = 0;
    while p + 4 <= k {
        let (x0, x1, x2, x3) = (a[p], a[p + 1], a[p + 2], a[p + 3]);
        let r0 = &b[p * n + j0..][..w];
        let r1 = &b[(p + 1) * n + j0..][..w];
        let r2 = &b[(p + 2) * n + j0..][..w];
        let r3 = &b[(p + 3) * n + j0..][..w];
        for j in 0..w {
            out[j] += x0 * r0[j] + x1 * r1[j] + x2 * r2[j] + x3 * r3[j];
        }
        p += 4;
    }
    while p < k {
        let (x, r) = (a[p], &b[p * n + j0..][..w]);
        for j in 0..w {
            out[j] += x * r[j];
        }
        p += 1;
    }
}

/// Elements below which an element-wise operator runs on the calling
/// thread: handing a job to the rayon pool costs tens of microseconds.
const PAR_ELEMENTS: usize = 1 << 16;

/// Rows per rayon task so that each task has about `PAR_ELEMENTS / 4` elements.
fn min_rows(row_len: usize) -> usize {
    (PAR_ELEMENTS / 4 / row_len.max(1)).max(1)
}

pub fn rms_norm(x: &[f32], w: &[f32], y: &mut [f32], hidden: usize) {
    let row = |(yr, xr): (&mut [f32], &[f32])| {
        let ms = dot(xr, xr) / hidden as f32;
        let inv = 1.0 / (ms + reference::EPS).sqrt();
        for ((o, v), g) in yr.iter_mut().zip(xr).zip(w) {
            *o = v * inv * g;
        }
    };
    if y.len() < PAR_ELEMENTS {
        y.chunks_mut(hidden).zip(x.chunks(hidden)).for_each(row);
    } else {
        y.par_chunks_mut(hidden)
            .zip(x.par_chunks(hidden))
            .with_min_len(min_rows(hidden))
            .for_each(row);
    }
}

fn rope_table(tokens: usize, head_dim: usize) -> (Vec<f32>, Vec<f32>) {
    let half = head_dim / 2;
    let mut cos = Vec::with_capacity(tokens * half);
    let mut sin = Vec::with_capacity(tokens * half);
    for t in 0..tokens {
        for j in 0..half {
            let theta =
                t as f64 * (reference::ROPE_BASE as f64).powf(-2.0 * j as f64 / head_dim as f64);
            let (s, c) = theta.sin_cos();
            cos.push(c as f32);
            sin.push(s as f32);
        }
    }
    (cos, sin)
}

pub fn rope(x: &mut [f32], heads: usize, head_dim: usize, cos: &[f32], sin: &[f32]) {
    let half = head_dim / 2;
    let token = |(t, row): (usize, &mut [f32])| {
        let (c, s) = (&cos[t * half..][..half], &sin[t * half..][..half]);
        for h in row.chunks_mut(head_dim) {
            let (a, b) = h.split_at_mut(half);
            for j in 0..half {
                let (x0, x1) = (a[j], b[j]);
                a[j] = x0 * c[j] - x1 * s[j];
                b[j] = x0 * s[j] + x1 * c[j];
            }
        }
    };
    if x.len() < PAR_ELEMENTS {
        x.chunks_mut(heads * head_dim).enumerate().for_each(token);
    } else {
        x.par_chunks_mut(heads * head_dim)
            .enumerate()
            .with_min_len(min_rows(heads * head_dim))
            .for_each(token);
    }
}

/// Query rows per prefill task: scores for a block are one GEMM against the
/// keys up to the block's last row (causal), so little of the masked upper
/// triangle is computed.
const PREFILL_BLOCK: usize = 64;

/// A raw pointer that rayon tasks may share: each task writes a disjoint
/// set of output elements.
#[derive(Clone, Copy)]
struct SharedOut(*mut f32);
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}

impl SharedOut {
    /// The pointer. A closure that calls this captures the whole
    /// `SharedOut` (which is `Sync`); one that read the field `.0` would
    /// capture the bare pointer alone (edition 2021's disjoint captures),
    /// which is not.
    fn ptr(self) -> *mut f32 {
        self.0
    }
}

/// `dst[m×n] (row stride dst_rs) = alpha · lhs[m×k] · rhs[k×n]` with
/// arbitrary strides, on the calling thread.
///
/// # Safety
/// Every pointer with its strides must address valid memory for the shape.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_strided(
    m: usize,
    k: usize,
    n: usize,
    dst: *mut f32,
    dst_rs: isize,
    lhs: *const f32,
    lhs_rs: isize,
    lhs_cs: isize,
    rhs: *const f32,
    rhs_rs: isize,
    rhs_cs: isize,
    alpha: f32,
) {
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_rs,
            false,
            lhs,
            lhs_cs,
            lhs_rs,
            rhs,
            rhs_cs,
            rhs_rs,
            0.0,
            alpha,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// Causal attention as blocked GEMMs, as CPU inference engines do it: per
/// (sequence, head, block of query rows), scores = Q·Kᵀ, a masked softmax
/// per row, then P·V.
#[allow(clippy::too_many_arguments)]
pub fn attention_prefill(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    o: &mut [f32],
    len: usize,
    heads: usize,
    kv_heads: usize,
    hd: usize,
) {
    let seqs = o.len() / (len * heads * hd);
    assert!(
        q.len() >= seqs * len * heads * hd
            && k.len() >= seqs * len * kv_heads * hd
            && v.len() >= k.len().min(seqs * len * kv_heads * hd)
    );
    let group = heads / kv_heads;
    let scale = 1.0 / (hd as f32).sqrt();
    let (q_rs, kv_rs) = ((heads * hd) as isize, (kv_heads * hd) as isize);
    let blocks = len.div_ceil(PREFILL_BLOCK);
    let out = SharedOut(o.as_mut_ptr());
    (0..seqs * heads * blocks).into_par_iter().for_each_init(
        Vec::new,
        |scores: &mut Vec<f32>, task| {
            let (s, h, b) = (
                task / (heads * blocks),
                (task / blocks) % heads,
                task % blocks,
            );
            let (r0, r1) = (b * PREFILL_BLOCK, ((b + 1) * PREFILL_BLOCK).min(len));
            let (rows, keys) = (r1 - r0, r1);
            scores.resize(rows * keys, 0.0);
            let qi = ((s * len + r0) * heads + h) * hd;
            let kv = (s * len * kv_heads + h / group) * hd;
            // SAFETY: q rows r0..r1 of head h, k and v rows 0..r1 of kv head
            // h/group, all within the asserted lengths; `scores` is rows×keys.
            unsafe {
                gemm_strided(
                    rows,
                    hd,
                    keys,
                    scores.as_mut_ptr(),
                    keys as isize,
                    q.as_ptr().add(qi),
                    q_rs,
                    1,
                    k.as_ptr().add(kv),
                    1,
                    kv_rs,
                    scale,
                )
            };
            for (i, row) in scores.chunks_mut(keys).enumerate() {
                let visible = r0 + i + 1;
                let max = row[..visible]
                    .iter()
                    .cloned()
                    .fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0.0;
                for x in row[..visible].iter_mut() {
                    *x = (*x - max).exp();
                    sum += *x;
                }
                let inv = 1.0 / sum;
                for x in row[..visible].iter_mut() {
                    *x *= inv;
                }
                row[visible..].fill(0.0);
            }
            // SAFETY: this task alone writes rows r0..r1 of head h of sequence s.
            unsafe {
                gemm_strided(
                    rows,
                    keys,
                    hd,
                    out.ptr().add(qi),
                    q_rs,
                    scores.as_ptr(),
                    keys as isize,
                    1,
                    v.as_ptr().add(kv),
                    kv_rs,
                    1,
                    1.0,
                )
            };
        },
    );
}

/// Decode attention as flash-decoding does it: each task takes one
/// sequence and a chunk of its cached positions and reads those cache rows
/// once, contiguously, for every head (grouped query heads share them);
/// chunks keep both threads busy when few sequences decode. Each task
/// returns unnormalised partial results with their running maximum, merged
/// per head with the log-sum-exp rule.
#[allow(clippy::too_many_arguments)]
pub fn attention_decode(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    o: &mut [f32],
    context: usize,
    heads: usize,
    kv_heads: usize,
    hd: usize,
) {
    let seqs = o.len() / (heads * hd);
    let group = heads / kv_heads;
    let scale = 1.0 / (hd as f32).sqrt();
    let row_len = kv_heads * hd;
    let chunks = (2 * rayon::current_num_threads())
        .div_ceil(seqs.max(1))
        .clamp(1, context.div_ceil(64).max(1));
    let chunk = context.div_ceil(chunks);
    let task = |t: usize| {
        let (s, c) = (t / chunks, t % chunks);
        let (p0, p1) = (c * chunk, ((c + 1) * chunk).min(context));
        let n = p1.saturating_sub(p0);
        let qs = &q[s * heads * hd..][..heads * hd];
        let mut scores = vec![0.0f32; heads * n];
        for p in p0..p1 {
            let row = &k[(s * context + p) * row_len..][..row_len];
            for h in 0..heads {
                scores[h * n + p - p0] =
                    dot(&qs[h * hd..][..hd], &row[(h / group) * hd..][..hd]) * scale;
            }
        }
        let mut max = vec![f32::NEG_INFINITY; heads];
        let mut sum = vec![0.0f32; heads];
        for h in 0..heads {
            let r = &mut scores[h * n..][..n];
            max[h] = r.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            for x in r.iter_mut() {
                *x = (*x - max[h]).exp();
                sum[h] += *x;
            }
        }
        let mut acc = vec![0.0f32; heads * hd];
        for p in p0..p1 {
            let row = &v[(s * context + p) * row_len..][..row_len];
            for h in 0..heads {
                let w = scores[h * n + p - p0];
                for (x, y) in acc[h * hd..][..hd]
                    .iter_mut()
                    .zip(&row[(h / group) * hd..][..hd])
                {
                    *x += w * y;
                }
            }
        }
        (max, sum, acc)
    };
    let parts: Vec<(Vec<f32>, Vec<f32>, Vec<f32>)> = if seqs * chunks == 1 {
        vec![task(0)]
    } else {
        (0..seqs * chunks).into_par_iter().map(task).collect()
    };
    for (s, out) in o.chunks_mut(heads * hd).enumerate() {
        let ps = &parts[s * chunks..(s + 1) * chunks];
        for h in 0..heads {
            let m = ps.iter().map(|p| p.0[h]).fold(f32::NEG_INFINITY, f32::max);
            let total: f32 = ps
                .iter()
                .filter(|p| p.1[h] > 0.0)
                .map(|p| p.1[h] * (p.0[h] - m).exp())
                .sum();
            let oh = &mut out[h * hd..][..hd];
            oh.fill(0.0);
            for p in ps.iter().filter(|p| p.1[h] > 0.0) {
                let f = (p.0[h] - m).exp() / total;
                for (x, y) in oh.iter_mut().zip(&p.2[h * hd..][..hd]) {
                    *x += f * y;
                }
            }
        }
    }
}

pub fn silu_mul(gu: &[f32], y: &mut [f32], ffn: usize) {
    let row = |(yr, r): (&mut [f32], &[f32])| {
        let (g, u) = r.split_at(ffn);
        for ((o, g), u) in yr.iter_mut().zip(g).zip(u) {
            *o = g / (1.0 + (-g).exp()) * u;
        }
    };
    if y.len() < PAR_ELEMENTS {
        y.chunks_mut(ffn).zip(gu.chunks(2 * ffn)).for_each(row);
    } else {
        y.par_chunks_mut(ffn)
            .zip(gu.par_chunks(2 * ffn))
            .with_min_len(min_rows(ffn))
            .for_each(row);
    }
}

pub fn residual_add(x: &mut [f32], y: &[f32], hidden: usize) {
    let row = |(a, b): (&mut [f32], &[f32])| {
        for (a, b) in a.iter_mut().zip(b) {
            *a += b;
        }
    };
    if x.len() < PAR_ELEMENTS {
        x.chunks_mut(hidden).zip(y.chunks(hidden)).for_each(row);
    } else {
        x.par_chunks_mut(hidden)
            .zip(y.par_chunks(hidden))
            .with_min_len(min_rows(hidden))
            .for_each(row);
    }
}

impl Default for CpuBackend {
    fn default() -> CpuBackend {
        CpuBackend::with_cold_rotation(ColdRotation::for_cpu())
    }
}

/// The CPU's model name (`/proc/cpuinfo`), else the architecture.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

impl CpuBackend {
    /// The CPU, with a cold rotation sized from its last-level cache.
    pub fn new() -> CpuBackend {
        CpuBackend::default()
    }

    /// The CPU, rotating operands through `cold` when timing.
    pub fn with_cold_rotation(cold: ColdRotation) -> CpuBackend {
        CpuBackend {
            cold,
            rope_tables: BTreeMap::new(),
            stacks: BTreeMap::new(),
        }
    }

    /// The operand rotation `time` uses, and where its size came from.
    pub fn cold_rotation(&self) -> &ColdRotation {
        &self.cold
    }

    /// The processor's name from /proc/cpuinfo, and the thread count.
    pub fn device_name(&self) -> String {
        format!("{} ({} threads)", cpu_model(), rayon::current_num_threads())
    }

    pub fn versions(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("gemm".to_string(), "0.19".to_string()),
            (
                "threads".to_string(),
                rayon::current_num_threads().to_string(),
            ),
            ("arch".to_string(), std::env::consts::ARCH.to_string()),
            ("cold_rotation".to_string(), self.cold.describe()),
        ])
    }

    fn tables(&mut self, tokens: usize, head_dim: usize) -> &(Vec<f32>, Vec<f32>) {
        self.rope_tables
            .entry((tokens, head_dim))
            .or_insert_with(|| rope_table(tokens, head_dim))
    }

    /// Runs `op` once: `ins` are its inputs, `out` its output (for the
    /// in-place operators, `out` starts as a copy of the first input).
    fn exec(&mut self, op: &Op, ins: &[&[f32]], out: &mut [f32]) {
        let u = |x: u64| x as usize;
        match *op {
            Op::Gemm { m, k, n } => gemm(ins[0], ins[1], out, u(m), u(k), u(n)),
            Op::RmsNorm { hidden, .. } => rms_norm(ins[0], ins[1], out, u(hidden)),
            Op::Rope {
                tokens,
                heads,
                head_dim,
            } => {
                let (cos, sin) = self.tables(u(tokens), u(head_dim));
                rope(out, u(heads), u(head_dim), cos, sin)
            }
            Op::AttentionPrefill {
                len,
                heads,
                kv_heads,
                head_dim,
                ..
            } => attention_prefill(
                ins[0],
                ins[1],
                ins[2],
                out,
                u(len),
                u(heads),
                u(kv_heads),
                u(head_dim),
            ),
            Op::AttentionDecode {
                context,
                heads,
                kv_heads,
                head_dim,
                ..
            } => attention_decode(
                ins[0],
                ins[1],
                ins[2],
                out,
                u(context),
                u(heads),
                u(kv_heads),
                u(head_dim),
            ),
            Op::SiluMul { ffn, .. } => silu_mul(ins[0], out, u(ffn)),
            Op::ResidualAdd { hidden, .. } => residual_add(out, ins[1], u(hidden)),
        }
    }

    /// One call of `op` on `inputs` (layouts of [`crate::reference`]).
    pub fn run(&mut self, op: &Op, inputs: &[Vec<f32>]) -> Vec<f32> {
        let (_, n) = tensor_sizes(op);
        let mut out = if matches!(op, Op::Rope { .. } | Op::ResidualAdd { .. }) {
            inputs[0].clone()
        } else {
            vec![0.0; n]
        };
        let ins: Vec<&[f32]> = inputs.iter().map(|v| v.as_slice()).collect();
        self.exec(op, &ins, &mut out);
        out
    }

    /// Median wall time of `repeats` calls after two warm-up calls. The
    /// operands that serving streams from memory rotate through cold copies.
    pub fn time(&mut self, op: &Op, repeats: u32) -> Timing {
        let inputs = random_inputs(op, 1);
        let (_, n) = tensor_sizes(op);
        let mut out = vec![0.0f32; n];
        // Operands that serving streams from memory each step: a GEMM's
        // weights, a decode step's KV cache.
        let cold: &[usize] = match op {
            Op::Gemm { .. } => &[1],
            Op::AttentionDecode { .. } => &[1, 2],
            _ => &[],
        };
        let bytes: usize = cold.iter().map(|&i| inputs[i].len() * 4).sum();
        let copies = if cold.is_empty() {
            0
        } else {
            self.cold.bytes.div_ceil(bytes.max(1)).clamp(1, MAX_COPIES)
        };
        let spares: Vec<Vec<Vec<f32>>> = (0..copies)
            .map(|_| cold.iter().map(|&i| inputs[i].clone()).collect())
            .collect();
        // Cheap calls get more samples, up to a tenth of a second in all, so
        // their medians are as steady as the expensive ones'.
        // (A tenth of a second per call of `time`; calibration runs rounds.)
        let mut samples = Vec::with_capacity(repeats as usize);
        let begun = Instant::now();
        let mut i = 0u32;
        while samples.len() < repeats as usize
            || (samples.len() < 100 && begun.elapsed().as_secs_f64() < 0.12)
        {
            i += 1;
            let mut ins: Vec<&[f32]> = inputs.iter().map(|v| v.as_slice()).collect();
            if copies > 0 {
                for (j, &c) in cold.iter().enumerate() {
                    ins[c] = &spares[i as usize % copies][j];
                }
            }
            if matches!(op, Op::Rope { .. } | Op::ResidualAdd { .. }) {
                out.copy_from_slice(&inputs[0][..n]);
            }
            let t = Instant::now();
            self.exec(op, &ins, &mut out);
            let dt = t.elapsed().as_secs_f64();
            if i > 2 && begun.elapsed().as_secs_f64() > 0.02 {
                samples.push(dt);
            }
        }
        std::hint::black_box(&out);
        Timing::from_samples(samples)
    }

    /// Median wall time of a forward pass through `stack` (see [`Layer`]).
    pub fn time_stack(&mut self, stack: &Stack, repeats: u32) -> Timing {
        // The stack's weights, caches and activations live across calls (a
        // calibration times each stack in several rounds); the first call
        // builds them and runs passes for half a second before timing, so
        // the timed passes see a steady state, as a serving engine does.
        let key = format!("{stack:?}");
        let (mut layers, mut act) = match self.stacks.remove(&key) {
            Some(state) => state,
            None => {
                let mut layers: Vec<Layer> = (0..stack.layers)
                    .map(|i| Layer::random(stack, 100 + i as u64))
                    .collect();
                let mut act = Activations::new(stack);
                let begun = Instant::now();
                while begun.elapsed().as_secs_f64() < 0.5 {
                    act.reset(stack);
                    for l in &mut layers {
                        self.layer_forward(stack, l, &mut act);
                    }
                }
                (layers, act)
            }
        };
        // As many passes as fit in 0.3 s (at least `repeats`): on a shared
        // machine a few slow passes must not move the median.
        let mut samples = Vec::with_capacity(repeats as usize);
        let begun = Instant::now();
        while samples.len() < repeats as usize
            || (samples.len() < 100 && begun.elapsed().as_secs_f64() < 0.3)
        {
            act.reset(stack);
            let t = Instant::now();
            for l in &mut layers {
                self.layer_forward(stack, l, &mut act);
            }
            samples.push(t.elapsed().as_secs_f64());
        }
        std::hint::black_box(&act.x);
        self.stacks.insert(key, (layers, act));
        Timing::from_samples(samples)
    }

    /// One decoder layer on `act.x`, in place: the operators of
    /// [`Stack::layer_ops`], with the copies a fused QKV output needs to
    /// split into query, key and value.
    pub fn layer_forward(&mut self, s: &Stack, w: &mut Layer, a: &mut Activations) {
        let t = s.tokens() as usize;
        let (d, hd, h, kvh, f) = (
            s.hidden as usize,
            s.head_dim() as usize,
            s.heads as usize,
            s.kv_heads as usize,
            s.ffn as usize,
        );
        let (qw, kw) = (h * hd, kvh * hd);
        let qkv_n = qw + 2 * kw;
        rms_norm(&a.x, &w.norm1, &mut a.xn, d);
        gemm(&a.xn, &w.qkv, &mut a.qkv, t, d, qkv_n);
        // Query and key heads side by side per token, for one rotary call.
        for r in 0..t {
            a.qk[r * (qw + kw)..][..qw + kw].copy_from_slice(&a.qkv[r * qkv_n..][..qw + kw]);
        }
        {
            let (cos, sin) = self.tables(t, hd);
            rope(&mut a.qk, h + kvh, hd, cos, sin);
        }
        for r in 0..t {
            a.q[r * qw..][..qw].copy_from_slice(&a.qk[r * (qw + kw)..][..qw]);
            a.k[r * kw..][..kw].copy_from_slice(&a.qk[r * (qw + kw) + qw..][..kw]);
            a.v[r * kw..][..kw].copy_from_slice(&a.qkv[r * qkv_n + qw + kw..][..kw]);
        }
        // Prefill rows come first, then one row per decoding sequence.
        let pre = s.prefill_seqs as usize * s.prefill_len as usize;
        if pre > 0 {
            attention_prefill(
                &a.q[..pre * qw],
                &a.k[..pre * kw],
                &a.v[..pre * kw],
                &mut a.attn[..pre * qw],
                s.prefill_len as usize,
                h,
                kvh,
                hd,
            );
        }
        if s.decode_seqs > 0 {
            // The new token's key and value go into the last cache slot.
            let ctx = s.decode_context as usize;
            for i in 0..s.decode_seqs as usize {
                let slot = (i * ctx + ctx - 1) * kw;
                w.k_cache[slot..slot + kw].copy_from_slice(&a.k[(pre + i) * kw..][..kw]);
                w.v_cache[slot..slot + kw].copy_from_slice(&a.v[(pre + i) * kw..][..kw]);
            }
            attention_decode(
                &a.q[pre * qw..],
                &w.k_cache,
                &w.v_cache,
                &mut a.attn[pre * qw..],
                ctx,
                h,
                kvh,
                hd,
            );
        }
        gemm(&a.attn, &w.o, &mut a.xn, t, qw, d);
        residual_add(&mut a.x, &a.xn, d);
        rms_norm(&a.x, &w.norm2, &mut a.xn, d);
        gemm(&a.xn, &w.gate_up, &mut a.gu, t, d, 2 * f);
        silu_mul(&a.gu, &mut a.ff, f);
        gemm(&a.ff, &w.down, &mut a.xn, t, f, d);
        residual_add(&mut a.x, &a.xn, d);
    }
}

/// One layer's weights and its own KV cache (each layer caches its own
/// keys and values, so a decode step streams every layer's cache).
pub struct Layer {
    pub k_cache: Vec<f32>,
    pub v_cache: Vec<f32>,
    pub norm1: Vec<f32>,
    pub qkv: Vec<f32>,
    pub o: Vec<f32>,
    pub norm2: Vec<f32>,
    pub gate_up: Vec<f32>,
    pub down: Vec<f32>,
}

fn filled(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let op = Op::Rope {
        tokens: 1,
        heads: 1,
        head_dim: n as u64,
    };
    random_inputs(&op, seed)
        .remove(0)
        .into_iter()
        .map(|x| x * scale)
        .collect()
}

impl Layer {
    /// Random weights scaled by 1/√fan-in so activations stay O(1).
    pub fn random(s: &Stack, seed: u64) -> Layer {
        let (d, f) = (s.hidden as usize, s.ffn as usize);
        let qkv_n = (s.heads + 2 * s.kv_heads) as usize * s.head_dim() as usize;
        let sd = 1.0 / (d as f32).sqrt();
        let cache = s.decode_seqs as usize
            * s.decode_context as usize
            * s.kv_heads as usize
            * s.head_dim() as usize;
        Layer {
            k_cache: filled(cache, seed * 8 + 5, 1.0),
            v_cache: filled(cache, seed * 8 + 6, 1.0),
            norm1: vec![1.0; d],
            qkv: filled(d * qkv_n, seed * 8 + 1, sd),
            o: filled(
                s.heads as usize * s.head_dim() as usize * d,
                seed * 8 + 2,
                sd,
            ),
            norm2: vec![1.0; d],
            gate_up: filled(d * 2 * f, seed * 8 + 3, sd),
            down: filled(f * d, seed * 8 + 4, 1.0 / (f as f32).sqrt()),
        }
    }
}

/// Activation buffers of one forward pass, shared by the layers.
pub struct Activations {
    pub x: Vec<f32>,
    xn: Vec<f32>,
    qkv: Vec<f32>,
    qk: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    attn: Vec<f32>,
    gu: Vec<f32>,
    ff: Vec<f32>,
}

impl Activations {
    pub fn new(s: &Stack) -> Activations {
        let t = s.tokens() as usize;
        let (d, hd, f) = (s.hidden as usize, s.head_dim() as usize, s.ffn as usize);
        let (qw, kw) = (s.heads as usize * hd, s.kv_heads as usize * hd);
        Activations {
            x: filled(t * d, 7, 1.0),
            xn: vec![0.0; t * d],
            qkv: vec![0.0; t * (qw + 2 * kw)],
            qk: vec![0.0; t * (qw + kw)],
            q: vec![0.0; t * qw],
            k: vec![0.0; t * kw],
            v: vec![0.0; t * kw],
            attn: vec![0.0; t * qw],
            gu: vec![0.0; t * 2 * f],
            ff: vec![0.0; t * f],
        }
    }

    /// Back to the same input, so every timed pass does the same work.
    pub fn reset(&mut self, s: &Stack) {
        self.x = filled(s.tokens() as usize * s.hidden as usize, 7, 1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DType, relative_error, run_reference};

    fn ops() -> Vec<Op> {
        vec![
            Op::Gemm { m: 7, k: 33, n: 65 },
            Op::Gemm {
                m: 1,
                k: 600,
                n: 2000,
            },
            Op::Gemm { m: 2, k: 64, n: 40 },
            Op::Gemm {
                m: 70,
                k: 96,
                n: 130,
            },
            Op::RmsNorm {
                tokens: 9,
                hidden: 48,
            },
            Op::Rope {
                tokens: 11,
                heads: 6,
                head_dim: 16,
            },
            Op::AttentionPrefill {
                seqs: 2,
                len: 9,
                heads: 4,
                kv_heads: 2,
                head_dim: 16,
            },
            Op::AttentionDecode {
                seqs: 3,
                context: 17,
                heads: 4,
                kv_heads: 1,
                head_dim: 8,
            },
            Op::AttentionDecode {
                seqs: 1,
                context: 300,
                heads: 8,
                kv_heads: 2,
                head_dim: 16,
            },
            Op::SiluMul { tokens: 5, ffn: 40 },
            Op::ResidualAdd {
                tokens: 6,
                hidden: 24,
            },
        ]
    }

    #[test]
    fn every_operator_matches_the_naive_reference() {
        let mut cpu = CpuBackend::new();
        for op in ops() {
            let inputs = random_inputs(&op, 42);
            let want = run_reference(&op, &inputs);
            let got = cpu.run(&op, &inputs);
            let err = relative_error(&got, &want);
            assert!(
                err <= DType::F32.tolerance(),
                "{op:?}: relative error {err}"
            );
            assert!(
                want.iter().any(|x| *x != 0.0),
                "{op:?}: a trivial reference"
            );
        }
    }

    #[test]
    fn decoder_layer_is_the_reference_composition() {
        let s = Stack {
            name: "t".into(),
            layers: 1,
            hidden: 32,
            heads: 4,
            kv_heads: 2,
            ffn: 48,
            prefill_seqs: 2,
            prefill_len: 5,
            decode_seqs: 3,
            decode_context: 6,
        };
        let mut w = Layer::random(&s, 3);
        let (mut kc, mut vc) = (w.k_cache.clone(), w.v_cache.clone());
        let mut a = Activations::new(&s);
        let x0 = a.x.clone();
        let mut cpu = CpuBackend::new();
        cpu.layer_forward(&s, &mut w, &mut a);

        // The same layer from the reference operators, written out.
        let (t, d, hd, h, kvh, f) = (13usize, 32usize, 8usize, 4usize, 2usize, 48usize);
        let (qw, kw) = (h * hd, kvh * hd);
        let mut xn = vec![0.0; t * d];
        reference::rms_norm(&x0, &w.norm1, &mut xn, d);
        let mut qkv = vec![0.0; t * (qw + 2 * kw)];
        reference::gemm(&xn, &w.qkv, &mut qkv, t, d, qw + 2 * kw);
        let mut qk: Vec<f32> = (0..t)
            .flat_map(|r| qkv[r * (qw + 2 * kw)..][..qw + kw].to_vec())
            .collect();
        reference::rope(&mut qk, t, h + kvh, hd);
        let q: Vec<f32> = (0..t)
            .flat_map(|r| qk[r * (qw + kw)..][..qw].to_vec())
            .collect();
        let k: Vec<f32> = (0..t)
            .flat_map(|r| qk[r * (qw + kw) + qw..][..kw].to_vec())
            .collect();
        let v: Vec<f32> = (0..t)
            .flat_map(|r| qkv[r * (qw + 2 * kw) + qw + kw..][..kw].to_vec())
            .collect();
        let mut attn = vec![0.0; t * qw];
        reference::attention_prefill(
            &q[..10 * qw],
            &k[..10 * kw],
            &v[..10 * kw],
            &mut attn[..10 * qw],
            2,
            5,
            h,
            kvh,
            hd,
        );
        for i in 0..3 {
            kc[(i * 6 + 5) * kw..][..kw].copy_from_slice(&k[(10 + i) * kw..][..kw]);
            vc[(i * 6 + 5) * kw..][..kw].copy_from_slice(&v[(10 + i) * kw..][..kw]);
        }
        reference::attention_decode(
            &q[10 * qw..],
            &kc,
            &vc,
            &mut attn[10 * qw..],
            3,
            6,
            h,
            kvh,
            hd,
        );
        let mut x = x0.clone();
        reference::gemm(&attn, &w.o, &mut xn, t, qw, d);
        reference::residual_add(&mut x, &xn);
        reference::rms_norm(&x, &w.norm2, &mut xn, d);
        let mut gu = vec![0.0; t * 2 * f];
        reference::gemm(&xn, &w.gate_up, &mut gu, t, d, 2 * f);
        let mut ff = vec![0.0; t * f];
        reference::silu_mul(&gu, &mut ff, f);
        reference::gemm(&ff, &w.down, &mut xn, t, f, d);
        reference::residual_add(&mut x, &xn);
        let err = relative_error(&a.x, &x);
        assert!(
            err < 1e-4,
            "layer differs from the reference composition by {err}"
        );
        assert!(relative_error(&x, &x0) > 1e-2, "the layer changed nothing");
    }
}
