//! One message's delays from every sender to one receiver on direct links
//! with normal jitter: the loop the quorum fast path runs 2·N² times a
//! height. Each delay is exactly what `Network::delay` computes for the
//! pair (the same draw, the same floating-point operations in the same
//! order); where the CPU has AVX2, four senders are drawn at once, and the
//! lanes whose normal draw leaves the ziggurat's fast path (about 1 in 80)
//! are drawn again one by one.

use crate::normal;
use crate::rng::CounterKey;

/// The senders' base latencies to one receiver (ns) and their jitter
/// spreads (fraction × base), as floats, by sender.
#[derive(Clone, Debug, Default)]
pub(super) struct Bases {
    pub ns: Vec<f64>,
    pub spread: Vec<f64>,
}

/// `out[f]` = the delay from sender `f`, given the message's jitter key,
/// `scaled` = the word of the pair (0, receiver) × GOLDEN and `step` = the
/// word of (1, 0) × GOLDEN, so that sender f's is `scaled + f·step`
/// (wrapping), and the transfer time. The receiver's own entry is drawn
/// like the others (the caller zeroes it).
pub(super) fn normal_delays(jitter: CounterKey, scaled: u64, step: u64, bases: &Bases, transfer: f64, out: &mut [u64]) {
    assert!(bases.ns.len() == out.len() && bases.spread.len() == out.len());
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, and the slices' lengths were checked.
        unsafe { avx2::normal_delays(jitter, scaled, step, bases, transfer, out) };
        return;
    }
    scalar(jitter, scaled, step, bases, transfer, out, 0);
}

/// The delays from sender `from` on, one at a time.
fn scalar(jitter: CounterKey, scaled: u64, step: u64, bases: &Bases, transfer: f64, out: &mut [u64], from: usize) {
    for (f, o) in out.iter_mut().enumerate().skip(from) {
        *o = one(jitter, scaled.wrapping_add((f as u64).wrapping_mul(step)), bases.ns[f], bases.spread[f], transfer);
    }
}

