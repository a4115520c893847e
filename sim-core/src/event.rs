//! Everything that can happen in a run: one variant per kind of event, each
//! small and `Copy` so that the queue moves no heap data.

use crate::consensus::{BlockId, Message, Step, VoteKind};
use crate::network::NodeId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A consensus message reaches `to`.
    Deliver { to: NodeId, msg: Message },
    /// A consensus timer of `node` fires.
    Timeout {
        node: NodeId,
        height: u64,
        round: u32,
        step: Step,
    },
    /// `timeout_commit` is over: `node` may start round 0 of `height`.
    StartHeight { node: NodeId, height: u64 },
    /// `create_empty_blocks_interval` passed with no transaction.
    EmptyBlockTimer { node: NodeId, height: u64 },
    /// The quorum fast path: `node` has received the votes of `kind` it needs
    /// at `height` (round 0); the plan says how much power they carry.
    Quorum {
        node: NodeId,
        height: u64,
        kind: VoteKind,
    },
    /// A block that `node` saw committed but never received arrives from a peer.
    BlockFetched {
        node: NodeId,
        height: u64,
        block: BlockId,
    },
    /// `node` syncs the blocks it missed (blocksync) and rejoins consensus;
    /// `rearm` after a crash, to restart the timer of its current step.
    CatchUp { node: NodeId, rearm: bool },
    /// The fault at this index of the run's fault table takes effect.
    Fault { index: u32 },
    /// The gossip routine of p2p link `link` wakes (`network.model = "p2p"`).
    GossipWake { link: u32 },
    /// Batches flushed on p2p link `link` reach its receiver.
    LinkArrive { link: u32 },
    /// The market interval ends: the price moves, a `market` row is written.
    MarketTick,
    /// A background settlement transaction enters the mempool.
    TxArrival,
    /// A request of workload stream `stream` arrives.
    Arrival { stream: u16 },
    /// A GPU node's batched step ends.
    /// The end of a node's run of steps `run` (a later run makes it stale).
    GpuStepEnd { node: u16, run: u32 },
    /// An exponential-service GPU node finishes request `slot` (`id` guards reuse of the slot).
    GpuServiceDone { node: u16, slot: u32, id: u64 },
    /// A prover finishes the proof of request `slot`.
    ProofDone { slot: u32, id: u64 },
    /// A verifier finishes re-executing vanilla request `slot`.
    ReexecDone { slot: u32, id: u64 },
    /// Vanilla request `slot`'s challenge window closes.
    ChallengeEnd { slot: u32, id: u64 },
    /// Request `slot`'s user stops waiting (`workload.timeout`).
    Abandon { slot: u32, id: u64 },
    /// Upgrade `index` of `[[upgrades]]` starts (decoupled: its first
    /// batch of nodes leaves routing and drains).
    UpgradeStart { index: u16 },
    /// GPU node `node` has loaded the new weights of upgrade `index`.
    WeightsLoaded { node: u16, index: u16 },
    /// The workload streams of upgrade `index` switch to its model.
    StreamsSwitch { index: u16 },
}
