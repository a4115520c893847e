//! PHOLD (see `bench/README.md`): N logical processes, E initial events each
//! at lookahead + Exp(1) s; handling an event at LP i draws
//! d = lookahead + Exp(1) and, with probability `remote`, a uniformly random
//! target (else i), and schedules one event there at t + d. Counts events
//! with time ≤ T over the wall time of the event loop.
//!
//! Two implementations side by side: hacasim's engine (its `EventQueue`, a
//! counter-keyed draw per event) and a bare `std::collections::BinaryHeap`
//! loop with one ChaCha8 stream, the floor any engine pays per event.
//!
//!   cargo run --release -p sim-core --example phold -- [N E remote lookahead T seed]

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use sim_core::queue::EventQueue;
use sim_core::rng::{self, Purpose, Streams};
use sim_core::time::{SimDuration, SimTime};

struct Params {
    n: u32,
    e: u32,
    remote: f64,
    lookahead: f64,
    t_end: f64,
    seed: u64,
}

fn delay<R: Rng>(r: &mut R, lookahead: f64) -> SimDuration {
    SimDuration::from_secs_f64(lookahead + rng::exponential(r, 1.0))
}

/// hacasim's engine: the simulation's own queue and per-event counter-keyed draws.
fn hacasim(p: &Params) -> (u64, f64, f64) {
    let setup = Instant::now();
    let key = Streams::new(p.seed).counter_key(Purpose::Workload);
    let mut q: EventQueue<u32> = EventQueue::new();
    let mut draw = 0u64;
    for lp in 0..p.n {
        for _ in 0..p.e {
            let mut r = key.at(&[draw]);
            draw += 1;
            q.push(SimTime::ZERO + delay(&mut r, p.lookahead), lp);
        }
    }
    let setup_s = setup.elapsed().as_secs_f64();
    let end = SimTime::ZERO + SimDuration::from_secs_f64(p.t_end);
    let start = Instant::now();
    let mut events = 0u64;
    while let Some((t, lp)) = q.pop() {
        if t > end {
            break;
        }
        events += 1;
        let mut r = key.at(&[draw]);
        draw += 1;
        let d = delay(&mut r, p.lookahead);
        let target = if rng::unit_f64(&mut r) < p.remote { (r.next_u64() % p.n as u64) as u32 } else { lp };
        q.push(t + d, target);
    }
    (events, setup_s, start.elapsed().as_secs_f64())
}

/// The bare loop: std BinaryHeap of (time, seq, lp) and one ChaCha8 stream.
fn bare(p: &Params) -> (u64, f64, f64) {
    let setup = Instant::now();
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(p.seed);
    let mut heap = BinaryHeap::new();
    let mut seq = 0u64;
    for lp in 0..p.n {
        for _ in 0..p.e {
            heap.push(Reverse((delay(&mut r, p.lookahead).0, seq, lp)));
            seq += 1;
        }
    }
    let setup_s = setup.elapsed().as_secs_f64();
    let end = SimDuration::from_secs_f64(p.t_end).0;
    let start = Instant::now();
    let mut events = 0u64;
    while let Some(Reverse((t, _, lp))) = heap.pop() {
        if t > end {
            break;
        }
        events += 1;
        let d = delay(&mut r, p.lookahead).0;
        let target = if rng::unit_f64(&mut r) < p.remote { (r.next_u64() % p.n as u64) as u32 } else { lp };
        heap.push(Reverse((t + d, seq, target)));
        seq += 1;
    }
    (events, setup_s, start.elapsed().as_secs_f64())
}

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let get = |i: usize, d: f64| a.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let p = Params { n: get(0, 1000.0) as u32, e: get(1, 10.0) as u32, remote: get(2, 0.9), lookahead: get(3, 0.1), t_end: get(4, 200.0), seed: get(5, 1.0) as u64 };
    let expected = p.n as f64 * p.e as f64 * p.t_end / (p.lookahead + 1.0);
    for (name, f) in [("hacasim", hacasim as fn(&Params) -> (u64, f64, f64)), ("bare-binaryheap", bare)] {
        let (events, setup_s, loop_s) = f(&p);
        let off = (events as f64 - expected).abs() / expected;
        assert!(off < 0.01, "{name}: {events} events, {:.2}% from N·E·T/(lookahead+1) = {expected:.0}", off * 100.0);
        println!("{name} events={events} setup_s={setup_s:.3} loop_s={loop_s:.3} events_per_s={:.0}", events as f64 / loop_s);
    }
}
