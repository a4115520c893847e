//! The ZK prover pool: `provers` servers in parallel, one FIFO queue; a
//! proof's time grows with the FLOPs of the inference it proves.

use std::collections::VecDeque;

use crate::time::{SimDuration, SimTime};

#[derive(Clone, Debug)]
pub struct ProverPool {
    pub provers: u32,
    busy: u32,
    /// (request slot, request id, enqueued at).
    queue: VecDeque<(u32, u64, SimTime)>,
    pub busy_ns: u128,
    pub waits_s: crate::summary::Sketch,
    flops_per_s: f64,
    overhead: SimDuration,
}

impl ProverPool {
    pub fn new(provers: u32, flops_per_s: f64, overhead: SimDuration) -> ProverPool {
        ProverPool {
            provers,
            busy: 0,
            queue: VecDeque::new(),
            busy_ns: 0,
            waits_s: Default::default(),
            flops_per_s,
            overhead,
        }
    }

    /// Time to prove an inference of `flops`.
    pub fn proof_time(&self, flops: f64) -> SimDuration {
        self.overhead + SimDuration::from_secs_f64(flops / self.flops_per_s)
    }

    pub fn enqueue(&mut self, slot: u32, id: u64, now: SimTime) {
        self.queue.push_back((slot, id, now));
    }

    /// Starts the next queued proof if a prover is free: (slot, id).
    pub fn start_next(&mut self, now: SimTime) -> Option<(u32, u64)> {
        if self.busy >= self.provers {
            return None;
        }
        let (slot, id, since) = self.queue.pop_front()?;
        self.busy += 1;
        self.waits_s.push(now.since(since).as_secs_f64());
        Some((slot, id))
    }

    /// A proof that took `took` is done; its prover is free.
    pub fn finish(&mut self, took: SimDuration) {
        self.busy -= 1;
        self.busy_ns += took.0 as u128;
    }

    /// Busy time of proofs still running at the end of the run is not counted.
    pub fn utilisation(&self, duration: SimDuration) -> f64 {
        if self.provers == 0 || duration.0 == 0 {
            return 0.0;
        }
        self.busy_ns as f64 / (duration.0 as f64 * self.provers as f64)
    }
}
