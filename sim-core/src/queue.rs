//! The event queue, ordered by (time, insertion sequence) so that ties are
//! deterministic, with payloads kept out of the ordering structures in a slab.
//!
//! Why this shape: `PHOLD.md` measured a std `BinaryHeap` at ~8 M events/s
//! and a timing wheel tuned to the delays at about twice that. The queue is
//! a timing wheel that turns with the clock: bucket `tick % BUCKETS` holds
//! the events of one tick (2^`SHIFT` ns) less than `BUCKETS` ticks after the
//! cursor's, and a 4-ary heap holds the events beyond. The bucket under the
//! cursor is sorted when the cursor reaches it; later buckets are unsorted.
//!
//! Wheel entries carry no sequence number: a bucket receives the far heap's
//! entries for its tick (in (time, sequence) order, all at once, when the
//! horizon reaches it) before any direct push, and direct pushes arrive in
//! sequence order, so a *stable* sort by time alone gives (time, sequence)
//! order. With the tick implied by the bucket, a wheel entry packs into 8
//! bytes (offset in the tick, slot), and that matters: the queue is bound by
//! memory, not by comparisons.
//! Bucket widths and counts were measured on PHOLD and on the simulation
//! (BENCHMARKS.md).

use crate::time::SimTime;

/// Bits of nanoseconds per tick: 2^20 ns ≈ 1.05 ms.
const SHIFT: u32 = 20;
/// Buckets in the wheel (a power of two, a multiple of 64): 4096 ticks ≈ 4.3 s.
const BUCKETS: usize = 4096;
const MASK: u64 = BUCKETS as u64 - 1;

/// An event in the far heap: its time, its insertion sequence (ties in time
/// pop in insertion order) and its payload's slot.
#[derive(Clone, Copy, Debug)]
struct Entry {
    time: u64,
    seq: u64,
    slot: u32,
}

impl Entry {
    #[inline]
    fn key(&self) -> (u64, u64) {
        (self.time, self.seq)
    }
}

/// An event in the wheel, packed in 8 bytes: a bucket holds one tick, so
/// the time is the tick and the offset in it (`SHIFT` bits, above the
/// slot's 32); its order among equal times is its position.
type Timed = u64;

#[inline]
fn timed(time: u64, slot: u32) -> Timed {
    ((time & OFFSET) << 32) | slot as u64
}

#[inline]
fn offset(e: Timed) -> u64 {
    e >> 32
}

const OFFSET: u64 = (1 << SHIFT) - 1;

/// A 4-ary min-heap of entries.
#[derive(Default)]
struct Heap {
    v: Vec<Entry>,
}

impl Heap {
    #[inline]
    fn push(&mut self, e: Entry) {
        self.v.push(e);
        let mut i = self.v.len() - 1;
        let item = self.v[i];
        while i > 0 {
            let parent = (i - 1) / 4;
            if self.v[parent].key() <= item.key() {
                break;
            }
            self.v[i] = self.v[parent];
            i = parent;
        }
        self.v[i] = item;
    }

    #[inline]
    fn peek(&self) -> Option<&Entry> {
        self.v.first()
    }

    #[inline]
    fn pop(&mut self) -> Option<Entry> {
        let n = self.v.len();
        if n == 0 {
            return None;
        }
        let top = self.v.swap_remove(0);
        if n > 1 {
            let n = self.v.len();
            let item = self.v[0];
            let mut i = 0;
            loop {
                let first = 4 * i + 1;
                if first >= n {
                    break;
                }
                let last = (first + 4).min(n);
                let mut best = first;
                for c in first + 1..last {
                    if self.v[c].key() < self.v[best].key() {
                        best = c;
                    }
                }
                if item.key() <= self.v[best].key() {
                    break;
                }
                self.v[i] = self.v[best];
                i = best;
            }
            self.v[i] = item;
        }
        Some(top)
    }
}

