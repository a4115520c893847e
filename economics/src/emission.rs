//! Emission: a fixed annual inflation rate on the supply at the start of each
//! emission year, minted continuously in time and paid out per block. Within
//! a year the amount minted by time t is exactly
//! `floor(floor(S₀ · rate) · (t − year start) / year)`, so a year of blocks
//! mints exactly `floor(S₀ · rate)` whatever the block times.

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

#[cfg(test)]
mod tests {
    use super::*;

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
