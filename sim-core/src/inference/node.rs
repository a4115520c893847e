//! One GPU inference node: a FIFO queue and continuous batching. Each step
//! prefills the sequences admitted at its start (their first token comes at
//! its end) and decodes one token for every sequence already running;
//! sequences join and leave between steps, as in vLLM or TGI.

use std::collections::VecDeque;

use super::latency::StepWork;
use crate::time::SimTime;

/// A request's sequence on a node. `slot` indexes the simulation's request table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Seq {
    pub slot: u32,
    pub prompt: u32,
    pub output: u32,
    pub generated: u32,
    pub prefilled: bool,
    /// KV-cache bytes reserved for the whole sequence (prompt + output).
    pub kv_bytes: f64,
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

#[derive(Clone, Debug)]
pub struct GpuNode {
    pub limits: BatchLimits,
    pub queue: VecDeque<Seq>,
    pub active: Vec<Seq>,
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
            queue: VecDeque::new(),
            active: Vec::new(),
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
        while let Some(head) = self.queue.front() {
            let fits_batch = (self.active.len() as u32) < self.limits.max_batch;
            let fits_tokens = tokens + head.prompt <= self.limits.max_batch_tokens || self.active.is_empty();
            let fits_kv = self.kv_used + head.kv_bytes <= self.limits.kv_capacity_bytes || self.active.is_empty();
            if !(fits_batch && fits_tokens && fits_kv) {
                break;
            }
            let seq = self.queue.pop_front().expect("head exists");
            tokens += seq.prompt;
            self.kv_used += seq.kv_bytes;
            admitted.push(seq.slot);
            self.active.push(seq);
        }
        admitted
    }

    /// The work of the next step over the current batch.
    pub fn step_work(&self) -> StepWork {
        let mut w = StepWork::default();
        for s in &self.active {
            if s.prefilled {
                w.decode_seqs += 1.0;
                w.decode_context += (s.prompt + s.generated) as f64;
            } else {
                let p = s.prompt as f64;
                w.prefill_tokens += p;
                w.prefill_tokens_sq += p * p;
                w.prefill_seqs += 1.0;
            }
        }
        w
    }

    /// Ends the step in progress: prefills yield their first token, decodes
    /// one more; finished sequences leave the batch and free their KV cache.
    pub fn end_step(&mut self, now: SimTime) -> StepEnd {
        let mut end = StepEnd::default();
        for s in &mut self.active {
            if s.prefilled {
                s.generated += 1;
            } else {
                s.prefilled = true;
                s.generated = 1;
                end.first_token.push(s.slot);
            }
        }
        if self.active.iter().any(|s| s.generated >= s.output) {
            self.account(now);
            let mut kv_freed = 0.0;
            self.active.retain(|s| {
                let done = s.generated >= s.output;
                if done {
                    end.finished.push(s.slot);
                    kv_freed += s.kv_bytes;
                }
                !done
            });
            self.kv_used -= kv_freed;
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
        Seq { slot, prompt, output, generated: 0, prefilled: false, kv_bytes: (prompt + output) as f64 }
    }

    #[test]
    fn continuous_batching_by_hand() {
        let mut n = GpuNode::new(BatchLimits { max_batch: 2, max_batch_tokens: 1000, kv_capacity_bytes: 1e9 });
        let t = SimTime(0);
        n.enqueue(t, seq(1, 10, 3));
        n.enqueue(t, seq(2, 20, 1));
        n.enqueue(t, seq(3, 5, 2));
        assert_eq!(n.admit(), [1, 2], "batch of two");
        let w = n.step_work();
        assert_eq!((w.prefill_tokens, w.prefill_tokens_sq, w.decode_seqs), (30.0, 500.0, 0.0));
        // Step 1: both prefilled; seq 2 wanted one token and is done.
        let end = n.end_step(t);
        assert_eq!((end.first_token, end.finished), (vec![1, 2], vec![2]));
        assert_eq!(n.admit(), [3]);
        let w = n.step_work();
        assert_eq!((w.prefill_tokens, w.decode_seqs, w.decode_context), (5.0, 1.0, 11.0));
        let end = n.end_step(t); // seq 1 has 2 tokens, seq 3 its first
        assert_eq!((end.first_token, end.finished), (vec![3], vec![]));
        let end = n.end_step(t);
        assert_eq!(end.finished, [1, 3]);
        assert!(n.active.is_empty() && n.queue.is_empty());
    }

    #[test]
    fn kv_memory_limits_admission() {
        let mut n = GpuNode::new(BatchLimits { max_batch: 8, max_batch_tokens: 1000, kv_capacity_bytes: 25.0 });
        let t = SimTime(0);
        n.enqueue(t, seq(1, 10, 5)); // 15 bytes
        n.enqueue(t, seq(2, 10, 5)); // would make 30 > 25
        assert_eq!(n.admit(), [1]);
    }

    #[test]
    fn littles_law_area_by_hand() {
        let mut n = GpuNode::new(BatchLimits { max_batch: 1, max_batch_tokens: 100, kv_capacity_bytes: 1e9 });
        n.enqueue(SimTime(0), seq(1, 1, 1));
        n.enqueue(SimTime(10), seq(2, 1, 1)); // 1 in system for 10 ns
        let s = n.start_next().unwrap();
        n.finish(SimTime(30), s.slot); // 2 in system for 20 ns
        n.settle_stats(SimTime(40)); // 1 for 10 ns
        assert_eq!(n.in_system_area, 10 + 40 + 10);
    }
}
