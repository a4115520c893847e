//! The simulation: owns the queue, the network, every validator's consensus
//! state and the chain's bookkeeping, and handles each [`Event`] in one
//! `match`. Consensus messages are delivered one by one (the reference
//! semantics), each with its own latency draw.

mod economy;
mod execution;
mod gossip;
mod market;
mod quorum;
mod requests;
mod upgrades;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::consensus::proposer::ProposerSchedule;
use crate::consensus::round::{Action, RoundState};
use crate::consensus::timeouts::Timeouts;
use crate::consensus::{BlockId, Message, Step, VoteKind};
use crate::event::Event;
use crate::mempool::{Mempool, TxKey, TxKind};
use crate::network::{FaultAction, Network, NodeId};
use crate::queue::EventQueue;
use crate::records::{BlockRecord, NodeRecord, RecordSink, RoundRecord};
use crate::rng::{self, Purpose, Streams};
use crate::scenario::{Behaviour, Scenario, ValidatorSpec, VoteDelivery};
use crate::summary::{ConsensusSummary, RoundsPerHeight, Sketch, Summary};
use crate::time::{SimDuration, SimTime};

/// Bytes that each validator's signature adds to a block's last commit
/// (CometBFT `CommitSig`: flag, 20-byte address, timestamp, 64-byte
/// signature, framing; see `scenarios/SOURCES.md`).
const COMMIT_SIG_BYTES: u64 = 110;

/// How often (in events) the progress callback is called.
const PROGRESS_EVERY: u64 = 1 << 16;

#[derive(Clone, Debug)]
struct Block {
    height: u64,
    proposer: NodeId,
    txs: Vec<TxKey>,
    bytes: u64,
    proposed_at: SimTime,
    /// Inference requests every validator executes (replicated architecture).
    requests: Vec<execution::BlockRequest>,
    /// The proposer's app hash after the previous height (in the header).
    app_hash: u64,
}

/// Blocks of heights more than this far below the committed tip are forgotten.
const BLOCKS_KEPT_BELOW_TIP: u64 = 8;

#[derive(Clone, Debug, Default)]
struct NodeStats {
    proposals: u64,
    votes_sent: u64,
    messages_received: u64,
    heights_committed: u64,
    heights_synced: u64,
}

/// A round as seen across honest validators, until its height is committed.
#[derive(Clone, Copy, Debug)]
struct RoundLog {
    proposer: NodeId,
    started: SimTime,
    proposal: Option<SimTime>,
}

/// The chain as committed by honest validators.
#[derive(Clone, Debug, Default)]
struct Chain {
    /// First block committed by an honest validator at each height above
    /// `forgotten` (index = height − 1 − forgotten): heights below every
    /// validator's current one are dropped (no one commits them again), so
    /// that memory does not grow with simulated time.
    first: VecDeque<BlockId>,
    forgotten: u64,
    /// When the tip was first committed (0 before any height).
    last_commit: SimTime,
    /// Rounds used per height (commit round + 1): their sum and largest,
    /// and the heights that needed more than one.
    rounds_sum: u64,
    rounds_max: Option<u32>,
    heights_round_gt0: u64,
    violated: BTreeSet<u64>,
    intervals_s: Sketch,
    /// Transactions' latency, submitted to committed.
    tx_latency_s: Sketch,
    txs_committed: u64,
    longest_stall: SimDuration,
}

impl Chain {
    fn tip(&self) -> u64 {
        self.forgotten + self.first.len() as u64
    }

    /// Forgets the heights below `lowest`.
    fn forget_below(&mut self, lowest: u64) {
        while self.forgotten + 1 < lowest && !self.first.is_empty() {
            self.first.pop_front();
            self.forgotten += 1;
        }
    }
}

pub struct Simulation {
    scenario: Scenario,
    seed: u64,
    specs: Vec<ValidatorSpec>,
    now: SimTime,
    end: SimTime,
    queue: EventQueue<Event>,
    net: Network,
    nodes: Vec<RoundState>,
    stats: Vec<NodeStats>,
    honest: Vec<bool>,
    equivocating: Vec<bool>,
    schedule: ProposerSchedule,
    timeouts: Timeouts,
    create_empty_blocks: bool,
    empty_blocks_interval: SimDuration,
    skip_timeout_commit: bool,
    total_power: u64,
    vote_bytes: u64,
    block_base_bytes: u64,
    max_block_bytes: u64,
    blocks: BTreeMap<BlockId, Block>,
    next_block: BlockId,
    mempool: Mempool,
    chain: Chain,
    round_log: BTreeMap<(u64, u32), RoundLog>,
    /// Conflicting proposals of equivocating proposers, per (height, round).
    equivocations: BTreeMap<(u64, u32), [BlockId; 2]>,
    /// (node, height, round) where an equivocator already double-precommitted.
    double_signed: BTreeSet<(NodeId, u64, u32)>,
    faults: Vec<FaultAction>,
    /// What each validator broadcast at its current height (per side, with
    /// its size), for gossip to send again after a heal or a recovery.
    sent: Vec<Vec<([Message; 2], u64)>>,
    catchup_pending: Vec<bool>,
    /// When each validator starts (or started) round 0 of its current height.
    start_at: Vec<SimTime>,
    /// Every time at which a scheduled fault takes effect or ends, sorted.
    fault_times: Vec<SimTime>,
    vote_delivery: VoteDelivery,
    /// Every validator is honest (the quorum fast path's first condition).
    all_honest: bool,
    planner: quorum::Planner,
    /// The quorum fast path's plan for the height being decided, if it took it.
    plan: Option<quorum::Plan>,
    heights_fast: u64,
    events_processed: u64,
    inf: requests::Inference,
    econ: economy::Economy,
    exec: execution::Execution,
    market: Option<market::Market>,
    /// Model upgrades (`[[upgrades]]`).
    upg: upgrades::Upgrades,
    /// Multiplier on every stream's arrival rate (issue #12's demand response and shocks).
    demand_factor: f64,
    /// When each transaction in the mempool was submitted, by sequence number.
    tx_submitted: BTreeMap<u64, SimTime>,
    /// The p2p model's links and relays (`network.model = "p2p"`), or
    /// `None` for direct delivery.
    gossip: Option<gossip::Gossip>,
    /// Set when the run must stop: a broken invariant (a bug), or a guard
    /// of `[limits]` that the input passed.
    error: Option<(SimErrorKind, String)>,
}

