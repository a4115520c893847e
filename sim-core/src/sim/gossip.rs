//! The consensus reactor's gossip over the p2p model (issue #23,
//! `network.model = "p2p"`): what each node holds of its height, what it
//! believes each peer holds, and the per-peer gossip routine that sends
//! the difference.
//!
//! CometBFT (`internal/consensus/reactor.go`, v1.0.0-alpha.2, and
//! `consensus/reactor.go`, v0.38) runs, per peer, a data routine and a votes
//! routine. Each sends what the peer lacks of the peer's own height and
//! round — the proposal, then the block's parts; the votes of the peer's
//! round (and earlier ones); to a peer one height behind, the last commit's
//! precommits and the block — and, finding nothing, sleeps
//! `peer_gossip_sleep_duration`. Here one routine per link does both; it
//! sends everything due when it wakes (CometBFT sends one item per loop
//! turn, without sleeping, so the same items go out within microseconds).
//!
//! What a node knows of its peer comes from what they exchanged, as
//! `PeerState` records it; the peer's height and round are read from the
//! peer itself, which `NewRoundStep` messages tell CometBFT one latency
//! later: a peer's change of step wakes the routines towards it after that
//! latency. `HasVote` is not modelled: it only saves duplicate sends.

use std::sync::Arc;

use super::{Event, RecordSink, Simulation};
use crate::consensus::{BlockId, Message, NIL, VoteKind};
use crate::network::NodeId;
use crate::network::p2p::{BLOCK_PART_BYTES, Item, Link, PROPOSAL_BYTES, PeerGraph, Wire};
use crate::rng::{Purpose, Streams};
use crate::scenario::{NodeRole, Scenario, TopologyKind};
use crate::summary::{NetworkSummary, Sketch};
use crate::time::{SimDuration, SimTime};
use rand::Rng;

/// A set of small indices (validators, block parts), one bit each.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Bits(Vec<u64>);

impl Bits {
    fn get(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w >> (i % 64) & 1 == 1)
    }
    /// Sets bit `i`; whether it was clear.
    fn set(&mut self, i: usize) -> bool {
        let w = i / 64;
        if self.0.len() <= w {
            self.0.resize(w + 1, 0);
        }
        let was = self.0[w] >> (i % 64) & 1 == 0;
        self.0[w] |= 1 << (i % 64);
        was
    }
    fn clear(&mut self) {
        self.0.iter_mut().for_each(|w| *w = 0);
    }
    /// Adds the indices of `other` (a set's words).
    fn union(&mut self, other: &[u64]) {
        if self.0.len() < other.len() {
            self.0.resize(other.len(), 0);
        }
        or_words(&mut self.0, other);
    }
    fn count(&self) -> u32 {
        self.0.iter().map(|w| w.count_ones()).sum()
    }
    /// The indices in `self` and not in `other` (a set's words).
    fn minus<'a>(&'a self, other: &'a [u64]) -> impl Iterator<Item = usize> + 'a {
        self.0.iter().enumerate().flat_map(move |(k, &w)| {
            let mut d = w & !other.get(k).copied().unwrap_or(0);
            std::iter::from_fn(move || {
                (d != 0).then(|| {
                    let b = d.trailing_zeros() as usize;
                    d &= d - 1;
                    k * 64 + b
                })
            })
        })
    }
}

/// A mempool's transactions by sequence number, one bit each, kept only
/// from the lowest sequence number still uncommitted: committed ones never
/// come back (a relayed copy of one is not admitted), so the words below it
/// are dropped and memory does not grow with simulated time.
#[derive(Clone, Debug, Default)]
struct SeqSet {
    /// The word index of `words[0]`.
    base: usize,
    words: std::collections::VecDeque<u64>,
}

impl SeqSet {
    fn get(&self, i: usize) -> bool {
        (i / 64)
            .checked_sub(self.base)
            .and_then(|w| self.words.get(w))
            .is_some_and(|w| w >> (i % 64) & 1 == 1)
    }
    fn set(&mut self, i: usize) {
        let w = (i / 64)
            .checked_sub(self.base)
            .expect("a transaction below the lowest live one is not admitted");
        if self.words.len() <= w {
            self.words.resize(w + 1, 0);
        }
        self.words[w] |= 1 << (i % 64);
    }
    /// Clears bit `i`; whether it was set.
    fn remove(&mut self, i: usize) -> bool {
        let Some(word) = (i / 64)
            .checked_sub(self.base)
            .and_then(|w| self.words.get_mut(w))
        else {
            return false;
        };
        let was = *word >> (i % 64) & 1 == 1;
        *word &= !(1 << (i % 64));
        was
    }
    /// Drops the words wholly below index `low` (all clear by then).
    fn trim(&mut self, low: usize) {
        while self.base < low / 64 && !self.words.is_empty() {
            debug_assert_eq!(self.words[0], 0, "a live transaction below {low}");
            self.words.pop_front();
            self.base += 1;
        }
        if self.words.is_empty() {
            self.base = self.base.max(low / 64);
        }
    }
}

/// Adds the set `other` to the set `into` (both as words; `into` has room).
fn or_words(into: &mut [u64], other: &[u64]) {
    debug_assert!(other.len() <= into.len(), "a set beyond its room");
    into.iter_mut().zip(other).for_each(|(w, o)| *w |= o);
}

/// The bytes of each transaction not yet committed, by sequence number:
/// sequence numbers grow and leave roughly in order, so a window from the
/// lowest live one is a dense array (a map's lookups were a tenth of the
/// p2p model's time on the default scenario).
#[derive(Clone, Debug, Default)]
struct TxBytes {
    /// The sequence number of `bytes[0]`, the lowest live one.
    base: u64,
    /// `ABSENT` where a transaction was refused or is committed.
    bytes: std::collections::VecDeque<u64>,
}

impl TxBytes {
    const ABSENT: u64 = u64::MAX;

    fn insert(&mut self, seq: u64, bytes: u64) {
        if self.bytes.is_empty() {
            self.base = seq;
        }
        while seq < self.base {
            self.bytes.push_front(Self::ABSENT);
            self.base -= 1;
        }
        let i = (seq - self.base) as usize;
        if self.bytes.len() <= i {
            self.bytes.resize(i + 1, Self::ABSENT);
        }
        self.bytes[i] = bytes;
    }

    fn remove(&mut self, seq: u64) {
        if let Some(b) = seq
            .checked_sub(self.base)
            .and_then(|i| self.bytes.get_mut(i as usize))
        {
            *b = Self::ABSENT;
        }
        while self.bytes.front() == Some(&Self::ABSENT) {
            self.bytes.pop_front();
            self.base += 1;
        }
    }

    fn live(&self, seq: u64) -> bool {
        seq.checked_sub(self.base)
            .and_then(|i| self.bytes.get(i as usize))
            .is_some_and(|&b| b != Self::ABSENT)
    }

    /// The lowest live sequence number.
    fn lowest(&self) -> Option<u64> {
        (!self.bytes.is_empty()).then_some(self.base)
    }

    /// The live transactions in `first..=last`, in order, with their bytes.
    fn range(&self, first: u64, last: u64) -> impl Iterator<Item = (u64, u64)> + '_ {
        let top = self.base + self.bytes.len() as u64;
        let from = first.clamp(self.base, top);
        let end = last.saturating_add(1).clamp(from, top);
        self.bytes
            .range((from - self.base) as usize..(end - self.base) as usize)
            .enumerate()
            .filter(|&(_, &b)| b != Self::ABSENT)
            .map(move |(k, &b)| (from + k as u64, b))
    }
}

