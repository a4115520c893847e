//! Consensus behaviour on small scenarios, each checked against a fact
//! derived by hand from CometBFT's rules rather than against earlier output.

mod common;

use common::{load, parse, run};
use sim_core::Scenario;
use sim_core::consensus::Rules;
use sim_core::consensus::proposer::ProposerSchedule;

/// The scenario under each of `consensus.rules`: the safety and liveness
/// tests below hold under every version's rules.
fn under_every_rules(s: &Scenario) -> impl Iterator<Item = (Rules, Scenario)> + '_ {
    Rules::ALL.into_iter().map(|rules| {
        let mut s = s.clone();
        s.consensus.rules = rules;
        (rules, s)
    })
}

/// 4 validators, 1 ms one-way, no jitter. After `timeout_commit` (1 s) the
/// proposer broadcasts (1 ms), everyone prevotes on receipt (1 ms more to
/// reach the others), precommits on +2/3 prevotes (1 ms more): a height
/// takes timeout_commit + 3 message delays, plus transfer time of a
/// ~1.5 kB block and 160 B votes at 1 Gbit/s (~15 µs), which the 0.1 ms slack covers.
#[test]
fn block_interval_is_timeout_commit_plus_three_message_delays() {
    let s = load("four-one-region");
    let (summary, sink) = run(&s, 1);
    let c = &summary.consensus;
    let (lo, hi) = (1.0 + 3.0 * 0.001, 1.0 + 3.0 * 0.001 + 0.0001);
    let mean = c.block_interval_s.mean.unwrap();
    assert!(
        mean >= lo && mean <= hi,
        "mean interval {mean} not in [{lo}, {hi}]"
    );
    for b in sink.blocks.iter().skip(1) {
        let x = b.interval_s.unwrap();
        assert!(x >= lo && x <= hi, "height {} interval {x}", b.height);
        assert_eq!(b.round, 0);
    }
    // 120 s of run: the first height takes ~3 ms, each further one ~1.003 s.
    let expected = 1 + ((120.0 - 0.003) / mean).floor() as u64;
    assert_eq!(c.heights_committed, expected);
    assert_eq!(c.safety_violations, 0);
    assert_eq!(c.heights_with_round_gt0, 0);
}

/// v-0 is silent. At heights where it is round 0's proposer, nobody gets a
/// proposal: they wait `timeout_propose` (3 s), prevote nil, precommit nil,
/// and commit in round 1 with the next proposer.
#[test]
fn crashed_proposer_heights_end_in_round_one_after_timeout_propose() {
    for (rules, s) in under_every_rules(&load("proposer-crashed")) {
        crashed_proposer_case(rules, &s);
    }
}

fn crashed_proposer_case(rules: Rules, s: &Scenario) {
    let (summary, sink) = run(s, 1);
    let mut schedule = ProposerSchedule::new(&[10, 10, 10, 10]);
    let mut seen = 0;
    for b in &sink.blocks {
        if schedule.proposer(b.height, 0) == 0 {
            seen += 1;
            assert!(
                b.round >= 1,
                "{rules:?}: height {} committed in round {}",
                b.height,
                b.round
            );
            let took = b.interval_s.unwrap_or(b.committed_at_s);
            assert!(
                took >= 3.0,
                "height {} took {took} s < timeout_propose",
                b.height
            );
        } else {
            assert_eq!(b.round, 0, "height {}", b.height);
        }
    }
    assert!(seen >= 5, "the crashed proposer's turn came {seen} times");
    assert!(summary.consensus.heights_with_round_gt0 as usize == seen);
}

#[test]
fn one_of_four_crashed_keeps_committing() {
    for (rules, s) in under_every_rules(&load("one-of-four-crashed")) {
        let (summary, sink) = run(&s, 3);
        let after = sink
            .blocks
            .iter()
            .filter(|b| b.committed_at_s > 21.0)
            .count();
        // 99 s left; even with every 4th height taking a propose timeout, far more than 40 heights.
        assert!(
            after > 40,
            "{rules:?}: only {after} heights after the crash"
        );
        assert_eq!(summary.consensus.safety_violations, 0, "{rules:?}");
    }
}

#[test]
fn two_of_four_crashed_halts_the_chain() {
    for (rules, s) in under_every_rules(&load("two-of-four-crashed")) {
        let (summary, sink) = run(&s, 3);
        let last = sink.blocks.last().unwrap().committed_at_s;
        // Votes already in flight at 20 s may finish one height, no more.
        assert!(
            last < 21.5,
            "{rules:?}: a block committed at {last} s, after the crash"
        );
        assert!(summary.consensus.longest_stall_s >= 120.0 - last - 1e-9);
        assert!(summary.consensus.longest_stall_s >= 98.0, "{rules:?}");
    }
}

