//! The quorum fast path (issue #8) against per-message delivery: on every
//! scenario below, faults included, the two must give the same commits,
//! rounds, times and every other record; only the count of events differs.

mod common;

use common::{assert_same_records, load, parse, run, scenario_file};
use sim_core::Scenario;
use sim_core::scenario::VoteDelivery;

fn with(s: &Scenario, delivery: VoteDelivery) -> Scenario {
    let mut s = s.clone();
    s.consensus.vote_delivery = delivery;
    s
}

/// Runs `s` both ways with `seed`, asserts that everything but the event
/// count agrees, and returns (heights, heights taken by the fast path).
fn same_both_ways(what: &str, s: &Scenario, seed: u64) -> (u64, u64) {
    let (slow, slow_sink) = run(&with(s, VoteDelivery::PerMessage), seed);
    let (fast, fast_sink) = run(&with(s, VoteDelivery::Quorum), seed);
    assert_eq!(
        slow.consensus.heights_quorum_fast_path, 0,
        "{what}: per-message delivery took the fast path"
    );
    assert_same_records(what, &fast_sink, &slow_sink);
    let mut a = fast.clone();
    a.events_processed = slow.events_processed;
    a.consensus.heights_quorum_fast_path = 0;
    assert_eq!(a, slow, "{what}: summaries differ");
    (
        fast.consensus.heights_committed,
        fast.consensus.heights_quorum_fast_path,
    )
}

const THREE_REGIONS: &str = r#"
name = "three-regions"
duration = "2m"
[network]
regions = ["N_Virginia", "Frankfurt", "Tokyo"]
[[validators]]
name = "us"
count = 5
region = "N_Virginia"
power = 12
[[validators]]
name = "eu"
count = 4
region = "Frankfurt"
power = 9
[[validators]]
name = "jp"
count = 3
region = "Tokyo"
power = 5
"#;

/// Without faults nearly every height takes the fast path, and changes nothing.
#[test]
fn fault_free_heights_take_the_fast_path_and_agree() {
    let s = parse(THREE_REGIONS);
    for seed in 1..=3 {
        let (heights, fast) = same_both_ways("three regions", &s, seed);
        assert!(heights > 80, "{heights} heights");
        assert!(
            fast * 10 >= heights * 9,
            "seed {seed}: only {fast} of {heights} heights took the fast path"
        );
    }
}

/// One region, no jitter: every vote of a kind arrives at the same instant (ties everywhere).
#[test]
fn equal_latencies_without_jitter_agree() {
    let (heights, fast) = same_both_ways("four-one-region", &load("four-one-region"), 1);
    assert!(fast * 10 >= heights * 9, "{fast} of {heights}");
}

#[test]
fn lognormal_jitter_and_lossy_links_agree() {
    let s = parse(&THREE_REGIONS.replace(
        "[network]",
        "[network]\njitter = { kind = \"lognormal\", sigma = 0.4 }\nloss_rate = 0.02",
    ));
    let (_, fast) = same_both_ways("lognormal + loss", &s, 5);
    assert!(fast > 0);
}

/// Faults: crashes with recovery, a partition and its heal, loss and a slow
/// validator from a time on, and a silent proposer from the start. Heights
/// around each fault run per message; the rest may take the fast path.
#[test]
fn faults_agree() {
    let faults = [
        (
            "crash",
            "[[faults]]\nat = \"20s\"\nkind = \"crash\"\nvalidators = [\"eu-1\"]\nuntil = \"60s\"\n",
        ),
        (
            "crash of a third",
            "[[faults]]\nat = \"30s\"\nkind = \"crash\"\nvalidators = [\"us-0\", \"us-1\", \"us-2\"]\nuntil = \"50s\"\n",
        ),
        (
            "partition",
            "[[faults]]\nat = \"25s\"\nkind = \"partition\"\ngroups = [[\"N_Virginia\"], [\"Frankfurt\", \"Tokyo\"]]\nuntil = \"55s\"\n",
        ),
        (
            "loss and slow",
            "[[faults]]\nat = \"10s\"\nkind = \"loss\"\nrate = 0.1\nuntil = \"70s\"\n\n[[faults]]\nat = \"15s\"\nkind = \"slow\"\nfactor = 8.0\nvalidators = [\"jp-0\"]\nuntil = \"80s\"\n",
        ),
    ];
    for (what, f) in faults {
        let s = parse(&format!("{THREE_REGIONS}\n{f}"));
        let (heights, fast) = same_both_ways(what, &s, 2);
        assert!(
            heights > 40 && fast > 10,
            "{what}: {fast} of {heights} heights fast"
        );
    }
    same_both_ways("proposer crashed", &load("proposer-crashed"), 1);
    same_both_ways("one of four crashed", &load("one-of-four-crashed"), 3);
}

/// Equivocators make every height run per message (the fast path assumes honesty).
#[test]
fn byzantine_validators_agree_without_the_fast_path() {
    let (_, fast) = same_both_ways("byzantine minority", &load("byzantine-minority"), 11);
    assert_eq!(fast, 0);
}

/// Settings the fast path declines: no empty blocks, skip_timeout_commit, a gossip topology.
#[test]
fn declined_settings_agree() {
    let s = parse(&format!(
        "{THREE_REGIONS}\n[consensus]\ncreate_empty_blocks = false\ncreate_empty_blocks_interval = \"2s\"\n[mempool]\ntx_rate_per_s = 0.3\n"
    ));
    assert_eq!(same_both_ways("no empty blocks", &s, 1).1, 0);
    let s = parse(&format!(
        "{THREE_REGIONS}\n[consensus]\nskip_timeout_commit = true\n"
    ));
    assert_eq!(same_both_ways("skip_timeout_commit", &s, 1).1, 0);
    let s = parse(&THREE_REGIONS.replace(
        "[network]",
        "[network]\ntopology = { kind = \"random\", degree = 4 }",
    ));
    same_both_ways("random topology", &s, 1);
}

/// The default scenario (100 validators, 11 regions, the inference
/// workload, settlement transactions) for its first three minutes, on the
/// direct model (the fast path is the direct model's; the scenario ships
/// with the p2p one).
#[test]
fn default_scenario_agrees() {
    let mut s = scenario_file("default.toml");
    assert_eq!(s.network.model, sim_core::scenario::NetworkModel::P2p);
    s.network.model = sim_core::scenario::NetworkModel::Direct;
    s.duration = sim_core::SimDuration::from_secs(180);
    let (heights, fast) = same_both_ways("default", &s, 1);
    assert!(fast * 10 >= heights * 9, "{fast} of {heights}");
}
