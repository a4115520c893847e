//! PHOLD (`sim_core::phold`, `../shared/PHOLD.md`) on hacasim's engine and
//! on a bare std `BinaryHeap` loop, printing events/s for `bench/phold.sh`.
//!
//! * `hacasim`: the simulation's `EventQueue`, a counter-keyed generator per
//!   event, Exp(1) by rand_distr's ziggurat;
//! * `hacasim-invcdf`: the same with the inverse-CDF draw −ln(1 − U) (what
//!   SimPy's `expovariate` and the nexosim peer compute), so the draw's
//!   share of the cost is visible;
//! * `bare-binaryheap`: `BinaryHeap<Reverse<(time, seq, lp)>>` with one
//!   ChaCha8 stream and the ziggurat draw: the floor a general engine pays.
//!
//!   cargo run --release -p sim-core --example phold -- [N E remote lookahead T seed]
//!
//! `PHOLD_ONLY=hacasim` (or another name) runs one of them, for a profiler.

use sim_core::phold::{self, Draw, Params, Queue, Source};

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let get = |i: usize, d: f64| a.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let d = Params::default();
    let p = Params {
        n: get(0, d.n as f64) as u32,
        e: get(1, d.e as f64) as u32,
        remote: get(2, d.remote),
        lookahead: get(3, d.lookahead),
        t_end: get(4, d.t_end),
        seed: get(5, d.seed as f64) as u64,
    };
    let expected = p.expected_events();
    let only = std::env::var("PHOLD_ONLY").ok();
    let runs = [
        ("hacasim", Queue::Engine, Draw::Ziggurat, Source::Counter),
        (
            "hacasim-invcdf",
            Queue::Engine,
            Draw::InverseCdf,
            Source::Counter,
        ),
        (
            "bare-binaryheap",
            Queue::BinaryHeap,
            Draw::Ziggurat,
            Source::Stream,
        ),
    ];
    for (name, queue, draw, source) in runs {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let o = phold::run(&p, queue, draw, source);
        let off = (o.events as f64 - expected).abs() / expected;
        assert!(
            off < 0.01,
            "{name}: {} events, {:.2}% from N·E·T/(lookahead+1) = {expected:.0}",
            o.events,
            off * 100.0
        );
        println!(
            "{name} events={} setup_s={:.3} loop_s={:.3} events_per_s={:.0}",
            o.events,
            o.setup_s,
            o.loop_s,
            o.events as f64 / o.loop_s
        );
    }
}
