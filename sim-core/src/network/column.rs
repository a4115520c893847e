//! One message's delays from every sender to one receiver on direct links
//! with normal jitter: the loop the quorum fast path runs 2·N² times a
//! height. Each delay is exactly what `Network::delay` computes for the
//! pair (the same netem table entry, the same floating-point operations in
//! the same order); where the CPU has AVX2, eight senders are drawn at once.

use super::netem;

/// The senders' base latencies to one receiver (ns) and their jitter
/// spreads (fraction × base), as floats, by sender, padded with zeros to a
/// multiple of eight senders (so that the last eight are drawn at once too).
#[derive(Clone, Debug, Default)]
pub(super) struct Bases {
    ns: Vec<f64>,
    spread: Vec<f64>,
}

impl Bases {
    /// From the base latencies and the jitter spreads.
    pub fn new(mut ns: Vec<f64>, mut spread: Vec<f64>) -> Bases {
        assert_eq!(ns.len(), spread.len());
        let padded = ns.len().next_multiple_of(8);
        ns.resize(padded, 0.0);
        spread.resize(padded, 0.0);
        Bases { ns, spread }
    }
}

/// `out[f]` = the delay from sender `f` in the receiver's jitter column
/// ([`netem::column`]), plus the transfer time. The receiver's own entry is
/// drawn like the others (the caller zeroes it).
pub(super) fn normal_delays(column: u32, bases: &Bases, transfer: f64, out: &mut [u64]) {
    assert!(bases.ns.len() == out.len().next_multiple_of(8), "the bases of as many senders");
    assert!(out.len() <= 1 << 16, "senders are u16 node ids");
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, and the slices' lengths were checked.
        unsafe { avx2::normal_delays(column, bases, transfer, out) };
        return;
    }
    scalar(column, bases, transfer, out);
}

/// The delays one at a time.
fn scalar(column: u32, bases: &Bases, transfer: f64, out: &mut [u64]) {
    for (f, o) in out.iter_mut().enumerate() {
        *o = one(column, f, bases.ns[f], bases.spread[f], transfer);
    }
}