/// Why a run stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimErrorKind {
    /// A broken invariant: a bug of the simulator.
    Internal,
    /// The scenario asks for more than `[limits]` allows (requests in
    /// flight past `limits.max_in_flight`): a problem of the input.
    Overload,
    /// The caller asked the run to stop (the Python package's Ctrl-C).
    Interrupted,
}

/// A run that had to stop.
#[derive(Debug, thiserror::Error)]
#[error("the run stopped at {time_s:.3} s: {message}")]
pub struct SimError {
    pub kind: SimErrorKind,
    pub time_s: f64,
    pub message: String,
}

impl Simulation {
    /// Builds a run of a resolved scenario with `seed`.
    pub fn new(scenario: &Scenario, seed: u64) -> Simulation {
        let streams = Streams::new(seed);
        let specs = scenario.validator_specs();
        let n = specs.len();
        let powers: Arc<[u64]> = specs.iter().map(|s| s.power).collect::<Vec<_>>().into();
        let mut net = Network::new(scenario, &streams);
        for (i, s) in specs.iter().enumerate() {
            if s.behaviour == Behaviour::Crashed {
                net.faults.crashed[i] = true;
            }
        }
        let c = &scenario.consensus;
        let mut sim = Simulation {
            scenario: scenario.clone(),
            seed,
            now: SimTime::ZERO,
            end: SimTime::ZERO + scenario.duration,
            queue: EventQueue::new(),
            nodes: (0..n)
                .map(|i| RoundState::new(i as NodeId, powers.clone(), scenario.consensus.rules))
                .collect(),
            stats: vec![NodeStats::default(); n],
            honest: specs
                .iter()
                .map(|s| s.behaviour == Behaviour::Honest)
                .collect(),
            equivocating: specs
                .iter()
                .map(|s| s.behaviour == Behaviour::Equivocating)
                .collect(),
            schedule: ProposerSchedule::new(&powers),
            timeouts: Timeouts::from_config(c),
            create_empty_blocks: c.create_empty_blocks,
            empty_blocks_interval: c.create_empty_blocks_interval,
            skip_timeout_commit: c.skip_timeout_commit,
            total_power: powers.iter().sum(),
            vote_bytes: c.vote_bytes,
            block_base_bytes: c.block_overhead_bytes + COMMIT_SIG_BYTES * n as u64,
            max_block_bytes: c.max_block_bytes,
            blocks: BTreeMap::new(),
            next_block: 0,
            mempool: Mempool::new(
                scenario.mempool.tx_rate_per_s,
                scenario.mempool.tx_bytes,
                streams.stream(Purpose::Mempool, 0),
            ),
            chain: Chain::default(),
            round_log: BTreeMap::new(),
            equivocations: BTreeMap::new(),
            double_signed: BTreeSet::new(),
            faults: Vec::new(),
            sent: vec![Vec::new(); n],
            catchup_pending: vec![false; n],
            start_at: vec![SimTime::ZERO; n],
            fault_times: Vec::new(),
            vote_delivery: c.vote_delivery,
            all_honest: specs.iter().all(|s| s.behaviour == Behaviour::Honest),
            planner: quorum::Planner::default(),
            plan: None,
            heights_fast: 0,
            events_processed: 0,
            inf: requests::Inference::new(scenario, &streams),
            upg: upgrades::Upgrades::default(),
            econ: economy::Economy::new(scenario),
            exec: execution::Execution::new(scenario, &streams),
            market: None,
            demand_factor: 1.0,
            tx_submitted: BTreeMap::new(),
            gossip: (scenario.network.model == crate::scenario::NetworkModel::P2p)
                .then(|| gossip::Gossip::new(scenario, &streams, powers.clone())),
            error: None,
            specs,
            net,
        };
        // The fault timetable, with each `until` as its own undo event.
        // Faults at time 0 are in force before genesis.
        for f in &scenario.faults {
            let action = Network::resolve_fault(
                scenario,
                f.kind,
                &f.validators,
                &f.groups,
                f.factor,
                f.rate,
            );
            let undo = f.until.map(|u| (u, sim.net.inverse(&action)));
            if f.at.0 == 0 {
                sim.net.apply_fault(&action);
            } else {
                sim.push_fault(SimTime::ZERO + f.at, action);
            }
            if let Some((u, a)) = undo {
                sim.push_fault(SimTime::ZERO + u, a);
            }
        }
        if sim.mempool.rate_per_s > 0.0 {
            let first = sim.next_arrival_gap();
            sim.queue.push(SimTime::ZERO + first, Event::TxArrival);
        }
        let hw = sim
            .inf
            .node_hardware()
            .iter()
            .map(|h| scenario.hardware[h].usd_per_hour)
            .collect();
        sim.market = market::Market::new(scenario, &streams, hw, scenario.gpu_nodes.len());
        sim.upg = upgrades::Upgrades::new(scenario, sim.inf.num_nodes());
        sim.schedule_upgrades();
        sim.start_workload();
        if let Some(m) = &sim.market {
            sim.queue
                .push(SimTime::ZERO + m.interval(), Event::MarketTick);
        }
        // Genesis: every validator starts height 1 at time 0.
        for i in 0..n {
            if !sim.net.faults.crashed[i] {
                sim.begin_round0(i as NodeId);
            }
        }
        sim
    }

