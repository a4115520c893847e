//! EIP-1559's base-fee update, in integer arithmetic exactly as the EIP's
//! specification writes it:
//!
//! ```text
//! if used == target: base
//! if used >  target: base + max(base · (used − target) / target / denominator, 1)
//! if used <  target: base − base · (target − used) / target / denominator
//! ```
//! with `target = gas_limit / elasticity` (EIP-1559: elasticity 2, denominator 8).

/// The next block's base fee per gas after a block that used `gas_used`.
pub fn next_base_fee(base: u64, gas_used: u64, gas_target: u64, denominator: u64) -> u64 {
    if gas_target == 0 || denominator == 0 || gas_used == gas_target {
        return base;
    }
    let (b, t, d) = (base as u128, gas_target as u128, denominator as u128);
    if gas_used > gas_target {
        let delta = (b * (gas_used - gas_target) as u128 / t / d).max(1);
        (b + delta).min(u64::MAX as u128) as u64
    } else {
        let delta = b * (gas_target - gas_used) as u128 / t / d;
        (b - delta) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TARGET: u64 = 15_000_000;

    #[test]
    fn full_block_raises_empty_lowers_by_an_eighth_at_target_unchanged() {
        let base = 1_000_000_000; // divisible by 8
        assert_eq!(next_base_fee(base, 2 * TARGET, TARGET, 8), 1_125_000_000);
        assert_eq!(next_base_fee(base, 0, TARGET, 8), 875_000_000);
        assert_eq!(next_base_fee(base, TARGET, TARGET, 8), base);
    }

    #[test]
    fn minimum_increase_is_one() {
        // 7 · 1 / 15e6 / 8 = 0 → raised to 1.
        assert_eq!(next_base_fee(7, TARGET + 1, TARGET, 8), 8);
        // Decreases have no minimum: 7 · 1 / 15e6 / 8 = 0.
        assert_eq!(next_base_fee(7, TARGET - 1, TARGET, 8), 7);
    }

    /// A sequence by hand: base 1000, target 100, denominator 8.
    ///   used 200: 1000 + 1000·100/100/8 = 1000 + 125 = 1125
    ///   used 150: 1125 + 1125·50/100/8 = 1125 + 70 (562.5/8 → 562/8 = 70) = 1195
    ///   used   0: 1195 − 1195·100/100/8 = 1195 − 149 = 1046
    ///   used  50: 1046 − 1046·50/100/8 = 1046 − 65 (523/8) = 981
    ///   used 100: 981
    #[test]
    fn hand_computed_sequence() {
        let mut base = 1000;
        let mut seen = Vec::new();
        for used in [200, 150, 0, 50, 100] {
            base = next_base_fee(base, used, 100, 8);
            seen.push(base);
        }
        assert_eq!(seen, [1125, 1195, 1046, 981, 981]);
    }
}
