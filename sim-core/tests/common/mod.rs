//! Helpers shared by the scenario-level tests.
#![allow(dead_code)] // each test file uses its own subset

use sim_core::{Scenario, Summary, VecSink, sim};

/// A scenario from `scenarios/<path>` (e.g. `tests/four-one-region.toml`).
pub fn scenario_file(path: &str) -> Scenario {
    let path = format!("{}/../scenarios/{path}", env!("CARGO_MANIFEST_DIR"));
    Scenario::from_toml_str(&std::fs::read_to_string(&path).unwrap(), &path).unwrap()
}

/// A scenario of the small test set, `scenarios/tests/<name>.toml`.
pub fn load(name: &str) -> Scenario {
    scenario_file(&format!("tests/{name}.toml"))
}

/// A sweep file (a top-level `base = "…"`) among the scenarios: not a scenario.
pub fn is_sweep_file(text: &str) -> bool {
    text.lines().any(|l| l.starts_with("base ="))
}

/// A scenario written inline in a test.
pub fn parse(text: &str) -> Scenario {
    Scenario::from_toml_str(text, "inline.toml").unwrap()
}

/// Runs to the end, keeping every record.
pub fn run(s: &Scenario, seed: u64) -> (Summary, VecSink) {
    let mut sink = VecSink::default();
    let summary = sim::run(s, seed, &mut sink, &mut |_| {}).expect("the run completes");
    (summary, sink)
}

/// Every table of two runs of one scenario, compared table by table (so a
/// failure names the table): for the tests that run a scenario two ways.
pub fn assert_same_records(what: &str, a: &VecSink, b: &VecSink) {
    assert_eq!(a.blocks, b.blocks, "{what}: blocks differ");
    assert_eq!(a.rounds, b.rounds, "{what}: rounds differ");
    assert_eq!(a.nodes, b.nodes, "{what}: per-validator totals differ");
    assert_eq!(a.requests, b.requests, "{what}: requests differ");
    assert_eq!(a.gpu_nodes, b.gpu_nodes, "{what}: GPU nodes differ");
    assert_eq!(a.ledger, b.ledger, "{what}: ledger differs");
    assert_eq!(a.market, b.market, "{what}: market differs");
}
