//! Slashing: how much of an offender's bonded stake is taken, and where it
//! goes. A GPU node caught returning a wrong result loses `fraud_ppm` of its
//! collateral; a validator that double-signs loses `double_sign_ppm` of its
//! own stake and its delegators of theirs (once per validator: the
//! simulation decides when). The slashed amount is burned or credited to an
//! account (the treasury).

use crate::AccountId;
use crate::ppm_of;

/// Where slashed stake goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlashTo {
    Burn,
    Account(AccountId),
}

/// What was done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offence {
    /// A GPU node's wrong result was caught.
    Fraud,
    /// A validator signed two blocks at one height and round.
    DoubleSign,
}

/// The slashing rule of a chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlashPolicy {
    pub fraud_ppm: u64,
    pub double_sign_ppm: u64,
    pub to: SlashTo,
}

impl SlashPolicy {
    /// The share of the offender's bonded stake taken, parts per million.
    pub fn ppm(&self, offence: Offence) -> u64 {
        match offence {
            Offence::Fraud => self.fraud_ppm,
            Offence::DoubleSign => self.double_sign_ppm,
        }
    }

    /// What `offence` takes of a bonded `stake`.
    pub fn amount(&self, offence: Offence, stake: u64) -> u64 {
        slash_amount(stake, self.ppm(offence))
    }
}

/// `ppm` parts per million of `stake` (at most all of it), rounded down.
pub fn slash_amount(stake: u64, ppm: u64) -> u64 {
    ppm_of(stake, ppm.min(1_000_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// By hand: 1 % of 50,000 tokens' worth (5·10^13 base units) is 5·10^11;
    /// 5 % of 999 is 49.95 → 49; more than all of it is all of it.
    #[test]
    fn amounts_by_hand() {
        let p = SlashPolicy {
            fraud_ppm: 10_000,
            double_sign_ppm: 50_000,
            to: SlashTo::Burn,
        };
        assert_eq!(
            p.amount(Offence::Fraud, 50_000_000_000_000),
            500_000_000_000
        );
        assert_eq!(p.amount(Offence::DoubleSign, 999), 49);
        assert_eq!(p.ppm(Offence::DoubleSign), 50_000);
        assert_eq!(slash_amount(999, 2_000_000), 999);
        assert_eq!(slash_amount(999, 0), 0);
        assert_eq!(slash_amount(u64::MAX, 1_000_000), u64::MAX);
    }
}
