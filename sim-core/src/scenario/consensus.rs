//! `[consensus]` (CometBFT's timeouts, block and vote sizes, how votes are
//! delivered, whose round rules) and `[mempool]` (settlement transactions).

use serde::{Deserialize, Serialize};

use super::locate::Seg::{self, Key};
use super::locate::err;
use super::{MAX_BLOCK_SIZE_BYTES, MAX_RATE_PER_S, defaults};
use crate::consensus::Rules;
use crate::time::SimDuration;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConsensusConfig {
    #[serde(default = "defaults::timeout_propose")]
    pub timeout_propose: SimDuration,
    #[serde(default = "defaults::delta")]
    pub timeout_propose_delta: SimDuration,
    #[serde(default = "defaults::timeout_vote")]
    pub timeout_prevote: SimDuration,
    #[serde(default = "defaults::delta")]
    pub timeout_prevote_delta: SimDuration,
    #[serde(default = "defaults::timeout_vote")]
    pub timeout_precommit: SimDuration,
    #[serde(default = "defaults::delta")]
    pub timeout_precommit_delta: SimDuration,
    #[serde(default = "defaults::timeout_commit")]
    pub timeout_commit: SimDuration,
    /// Start the next height as soon as precommits from all power are in.
    #[serde(default)]
    pub skip_timeout_commit: bool,
    #[serde(default = "defaults::yes")]
    pub create_empty_blocks: bool,
    /// With `create_empty_blocks = false`, propose an empty block after this
    /// long without transactions (0 = wait for transactions forever).
    #[serde(default = "defaults::zero")]
    pub create_empty_blocks_interval: SimDuration,
    /// Consensus parameter `block.max_bytes`.
    #[serde(default = "defaults::max_block_bytes")]
    pub max_block_bytes: u64,
    /// Size on the wire of one prevote or precommit.
    #[serde(default = "defaults::vote_bytes")]
    pub vote_bytes: u64,
    /// Vote extensions (CometBFT's `feature.vote_extensions_enable_height`
    /// from height 1; off by default, as in CometBFT): each precommit for
    /// a block carries the application's extension and a second signature,
    /// which the receiver verifies too. Modelled under the p2p model only.
    #[serde(default)]
    pub vote_extensions: bool,
    /// Bytes a precommit for a block gains with vote extensions: the
    /// extension, its 64-byte signature and their protobuf tags (default:
    /// the e2e application's extension, a varint of at most 8 bytes: 76).
    #[serde(default = "defaults::vote_extension_bytes")]
    pub vote_extension_bytes: u64,
    /// Header, last commit and proposal framing of a block, beyond its transactions.
    #[serde(default = "defaults::block_overhead_bytes")]
    pub block_overhead_bytes: u64,
    /// How votes travel: `"quorum"` (default) computes, for a height where
    /// nothing can interfere, each validator's +2/3 arrival times from the
    /// same per-message delays instead of queueing every vote; `"per_message"`
    /// delivers every vote as its own event (the reference semantics).
    #[serde(default)]
    pub vote_delivery: VoteDelivery,
    /// Whose round rules validators follow: `"cometbft-v0.38"` (default:
    /// what the Cosmos SDK's v0.50 and v0.53 releases ship), `"cometbft-v1"`
    /// or `"tendermint-paper"` (see [`Rules`]).
    #[serde(default)]
    pub rules: Rules,
}

