//! CometBFT's own QA testnet (issue #23), reproduced from its documented
//! mechanisms under `network.model = "p2p"`: the published figures of
//! `docs/references/qa/CometBFT-QA-v1.md` (cometbft/cometbft) are the
//! independent facts. The bands the model does not reach (latency
//! emulation; saturation above 400 tx/s) are written down in the README
//! with the gap measured, not asserted here.

mod common;

use common::{run, scenario_file};
use sim_core::records::BlockRecord;

/// Median over whole minutes of the blocks committed in each.
fn median_blocks_per_minute(blocks: &[BlockRecord], minutes: usize) -> f64 {
    let mut per = vec![0u32; minutes];
    for b in blocks {
        let m = (b.committed_at_s / 60.0) as usize;
        if m < minutes {
            per[m] += 1;
        }
    }
    per.sort_unstable();
    if minutes % 2 == 1 {
        per[minutes / 2] as f64
    } else {
        (per[minutes / 2 - 1] + per[minutes / 2]) as f64 / 2.0
    }
}

/// "The majority of nodes maintained a rate of between 20 and 40 blocks per
/// minute … most blocks took just one round" (200 nodes, one data centre,
/// 400 tx/s): over 15 simulated minutes, the median minute is within
/// 20–40 blocks and at least 90 % of heights end in round 0.
#[test]
fn one_data_centre_commits_20_to_40_blocks_a_minute() {
    let s = scenario_file("qa/v1-200-nodes.toml");
    assert_eq!(s.duration.as_secs_f64(), 900.0);
    let (summary, sink) = run(&s, 1);
    let per_min = median_blocks_per_minute(&sink.blocks, 15);
    assert!((20.0..=40.0).contains(&per_min), "{per_min} blocks/min");
    let c = &summary.consensus;
    let round0 = 1.0 - c.heights_with_round_gt0 as f64 / c.heights_committed as f64;
    assert!(round0 >= 0.9, "{round0} of heights in round 0");
    let net = summary.network.as_ref().expect("p2p summary");
    assert_eq!(
        (net.validators, net.full_nodes, net.seed_nodes),
        (175, 20, 5)
    );
    // The direct model, on the same validators, is about twice as fast
    // (issue #23: 59.7 blocks/min): the relays, throttles and sleeps are
    // what the p2p model adds.
    assert!(per_min < 45.0);
}

/// Saturation, one data centre, `c=1`, 89 s of load: the QA committed
/// 17,800 transactions at 200 tx/s and 31,200 at 400 tx/s. Within ±25 %.
#[test]
fn below_saturation_every_offered_transaction_is_committed() {
    let mut s = scenario_file("qa/v1-200-nodes.toml");
    s.duration = sim_core::time::SimDuration::from_secs(89);
    for (rate, published) in [(200.0, 17_800.0), (400.0, 31_200.0)] {
        s.mempool.tx_rate_per_s = rate;
        let (summary, _) = run(&s, 1);
        let got = summary.consensus.txs_committed as f64;
        assert!(
            (got / published - 1.0).abs() <= 0.25,
            "{rate} tx/s: {got} committed, QA {published}"
        );
    }
}

/// The same network with each node in its QA zone is slower than in one
/// data centre (the QA: about 30 blocks a minute down to about 10). The
/// model is slower too, but not by as much: see the README's fidelity
/// section for the gap.
#[test]
fn latency_emulation_slows_the_chain() {
    let mut dc = scenario_file("qa/v1-200-nodes.toml");
    let mut le = scenario_file("qa/v1-200-nodes-le.toml");
    for s in [&mut dc, &mut le] {
        s.duration = sim_core::time::SimDuration::from_secs(300);
    }
    let (a, _) = run(&dc, 1);
    let (b, _) = run(&le, 1);
    assert!(
        b.consensus.heights_committed * 10 < a.consensus.heights_committed * 9,
        "LE {} heights, one data centre {}",
        b.consensus.heights_committed,
        a.consensus.heights_committed
    );
}