#[test]
fn equivocating_minority_never_breaks_safety() {
    for (rules, s) in under_every_rules(&load("byzantine-minority")) {
        for seed in 1..=20 {
            let (summary, sink) = run(&s, seed);
            assert_eq!(
                summary.consensus.safety_violations, 0,
                "{rules:?} seed {seed}"
            );
            assert!(
                sink.blocks.len() > 50,
                "{rules:?} seed {seed}: liveness: only {} blocks",
                sink.blocks.len()
            );
        }
    }
}

#[test]
fn equivocating_majority_with_split_honest_validators_is_a_detected_violation() {
    for (rules, s) in under_every_rules(&load("byzantine-split")) {
        let (summary, _) = run(&s, 1);
        assert!(
            summary.consensus.safety_violations >= 1,
            "{rules:?}: {:?}",
            summary.consensus
        );
    }
}

#[test]
fn same_seed_same_result_other_seed_other_result() {
    let s = load("byzantine-minority");
    let (a, sa) = run(&s, 11);
    let (b, sb) = run(&s, 11);
    assert_eq!(a, b);
    assert_eq!(sa.blocks, sb.blocks);
    assert_eq!(sa.rounds, sb.rounds);
    let (c, _) = run(&s, 12);
    assert_ne!(a, c);
}

const TWO_REGIONS: &str = r#"
name = "two-regions"
duration = "90s"
[network]
regions = ["London", "Ireland"]
[[validators]]
name = "uk"
count = 2
region = "London"
[[validators]]
name = "ie"
count = 2
region = "Ireland"
"#;

/// A 2|2 split leaves neither side more than 2/3: nothing commits while it
/// lasts; after the heal the chain resumes and every validator catches up.
#[test]
fn partition_halts_then_heal_resumes() {
    let s = parse(&format!(
        "{TWO_REGIONS}\n[[faults]]\nat = \"20s\"\nkind = \"partition\"\ngroups = [[\"London\"], [\"Ireland\"]]\nuntil = \"50s\"\n"
    ));
    for (rules, s) in under_every_rules(&s) {
        partition_case(rules, &s);
    }
}

fn partition_case(rules: Rules, s: &Scenario) {
    let (summary, sink) = run(s, 4);
    let during = sink
        .blocks
        .iter()
        .filter(|b| b.committed_at_s > 21.0 && b.committed_at_s < 50.0)
        .count();
    assert_eq!(during, 0);
    let after = sink
        .blocks
        .iter()
        .filter(|b| b.committed_at_s > 50.0)
        .count();
    assert!(after > 10, "{rules:?}: {after} heights after the heal");
    assert!(summary.consensus.longest_stall_s >= 28.0);
    assert_eq!(summary.consensus.safety_violations, 0);
    let heights: Vec<u64> = sink.nodes.iter().map(|n| n.final_height).collect();
    assert!(
        heights.iter().max().unwrap() - heights.iter().min().unwrap() <= 1,
        "{heights:?}"
    );
}

/// A validator that crashes and recovers syncs what it missed and rejoins.
#[test]
fn crashed_validator_recovers_and_catches_up() {
    let s = parse(&format!(
        "{TWO_REGIONS}\n[[faults]]\nat = \"10s\"\nkind = \"crash\"\nvalidators = [\"ie-1\"]\nuntil = \"40s\"\n"
    ));
    for (rules, s) in under_every_rules(&s) {
        recovery_case(rules, &s);
    }
}

fn recovery_case(rules: Rules, s: &Scenario) {
    let (summary, sink) = run(s, 2);
    let ie1 = sink.nodes.iter().find(|n| n.name == "ie-1").unwrap();
    // 30 s down; with every 4th height waiting out its silent proposer
    // (≥ 3 s), about 30 / ((3 × 1 + 4) / 4) ≈ 17 heights pass meanwhile.
    assert!(
        ie1.heights_synced >= 10,
        "{rules:?}: synced {}",
        ie1.heights_synced
    );
    assert!(!ie1.crashed_at_end);
    let top = sink.nodes.iter().map(|n| n.final_height).max().unwrap();
    assert!(top - ie1.final_height <= 1);
    // Back in consensus: it committed heights itself after 40 s (~45 heights left).
    assert!(ie1.heights_committed > 10 + 30, "{}", ie1.heights_committed);
    assert_eq!(summary.consensus.safety_violations, 0);
}

