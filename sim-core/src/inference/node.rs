//! One GPU inference node: a FIFO queue and continuous batching. Each step
//! prefills the sequences admitted at its start (their first token comes at
//! its end) and decodes one token for every sequence already running;
//! sequences join and leave between steps, as in vLLM or TGI.
//!
//! A step's work and its end are O(1) in the batch size, which matters as a
//! busy node steps every few milliseconds all day: the node keeps running
//! sums of the batch's context (integers, so exactly what summing the
//! sequences gives), a sequence's tokens follow from the node's step count,
//! and the batch is scanned only at a step where a sequence finishes.

use std::collections::VecDeque;

use super::latency::StepWork;
use crate::time::SimTime;

/// A request's sequence on a node. `slot` indexes the simulation's request table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Seq {
    pub slot: u32,
    pub prompt: u32,
    pub output: u32,
    /// The node's step count at the end of this sequence's prefill (its
    /// first token); it then gains one token per step. (Whether it is
    /// prefilled is its place in the batch: see `GpuNode::active`.)
    pub first_step: u64,
    /// KV-cache bytes reserved for the whole sequence (prompt + output).
    pub kv_bytes: f64,
    /// Images its prefill step encodes first (a vision-language model).
    pub images: u32,
}

/// Limits of the batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchLimits {
    /// Most sequences in one batch (1 = no batching).
    pub max_batch: u32,
    /// Most tokens processed in one step (prefill tokens + one per decoding sequence).
    pub max_batch_tokens: u32,
    /// KV-cache memory: device memory left after the weights.
    pub kv_capacity_bytes: f64,
}

/// What finished at the end of a step.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StepEnd {
    /// Sequences whose first token came out (end of their prefill).
    pub first_token: Vec<u32>,
    /// Sequences that produced their last token.
    pub finished: Vec<u32>,
}

impl Seq {
    /// A queued sequence, nothing generated yet.
    pub fn new(slot: u32, prompt: u32, output: u32, kv_bytes: f64) -> Seq {
        Seq {
            slot,
            prompt,
            output,
            first_step: 0,
            kv_bytes,
            images: 0,
        }
    }

    /// The same sequence with `images` images to encode before its prefill.
    pub fn with_images(self, images: u32) -> Seq {
        Seq { images, ..self }
    }

    /// Tokens generated once the node has completed `steps` steps, for a
    /// sequence whose prefill is done.
    fn generated(&self, steps: u64) -> u32 {
        (1 + steps - self.first_step) as u32
    }

    /// The step count at which its last token comes out.
    fn finish_step(&self) -> u64 {
        self.first_step + self.output.max(1) as u64 - 1
    }
}

/// Steps that one event stands for: when each of them ends (the event is
/// at the last); `id` tells the current run's event from one it replaced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Run {
    pub ends: Vec<SimTime>,
    pub id: u32,
}

#[derive(Clone, Debug)]
pub struct GpuNode {
    pub limits: BatchLimits,
    /// Most sequences waiting in `queue` (`usize::MAX`: no limit); see
    /// `GpuGroup::max_queue`.
    pub max_queue: usize,
    pub queue: VecDeque<Seq>,
    /// The batch: prefilled sequences first, then those admitted for the
    /// step in progress (`active[prefilled..]`).
    pub active: Vec<Seq>,
    prefilled: usize,
    /// Steps completed.
    steps: u64,
    /// Running sums over the batch: decoding sequences and their contexts
    /// (prompt + generated), and the prompts being prefilled (and squares).
    decode_seqs: u64,
    decode_context: u64,
    prefill_tokens: u64,
    prefill_tokens_sq: u64,
    /// Images of the sequences being prefilled.
    prefill_images: u64,
    /// The earliest step count at which a prefilled sequence finishes.
    next_finish: u64,
    /// The run of steps in progress (see [`GpuNode::run_length`]).
    pub run: Run,
    /// A step (or, for exponential service, a request) is in progress.
    pub busy: bool,
    kv_used: f64,
    // Statistics, integrated over time.
    pub busy_ns: u64,
    busy_since: SimTime,
    /// ∫ (queued + active) dt, in request·ns, for Little's law.
    pub in_system_area: u128,
    last_change: SimTime,
    pub served: u64,
}

