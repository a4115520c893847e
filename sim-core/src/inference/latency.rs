//! The latency model: how long a GPU takes for a batched forward step. The
//! default is a roofline from the hardware's datasheet; the calibration
//! issue plugs in profiles measured from real kernels through the same type.

use serde::{Deserialize, Serialize};

use super::profile::FittedProfile;
use super::{HardwareSpec, ModelSpec};
use crate::time::{SimDuration, SimTime};

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LatencyKind {
    /// max(FLOPs / (peak × flops_efficiency), bytes / (bandwidth × bandwidth_efficiency)).
    Roofline,
    /// Each request takes an exponential time with mean `mean`, regardless of
    /// its tokens: a queueing-theory abstraction (M/M/c) for validation.
    Exponential,
    /// Operators timed on real kernels by `hacasim calibrate`, fitted per
    /// operator (see [`super::profile`]); `profile` names the file.
    Profile,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LatencyConfig {
    #[serde(default = "defaults::kind")]
    pub kind: LatencyKind,
    /// Fraction of peak FLOP/s reached by serving kernels (assumption, see SOURCES.md).
    #[serde(default = "defaults::flops_efficiency")]
    pub flops_efficiency: f64,
    /// Fraction of peak memory bandwidth reached (assumption, see SOURCES.md).
    #[serde(default = "defaults::bandwidth_efficiency")]
    pub bandwidth_efficiency: f64,
    /// Mean service time for `kind = "exponential"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<SimDuration>,
    /// Calibration profile for `kind = "profile"`, relative to the scenario
    /// file's directory (as trace files are).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

mod defaults {
    use super::LatencyKind;
    pub fn kind() -> LatencyKind {
        LatencyKind::Roofline
    }
    pub fn flops_efficiency() -> f64 {
        0.5
    }
    pub fn bandwidth_efficiency() -> f64 {
        0.8
    }
}

impl Default for LatencyConfig {
    fn default() -> Self {
        LatencyConfig {
            kind: defaults::kind(),
            flops_efficiency: defaults::flops_efficiency(),
            bandwidth_efficiency: defaults::bandwidth_efficiency(),
            mean: None,
            profile: None,
        }
    }
}

/// What one forward step of a batch processes.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepWork {
    /// Prompt tokens prefilled in this step, and the sum of their squares
    /// (for the attention term: a prefill of p tokens costs L·d·p²).
    pub prefill_tokens: f64,
    pub prefill_tokens_sq: f64,
    /// Sequences being prefilled (each yields a token, so needs the LM head).
    pub prefill_seqs: f64,
    /// Sequences decoding one token each.
    pub decode_seqs: f64,
    /// Sum of the decoding sequences' context lengths.
    pub decode_context: f64,
    /// Images encoded in this step: those of the sequences prefilled in it
    /// (a vision-language model encodes a request's images just before
    /// prefilling its prompt, image tokens included in `prefill_tokens`).
    pub images: f64,
}

/// The terms of `LatencyModel::step` that do not change along a run of
/// decode steps (no prefill, the same sequences).
#[derive(Clone, Copy, Debug)]
struct DecodeRun {
    weights_flops: f64,
    attention: f64,
    streamed: f64,
    kv: f64,
    /// Seconds per flop and per byte, the slowdown included.
    per_flop: f64,
    per_byte: f64,
    /// Sequences decoding: the context's growth per step.
    seqs: f64,
}

impl DecodeRun {
    /// The seconds of the `j`-th step of a block whose first step has
    /// context `ctx`, as `LatencyModel::step` computes them (the same
    /// operations in the same order). `j` < 256: exact as i32, and
    /// ctx + seqs·j is exact (integers below 2^53).
    #[inline(always)]
    fn secs(&self, ctx: f64, j: usize) -> f64 {
        let (flops, bytes) = self.terms(ctx, j);
        (flops * self.per_flop).max(bytes * self.per_byte)
    }

    /// `out[j]` = the `j`-th step's time in ns from context `ctx`, rounded
    /// as `SimDuration::from_secs_f64` rounds; `false` (and `out` not to be
    /// used) if a time is not in (0.5 ns, 2^52 ns), where the conversion
    /// through 2^52 holds.
    ///
    /// Both terms of the max are linear in the context, so when one is
    /// above the other by far more than rounding at both ends of the block
    /// it is above it all along, and it alone is computed: the max would
    /// have returned those very bits.
    fn times(&self, ctx: f64, out: &mut [u64]) -> bool {
        let Some(last) = out.len().checked_sub(1) else {
            return true;
        };
        let terms = |j| {
            let (flops, bytes) = self.terms(ctx, j);
            (flops * self.per_flop, bytes * self.per_byte)
        };
        let ((f0, b0), (f1, b1)) = (terms(0), terms(last));
        let clear = |a: f64, b: f64| a > b * (1.0 + 1e-9);
        let bound = if clear(f0, b0) && clear(f1, b1) {
            Bound::Compute
        } else if clear(b0, f0) && clear(b1, f1) {
            Bound::Memory
        } else {
            Bound::Either
        };
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2.
            return unsafe {
                match bound {
                    Bound::Compute => self.times_avx2::<0>(ctx, out),
                    Bound::Memory => self.times_avx2::<1>(ctx, out),
                    Bound::Either => self.times_avx2::<2>(ctx, out),
                }
            };
        }
        match bound {
            Bound::Compute => self.times_scalar::<0>(ctx, out),
            Bound::Memory => self.times_scalar::<1>(ctx, out),
            Bound::Either => self.times_scalar::<2>(ctx, out),
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn times_avx2<const BOUND: u8>(&self, ctx: f64, out: &mut [u64]) -> bool {
        self.times_scalar::<BOUND>(ctx, out)
    }

    /// The flops and bytes of the `j`-th step of a block from context `ctx`.
    #[inline(always)]
    fn terms(&self, ctx: f64, j: usize) -> (f64, f64) {
        let ctx = ctx + self.seqs * j as i32 as f64;
        (
            self.weights_flops + self.attention * ctx,
            self.streamed + self.kv * ctx,
        )
    }

    /// The loop every way compiles: straight-line, so that it vectorises;
    /// `BOUND` 0 computes only the compute term, 1 only the memory term, 2
    /// both and their max (`secs`).
    #[inline(always)]
    fn times_scalar<const BOUND: u8>(&self, ctx: f64, out: &mut [u64]) -> bool {
        let two52 = (1u64 << 52) as f64;
        let mut ok = true;
        for (j, t) in out.iter_mut().enumerate() {
            let secs = match BOUND {
                0 => self.terms(ctx, j).0 * self.per_flop,
                1 => self.terms(ctx, j).1 * self.per_byte,
                _ => self.secs(ctx, j),
            };
            let ns = secs * 1e9 + 0.5;
            ok &= ns > 0.5 && ns < two52;
            // Truncated, then read from 2^52 + it: an integer below 2^52.
            *t = (ns.trunc() + two52).to_bits() - two52.to_bits();
        }
        ok
    }
}

/// Which term of a step's time is the larger along a block of steps.
#[derive(Clone, Copy)]
enum Bound {
    Compute,
    Memory,
    Either,
}

/// A latency model bound to one model on one GPU.
#[derive(Clone, Debug, PartialEq)]
pub struct LatencyModel {
    pub kind: LatencyKind,
    /// Seconds per flop and per byte moved, the slowdown included: a step
    /// costs a multiplication per term, not a division (a billion decode
    /// steps a simulated day are timed with them).
    per_flop: f64,
    per_byte: f64,
    model: ModelSpec,
    /// Multiplier on every step (TEE overhead on a confidential-computing GPU).
    pub slowdown: f64,
    pub mean: SimDuration,
    /// The fitted profile for `kind = "profile"`.
    profile: Option<std::sync::Arc<FittedProfile>>,
}

impl LatencyModel {
    /// `profile` is the fitted profile that `cfg.profile` names (required
    /// when `cfg.kind` is `Profile`, ignored otherwise).
    pub fn new(
        cfg: &LatencyConfig,
        hw: &HardwareSpec,
        model: &ModelSpec,
        slowdown: f64,
        profile: Option<std::sync::Arc<FittedProfile>>,
    ) -> LatencyModel {
        let flops_per_s = hw.peak_tflops * 1e12 * cfg.flops_efficiency;
        let bytes_per_s = hw.mem_bw_gbps * 1e9 * cfg.bandwidth_efficiency;
        LatencyModel {
            kind: cfg.kind,
            per_flop: slowdown / flops_per_s,
            per_byte: slowdown / bytes_per_s,
            model: model.clone(),
            slowdown,
            mean: cfg.mean.unwrap_or_default(),
            profile: if cfg.kind == LatencyKind::Profile {
                profile
            } else {
                None
            },
        }
    }

    /// Time of one batched step: the slower of compute and memory traffic
    /// (weights once, plus the KV cache of every decoding sequence), plus
    /// the image encoder's own roofline time when the step encodes images.
    pub fn step(&self, w: &StepWork) -> SimDuration {
        let m = &self.model;
        if w.images > 0.0 {
            let text = StepWork { images: 0.0, ..*w };
            return self.step(&text) + SimDuration::from_secs_f64(self.encoder_secs(w.images));
        }
        if let Some(p) = &self.profile {
            return SimDuration::from_secs_f64(p.step_secs(m, w) * self.slowdown);
        }
        let (l, d) = (m.layers as f64, m.hidden as f64);
        let flops = 2.0 * m.active() * (w.prefill_tokens + w.decode_seqs)
            + l * d * w.prefill_tokens_sq
            + 2.0 * l * d * w.decode_context;
        let bytes = m.streamed_weight_bytes()
            + m.kv_bytes_per_token() * (w.decode_context + w.prefill_tokens);
        SimDuration::from_secs_f64((flops * self.per_flop).max(bytes * self.per_byte))
    }

    /// Seconds to encode `images` images, by the roofline whatever the
    /// model's latency kind: the encoder's FLOPs, or its weights streamed
    /// once, whichever is slower. The calibration does not time a vision
    /// transformer's operators (its GEMMs, attention and norms are of the
    /// same kinds as a decoder layer's, but not at its shapes), so under a
    /// profile this part is the datasheet's, not a measurement.
    pub fn encoder_secs(&self, images: f64) -> f64 {
        let flops = self.model.encoder_flops(images);
        let bytes = self.model.encoder_weight_bytes();
        (flops * self.per_flop).max(bytes * self.per_byte)
    }

    /// The end times of `steps` decode steps from `start` over `seqs`
    /// sequences whose contexts sum to `context` at the first step (one
    /// token more each per step), pushed to `ends`: each step's time exactly
    /// as [`LatencyModel::step`] computes and rounds it (the same operations
    /// in the same order, the terms that do not change along the run
    /// computed once), for runs of decode steps that add up to a billion
    /// steps a simulated day.
    pub fn decode_run(
        &self,
        seqs: u64,
        context: u64,
        steps: u64,
        start: SimTime,
        ends: &mut Vec<SimTime>,
    ) {
        let work = |k: u64| StepWork {
            decode_seqs: seqs as f64,
            decode_context: (context + k * seqs) as f64,
            ..Default::default()
        };
        let mut end = start;
        ends.reserve(steps as usize);
        if self.profile.is_some() {
            for k in 0..steps {
                end += self.step(&work(k));
                ends.push(end);
            }
            return;
        }
        let m = &self.model;
        // `step`'s flops with no prefill: 2N·(0 + seqs) + L·d·0 is 2N·seqs
        // exactly, and its bytes' `context + 0` is `context`.
        let run = DecodeRun {
            weights_flops: 2.0 * m.active() * (0.0 + seqs as f64),
            attention: 2.0 * m.layers as f64 * m.hidden as f64,
            streamed: m.streamed_weight_bytes(),
            kv: m.kv_bytes_per_token(),
            per_flop: self.per_flop,
            per_byte: self.per_byte,
            seqs: seqs as f64,
        };
        // In blocks of up to 64 steps: their times side by side (four at
        // once where the CPU has AVX2), then summed in order. (Runs average
        // ~80 steps: a larger block is mostly zeroed for nothing.)
        let mut ns = [0u64; 64];
        let mut k = 0;
        while k < steps {
            let n = (steps - k).min(ns.len() as u64) as usize;
            // The context as a float is exact (integers below 2^53).
            let ctx = work(k).decode_context;
            let fast = run.times(ctx, &mut ns[..n]);
            if !fast {
                // A step time outside the fast conversion's range: one by one.
                for (j, t) in ns[..n].iter_mut().enumerate() {
                    *t = SimDuration::from_secs_f64(run.secs(ctx, j)).0;
                }
            }
            if fast && end.0 < 1 << 62 {
                // 64 times below 2^52 ns (the fast conversion's range) after
                // one below 2^62 stay below 2^63: plain adds give what
                // saturating ones would.
                let mut e = end.0;
                ends.extend(ns[..n].iter().map(|&t| {
                    e += t;
                    SimTime(e)
                }));
                end = SimTime(e);
            } else {
                ends.extend(ns[..n].iter().map(|&t| {
                    end += SimDuration(t);
                    end
                }));
            }
            k += n as u64;
        }
    }

    /// Time to serve one request alone (encoding its `images`, prefill of
    /// its prompt, image tokens included, then each decode step).
    pub fn solo(&self, prompt: u32, output: u32, images: u32) -> SimDuration {
        let p = prompt as f64;
        let mut total = self.step(&StepWork {
            prefill_tokens: p,
            prefill_tokens_sq: p * p,
            prefill_seqs: 1.0,
            images: images as f64,
            ..Default::default()
        });
        for i in 1..output {
            total = total
                + self.step(&StepWork {
                    decode_seqs: 1.0,
                    decode_context: p + i as f64,
                    ..Default::default()
                });
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inference::{builtin_hardware, builtin_models};

    #[test]
    fn decode_of_one_sequence_is_memory_bound() {
        let m = &builtin_models()["llama-3.1-8b"];
        let hw = &builtin_hardware()["H100-SXM"];
        let lat = LatencyModel::new(&LatencyConfig::default(), hw, m, 1.0, None);
        // Batch 1, short context: 16.06 GB of weights at 0.8 × 3.35 TB/s ≈ 5.99 ms.
        let t = lat.step(&StepWork {
            decode_seqs: 1.0,
            decode_context: 100.0,
            ..Default::default()
        });
        let expected = (16.06e9 + 131_072.0 * 100.0) / (3350e9 * 0.8);
        assert!(
            (t.as_secs_f64() - expected).abs() < 1e-8,
            "{t:?} vs {expected}"
        );
        // A large prefill is compute bound: 2N·p / (0.5 × 989 TFLOP/s).
        let p = 8192.0;
        let t = lat.step(&StepWork {
            prefill_tokens: p,
            prefill_tokens_sq: p * p,
            ..Default::default()
        });
        let flops = 2.0 * 8.03e9 * p + 32.0 * 4096.0 * p * p;
        assert!((t.as_secs_f64() - flops / (989e12 * 0.5)).abs() < 1e-8);
        // The TEE slowdown multiplies.
        let slow = LatencyModel::new(&LatencyConfig::default(), hw, m, 1.07, None);
        let w = StepWork {
            decode_seqs: 4.0,
            decode_context: 4000.0,
            ..Default::default()
        };
        assert!((slow.step(&w).as_secs_f64() / lat.step(&w).as_secs_f64() - 1.07).abs() < 1e-6);
    }

    /// A run of decode steps ends where stepping one `step` at a time
    /// ends, to the nanosecond at every step: every model on every GPU,
    /// with and without the TEE slowdown (and one absurd enough to take the
    /// slow conversion), from one sequence to a full batch, over more than
    /// one block of 64 steps.
    #[test]
    fn decode_run_is_step_by_step() {
        let (models, hardware) = (builtin_models(), builtin_hardware());
        let mut state = 11u64;
        for (model, m) in &models {
            for (gpu, hw) in &hardware {
                // 1e9: steps of months, past the fast conversion's 2^52 ns.
                for slowdown in [1.0, 1.07, 1e9] {
                    let lat = LatencyModel::new(&LatencyConfig::default(), hw, m, slowdown, None);
                    for _ in 0..20 {
                        state = crate::rng::mix64(state + 1);
                        let seqs = 1 + state % 256;
                        let context = seqs * (1 + (state >> 16) % 20_000);
                        let start = SimTime(state >> 40);
                        let mut ends = Vec::new();
                        lat.decode_run(seqs, context, 300, start, &mut ends);
                        let mut end = start;
                        for (k, &got) in ends.iter().enumerate() {
                            let w = StepWork {
                                decode_seqs: seqs as f64,
                                decode_context: (context + k as u64 * seqs) as f64,
                                ..Default::default()
                            };
                            end += lat.step(&w);
                            assert_eq!(got, end, "{model} on {gpu} step {k}");
                        }
                        assert_eq!(ends.len(), 300);
                    }
                }
            }
        }
    }

    /// Runs whose steps change from memory-bound to compute-bound (or the
    /// reverse) inside a block, started at contexts around the crossing of
    /// the two terms: still step by step, to the nanosecond.
    #[test]
    fn decode_runs_across_the_roofline_crossing_are_step_by_step() {
        let (models, hardware) = (builtin_models(), builtin_hardware());
        let mut crossed = 0;
        for m in models.values() {
            for hw in hardware.values() {
                let lat = LatencyModel::new(&LatencyConfig::default(), hw, m, 1.07, None);
                for seqs in [1u64, 7, 64, 255] {
                    // (2N·s + 2Ld·c)/F = (W + kv·c)/B at c = crossing.
                    let (wf, att) = (
                        2.0 * m.active() * seqs as f64,
                        2.0 * m.layers as f64 * m.hidden as f64,
                    );
                    let (w, kv) = (m.streamed_weight_bytes(), m.kv_bytes_per_token());
                    // (both sides × the slowdown: the same crossing)
                    let crossing = (w * lat.per_byte - wf * lat.per_flop)
                        / (att * lat.per_flop - kv * lat.per_byte);
                    if !(crossing.is_finite() && crossing > 0.0 && crossing < 1e9) {
                        continue;
                    }
                    crossed += 1;
                    for before in [0u64, 1, 17, 128, 255, 299] {
                        let context =
                            ((crossing as u64).saturating_sub(before * seqs) / seqs).max(1) * seqs;
                        let mut ends = Vec::new();
                        lat.decode_run(seqs, context, 300, SimTime(5), &mut ends);
                        let mut end = SimTime(5);
                        for (k, &got) in ends.iter().enumerate() {
                            let w = StepWork {
                                decode_seqs: seqs as f64,
                                decode_context: (context + k as u64 * seqs) as f64,
                                ..Default::default()
                            };
                            end += lat.step(&w);
                            assert_eq!(got, end, "step {k}, {before} steps before the crossing");
                        }
                    }
                }
            }
        }
        assert!(crossed > 10, "{crossed} crossings");
    }

    /// LLaVA-1.5 7B on an H100, one request of 60 text tokens and 2 images
    /// (2 × 576 image tokens), by the roofline formula written out: the
    /// prefill step is the language model's prefill of all 1,212 prompt
    /// tokens plus the encoder's two images (577 patches each), each the
    /// slower of its FLOPs and its weights streamed; the TEE slowdown
    /// multiplies both.
    #[test]
    fn multimodal_prefill_is_the_encoders_plus_the_texts() {
        let m = &builtin_models()["llava-1.5-7b"];
        let hw = &builtin_hardware()["H100-SXM"];
        let (flops_per_s, bytes_per_s): (f64, f64) = (989e12 * 0.5, 3350e9 * 0.8);
        let p = 60.0 + 2.0 * 576.0;
        assert_eq!(m.image_tokens(2), 1152);
        let text_flops = 2.0 * 6.74e9 * p + 32.0 * 4096.0 * p * p;
        // KV: 2 × 32 layers × 32 heads × 128 dims × 2 bytes per token.
        let text_bytes = 6.74e9 * 2.0 + 2.0 * 32.0 * 32.0 * 128.0 * 2.0 * p;
        let enc_flops = 2.0 * (2.0 * 0.325e9 * 577.0 + 2.0 * 24.0 * 577.0 * 577.0 * 1024.0);
        let enc_bytes = 0.325e9 * 2.0;
        for slowdown in [1.0, 1.07] {
            let lat = LatencyModel::new(&LatencyConfig::default(), hw, m, slowdown, None);
            let text = slowdown * (text_flops / flops_per_s).max(text_bytes / bytes_per_s);
            let enc = slowdown * (enc_flops / flops_per_s).max(enc_bytes / bytes_per_s);
            let got = lat.solo(p as u32, 1, 2).as_secs_f64();
            assert!(
                (got - (text + enc)).abs() < 2e-9,
                "{got} vs {text} + {enc} (slowdown {slowdown})"
            );
            assert!(
                (lat.solo(p as u32, 1, 0).as_secs_f64() - text).abs() < 1e-9,
                "without images: the text's prefill alone"
            );
        }
        // Memory holds both sets of weights.
        assert_eq!(m.weight_bytes(), 6.74e9 * 2.0 + 0.325e9 * 2.0);
    }
}