/// The votes of one kind and round that a node holds.
#[derive(Clone, Debug, Default)]
struct Votes {
    have: Bits,
    /// The block each validator voted for (valid where `have` is set).
    block: Vec<BlockId>,
    /// Power per block voted for, for a full node's commit.
    power: Vec<(BlockId, u64)>,
}

impl Votes {
    fn reset(&mut self) {
        self.have.clear();
        self.power.clear();
    }
}

/// A block's parts that a node holds.
#[derive(Clone, Debug)]
struct Parts {
    block: BlockId,
    total: u16,
    have: Bits,
}

impl Parts {
    fn complete(&self) -> bool {
        self.have.count() == self.total as u32
    }
}

/// The block committed at the height below and its precommits: what a node
/// sends a peer that is one height behind.
#[derive(Clone, Debug)]
struct Last {
    height: u64,
    round: u32,
    block: BlockId,
    total: u16,
}

/// One node's consensus data at its height (`RoundState` of the reactor).
#[derive(Clone, Debug, Default)]
pub(super) struct Relay {
    pub height: u64,
    pub round: u32,
    proposals: Vec<Option<Message>>,
    parts: Vec<Parts>,
    /// Per round: prevotes, precommits.
    votes: Vec<[Votes; 2]>,
    rounds_used: usize,
    /// Blocks this node wants without a proposal for them (it saw them
    /// precommitted: CometBFT takes the part-set header from the commit).
    wanted: Vec<BlockId>,
    /// Blocks whose completion a validator's state machine was told of.
    fed: Vec<BlockId>,
    /// Blocks held whole (their propagation time is recorded once).
    whole: Vec<BlockId>,
    last: Option<Last>,
    /// The last commit's precommits (kept apart from `votes`, which is reset).
    last_votes: Votes,
}

impl Relay {
    fn enter_height(&mut self, height: u64) {
        self.height = height;
        self.round = 0;
        self.proposals.clear();
        self.parts.clear();
        self.rounds_used = 0;
        self.wanted.clear();
        self.fed.clear();
        self.whole.clear();
    }

    fn votes(&mut self, round: u32, kind: VoteKind, n: usize) -> &mut Votes {
        let r = round as usize;
        while self.rounds_used <= r {
            if self.votes.len() <= self.rounds_used {
                self.votes.push(Default::default());
            }
            for v in &mut self.votes[self.rounds_used] {
                v.reset();
                v.block.resize(n, NIL);
            }
            self.rounds_used += 1;
        }
        &mut self.votes[r][kind as usize]
    }

    fn parts_of(&self, block: BlockId) -> Option<&Parts> {
        self.parts.iter().find(|p| p.block == block)
    }

    fn has_block(&self, block: BlockId) -> bool {
        self.parts_of(block).is_some_and(Parts::complete)
    }

    /// Blocks the node is gathering parts of: its proposals' and `wanted`.
    fn wants(&self, block: BlockId) -> bool {
        self.proposals.iter().flatten().any(|p| match *p {
            Message::Proposal { block: b, .. } => b == block,
            _ => false,
        }) || self.wanted.contains(&block)
    }
}

/// What a node believes one peer holds of the peer's height (`PeerState`).
#[derive(Clone, Debug)]
struct Known {
    height: u64,
    proposals: Bits,
    parts: Vec<(BlockId, Bits)>,
    /// The votes, one bit per validator, in one array: `words` words per
    /// round and kind (prevotes, precommits), rounds in order. One array
    /// rather than a list per round and kind: marking a vote, which every
    /// vote sent or received does, then reads one heap line, not three.
    votes: Vec<u64>,
    words: usize,
}

impl Known {
    /// Nothing known, of a network of `validators`.
    fn new(validators: usize) -> Known {
        Known {
            height: 0,
            proposals: Bits::default(),
            parts: Vec::new(),
            votes: Vec::new(),
            words: validators.div_ceil(64).max(1),
        }
    }
    fn at(&mut self, height: u64) -> &mut Known {
        if self.height != height {
            self.height = height;
            self.proposals.clear();
            self.parts.clear();
            self.votes.fill(0);
        }
        self
    }
    fn votes(&mut self, round: u32, kind: VoteKind) -> &mut [u64] {
        let i = (round as usize * 2 + kind as usize) * self.words;
        if self.votes.len() < i + self.words {
            self.votes.resize(i + self.words, 0);
        }
        &mut self.votes[i..i + self.words]
    }
    fn parts(&mut self, block: BlockId) -> &mut Bits {
        match self.parts.iter().position(|(b, _)| *b == block) {
            Some(i) => &mut self.parts[i].1,
            None => {
                self.parts.push((block, Bits::default()));
                &mut self.parts.last_mut().expect("pushed").1
            }
        }
    }
    fn mark(&mut self, item: &Item) {
        match *item {
            Item::Msg(Message::Proposal { height, round, .. }) => {
                self.at(height).proposals.set(round as usize);
            }
            Item::Msg(Message::Vote {
                kind,
                height,
                round,
                from,
                ..
            }) => {
                let from = from as usize;
                self.at(height).votes(round, kind)[from / 64] |= 1 << (from % 64);
            }
            Item::Part {
                height,
                block,
                index,
            } => {
                self.at(height).parts(block).set(index as usize);
            }
            Item::Txs { .. } => {}
        }
    }
}

/// The CPU a node's consensus routine spends on what it checks, as the
/// scenario's ops profile (`verification.cpu_profile`) measured it; all
/// zero without one. CometBFT's consensus routine is one goroutine: a vote
/// is verified (`VerifyVoteAndExtension`: a second signature for a
/// precommit for a block when vote extensions are on) and a block part's
/// Merkle proof checked (`PartSet.AddPart` hashes the part) before it
/// counts, and `ApplyBlock` validates the block at commit (`validateBlock`:
/// the LastCommit's signatures as one batch, `VerifyCommit`, and the data
/// hash over the transactions) before the routine reads anything else.
/// The application's own calls (`FinalizeBlock`, `Commit` and, on the
/// mempool's routine, `CheckTx` and recheck) are not in it: the e2e
/// application's are a parse and a map update, and nothing measures them
/// here (README, "What is left out").
#[derive(Clone, Copy, Debug, Default)]
struct Cpu {
    /// Nanoseconds: one Ed25519 verification.
    vote_ns: f64,
    /// Nanoseconds: one signature of a commit verified as a batch.
    commit_sig_ns: f64,
    /// Nanoseconds: SHA-256 of one KiB.
    sha_kib_ns: f64,
    /// Signatures in a block's LastCommit (one per validator, as the block's
    /// bytes count them).
    commit_sigs: f64,
    /// A precommit for a block carries a second signature.
    extensions: bool,
}

impl Cpu {
    fn new(scenario: &Scenario, validators: usize) -> Cpu {
        let v = &scenario.verification;
        let ns = |op: &str| v.measured(op).unwrap_or(0.0) * 1e9;
        Cpu {
            vote_ns: ns("ed25519_verify"),
            commit_sig_ns: ns("ed25519_batch_verify_175")
                / crate::verification::cpu::COMMIT_SIGNATURES as f64,
            sha_kib_ns: ns("sha256_1kib"),
            commit_sigs: validators as f64,
            extensions: scenario.consensus.vote_extensions,
        }
    }

    fn enabled(&self) -> bool {
        self.vote_ns > 0.0
    }

