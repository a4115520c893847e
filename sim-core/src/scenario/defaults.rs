//! Defaults, each with the source of the number it stands for.

use super::{Behaviour, JitterKind, TopologyKind};
use crate::regions;
use crate::time::SimDuration;

pub fn seed() -> u64 {
    1
}
/// A million requests in flight: about 0.2 GB (~200 bytes each,
/// measured: `scenarios/SOURCES.md`), and 34 times the most that any
/// shipped scenario holds (`day-150`'s 29,276 at its diurnal peak, with
/// its ten-minute vanilla challenge window).
pub fn max_in_flight() -> u64 {
    1_000_000
}
/// 64 Ki tokens of inference per block (assumption: a protocol choice;
/// about 77 chat requests of 600 + 250 tokens).
pub fn max_block_tokens() -> u64 {
    65_536
}
/// Thinking Machines Lab, "Defeating Nondeterminism in LLM Inference"
/// (He et al., 2025): batch-invariant vLLM took 42 s where the default
/// took 26 s on their benchmark: 42 / 26 = 1.62.
pub fn deterministic_slowdown() -> f64 {
    42.0 / 26.0
}
/// A validator is a regular PC unless the scenario says otherwise.
pub fn validator_hardware() -> String {
    "regular-pc".into()
}
pub fn regions() -> Vec<String> {
    regions::AWS_REGIONS.iter().map(|s| s.to_string()).collect()
}
/// 1 Gbit/s per peer link: a sustained single-flow rate between cloud VMs
/// (assumption, see `scenarios/SOURCES.md`).
pub fn bandwidth_mbps() -> f64 {
    1000.0
}
pub fn jitter_kind() -> JitterKind {
    JitterKind::Normal
}
/// CometBFT QA: netem `delay <cell>ms <5% of cell>ms distribution normal`.
pub fn jitter_fraction() -> f64 {
    0.05
}
pub fn jitter_sigma() -> f64 {
    0.1
}
pub fn topology_kind() -> TopologyKind {
    TopologyKind::Full
}
/// CometBFT `p2p.max_num_outbound_peers` default.
pub fn degree() -> usize {
    10
}
/// CometBFT v0.38 `consensus.timeout_propose = "3s"`.
pub fn timeout_propose() -> SimDuration {
    SimDuration::from_secs(3)
}
/// CometBFT v0.38 `timeout_*_delta = "500ms"`.
pub fn delta() -> SimDuration {
    SimDuration::from_millis(500)
}
/// CometBFT v0.38 `timeout_prevote = timeout_precommit = "1s"`.
pub fn timeout_vote() -> SimDuration {
    SimDuration::from_secs(1)
}
/// CometBFT v0.38 `timeout_commit = "1s"`.
pub fn timeout_commit() -> SimDuration {
    SimDuration::from_secs(1)
}
pub fn yes() -> bool {
    true
}
pub fn zero() -> SimDuration {
    SimDuration::ZERO
}
/// CometBFT v0.38 consensus parameter `block.max_bytes = 22020096` (21 MiB).
pub fn max_block_bytes() -> u64 {
    22_020_096
}
/// A signed vote: type, height, round, block id (2×32 B hashes),
/// timestamp, validator address (20 B) and index, Ed25519 signature
/// (64 B), plus framing: about 160 B (see `scenarios/SOURCES.md`).
pub fn vote_bytes() -> u64 {
    160
}
/// A vote extension on the wire: CometBFT's e2e application extends a
/// precommit with a varint of at most 8 bytes (`ExtendVote`), signed with
/// a 64-byte Ed25519 signature, plus two protobuf tags and lengths (see
/// `scenarios/SOURCES.md`).
pub fn vote_extension_bytes() -> u64 {
    76
}
/// Header (~650 B) and proposal framing; the last commit's signatures are
/// counted per validator at run time (see `scenarios/SOURCES.md`).
pub fn block_overhead_bytes() -> u64 {
    1024
}
/// A typical Cosmos SDK bank send is ~250 bytes (see `scenarios/SOURCES.md`).
pub fn tx_bytes() -> u64 {
    250
}
pub fn one() -> usize {
    1
}
pub fn power() -> u64 {
    10
}
pub fn behaviour() -> Behaviour {
    Behaviour::Honest
}
/// A rolling upgrade takes one node at a time unless the scenario says
/// otherwise.
pub fn upgrade_batch() -> usize {
    1
}
/// 1,000 MiB/s = 1.048576 GB/s: the most throughput an AWS EBS gp3 volume
/// could be provisioned for (EC2 API reference, `CreateVolume`
/// `Throughput`). Assumption: a node reads the new weights from a network
/// block volume provisioned at that rate and the read is the bottleneck
/// (deserialising and copying to the GPU are faster); see
/// `scenarios/SOURCES.md`.
pub fn load_gb_per_s() -> f64 {
    1000.0 * 1024.0 * 1024.0 / 1e9
}

// CometBFT's p2p layer (issue #23). Sources: `config/config.go`
// `DefaultP2PConfig` and `DefaultConsensusConfig` at v0.38.25 and
// v1.0.0-alpha.2 (the QA's version), which agree on every value below;
// v1.0.1 lowered `flush_throttle_timeout` to 10 ms. See `scenarios/SOURCES.md`.
/// `config.go` `DefaultMempoolConfig`: `Size: 5000`.
pub fn mempool_size() -> u64 {
    5000
}
pub fn max_num_inbound_peers() -> usize {
    40
}
pub fn max_num_outbound_peers() -> usize {
    10
}
/// 5,120,000 B/s: `SendRate` and `RecvRate` ("5 mB/s").
pub fn send_rate() -> u64 {
    5_120_000
}
pub fn recv_rate() -> u64 {
    5_120_000
}
/// 100 ms at v0.38.25 and v1.0.0-alpha.2 (10 ms from v1.0.1).
pub fn flush_throttle_timeout() -> SimDuration {
    SimDuration(100_000_000)
}
/// 1,024 bytes ("1 kB").
pub fn max_packet_msg_payload_size() -> u64 {
    1024
}
/// 100 ms (`[consensus] peer_gossip_sleep_duration`).
pub fn peer_gossip_sleep_duration() -> SimDuration {
    SimDuration(100_000_000)
}
