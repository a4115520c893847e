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
    assert_eq!((net.validators, net.full_nodes, net.seed_nodes), (175, 20, 5));
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