/// See [`ConsensusConfig::vote_delivery`].
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum VoteDelivery {
    #[default]
    Quorum,
    PerMessage,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MempoolConfig {
    /// Settlement transactions arriving per second (Poisson).
    #[serde(default)]
    pub tx_rate_per_s: f64,
    #[serde(default = "defaults::tx_bytes")]
    pub tx_bytes: u64,
    /// Most transactions one node's mempool holds (CometBFT `mempool.size`,
    /// 5,000); a transaction that finds it full is rejected. Enforced under
    /// `network.model = "p2p"`, where every node has its own mempool; the
    /// direct model keeps one unbounded pool.
    #[serde(default = "defaults::mempool_size")]
    pub size: u64,
    /// The node every transaction is submitted to under the p2p model (the
    /// QA's load goes to one node); default: the first validator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<String>,
}

impl Default for ConsensusConfig {
    fn default() -> Self {
        ConsensusConfig {
            timeout_propose: defaults::timeout_propose(),
            timeout_propose_delta: defaults::delta(),
            timeout_prevote: defaults::timeout_vote(),
            timeout_prevote_delta: defaults::delta(),
            timeout_precommit: defaults::timeout_vote(),
            timeout_precommit_delta: defaults::delta(),
            timeout_commit: defaults::timeout_commit(),
            skip_timeout_commit: false,
            create_empty_blocks: true,
            create_empty_blocks_interval: SimDuration::ZERO,
            max_block_bytes: defaults::max_block_bytes(),
            vote_bytes: defaults::vote_bytes(),
            vote_extensions: false,
            vote_extension_bytes: defaults::vote_extension_bytes(),
            block_overhead_bytes: defaults::block_overhead_bytes(),
            vote_delivery: VoteDelivery::Quorum,
            rules: Rules::default(),
        }
    }
}
impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig {
            tx_rate_per_s: 0.0,
            tx_bytes: defaults::tx_bytes(),
            size: defaults::mempool_size(),
            entry: None,
        }
    }
}

/// Checks `[consensus]`.
pub(super) fn check_consensus(c: &ConsensusConfig) -> Result<(), (Vec<Seg>, String)> {
    for (key, d) in [
        ("timeout_propose", c.timeout_propose),
        ("timeout_prevote", c.timeout_prevote),
        ("timeout_precommit", c.timeout_precommit),
    ] {
        if d.0 == 0 {
            return err(
                vec![Key("consensus"), Key(key)],
                "must be longer than zero".into(),
            );
        }
    }
    if c.max_block_bytes == 0 || c.max_block_bytes > MAX_BLOCK_SIZE_BYTES {
        return err(
            vec![Key("consensus"), Key("max_block_bytes")],
            format!(
                "must be between 1 and {MAX_BLOCK_SIZE_BYTES} (CometBFT's MaxBlockSizeBytes), \
                 got {}",
                c.max_block_bytes
            ),
        );
    }
    for (key, x) in [
        ("vote_bytes", c.vote_bytes),
        ("vote_extension_bytes", c.vote_extension_bytes),
        ("block_overhead_bytes", c.block_overhead_bytes),
    ] {
        if x > MAX_BLOCK_SIZE_BYTES {
            return err(
                vec![Key("consensus"), Key(key)],
                format!(
                    "at most {MAX_BLOCK_SIZE_BYTES} bytes (CometBFT's MaxBlockSizeBytes), got {x}"
                ),
            );
        }
    }
    Ok(())
}

/// Checks `[mempool]`; after `[consensus]`, since a transaction must fit
/// in a block.
pub(super) fn check_mempool(
    m: &MempoolConfig,
    c: &ConsensusConfig,
) -> Result<(), (Vec<Seg>, String)> {
    if !(m.tx_rate_per_s >= 0.0 && m.tx_rate_per_s <= MAX_RATE_PER_S) {
        return err(
            vec![Key("mempool"), Key("tx_rate_per_s")],
            format!(
                "must be in [0, {MAX_RATE_PER_S:e}], got {}",
                m.tx_rate_per_s
            ),
        );
    }
    if m.tx_bytes == 0 {
        return err(vec![Key("mempool"), Key("tx_bytes")], "must be > 0".into());
    }
    if m.tx_bytes.saturating_add(c.block_overhead_bytes) > c.max_block_bytes {
        return err(
            vec![Key("mempool"), Key("tx_bytes")],
            format!(
                "a transaction of {} bytes does not fit in a block of max_block_bytes = {}",
                m.tx_bytes, c.max_block_bytes
            ),
        );
    }
    Ok(())
}
