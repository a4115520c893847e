//! Kernel calibration: the operators of a Llama-style decoder layer on the
//! CPU (the `gemm` crate and rayon) and on CUDA (cuBLAS and NVRTC kernels
//! through `cudarc`, loaded at run time so this builds with no toolkit),
//! timed over a grid of shapes into a profile that `sim-core` fits.
//!
//! * [`reference`]: what each operator computes (the test oracle).
//! * [`cpu`]: the fast CPU operators and the decoder layer.
//! * [`cuda`]: the same on a GPU.
//! * [`stack`]: a stack of decoder layers, the unit of the end-to-end check.
//! * [`cache`]: how many bytes of operands a timed operator rotates through
//!   (twice the machine's last-level cache), so its weights arrive cold.
//! * [`calibrate`]: the grid, the profile file and the end-to-end check.
//! * [`ops`]: CPU costs of a node's cryptographic operations (`--ops`).

pub mod cache;
pub mod calibrate;
pub mod cpu;
pub mod cuda;
pub mod ops;
pub mod reference;
pub mod stack;

pub use sim_core::inference::profile::{Op, OpKind, Profile};

/// Element type of the operands a backend computes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    F32,
    F16,
    Bf16,
}

impl DType {
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::Bf16 => "bf16",
        }
    }
    pub fn parse(s: &str) -> Option<DType> {
        [DType::F32, DType::F16, DType::Bf16]
            .into_iter()
            .find(|d| d.name() == s)
    }
    /// Tolerance, relative to the output's largest magnitude, for comparing
    /// a backend with the f64-accumulating reference.
    pub fn tolerance(self) -> f32 {
        match self {
            DType::F32 => 1e-4,
            DType::F16 => 1e-2,
            DType::Bf16 => 4e-2,
        }
    }
}

/// Wall time of repeated calls, after warm-up.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timing {
    pub median_s: f64,
    pub min_s: f64,
    pub repeats: u32,
}

/// Sorts `samples` and returns their median (the mean of the middle two
/// for an even count); the calibration's and the ops' timings share it.
pub(crate) fn sort_median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    let n = samples.len();
    if n % 2 == 1 {
        samples[n / 2]
    } else {
        (samples[n / 2 - 1] + samples[n / 2]) / 2.0
    }
}

impl Timing {
    /// Median and minimum of per-call samples (seconds).
    pub fn from_samples(mut samples: Vec<f64>) -> Timing {
        let median = sort_median(&mut samples);
        Timing {
            median_s: median,
            min_s: samples[0],
            repeats: samples.len() as u32,
        }
    }

    /// Rounds of the same measurement: the median of the fastest round,
    /// the least minimum, and every repeat counted. On a shared 2-core
    /// machine whole rounds run up to 1.5× slower when a neighbour is busy
    /// (measured here); the fastest round's median is the machine's own
    /// speed, and operators and stacks are treated alike.
    pub fn combine(rounds: &[Timing]) -> Timing {
        Timing {
            median_s: rounds
                .iter()
                .map(|t| t.median_s)
                .fold(f64::INFINITY, f64::min),
            min_s: rounds.iter().map(|t| t.min_s).fold(f64::INFINITY, f64::min),
            repeats: rounds.iter().map(|t| t.repeats).sum(),
        }
    }
}

/// Sizes of an operator's tensors, in the layouts of [`reference`]: the
/// inputs in order, then the output. In-place operators (rotary embedding,
/// residual add) list their output as their first input.
pub fn tensor_sizes(op: &Op) -> (Vec<usize>, usize) {
    let u = |x: u64| x as usize;
    match *op {
        Op::Gemm { m, k, n } => (vec![u(m * k), u(k * n)], u(m * n)),
        Op::RmsNorm { tokens, hidden } => (vec![u(tokens * hidden), u(hidden)], u(tokens * hidden)),
        Op::Rope {
            tokens,
            heads,
            head_dim,
        } => (
            vec![u(tokens * heads * head_dim)],
            u(tokens * heads * head_dim),
        ),
        Op::AttentionPrefill {
            seqs,
            len,
            heads,
            kv_heads,
            head_dim,
        } => {
            let kv = u(seqs * len * kv_heads * head_dim);
            (
                vec![u(seqs * len * heads * head_dim), kv, kv],
                u(seqs * len * heads * head_dim),
            )
        }
        Op::AttentionDecode {
            seqs,
            context,
            heads,
            kv_heads,
            head_dim,
        } => {
            let kv = u(seqs * context * kv_heads * head_dim);
            (
                vec![u(seqs * heads * head_dim), kv, kv],
                u(seqs * heads * head_dim),
            )
        }
        Op::SiluMul { tokens, ffn } => (vec![u(tokens * 2 * ffn)], u(tokens * ffn)),
        Op::ResidualAdd { tokens, hidden } => (
            vec![u(tokens * hidden), u(tokens * hidden)],
            u(tokens * hidden),
        ),
    }
}