    fn push_fault(&mut self, at: SimTime, action: FaultAction) {
        self.faults.push(action);
        let i = self.fault_times.partition_point(|&t| t <= at);
        self.fault_times.insert(i, at);
        self.queue.push(
            at,
            Event::Fault {
                index: (self.faults.len() - 1) as u32,
            },
        );
    }

    fn next_arrival_gap(&mut self) -> SimDuration {
        SimDuration::from_secs_f64(rng::exponential(
            &mut self.mempool.arrivals,
            1.0 / self.mempool.rate_per_s,
        ))
    }

    /// Runs to the end of the scenario, streaming records into `sink`, and
    /// calling `progress` with the simulated time now and then.
    pub fn run(
        self,
        sink: &mut dyn RecordSink,
        progress: &mut dyn FnMut(SimTime),
    ) -> Result<Summary, SimError> {
        self.run_until_stopped(sink, progress, &AtomicBool::new(false))
    }

    /// [`Simulation::run`] that also stops, with [`SimErrorKind::Interrupted`],
    /// once `stop` is set: it is read as often as `progress` is called, so a
    /// run ends within a few milliseconds of being asked.
    pub fn run_until_stopped(
        mut self,
        sink: &mut dyn RecordSink,
        progress: &mut dyn FnMut(SimTime),
        stop: &AtomicBool,
    ) -> Result<Summary, SimError> {
        // Carry out what genesis asked for (proposals, timers).
        for node in 0..self.nodes.len() {
            self.drain(node as NodeId, sink);
        }
        while let Some((t, event)) = self.queue.pop() {
            if t > self.end {
                break; // later events do not matter: the run ends here
            }
            self.now = t;
            self.events_processed += 1;
            self.handle(event, sink);
            if let Some((kind, message)) = self.error.take() {
                return Err(SimError {
                    kind,
                    time_s: self.now.as_secs_f64(),
                    message,
                });
            }
            if self.events_processed.is_multiple_of(PROGRESS_EVERY) {
                progress(self.now);
                if stop.load(Ordering::Relaxed) {
                    return Err(SimError {
                        kind: SimErrorKind::Interrupted,
                        time_s: self.now.as_secs_f64(),
                        message: "interrupted".into(),
                    });
                }
            }
        }
        self.now = self.end;
        progress(self.end);
        Ok(self.finish(sink))
    }

    fn alive(&self, node: NodeId) -> bool {
        !self.net.faults.crashed[node as usize]
    }

    /// The one place where every event is handled.
    fn handle(&mut self, event: Event, sink: &mut dyn RecordSink) {
        match event {
            Event::Deliver { to, msg } => self.on_deliver(to, msg, sink),
            Event::Timeout {
                node,
                height,
                round,
                step,
            } => {
                if self.alive(node) {
                    self.nodes[node as usize].on_timeout(height, round, step);
                    self.drain(node, sink);
                }
            }
            Event::StartHeight { node, height } => {
                let s = &self.nodes[node as usize];
                if self.alive(node) && s.height == height && s.step == Step::NewHeight {
                    self.begin_round0(node);
                    self.drain(node, sink);
                }
            }
            Event::EmptyBlockTimer { node, height } => {
                let s = &self.nodes[node as usize];
                if self.alive(node) && s.height == height && s.step == Step::NewHeight {
                    self.mempool.waiting.retain(|&w| w != node);
                    self.enter_round(node, 0);
                    self.drain(node, sink);
                }
            }
            Event::BlockFetched {
                node,
                height,
                block,
            } => {
                if self.alive(node) && self.nodes[node as usize].height == height {
                    self.nodes[node as usize].on_block(block);
                    self.drain(node, sink);
                }
            }
            Event::Quorum { node, height, kind } => self.on_quorum(node, height, kind, sink),
            Event::CatchUp { node, rearm } => self.on_catch_up(node, rearm, sink),
            Event::Fault { index } => self.on_fault(index as usize),
            Event::GossipWake { link } => self.on_gossip_wake(link),
            Event::LinkArrive { link } => self.on_link_arrive(link, sink),
            Event::TxArrival => self.on_tx_arrival(sink),
            Event::MarketTick => self.on_market_tick(sink),
            Event::Arrival { stream } => self.on_arrival(stream, sink),
            Event::GpuStepEnd { node, run } => self.on_gpu_step_end(node, run, sink),
            Event::GpuServiceDone { node, slot, id } => {
                self.on_gpu_service_done(node, slot, id, sink)
            }
            Event::ProofDone { slot, id } => self.on_proof_done(slot, id, sink),
            Event::ReexecDone { slot, id } => self.on_reexec_done(slot, id, sink),
            Event::ChallengeEnd { slot, id } => self.on_challenge_end(slot, id, sink),
            Event::Abandon { slot, id } => self.on_abandon(slot, id, sink),
            Event::UpgradeStart { index } => self.on_upgrade_start(index),
            Event::WeightsLoaded { node, index } => self.on_weights_loaded(node, index),
            Event::StreamsSwitch { index } => self.on_streams_switch(index),
        }
    }

    fn on_deliver(&mut self, to: NodeId, msg: Message, sink: &mut dyn RecordSink) {
        if !self.alive(to) {
            return;
        }
        // Executing a block blocks a validator's consensus routine.
        let busy = self.exec.busy_until[to as usize];
        if busy > self.now {
            self.queue.push(busy, Event::Deliver { to, msg });
            return;
        }
        self.stats[to as usize].messages_received += 1;
        let h = self.nodes[to as usize].height;
        let mh = msg.height();
        if mh < h {
            return;
        }
        if mh > h {
            // A peer is ahead: it will gossip the commit this validator missed
            // (CometBFT sends a lagging peer the last commit's precommits).
            self.request_catch_up(to, msg.from());
            if mh > h + 1 {
                return;
            }
        }
        if let Message::Proposal {
            height,
            round,
            from,
            block,
            ..
        } = msg
        {
            if self.schedule.proposer(height, round) != from {
                return; // not from the round's proposer: invalid
            }
            self.check_app_hash(to, block);
        }
        self.nodes[to as usize].on_message(msg);
        self.drain(to, sink);
    }

