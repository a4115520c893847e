//! CometBFT consensus: the proposer schedule, one validator's round state
//! machine, and the timeouts. The simulation (`crate::sim`) carries messages
//! between validators; nothing here knows about the network or the queue.

pub mod proposer;
pub mod round;
pub mod timeouts;

use crate::network::NodeId;
use serde::{Deserialize, Serialize};

/// Whose round rules a validator follows (`consensus.rules`). Users run a
/// CometBFT version, and the versions differ from the paper where a round
/// goes wrong (a lock, a round skip); where everything goes right (round 0
/// with an honest proposer) all three agree. Line numbers cited in
/// `round.rs` are of tags v0.38.25 (`consensus/state.go`) and v1.0.1
/// (`internal/consensus/state.go`) of github.com/cometbft/cometbft; v0.39
/// and v0.40 keep v0.38's rules in these functions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rules {
    /// CometBFT v0.38 (`consensus/state.go`), what the Cosmos SDK's
    /// releases v0.50 and v0.53 ship (v0.54 ships v0.39, same rules): a locked validator prevotes its locked
    /// block; it unlocks on a later polka for anything else (nil included);
    /// a proposal with a POL round is complete once that round has +2/3 for
    /// any one value; it goes to a later round on +2/3 of any prevotes (or
    /// precommits) from it, and stops voting in a round once +2/3 of any
    /// precommits of it are in (`enterPrecommitWait`).
    #[default]
    #[serde(rename = "cometbft-v0.38")]
    CometbftV038,
    /// CometBFT v1.x (`internal/consensus/state.go`): prevotes by lines
    /// 22/28 of Algorithm 1 literally and never unlocks, with v0.38's round
    /// skip and precommit wait.
    #[serde(rename = "cometbft-v1")]
    CometbftV1,
    /// Algorithm 1 of arXiv:1807.04938 as written: lines 22/28, and line 55's
    /// round skip on f+1 of any messages (proposals included) from a later
    /// round. The rules the Malachite oracle checks.
    #[serde(rename = "tendermint-paper")]
    TendermintPaper,
}

impl Rules {
    pub const ALL: [Rules; 3] = [
        Rules::CometbftV038,
        Rules::CometbftV1,
        Rules::TendermintPaper,
    ];

    /// CometBFT's round skip and precommit wait (both versions) rather than
    /// the paper's line 55.
    fn cometbft(self) -> bool {
        self != Rules::TendermintPaper
    }
}

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
