//! PHOLD, the standard engine benchmark (`../shared/PHOLD.md`): N logical
//! processes, E initial events each at lookahead + Exp(1) s; handling an
//! event at LP i at time t draws d = lookahead + Exp(1) and, with
//! probability `remote`, a uniformly random target (else i), and schedules
//! one event there at t + d. The figure is the events with time ≤ T over the
//! wall time of the event loop.
//!
//! It lives in the library, not only in the example, so that the example,
//! the criterion bench and the agreement test run one implementation: on the
//! simulation's [`EventQueue`] and on a std `BinaryHeap` of (time, seq, lp),
//! with the same draws the two handle the same events in the same order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::queue::EventQueue;
use crate::rng::{self, CounterKey, CounterRng, Purpose, Streams};
use crate::time::{SimDuration, SimTime};

/// PHOLD's parameters; the default is `PHOLD.md`'s (about 1.82 M events).
#[derive(Clone, Copy, Debug)]
pub struct Params {
    pub n: u32,
    pub e: u32,
    pub remote: f64,
    pub lookahead: f64,
    pub t_end: f64,
    pub seed: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            n: 1000,
            e: 10,
            remote: 0.9,
            lookahead: 0.1,
            t_end: 200.0,
            seed: 1,
        }
    }
}

impl Params {
    /// N·E·T / (lookahead + 1): each of the N·E events in flight renews
    /// after lookahead + Exp(1), mean lookahead + 1 s.
    pub fn expected_events(&self) -> f64 {
        self.n as f64 * self.e as f64 * self.t_end / (self.lookahead + 1.0)
    }
}

/// How Exp(1) is drawn: rand_distr's ziggurat (one 64-bit draw almost
/// always) or the inverse CDF −ln(1 − U) (what SimPy's `expovariate`
/// computes, and what hacasim's workload draws).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Draw {
    Ziggurat,
    InverseCdf,
}

/// Where each event's random numbers come from: a counter-keyed generator
/// per event (the simulation's way) or one ChaCha8 stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Counter,
    Stream,
}

/// Which queue runs the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Queue {
    /// hacasim's [`EventQueue`].
    Engine,
    /// std `BinaryHeap<Reverse<(time, seq, lp)>>`: the floor a general engine pays.
    BinaryHeap,
}

/// What one run handled and how long it took.
#[derive(Clone, Copy, Debug)]
pub struct Outcome {
    pub events: u64,
    /// An order-sensitive hash of the handled (time, LP) sequence.
    pub checksum: u64,
    pub setup_s: f64,
    pub loop_s: f64,
}

/// Runs PHOLD on `queue` with `draw` and `source`.
pub fn run(p: &Params, queue: Queue, draw: Draw, source: Source) -> Outcome {
    let key = Streams::new(p.seed).counter_key(Purpose::Workload);
    match (queue, source) {
        (Queue::Engine, Source::Counter) => on_engine(p, draw, Counter::new(key)),
        (Queue::Engine, Source::Stream) => on_engine(p, draw, Stream::new(p.seed)),
        (Queue::BinaryHeap, Source::Counter) => on_binary_heap(p, draw, Counter::new(key)),
        (Queue::BinaryHeap, Source::Stream) => on_binary_heap(p, draw, Stream::new(p.seed)),
    }
}

/// The generator for the next event's draws.
trait EventRng {
    type R: Rng;
    fn next(&mut self) -> &mut Self::R;
}

struct Counter {
    key: CounterKey,
    n: u64,
    current: CounterRng,
}

impl Counter {
    fn new(key: CounterKey) -> Self {
        Counter {
            key,
            n: 0,
            current: key.at(&[0]),
        }
    }
}

impl EventRng for Counter {
    type R = CounterRng;
    #[inline]
    fn next(&mut self) -> &mut CounterRng {
        self.current = self.key.at(&[self.n]);
        self.n += 1;
        &mut self.current
    }
}

struct Stream(ChaCha8Rng);

impl Stream {
    fn new(seed: u64) -> Self {
        Stream(ChaCha8Rng::seed_from_u64(seed))
    }
}