impl GpuNode {
    pub fn new(limits: BatchLimits) -> GpuNode {
        GpuNode {
            limits,
            max_queue: usize::MAX,
            queue: VecDeque::new(),
            active: Vec::new(),
            prefilled: 0,
            steps: 0,
            decode_seqs: 0,
            decode_context: 0,
            prefill_tokens: 0,
            prefill_tokens_sq: 0,
            prefill_images: 0,
            next_finish: u64::MAX,
            run: Run::default(),
            busy: false,
            kv_used: 0.0,
            busy_ns: 0,
            busy_since: SimTime::ZERO,
            in_system_area: 0,
            last_change: SimTime::ZERO,
            served: 0,
        }
    }

    pub fn in_system(&self) -> usize {
        self.queue.len() + self.active.len()
    }

    /// Call before the number in system changes.
    fn account(&mut self, now: SimTime) {
        self.in_system_area += self.in_system() as u128 * now.since(self.last_change).0 as u128;
        self.last_change = now;
    }

    /// Closes the time integrals at `now` (end of run).
    pub fn settle_stats(&mut self, now: SimTime) {
        self.account(now);
        if self.busy {
            self.busy_ns += now.since(self.busy_since).0;
            self.busy_since = now;
        }
    }

    pub fn enqueue(&mut self, now: SimTime, seq: Seq) {
        self.account(now);
        self.queue.push_back(seq);
    }

    /// Whether a request arriving now would find the queue full.
    pub fn queue_full(&self) -> bool {
        self.queue.len() >= self.max_queue
    }

    /// Takes the queued sequence `slot` out of the queue (its user gave up);
    /// `false` if it is not queued (already in the batch). Searched from the
    /// head, where the longest-waiting sequences are.
    pub fn remove_queued(&mut self, now: SimTime, slot: u32) -> bool {
        let Some(i) = self.queue.iter().position(|s| s.slot == slot) else {
            return false;
        };
        self.account(now);
        self.queue.remove(i);
        true
    }

    pub fn set_busy(&mut self, now: SimTime, busy: bool) {
        if self.busy && !busy {
            self.busy_ns += now.since(self.busy_since).0;
        }
        if !self.busy && busy {
            self.busy_since = now;
        }
        self.busy = busy;
    }

    /// Moves queued sequences into the batch while the limits allow (FIFO:
    /// the head of the queue blocks those behind it). Returns the admitted slots.
    pub fn admit(&mut self) -> Vec<u32> {
        let mut admitted = Vec::new();
        let mut tokens: u32 = self.active.len() as u32;
        while self.head_fits(tokens) {
            let seq = self.queue.pop_front().expect("head exists");
            tokens = tokens.saturating_add(seq.prompt);
            self.kv_used += seq.kv_bytes;
            self.prefill_tokens += seq.prompt as u64;
            self.prefill_tokens_sq += seq.prompt as u64 * seq.prompt as u64;
            self.prefill_images += seq.images as u64;
            admitted.push(seq.slot);
            self.active.push(seq);
        }
        admitted
    }

    /// Whether the head of the queue fits the batch, with `tokens` already in the step.
    fn head_fits(&self, tokens: u32) -> bool {
        let Some(head) = self.queue.front() else {
            return false;
        };
        let fits_batch = (self.active.len() as u32) < self.limits.max_batch;
        let fits_tokens = tokens.saturating_add(head.prompt) <= self.limits.max_batch_tokens
            || self.active.is_empty();
        let fits_kv =
            self.kv_used + head.kv_bytes <= self.limits.kv_capacity_bytes || self.active.is_empty();
        fits_batch && fits_tokens && fits_kv
    }

    /// Whether the next step would admit the head of the queue (as `admit`
    /// would at its start, with no prefill yet in it).
    pub fn would_admit(&self) -> bool {
        self.head_fits(self.active.len() as u32)
    }

    /// Steps that can run as one event from now, at most `max`: one if a
    /// prefill is pending (its first tokens are a change), else the decode
    /// steps up to and including the next finish. Between them nothing in
    /// the batch changes, and nothing queued can join (the head did not
    /// fit at this step's admission and only a finish frees room), unless a
    /// request arrives to an empty queue: see `would_admit`.
    pub fn run_length(&self, max: u64) -> u64 {
        if self.prefilled < self.active.len() || self.next_finish == u64::MAX {
            1
        } else {
            (self.next_finish - self.steps).clamp(1, max)
        }
    }

    /// The decoding sequences and the sum of their contexts at the next
    /// step: in a run of decode steps, the `k`-th step from now has
    /// `k × seqs` more context.
    pub fn decode_sums(&self) -> (u64, u64) {
        assert!(self.prefilled == self.active.len());
        (self.decode_seqs, self.decode_context)
    }

