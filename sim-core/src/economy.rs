//! The economics settings of a scenario (`[economics]`). The ledger and the
//! policies themselves (fee splits, EIP-1559, emission, slashing) live in the
//! `economics` crate; `sim/economy.rs` applies them as blocks commit.
//! Defaults and their sources are in `scenarios/SOURCES.md`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::time::SimDuration;

/// Tokens to base units and fractions to parts per million (in the
/// `economics` crate; re-exported for this path).
pub use economics::{to_base_units, to_ppm};

/// Where users' inference fees go (issue #12's economic designs; the
/// split itself is `economics::designs`).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Design {
    /// Two flows (the economics issue): inference fees user → GPU node;
    /// settlement gas burned (base fee) and tipped.
    #[default]
    Dual,
    /// One token sink: users' inference fees are burned with the gas; GPU
    /// nodes are paid only from emission (`gpu_emission_share`).
    Single,
    /// Inference fees go to the validators (pro rata to bonded stake), who
    /// pass `validator_gpu_share` of each on to the GPU node that served it.
    FeesToValidators,
}

impl From<Design> for economics::Design {
    fn from(d: Design) -> economics::Design {
        match d {
            Design::Dual => economics::Design::Dual,
            Design::Single => economics::Design::Single,
            Design::FeesToValidators => economics::Design::FeesToValidators,
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FeeTiming {
    /// The user pays the GPU node when the result is delivered.
    Delivery,
    /// … when the settlement transaction is included.
    Settlement,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SlashTo {
    Burn,
    Treasury,
}

/// Inference prices of one model, in tokens per million tokens.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EconomicsConfig {
    // Genesis (amounts in tokens; 1 token = 10^9 base units).
    /// Liquid balance of each workload stream's user account.
    #[serde(default = "defaults::user_balance")]
    pub user_balance: f64,
    /// Bonded stake per unit of voting power (CometBFT power = stake / a power reduction).
    #[serde(default = "defaults::stake_per_power")]
    pub stake_per_power: f64,
    /// Share of each validator's stake that is delegated to it.
    #[serde(default = "defaults::delegated_fraction")]
    pub delegated_fraction: f64,
    /// Validators' commission on their delegators' rewards.
    #[serde(default = "defaults::commission")]
    pub commission: f64,
    /// Collateral bonded by each GPU node (slashed on caught fraud).
    #[serde(default = "defaults::gpu_node_stake")]
    pub gpu_node_stake: f64,
    #[serde(default)]
    pub treasury: f64,
    // Flow 1: inference fees.
    #[serde(default = "defaults::fee_timing")]
    pub inference_fee_timing: FeeTiming,
    /// Prices per model; a model without an entry is priced by `price_per_mtok_per_bparam`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub prices: BTreeMap<String, Price>,
    /// Default price: tokens per million tokens per billion parameters.
    #[serde(default = "defaults::price_per_mtok_per_bparam")]
    pub price_per_mtok_per_bparam: f64,
    /// Paid by the user to the provers for each ZK proof, in tokens.
    #[serde(default = "defaults::zk_prover_fee")]
    pub zk_prover_fee: f64,
    // Flow 2: settlement fees.
    #[serde(default = "defaults::burn_fraction")]
    pub burn_fraction: f64,
    #[serde(default = "defaults::block_gas_limit")]
    pub block_gas_limit: u64,
    #[serde(default = "defaults::elasticity")]
    pub elasticity: u64,
    #[serde(default = "defaults::base_fee_denominator")]
    pub base_fee_denominator: u64,
    /// Base fee of the first block, base units per gas.
    #[serde(default = "defaults::initial_base_fee")]
    pub initial_base_fee: u64,
    #[serde(default = "defaults::tx_base_gas")]
    pub tx_base_gas: u64,
    #[serde(default = "defaults::gas_per_byte")]
    pub gas_per_byte: u64,
    /// Priority fee per gas offered by users' transactions, base units.
    #[serde(default = "defaults::tip_per_gas")]
    pub tip_per_gas: u64,
    /// Most a user's transaction pays per gas (base fee + tip), base units.
    #[serde(default = "defaults::max_fee_per_gas")]
    pub max_fee_per_gas: u64,
    // Emission and slashing.
    #[serde(default = "defaults::annual_inflation")]
    pub annual_inflation: f64,
    /// Share of each block's emission paid to GPU nodes (equally, among
    /// those serving).
    #[serde(default)]
    pub gpu_emission_share: f64,
    /// Where inference fees go: `"dual"`, `"single"` or `"fees-to-validators"`.
    #[serde(default)]
    pub design: Design,
    /// `fees-to-validators`: the share of each fee validators pass to the GPU node.
    #[serde(default = "defaults::validator_gpu_share")]
    pub validator_gpu_share: f64,
    #[serde(default = "defaults::slash_fraction_fraud")]
    pub slash_fraction_fraud: f64,
    #[serde(default = "defaults::slash_fraction_double_sign")]
    pub slash_fraction_double_sign: f64,
    #[serde(default = "defaults::slash_to")]
    pub slash_to: SlashTo,
    /// A `ledger` row at most this often (0s = every block).
    #[serde(default = "defaults::ledger_every")]
    pub ledger_every: SimDuration,
}

pub mod defaults {
    /// Assumption: validators keep a fifth of the inference fees they collect.
    pub fn validator_gpu_share() -> f64 {
        0.8
    }
    use super::*;
    pub fn user_balance() -> f64 {
        10_000_000.0
    }
    pub fn stake_per_power() -> f64 {
        100_000.0
    }
    pub fn delegated_fraction() -> f64 {
        0.8
    }
    pub fn commission() -> f64 {
        0.05
    }
    pub fn gpu_node_stake() -> f64 {
        50_000.0
    }
    pub fn fee_timing() -> FeeTiming {
        FeeTiming::Delivery
    }
    pub fn price_per_mtok_per_bparam() -> f64 {
        0.025
    }
    pub fn zk_prover_fee() -> f64 {
        0.05
    }
    pub fn burn_fraction() -> f64 {
        1.0
    }
    pub fn block_gas_limit() -> u64 {
        30_000_000
    }
    pub fn elasticity() -> u64 {
        2
    }
    pub fn base_fee_denominator() -> u64 {
        8
    }
    pub fn initial_base_fee() -> u64 {
        10
    }
    pub fn tx_base_gas() -> u64 {
        21_000
    }
    pub fn gas_per_byte() -> u64 {
        16
    }
    pub fn tip_per_gas() -> u64 {
        1
    }
    pub fn max_fee_per_gas() -> u64 {
        1_000
    }
    pub fn annual_inflation() -> f64 {
        0.05
    }
    pub fn slash_fraction_fraud() -> f64 {
        0.01
    }
    pub fn slash_fraction_double_sign() -> f64 {
        0.05
    }
    pub fn slash_to() -> SlashTo {
        SlashTo::Burn
    }
    pub fn ledger_every() -> SimDuration {
        SimDuration::ZERO
    }
}

impl Default for EconomicsConfig {
    fn default() -> Self {
        toml::from_str("").expect("all fields have defaults")
    }
}

/// Whether the ledger can hold this scenario's tokens for the whole run: the
/// key to blame and the message, or `None` when it fits.
///
/// Balances and stakes are u64 base units (10^9 a token: at most ~1.8e10
/// tokens in all). No single account can overflow while the *supply* stays
/// below `u64::MAX`, since every balance is a part of it; the supply starts
/// at the genesis amounts and grows only by emission, compounded once a year
/// (`economics::Emission`), so it is bounded by genesis × (1 + inflation)
/// ^ ⌈years⌉. The genesis amounts are the user accounts (one per stream plus
/// the background user), the stake of every unit of voting power, the
/// collateral of every GPU node (entrants included) and the treasury; the
/// key blamed is the one that contributes most, with the largest value it
/// may take given the others.
pub fn genesis_overflow(s: &crate::scenario::Scenario) -> Option<(&'static str, String)> {
    let e = &s.economics;
    let per_token = economics::BASE_UNITS_PER_TOKEN as f64;
    let years = s.duration.as_secs_f64() / (economics::emission::YEAR_NS as f64 / 1e9);
    let growth = (1.0 + e.annual_inflation).powf(years.ceil());
    // Headroom for the rounding of f64 tokens to base units.
    let cap_tokens = u64::MAX as f64 / per_token / growth * (1.0 - 1e-9);
    let power: u64 = s.validator_specs().iter().map(|v| v.power).sum();
    let gpus = s
        .gpu_nodes
        .iter()
        .map(|g| g.count + s.gpu_entrants())
        .sum::<usize>();
    let parts = [
        (
            "user_balance",
            e.user_balance,
            (s.workload.len() + 1) as f64,
        ),
        ("stake_per_power", e.stake_per_power, power as f64),
        ("gpu_node_stake", e.gpu_node_stake, gpus as f64),
        ("treasury", e.treasury, 1.0),
    ];
    let total: f64 = parts.iter().map(|(_, x, n)| x * n).sum();
    if total.is_finite() && total <= cap_tokens {
        return None;
    }
    let (key, x, n) = parts
        .iter()
        .copied()
        .max_by(|a, b| (a.1 * a.2).total_cmp(&(b.1 * b.2)))
        .expect("four parts");
    let others = total - x * n;
    let largest = ((cap_tokens - others) / n).max(0.0).floor();
    Some((
        key,
        format!(
            "{x} tokens is too much for the ledger: the genesis supply would be {total:.4e} tokens \
             (× {growth:.4} by emission over the run), and balances are u64 base units of \
             10^-9 token, at most {:.4e} tokens in all; the largest {key} allowed here is \
             {largest} (× {n} accounts or units of power)",
            u64::MAX as f64 / per_token
        ),
    ))
}