    /// The quorum fast path hands `node` the votes of `kind` it has received
    /// by now, all at once.
    fn on_quorum(&mut self, node: NodeId, height: u64, kind: VoteKind, sink: &mut dyn RecordSink) {
        let Some(plan) = self.plan.as_ref().filter(|p| p.height == height) else {
            self.error = Some((
                SimErrorKind::Internal,
                format!(
                    "quorum fast path: no plan for height {height} when validator {node}'s votes came in"
                ),
            ));
            return;
        };
        let i = node as usize;
        let power = match kind {
            VoteKind::Prevote => plan.prevote_power[i],
            VoteKind::Precommit => plan.precommit_power[i],
        };
        let block = plan.block;
        if self.nodes[i].height == height {
            self.nodes[i].on_votes(kind, 0, block, power);
            self.drain(node, sink);
        }
    }

    /// Tries the quorum fast path for the round-0 proposal of `block` at
    /// `height` by `proposer` (see `sim/quorum.rs` for the conditions).
    fn plan_height(&mut self, proposer: NodeId, height: u64, block: BlockId, bytes: u64) {
        self.plan = None;
        let fresh = self.vote_delivery == VoteDelivery::Quorum
            && self.gossip.is_none()
            && !self.exec.replicated
            && self.all_honest
            && self.create_empty_blocks
            && !self.skip_timeout_commit
            && self.net.faults.side.is_none()
            && self.net.faults.crashed.iter().all(|c| !c)
            && self.catchup_pending.iter().all(|c| !c)
            && self.nodes.iter().all(|s| s.is_fresh_at(height));
        if !fresh {
            return;
        }
        let next_fault = self
            .fault_times
            .get(self.fault_times.partition_point(|&t| t < self.now))
            .copied();
        let powers: Vec<u64> = self.specs.iter().map(|s| s.power).collect();
        let h = quorum::Height {
            net: &self.net,
            powers: &powers,
            start: &self.start_at,
            height,
            proposer,
            block,
            block_bytes: bytes,
            vote_bytes: self.vote_bytes,
            now: self.now,
            timeout_propose: self.timeouts.propose(0),
            timeout_commit: self.timeouts.commit,
            end: self.end,
            next_fault,
        };
        let Some(t) = self.planner.plan(&h) else {
            return;
        };
        for (node, (&pv, &pc)) in t.prevote_quorum.iter().zip(&t.precommit_quorum).enumerate() {
            let node = node as NodeId;
            self.queue.push(
                pv,
                Event::Quorum {
                    node,
                    height,
                    kind: VoteKind::Prevote,
                },
            );
            self.queue.push(
                pc,
                Event::Quorum {
                    node,
                    height,
                    kind: VoteKind::Precommit,
                },
            );
        }
        for (st, r) in self.stats.iter_mut().zip(&t.received) {
            st.messages_received += r;
        }
        self.heights_fast += 1;
        self.plan = Some(t.plan);
    }

    /// Whether a timer `node` schedules would do nothing when it fires:
    /// stale already (`RoundState::timer_is_spent`), or the propose timer
    /// of a height the quorum fast path planned, whose proposal reaches
    /// every validator before its propose timeout (a condition of the plan,
    /// checked as the votes are cast).
    fn timer_is_spent(&self, node: NodeId, height: u64, round: u32, step: Step) -> bool {
        self.nodes[node as usize].timer_is_spent(height, round, step)
            || (step == Step::Propose
                && round == 0
                && self.plan.as_ref().is_some_and(|p| p.height == height))
    }

    /// A proposal built on an app hash other than `node`'s is invalid to it.
    fn check_app_hash(&mut self, node: NodeId, block: BlockId) {
        if self.exec.replicated
            && let Some(b) = self.blocks.get(&block)
            && b.app_hash != self.exec.app_hash[node as usize]
        {
            self.nodes[node as usize].reject(block);
        }
    }

    fn request_catch_up(&mut self, node: NodeId, peer: NodeId) {
        if self.catchup_pending[node as usize] {
            return;
        }
        self.catchup_pending[node as usize] = true;
        // A status round trip with the peer before blocks are requested.
        let rtt = SimDuration(2 * self.net.region_latency(node, peer));
        self.queue
            .push(self.now + rtt, Event::CatchUp { node, rearm: false });
    }

    /// Blocksync: adopt the honest chain's tip, then rejoin consensus. After a
    /// crash (`rearm`), a validator that is not behind re-arms its step's timer.
    fn on_catch_up(&mut self, node: NodeId, rearm: bool, sink: &mut dyn RecordSink) {
        self.catchup_pending[node as usize] = false;
        if !self.alive(node) {
            return;
        }
        let tip = self.chain.tip();
        let s = &mut self.nodes[node as usize];
        if tip >= s.height {
            self.stats[node as usize].heights_synced += tip + 1 - s.height;
            s.sync_to(tip + 1);
            self.begin_round0(node);
        } else if rearm {
            let (height, round, step) = (s.height, s.round, s.step);
            match step {
                Step::NewHeight => self.begin_round0(node),
                _ => s.outbox.push(Action::Schedule {
                    step,
                    height,
                    round,
                }),
            }
        }
        self.drain(node, sink);
    }

    fn on_fault(&mut self, index: usize) {
        let action = self.faults[index].clone();
        self.net.apply_fault(&action);
        match action {
            FaultAction::Recover(ids) => {
                for &id in &ids {
                    self.catchup_pending[id as usize] = true;
                    self.queue.push(
                        self.now,
                        Event::CatchUp {
                            node: id,
                            rearm: true,
                        },
                    );
                }
                if self.gossip.is_some() {
                    self.reconnect(Some(&ids));
                    return;
                }
                // Peers gossip their current votes to the returning validators.
                for from in 0..self.nodes.len() as NodeId {
                    if !ids.contains(&from) {
                        self.regossip(from, Some(&ids));
                    }
                }
            }
            // Links are back: every validator's gossip sends what peers lack.
            FaultAction::Heal if self.gossip.is_some() => self.forget_known(),
            FaultAction::Heal => {
                for from in 0..self.nodes.len() as NodeId {
                    self.regossip(from, None);
                }
            }
            _ => {}
        }
    }

