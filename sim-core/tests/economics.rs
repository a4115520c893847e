//! Token flows in whole runs, against closed forms and the EIP-1559 rule.

mod common;

use common::{load, parse, run, scenario_file};
use sim_core::Scenario;

const YEAR_US: u128 = 31_557_600 * 1_000_000;

/// No demand at all: the only flow is emission, and over a year of blocks
/// (one an hour) it mints exactly floor(floor(genesis × 5%) × t / year) by
/// the last block's time t, to the base unit.
#[test]
fn zero_demand_supply_grows_at_exactly_the_emission_rate() {
    let s = parse(
        r#"
name = "zero-demand"
duration = "365.25d"
[network]
regions = ["lab"]
latency_ms = [[1.0]]
[consensus]
timeout_commit = "1h"
[economics]
annual_inflation = 0.05
[[validators]]
name = "v"
region = "lab"
"#,
    );
    let (summary, sink) = run(&s, 1);
    let e = &summary.economics;
    // Genesis: the background user account (10M tokens) and one validator's
    // 10 power × 100,000 tokens of stake, in base units (10^9 per token).
    assert_eq!(e.genesis_supply, (10_000_000 + 1_000_000) * 1_000_000_000);
    let last = sink.blocks.last().unwrap();
    let t_us = (last.committed_at_s * 1e6).round() as u128;
    let annual = e.genesis_supply * 50_000_000 / 1_000_000_000;
    assert_eq!(e.minted, annual * t_us / YEAR_US);
    assert!(sink.blocks.len() > 8700, "{} blocks", sink.blocks.len());
    assert_eq!(e.burned, 0);
    assert_eq!(e.final_supply, e.genesis_supply + e.minted);
    assert_eq!(
        sink.blocks.iter().map(|b| b.minted as u128).sum::<u128>(),
        e.minted
    );
    assert_eq!(e.invariant_checks, summary.consensus.heights_committed);
}

/// The base fee of each block follows from the previous block by EIP-1559
/// (recomputed here from the formula), and every block burns exactly
/// base_fee × gas_used with burn_fraction = 1 (all payers solvent).
#[test]
fn base_fee_follows_eip1559_and_burn_is_base_fee_times_gas() {
    let s = parse(
        r#"
name = "busy"
duration = "3m"
[network]
regions = ["lab"]
latency_ms = [[1.0]]
[mempool]
tx_rate_per_s = 40.0
tx_bytes = 250
[economics]
block_gas_limit = 1000000
initial_base_fee = 1000
[[validators]]
name = "v"
count = 4
region = "lab"
"#,
    );
    let (summary, sink) = run(&s, 2);
    let target = 500_000u128;
    let mut rose = 0;
    for w in sink.blocks.windows(2) {
        let (b, used) = (w[0].base_fee as u128, w[0].gas_used as u128);
        let expected = if used > target {
            b + (b * (used - target) / target / 8).max(1)
        } else {
            b - b * (target - used) / target / 8
        };
        assert_eq!(
            w[1].base_fee as u128, expected,
            "after height {}",
            w[0].height
        );
        rose += (w[1].base_fee > w[0].base_fee) as u32;
    }
    // 40 tx/s × 25,000 gas ≈ 1.0M gas/s against a 0.5M target: the fee rises.
    assert!(rose > 20, "base fee rose {rose} times");
    for b in &sink.blocks {
        assert_eq!(
            b.burned as u128,
            b.base_fee as u128 * b.gas_used as u128,
            "height {}",
            b.height
        );
    }
    let e = &summary.economics;
    assert_eq!(
        e.burned,
        sink.blocks.iter().map(|b| b.burned as u128).sum::<u128>()
    );
    assert_eq!(
        e.final_supply as i128 - e.genesis_supply as i128,
        e.minted as i128 - e.burned as i128
    );
}

/// Two equivocating validators (power 10 each: 1,000,000 tokens of stake,
/// 20% self-bonded and 80% delegated) are slashed 5% once each, self and
/// delegated stake alike: 2 × (10,000 + 40,000) tokens.
#[test]
fn double_signing_is_slashed_once_per_validator() {
    let (summary, _) = run(&load("byzantine-minority"), 1);
    assert_eq!(
        summary.economics.slashed,
        2 * (10_000 + 40_000) * 1_000_000_000
    );
}

