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
    /// Mean latency of the block's transactions, submitted to committed
    /// (what CometBFT's QA plots per block); `None` for an empty block.
    pub tx_latency_mean_s: Option<f64>,
    pub gas_used: u64,
    pub gas_target: u64,
    /// Base fee charged in this block, base units per gas.
    pub base_fee: u64,
    /// Base units burned, paid as tips, and minted in this block.
    pub burned: u64,
    pub tips: u64,
    pub minted: u64,
}

/// One market interval (issue #12): the price and what moved it, and the
/// GPU operators' side in USD. Amounts over the interval, base units.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MarketRecord {
    /// End of the interval, seconds since start.
    pub time_s: f64,
    /// Token price at the end of the interval, USD.
    pub price_usd: f64,
    /// Requests submitted in the interval (demand).
    pub requests: u64,
    pub minted: u64,
    pub burned: u64,
    /// (minted − burned) / supply over the interval.
    pub net_issuance_fraction: f64,
    /// GPU nodes serving (all of them until operators enter and leave).
    pub active_operators: u32,
    /// Inference fees the GPU nodes received, at this interval's price.
    pub operator_income_usd: f64,
    /// The GPU nodes' hardware at list price over the interval.
    pub operator_cost_usd: f64,
}

/// The token's state after a block (cumulative amounts in base units).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LedgerRecord {
    pub time_s: f64,
    pub height: u64,
    pub supply: u64,
    pub minted: u64,
    pub burned: u64,
    pub slashed: u64,
    /// (supply − genesis) / genesis per year of simulated time, in percent.
    pub net_issuance_annualised_pct: f64,
    /// Base fee for the next block.
    pub base_fee: u64,
    pub fees_to_gpu_nodes: u64,
    pub fees_to_provers: u64,
    pub tips_to_proposers: u64,
    pub emission_to_validators: u64,
    pub emission_to_delegators: u64,
    pub emission_to_gpu_nodes: u64,
    pub to_treasury: u64,
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
    /// Hardware class (`scenarios/hardware.toml`).
    pub hardware: String,
    /// Replicated: stopped because a block's model did not fit its memory.
    pub unable_to_execute: bool,
    /// Replicated: when it became unable to execute.
    pub unable_at_s: Option<f64>,
    /// Replicated: stopped because the chain committed an app hash not its own.
    pub diverged: bool,
    /// CPU seconds spent verifying attestations and proofs (decoupled).
    pub verify_cpu_s: f64,
}

/// One inference request's timeline (seconds since start; `None` = not reached).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RequestRecord {
    pub id: u64,
    pub stream: String,
    pub model: String,
    pub mode: &'static str,
    /// GPU node id (index in `gpu_nodes`).
    pub node: u16,
    /// The language model's prompt, image tokens included.
    pub prompt_tokens: u32,
    pub output_tokens: u32,
    /// Images its model encoded (0 for a text-only stream).
    pub images: u32,
    pub submitted_s: f64,
    pub started_s: Option<f64>,
    pub first_token_s: Option<f64>,
    /// The optimistic result reaches the user.
    pub delivered_s: Option<f64>,
    /// Its settlement transaction is in a committed block.
    pub settled_s: Option<f64>,
    pub proof_started_s: Option<f64>,
    pub proof_done_s: Option<f64>,
    pub finalised_s: Option<f64>,
    pub honest: bool,
    /// A wrong result was caught.
    pub detected_s: Option<f64>,
    pub value_at_risk_usd: f64,
    pub fee_usd: f64,
    /// finalised − delivered.
    pub trust_gap_s: Option<f64>,
    /// How it ended: `"completed"` (settled and finalised, or its wrong
    /// result caught), `"in_flight"` (the run ended first), `"rejected"`
    /// (its GPU node's queue was full: never served) or `"abandoned"` (its
    /// user gave up while it waited: never served).
    pub outcome: &'static str,
    /// When its user gave up (`workload.timeout`): set for `"abandoned"`
    /// and for a request that was already in a batch then (served anyway).
    pub abandoned_s: Option<f64>,
}

/// Per-GPU-node totals at the end of the run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GpuNodeRecord {
    pub id: u16,
    pub name: String,
    pub group: String,
    pub hardware: String,
    pub model: String,
    pub tee: bool,
    pub dishonest_probability: f64,
    pub served: u64,
    pub wrong_results: u64,
    /// Slashing events (wrong results caught).
    pub slashed: u64,
    /// Fraction of the run it was computing.
    pub utilisation: f64,
    /// Time-average number of requests queued or in its batch.
    pub mean_in_system: f64,
}

/// Where records go. Implemented by the Parquet writer in `reports`, and by
/// [`VecSink`] for tests. Records are handed over, so that a sink keeps
/// them without copying (a day has millions of request rows).
pub trait RecordSink {
    fn block(&mut self, r: BlockRecord);
    fn round(&mut self, r: RoundRecord);
    fn node(&mut self, r: NodeRecord);
    fn request(&mut self, r: RequestRecord);
    fn gpu_node(&mut self, r: GpuNodeRecord);
    fn ledger(&mut self, r: LedgerRecord);
    fn market(&mut self, r: MarketRecord);
}

/// Keeps every record in memory.
#[derive(Clone, Debug, Default)]
pub struct VecSink {
    pub blocks: Vec<BlockRecord>,
    pub rounds: Vec<RoundRecord>,
    pub nodes: Vec<NodeRecord>,
    pub requests: Vec<RequestRecord>,
    pub gpu_nodes: Vec<GpuNodeRecord>,
    pub ledger: Vec<LedgerRecord>,
    pub market: Vec<MarketRecord>,
}

impl RecordSink for VecSink {
    fn block(&mut self, r: BlockRecord) {
        self.blocks.push(r);
    }
    fn round(&mut self, r: RoundRecord) {
        self.rounds.push(r);
    }
    fn node(&mut self, r: NodeRecord) {
        self.nodes.push(r);
    }
    fn request(&mut self, r: RequestRecord) {
        self.requests.push(r);
    }
    fn gpu_node(&mut self, r: GpuNodeRecord) {
        self.gpu_nodes.push(r);
    }
    fn ledger(&mut self, r: LedgerRecord) {
        self.ledger.push(r);
    }
    fn market(&mut self, r: MarketRecord) {
        self.market.push(r);
    }
}

/// Discards every record (for benchmarks and quick checks).
#[derive(Clone, Copy, Debug, Default)]
pub struct NullSink;

impl RecordSink for NullSink {
    fn block(&mut self, _: BlockRecord) {}
    fn round(&mut self, _: RoundRecord) {}
    fn node(&mut self, _: NodeRecord) {}
    fn request(&mut self, _: RequestRecord) {}
    fn gpu_node(&mut self, _: GpuNodeRecord) {}
    fn ledger(&mut self, _: LedgerRecord) {}
    fn market(&mut self, _: MarketRecord) {}
}