    /// Signatures a vote carries.
    fn signatures(&self, kind: VoteKind, block: BlockId) -> f64 {
        if self.extensions && kind == VoteKind::Precommit && block != NIL {
            2.0
        } else {
            1.0
        }
    }

    /// `ApplyBlock`'s checks of a block of `bytes`.
    fn execute(&self, bytes: u64) -> SimDuration {
        SimDuration(
            (self.commit_sigs * self.commit_sig_ns + bytes as f64 / 1024.0 * self.sha_kib_ns)
                .round() as u64,
        )
    }
}

/// The p2p model's state: links, what every node holds and believes.
pub(super) struct Gossip {
    pub links: Vec<Link>,
    known: Vec<Known>,
    /// Outgoing links of each node.
    pub out: Vec<Vec<u32>>,
    /// Region of each node of the p2p network.
    region: Vec<usize>,
    pub relay: Vec<Relay>,
    wire: Wire,
    /// Validators come first; nodes from here on do not vote.
    validators: usize,
    full_nodes: usize,
    seed_nodes: usize,
    /// From a block's proposal to a node holding it whole.
    propagation_s: Sketch,
    bytes_sent: u64,
    /// What checks cost a node's consensus routine, and when each node's
    /// routine is free of the work queued so far.
    cpu: Cpu,
    cpu_free: Vec<SimTime>,
    /// Per link: the arrived items were checked and wait to be read.
    verified: Vec<bool>,
    /// Bytes a precommit for a block gains from its vote extension (0
    /// without vote extensions).
    extension_bytes: u64,
    /// Each node's mempool (`mempool.reactor`): the sequence numbers of the
    /// transactions it holds, how many, and at most how many.
    pools: Vec<SeqSet>,
    pool_len: Vec<u64>,
    pool_cap: u64,
    /// Bytes of each transaction not yet committed, by sequence number.
    tx_bytes: TxBytes,
    /// The node transactions are submitted to.
    entry: NodeId,
    /// Transactions refused by the entry node's full mempool, and copies
    /// dropped by other full mempools.
    txs_rejected: u64,
    txs_dropped: u64,
    powers: Arc<[u64]>,
    total: u64,
    vote_bytes: u64,
    /// Items being handled (kept to reuse the allocation).
    scratch: Vec<Item>,
    /// Runs of transactions a node took, to relay (reused).
    runs: Vec<(u64, u64)>,
    /// Transaction pieces being relayed: first, last, bytes (reused).
    pieces: Vec<(u64, u64, u64)>,
    /// Reused list of the items a link delivers (`on_link_arrive`).
    arrived: Vec<Item>,
    /// When each link's queued wake fires, if one is queued.
    wake_at: Vec<Option<SimTime>>,
    /// Peers of each node (in peer order), for reports and tests.
    pub peers: Vec<Vec<NodeId>>,
}

impl Gossip {
    pub fn new(scenario: &Scenario, streams: &Streams, powers: Arc<[u64]>) -> Gossip {
        let specs = scenario.peer_specs();
        let net = &scenario.network;
        let graph = match net.topology.kind {
            TopologyKind::Edges => {
                let pos = |x: &str| {
                    specs
                        .iter()
                        .position(|s| s.name == x)
                        .expect("validated edge name")
                };
                let edges: Vec<(usize, usize)> = net
                    .topology
                    .edges
                    .iter()
                    .map(|[a, b]| (pos(a), pos(b)))
                    .collect();
                PeerGraph::from_edges(specs.len(), &edges)
            }
            _ => PeerGraph::pex(&specs, &net.p2p, streams),
        };
        let (mut links, out) = graph.links();
        // Routines start when their connection does, at no common instant:
        // each link's sleep grid gets its own phase.
        let sleep = net.p2p.peer_gossip_sleep_duration.0;
        let mut phase = streams.stream(Purpose::Topology, 2);
        let r = net.regions.len();
        let matrix = net
            .latency_ms
            .as_ref()
            .expect("resolved scenario has a latency matrix");
        let _ = r;
        for l in &mut links {
            l.dry_since = SimTime(phase.next_u64() % sleep);
            let one_way = matrix[specs[l.from as usize].region][specs[l.to as usize].region]
                + matrix[specs[l.to as usize].region][specs[l.from as usize].region];
            l.tcp = crate::network::p2p::Tcp::new(SimDuration((one_way * 1e6).round() as u64));
        }
        let n = specs.len();
        let validators = specs.iter().filter(|s| s.role.is_none()).count();
        let mut relay = vec![Relay::default(); n];
        for r in &mut relay {
            r.enter_height(1);
        }
        // Seeds keep no connections: they have no relay state worth keeping.
        debug_assert!(
            specs
                .iter()
                .zip(&graph.peers)
                .all(|(s, p)| s.role != Some(NodeRole::Seed)
                    || p.is_empty()
                    || net.topology.kind == TopologyKind::Edges)
        );
        Gossip {
            known: vec![Known::new(validators); links.len()],
            wake_at: vec![None; links.len()],
            verified: vec![false; links.len()],
            pools: vec![SeqSet::default(); specs.len()],
            pool_len: vec![0; specs.len()],
            pool_cap: scenario.mempool.size,
            tx_bytes: TxBytes::default(),
            entry: scenario
                .mempool
                .entry
                .as_ref()
                .and_then(|e| specs.iter().position(|s| &s.name == e))
                .unwrap_or(0) as NodeId,
            txs_rejected: 0,
            txs_dropped: 0,
            links,
            out,
            region: specs.iter().map(|s| s.region).collect(),
            relay,
            wire: Wire::new(&net.p2p),
            validators,
            full_nodes: specs
                .iter()
                .filter(|s| s.role == Some(NodeRole::Full))
                .count(),
            seed_nodes: specs
                .iter()
                .filter(|s| s.role == Some(NodeRole::Seed))
                .count(),
            propagation_s: Sketch::default(),
            bytes_sent: 0,
            cpu: Cpu::new(scenario, powers.len()),
            extension_bytes: if scenario.consensus.vote_extensions {
                scenario.consensus.vote_extension_bytes
            } else {
                0
            },
            cpu_free: vec![SimTime::ZERO; specs.len()],
            total: powers.iter().sum(),
            powers,
            vote_bytes: scenario.consensus.vote_bytes,
            scratch: Vec::new(),
            runs: Vec::new(),
            pieces: Vec::new(),
            arrived: Vec::new(),
            peers: graph.peers,
        }
    }

    /// Whether `node`'s mempool holds transaction `seq`.
    pub fn holds(&self, node: NodeId, seq: u64) -> bool {
        self.pools[node as usize].get(seq as usize)
    }

    /// Adds `seq` to `node`'s mempool unless it is there or full; whether it was added.
    fn admit(&mut self, node: NodeId, seq: u64) -> bool {
        let i = node as usize;
        if self.pools[i].get(seq as usize) {
            return false;
        }
        if self.pool_len[i] >= self.pool_cap {
            self.txs_dropped += 1;
            return false;
        }
        self.pools[i].set(seq as usize);
        self.pool_len[i] += 1;
        true
    }

    /// Committed transactions leave every mempool.
    pub(super) fn remove_txs(&mut self, seqs: impl Iterator<Item = u64> + Clone) {
        for s in seqs.clone() {
            self.tx_bytes.remove(s);
        }
        // Below the lowest live transaction nothing is admitted again (and
        // sequence numbers grow: with none live, below the next one).
        let next = seqs.clone().max().map_or(0, |s| s as usize + 1);
        let low = self.tx_bytes.lowest().map_or(next, |s| s as usize);
        for (pool, len) in self.pools.iter_mut().zip(&mut self.pool_len) {
            for s in seqs.clone() {
                if pool.remove(s as usize) {
                    *len -= 1;
                }
            }
            pool.trim(low);
        }
    }