    /// Sends again what `from` broadcast at its current height, to `only`
    /// those validators or to all. Duplicates are harmless: a validator
    /// counts one vote per sender and round.
    fn regossip(&mut self, from: NodeId, only: Option<&[NodeId]>) {
        if !self.alive(from) {
            return;
        }
        let height = self.nodes[from as usize].height;
        let msgs: Vec<_> = self.sent[from as usize]
            .iter()
            .filter(|(m, _)| m[0].height() == height)
            .copied()
            .collect();
        for (pair, bytes) in msgs {
            self.send_by_side(from, pair, bytes, only);
        }
    }

    fn on_tx_arrival(&mut self, sink: &mut dyn RecordSink) {
        let gap = self.next_arrival_gap();
        self.queue.push(self.now + gap, Event::TxArrival);
        let tx = self
            .econ
            .tx(TxKind::Background, self.mempool.tx_bytes, u16::MAX);
        self.submit_tx(tx, sink);
    }

    /// A transaction enters the mempool; validators waiting for one start round 0.
    fn submit_tx(&mut self, tx: crate::mempool::Tx, sink: &mut dyn RecordSink) {
        let bytes = tx.bytes as u64;
        let key = self.mempool.push(tx);
        if self.gossip.is_some() && !self.p2p_submit(key.1, bytes) {
            self.mempool.take(&[key]);
            return;
        }
        self.tx_submitted.insert(key.1, self.now);
        let waiting = std::mem::take(&mut self.mempool.waiting);
        for node in waiting {
            let s = &self.nodes[node as usize];
            if self.alive(node) && s.step == Step::NewHeight {
                self.enter_round(node, 0);
                self.drain(node, sink);
            }
        }
    }

    /// Round 0 of the node's height, unless it must wait for transactions.
    fn begin_round0(&mut self, node: NodeId) {
        self.start_at[node as usize] = self.now;
        if !self.create_empty_blocks && self.mempool.is_empty() {
            if !self.mempool.waiting.contains(&node) {
                self.mempool.waiting.push(node);
            }
            if self.empty_blocks_interval.0 > 0 {
                let height = self.nodes[node as usize].height;
                self.queue.push(
                    self.now + self.empty_blocks_interval,
                    Event::EmptyBlockTimer { node, height },
                );
            }
            return;
        }
        self.enter_round(node, 0);
    }

    fn enter_round(&mut self, node: NodeId, round: u32) {
        let height = self.nodes[node as usize].height;
        let proposer = self.schedule.proposer(height, round);
        if self.honest[node as usize] {
            let now = self.now;
            self.round_log.entry((height, round)).or_insert(RoundLog {
                proposer,
                started: now,
                proposal: None,
            });
        }
        self.nodes[node as usize].start_round(round, proposer == node);
    }

    /// Carries out what the node's state machine asked for, until it asks nothing more.
    fn drain(&mut self, node: NodeId, sink: &mut dyn RecordSink) {
        let mut actions = std::mem::take(&mut self.nodes[node as usize].outbox);
        while !actions.is_empty() {
            for &action in &actions {
                self.perform(node, action, sink);
            }
            // The outbox gets the emptied buffer back and the actions just
            // performed queued, if any, go next: no allocation per event.
            actions.clear();
            std::mem::swap(&mut actions, &mut self.nodes[node as usize].outbox);
        }
        if self.gossip.is_some() {
            self.relay_follow(node);
        }
    }

    fn perform(&mut self, node: NodeId, action: Action, sink: &mut dyn RecordSink) {
        let current = self.nodes[node as usize].height;
        match action {
            Action::Propose {
                height,
                round,
                pol_round,
                block,
            } => {
                if height == current {
                    self.propose(node, height, round, pol_round, block);
                }
            }
            Action::Vote {
                kind,
                height,
                round,
                block,
            } => self.send_vote(node, kind, height, round, block),
            Action::Schedule {
                step,
                height,
                round,
            } => {
                if self.timer_is_spent(node, height, round, step) {
                    return; // it would do nothing when it fires
                }
                let after = match step {
                    Step::Propose => self.timeouts.propose(round),
                    Step::Prevote => self.timeouts.prevote(round),
                    Step::Precommit => self.timeouts.precommit(round),
                    Step::NewHeight => self.timeouts.commit,
                };
                self.queue.push(
                    self.now + after,
                    Event::Timeout {
                        node,
                        height,
                        round,
                        step,
                    },
                );
            }
            Action::EnterRound { height, round } => {
                if height == current {
                    self.enter_round(node, round);
                }
            }
            Action::Commit {
                height,
                round,
                block,
            } => self.on_commit(node, height, round, block, sink),
            Action::FetchBlock { height, block } if self.gossip.is_some() => {
                self.gossip_want(node, height, block);
            }
            Action::FetchBlock { height, block } => {
                let Some(b) = self.blocks.get(&block) else {
                    return;
                };
                let peer = b.proposer;
                let delay = SimDuration(2 * self.net.region_latency(node, peer))
                    + self
                        .net
                        .send_delay(peer, node, b.bytes, [height, u64::MAX, 9, block as u64])
                        .unwrap_or_default();
                self.queue.push(
                    self.now + delay,
                    Event::BlockFetched {
                        node,
                        height,
                        block,
                    },
                );
            }
        }
    }

