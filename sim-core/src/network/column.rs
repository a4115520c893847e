//! When one message, sent by every node at its own time, reaches one
//! receiver over direct links with normal jitter: the loop the quorum fast
//! path runs 2·N² times a height. Each delay is exactly what
//! `Network::delay` computes for the pair (the same netem table entry, the
//! same floating-point operations in the same order); where the CPU has
//! AVX2, eight senders are drawn at once.

use super::netem;

/// The senders' base latencies to one receiver (ns) and their jitter
/// spreads (fraction × base), as floats, by sender, padded with zeros to a
/// multiple of eight senders (so that the last eight are drawn at once too).
#[derive(Clone, Debug, Default)]
pub(super) struct Bases {
    ns: Vec<f64>,
    spread: Vec<f64>,
    /// No propagation time is above this (the table's extreme deviates).
    most: f64,
}

impl Bases {
    /// From the base latencies and the jitter spreads.
    pub fn new(mut ns: Vec<f64>, mut spread: Vec<f64>) -> Bases {
        assert_eq!(ns.len(), spread.len());
        let padded = ns.len().next_multiple_of(8);
        ns.resize(padded, 0.0);
        spread.resize(padded, 0.0);
        let (lowest, highest) = netem::extreme_deviates();
        // ns + spread·z is monotone in z, and so is its rounding.
        let most = ns
            .iter()
            .zip(&spread)
            .map(|(&ns, &s)| (ns + s * lowest).max(ns + s * highest))
            .fold(0.0, f64::max);
        Bases { ns, spread, most }
    }
}

/// Send time of a node that does not send.
pub const NOT_SENT: u64 = u64::MAX;

/// Arrival time of a message that does not come: later than any time.
pub const ABSENT: i64 = i64::MAX;

/// `out[f]` = when the message sent by `f` at `sent[f]` arrives, its delay
/// drawn in the receiver's jitter column ([`netem::column`]) plus the
/// transfer time; `ABSENT` for `f == to` and for senders `NOT_SENT`.
/// Returns the latest arrival (`i64::MIN` if none).
/// Times must be below 2^63 ns.
pub(super) fn normal_arrivals(
    column: u32,
    bases: &Bases,
    transfer: f64,
    sent: &[u64],
    to: usize,
    out: &mut [i64],
) -> i64 {
    assert!(
        bases.ns.len() == out.len().next_multiple_of(8) && sent.len() == out.len(),
        "the bases and sends of as many senders"
    );
    assert!(out.len() <= 1 << 16, "senders are u16 node ids");
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, and the slices' lengths were checked.
        return unsafe { avx2::normal_arrivals(column, bases, transfer, sent, to, out) };
    }
    scalar(column, bases, transfer, sent, to, out)
}

/// [`normal_arrivals`] one sender at a time.
fn scalar(
    column: u32,
    bases: &Bases,
    transfer: f64,
    sent: &[u64],
    to: usize,
    out: &mut [i64],
) -> i64 {
    for (f, o) in out.iter_mut().enumerate() {
        *o = if f == to || sent[f] == NOT_SENT {
            ABSENT
        } else {
            (sent[f] + one(column, f, bases.ns[f], bases.spread[f], transfer)) as i64
        };
    }
    latest(out)
}

/// The latest of the arrivals that come (`i64::MIN` if none).
pub(super) fn latest(out: &[i64]) -> i64 {
    out.iter()
        .fold(i64::MIN, |hi, &t| if t == ABSENT { hi } else { hi.max(t) })
}