/// Every caught wrong result slashes 1% of the node's remaining stake
/// (50,000 tokens at genesis), rounded down each time.
#[test]
fn fraud_slashing_compounds_on_the_remaining_stake() {
    let s = parse(
        r#"
name = "fraud"
duration = "10m"
[network]
regions = ["lab"]
latency_ms = [[1.0]]
[verification]
zk_provers = 64
[[validators]]
name = "v"
region = "lab"
[[gpu_nodes]]
name = "liar"
hardware = "H100-SXM"
model = "llama-3.2-1b"
dishonest_probability = 0.5
[[workload]]
name = "w"
model = "llama-3.2-1b"
arrival = { kind = "poisson", rate_per_s = 1.0 }
prompt_tokens = { kind = "fixed", mean = 50 }
output_tokens = { kind = "fixed", mean = 5 }
modes = { zk = 1.0 }
"#,
    );
    let (summary, _) = run(&s, 1);
    let k = summary.fraud.detected;
    assert!(k > 100);
    let mut stake: u128 = 50_000 * 1_000_000_000;
    let mut slashed = 0;
    for _ in 0..k {
        let cut = stake * 10_000 / 1_000_000;
        stake -= cut;
        slashed += cut;
    }
    assert_eq!(summary.economics.slashed, slashed);
}

/// Inference fees flow user → GPU node at the price of the model: with
/// fixed tokens every delivered request pays the same.
#[test]
fn inference_fees_are_priced_per_token() {
    let s = parse(
        r#"
name = "fees"
duration = "2m"
[network]
regions = ["lab"]
latency_ms = [[1.0]]
[economics.prices."llama-3.2-1b"]
input_per_mtok = 0.5
output_per_mtok = 2.0
[[validators]]
name = "v"
region = "lab"
[[gpu_nodes]]
name = "g"
hardware = "H100-SXM"
model = "llama-3.2-1b"
[[workload]]
name = "w"
model = "llama-3.2-1b"
arrival = { kind = "poisson", rate_per_s = 2.0 }
prompt_tokens = { kind = "fixed", mean = 1000 }
output_tokens = { kind = "fixed", mean = 100 }
modes = { tee = 0.0, vanilla = 1.0 }
"#,
    );
    let (summary, _) = run(&s, 1);
    // 0.5 tokens per Mtok = 500 base units per token: 1000 × 500 + 100 × 2000 = 700,000 base units.
    assert_eq!(
        summary.economics.fees_to_gpu_nodes,
        summary.requests.delivered as u128 * 700_000
    );
}

/// `deflation.toml` burns more than it mints; `inflation.toml`, the same
/// network with a tenth of the demand, does not.
#[test]
fn demand_decides_between_deflation_and_inflation() {
    let (high, _) = run(&scenario_file("deflation.toml"), 1);
    let (low, _) = run(&scenario_file("inflation.toml"), 1);
    assert!(
        high.economics.burned > high.economics.minted,
        "{:?}",
        high.economics
    );
    assert!(high.economics.net_issuance_annualised_pct < 0.0);
    assert!(
        low.economics.burned < low.economics.minted,
        "{:?}",
        low.economics
    );
    assert!(low.economics.net_issuance_annualised_pct > 0.0);
}

/// Every shipped scenario (first two simulated minutes): final − genesis
/// supply = minted − burned, and the invariant was checked at every block.
#[test]
fn supply_identity_holds_in_every_shipped_scenario() {
    let root = format!("{}/../scenarios", env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for dir in [root.clone(), format!("{root}/tests")] {
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for p in files {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if !name.ends_with(".toml") || name == "models.toml" || name == "hardware.toml" {
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            if common::is_sweep_file(&text) {
                continue;
            }
            let mut s = Scenario::from_toml_str(&text, &name).unwrap();
            s.attach_files(&text, &name, &mut |f| {
                std::fs::read_to_string(p.parent().unwrap().join(f)).map_err(|e| e.to_string())
            })
            .unwrap();
            s.duration = s.duration.min(sim_core::SimDuration::from_secs(120));
            let (summary, _) = run(&s, 1);
            let e = &summary.economics;
            assert_eq!(
                e.final_supply as i128 - e.genesis_supply as i128,
                e.minted as i128 - e.burned as i128,
                "{name}"
            );
            assert_eq!(
                e.invariant_checks, summary.consensus.heights_committed,
                "{name}"
            );
            n += 1;
        }
    }
    assert!(n >= 10, "{n} scenarios");
}
