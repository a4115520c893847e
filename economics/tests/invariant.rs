//! Property test: whatever sequence of transfers, fees, mints, burns, bonds
//! and slashes, the supply invariant holds and no balance goes negative
//! (a payment beyond a balance is refused, not wrapped).

use economics::ledger::SlashTo;
use economics::{AccountId, Ledger, LedgerError, next_base_fee};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Transfer(u8, u8, u64),
    Fee {
        payer: u8,
        gas: u64,
        tip: u64,
        proposer: u8,
    },
    Mint(u8, u64),
    Burn(u8, u64),
    Bond(u8, u64),
    Slash(u8, u64, bool),
}

fn op() -> impl Strategy<Value = Op> {
    let amount = prop_oneof![0u64..1_000, 0u64..u64::MAX / 4];
    prop_oneof![
        (0u8..5, 0u8..5, amount.clone()).prop_map(|(a, b, x)| Op::Transfer(a, b, x)),
        (0u8..5, 0u64..100_000, 0u64..50, 0u8..5).prop_map(|(payer, gas, tip, proposer)| Op::Fee {
            payer,
            gas,
            tip,
            proposer
        }),
        (0u8..5, 0u64..1_000_000).prop_map(|(a, x)| Op::Mint(a, x)),
        (0u8..5, amount.clone()).prop_map(|(a, x)| Op::Burn(a, x)),
        (0u8..5, amount).prop_map(|(a, x)| Op::Bond(a, x)),
        (0u8..5, 0u64..2_000_000, any::<bool>()).prop_map(|(a, ppm, burn)| Op::Slash(a, ppm, burn)),
    ]
}

proptest! {
    #[test]
    fn invariant_holds_and_nothing_goes_negative(ops in proptest::collection::vec(op(), 1..200)) {
        let mut l = Ledger::new();
        let accts: Vec<AccountId> = (0..5).map(|i| l.open(format!("a{i}"), 1_000_000 * (i + 1), 10_000 * i)).collect();
        let treasury = accts[4];
        let mut base_fee = 10u64;
        for op in ops {
            let before: Vec<(u64, u64)> = accts.iter().map(|&a| (l.balance(a), l.bonded(a))).collect();
            let result = match op {
                Op::Transfer(a, b, x) => l.transfer(accts[a as usize], accts[b as usize], x),
                Op::Fee { payer, gas, tip, proposer } => {
                    // Base fee burned, tip to the proposer; all or nothing.
                    let (burn, pay_tip) = (base_fee * gas, tip * gas);
                    let p = accts[payer as usize];
                    if l.balance(p) < burn + pay_tip {
                        Err(LedgerError::Insufficient { account: String::new(), available: l.balance(p), needed: burn + pay_tip })
                    } else {
                        l.burn(p, burn).and_then(|_| l.transfer(p, accts[proposer as usize], pay_tip))
                    }
                }
                Op::Mint(a, x) => l.mint(accts[a as usize], x),
                Op::Burn(a, x) => l.burn(accts[a as usize], x),
                Op::Bond(a, x) => l.bond(accts[a as usize], x),
                Op::Slash(a, ppm, burn) => l.slash(accts[a as usize], ppm, if burn { SlashTo::Burn } else { SlashTo::Account(treasury) }).map(|_| ()),
            };
            if result.is_err() {
                let after: Vec<(u64, u64)> = accts.iter().map(|&a| (l.balance(a), l.bonded(a))).collect();
                prop_assert_eq!(before, after, "a refused operation changed balances");
            }
            prop_assert!(l.check().is_ok(), "{:?}", l.check());
            base_fee = next_base_fee(base_fee, 10, 5, 8);
        }
    }
}
