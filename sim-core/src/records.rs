//! What a run emits, as plain rows, and the sink they go to. `sim-core` does
//! no file I/O: the `reports` crate turns these rows into Parquet.

use serde::Serialize;

/// One committed height (as first committed by an honest validator).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BlockRecord {
    pub height: u64,
    /// Round in which the block was committed (0 = first try).
    pub round: u32,
    pub proposer: u16,
    pub txs: u32,
    pub bytes: u64,
    /// When the proposer broadcast the block, seconds since start.
    pub proposed_at_s: f64,
    /// When the first honest validator committed it.
    pub committed_at_s: f64,
    /// Since the previous height's commit; `None` for height 1.
    pub interval_s: Option<f64>,
    /// Mempool backlog just after the commit.
    pub mempool_pending: u64,
}

/// One round of one height, as seen across the honest validators.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoundRecord {
    pub height: u64,
    pub round: u32,
    pub proposer: u16,
    /// First time an honest validator entered the round.
    pub started_at_s: f64,
    /// When the proposer broadcast its proposal; `None` if it never did.
    pub proposal_at_s: Option<f64>,
    /// Whether the height was committed in this round.
    pub committed: bool,
}

/// Per-validator totals at the end of the run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeRecord {
    pub id: u16,
    pub name: String,
    pub group: String,
    pub region: String,
    pub power: u64,
    pub behaviour: String,
    pub proposals: u64,
    pub votes_sent: u64,
    pub messages_received: u64,
    /// Heights this validator decided through consensus.
    pub heights_committed: u64,
    /// Heights it skipped by syncing blocks after a crash or a partition.
    pub heights_synced: u64,
    pub final_height: u64,
    pub crashed_at_end: bool,
}

/// Where records go. Implemented by the Parquet writer in `reports`, and by
/// [`VecSink`] for tests.
pub trait RecordSink {
    fn block(&mut self, r: &BlockRecord);
    fn round(&mut self, r: &RoundRecord);
    fn node(&mut self, r: &NodeRecord);
}

/// Keeps every record in memory.
#[derive(Clone, Debug, Default)]
pub struct VecSink {
    pub blocks: Vec<BlockRecord>,
    pub rounds: Vec<RoundRecord>,
    pub nodes: Vec<NodeRecord>,
}

impl RecordSink for VecSink {
    fn block(&mut self, r: &BlockRecord) {
        self.blocks.push(r.clone());
    }
    fn round(&mut self, r: &RoundRecord) {
        self.rounds.push(r.clone());
    }
    fn node(&mut self, r: &NodeRecord) {
        self.nodes.push(r.clone());
    }
}

/// Discards every record (for benchmarks and quick checks).
#[derive(Clone, Copy, Debug, Default)]
pub struct NullSink;

impl RecordSink for NullSink {
    fn block(&mut self, _: &BlockRecord) {}
    fn round(&mut self, _: &RoundRecord) {}
    fn node(&mut self, _: &NodeRecord) {}
}