    /// Completes `k` decode steps in which nothing finishes (all but the
    /// last step of a run).
    pub fn skip_steps(&mut self, k: u64) {
        assert!(
            k == 0 || (self.prefilled == self.active.len() && self.steps + k < self.next_finish)
        );
        self.steps += k;
        self.decode_context += k * self.decode_seqs;
    }

    /// The work of the next step over the current batch.
    pub fn step_work(&self) -> StepWork {
        StepWork {
            prefill_tokens: self.prefill_tokens as f64,
            prefill_tokens_sq: self.prefill_tokens_sq as f64,
            prefill_seqs: (self.active.len() - self.prefilled) as f64,
            decode_seqs: self.decode_seqs as f64,
            decode_context: self.decode_context as f64,
            images: self.prefill_images as f64,
        }
    }

    /// Ends the step in progress: prefills yield their first token, decodes
    /// one more; finished sequences leave the batch and free their KV cache.
    pub fn end_step(&mut self, now: SimTime) -> StepEnd {
        let mut end = StepEnd::default();
        self.steps += 1;
        self.decode_context += self.decode_seqs; // one more token each
        for s in &mut self.active[self.prefilled..] {
            s.first_step = self.steps;
            end.first_token.push(s.slot);
            self.decode_seqs += 1;
            self.decode_context += s.prompt as u64 + 1;
            self.next_finish = self.next_finish.min(s.finish_step());
        }
        self.prefilled = self.active.len();
        (
            self.prefill_tokens,
            self.prefill_tokens_sq,
            self.prefill_images,
        ) = (0, 0, 0);
        if self.steps >= self.next_finish {
            self.account(now);
            let (steps, mut kv_freed, mut context_freed, mut next) = (self.steps, 0.0, 0, u64::MAX);
            self.active.retain(|s| {
                let done = s.finish_step() <= steps;
                if done {
                    end.finished.push(s.slot);
                    kv_freed += s.kv_bytes;
                    context_freed += s.prompt as u64 + s.generated(steps) as u64;
                } else {
                    next = next.min(s.finish_step());
                }
                !done
            });
            self.kv_used -= kv_freed;
            self.decode_seqs -= end.finished.len() as u64;
            self.decode_context -= context_freed;
            self.next_finish = next;
            self.prefilled = self.active.len();
            self.served += end.finished.len() as u64;
        }
        end
    }

    /// Exponential service: a free server takes the head of the queue.
    pub fn start_next(&mut self) -> Option<Seq> {
        if (self.active.len() as u32) < self.limits.max_batch
            && let Some(seq) = self.queue.pop_front()
        {
            self.active.push(seq);
            return Some(seq);
        }
        None
    }

