//! Consensus behaviour on small scenarios, each checked against a fact
//! derived by hand from CometBFT's rules rather than against earlier output.

use sim_core::consensus::proposer::ProposerSchedule;
use sim_core::{Scenario, VecSink, sim};

fn load(name: &str) -> Scenario {
    let path = format!("{}/../scenarios/tests/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    Scenario::from_toml_str(&text, &path).unwrap()
}

fn run(s: &Scenario, seed: u64) -> (sim_core::Summary, VecSink) {
    let mut sink = VecSink::default();
    let summary = sim::run(s, seed, &mut sink, &mut |_| {});
    (summary, sink)
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
    assert!(mean >= lo && mean <= hi, "mean interval {mean} not in [{lo}, {hi}]");
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
    let s = load("proposer-crashed");
    let (summary, sink) = run(&s, 1);
    let mut schedule = ProposerSchedule::new(&[10, 10, 10, 10]);
    let mut seen = 0;
    for b in &sink.blocks {
        if schedule.proposer(b.height, 0) == 0 {
            seen += 1;
            assert!(b.round >= 1, "height {} committed in round {}", b.height, b.round);
            let took = b.interval_s.unwrap_or(b.committed_at_s);
            assert!(took >= 3.0, "height {} took {took} s < timeout_propose", b.height);
        } else {
            assert_eq!(b.round, 0, "height {}", b.height);
        }
    }
    assert!(seen >= 5, "the crashed proposer's turn came {seen} times");
    assert!(summary.consensus.heights_with_round_gt0 as usize == seen);
}

#[test]
fn one_of_four_crashed_keeps_committing() {
    let s = load("one-of-four-crashed");
    let (summary, sink) = run(&s, 3);
    let after = sink.blocks.iter().filter(|b| b.committed_at_s > 21.0).count();
    // 99 s left; even with every 4th height taking a propose timeout, far more than 40 heights.
    assert!(after > 40, "only {after} heights after the crash");
    assert_eq!(summary.consensus.safety_violations, 0);
}

#[test]
fn two_of_four_crashed_halts_the_chain() {
    let s = load("two-of-four-crashed");
    let (summary, sink) = run(&s, 3);
    let last = sink.blocks.last().unwrap().committed_at_s;
    // Votes already in flight at 20 s may finish one height, no more.
    assert!(last < 21.5, "a block committed at {last} s, after the crash");
    assert!(summary.consensus.longest_stall_s >= 120.0 - last - 1e-9);
    assert!(summary.consensus.longest_stall_s >= 98.0);
}

#[test]
fn equivocating_minority_never_breaks_safety() {
    let s = load("byzantine-minority");
    for seed in 1..=20 {
        let (summary, sink) = run(&s, seed);
        assert_eq!(summary.consensus.safety_violations, 0, "seed {seed}");
        assert!(sink.blocks.len() > 50, "seed {seed}: liveness: only {} blocks", sink.blocks.len());
    }
}

#[test]
fn equivocating_majority_with_split_honest_validators_is_a_detected_violation() {
    let s = load("byzantine-split");
    let (summary, _) = run(&s, 1);
    assert!(summary.consensus.safety_violations >= 1, "{:?}", summary.consensus);
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

