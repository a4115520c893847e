//! EIP-1559's base-fee update, in integer arithmetic exactly as the EIP's
//! specification writes it:
//!
//! ```text
//! if used == target: base
//! if used >  target: base + max(base · (used − target) / target / denominator, 1)
//! if used <  target: base − base · (target − used) / target / denominator
//! ```
//! with `target = gas_limit / elasticity` (EIP-1559: elasticity 2, denominator 8).
//!
//! Also what a transaction costs: its gas (a base amount plus so much per
//! byte), and how its fee splits (the base fee burned or to the treasury,
//! the tip to the proposer); and the price of an inference request.

use crate::ppm_of;

/// EIP-1559's gas target: the block gas limit over the elasticity (an
/// elasticity of 0 counts as 1).
pub fn gas_target(block_gas_limit: u64, elasticity: u64) -> u64 {
    block_gas_limit / elasticity.max(1)
}

/// The gas of a transaction of `bytes`: `base_gas + per_byte · bytes`,
/// saturating (a transaction whose gas passes u64 fits no block).
pub fn tx_gas(bytes: u64, base_gas: u64, per_byte: u64) -> u64 {
    per_byte.saturating_mul(bytes).saturating_add(base_gas)
}

/// What one transaction pays in a block, base units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SettlementFee {
    /// base fee × gas (saturating) = `burned + to_treasury`.
    pub base: u64,
    pub burned: u64,
    pub to_treasury: u64,
    /// To the block's proposer.
    pub tip: u64,
}

impl SettlementFee {
    /// What the payer must hold for the transaction to pay (saturating).
    pub fn total(&self) -> u64 {
        self.base.saturating_add(self.tip)
    }
}

/// The fee of a transaction of `gas` in a block of base fee `base_fee`: the
/// base fee × gas, of which `burn_ppm` parts per million (rounded down) are
/// burned and the rest goes to the treasury; and a tip of
/// min(`tip_per_gas`, `max_fee_per_gas` − base fee, 0 at the least) × gas
/// to the proposer. Products saturate at u64::MAX. The same under every
/// economic design.
pub fn settlement_fee(
    base_fee: u64,
    gas: u64,
    tip_per_gas: u64,
    max_fee_per_gas: u64,
    burn_ppm: u64,
) -> SettlementFee {
    let base = base_fee.saturating_mul(gas);
    let tip = tip_per_gas
        .min(max_fee_per_gas.saturating_sub(base_fee))
        .saturating_mul(gas);
    let burned = ppm_of(base, burn_ppm);
    SettlementFee {
        base,
        burned,
        to_treasury: base - burned,
        tip,
    }
}

/// A user's fee for an inference request of `prompt` input and `output`
/// output tokens at `price_in` and `price_out` base units per token, times
/// `scale` (genesis over current token price when fees are set in USD, else
/// 1), rounded to the nearest base unit.
pub fn inference_fee(price_in: f64, price_out: f64, prompt: u32, output: u32, scale: f64) -> u64 {
    ((price_in * prompt as f64 + price_out * output as f64) * scale).round() as u64
}

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

    #[test]
    fn gas_target_and_tx_gas() {
        assert_eq!(gas_target(30_000_000, 2), 15_000_000);
        assert_eq!(gas_target(30_000_000, 0), 30_000_000);
        assert_eq!(gas_target(7, 2), 3);
        // 21,000 + 16 × 200 = 24,200.
        assert_eq!(tx_gas(200, 21_000, 16), 24_200);
        assert_eq!(tx_gas(u64::MAX / 2, 21_000, 16), u64::MAX);
    }

    /// By hand: base fee 10, gas 24,200, tip 1, max fee 1,000, half burned:
    /// base 242,000 → 121,000 burned, 121,000 to the treasury; tip 24,200.
    /// Base fee 995 leaves room for a tip of 5 a gas only; base fee 1,200
    /// (above the max fee) for none, and the base fee is still charged.
    #[test]
    fn settlement_fee_by_hand() {
        let f = settlement_fee(10, 24_200, 1, 1_000, 500_000);
        assert_eq!(
            f,
            SettlementFee {
                base: 242_000,
                burned: 121_000,
                to_treasury: 121_000,
                tip: 24_200
            }
        );
        assert_eq!(f.total(), 266_200);
        // A third burned, rounded down: 300 × 333,333 / 10^6 = 99.9999 → 99.
        let g = settlement_fee(3, 100, 10, 1_000, 333_333);
        assert_eq!(
            (g.base, g.burned, g.to_treasury, g.tip),
            (300, 99, 201, 1_000)
        );
        assert_eq!(settlement_fee(995, 100, 10, 1_000, 1_000_000).tip, 500);
        let above = settlement_fee(1_200, 100, 10, 1_000, 1_000_000);
        assert_eq!((above.base, above.burned, above.tip), (120_000, 120_000, 0));
        // Saturation: base × gas past u64::MAX, then the total.
        let big = settlement_fee(u64::MAX / 2, 3, 1, u64::MAX, 0);
        assert_eq!((big.base, big.to_treasury), (u64::MAX, u64::MAX));
        assert_eq!(big.total(), u64::MAX);
    }

    /// By hand: 0.5 and 2 base units per token, 100 in and 30 out:
    /// 50 + 60 = 110; scaled by 1.5 → 165; 0.004 × 100 = 0.4 rounds to 0,
    /// 0.005 × 100 = 0.5 rounds up to 1.
    #[test]
    fn inference_fee_by_hand() {
        assert_eq!(inference_fee(0.5, 2.0, 100, 30, 1.0), 110);
        assert_eq!(inference_fee(0.5, 2.0, 100, 30, 1.5), 165);
        assert_eq!(inference_fee(0.004, 0.0, 100, 0, 1.0), 0);
        assert_eq!(inference_fee(0.0, 0.005, 0, 100, 1.0), 1);
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