    /// `summary.network`.
    pub fn summary(&self) -> NetworkSummary {
        let relaying: Vec<u64> = self
            .peers
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| p.len() as u64)
            .collect();
        NetworkSummary {
            model: "p2p".into(),
            validators: self.validators as u64,
            full_nodes: self.full_nodes as u64,
            seed_nodes: self.seed_nodes as u64,
            links: self.links.len() as u64 / 2,
            peers_mean: relaying.iter().sum::<u64>() as f64 / relaying.len().max(1) as f64,
            peers_min: relaying.iter().copied().min().unwrap_or(0),
            peers_max: relaying.iter().copied().max().unwrap_or(0),
            block_propagation_s: self.propagation_s.distribution(),
            bytes_sent: self.bytes_sent,
            txs_rejected: self.txs_rejected,
            txs_dropped: self.txs_dropped.saturating_sub(self.txs_rejected),
        }
    }
}

/// Bytes of an item on its channel (before framing).
fn item_bytes(
    item: &Item,
    [vote_bytes, extension_bytes]: [u64; 2],
    part_bytes: impl Fn(BlockId, u16) -> u64,
) -> u64 {
    match *item {
        Item::Msg(Message::Proposal { .. }) => PROPOSAL_BYTES,
        Item::Msg(Message::Vote {
            kind: VoteKind::Precommit,
            block,
            ..
        }) if block != NIL => vote_bytes + extension_bytes,
        Item::Msg(Message::Vote { .. }) => vote_bytes,
        Item::Part { block, index, .. } => part_bytes(block, index),
        Item::Txs { .. } => 0, // priced by `Simulation::forward_txs`
    }
}

/// Transactions are written to a connection in pieces of about this many bytes.
const TX_PIECE_BYTES: u64 = 16_384;

/// Parts of a block of `bytes`.
pub(super) fn parts_of(bytes: u64) -> u16 {
    bytes.div_ceil(BLOCK_PART_BYTES).clamp(1, u16::MAX as u64) as u16
}

/// Bytes of part `index` of a block of `bytes` in `total` parts: whole
/// parts, then the rest.
fn part_len(bytes: u64, index: u16, total: u16) -> u64 {
    if index + 1 < total {
        BLOCK_PART_BYTES
    } else {
        bytes
            .saturating_sub(BLOCK_PART_BYTES * (total as u64 - 1))
            .max(1)
    }
}

impl Simulation {
    fn gossip(&mut self) -> &mut Gossip {
        self.gossip.as_mut().expect("p2p model")
    }

    /// Whether node `i` of the p2p network runs (nodes that do not vote never crash).
    fn p2p_alive(&self, i: NodeId) -> bool {
        (i as usize) >= self.nodes.len() || self.alive(i)
    }

    /// Queues the wake of link `l`'s gossip routine at its first sleep-grid
    /// point at or after `t`, unless one is queued no later.
    fn wake_link(&mut self, l: u32, t: SimTime) {
        let g = self.gossip.as_mut().expect("p2p model");
        let at = g.links[l as usize].next_wake(t, g.wire.sleep);
        if g.wake_at[l as usize].is_some_and(|w| w <= at) {
            return;
        }
        g.wake_at[l as usize] = Some(at);
        g.links[l as usize].wake_pending = true;
        self.queue.push(at, Event::GossipWake { link: l });
    }

    /// `node` holds something new: each of its routines sends it at its next wake.
    fn wake_out(&mut self, node: NodeId) {
        let out = std::mem::take(&mut self.gossip().out[node as usize]);
        let now = self.now;
        for &l in &out {
            self.wake_link(l, now);
        }
        self.gossip().out[node as usize] = out;
    }

    /// `node` changed height, round or wants: its peers' routines towards
    /// it learn so one latency later (`NewRoundStep`) and look again.
    fn wake_in(&mut self, node: NodeId) {
        let out = std::mem::take(&mut self.gossip().out[node as usize]);
        for &l in &out {
            let g = self.gossip.as_ref().expect("p2p model");
            let rev = g.links[l as usize].reverse;
            let peer = g.links[l as usize].to;
            let lat = self.net.batch_latency(
                (node, g.region[node as usize]),
                (peer, g.region[peer as usize]),
                [l as u64, u64::MAX],
            );
            let at = self.now + lat;
            self.wake_link(rev, at);
        }
        self.gossip().out[node as usize] = out;
    }

    /// A gossip routine wakes: it sends its peer what the peer lacks.
    pub(super) fn on_gossip_wake(&mut self, l: u32) {
        let now = self.now;
        let g = self.gossip();
        if g.wake_at[l as usize] != Some(now) {
            return; // superseded by an earlier wake
        }
        g.wake_at[l as usize] = None;
        g.links[l as usize].wake_pending = false;
        let (x, y) = (g.links[l as usize].from, g.links[l as usize].to);
        if !self.p2p_alive(x) || !self.p2p_alive(y) || self.net.separated(x, y) {
            return;
        }
        let g = self.gossip.as_ref().expect("p2p model");
        let (hx, hy) = (g.relay[x as usize].height, g.relay[y as usize].height);
        if hx > hy + 1 {
            // More than a height behind: blocksync, not consensus gossip.
            if (y as usize) < self.nodes.len() {
                let peer = if (x as usize) < self.nodes.len() {
                    x
                } else {
                    y
                };
                self.request_catch_up(y, peer);
            } else {
                self.full_node_catch_up(y);
            }
            return;
        }
        if hx < hy {
            return;
        }
        let mut items = std::mem::take(&mut self.gossip().scratch);
        items.clear();
        self.due_items(l, &mut items);
        if items.is_empty() {
            self.gossip().scratch = items;
            return;
        }
        let g = self.gossip.as_mut().expect("p2p model");
        let vote_bytes = [g.vote_bytes, g.extension_bytes];
        let wire = g.wire;
        let (rx, ry) = (g.region[x as usize], g.region[y as usize]);
        let net = &self.net;
        let mut latency = |batch: u64| net.batch_latency((x, rx), (y, ry), [l as u64, batch]);
        let relay = &g.relay[x as usize];
        let part_bytes = |block: BlockId, index: u16| {
            let total = relay
                .parts_of(block)
                .map(|p| p.total)
                .or(relay
                    .last
                    .as_ref()
                    .filter(|c| c.block == block)
                    .map(|c| c.total))
                .unwrap_or(1);
            let bytes = self
                .blocks
                .get(&block)
                .map_or(BLOCK_PART_BYTES, |b| b.bytes);
            part_len(bytes, index, total)
        };
        let link = &mut g.links[l as usize];
        for item in &items {
            let bytes = item_bytes(item, vote_bytes, part_bytes);
            g.bytes_sent += wire.wire_bytes(bytes);
            if let Some(at) = link.write(now, *item, bytes, &wire, &mut latency).schedule {
                self.queue.push(at, Event::LinkArrive { link: l });
            }
        }
        link.dry_since = now;
        self.gossip().scratch = items;
    }

