//! Token ledger and the economy's policies, as a pure library: integer base
//! units, no floats in balances, and the supply invariant checked on demand.
//! The simulation decides *when* fees, mints, slashes and market moves
//! happen; this crate decides *how much* and keeps the books:
//!
//! * `fees`: EIP-1559's base fee, a transaction's gas and the split of its
//!   fee (burn, treasury, tip), an inference request's price;
//! * `designs`: who gets a user's inference fee under each economic design;
//! * `emission`: the minting schedule and the payout of what is minted;
//! * `slashing`: how much of an offender's stake is taken and where it goes;
//! * `market`: the token price's models, shocks and demand's response;
//! * `operators`: when GPU operators leave and enter.
//!
//! Plain functions over plain data: no simulation types (times are u64
//! nanoseconds or f64 seconds) and no randomness of its own (a model that
//! needs a draw takes it from its caller).

pub mod designs;
pub mod emission;
pub mod fees;
pub mod ledger;
pub mod market;
pub mod operators;
pub mod slashing;

pub use designs::{Design, InferenceSplit, split_inference_fee};
pub use emission::{Emission, EmissionPayout};
pub use fees::{SettlementFee, next_base_fee};
pub use ledger::{AccountId, Ledger, LedgerError};
pub use slashing::{Offence, SlashPolicy, SlashTo};

/// Decimals of the base unit: 1 token = 10^9 base units. Fine enough that a
/// gas price of one base unit is cheap (a 100k-gas transaction costs 10^-4
/// tokens), coarse enough that balances fit in u64 (up to 1.8 × 10^10 tokens).
pub const TOKEN_DECIMALS: u32 = 9;
/// Base units per token.
pub const BASE_UNITS_PER_TOKEN: u64 = 1_000_000_000;

/// Splits `amount` pro rata to `weights`, rounding each share down; returns
/// the shares and the remainder (so that shares + remainder = amount exactly).
pub fn split_pro_rata(amount: u64, weights: &[u64]) -> (Vec<u64>, u64) {
    let total: u128 = weights.iter().map(|&w| w as u128).sum();
    if total == 0 {
        return (vec![0; weights.len()], amount);
    }
    let shares: Vec<u64> = weights
        .iter()
        .map(|&w| (amount as u128 * w as u128 / total) as u64)
        .collect();
    let given: u64 = shares.iter().sum();
    (shares, amount - given)
}

/// `amount × ppm / 1e6`, rounded down, without overflow.
pub fn ppm_of(amount: u64, ppm: u64) -> u64 {
    (amount as u128 * ppm as u128 / 1_000_000) as u64
}

/// Tokens (f64, as scenarios write them) to base units, rounded to nearest
/// (saturating at 0 and u64::MAX).
pub fn to_base_units(tokens: f64) -> u64 {
    (tokens * BASE_UNITS_PER_TOKEN as f64).round() as u64
}

/// A fraction in [0, 1] as parts per million, rounded to nearest.
pub fn to_ppm(x: f64) -> u64 {
    (x * 1e6).round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pro_rata_by_hand() {
        assert_eq!(split_pro_rata(100, &[1, 1, 1]), (vec![33, 33, 33], 1));
        assert_eq!(split_pro_rata(10, &[3, 1]), (vec![7, 2], 1));
        assert_eq!(split_pro_rata(10, &[0, 0]), (vec![0, 0], 10));
        assert_eq!(ppm_of(1_000_000, 125_000), 125_000);
    }

    #[test]
    fn conversions_by_hand() {
        assert_eq!(to_base_units(1.5), 1_500_000_000);
        assert_eq!(to_base_units(0.05), 50_000_000);
        assert_eq!(to_base_units(1e-10), 0);
        assert_eq!(to_base_units(-3.0), 0);
        assert_eq!(to_ppm(0.01), 10_000);
        assert_eq!(to_ppm(0.8), 800_000);
        assert_eq!(to_ppm(1.0), 1_000_000);
        assert_eq!(to_ppm(0.0000004), 0);
    }
}