/// Deterministic pseudo-random inputs in [-1, 1) (SplitMix64 of the index
/// and seed): the same on every backend and machine.
pub fn random_inputs(op: &Op, seed: u64) -> Vec<Vec<f32>> {
    let (ins, _) = tensor_sizes(op);
    ins.iter()
        .enumerate()
        .map(|(t, &n)| {
            (0..n)
                .map(|i| {
                    let mut z = seed
                        .wrapping_add((t as u64) << 40)
                        .wrapping_add(i as u64)
                        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
                    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                    z ^= z >> 31;
                    ((z >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
                })
                .collect()
        })
        .collect()
}

/// The reference result of `op` on `inputs` (see [`reference`]).
pub fn run_reference(op: &Op, inputs: &[Vec<f32>]) -> Vec<f32> {
    let u = |x: u64| x as usize;
    let (_, out_len) = tensor_sizes(op);
    let mut out = vec![0.0f32; out_len];
    match *op {
        Op::Gemm { m, k, n } => reference::gemm(&inputs[0], &inputs[1], &mut out, u(m), u(k), u(n)),
        Op::RmsNorm { hidden, .. } => {
            reference::rms_norm(&inputs[0], &inputs[1], &mut out, u(hidden))
        }
        Op::Rope {
            tokens,
            heads,
            head_dim,
        } => {
            out.copy_from_slice(&inputs[0]);
            reference::rope(&mut out, u(tokens), u(heads), u(head_dim));
        }
        Op::AttentionPrefill {
            seqs,
            len,
            heads,
            kv_heads,
            head_dim,
        } => reference::attention_prefill(
            &inputs[0],
            &inputs[1],
            &inputs[2],
            &mut out,
            u(seqs),
            u(len),
            u(heads),
            u(kv_heads),
            u(head_dim),
        ),
        Op::AttentionDecode {
            seqs,
            context,
            heads,
            kv_heads,
            head_dim,
        } => reference::attention_decode(
            &inputs[0],
            &inputs[1],
            &inputs[2],
            &mut out,
            u(seqs),
            u(context),
            u(heads),
            u(kv_heads),
            u(head_dim),
        ),
        Op::SiluMul { ffn, .. } => reference::silu_mul(&inputs[0], &mut out, u(ffn)),
        Op::ResidualAdd { .. } => {
            out.copy_from_slice(&inputs[0]);
            reference::residual_add(&mut out, &inputs[1]);
        }
    }
    out
}

/// Largest absolute difference relative to the reference's largest magnitude.
///
/// Infinite — so that every `err <= tolerance` check fails — when the
/// lengths differ or either side holds a NaN or an infinity: a kernel that
/// returns too few values or non-finite ones must not pass. (`f32::max`
/// drops NaN and `zip` stops at the shorter side, so a plain fold would
/// report 0 for both.)
pub fn relative_error(got: &[f32], want: &[f32]) -> f32 {
    if got.len() != want.len() || !got.iter().chain(want).all(|v| v.is_finite()) {
        return f32::INFINITY;
    }
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-30);
    got.iter()
        .zip(want)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()))
        / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fold this function had before: NaN and short outputs passed.
    fn old_relative_error(got: &[f32], want: &[f32]) -> f32 {
        let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-30);
        got.iter()
            .zip(want)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()))
            / scale
    }

    /// What a backend test asserts.
    fn passes(err: f32) -> bool {
        err <= DType::F32.tolerance()
    }

    #[test]
    fn close_outputs_pass_and_far_ones_fail() {
        let want = [1.0, -2.0, 4.0];
        assert!(passes(relative_error(&[1.0, -2.0, 4.0], &want)));
        assert!(passes(relative_error(&[1.0, -2.0, 4.0001], &want)));
        let err = relative_error(&[1.0, -1.0, 4.0], &want);
        assert!((err - 0.25).abs() < 1e-6, "{err}");
        assert!(!passes(err));
        assert_eq!(relative_error(&[], &[]), 0.0);
    }

    #[test]
    fn a_nan_in_the_output_fails() {
        let want = [1.0, 2.0, 3.0];
        let got = [1.0, f32::NAN, 3.0];
        assert!(
            passes(old_relative_error(&got, &want)),
            "the old fold passed it"
        );
        assert_eq!(relative_error(&got, &want), f32::INFINITY);
        assert!(!passes(relative_error(&got, &want)));
        // All NaN, and NaN first (where the fold's accumulator starts).
        assert!(!passes(relative_error(&[f32::NAN; 3], &want)));
        assert!(!passes(relative_error(&[f32::NAN, 2.0, 3.0], &want)));
    }

    #[test]
    fn an_infinity_or_nan_on_either_side_fails() {
        let want = [1.0, 2.0, 3.0];
        for bad in [f32::INFINITY, f32::NEG_INFINITY, f32::NAN] {
            let mut got = want;
            got[1] = bad;
            assert!(!passes(relative_error(&got, &want)), "output {bad}");
            let mut reference = want;
            reference[1] = bad;
            assert!(
                !passes(relative_error(&want, &reference)),
                "reference {bad}"
            );
        }
        // A NaN in the reference: the old fold dropped it from the scale
        // and from the differences alike.
        let reference = [1.0, f32::NAN, 3.0];
        assert!(
            passes(old_relative_error(&want, &reference)),
            "the old fold passed it"
        );
    }

    #[test]
    fn a_length_mismatch_fails() {
        let want = [1.0, 2.0, 3.0, 4.0];
        let short = [1.0, 2.0];
        assert!(
            passes(old_relative_error(&short, &want)),
            "the old zip passed it"
        );
        assert_eq!(relative_error(&short, &want), f32::INFINITY);
        assert!(!passes(relative_error(&[1.0, 2.0, 3.0, 4.0, 5.0], &want)));
        assert!(!passes(relative_error(&[], &want)));
    }
}