/// One delay: what `Jitter::apply` and `Network::delay` compute on a
/// direct link with normal jitter.
#[inline(always)]
fn one(column: u32, from: usize, ns: f64, spread: f64, transfer: f64) -> u64 {
    let propagation = (ns + spread * netem::deviate(column, from as u16)).max(0.0);
    // Non-negative and below 2^63: the signed conversion is the unsigned
    // one, cheaper; adding ½ and truncating rounds to nearest.
    (propagation + transfer + 0.5) as i64 as u64
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{Bases, one};
    use crate::network::netem::{INV_SCALE, NORMAL, STEP};

    /// `netem::triple32` in each lane.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn triple32(x: __m256i) -> __m256i {
        let x = _mm256_xor_si256(x, _mm256_srli_epi32::<17>(x));
        let x = _mm256_mullo_epi32(x, _mm256_set1_epi32(0xed5a_d4bbu32 as i32));
        let x = _mm256_xor_si256(x, _mm256_srli_epi32::<11>(x));
        let x = _mm256_mullo_epi32(x, _mm256_set1_epi32(0xac4c_1b51u32 as i32));
        let x = _mm256_xor_si256(x, _mm256_srli_epi32::<15>(x));
        let x = _mm256_mullo_epi32(x, _mm256_set1_epi32(0x3184_8babu32 as i32));
        _mm256_xor_si256(x, _mm256_srli_epi32::<14>(x))
    }

    /// [`super::normal_delays`], eight senders at a time: their table
    /// entries gathered at once, then their delays four by four; the last
    /// (padded) eight through a buffer.
    ///
    /// # Safety
    /// The CPU must have AVX2, and `bases`' slices must be `out`'s length
    /// rounded up to a multiple of eight.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn normal_delays(column: u32, bases: &Bases, transfer: f64, out: &mut [u64]) {
        let n = out.len();
        let mut last = [0u64; 8];
        let lane = |k: u32| column.wrapping_add(k.wrapping_mul(STEP)) as i32;
        let mut words = _mm256_setr_epi32(lane(0), lane(1), lane(2), lane(3), lane(4), lane(5), lane(6), lane(7));
        let step8 = _mm256_set1_epi32(STEP.wrapping_mul(8) as i32);
        let (zero, half, inv_scale) = (_mm256_setzero_pd(), _mm256_set1_pd(0.5), _mm256_set1_pd(INV_SCALE));
        let (transfer_v, two52) = (_mm256_set1_pd(transfer), _mm256_set1_pd((1u64 << 52) as f64));
        let table = NORMAL.as_ptr();
        for f in (0..n).step_by(8) {
            let full = f + 8 <= n;
            let dst = if full { out[f..].as_mut_ptr() } else { last.as_mut_ptr() };
            let index = _mm256_srli_epi32::<20>(triple32(words));
            // SAFETY: every index is below 4096, the table's length.
            let t = unsafe { _mm256_i32gather_epi32::<4>(table, index) };
            let mut small = 0;
            for (h, t) in [(0, _mm256_castsi256_si128(t)), (4, _mm256_extracti128_si256::<1>(t))] {
                let g = f + h;
                let z = _mm256_mul_pd(_mm256_cvtepi32_pd(t), inv_scale);
                // SAFETY: g + 3 < the bases' (padded) length.
                let (ns, spread) = unsafe { (_mm256_loadu_pd(bases.ns.as_ptr().add(g)), _mm256_loadu_pd(bases.spread.as_ptr().add(g))) };
                let propagation = _mm256_max_pd(_mm256_add_pd(ns, _mm256_mul_pd(spread, z)), zero);
                let y = _mm256_add_pd(_mm256_add_pd(propagation, transfer_v), half);
                // Truncated, then an integer below 2^52 read from 2^52 + it.
                let t = _mm256_round_pd::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(y);
                small |= _mm256_movemask_pd(_mm256_cmp_pd::<_CMP_LT_OQ>(t, two52)) << h;
                let ns_out = _mm256_sub_epi64(_mm256_castpd_si256(_mm256_add_pd(t, two52)), _mm256_castpd_si256(two52));
                // SAFETY: dst has 8 slots from f.
                unsafe { _mm256_storeu_si256(dst.add(h).cast(), ns_out) };
            }
            if !full {
                out[f..].copy_from_slice(&last[..n - f]);
            }
            if small != 0b1111_1111 {
                // Delays of 52 days or more: converted one by one.
                for g in (f..n.min(f + 8)).filter(|g| small & (1 << (g - f)) == 0) {
                    out[g] = one(column, g, bases.ns[g], bases.spread[g], transfer);
                }
            }
            words = _mm256_add_epi32(words, step8);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{GOLDEN, Purpose, Streams};

    /// The column as drawn (eight at a time where the CPU has AVX2) equals
    /// drawing each delay alone, for columns of every length from 0 to 41
    /// (the tail after the last eight), bases from 0 to 300 ms and beyond
    /// 2^52 ns (the slow conversion), spreads of 0–20 %, many keys.
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
            let column = netem::column(jitter, (case % 300) as u16);
            let n = (case % 42) as usize;
            let huge = case % 97 == 0;
            let ns: Vec<f64> = (0..n).map(|_| (next() % 300_000_000) as f64 + if huge { 5e15 } else { 0.0 }).collect();
            let spread = ns.iter().map(|&b| b * (next() % 21) as f64 / 100.0).collect();
            let bases = Bases::new(ns, spread);
            let transfer = (next() % 1_000_000) as f64 / 7.0;
            let mut out = vec![u64::MAX; n];
            normal_delays(column, &bases, transfer, &mut out);
            for f in 0..n {
                let expected = one(column, f, bases.ns[f], bases.spread[f], transfer);
                assert_eq!(out[f], expected, "case {case} sender {f}");
            }
            drawn += n;
        }
        assert!(drawn > 400_000);
    }
}