    /// What link `l`'s routine sends now (`gossipDataRoutine` and
    /// `gossipVotesRoutine` in one pass); the routine then believes its
    /// peer has it (marked here a set at a time: the routine sends all of
    /// it, and nothing reads the belief in between).
    fn due_items(&mut self, l: u32, items: &mut Vec<Item>) {
        let g = self.gossip.as_mut().expect("p2p model");
        let (x, y) = (
            g.links[l as usize].from as usize,
            g.links[l as usize].to as usize,
        );
        let (from, to) = (&g.relay[x], &g.relay[y]);
        let known = g.known[l as usize].at(to.height);
        if from.height == to.height {
            let h = from.height;
            // The proposal of the peer's round, then the parts of every
            // block the peer is gathering.
            let ry = to.round;
            if let Some(Some(p)) = from.proposals.get(ry as usize)
                && !known.proposals.get(ry as usize)
            {
                items.push(Item::Msg(*p));
                known.proposals.set(ry as usize);
            }
            let sending = items.first().and_then(|i| match *i {
                Item::Msg(Message::Proposal { block, .. }) => Some(block),
                _ => None,
            });
            for p in &from.parts {
                if !(to.wants(p.block) || sending == Some(p.block)) {
                    continue;
                }
                let k = known.parts(p.block);
                for i in p.have.minus(&k.0) {
                    items.push(Item::Part {
                        height: h,
                        block: p.block,
                        index: i as u16,
                    });
                }
                k.union(&p.have.0);
            }
            // Votes of every round up to both nodes' (the peer's round and
            // its POL round are among them).
            let top = from.round.min(to.round) as usize;
            for r in 0..=top.min(from.rounds_used.saturating_sub(1)) {
                if r >= from.rounds_used {
                    break;
                }
                for kind in [VoteKind::Prevote, VoteKind::Precommit] {
                    let v = &from.votes[r][kind as usize];
                    let k = known.votes(r as u32, kind);
                    for i in v.have.minus(k) {
                        items.push(Item::Msg(Message::Vote {
                            kind,
                            height: h,
                            round: r as u32,
                            block: v.block[i],
                            from: i as NodeId,
                        }));
                    }
                    or_words(k, &v.have.0);
                }
            }
        } else if let Some(last) = from.last.as_ref().filter(|c| c.height == to.height) {
            // The peer is one height behind: the last commit and its block.
            let k = known.votes(last.round, VoteKind::Precommit);
            for i in from.last_votes.have.minus(k) {
                items.push(Item::Msg(Message::Vote {
                    kind: VoteKind::Precommit,
                    height: last.height,
                    round: last.round,
                    block: from.last_votes.block[i],
                    from: i as NodeId,
                }));
            }
            or_words(k, &from.last_votes.have.0);
            if !to.has_block(last.block) {
                let k = known.parts(last.block);
                for i in 0..last.total as usize {
                    if k.set(i) {
                        items.push(Item::Part {
                            height: last.height,
                            block: last.block,
                            index: i as u16,
                        });
                    }
                }
                // The peer now knows the header from the commit.
            }
        }
    }

    /// Batches of link `l` reach its receiver.
    pub(super) fn on_link_arrive(&mut self, l: u32, sink: &mut dyn RecordSink) {
        let (x, y) = {
            let g = self.gossip();
            (g.links[l as usize].from, g.links[l as usize].to)
        };
        let now = self.now;
        if (y as usize) < self.nodes.len() {
            // Executing a block blocks a validator's consensus routine.
            let busy = self.exec.busy_until[y as usize];
            if busy > now {
                self.queue.push(busy, Event::LinkArrive { link: l });
                return;
            }
        }
        // A node checks the new votes and block parts it received before
        // they count, one after another (CometBFT's consensus routine is
        // one goroutine), and reads nothing else meanwhile.
        let g = self.gossip.as_mut().expect("p2p model");
        let free = g.cpu_free[y as usize];
        if free > now {
            self.queue.push(free, Event::LinkArrive { link: l });
            return;
        }
        if g.cpu.enabled() && !std::mem::take(&mut g.verified[l as usize]) {
            let (r, cpu, blocks) = (&g.relay[y as usize], g.cpu, &self.blocks);
            // New parts per block, to see whether they complete it; parts
            // count when their proposal came before them or comes with them.
            let mut parts: Vec<(BlockId, u64, u64, u32)> = Vec::new();
            let proposed: Vec<BlockId> = g.links[l as usize]
                .arrived(now)
                .filter_map(|i| match *i {
                    Item::Msg(Message::Proposal { height, block, .. }) if height == r.height => {
                        Some(block)
                    }
                    _ => None,
                })
                .collect();
            let mut ns: f64 = g.links[l as usize]
                .arrived(now)
                .map(|i| match *i {
                    Item::Msg(Message::Vote {
                        kind,
                        height,
                        round,
                        from,
                        block,
                    }) if height == r.height
                        && !((round as usize) < r.rounds_used
                            && r.votes[round as usize][kind as usize]
                                .have
                                .get(from as usize)) =>
                    {
                        cpu.vote_ns * cpu.signatures(kind, block)
                    }
                    Item::Part {
                        block,
                        index,
                        height,
                    } if (r.wants(block) || proposed.contains(&block))
                        && !r
                            .parts_of(block)
                            .is_some_and(|p| p.have.get(index as usize)) =>
                    {
                        let bytes = blocks.get(&block).map_or(BLOCK_PART_BYTES, |b| b.bytes);
                        match parts.iter_mut().find(|p| p.0 == block) {
                            Some(p) => p.3 += 1,
                            None => parts.push((block, height, bytes, 1)),
                        }
                        part_len(bytes, index, parts_of(bytes)) as f64 / 1024.0 * cpu.sha_kib_ns
                    }
                    _ => 0.0,
                })
                .sum();
            // A validator that now holds the whole proposed block asks the
            // application to process it before it prevotes
            // (`ProcessProposal`): with vote extensions the e2e application
            // verifies the extended commit's signatures, one at a time.
            if cpu.extensions && (y as usize) < g.validators {
                for &(block, height, bytes, k) in &parts {
                    let have = r.parts_of(block).map_or(0, |p| p.have.count());
                    if height > 1 && have + k == parts_of(bytes) as u32 {
                        ns += cpu.commit_sigs * cpu.vote_ns;
                    }
                }
            }
            if ns > 0.0 {
                let done = now + SimDuration(ns.round() as u64);
                g.cpu_free[y as usize] = done;
                g.verified[l as usize] = true;
                self.queue.push(done, Event::LinkArrive { link: l });
                return;
            }
        }
        let mut items = std::mem::take(&mut self.gossip().arrived);
        items.clear();
        self.gossip().links[l as usize].take_arrived(now, &mut items);
        if items.is_empty() || !self.p2p_alive(y) || self.net.separated(x, y) {
            self.gossip().arrived = items;
            return;
        }
        let rev = self.gossip().links[l as usize].reverse as usize;
        let (h0, r0) = {
            let r = &self.gossip().relay[y as usize];
            (r.height, r.round)
        };
        let mut fresh = false;
        for item in &items {
            if !self.p2p_alive(y) {
                break;
            }
            if let Item::Txs { first, last } = *item {
                self.receive_txs(y, first, last, l);
                continue;
            }
            // The sender has it.
            self.gossip().known[rev].mark(item);
            fresh |= self.receive(y, *item, sink);
        }
        self.gossip().arrived = items;
        if fresh {
            self.wake_out(y);
        }
        let r = &self.gossip().relay[y as usize];
        if (r.height, r.round) != (h0, r0) {
            self.wake_in(y);
        }
    }