/// One delay: what `Jitter::apply` and `Network::delay` compute on a
/// direct link with normal jitter.
#[inline(always)]
fn one(jitter: CounterKey, scaled: u64, ns: f64, spread: f64, transfer: f64) -> u64 {
    let mut g = jitter.at_scaled(scaled);
    let propagation = (ns + spread * normal::standard_normal(&mut g)).max(0.0);
    // Non-negative and below 2^63: the signed conversion is the unsigned
    // one, cheaper; adding ½ and truncating rounds to nearest.
    (propagation + transfer + 0.5) as i64 as u64
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{Bases, one};
    use crate::normal::ZIG_NORM_X;
    use crate::rng::{CounterKey, GOLDEN, MIX1, MIX2};

    /// Low 64 bits of `a × m` in each lane, `m` given as its low and high
    /// 32-bit halves (AVX2 multiplies 32 × 32 → 64 only).
    #[target_feature(enable = "avx2")]
    #[inline]
    fn mul(a: __m256i, m_lo: __m256i, m_hi: __m256i) -> __m256i {
        let lo = _mm256_mul_epu32(a, m_lo);
        let cross = _mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64::<32>(a), m_lo), _mm256_mul_epu32(a, m_hi));
        _mm256_add_epi64(lo, _mm256_slli_epi64::<32>(cross))
    }

    /// `rng::mix64` in each lane.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn mix(z: __m256i, m: &[(__m256i, __m256i); 2]) -> __m256i {
        let z = mul(_mm256_xor_si256(z, _mm256_srli_epi64::<30>(z)), m[0].0, m[0].1);
        let z = mul(_mm256_xor_si256(z, _mm256_srli_epi64::<27>(z)), m[1].0, m[1].1);
        _mm256_xor_si256(z, _mm256_srli_epi64::<31>(z))
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    fn halves(m: u64) -> (__m256i, __m256i) {
        (_mm256_set1_epi64x((m & 0xffff_ffff) as i64), _mm256_set1_epi64x((m >> 32) as i64))
    }

    /// [`super::normal_delays`], four senders at a time.
    ///
    /// # Safety
    /// The CPU must have AVX2, and `bases`' slices must be as long as `out`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn normal_delays(jitter: CounterKey, scaled: u64, step: u64, bases: &Bases, transfer: f64, out: &mut [u64]) {
        let n = out.len();
        let m = [halves(MIX1), halves(MIX2)];
        let key = _mm256_set1_epi64x(jitter.word() as i64);
        let golden = _mm256_set1_epi64x(GOLDEN as i64);
        let lane = |k: u64| scaled.wrapping_add(k.wrapping_mul(step)) as i64;
        let mut words = _mm256_set_epi64x(lane(3), lane(2), lane(1), lane(0));
        let step4 = _mm256_set1_epi64x(step.wrapping_mul(4) as i64);
        let (layer, exponent) = (_mm256_set1_epi64x(0xff), _mm256_set1_epi64x(1024 << 52));
        let (three, zero, half) = (_mm256_set1_pd(3.0), _mm256_setzero_pd(), _mm256_set1_pd(0.5));
        let (transfer_v, two52) = (_mm256_set1_pd(transfer), _mm256_set1_pd((1u64 << 52) as f64));
        let abs = _mm256_castsi256_pd(_mm256_set1_epi64x(i64::MAX));
        let table = ZIG_NORM_X.as_ptr();
        for f in (0..n / 4 * 4).step_by(4) {
            // The generator `at_scaled` makes, and its first word.
            let state = mix(_mm256_xor_si256(key, words), &m);
            let bits = mix(_mm256_add_epi64(state, golden), &m);
            // The ziggurat's fast path (`normal::fast_path`).
            let i = _mm256_and_si256(bits, layer);
            let u = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(_mm256_srli_epi64::<12>(bits), exponent)), three);
            // SAFETY: i ≤ 255 and the table has 257 entries.
            let (x_i, x_next) = unsafe { (_mm256_i64gather_pd::<8>(table, i), _mm256_i64gather_pd::<8>(table.add(1), i)) };
            let x = _mm256_mul_pd(u, x_i);
            let fast = _mm256_cmp_pd::<_CMP_LT_OQ>(_mm256_and_pd(x, abs), x_next);
            // SAFETY: f + 3 < n, the slices' length.
            let (ns, spread) = unsafe { (_mm256_loadu_pd(bases.ns.as_ptr().add(f)), _mm256_loadu_pd(bases.spread.as_ptr().add(f))) };
            let propagation = _mm256_max_pd(_mm256_add_pd(ns, _mm256_mul_pd(spread, x)), zero);
            let y = _mm256_add_pd(_mm256_add_pd(propagation, transfer_v), half);
            // Truncated, then an integer below 2^52 read from 2^52 + it.
            let t = _mm256_round_pd::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(y);
            let small = _mm256_cmp_pd::<_CMP_LT_OQ>(t, two52);
            let ns_out = _mm256_sub_epi64(_mm256_castpd_si256(_mm256_add_pd(t, two52)), _mm256_castpd_si256(two52));
            // SAFETY: f + 3 < n.
            unsafe { _mm256_storeu_si256(out.as_mut_ptr().add(f).cast(), ns_out) };
            let good = _mm256_movemask_pd(_mm256_and_pd(fast, small));
            if good != 0b1111 {
                for k in 0..4 {
                    if good & (1 << k) == 0 {
                        let g = f + k;
                        out[g] = one(jitter, lane(g as u64) as u64, bases.ns[g], bases.spread[g], transfer);
                    }
                }
            }
            words = _mm256_add_epi64(words, step4);
        }
        super::scalar(jitter, scaled, step, bases, transfer, out, n / 4 * 4);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{GOLDEN, Purpose, Streams};

    /// The column as drawn (four at a time where the CPU has AVX2) equals
    /// drawing each delay alone, for columns of every length from 0 to 41
    /// (the tail after the last four), bases from 0 to 300 ms, spreads of
    /// 0–20 %, many keys (so thousands of lanes leave the fast path).
    #[test]
    fn columns_equal_one_draw_at_a_time() {
        let streams = Streams::new(3);
        let mut state = 1u64;
        let mut next = || {
            state = crate::rng::mix64(state.wrapping_add(GOLDEN));
            state
        };
        let mut drawn = 0;
        for case in 0..20_000u64 {
            let jitter = streams.counter_key(Purpose::NetworkJitter).then(&[case]);
            let n = (case % 42) as usize;
            let ns: Vec<f64> = (0..n).map(|_| (next() % 300_000_000) as f64).collect();
            let spread = ns.iter().map(|&b| b * (next() % 21) as f64 / 100.0).collect();
            let bases = Bases { ns, spread };
            let (scaled, step) = (next(), next());
            let transfer = (next() % 1_000_000) as f64 / 7.0;
            let mut out = vec![u64::MAX; n];
            normal_delays(jitter, scaled, step, &bases, transfer, &mut out);
            for f in 0..n {
                let expected = one(jitter, scaled.wrapping_add((f as u64).wrapping_mul(step)), bases.ns[f], bases.spread[f], transfer);
                assert_eq!(out[f], expected, "case {case} sender {f}");
            }
            drawn += n;
        }
        assert!(drawn > 400_000);
    }
}