    /// A block filled from the mempool up to `max_block_bytes` and the gas limit.
    fn new_block(&mut self, node: NodeId, height: u64) -> BlockId {
        let room = self.max_block_bytes.saturating_sub(self.block_base_bytes);
        let compute = if self.exec.replicated {
            self.scenario.replicated.max_block_tokens
        } else {
            u64::MAX
        };
        // Under the p2p model a proposer reaps only what reached its mempool.
        let held = |seq: u64| self.gossip.as_ref().is_none_or(|g| g.holds(node, seq));
        let sel = self.mempool.select(
            room,
            self.econ.block_gas_limit(),
            self.econ.base_fee,
            compute,
            &held,
        );
        let requests = sel
            .keys
            .iter()
            .filter_map(|k| match self.mempool.get(k)?.kind {
                TxKind::Inference(slot, id) => self.block_request(slot, id),
                _ => None,
            })
            .collect();
        let id = self.next_block;
        self.next_block += 1;
        let app_hash = self.exec.app_hash[node as usize];
        self.blocks.insert(
            id,
            Block {
                height,
                proposer: node,
                txs: sel.keys,
                bytes: self.block_base_bytes + sel.bytes,
                proposed_at: self.now,
                requests,
                app_hash,
            },
        );
        id
    }

    fn propose(
        &mut self,
        node: NodeId,
        height: u64,
        round: u32,
        pol_round: i32,
        reuse: Option<BlockId>,
    ) {
        self.stats[node as usize].proposals += 1;
        if let Some(log) = self.round_log.get_mut(&(height, round)) {
            log.proposal.get_or_insert(self.now);
        }
        let own = if self.equivocating[node as usize] && reuse.is_none() {
            // Two conflicting blocks, one to each side of the honest validators.
            let pair = [self.new_block(node, height), self.new_block(node, height)];
            self.equivocations.insert((height, round), pair);
            let msgs = pair.map(|block| Message::Proposal {
                height,
                round,
                block,
                pol_round,
                from: node,
            });
            let bytes = self.blocks[&pair[0]].bytes;
            self.broadcast_by_side(node, msgs, bytes);
            msgs[self.side(node)]
        } else {
            let block = reuse.unwrap_or_else(|| self.new_block(node, height));
            let msg = Message::Proposal {
                height,
                round,
                block,
                pol_round,
                from: node,
            };
            let bytes = self
                .blocks
                .get(&block)
                .map_or(self.block_base_bytes, |b| b.bytes);
            if round == 0 && reuse.is_none() {
                self.plan_height(node, height, block, bytes);
            }
            if self.gossip.is_some() {
                self.gossip_own(node, msg);
            } else {
                self.broadcast(node, msg, bytes);
            }
            msg
        };
        self.nodes[node as usize].on_message(own);
    }

    fn send_vote(&mut self, node: NodeId, kind: VoteKind, height: u64, round: u32, block: BlockId) {
        self.stats[node as usize].votes_sent += 1;
        let vote = |kind, block| Message::Vote {
            kind,
            height,
            round,
            block,
            from: node,
        };
        if self.equivocating[node as usize]
            && let Some(&pair) = self.equivocations.get(&(height, round))
        {
            // Double-sign: each side gets prevote and precommit for its own
            // block at once, whatever this node's own view says.
            self.econ.on_double_sign(node);
            match kind {
                VoteKind::Prevote => {
                    self.broadcast_by_side(
                        node,
                        pair.map(|b| vote(VoteKind::Prevote, b)),
                        self.vote_bytes,
                    );
                    self.broadcast_by_side(
                        node,
                        pair.map(|b| vote(VoteKind::Precommit, b)),
                        self.vote_bytes,
                    );
                    self.double_signed.insert((node, height, round));
                }
                VoteKind::Precommit if self.double_signed.contains(&(node, height, round)) => {}
                VoteKind::Precommit => {
                    self.broadcast_by_side(
                        node,
                        pair.map(|b| vote(VoteKind::Precommit, b)),
                        self.vote_bytes,
                    );
                }
            }
            return;
        }
        if self.gossip.is_some() {
            self.gossip_own(node, vote(kind, block));
            return;
        }
        if let Some(plan) = self.plan.as_ref().filter(|p| p.height == height) {
            // The fast path already accounted for this vote's deliveries:
            // check that it is cast when and for what the plan said.
            let i = node as usize;
            let at = match kind {
                VoteKind::Prevote => plan.prevote_at[i],
                VoteKind::Precommit => plan.precommit_at[i],
            };
            if round != 0 || block != plan.block || at != self.now {
                self.error = Some((
                    SimErrorKind::Internal,
                    format!(
                        "quorum fast path mispredicted: validator {node} cast its {kind:?} of height {height} round {round} for block {block} at {:.9} s; predicted block {} at {:.9} s",
                        self.now.as_secs_f64(),
                        plan.block,
                        at.as_secs_f64()
                    ),
                ));
            }
            let msg = vote(kind, block);
            self.sent[i].retain(|(m, _)| m[0].height() == height);
            self.sent[i].push(([msg, msg], self.vote_bytes));
            return;
        }
        self.broadcast(node, vote(kind, block), self.vote_bytes);
    }

    /// Which of an equivocator's two messages a node gets: its partition side
    /// when a partition is in force, else the parity of its index.
    fn side(&self, node: NodeId) -> usize {
        match self.net.faults.side.as_ref().and_then(|s| s[node as usize]) {
            Some(g) => (g % 2) as usize,
            None => (node % 2) as usize,
        }
    }

    fn broadcast(&mut self, from: NodeId, msg: Message, bytes: u64) {
        self.broadcast_by_side(from, [msg, msg], bytes);
    }

    fn broadcast_by_side(&mut self, from: NodeId, msgs: [Message; 2], bytes: u64) {
        let sent = &mut self.sent[from as usize];
        if sent
            .first()
            .is_some_and(|(m, _)| m[0].height() != msgs[0].height())
        {
            sent.clear();
        }
        sent.push((msgs, bytes));
        self.send_by_side(from, msgs, bytes, None);
    }