/// A deterministic priority queue of events of type `E`.
///
/// The wheel turns with the clock, so an event's delay, not its position in
/// a fixed window, decides whether it goes to the far heap (a fixed window
/// sent most of PHOLD's events there once the cursor was past its middle).
pub struct EventQueue<E> {
    /// Events of the tick under the cursor in order; those before `head` have popped.
    current: Vec<Timed>,
    head: usize,
    /// Buckets of the ticks after the cursor's, in arrival order.
    wheel: Vec<Vec<Timed>>,
    /// One bit per non-empty wheel bucket.
    occupied: Vec<u64>,
    /// Events `BUCKETS` or more ticks after the cursor's.
    far: Heap,
    /// The tick under the cursor; every queued event is at this tick or later.
    tick: u64,
    slab: Vec<Option<E>>,
    free: Vec<u32>,
    next_seq: u64,
    len: usize,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    pub fn new() -> Self {
        EventQueue {
            current: Vec::new(),
            head: 0,
            wheel: (0..BUCKETS).map(|_| Vec::new()).collect(),
            occupied: vec![0; BUCKETS / 64],
            far: Heap::default(),
            tick: 0,
            slab: Vec::new(),
            free: Vec::new(),
            next_seq: 0,
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn push(&mut self, time: SimTime, event: E) {
        let slot = match self.free.pop() {
            Some(s) => {
                self.slab[s as usize] = Some(event);
                s
            }
            None => {
                self.slab.push(Some(event));
                (self.slab.len() - 1) as u32
            }
        };
        let (time, seq) = (time.0, self.next_seq);
        self.next_seq += 1;
        self.len += 1;
        let t = time >> SHIFT;
        if t <= self.tick {
            // At the cursor's tick (never earlier than the last event popped):
            // the newest entry pops after every entry at its time.
            let o = time & OFFSET;
            let at = self.head + self.current[self.head..].partition_point(|&c| offset(c) <= o);
            self.current.insert(at, timed(time, slot));
        } else if t - self.tick < BUCKETS as u64 {
            self.place_in_wheel(time, slot);
        } else {
            self.far.push(Entry { time, seq, slot });
        }
    }

    #[inline]
    fn place_in_wheel(&mut self, time: u64, slot: u32) {
        let i = ((time >> SHIFT) & MASK) as usize;
        self.wheel[i].push(timed(time, slot));
        self.occupied[i / 64] |= 1 << (i % 64);
    }

    /// Ticks from the cursor's to the next occupied bucket (1..BUCKETS), if any.
    #[inline]
    fn next_occupied(&self) -> Option<u64> {
        let start = ((self.tick + 1) & MASK) as usize;
        let words = BUCKETS / 64;
        let (w0, b0) = (start / 64, start % 64);
        let first = self.occupied[w0] >> b0;
        if first != 0 {
            return Some(1 + first.trailing_zeros() as u64);
        }
        let mut dist = 64 - b0;
        for k in 1..=words {
            let w = (w0 + k) % words;
            let mut word = self.occupied[w];
            if k == words {
                word &= (1u64 << b0).wrapping_sub(1);
            }
            if word != 0 {
                return Some(1 + (dist + word.trailing_zeros() as usize) as u64);
            }
            dist += 64;
        }
        None
    }

    /// Moves the cursor to the next tick holding events, pulling far events
    /// into the wheel as its horizon moves. False when the queue is empty.
    fn advance(&mut self) -> bool {
        let next = match self.next_occupied() {
            Some(d) => self.tick + d,
            None => match self.far.peek() {
                Some(first) => first.time >> SHIFT,
                None => return false,
            },
        };
        self.tick = next;
        let horizon = next + BUCKETS as u64;
        while let Some(e) = self.far.peek() {
            if e.time >> SHIFT >= horizon {
                break;
            }
            let e = self.far.pop().expect("peeked");
            self.place_in_wheel(e.time, e.slot);
        }
        let i = (next & MASK) as usize;
        self.occupied[i / 64] &= !(1 << (i % 64));
        self.current.clear();
        self.head = 0;
        std::mem::swap(&mut self.current, &mut self.wheel[i]);
        // Stable: equal times keep their arrival (= sequence) order.
        self.current.sort_by_key(|&e| offset(e));
        true
    }

    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        if self.head == self.current.len() && !self.advance() {
            return None;
        }
        let top = self.current[self.head];
        self.head += 1;
        self.len -= 1;
        let slot = top as u32;
        let event = self.slab[slot as usize]
            .take()
            .expect("queued slot holds an event");
        self.free.push(slot);
        Some((SimTime((self.tick << SHIFT) | offset(top)), event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn pops_in_time_then_insertion_order() {
        let mut q = EventQueue::new();
        q.push(SimTime(5), "c");
        q.push(SimTime(1), "a");
        q.push(SimTime(5), "d");
        q.push(SimTime(1), "b");
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).map(|(_, e)| e).collect();
        assert_eq!(order, ["a", "b", "c", "d"]);
    }

    /// Delays from nanoseconds to hours, pushed while popping: the queue pops
    /// exactly what a sorted reference of the pending (time, seq) pairs gives.
    #[test]
    fn matches_a_reference_across_wheel_turns_and_far_events() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let mut q = EventQueue::new();
        let mut reference = std::collections::BTreeSet::new();
        let mut now = 0u64;
        let mut seq = 0u64;
        for step in 0..200_000 {
            if rng.next_u32() % 5 < 3 || reference.is_empty() {
                let scale = [
                    1u64,
                    1_000,
                    100_000,
                    10_000_000,
                    1_000_000_000,
                    3_600_000_000_000,
                ][(rng.next_u32() % 6) as usize];
                let t = now + rng.next_u64() % (scale * 4);
                q.push(SimTime(t), seq);
                reference.insert((t, seq));
                seq += 1;
            } else {
                let want = *reference.iter().next().unwrap();
                reference.remove(&want);
                let (t, s) = q.pop().unwrap();
                assert_eq!((t.0, s), want, "step {step}");
                now = t.0;
            }
            assert_eq!(q.len(), reference.len());
        }
        while let Some(want) = reference.pop_first() {
            let (t, s) = q.pop().unwrap();
            assert_eq!((t.0, s), want);
        }
        assert!(q.pop().is_none());
    }

    #[test]
    fn agrees_with_a_sorted_reference_under_interleaving() {
        // Reference: a stable sort of (time, seq) over every pushed item.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut q = EventQueue::new();
        let mut reference: Vec<(u64, u64)> = Vec::new();
        let mut popped = Vec::new();
        let mut seq = 0u64;
        let mut now = 0u64;
        for _ in 0..20_000 {
            if rng.next_u32() % 3 != 0 {
                let t = now + (rng.next_u32() % 50) as u64;
                q.push(SimTime(t), seq);
                reference.push((t, seq));
                seq += 1;
            } else if let Some((t, s)) = q.pop() {
                assert!(t.0 >= now);
                now = t.0;
                popped.push((t.0, s));
            }
        }
        while let Some((t, s)) = q.pop() {
            popped.push((t.0, s));
        }
        // Every item popped exactly once, and in non-decreasing (time, seq) order
        // among items that were present together: check global time monotonicity
        // and that equal times pop in insertion order.
        assert_eq!(popped.len(), reference.len());
        for w in popped.windows(2) {
            assert!(w[0].0 <= w[1].0);
            if w[0].0 == w[1].0 {
                assert!(w[0].1 < w[1].1, "ties must pop in insertion order");
            }
        }
    }
}
