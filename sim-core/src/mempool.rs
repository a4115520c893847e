//! The mempool: transactions waiting for a block, ordered by tip (priority
//! fee per gas, highest first) and then by arrival. One pool shared by all
//! validators (we assume a transaction reaches every validator before the
//! next proposal). A transaction whose max fee is below the base fee waits.

use std::cmp::Reverse;
use std::collections::BTreeMap;

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
    /// An inference request that every validator executes (replicated
    /// architecture): (slot, request id).
    Inference(u32, u64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tx {
    pub kind: TxKind,
    pub bytes: u32,
    pub gas: u64,
    /// Priority fee per gas, to the proposer.
    pub tip: u64,
    /// Most the sender pays per gas (base fee + tip).
    pub max_fee: u64,
    /// Who pays: a workload stream's user account (`u16::MAX` for background load).
    pub payer: u16,
    /// Tokens of inference the block must execute (prompt + output; 0 for
    /// anything but a replicated inference request).
    pub compute: u32,
}

/// Position in the pool: higher tip first, then arrival order.
pub type TxKey = (Reverse<u64>, u64);

#[derive(Clone, Debug)]
pub struct Mempool {
    txs: BTreeMap<TxKey, Tx>,
    next_seq: u64,
    pub rate_per_s: f64,
    pub tx_bytes: u64,
    pub arrivals: ChaCha8Rng,
    /// Validators waiting for transactions before round 0
    /// (`create_empty_blocks = false`).
    pub waiting: Vec<NodeId>,
}

/// What a proposer takes from the pool.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selection {
    pub keys: Vec<TxKey>,
    pub bytes: u64,
    pub gas: u64,
    pub compute: u64,
}

impl Mempool {
    pub fn new(rate_per_s: f64, tx_bytes: u64, arrivals: ChaCha8Rng) -> Mempool {
        Mempool {
            txs: BTreeMap::new(),
            next_seq: 0,
            rate_per_s,
            tx_bytes,
            arrivals,
            waiting: Vec::new(),
        }
    }

    pub fn len(&self) -> u64 {
        self.txs.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    pub fn push(&mut self, tx: Tx) -> TxKey {
        let key = (Reverse(tx.tip), self.next_seq);
        self.txs.insert(key, tx);
        self.next_seq += 1;
        key
    }

    /// Fills a block in pool order with the transactions that pay at least
    /// `base_fee` and fit in `room` bytes, `gas_limit` gas and
    /// `compute_limit` tokens of inference; a transaction that does not fit
    /// is skipped, smaller ones behind it may still go in.
    pub fn select(
        &self,
        room: u64,
        gas_limit: u64,
        base_fee: u64,
        compute_limit: u64,
        held: &dyn Fn(u64) -> bool,
    ) -> Selection {
        let mut s = Selection::default();
        for (key, tx) in &self.txs {
            if tx.max_fee < base_fee || !held(key.1) {
                continue;
            }
            if s.bytes + tx.bytes as u64 > room
                || s.gas + tx.gas > gas_limit
                || s.compute + tx.compute as u64 > compute_limit
            {
                if room - s.bytes < 64 {
                    break; // full
                }
                continue;
            }
            s.bytes += tx.bytes as u64;
            s.gas += tx.gas;
            s.compute += tx.compute as u64;
            s.keys.push(*key);
        }
        s
    }

    /// A waiting transaction.
    pub fn get(&self, key: &TxKey) -> Option<&Tx> {
        self.txs.get(key)
    }

    /// Removes a committed block's transactions (those still here).
    pub fn take(&mut self, keys: &[TxKey]) -> Vec<Tx> {
        keys.iter().filter_map(|k| self.txs.remove(k)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tx(bytes: u32, tip: u64, max_fee: u64) -> Tx {
        Tx {
            kind: TxKind::Background,
            bytes,
            gas: bytes as u64,
            tip,
            max_fee,
            payer: 0,
            compute: 0,
        }
    }

    #[test]
    fn fills_by_tip_then_arrival_skipping_underpriced() {
        let mut m = Mempool::new(0.0, 1, rand::SeedableRng::seed_from_u64(1));
        m.push(tx(100, 1, 10)); // seq 0
        m.push(tx(100, 5, 10)); // seq 1: highest tip
        m.push(tx(100, 1, 2)); // seq 2: max fee below base fee 3
        m.push(tx(100, 1, 10)); // seq 3
        let s = m.select(250, 1_000, 3, u64::MAX, &|_| true);
        assert_eq!(s.keys, [(Reverse(5), 1), (Reverse(1), 0)]);
        assert_eq!((s.bytes, s.gas), (200, 200));
        let taken = m.take(&s.keys);
        assert_eq!(taken.len(), 2);
        assert_eq!(m.len(), 2);
        // Gas limit binds too.
        assert_eq!(
            m.select(10_000, 150, 3, u64::MAX, &|_| true).keys,
            [(Reverse(1), 3)]
        );
        // And the compute limit: 150 tokens each, room for one.
        m.push(Tx {
            compute: 150,
            ..tx(10, 9, 10)
        }); // seq 4
        m.push(Tx {
            compute: 150,
            ..tx(10, 8, 10)
        }); // seq 5
        assert_eq!(
            m.select(10_000, 10_000, 3, 200, &|_| true).keys,
            [(Reverse(9), 4), (Reverse(1), 3)]
        );
    }
}