    /// Transaction `seq` of `bytes` is submitted to the entry node; whether
    /// its mempool took it (a full one rejects it).
    pub(super) fn p2p_submit(&mut self, seq: u64, bytes: u64) -> bool {
        let g = self.gossip.as_mut().expect("p2p model");
        let entry = g.entry;
        if !g.admit(entry, seq) {
            g.txs_rejected += 1;
            return false;
        }
        g.tx_bytes.insert(seq, bytes);
        self.forward_txs(entry, &[(seq, seq)], None);
        true
    }

    /// `node` relays the runs of transactions it just took to every peer
    /// but the one it got them from (the mempool reactor's
    /// `broadcastTxRoutine` sends each new transaction at once; the flush
    /// throttle batches them on the wire).
    fn forward_txs(&mut self, node: NodeId, runs: &[(u64, u64)], except: Option<u32>) {
        if runs.is_empty() {
            return;
        }
        let now = self.now;
        let g = self.gossip.as_mut().expect("p2p model");
        let wire = g.wire;
        let net = &self.net;
        let queue = &mut self.queue;
        // Written in pieces of about 16 KiB, so that consensus messages
        // written meanwhile go ahead of the rest; the pieces are the same
        // for every peer.
        let mut pieces = std::mem::take(&mut g.pieces);
        pieces.clear();
        for &(first, last) in runs {
            let mut piece: Option<(u64, u64, u64)> = None;
            for (s, bytes) in g.tx_bytes.range(first, last) {
                piece = match piece {
                    Some((a, _, n)) if n < TX_PIECE_BYTES => Some((a, s, n + bytes)),
                    Some(p) => {
                        pieces.push(p);
                        Some((s, s, bytes))
                    }
                    None => Some((s, s, bytes)),
                };
            }
            pieces.extend(piece);
        }
        for &l in &g.out[node as usize] {
            if Some(l) == except {
                continue;
            }
            let link = &mut g.links[l as usize];
            let (x, y) = (link.from, link.to);
            let (rx, ry) = (g.region[x as usize], g.region[y as usize]);
            let mut latency = |batch: u64| net.batch_latency((x, rx), (y, ry), [l as u64, batch]);
            for &(a, b, bytes) in &pieces {
                let item = Item::Txs { first: a, last: b };
                if let Some(at) = link.write(now, item, bytes, &wire, &mut latency).schedule {
                    queue.push(at, Event::LinkArrive { link: l });
                }
                g.bytes_sent += bytes + (b - a + 1) * wire.wire_bytes(0);
            }
        }
        g.pieces = pieces;
    }

    /// Node `y` takes the transactions `first..=last` it has not seen and
    /// that are not committed yet, and relays them.
    fn receive_txs(&mut self, y: NodeId, first: u64, last: u64, from: u32) {
        let g = self.gossip.as_mut().expect("p2p model");
        let mut runs = std::mem::take(&mut g.runs);
        runs.clear();
        for s in first..=last {
            if g.tx_bytes.live(s) && g.admit(y, s) {
                match runs.last_mut() {
                    Some((_, l)) if *l + 1 == s => *l = s,
                    _ => runs.push((s, s)),
                }
            }
        }
        let back = g.links[from as usize].reverse;
        self.forward_txs(y, &runs, Some(back));
        self.gossip().runs = runs;
    }

    /// Node `y` receives `item`; whether it was new to it.
    fn receive(&mut self, y: NodeId, item: Item, sink: &mut dyn RecordSink) -> bool {
        let validator = (y as usize) < self.nodes.len();
        if validator {
            self.stats[y as usize].messages_received += 1;
        }
        let n = self.nodes.len();
        let g = self.gossip.as_mut().expect("p2p model");
        let r = &mut g.relay[y as usize];
        match item {
            Item::Msg(
                m @ Message::Vote {
                    kind,
                    height,
                    round,
                    block,
                    from,
                },
            ) => {
                if height != r.height {
                    return false;
                }
                let power = g.powers[from as usize];
                let v = r.votes(round, kind, n);
                if !v.have.set(from as usize) {
                    return false;
                }
                v.block[from as usize] = block;
                if validator {
                    self.nodes[y as usize].on_message(m);
                    self.drain(y, sink);
                } else {
                    match v.power.iter_mut().find(|(b, _)| *b == block) {
                        Some((_, p)) => *p += power,
                        None => v.power.push((block, power)),
                    }
                    r.round = r.round.max(round);
                    self.full_node_check_commit(y);
                }
                true
            }
            Item::Msg(
                m @ Message::Proposal {
                    height,
                    round,
                    from,
                    block,
                    ..
                },
            ) => {
                if height != r.height || self.schedule.proposer(height, round) != from {
                    return false;
                }
                let i = round as usize;
                if r.proposals.len() <= i {
                    r.proposals.resize(i + 1, None);
                }
                if r.proposals[i].is_some() {
                    return false;
                }
                r.proposals[i] = Some(m);
                if !validator {
                    r.round = r.round.max(round);
                }
                if r.parts_of(block).is_none() {
                    let total = self.blocks.get(&block).map_or(1, |b| parts_of(b.bytes));
                    r.parts.push(Parts {
                        block,
                        total,
                        have: Bits::default(),
                    });
                }
                self.block_progress(y, block, sink);
                true
            }
            Item::Txs { .. } => false, // handled by `receive_txs`
            Item::Part {
                height,
                block,
                index,
            } => {
                if height != r.height {
                    return false;
                }
                if r.parts_of(block).is_none() {
                    let total = self.blocks.get(&block).map_or(1, |b| parts_of(b.bytes));
                    r.parts.push(Parts {
                        block,
                        total,
                        have: Bits::default(),
                    });
                }
                let p = r
                    .parts
                    .iter_mut()
                    .find(|p| p.block == block)
                    .expect("just added");
                if (index as usize) >= p.total as usize || !p.have.set(index as usize) {
                    return false;
                }
                self.block_progress(y, block, sink);
                true
            }
        }
    }

    /// Once a block's parts are all in, a validator's state machine gets
    /// the proposals naming it (a proposal counts only with its block); a
    /// full node may commit.
    fn block_progress(&mut self, y: NodeId, block: BlockId, sink: &mut dyn RecordSink) {
        let g = self.gossip.as_mut().expect("p2p model");
        let r = &mut g.relay[y as usize];
        if !r.has_block(block) {
            return;
        }
        if !r.whole.contains(&block) {
            r.whole.push(block);
            if let Some(b) = self.blocks.get(&block) {
                g.propagation_s
                    .push(self.now.since(b.proposed_at).as_secs_f64());
            }
        }
        let r = &mut g.relay[y as usize];
        if (y as usize) >= self.nodes.len() {
            self.full_node_check_commit(y);
            return;
        }
        if r.fed.contains(&block) {
            return;
        }
        let proposals: Vec<Message> = r
            .proposals
            .iter()
            .flatten()
            .filter(|p| matches!(p, Message::Proposal { block: b, .. } if *b == block))
            .copied()
            .collect();
        if proposals.is_empty() && !r.wanted.contains(&block) {
            return; // parts ahead of their proposal
        }
        r.fed.push(block);
        self.check_app_hash(y, block);
        for p in proposals {
            self.nodes[y as usize].on_message(p);
        }
        self.nodes[y as usize].on_block(block);
        self.drain(y, sink);
    }

