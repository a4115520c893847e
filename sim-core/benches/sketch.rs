//! `summary::Sketch` (hacasim's bounded log-linear histogram) against
//! HdrHistogram (`hdrhistogram` 7.5, the field's standard) on what the
//! summary asks of them: speed of a push, memory, and the error of p50, p90
//! and p99 against exact nearest-rank percentiles of the same samples.
//!
//! `cargo bench -p sim-core --bench sketch`. HdrHistogram records integers:
//! samples in seconds are recorded in nanoseconds over 1 ns … 1000 s, with
//! 3 significant digits (0.1 %, its usual setting) and with 4 (0.01 %,
//! closer to the sketch's 2⁻¹¹ ≈ 0.05 %).

use std::hint::black_box;
use std::time::Instant;

use hdrhistogram::Histogram;
use sim_core::summary::{Distribution, Sketch};

/// Log-uniform samples over 1 µs … 1000 s (latencies, finality times and
/// trust gaps span this), from a fixed mixer so every run sees the same.
fn samples(n: usize, seed: u64) -> Vec<f64> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = sim_core::rng::mix64(state.wrapping_add(1));
            let u = (state >> 11) as f64 / (1u64 << 53) as f64;
            1e-6 * 1e9f64.powf(u)
        })
        .collect()
}

fn hdr(sigfig: u8) -> Histogram<u64> {
    Histogram::new_with_bounds(1, 1_000_000_000_000, sigfig).unwrap()
}

fn ns(x: f64) -> u64 {
    (x * 1e9).round().max(1.0) as u64
}

/// Best of five: nanoseconds per pushed sample.
fn time_per_push(xs: &[f64], mut push: impl FnMut(f64)) -> f64 {
    (0..5)
        .map(|_| {
            let start = Instant::now();
            for &x in xs {
                push(black_box(x));
            }
            start.elapsed().as_secs_f64() * 1e9 / xs.len() as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let xs = samples(2_000_000, 7);
    let mut sketch = Sketch::default();
    let t_sketch = time_per_push(&xs, |x| sketch.push(x));
    let mut h3 = hdr(3);
    let t_h3 = time_per_push(&xs, |x| h3.record(ns(x)).unwrap());
    let mut h4 = hdr(4);
    let t_h4 = time_per_push(&xs, |x| h4.record(ns(x)).unwrap());

    // Largest relative error of p50/p90/p99 over 20 sample sets of 1 to
    // 200,000 samples.
    let (mut e_sketch, mut e_h3, mut e_h4) = (0f64, 0f64, 0f64);
    for case in 0..20u64 {
        let ys = samples(1 + case as usize * 10_000, 100 + case);
        let exact = Distribution::of(&ys);
        let mut s = Sketch::default();
        let (mut a, mut b) = (hdr(3), hdr(4));
        for &y in &ys {
            s.push(y);
            a.record(ns(y)).unwrap();
            b.record(ns(y)).unwrap();
        }
        for (p, e) in [(50.0, exact.p50), (90.0, exact.p90), (99.0, exact.p99)] {
            let e = e.unwrap();
            let rel = |x: f64| (x - e).abs() / e;
            e_sketch = e_sketch.max(rel(s.percentile(p).unwrap()));
            e_h3 = e_h3.max(rel(a.value_at_quantile(p / 100.0) as f64 * 1e-9));
            e_h4 = e_h4.max(rel(b.value_at_quantile(p / 100.0) as f64 * 1e-9));
        }
    }

    // Memory: the sketch's buckets in use; HdrHistogram's counts array,
    // allocated for its whole range up front (`distinct_values`).
    let mem_sketch = sketch.buckets() * 8;
    let (mem_h3, mem_h4) = (h3.distinct_values() * 8, h4.distinct_values() * 8);
    println!(
        "{:<28} {:>10} {:>12} {:>14}",
        "histogram", "ns/push", "memory KiB", "max rel. error"
    );
    for (name, t, m, e) in [
        ("summary::Sketch (2^-10)", t_sketch, mem_sketch, e_sketch),
        ("hdrhistogram, 3 digits", t_h3, mem_h3, e_h3),
        ("hdrhistogram, 4 digits", t_h4, mem_h4, e_h4),
    ] {
        println!(
            "{name:<28} {t:>10.2} {:>12.1} {:>13.4}%",
            m as f64 / 1024.0,
            e * 100.0
        );
    }
}
