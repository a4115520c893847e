//! `cargo bench -p sim-core`: the engine's event queue and one consensus
//! height, each next to its peer in the same run (the queue against std's
//! `BinaryHeap`; the quorum fast path against per-message vote delivery).
//! Figures and the command go to BENCHMARKS.md; nothing here is asserted.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use sim_core::queue::EventQueue;
use sim_core::scenario::VoteDelivery;
use sim_core::{NullSink, Scenario, SimTime, sim};

/// The hold model: `pending` events in the queue; each step pops the
/// earliest and pushes one 0.1 s + Exp(1 s) later (PHOLD's delay law).
fn hold(c: &mut Criterion) {
    let pending = 10_000u64;
    let delays: Vec<u64> = (1..=4096u64)
        .map(|i| {
            let u = (sim_core::rng::mix64(i) >> 11) as f64 / (1u64 << 53) as f64;
            100_000_000 + (-(1.0 - u).ln() * 1e9) as u64
        })
        .collect();
    let mut g = c.benchmark_group("queue_hold_10k_pending");
    g.bench_function("hacasim EventQueue", |b| {
        let mut q = EventQueue::new();
        for i in 0..pending {
            q.push(SimTime(delays[i as usize % delays.len()]), i as u32);
        }
        let mut k = 0usize;
        b.iter(|| {
            let (t, e) = q.pop().expect("never empty");
            k = (k + 1) % delays.len();
            q.push(SimTime(t.0 + delays[k]), black_box(e));
        })
    });
    g.bench_function("std BinaryHeap (time, seq)", |b| {
        let mut q = BinaryHeap::new();
        let mut seq = 0u64;
        for i in 0..pending {
            q.push(Reverse((delays[i as usize % delays.len()], seq, i as u32)));
            seq += 1;
        }
        let mut k = 0usize;
        b.iter(|| {
            let Reverse((t, _, e)) = q.pop().expect("never empty");
            k = (k + 1) % delays.len();
            q.push(Reverse((t + delays[k], seq, black_box(e))));
            seq += 1;
        })
    });
    g.finish();
}

/// 150 validators in 7 regions (`scenarios/day-150.toml` without its
/// workload), ten simulated seconds: about nine heights.
fn consensus(c: &mut Criterion) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/day-150.toml");
    let text = std::fs::read_to_string(path).expect("scenarios/day-150.toml");
    let consensus_only = &text[..text
        .find("[verification]")
        .expect("the workload follows the validators")];
    let mut s = Scenario::from_toml_str(consensus_only, path).expect("valid");
    s.duration = sim_core::SimDuration::from_secs(10);
    let mut g = c.benchmark_group("consensus_150_validators_10s");
    g.sample_size(10);
    for (name, delivery) in [
        ("quorum fast path", VoteDelivery::Quorum),
        ("per-message delivery", VoteDelivery::PerMessage),
    ] {
        let mut s = s.clone();
        s.consensus.vote_delivery = delivery;
        g.bench_function(name, |b| {
            b.iter_batched(
                || s.clone(),
                |s| sim::run(&s, 1, &mut NullSink, &mut |_| {}).expect("runs"),
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, hold, consensus);
criterion_main!(benches);