    /// A full node commits once it holds a block and +2/3 of the power
    /// precommitted it in one round.
    fn full_node_check_commit(&mut self, y: NodeId) {
        let g = self.gossip.as_mut().expect("p2p model");
        let total = g.total;
        let r = &mut g.relay[y as usize];
        let mut decided = None;
        for round in 0..r.rounds_used {
            for &(b, p) in &r.votes[round][VoteKind::Precommit as usize].power {
                if b != NIL && p * 3 > total * 2 {
                    decided = Some((round as u32, b));
                }
            }
        }
        let Some((round, block)) = decided else {
            return;
        };
        if !r.has_block(block) {
            if !r.wanted.contains(&block) {
                r.wanted.push(block);
                self.wake_in(y);
            }
            return;
        }
        self.relay_commit(y, round, block);
        self.wake_out(y);
        self.wake_in(y);
    }

    /// Node `y` committed `block` in `round`: keep the commit for peers
    /// behind, and move to the next height.
    /// Returns when its consensus routine is done validating the block.
    fn relay_commit(&mut self, y: NodeId, round: u32, block: BlockId) -> SimTime {
        let g = self.gossip.as_mut().expect("p2p model");
        let exec = g
            .cpu
            .execute(self.blocks.get(&block).map_or(0, |b| b.bytes));
        let free = &mut g.cpu_free[y as usize];
        *free = (*free).max(self.now) + exec;
        let done = *free;
        let r = &mut g.relay[y as usize];
        let total = r.parts_of(block).map_or(1, |p| p.total);
        let h = r.height;
        if (round as usize) < r.rounds_used {
            std::mem::swap(
                &mut r.last_votes,
                &mut r.votes[round as usize][VoteKind::Precommit as usize],
            );
        } else {
            r.last_votes.reset();
        }
        r.last = Some(Last {
            height: h,
            round,
            block,
            total,
        });
        r.enter_height(h + 1);
        done
    }

    /// A full node more than a height behind syncs the blocks it missed.
    fn full_node_catch_up(&mut self, y: NodeId) {
        let tip = self.chain.tip();
        let r = &mut self.gossip().relay[y as usize];
        if tip >= r.height {
            r.last = None;
            r.enter_height(tip + 1);
            self.wake_in(y);
        }
    }

    /// After validator `node`'s state machine ran: its relay follows its
    /// height and round, and peers hear of a change.
    pub(super) fn relay_follow(&mut self, node: NodeId) {
        let s = &self.nodes[node as usize];
        let (h, round) = (s.height, s.round);
        let r = &mut self.gossip().relay[node as usize];
        if r.height == h && r.round == round {
            return;
        }
        if r.height != h {
            // Commits go through `relay_commit`; this is a jump (blocksync).
            r.last = None;
            r.enter_height(h);
        }
        r.round = round;
        self.wake_in(node);
        self.wake_out(node);
    }

    /// A validator's own vote or proposal enters its relay, for its routines to send.
    pub(super) fn gossip_own(&mut self, node: NodeId, msg: Message) {
        let n = self.nodes.len();
        let bytes_of = |b: BlockId| self.blocks.get(&b).map_or(1, |x| x.bytes);
        let total = match msg {
            Message::Proposal { block, .. } => parts_of(bytes_of(block)),
            _ => 0,
        };
        let g = self.gossip.as_mut().expect("p2p model");
        let r = &mut g.relay[node as usize];
        if msg.height() != r.height {
            return;
        }
        match msg {
            Message::Vote {
                kind,
                round,
                block,
                from,
                ..
            } => {
                let v = r.votes(round, kind, n);
                v.have.set(from as usize);
                v.block[from as usize] = block;
            }
            Message::Proposal { round, block, .. } => {
                let i = round as usize;
                if r.proposals.len() <= i {
                    r.proposals.resize(i + 1, None);
                }
                r.proposals[i] = Some(msg);
                if !r.has_block(block) {
                    r.parts.retain(|p| p.block != block);
                    let mut have = Bits::default();
                    for i in 0..total as usize {
                        have.set(i);
                    }
                    r.parts.push(Parts { block, total, have });
                }
                r.fed.push(block);
            }
        }
        self.wake_out(node);
    }

    /// A validator's state machine asks for a block it saw precommitted.
    pub(super) fn gossip_want(&mut self, node: NodeId, height: u64, block: BlockId) {
        let total = self.blocks.get(&block).map_or(1, |b| parts_of(b.bytes));
        let r = &mut self.gossip().relay[node as usize];
        if r.height != height || r.wanted.contains(&block) {
            return;
        }
        r.wanted.push(block);
        if r.parts_of(block).is_none() {
            r.parts.push(Parts {
                block,
                total,
                have: Bits::default(),
            });
        }
        self.wake_in(node);
    }

    /// Validator `node` committed: the relay keeps the commit. Returns when
    /// the node is done validating the block.
    pub(super) fn gossip_commit(&mut self, node: NodeId, round: u32, block: BlockId) -> SimTime {
        let done = self.relay_commit(node, round, block);
        self.relay_follow(node);
        self.wake_in(node);
        self.wake_out(node);
        done
    }

    /// A partition healed: every node forgets what it believed its peers
    /// hold (reconnected peers start a new `PeerState`) and looks again.
    pub(super) fn forget_known(&mut self) {
        let g = self.gossip();
        for k in &mut g.known {
            k.height = u64::MAX;
        }
        for node in 0..g.relay.len() as NodeId {
            self.wake_out(node);
        }
    }

    /// Connections of `nodes` broke (crash) or came back: both directions
    /// start empty and each side forgets what it believed of the other.
    pub(super) fn reconnect(&mut self, nodes: Option<&[NodeId]>) {
        let now = self.now;
        let g = self.gossip();
        for l in 0..g.links.len() {
            let (a, b) = (g.links[l].from, g.links[l].to);
            if nodes.is_none_or(|ns| ns.contains(&a) || ns.contains(&b)) {
                g.links[l].reset(now);
                g.known[l] = Known {
                    height: u64::MAX,
                    ..Known::new(g.validators)
                };
            }
        }
        let all: Vec<NodeId> = match nodes {
            Some(ns) => ns.to_vec(),
            None => (0..g.relay.len() as NodeId).collect(),
        };
        for node in all {
            self.wake_out(node);
            self.wake_in(node);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Bits, TxBytes};
    use crate::consensus::{Message, VoteKind};
    use crate::records::VecSink;
    use crate::scenario::Scenario;
    use crate::sim::Simulation;
    use crate::time::SimTime;

    /// The dense window of live transactions agrees with an ordered map
    /// (the structure it replaced) over random inserts in submission
    /// order, removals in any order, and range queries.
    #[test]
    fn tx_bytes_agree_with_an_ordered_map() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut map = std::collections::BTreeMap::<u64, u64>::new();
        let mut dense = TxBytes::default();
        let mut next = 0u64;
        for _ in 0..20_000 {
            match rng.random_range(0..10) {
                0..4 => {
                    // Submitted in order; some are refused (never inserted).
                    next += rng.random_range(1..4);
                    let b = rng.random_range(0..2_000);
                    map.insert(next, b);
                    dense.insert(next, b);
                }
                4..7 => {
                    let s = rng.random_range(next.saturating_sub(40)..=next + 2);
                    map.remove(&s);
                    dense.remove(s);
                }
                _ => {
                    let a = rng.random_range(next.saturating_sub(60)..=next + 5);
                    let b = a + rng.random_range(0..30);
                    let want: Vec<(u64, u64)> = map.range(a..=b).map(|(&s, &x)| (s, x)).collect();
                    assert_eq!(dense.range(a, b).collect::<Vec<_>>(), want, "{a}..={b}");
                    for s in a..=b {
                        assert_eq!(dense.live(s), map.contains_key(&s));
                    }
                }
            }
            assert_eq!(dense.lowest(), map.keys().next().copied());
        }
        assert_eq!(dense.range(0, u64::MAX).count(), map.len());
    }