    fn send_by_side(
        &mut self,
        from: NodeId,
        msgs: [Message; 2],
        bytes: u64,
        only: Option<&[NodeId]>,
    ) {
        for to in 0..self.nodes.len() as NodeId {
            if to == from || only.is_some_and(|o| !o.contains(&to)) {
                continue;
            }
            let msg = msgs[self.side(to)];
            if let Some(delay) = self.net.send_delay(from, to, bytes, msg.key()) {
                self.queue
                    .push(self.now + delay, Event::Deliver { to, msg });
            }
        }
    }

    fn on_commit(
        &mut self,
        node: NodeId,
        height: u64,
        round: u32,
        block: BlockId,
        sink: &mut dyn RecordSink,
    ) {
        let i = node as usize;
        self.stats[i].heights_committed += 1;
        // Under the p2p model, validating the block (`ApplyBlock`) runs
        // within timeout_commit and delays the next height when longer.
        let validated = if self.gossip.is_some() {
            self.gossip_commit(node, round, block)
        } else {
            self.now
        };
        // The next height starts after timeout_commit, or at once when
        // skip_timeout_commit is set and every validator's precommit is in.
        let all_in = self.skip_timeout_commit
            && self.nodes[i].precommit_power(round, block) == self.total_power;
        let wait = if all_in {
            SimDuration::ZERO
        } else {
            self.timeouts.commit
        };
        if self.honest[i] {
            self.record_commit(height, round, block, sink);
        }
        // Block execution (replicated): it runs within timeout_commit and
        // delays the next height when longer; a validator that cannot run
        // the model stops.
        let mut start = (self.now + wait).max(validated);
        if self.exec.replicated
            && let Some(b) = self.blocks.get(&block)
            && !b.requests.is_empty()
        {
            let requests = b.requests.clone();
            match self.exec.cost(block, self.exec.class_of[i], &requests).time {
                Some(t) => {
                    self.exec.busy_until[i] = self.now + t;
                    start = start.max(self.now + t);
                }
                None => {
                    self.exec.unable_at[i] = Some(self.now);
                    self.net.faults.crashed[i] = true;
                    return;
                }
            }
        }
        self.queue.push(
            start,
            Event::StartHeight {
                node,
                height: height + 1,
            },
        );
        self.start_at[i] = start;
    }

    /// The chain's bookkeeping when an honest validator commits `height`:
    /// records, the mempool, the economy, the requests, block execution.
    fn record_commit(
        &mut self,
        height: u64,
        round: u32,
        block: BlockId,
        sink: &mut dyn RecordSink,
    ) {
        let Some(idx) = (height - 1).checked_sub(self.chain.forgotten) else {
            return; // cannot happen: only heights below every validator's are forgotten
        };
        let idx = idx as usize;
        if idx < self.chain.first.len() {
            if self.chain.first[idx] != block {
                self.chain.violated.insert(height);
            }
            return;
        }
        if idx > self.chain.first.len() {
            return; // cannot happen: heights are committed in order
        }
        // First honest commit of this height.
        let prev = self.chain.last_commit;
        let stall = self.now.since(prev);
        self.chain.longest_stall = self.chain.longest_stall.max(stall);
        let interval = (height > 1).then(|| stall.as_secs_f64());
        if let Some(x) = interval {
            self.chain.intervals_s.push(x);
            self.upg.note_interval(self.now, x);
        }
        let c = &mut self.chain;
        c.first.push_back(block);
        c.last_commit = self.now;
        c.rounds_sum += round as u64 + 1;
        c.rounds_max = c.rounds_max.max(Some(round + 1));
        c.heights_round_gt0 += (round > 0) as u64;
        let b = self.blocks[&block].clone();
        assert_eq!(b.height, height);
        let included = self.mempool.take(&b.txs);
        self.chain.txs_committed += included.len() as u64;
        if let Some(g) = self.gossip.as_mut() {
            g.remove_txs(b.txs.iter().map(|k| k.1));
        }
        let mut latency_sum = 0.0;
        for k in &b.txs {
            if let Some(t) = self.tx_submitted.remove(&k.1) {
                let x = self.now.since(t).as_secs_f64();
                latency_sum += x;
                self.chain.tx_latency_s.push(x);
            }
        }
        let flows = match self
            .econ
            .on_block(self.now, b.proposer, &included, &self.inf.active)
        {
            Ok(f) => f,
            Err(e) => {
                self.error = Some((SimErrorKind::Internal, e));
                return;
            }
        };
        let (attestations, proofs) = self.on_included(&included, sink);
        let verify_s =
            attestations as f64 * self.exec.tee_verify_s + proofs as f64 * self.exec.zk_verify_s;
        if verify_s > 0.0 {
            for (v, cpu) in self.exec.verify_cpu_s.iter_mut().enumerate() {
                if !self.net.faults.crashed[v] {
                    *cpu += verify_s;
                }
            }
        }
        if self.exec.replicated {
            self.on_block_executed(height, block, &b, sink);
        }
        sink.block(BlockRecord {
            height,
            round,
            proposer: b.proposer,
            txs: included.len() as u32,
            bytes: b.bytes,
            proposed_at_s: b.proposed_at.as_secs_f64(),
            committed_at_s: self.now.as_secs_f64(),
            interval_s: interval,
            mempool_pending: self.mempool.len(),
            tx_latency_mean_s: (!b.txs.is_empty()).then(|| latency_sum / b.txs.len() as f64),
            gas_used: flows.gas_used,
            gas_target: flows.gas_target,
            base_fee: flows.base_fee,
            burned: flows.burned,
            tips: flows.tips,
            minted: flows.minted,
        });
        if let Some(row) = self.econ.row(self.now, height, false) {
            sink.ledger(row);
        }
        let rounds: Vec<_> = self
            .round_log
            .range((height, 0)..(height + 1, 0))
            .map(|(k, v)| (*k, *v))
            .collect();
        for ((h, r), log) in rounds {
            sink.round(RoundRecord {
                height: h,
                round: r,
                proposer: log.proposer,
                started_at_s: log.started.as_secs_f64(),
                proposal_at_s: log.proposal.map(SimTime::as_secs_f64),
                committed: r == round,
            });
        }
        // Forget what no validator needs any more.
        self.round_log = self.round_log.split_off(&(height + 1, 0));
        self.equivocations = self.equivocations.split_off(&(height.saturating_sub(1), 0));
        self.blocks
            .retain(|_, b| b.height + BLOCKS_KEPT_BELOW_TIP >= height);
        if height.is_multiple_of(64) {
            let lowest = self.nodes.iter().map(|s| s.height).min().unwrap_or(height);
            let needed = lowest.min(height);
            self.schedule.prune_below(needed);
            self.chain.forget_below(needed);
            self.double_signed.retain(|&(_, h, _)| h + 1 >= lowest);
        }
    }