/// 5% of messages lost and one slow validator: still live and safe.
#[test]
fn lossy_network_and_slow_node_stay_live_and_safe() {
    let s = parse(&format!(
        "{TWO_REGIONS}\n[[faults]]\nat = \"5s\"\nkind = \"loss\"\nrate = 0.05\n\n[[faults]]\nat = \"5s\"\nkind = \"slow\"\nfactor = 20.0\nvalidators = [\"uk-0\"]\n"
    ));
    for (rules, s) in under_every_rules(&s) {
        for seed in 1..=5 {
            let (summary, _) = run(&s, seed);
            assert!(
                summary.consensus.heights_committed > 40,
                "{rules:?} seed {seed}: {:?}",
                summary.consensus
            );
            assert_eq!(summary.consensus.safety_violations, 0, "{rules:?}");
        }
    }
}

/// 30 validators that only talk to ~6 peers each still commit, a little
/// slower than with direct links (messages take multi-hop relay paths).
#[test]
fn gossip_topology_is_slower_than_full_mesh_but_live() {
    let base = r#"
name = "topo"
duration = "60s"
[network]
regions = ["N_Virginia", "Frankfurt", "Tokyo"]
jitter = { kind = "none" }
TOPO
[[validators]]
name = "us"
count = 10
region = "N_Virginia"
[[validators]]
name = "eu"
count = 10
region = "Frankfurt"
[[validators]]
name = "jp"
count = 10
region = "Tokyo"
"#;
    let full = run(&parse(&base.replace("TOPO", "")), 1).0.consensus;
    let sparse = run(
        &parse(&base.replace("TOPO", "topology = { kind = \"random\", degree = 6 }")),
        1,
    )
    .0
    .consensus;
    assert!(sparse.heights_committed > 30);
    assert!(sparse.block_interval_s.mean.unwrap() >= full.block_interval_s.mean.unwrap());
}

const FOUR: &str = r#"
name = "four"
duration = "60s"
[network]
regions = ["lab"]
latency_ms = [[1.0]]
jitter = { kind = "none" }
[[validators]]
name = "v"
count = 4
region = "lab"
"#;

/// `create_empty_blocks = false` with an interval and no transactions: each
/// height waits timeout_commit, then the interval, then takes ~3 ms.
#[test]
fn empty_blocks_wait_for_the_interval() {
    let s = parse(&format!(
        "{FOUR}\n[consensus]\ncreate_empty_blocks = false\ncreate_empty_blocks_interval = \"5s\"\n"
    ));
    let (summary, sink) = run(&s, 1);
    let mean = summary.consensus.block_interval_s.mean.unwrap();
    assert!((mean - 6.003).abs() < 0.001, "mean interval {mean}");
    assert!(sink.blocks.iter().all(|b| b.txs == 0));
}

/// Without the interval, heights wait for transactions: at 0.2 tx/s (one
/// every 5 s on average) blocks are rarer than with empty blocks, and none is empty.
#[test]
fn no_empty_blocks_means_blocks_only_with_transactions() {
    let s = parse(&format!(
        "{FOUR}\n[consensus]\ncreate_empty_blocks = false\n[mempool]\ntx_rate_per_s = 0.2\n"
    ));
    let (summary, sink) = run(&s, 1);
    assert!(
        sink.blocks.iter().all(|b| b.txs >= 1),
        "an empty block was made"
    );
    assert!(
        summary.consensus.heights_committed < 20,
        "{}",
        summary.consensus.heights_committed
    );
    assert!(summary.consensus.heights_committed >= 3);
}

/// A block holds at most (max_block_bytes − header − last commit) / tx_bytes
/// transactions: (4000 − 1024 − 4 × 110) / 250 = 10. At 100 tx/s and ~1 block/s
/// the backlog grows.
#[test]
fn block_size_limit_caps_transactions() {
    let s = parse(&format!(
        "{FOUR}\n[consensus]\nmax_block_bytes = 4000\n[mempool]\ntx_rate_per_s = 100.0\n"
    ));
    let (_, sink) = run(&s, 1);
    assert!(sink.blocks.iter().all(|b| b.txs <= 10 && b.bytes <= 4000));
    assert!(sink.blocks.iter().filter(|b| b.txs == 10).count() > 40);
    let last = sink.blocks.last().unwrap();
    assert!(
        last.mempool_pending > 4000,
        "backlog {}",
        last.mempool_pending
    );
}