impl EventRng for Stream {
    type R = ChaCha8Rng;
    #[inline]
    fn next(&mut self) -> &mut ChaCha8Rng {
        &mut self.0
    }
}

#[inline(always)]
fn delay<R: Rng>(r: &mut R, p: &Params, draw: Draw) -> SimDuration {
    let e = match draw {
        Draw::Ziggurat => rand_distr::Distribution::sample(&rand_distr::Exp1, r),
        Draw::InverseCdf => rng::exponential(r, 1.0),
    };
    SimDuration::from_secs_f64(p.lookahead + e)
}

/// One handled event: its delay and its target LP.
#[inline(always)]
fn step<R: Rng>(r: &mut R, p: &Params, draw: Draw, lp: u32) -> (SimDuration, u32) {
    let d = delay(r, p, draw);
    // Lemire's multiply-and-reject (rand's `random_range`): no 64-bit division.
    let target = if rng::unit_f64(r) < p.remote {
        r.random_range(0..p.n)
    } else {
        lp
    };
    (d, target)
}

/// Order-sensitive and a cycle or two: it runs in the timed loop.
#[inline]
fn fold(h: u64, t: u64, lp: u32) -> u64 {
    (h.rotate_left(9) ^ t).wrapping_add(lp as u64)
}

fn on_engine<S: EventRng>(p: &Params, draw: Draw, mut src: S) -> Outcome {
    let setup = Instant::now();
    let mut q: EventQueue<u32> = EventQueue::new();
    for lp in 0..p.n {
        for _ in 0..p.e {
            q.push(SimTime::ZERO + delay(src.next(), p, draw), lp);
        }
    }
    let setup_s = setup.elapsed().as_secs_f64();
    let end = SimTime::ZERO + SimDuration::from_secs_f64(p.t_end);
    let start = Instant::now();
    let (mut events, mut checksum) = (0u64, 0u64);
    while let Some((t, lp)) = q.pop() {
        if t > end {
            break;
        }
        events += 1;
        checksum = fold(checksum, t.0, lp);
        let (d, target) = step(src.next(), p, draw, lp);
        q.push(t + d, target);
    }
    Outcome {
        events,
        checksum,
        setup_s,
        loop_s: start.elapsed().as_secs_f64(),
    }
}

fn on_binary_heap<S: EventRng>(p: &Params, draw: Draw, mut src: S) -> Outcome {
    let setup = Instant::now();
    let mut heap = BinaryHeap::new();
    let mut seq = 0u64;
    for lp in 0..p.n {
        for _ in 0..p.e {
            heap.push(Reverse((delay(src.next(), p, draw).0, seq, lp)));
            seq += 1;
        }
    }
    let setup_s = setup.elapsed().as_secs_f64();
    let end = SimDuration::from_secs_f64(p.t_end).0;
    let start = Instant::now();
    let (mut events, mut checksum) = (0u64, 0u64);
    while let Some(Reverse((t, _, lp))) = heap.pop() {
        if t > end {
            break;
        }
        events += 1;
        checksum = fold(checksum, t, lp);
        let (d, target) = step(src.next(), p, draw, lp);
        heap.push(Reverse((t + d.0, seq, target)));
        seq += 1;
    }
    Outcome {
        events,
        checksum,
        setup_s,
        loop_s: start.elapsed().as_secs_f64(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With the same draws, the engine's queue and a std binary heap keyed by
    /// (time, insertion) handle the same events in the same order, and the
    /// count is N·E·T/(lookahead + 1) within 1 % (about 15 standard
    /// deviations of the renewal count at these parameters).
    #[test]
    fn engine_and_binary_heap_agree_event_for_event() {
        let p = Params::default();
        for draw in [Draw::Ziggurat, Draw::InverseCdf] {
            for source in [Source::Counter, Source::Stream] {
                let a = run(&p, Queue::Engine, draw, source);
                let b = run(&p, Queue::BinaryHeap, draw, source);
                assert_eq!(
                    (a.events, a.checksum),
                    (b.events, b.checksum),
                    "{draw:?} {source:?}"
                );
                let off = (a.events as f64 - p.expected_events()).abs() / p.expected_events();
                assert!(off < 0.01, "{draw:?} {source:?}: {} events", a.events);
            }
        }
    }
}