    /// A precommit for a block carries its extension (CometBFT sends the
    /// extension and its signature only there); prevotes and nil
    /// precommits do not. Parts: 65,536 bytes each, then the rest.
    #[test]
    fn extension_bytes_ride_on_precommits_for_a_block() {
        use super::{BLOCK_PART_BYTES, Item, NIL, item_bytes, part_len};
        let vote = |kind, block| {
            Item::Msg(Message::Vote {
                kind,
                height: 1,
                round: 0,
                block,
                from: 0,
            })
        };
        let bytes = |item| item_bytes(&item, [160, 76], |_, _| 0);
        assert_eq!(bytes(vote(VoteKind::Precommit, 3)), 236);
        assert_eq!(bytes(vote(VoteKind::Precommit, NIL)), 160);
        assert_eq!(bytes(vote(VoteKind::Prevote, 3)), 160);
        assert_eq!(part_len(150_000, 0, 3), BLOCK_PART_BYTES);
        assert_eq!(part_len(150_000, 1, 3), BLOCK_PART_BYTES);
        assert_eq!(part_len(150_000, 2, 3), 150_000 - 2 * 65_536);
        assert_eq!(part_len(100, 0, 1), 100);
    }

    #[test]
    fn bits_minus_lists_what_the_peer_lacks() {
        let mut a = Bits::default();
        let mut b = Bits::default();
        for i in [0, 3, 64, 130] {
            a.set(i);
        }
        b.set(3);
        b.set(130);
        assert_eq!(a.minus(&b.0).collect::<Vec<_>>(), vec![0, 64]);
        assert_eq!(a.count(), 4);
        assert!(a.get(64) && !a.get(65));
    }

    /// Validators `a` and `c` joined only through full node `b`; 1,000,000
    /// B/s connections (1 µs a byte), 5 ms one way, a 10 ms flush throttle,
    /// routines that wake at once (1 ns sleep), no TCP window; a block of
    /// 150,000 + 2 × 110 (last-commit signatures) = 150,220 bytes: three
    /// parts of 65,536, 65,536 and 19,148 bytes.
    const LINE: &str = r#"
name = "line"
duration = "2s"
[network]
model = "p2p"
regions = ["r"]
latency_ms = [[5.0]]
jitter = { kind = "none" }
[network.p2p]
send_rate = 1000000
recv_rate = 1000000
flush_throttle_timeout = "10ms"
peer_gossip_sleep_duration = "1ns"
tcp_slow_start = false
[network.topology]
kind = "edges"
edges = [["a", "b"], ["b", "c"]]
[consensus]
rules = "cometbft-v1"
block_overhead_bytes = 150000
[[validators]]
name = "a"
region = "r"
[[validators]]
name = "c"
region = "r"
[[full_nodes]]
name = "b"
region = "r"
"#;

    /// Steps `sim` until `done` holds; the time it first does.
    fn time_when(sim: &mut Simulation, done: impl Fn(&Simulation) -> bool) -> SimTime {
        let mut sink = VecSink::default();
        for node in 0..sim.nodes.len() {
            sim.drain(node as u16, &mut sink);
        }
        while !done(sim) {
            let (t, e) = sim
                .queue
                .pop()
                .expect("it happens before the queue empties");
            sim.now = t;
            sim.handle(e, &mut sink);
            assert!(sim.error.is_none(), "{:?}", sim.error);
        }
        sim.now
    }

    /// Hand-computed (wire bytes: payload + 11 per 1,024-byte packet):
    ///
    /// On a→b at 0 the proposer writes the proposal (211 B, in the buffer
    /// at 0.211 ms, timer armed at 0 fires at 10 ms: arrives 15 ms), part
    /// 0 (66,240 B, in at 66.451 ms; a full buffer goes at once: arrives
    /// 71.451), part 1 (in at 132.691: arrives 137.691), part 2 (19,357 B,
    /// in at 152.048; the timer, re-armed every 10 ms from 10 ms, fires at
    /// 160: arrives 165) and its prevote (171 B, in at 152.219, same
    /// flush: arrives 165).
    ///
    /// b relays each at once. b→c: part 0 written at 71.451, in at
    /// 137.691, arrives 142.691; part 1 written at 137.691, in at 203.931,
    /// arrives 208.931; part 2 written at 165 waits for the connection to
    /// be free at 203.931, in at 223.288; the timer (armed at 81.451,
    /// re-armed every 10 ms) fires at 231.451: arrives 236.451 with the
    /// proposer's prevote behind it.
    #[test]
    fn a_three_part_block_crosses_a_line_of_three_at_the_computed_times() {
        let s = Scenario::from_toml_str(LINE, "line.toml").unwrap();
        let mut sim = Simulation::new(&s, 1);
        let proposer = sim.schedule.proposer(1, 0) as usize;
        let other = 1 - proposer;
        let b = 2;
        assert_eq!(sim.gossip.as_ref().unwrap().peers[other], vec![b as u16]);
        let has_block = |sim: &Simulation, node: usize| {
            let r = &sim.gossip.as_ref().unwrap().relay[node];
            r.parts.iter().any(|p| p.complete())
        };
        assert_eq!(
            time_when(&mut sim, |sim| has_block(sim, b)),
            SimTime(165_000_000)
        );
        let got_vote = |sim: &Simulation| {
            let r = &sim.gossip.as_ref().unwrap().relay[other];
            r.rounds_used > 0 && r.votes[0][VoteKind::Prevote as usize].have.get(proposer)
        };
        assert!(!got_vote(&sim));
        let t = time_when(&mut sim, |sim| has_block(sim, other));
        assert_eq!(t, SimTime(236_451_000));
        // The proposer's prevote reached `other` only through the full
        // node, and in the same flush as the last part (behind it).
        assert!(got_vote(&sim));
        let _ = Message::Vote {
            kind: VoteKind::Prevote,
            height: 1,
            round: 0,
            block: 0,
            from: 0,
        };
    }

    /// A node's mempool holds at most `mempool.size` transactions; the
    /// entry node refuses the next one, counted.
    #[test]
    fn a_full_mempool_rejects() {
        let s = Scenario::from_toml_str(
            &LINE.replacen("[[validators]]", "[mempool]\nsize = 2\n\n[[validators]]", 1),
            "line.toml",
        )
        .unwrap();
        let mut sim = Simulation::new(&s, 1);
        let accepted: Vec<bool> = (0..3).map(|seq| sim.p2p_submit(seq, 250)).collect();
        assert_eq!(accepted, vec![true, true, false]);
        let g = sim.gossip.as_ref().unwrap();
        assert_eq!((g.txs_rejected, g.pool_len[0]), (1, 2));
        // Committing the first frees a place.
        sim.gossip.as_mut().unwrap().remove_txs([0u64].into_iter());
        assert!(sim.p2p_submit(3, 250));
    }

    /// The same scenario run twice gives the same records, event for event.
    #[test]
    fn the_p2p_model_is_deterministic() {
        let s = Scenario::from_toml_str(&LINE.replace("2s", "20s"), "line.toml").unwrap();
        let run = || {
            let mut sink = VecSink::default();
            let summary = crate::sim::run(&s, 3, &mut sink, &mut |_| {}).unwrap();
            (format!("{summary:?}"), sink.blocks)
        };
        let (a, blocks) = run();
        assert_eq!((a.clone(), blocks.clone()), run());
        assert!(
            blocks.len() > 5,
            "the line commits: {} blocks",
            blocks.len()
        );
    }
}
