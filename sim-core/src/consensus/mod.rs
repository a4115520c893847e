//! CometBFT consensus: the proposer schedule, one validator's round state
//! machine, and the timeouts. The simulation (`crate::sim`) carries messages
//! between validators; nothing here knows about the network or the queue.

pub mod proposer;
pub mod round;
pub mod timeouts;

use crate::network::NodeId;

/// Index of a block in the simulation's block table. Two proposals of the
/// same height and round by an equivocating proposer are two blocks.
pub type BlockId = u32;

/// The nil vote.
pub const NIL: BlockId = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VoteKind {
    Prevote,
    Precommit,
}

/// A consensus message on the wire. `Copy` and small: it travels inside events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message {
    Proposal {
        height: u64,
        round: u32,
        block: BlockId,
        pol_round: i32,
        from: NodeId,
    },
    Vote {
        kind: VoteKind,
        height: u64,
        round: u32,
        block: BlockId,
        from: NodeId,
    },
}

impl Message {
    pub fn height(&self) -> u64 {
        match *self {
            Message::Proposal { height, .. } | Message::Vote { height, .. } => height,
        }
    }
    pub fn round(&self) -> u32 {
        match *self {
            Message::Proposal { round, .. } | Message::Vote { round, .. } => round,
        }
    }
    pub fn from(&self) -> NodeId {
        match *self {
            Message::Proposal { from, .. } | Message::Vote { from, .. } => from,
        }
    }
    /// Words that identify the message for its per-message random draws:
    /// (height, round, step, block).
    pub fn key(&self) -> [u64; 4] {
        match *self {
            Message::Proposal {
                height,
                round,
                block,
                ..
            } => [height, round as u64, 0, block as u64],
            Message::Vote {
                kind,
                height,
                round,
                block,
                ..
            } => [height, round as u64, 1 + kind as u64, block as u64],
        }
    }
}

/// Where a validator is within a height.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// Committed the previous height; waiting `timeout_commit` (or for
    /// transactions) before round 0 of this one.
    NewHeight,
    Propose,
    Prevote,
    Precommit,
}
