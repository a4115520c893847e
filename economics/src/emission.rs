//! Emission: a fixed annual inflation rate on the supply at the start of each
//! emission year, minted continuously in time and paid out per block. Within
//! a year the amount minted by time t is exactly
//! `floor(floor(S₀ · rate) · (t − year start) / year)`, so a year of blocks
//! mints exactly `floor(S₀ · rate)` whatever the block times.
//!
//! What is minted is paid out by `pay_out`: a share to the GPU nodes that
//! serve, the rest to bonded stake with the validators' commission.

use crate::{ppm_of, split_pro_rata};

/// A Julian year (365.25 days), in nanoseconds.
pub const YEAR_NS: u64 = 31_557_600 * 1_000_000_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Emission {
    /// Annual inflation in parts per billion.
    pub rate_ppb: u64,
    year_start_ns: u64,
    supply_at_year_start: u128,
    minted_this_year: u128,
}

impl Emission {
    pub fn new(rate_ppb: u64, genesis_supply: u128) -> Emission {
        Emission {
            rate_ppb,
            year_start_ns: 0,
            supply_at_year_start: genesis_supply,
            minted_this_year: 0,
        }
    }

    /// Minted by `t_ns` in the current year: the year's emission
    /// floor(S₀ · rate) spread linearly over it. Time counts in whole
    /// microseconds so that the product stays well within u128.
    fn due_by(&self, t_ns: u64) -> u128 {
        let annual = self.supply_at_year_start * self.rate_ppb as u128 / 1_000_000_000;
        let elapsed_us = (t_ns.saturating_sub(self.year_start_ns).min(YEAR_NS) / 1_000) as u128;
        annual * elapsed_us / (YEAR_NS / 1_000) as u128
    }

    /// What to mint for the time up to `now_ns`; `supply` is the supply
    /// before this mint (it becomes the base when a new year starts).
    pub fn mint_due(&mut self, now_ns: u64, supply: u128) -> u128 {
        let mut total = 0;
        let mut supply = supply;
        while now_ns >= self.year_start_ns + YEAR_NS {
            let rest = self.due_by(self.year_start_ns + YEAR_NS) - self.minted_this_year;
            total += rest;
            supply += rest;
            self.year_start_ns += YEAR_NS;
            self.supply_at_year_start = supply;
            self.minted_this_year = 0;
        }
        let due = self.due_by(now_ns) - self.minted_this_year;
        self.minted_this_year += due;
        total + due
    }
}

/// One mint's payout, base units: the parts sum to the amount minted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EmissionPayout {
    /// To each GPU node, in the order of `serving`.
    pub to_gpus: Vec<u64>,
    /// To each validator (its stake's share and the commission) and to its
    /// delegators (their share less the commission), in the order of `stakes`.
    pub to_validators: Vec<u64>,
    pub to_delegators: Vec<u64>,
    /// The rounding remainders (and the GPU share when no node serves).
    pub to_treasury: u64,
}

