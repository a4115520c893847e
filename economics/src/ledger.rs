//! The ledger: balances and bonded stake per account in integer base units,
//! with running totals so that the supply invariant can be checked at any
//! time: supply = genesis + minted − burned = Σ balances + Σ bonded.

use thiserror::Error;

pub use crate::slashing::SlashTo;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountId(pub u32);

#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum LedgerError {
    #[error("account {account} holds {available} but {needed} is needed")]
    Insufficient {
        account: String,
        available: u64,
        needed: u64,
    },
    #[error("amount overflows the account")]
    Overflow,
    #[error(
        "supply invariant broken: genesis {genesis} + minted {minted} − burned {burned} = {expected}, but balances and stakes sum to {actual}"
    )]
    Invariant {
        genesis: u128,
        minted: u128,
        burned: u128,
        expected: u128,
        actual: u128,
    },
}

#[derive(Clone, Debug, Default)]
pub struct Ledger {
    names: Vec<String>,
    balances: Vec<u64>,
    bonded: Vec<u64>,
    pub genesis: u128,
    pub minted: u128,
    pub burned: u128,
    pub slashed: u128,
    pub invariant_checks: u64,
}

impl Ledger {
    pub fn new() -> Ledger {
        Ledger::default()
    }

    /// Opens an account with its genesis balance and bonded stake.
    pub fn open(&mut self, name: impl Into<String>, balance: u64, bonded: u64) -> AccountId {
        self.names.push(name.into());
        self.balances.push(balance);
        self.bonded.push(bonded);
        self.genesis += balance as u128 + bonded as u128;
        AccountId((self.names.len() - 1) as u32)
    }

    pub fn name(&self, a: AccountId) -> &str {
        &self.names[a.0 as usize]
    }
    pub fn balance(&self, a: AccountId) -> u64 {
        self.balances[a.0 as usize]
    }
    pub fn bonded(&self, a: AccountId) -> u64 {
        self.bonded[a.0 as usize]
    }
    pub fn accounts(&self) -> usize {
        self.names.len()
    }

    pub fn supply(&self) -> u128 {
        self.genesis + self.minted - self.burned
    }

    fn debit(&mut self, a: AccountId, amount: u64) -> Result<(), LedgerError> {
        let b = &mut self.balances[a.0 as usize];
        if *b < amount {
            return Err(LedgerError::Insufficient {
                account: self.names[a.0 as usize].clone(),
                available: *b,
                needed: amount,
            });
        }
        *b -= amount;
        Ok(())
    }

    fn credit(&mut self, a: AccountId, amount: u64) -> Result<(), LedgerError> {
        let b = &mut self.balances[a.0 as usize];
        *b = b.checked_add(amount).ok_or(LedgerError::Overflow)?;
        Ok(())
    }

    /// Moves `amount`; refused (nothing changes) if `from` holds less.
    pub fn transfer(
        &mut self,
        from: AccountId,
        to: AccountId,
        amount: u64,
    ) -> Result<(), LedgerError> {
        if self.balances[to.0 as usize].checked_add(amount).is_none() && from != to {
            return Err(LedgerError::Overflow);
        }
        self.debit(from, amount)?;
        self.credit(to, amount).expect("checked above");
        Ok(())
    }

    pub fn burn(&mut self, from: AccountId, amount: u64) -> Result<(), LedgerError> {
        self.debit(from, amount)?;
        self.burned += amount as u128;
        Ok(())
    }

    pub fn mint(&mut self, to: AccountId, amount: u64) -> Result<(), LedgerError> {
        self.credit(to, amount)?;
        self.minted += amount as u128;
        Ok(())
    }

    /// Moves balance into bonded stake.
    pub fn bond(&mut self, a: AccountId, amount: u64) -> Result<(), LedgerError> {
        let bonded = self.bonded[a.0 as usize]
            .checked_add(amount)
            .ok_or(LedgerError::Overflow)?;
        self.debit(a, amount)?;
        self.bonded[a.0 as usize] = bonded;
        Ok(())
    }

    /// Takes `ppm` parts per million of `a`'s bonded stake (rounded down,
    /// `slashing::slash_amount`), burning it or crediting it to an account.
    /// Returns the amount.
    pub fn slash(&mut self, a: AccountId, ppm: u64, to: SlashTo) -> Result<u64, LedgerError> {
        let stake = self.bonded[a.0 as usize];
        let amount = crate::slashing::slash_amount(stake, ppm);
        if let SlashTo::Account(t) = to {
            self.balances[t.0 as usize]
                .checked_add(amount)
                .ok_or(LedgerError::Overflow)?;
        }
        self.bonded[a.0 as usize] = stake - amount;
        self.slashed += amount as u128;
        match to {
            SlashTo::Burn => self.burned += amount as u128,
            SlashTo::Account(t) => self.credit(t, amount)?,
        }
        Ok(amount)
    }

    /// Checks supply = genesis + minted − burned = Σ balances + Σ bonded.
    pub fn check(&mut self) -> Result<(), LedgerError> {
        self.invariant_checks += 1;
        let actual: u128 = self
            .balances
            .iter()
            .chain(&self.bonded)
            .map(|&x| x as u128)
            .sum();
        let expected = self.supply();
        if actual != expected {
            return Err(LedgerError::Invariant {
                genesis: self.genesis,
                minted: self.minted,
                burned: self.burned,
                expected,
                actual,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flows_by_hand() {
        let mut l = Ledger::new();
        let user = l.open("user", 1000, 0);
        let node = l.open("node", 0, 500);
        let treasury = l.open("treasury", 0, 0);
        l.transfer(user, node, 300).unwrap();
        l.burn(user, 100).unwrap();
        l.mint(node, 50).unwrap();
        assert_eq!(
            l.slash(node, 100_000, SlashTo::Account(treasury)).unwrap(),
            50
        ); // 10% of 500
        assert_eq!(l.slash(node, 500_000, SlashTo::Burn).unwrap(), 225); // half of 450
        assert_eq!(
            (
                l.balance(user),
                l.balance(node),
                l.bonded(node),
                l.balance(treasury)
            ),
            (600, 350, 225, 50)
        );
        assert_eq!(l.supply(), 1500 + 50 - 100 - 225);
        l.check().unwrap();
        assert!(matches!(
            l.transfer(user, node, 601),
            Err(LedgerError::Insufficient { .. })
        ));
        assert_eq!(l.balance(user), 600, "a refused payment changes nothing");
    }
}