/// One delay: what `Jitter::apply` and `Network::delay` compute on a
/// direct link with normal jitter.
#[inline(always)]
fn one(column: u32, from: usize, ns: f64, spread: f64, transfer: f64) -> u64 {
    let propagation = netem::propagation(ns, spread, column, from as u16);
    // Non-negative and below 2^63: the signed conversion is the unsigned
    // one, cheaper; adding ½ and truncating rounds to nearest.
    (propagation + transfer + 0.5) as i64 as u64
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{ABSENT, Bases, NOT_SENT, latest, one};
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

    /// What every block of a column shares.
    struct Column<'a> {
        /// The uniform words of senders 0..8; sender f's is lane f % 8 plus
        /// (f − f % 8)·STEP.
        words: __m256i,
        bases: &'a Bases,
        transfer: __m256d,
        /// The same, as scalars, for the lanes drawn one by one.
        column: u32,
        transfer_ns: f64,
    }

    /// Eight senders from `f`: their table entries read at once (eight
    /// scalar loads: faster here than AVX2's gather), then their arrivals
    /// four by four, written to `dst`, the latest of those that come folded
    /// into `hi`. Returns which lanes' delays are below 2^52 ns (all of them
    /// unless `CHECKED`), the others to be drawn one by one.
    ///
    /// # Safety
    /// `src` and `dst` must have 8 slots, and the bases `f + 8` entries.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn block<const CHECKED: bool>(
        c: &Column,
        f: usize,
        src: *const u64,
        dst: *mut i64,
        hi: &mut __m256i,
    ) -> i32 {
        let words = _mm256_add_epi32(
            c.words,
            _mm256_set1_epi32(STEP.wrapping_mul(f as u32) as i32),
        );
        let mut entry = [0u32; 8];
        // SAFETY: eight lanes into eight slots.
        unsafe {
            _mm256_storeu_si256(
                entry.as_mut_ptr().cast(),
                _mm256_srli_epi32::<20>(triple32(words)),
            )
        };
        // Every entry is below 4096, the table's length.
        let t = |k: usize| NORMAL[entry[k] as usize & 4095];
        let t = _mm256_setr_epi32(t(0), t(1), t(2), t(3), t(4), t(5), t(6), t(7));
        let (zero, half, two52) = (
            _mm256_setzero_pd(),
            _mm256_set1_pd(0.5),
            _mm256_set1_pd((1u64 << 52) as f64),
        );
        let (absent, earliest, not_sent) = (
            _mm256_set1_epi64x(ABSENT),
            _mm256_set1_epi64x(i64::MIN),
            _mm256_set1_epi64x(NOT_SENT as i64),
        );
        let mut small = if CHECKED { 0 } else { 0b1111_1111 };
        for (h, t) in [
            (0, _mm256_castsi256_si128(t)),
            (4, _mm256_extracti128_si256::<1>(t)),
        ] {
            let g = f + h;
            let z = _mm256_mul_pd(_mm256_cvtepi32_pd(t), _mm256_set1_pd(INV_SCALE));
            // SAFETY: g + 3 < the bases' length; src has 8 slots.
            let (ns, spread, sent) = unsafe {
                (
                    _mm256_loadu_pd(c.bases.ns.as_ptr().add(g)),
                    _mm256_loadu_pd(c.bases.spread.as_ptr().add(g)),
                    _mm256_loadu_si256(src.add(h).cast()),
                )
            };
            let propagation = _mm256_max_pd(_mm256_add_pd(ns, _mm256_mul_pd(spread, z)), zero);
            let y = _mm256_add_pd(_mm256_add_pd(propagation, c.transfer), half);
            // Truncated, then an integer below 2^52 read from 2^52 + it.
            let y = _mm256_round_pd::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(y);
            if CHECKED {
                small |= _mm256_movemask_pd(_mm256_cmp_pd::<_CMP_LT_OQ>(y, two52)) << h;
            }
            let delay = _mm256_sub_epi64(
                _mm256_castpd_si256(_mm256_add_pd(y, two52)),
                _mm256_castpd_si256(two52),
            );
            let gone = _mm256_cmpeq_epi64(sent, not_sent);
            let arrival = _mm256_blendv_epi8(_mm256_add_epi64(sent, delay), absent, gone);
            let counted = _mm256_blendv_epi8(arrival, earliest, gone);
            *hi = _mm256_blendv_epi8(*hi, counted, _mm256_cmpgt_epi64(counted, *hi));
            // SAFETY: dst has 8 slots.
            unsafe { _mm256_storeu_si256(dst.add(h).cast(), arrival) };
        }
        small
    }

    /// [`super::normal_arrivals`], eight senders at a time: the blocks of
    /// eight without the receiver straight from `sent` to `out` (a loop with
    /// nothing else in it), then the receiver's block and the last, shorter
    /// one through copies.
    ///
    /// # Safety
    /// The CPU must have AVX2, `sent` must be as long as `out`, and
    /// `bases`' slices `out`'s length rounded up to a multiple of eight.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn normal_arrivals(
        column: u32,
        bases: &Bases,
        transfer: f64,
        sent: &[u64],
        to: usize,
        out: &mut [i64],
    ) -> i64 {
        // Every delay below 2^51 ns: no lane needs the slow conversion.
        if bases.most + transfer + 0.5 >= (1u64 << 51) as f64 {
            // SAFETY: as this function's.
            unsafe { arrivals::<true>(column, bases, transfer, sent, to, out) }
        } else {
            // SAFETY: as this function's.
            unsafe { arrivals::<false>(column, bases, transfer, sent, to, out) }
        }
    }

    /// # Safety
    /// As [`normal_arrivals`]'.
    #[target_feature(enable = "avx2")]
    unsafe fn arrivals<const CHECKED: bool>(
        column: u32,
        bases: &Bases,
        transfer: f64,
        sent: &[u64],
        to: usize,
        out: &mut [i64],
    ) -> i64 {
        let n = out.len();
        let lane = |k: u32| column.wrapping_add(k.wrapping_mul(STEP)) as i32;
        let c = Column {
            words: _mm256_setr_epi32(
                lane(0),
                lane(1),
                lane(2),
                lane(3),
                lane(4),
                lane(5),
                lane(6),
                lane(7),
            ),
            bases,
            transfer: _mm256_set1_pd(transfer),
            column,
            transfer_ns: transfer,
        };
        let mut hi = _mm256_set1_epi64x(i64::MIN);
        let full = n / 8 * 8;
        // The receiver's block, if it is a full one (else `full`).
        let own = if to < full { to / 8 * 8 } else { full };
        let mut redo = false;
        for range in [0..own, (own + 8).min(full)..full] {
            for f in range.step_by(8) {
                // SAFETY: f + 8 <= n: eight slots of sent and out from f,
                // and bases padded to n rounded up to 8.
                let small = unsafe {
                    block::<CHECKED>(
                        &c,
                        f,
                        sent.as_ptr().add(f),
                        out.as_mut_ptr().add(f),
                        &mut hi,
                    )
                };
                if CHECKED && small != 0b1111_1111 {
                    redo_lanes(&c, f, small, sent, to, out);
                    redo = true;
                }
            }
        }
        let specials = [(own < full).then_some(own), (full < n).then_some(full)];
        for f in specials.into_iter().flatten() {
            let end = n.min(f + 8);
            let mut last_sent = [NOT_SENT; 8];
            last_sent[..end - f].copy_from_slice(&sent[f..end]);
            if (f..end).contains(&to) {
                last_sent[to - f] = NOT_SENT;
            }
            let mut last_out = [0i64; 8];
            // SAFETY: eight slots each; bases padded to n rounded up to 8.
            let small = unsafe {
                block::<CHECKED>(&c, f, last_sent.as_ptr(), last_out.as_mut_ptr(), &mut hi)
            };
            out[f..end].copy_from_slice(&last_out[..end - f]);
            if CHECKED && small != 0b1111_1111 {
                redo_lanes(&c, f, small, sent, to, out);
                redo = true;
            }
        }
        if redo {
            return latest(out);
        }
        let mut h = [0i64; 4];
        // SAFETY: four lanes into four slots.
        unsafe { _mm256_storeu_si256(h.as_mut_ptr().cast(), hi) };
        h.into_iter().max().expect("four")
    }

    /// Delays of 52 days or more: drawn one by one.
    #[cold]
    fn redo_lanes(c: &Column, f: usize, small: i32, sent: &[u64], to: usize, out: &mut [i64]) {
        let (column, transfer) = (c.column, c.transfer_ns);
        for g in (f..out.len().min(f + 8))
            .filter(|g| small & (1 << (g - f)) == 0 && *g != to && sent[*g] != NOT_SENT)
        {
            out[g] = (sent[g] + one(column, g, c.bases.ns[g], c.bases.spread[g], transfer)) as i64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{GOLDEN, Purpose, Streams};

    /// The arrivals as drawn (eight at a time where the CPU has AVX2) equal
    /// drawing each alone, for columns of every length from 0 to 41 (the
    /// tail after the last eight), bases from 0 to 300 ms and, for some
    /// senders of some columns, beyond 2^52 ns (the slow conversion), spreads of 0–20 %, senders that do not
    /// send, the receiver anywhere or absent, many keys; and the latest.
    #[test]
    fn arrivals_equal_one_draw_at_a_time() {
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
            let ns: Vec<f64> = (0..n)
                .map(|_| {
                    (next() % 300_000_000) as f64 + if huge && next() % 2 == 0 { 5e15 } else { 0.0 }
                })
                .collect();
            let spread = ns
                .iter()
                .map(|&b| b * (next() % 21) as f64 / 100.0)
                .collect();
            let bases = Bases::new(ns, spread);
            let transfer = (next() % 1_000_000) as f64 / 7.0;
            let sent: Vec<u64> = (0..n)
                .map(|_| {
                    if next() % 7 == 0 {
                        NOT_SENT
                    } else {
                        next() % (1 << 50)
                    }
                })
                .collect();
            let to = (next() % (n as u64 + 2)) as usize;
            let mut out = vec![0; n];
            let got = normal_arrivals(column, &bases, transfer, &sent, to, &mut out);
            let mut expected = vec![0; n];
            for f in 0..n {
                expected[f] = if f == to || sent[f] == NOT_SENT {
                    ABSENT
                } else {
                    (sent[f] + one(column, f, bases.ns[f], bases.spread[f], transfer)) as i64
                };
            }
            assert_eq!(out, expected, "case {case}");
            assert_eq!(
                got,
                expected
                    .iter()
                    .filter(|&&t| t != ABSENT)
                    .copied()
                    .max()
                    .unwrap_or(i64::MIN),
                "case {case}"
            );
            drawn += n;
        }
        assert!(drawn > 400_000);
    }
}
