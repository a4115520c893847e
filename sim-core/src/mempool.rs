//! The mempool: transactions waiting for a block, in arrival order. One pool
//! shared by all validators (we assume a transaction reaches every validator
//! before the next proposal). Ordering by tip arrives with the economics issue.

use std::collections::VecDeque;

use rand_chacha::ChaCha8Rng;

use crate::network::NodeId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxKind {
    /// Synthetic settlement load (`mempool.tx_rate_per_s`).
    Background,
    /// A request's settlement (with its TEE attestation, if any): (slot, request id).
    Settlement(u32, u64),
    /// A request's ZK proof: (slot, request id).
    Proof(u32, u64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tx {
    pub kind: TxKind,
    pub bytes: u32,
}

#[derive(Clone, Debug)]
pub struct Mempool {
    pub queue: VecDeque<Tx>,
    pub rate_per_s: f64,
    pub tx_bytes: u64,
    pub arrivals: ChaCha8Rng,
    /// Validators waiting for transactions before round 0
    /// (`create_empty_blocks = false`).
    pub waiting: Vec<NodeId>,
}

impl Mempool {
    pub fn len(&self) -> u64 {
        self.queue.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The longest prefix that fits in `room` bytes: (transactions, bytes).
    pub fn prefix_fitting(&self, room: u64) -> (u32, u64) {
        let (mut n, mut bytes) = (0u32, 0u64);
        for tx in &self.queue {
            if bytes + tx.bytes as u64 > room {
                break;
            }
            bytes += tx.bytes as u64;
            n += 1;
        }
        (n, bytes)
    }

    /// Removes the first `n` transactions (a committed block's).
    pub fn take(&mut self, n: u32) -> Vec<Tx> {
        let n = (n as usize).min(self.queue.len());
        self.queue.drain(..n).collect()
    }
}
