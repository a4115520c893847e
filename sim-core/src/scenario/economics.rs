//! `[economics]`: fee, stake, emission and slashing settings. (The ledger
//! they drive is `crate::economy`.)

use super::Scenario;
use super::inference::Catalogue;
use super::locate::Seg::{self, Key};
use super::locate::{did_you_mean, err};

/// Checks `[economics]`; it reads the whole scenario, since whether the
/// genesis balances overflow depends on the validators, GPU nodes,
/// streams and duration too, and prices name models.
pub(super) fn check_economics(s: &Scenario, cat: &Catalogue) -> Result<(), (Vec<Seg>, String)> {
    let e = &s.economics;
    for (key, x) in [
        ("burn_fraction", e.burn_fraction),
        ("delegated_fraction", e.delegated_fraction),
        ("commission", e.commission),
        ("gpu_emission_share", e.gpu_emission_share),
        ("validator_gpu_share", e.validator_gpu_share),
        ("slash_fraction_fraud", e.slash_fraction_fraud),
        ("slash_fraction_double_sign", e.slash_fraction_double_sign),
    ] {
        if !(0.0..=1.0).contains(&x) {
            return err(
                vec![Key("economics"), Key(key)],
                format!("must be a fraction in [0, 1], got {x}"),
            );
        }
    }
    for (key, x) in [
        ("user_balance", e.user_balance),
        ("stake_per_power", e.stake_per_power),
        ("gpu_node_stake", e.gpu_node_stake),
        ("treasury", e.treasury),
        ("zk_prover_fee", e.zk_prover_fee),
        ("price_per_mtok_per_bparam", e.price_per_mtok_per_bparam),
        ("annual_inflation", e.annual_inflation),
    ] {
        if !(x.is_finite() && (0.0..1e12).contains(&x)) {
            return err(
                vec![Key("economics"), Key(key)],
                format!("must be between 0 and 1e12, got {x}"),
            );
        }
    }
    if e.annual_inflation > 10.0 {
        return err(
            vec![Key("economics"), Key("annual_inflation")],
            "is a fraction per year (0.05 = 5%); more than 10 is surely a mistake".into(),
        );
    }
    if let Some((key, message)) = crate::economy::genesis_overflow(s) {
        return err(vec![Key("economics"), Key(key)], message);
    }
    for (key, x) in [
        ("block_gas_limit", e.block_gas_limit),
        ("elasticity", e.elasticity),
        ("base_fee_denominator", e.base_fee_denominator),
    ] {
        if x == 0 {
            return err(
                vec![Key("economics"), Key(key)],
                "must be at least 1".into(),
            );
        }
    }
    if e.block_gas_limit < e.tx_base_gas {
        return err(
            vec![Key("economics"), Key("block_gas_limit")],
            format!("below tx_base_gas ({}): no transaction fits", e.tx_base_gas),
        );
    }
    for (name, p) in &e.prices {
        if cat.model(name).is_none() {
            return err(
                vec![Key("economics"), Key("prices")],
                format!(
                    "unknown model {name:?}{}",
                    did_you_mean(name, &cat.model_names)
                ),
            );
        }
        if !(p.input_per_mtok >= 0.0
            && p.output_per_mtok >= 0.0
            && p.input_per_mtok.is_finite()
            && p.output_per_mtok.is_finite())
        {
            return err(
                vec![Key("economics"), Key("prices")],
                format!("prices of {name:?} must be ≥ 0"),
            );
        }
    }
    Ok(())
}