/// An ops profile with the given timings (seconds a call); every other
/// operation costs a nanosecond.
fn ops_profile(timings: &[(&str, f64)]) -> String {
    let mut text = String::from(
        "kind = \"ops\"\nhardware = \"test\"\ndate = \"2026-12-05\"\ncommand = \"test\"\n",
    );
    for name in sim_core::verification::cpu::OP_NAMES {
        let t = timings
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(1e-9, |&(_, t)| t);
        text.push_str(&format!(
            "[[op]]\nname = \"{name}\"\nmedian_s = {t}\nmin_s = {t}\np90_s = {t}\nrepeats = 1\nbatch = 1\n"
        ));
    }
    text
}

/// `p2p-small` with an ops profile of `timings` and `extra` TOML in
/// `[consensus]`: its summary.
fn p2p_small(timings: &[(&str, f64)], extra: &str) -> sim_core::Summary {
    let path = format!(
        "{}/../scenarios/tests/p2p-small.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "[mempool]",
        &format!("[consensus]\n{extra}\n[verification]\ncpu_profile = \"ops.toml\"\n\n[mempool]"),
    );
    let mut s = sim_core::Scenario::from_toml_str(&text, &path).unwrap();
    s.attach_files(&text, &path, &mut |name| {
        assert_eq!(name, "ops.toml");
        Ok(ops_profile(timings))
    })
    .unwrap();
    for &(name, t) in timings {
        assert_eq!(s.verification.measured(name), Some(t));
    }
    run(&s, 1).0
}

/// Under the p2p model each new vote costs its signature check on the
/// receiving node's consensus routine before it counts: at 10 ms a vote,
/// every validator verifies at least one other validator's prevote before
/// its prevote quorum and one precommit before its precommit quorum (7
/// equal validators: a quorum is 5, its own vote is one), so each height
/// takes at least 2 × 10 ms longer. (Verification of earlier batches
/// overlaps the wait for later ones, so the 12 votes from others do not
/// all add up.) With vote extensions every validator, once it holds the
/// proposed block, has the application verify the extended commit's 7
/// signatures before it prevotes (`ProcessProposal` in CometBFT's e2e
/// application: 70 ms, on the path to every prevote), and a precommit for a
/// block carries two signatures: at least 70 ms more again.
#[test]
fn vote_verification_cpu_slows_every_height() {
    let interval = |verify_s: f64, extra: &str| {
        let s = p2p_small(&[("ed25519_verify", verify_s)], extra);
        s.consensus.block_interval_s.mean.unwrap()
    };
    let free = interval(1e-9, "");
    let costly = interval(0.01, "");
    assert!(
        costly - free >= 0.02,
        "{free} s at no cost, {costly} s at 10 ms a vote"
    );
    let extended = interval(0.01, "vote_extensions = true");
    assert!(
        extended - costly >= 0.07,
        "{costly} s at 10 ms a vote, {extended} s with extensions"
    );
}

/// Validating a committed block (`ApplyBlock`: its LastCommit's 7
/// signatures as a batch) runs within timeout_commit and delays the next
/// height by what it takes beyond it. At 0.5 s a signature it takes 3.5 s
/// against a timeout_commit of 1 s, and every validator commits each
/// height within milliseconds of the others, so each height takes 2.5 s
/// longer; at 1 µs it hides inside timeout_commit and changes nothing.
#[test]
fn block_validation_beyond_timeout_commit_delays_the_next_height() {
    let interval = |per_sig: f64| {
        let s = p2p_small(&[("ed25519_batch_verify_175", per_sig * 175.0)], "");
        s.consensus.block_interval_s.mean.unwrap()
    };
    let (fast, slow) = (interval(1e-6), interval(0.5));
    let added = slow - fast;
    assert!(
        (added - 2.5).abs() < 0.05,
        "{fast} s at 1 µs a signature, {slow} s at 0.5 s: {added} s added, expected 2.5"
    );
}