/// Pays out `due`: `gpu_share_ppm` of it (rounded down; nothing when there
/// are no GPU nodes) equally among the GPU nodes that serve; the rest pro
/// rata to the bonded stakes `(validator's own, its delegators')`, each
/// delegators' share less `commission_ppm` of it (rounded down), which goes
/// to their validator; every share rounded down, and what rounding leaves
/// to the treasury, so that exactly `due` is paid out.
pub fn pay_out(
    due: u64,
    gpu_share_ppm: u64,
    serving: &[bool],
    stakes: &[(u64, u64)],
    commission_ppm: u64,
) -> EmissionPayout {
    let to_gpus = if serving.is_empty() {
        0
    } else {
        ppm_of(due, gpu_share_ppm)
    };
    let weights: Vec<u64> = serving.iter().map(|&a| a as u64).collect();
    let (gpu_shares, gpu_rest) = split_pro_rata(to_gpus, &weights);
    let flat: Vec<u64> = stakes.iter().flat_map(|&(v, d)| [v, d]).collect();
    let (shares, rest) = split_pro_rata(due - to_gpus, &flat);
    let (mut to_validators, mut to_delegators) = (Vec::new(), Vec::new());
    for pair in shares.chunks(2) {
        let commission = ppm_of(pair[1], commission_ppm);
        to_validators.push(pair[0] + commission);
        to_delegators.push(pair[1] - commission);
    }
    EmissionPayout {
        to_gpus: gpu_shares,
        to_validators,
        to_delegators,
        to_treasury: rest + gpu_rest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total(p: &EmissionPayout) -> u64 {
        p.to_gpus.iter().sum::<u64>()
            + p.to_validators.iter().sum::<u64>()
            + p.to_delegators.iter().sum::<u64>()
            + p.to_treasury
    }

    /// By hand: 1,000 minted, 20 % to GPU nodes (two of three serving),
    /// commission 10 %, stakes (20, 80) and (50, 50):
    ///   GPU share 200 → 100, 0, 100.
    ///   800 over stakes 20:80:50:50 (of 200) → 80, 320, 200, 200.
    ///   Commission: 10 % of 320 = 32, of 200 = 20.
    ///   Validators 80 + 32 = 112 and 200 + 20 = 220; delegators 288 and 180.
    #[test]
    fn pay_out_by_hand() {
        let p = pay_out(
            1_000,
            200_000,
            &[true, false, true],
            &[(20, 80), (50, 50)],
            100_000,
        );
        assert_eq!(
            p,
            EmissionPayout {
                to_gpus: vec![100, 0, 100],
                to_validators: vec![112, 220],
                to_delegators: vec![288, 180],
                to_treasury: 0,
            }
        );
    }

    /// Rounding: 10 minted, 50 % to three serving GPU nodes → 5 → 1 each,
    /// 2 left; 5 over stakes (1, 1), (1, 0) → 1, 1, 1, 0, 2 left; commission
    /// 50 % of 1 = 0. Treasury 2 + 2 = 4. No GPU nodes: no GPU share; none
    /// serving: the GPU share goes to the treasury.
    #[test]
    fn remainders_go_to_the_treasury() {
        let p = pay_out(10, 500_000, &[true; 3], &[(1, 1), (1, 0)], 500_000);
        assert_eq!(p.to_gpus, [1, 1, 1]);
        assert_eq!((p.to_validators, p.to_delegators), (vec![1, 1], vec![1, 0]));
        assert_eq!(p.to_treasury, 4);
        let none = pay_out(10, 500_000, &[], &[(1, 0)], 0);
        assert_eq!((none.to_validators, none.to_treasury), (vec![10], 0));
        let idle = pay_out(10, 500_000, &[false, false], &[(1, 0)], 0);
        assert_eq!(idle.to_gpus, [0, 0]);
        assert_eq!(total(&idle), 10);
        assert_eq!((idle.to_validators, idle.to_treasury), (vec![5], 5));
        let nobody = pay_out(10, 0, &[], &[], 0);
        assert_eq!((nobody.to_treasury, total(&nobody)), (10, 10));
    }

    #[test]
    fn a_year_of_uneven_blocks_mints_exactly_the_rate() {
        let genesis: u128 = 1_000_000_000 * 1_000_000; // 1e9 tokens in base units
        let mut e = Emission::new(50_000_000, genesis); // 5%
        let mut t = 0u64;
        let mut minted = 0u128;
        let mut k = 0u64;
        while t < YEAR_NS {
            // Block times between 0.9 s and 2.2 s.
            t = (t + 900_000_000 + (k * 7919 % 13) * 100_000_000).min(YEAR_NS);
            minted += e.mint_due(t, genesis + minted);
            k += 1;
        }
        assert_eq!(minted, genesis / 20);
        // The second year compounds on the new supply.
        let year2 = e.mint_due(2 * YEAR_NS, genesis + minted);
        assert_eq!(year2, (genesis + minted) / 20);
    }
}