    /// Exponential service: request `slot` is done.
    pub fn finish(&mut self, now: SimTime, slot: u32) {
        self.account(now);
        self.active.retain(|s| s.slot != slot);
        self.served += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(slot: u32, prompt: u32, output: u32) -> Seq {
        Seq::new(slot, prompt, output, (prompt + output) as f64)
    }

    #[test]
    fn continuous_batching_by_hand() {
        let mut n = GpuNode::new(BatchLimits {
            max_batch: 2,
            max_batch_tokens: 1000,
            kv_capacity_bytes: 1e9,
        });
        let t = SimTime(0);
        n.enqueue(t, seq(1, 10, 3));
        n.enqueue(t, seq(2, 20, 1));
        n.enqueue(t, seq(3, 5, 2));
        assert_eq!(n.admit(), [1, 2], "batch of two");
        let w = n.step_work();
        assert_eq!(
            (w.prefill_tokens, w.prefill_tokens_sq, w.decode_seqs),
            (30.0, 500.0, 0.0)
        );
        // Step 1: both prefilled; seq 2 wanted one token and is done.
        let end = n.end_step(t);
        assert_eq!((end.first_token, end.finished), (vec![1, 2], vec![2]));
        assert_eq!(n.admit(), [3]);
        let w = n.step_work();
        assert_eq!(
            (w.prefill_tokens, w.decode_seqs, w.decode_context),
            (5.0, 1.0, 11.0)
        );
        let end = n.end_step(t); // seq 1 has 2 tokens, seq 3 its first
        assert_eq!((end.first_token, end.finished), (vec![3], vec![]));
        let end = n.end_step(t);
        assert_eq!(end.finished, [1, 3]);
        assert!(n.active.is_empty() && n.queue.is_empty());
    }

    #[test]
    fn kv_memory_limits_admission() {
        let mut n = GpuNode::new(BatchLimits {
            max_batch: 8,
            max_batch_tokens: 1000,
            kv_capacity_bytes: 25.0,
        });
        let t = SimTime(0);
        n.enqueue(t, seq(1, 10, 5)); // 15 bytes
        n.enqueue(t, seq(2, 10, 5)); // would make 30 > 25
        assert_eq!(n.admit(), [1]);
    }

    #[test]
    fn littles_law_area_by_hand() {
        let mut n = GpuNode::new(BatchLimits {
            max_batch: 1,
            max_batch_tokens: 100,
            kv_capacity_bytes: 1e9,
        });
        n.enqueue(SimTime(0), seq(1, 1, 1));
        n.enqueue(SimTime(10), seq(2, 1, 1)); // 1 in system for 10 ns
        let s = n.start_next().unwrap();
        n.finish(SimTime(30), s.slot); // 2 in system for 20 ns
        n.settle_stats(SimTime(40)); // 1 for 10 ns
        assert_eq!(n.in_system_area, 10 + 40 + 10);
    }

    /// A queue of two: the third waiting sequence finds it full; one taken
    /// out (its user gave up) leaves room, and the time integral counts it
    /// only while it waited.
    #[test]
    fn queue_limit_and_removal_by_hand() {
        let mut n = GpuNode::new(BatchLimits {
            max_batch: 1,
            max_batch_tokens: 100,
            kv_capacity_bytes: 1e9,
        });
        n.max_queue = 2;
        n.enqueue(SimTime(0), seq(1, 1, 1));
        assert_eq!(n.admit(), [1]); // in the batch: not queued
        n.enqueue(SimTime(0), seq(2, 1, 1));
        assert!(!n.queue_full());
        n.enqueue(SimTime(0), seq(3, 1, 1));
        assert!(n.queue_full(), "two waiting: a third is refused");
        assert!(!n.remove_queued(SimTime(5), 1), "1 is in the batch");
        assert!(n.remove_queued(SimTime(10), 2));
        assert!(!n.queue_full());
        assert_eq!(n.queue.iter().map(|s| s.slot).collect::<Vec<_>>(), [3]);
        n.settle_stats(SimTime(20));
        // 3 in system for 10 ns, then 2 for 10 ns.
        assert_eq!(n.in_system_area, 30 + 20);
    }

    /// The running sums against the definition, summed over the batch every
    /// step (the way the node worked before they were kept): random
    /// arrivals, prompts and outputs, batch, token and KV limits.
    #[test]
    fn running_sums_match_summing_the_batch_every_step() {
        let mut state = 3u64;
        let mut next = |m: u64| {
            state = crate::rng::mix64(state.wrapping_add(1));
            state % m
        };
        let limits = BatchLimits {
            max_batch: 6,
            max_batch_tokens: 900,
            kv_capacity_bytes: 3000.0,
        };
        let mut n = GpuNode::new(limits);
        // Reference: (slot, prompt, output, generated, prefilled) per active sequence.
        let mut reference: Vec<(u32, u32, u32, u32, bool)> = Vec::new();
        let mut slot = 0;
        let t = SimTime(0);
        for _ in 0..20_000 {
            for _ in 0..next(3) {
                let (prompt, output) = (1 + next(400) as u32, next(40) as u32);
                n.enqueue(t, seq(slot, prompt, output));
                slot += 1;
            }
            for a in n.admit() {
                let s = n.active.iter().find(|s| s.slot == a).unwrap();
                reference.push((s.slot, s.prompt, s.output, 0, false));
            }
            let mut w = StepWork::default();
            for &(_, p, _, g, prefilled) in &reference {
                if prefilled {
                    w.decode_seqs += 1.0;
                    w.decode_context += (p + g) as f64;
                } else {
                    w.prefill_tokens += p as f64;
                    w.prefill_tokens_sq += (p as f64) * (p as f64);
                    w.prefill_seqs += 1.0;
                }
            }
            assert_eq!(n.step_work(), w);
            if n.active.is_empty() {
                continue;
            }
            let mut want = StepEnd::default();
            for r in &mut reference {
                if r.4 {
                    r.3 += 1;
                } else {
                    (r.3, r.4) = (1, true);
                    want.first_token.push(r.0);
                }
            }
            want.finished = reference
                .iter()
                .filter(|r| r.3 >= r.2)
                .map(|r| r.0)
                .collect();
            reference.retain(|r| r.3 < r.2);
            assert_eq!(n.end_step(t), want);
        }
        assert!(slot > 10_000 && n.served > 1_000);
    }
}