    fn finish(mut self, sink: &mut dyn RecordSink) -> Summary {
        let last = self.chain.last_commit;
        self.chain.longest_stall = self.chain.longest_stall.max(self.end.since(last));
        for (i, spec) in self.specs.iter().enumerate() {
            let st = &self.stats[i];
            sink.node(NodeRecord {
                id: i as u16,
                name: spec.name.clone(),
                group: spec.group.clone(),
                region: self.net.region_names[spec.region].clone(),
                power: spec.power,
                behaviour: format!("{:?}", spec.behaviour).to_lowercase(),
                proposals: st.proposals,
                votes_sent: st.votes_sent,
                messages_received: st.messages_received,
                heights_committed: st.heights_committed,
                heights_synced: st.heights_synced,
                final_height: self.nodes[i].height,
                crashed_at_end: self.net.faults.crashed[i],
                hardware: spec.hardware.clone(),
                unable_to_execute: self.exec.unable_at[i].is_some(),
                unable_at_s: self.exec.unable_at[i].map(|t| t.as_secs_f64()),
                diverged: self.exec.diverged[i],
                verify_cpu_s: self.exec.verify_cpu_s[i],
            });
        }
        let (requests, trust_gap_s, fraud, gpu, prover) = self.finish_requests(sink);
        if let Some(row) = self.econ.row(self.end, self.chain.tip(), true) {
            sink.ledger(row);
        }
        let economics = self.econ.summary(self.end);
        let cost = self.cost(requests.finalised);
        let duration_s = self.scenario.duration.as_secs_f64();
        let fractions: Vec<f64> = self
            .exec
            .verify_cpu_s
            .iter()
            .map(|s| s / duration_s)
            .collect();
        let verify = crate::summary::MeanMax {
            mean: (!fractions.is_empty())
                .then(|| fractions.iter().sum::<f64>() / fractions.len() as f64),
            max: fractions.iter().copied().reduce(f64::max),
        };
        let c = &self.chain;
        Summary {
            scenario: self.scenario.name.clone(),
            seed: self.seed,
            sim_duration_s: self.scenario.duration.as_secs_f64(),
            events_processed: self.events_processed,
            consensus: ConsensusSummary {
                heights_committed: c.tip(),
                block_interval_s: c.intervals_s.distribution(),
                rounds_per_height: RoundsPerHeight {
                    mean: (c.tip() > 0).then(|| c.rounds_sum as f64 / c.tip() as f64),
                    max: c.rounds_max,
                },
                heights_with_round_gt0: c.heights_round_gt0,
                safety_violations: c.violated.len() as u64,
                longest_stall_s: c.longest_stall.as_secs_f64(),
                heights_quorum_fast_path: self.heights_fast,
                halts: self.exec.halted_at.is_some(),
                halt_height: self.exec.halted_at,
                tx_latency_s: c.tx_latency_s.distribution(),
                txs_committed: c.txs_committed,
            },
            network: self.gossip.as_ref().map(|g| g.summary()),
            requests,
            trust_gap_s,
            fraud,
            gpu,
            prover,
            economics,
            architecture: format!("{:?}", self.scenario.architecture).to_lowercase(),
            cost,
            validators_unable_to_execute: self.exec.unable_at.iter().flatten().count() as u64,
            validator_verify_cpu_fraction: verify,
            market: self.market.as_ref().map(|m| {
                m.summary(
                    self.inf.lost_to_capacity,
                    self.inf.active.iter().filter(|&&a| a).count() as u32,
                )
            }),
            upgrades: self.upgrade_summaries(),
        }
    }
}

/// Runs `scenario` with `seed` to the end.
pub fn run(
    scenario: &Scenario,
    seed: u64,
    sink: &mut dyn RecordSink,
    progress: &mut dyn FnMut(SimTime),
) -> Result<Summary, SimError> {
    Simulation::new(scenario, seed).run(sink, progress)
}

// Events travel by value through the queue's slab: keep them small.
const _: () = assert!(std::mem::size_of::<Event>() <= 40);

#[cfg(test)]
mod tests {
    use super::*;

    /// The chain keeps the first commits of the heights some validator may
    /// still commit, not the whole history: forgetting the heights below
    /// the lowest validator's keeps the tip and the later heights' blocks.
    #[test]
    fn the_chain_forgets_heights_below_every_validator() {
        let mut c = Chain::default();
        for h in 1..=200u32 {
            c.first.push_back(h * 10);
        }
        c.forget_below(150);
        assert_eq!(c.tip(), 200);
        assert_eq!(c.forgotten, 149);
        // Height h is at index h − 1 − forgotten: 150 and 200 still there.
        assert_eq!((c.first[0], c.first[c.first.len() - 1]), (1500, 2000));
        c.forget_below(100); // lower than before: nothing comes back or goes
        assert_eq!((c.tip(), c.first.len()), (200, 51));
    }
}
