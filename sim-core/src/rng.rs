//! Randomness. One master seed; every purpose and entity gets its own ChaCha8
//! stream derived from (seed, purpose, id), and per-message draws come from a
//! counter-keyed generator whose key is the message's identity (height,
//! round, step, sender, receiver), so a delay does not depend on the order in
//! which unrelated events were handled.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What a stream is used for; part of the stream's derivation key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u64)]
pub enum Purpose {
    NetworkJitter = 1,
    MessageLoss = 2,
    Mempool = 3,
    Topology = 4,
    /// Arrival times of one workload stream (id = stream index).
    Workload = 5,
    /// Per-request draws: tokens, mode, dishonesty, sampling (keyed by request id).
    Request = 6,
    /// Service times of exponential-latency GPU nodes (keyed by request id).
    Service = 7,
    /// Whether a validator's output of a request differs (keyed by request and validator).
    Divergence = 8,
    /// The token price path (GBM).
    Market = 9,
}

/// SplitMix64's finaliser's multipliers (for code that mixes several words at once).
pub const MIX1: u64 = 0xbf58_476d_1ce4_e5b9;
pub const MIX2: u64 = 0x94d0_49bb_1331_11eb;

/// SplitMix64's finaliser: a bijective mixer with full avalanche.
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(MIX1);
    z = (z ^ (z >> 27)).wrapping_mul(MIX2);
    z ^ (z >> 31)
}

/// 2^64 / φ, odd: SplitMix64's increment and the multiplier that spreads a
/// counter word before it is mixed into a key.
pub const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// Derives independent generators from one master seed.
#[derive(Clone, Debug)]
pub struct Streams {
    seed: u64,
}

impl Streams {
    pub fn new(seed: u64) -> Self {
        Streams { seed }
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// A ChaCha8 stream for (purpose, id): the 256-bit key comes from the seed
    /// and the purpose, the id selects ChaCha's 64-bit stream number.
    pub fn stream(&self, purpose: Purpose, id: u64) -> ChaCha8Rng {
        let mut key = [0u8; 32];
        let mut state = self.seed ^ mix64(purpose as u64);
        for chunk in key.chunks_mut(8) {
            state = state.wrapping_add(GOLDEN);
            chunk.copy_from_slice(&mix64(state).to_le_bytes());
        }
        let mut rng = ChaCha8Rng::from_seed(key);
        rng.set_stream(id);
        rng
    }

    /// The key of a counter-keyed generator for `purpose`, drawn from its ChaCha stream.
    pub fn counter_key(&self, purpose: Purpose) -> CounterKey {
        CounterKey(self.stream(purpose, u64::MAX).next_u64())
    }
}

/// Key of a counter-based generator: `at(counter)` gives a generator whose
/// output depends only on the key and the counter words.
#[derive(Clone, Copy, Debug)]
pub struct CounterKey(u64);

impl CounterKey {
    /// A generator for the message or draw identified by `words`.
    #[inline]
    pub fn at(&self, words: &[u64]) -> CounterRng {
        CounterRng {
            state: self.then(words).0,
        }
    }

    /// The key itself, for code that draws several generators at once
    /// (`at_scaled(s)` starts from `mix64(word ^ s)`).
    pub fn word(&self) -> u64 {
        self.0
    }

    /// `self.at(&[w])` given `scaled` = w × [`GOLDEN`] (wrapping): a loop
    /// that steps `w` by a constant steps `scaled` by an addition.
    #[inline(always)]
    pub fn at_scaled(&self, scaled: u64) -> CounterRng {
        CounterRng {
            state: mix64(self.0 ^ scaled),
        }
    }

    /// The key with `words` folded in: `k.then(a).at(b)` is `k.at(a ++ b)`,
    /// so a broadcast hashes its message once and each receiver once.
    #[inline]
    pub fn then(&self, words: &[u64]) -> CounterKey {
        let mut h = self.0;
        for &w in words {
            h = mix64(h ^ w.wrapping_mul(GOLDEN));
        }
        CounterKey(h)
    }
}

/// SplitMix64 from a per-draw key: cheap (a few ns) and passes BigCrush, which
/// is what a per-message jitter or loss draw needs.
#[derive(Clone, Debug)]
pub struct CounterRng {
    state: u64,
}

impl rand::TryRng for CounterRng {
    type Error = core::convert::Infallible;
    #[inline]
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok((self.try_next_u64()? >> 32) as u32)
    }
    #[inline]
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        self.state = self.state.wrapping_add(GOLDEN);
        Ok(mix64(self.state))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(8) {
            let v = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(())
    }
}

/// Uniform in [0, 1) with 53 bits.
#[inline]
pub fn unit_f64<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Standard normal by Box–Muller (two uniforms, one output): deterministic and
/// independent of any library's sampling algorithm, so figures stay stable
/// across dependency upgrades.
#[inline]
pub fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    let u1 = 1.0 - unit_f64(rng); // (0, 1]
    let u2 = unit_f64(rng);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Exponential with mean `mean`.
#[inline]
pub fn exponential<R: Rng + ?Sized>(rng: &mut R, mean: f64) -> f64 {
    -mean * (1.0 - unit_f64(rng)).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_differ_by_purpose_and_id_and_repeat_for_same_inputs() {
        let s = Streams::new(42);
        let a = s.stream(Purpose::Mempool, 1).next_u64();
        assert_eq!(a, s.stream(Purpose::Mempool, 1).next_u64());
        assert_ne!(a, s.stream(Purpose::Mempool, 2).next_u64());
        assert_ne!(a, s.stream(Purpose::Topology, 1).next_u64());
        assert_ne!(a, Streams::new(43).stream(Purpose::Mempool, 1).next_u64());
    }

    #[test]
    fn counter_draws_depend_only_on_key_and_counter() {
        let k = Streams::new(1).counter_key(Purpose::NetworkJitter);
        let x = k.at(&[5, 0, 1, 3, 4]).next_u64();
        // Unrelated draws in between change nothing.
        let _ = k.at(&[6, 0, 1, 3, 4]).next_u64();
        assert_eq!(x, k.at(&[5, 0, 1, 3, 4]).next_u64());
        assert_ne!(
            x,
            k.at(&[5, 0, 1, 4, 3]).next_u64(),
            "sender and receiver are ordered"
        );
        assert_eq!(
            x,
            k.then(&[5, 0]).at(&[1, 3, 4]).next_u64(),
            "a prefix folded once"
        );
    }

    #[test]
    fn normal_and_exponential_moments() {
        // Mean and variance against the distributions' formulas, 200k draws:
        // the standard error of the mean is ~0.0022, so 0.01 is > 4 sigma.
        let k = Streams::new(9).counter_key(Purpose::NetworkJitter);
        let n = 200_000;
        let (mut s, mut s2, mut e) = (0.0, 0.0, 0.0);
        for i in 0..n {
            let mut r = k.at(&[i]);
            let z = standard_normal(&mut r);
            s += z;
            s2 += z * z;
            e += exponential(&mut r, 2.0);
        }
        let mean = s / n as f64;
        let var = s2 / n as f64 - mean * mean;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "var {var}");
        assert!((e / n as f64 - 2.0).abs() < 0.03);
    }
}
