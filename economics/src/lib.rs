//! Token ledger and monetary policy, as a pure library: integer base units,
//! no floats in balances, and the supply invariant checked on demand. The
//! simulation decides *when* fees, mints and slashes happen; this crate
//! decides *how much* and keeps the books.

pub mod emission;
pub mod fees;
pub mod ledger;

pub use emission::Emission;
pub use fees::next_base_fee;
pub use ledger::{AccountId, Ledger, LedgerError};

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
}
