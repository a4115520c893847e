//! `network.model`, `[network.p2p]` and `[[full_nodes]]`: CometBFT's p2p
//! layer as deployed (issue #23) — nodes that do not vote, a peer graph
//! formed as PEX forms it, rate-limited connections that flush on a
//! throttle, and the consensus reactor's gossip routines. The settings keep
//! CometBFT's `config.toml` names; every default is cited in
//! `scenarios/SOURCES.md`.

use serde::{Deserialize, Serialize};

use super::locate::Seg::{self, Idx, Key};
use super::locate::{did_you_mean, err};
use super::{Behaviour, MAX_VALIDATORS, NetworkConfig, Scenario, TopologyKind, defaults};
use crate::time::SimDuration;

/// How consensus messages travel.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum NetworkModel {
    /// Every message straight from its sender to every validator at wire
    /// latency: an idealisation, fast and exact for what it models.
    #[default]
    Direct,
    /// CometBFT's p2p layer as deployed: peers, connections, gossip.
    P2p,
}

/// `[network.p2p]`: CometBFT's `[p2p]` settings, and the consensus
/// reactor's `peer_gossip_sleep_duration` (which CometBFT keeps under
/// `[consensus]`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct P2pConfig {
    #[serde(default = "defaults::max_num_inbound_peers")]
    pub max_num_inbound_peers: usize,
    #[serde(default = "defaults::max_num_outbound_peers")]
    pub max_num_outbound_peers: usize,
    /// Bytes per second one connection may send.
    #[serde(default = "defaults::send_rate")]
    pub send_rate: u64,
    /// Bytes per second one connection may receive.
    #[serde(default = "defaults::recv_rate")]
    pub recv_rate: u64,
    /// Longest a written message waits in the connection's buffer before
    /// the buffer is flushed to the socket.
    #[serde(default = "defaults::flush_throttle_timeout")]
    pub flush_throttle_timeout: SimDuration,
    /// Largest payload of one packet; each packet adds its framing.
    #[serde(default = "defaults::max_packet_msg_payload_size")]
    pub max_packet_msg_payload_size: u64,
    /// How long a gossip routine sleeps when it finds nothing to send.
    #[serde(default = "defaults::peer_gossip_sleep_duration")]
    pub peer_gossip_sleep_duration: SimDuration,
    /// Whether each connection's TCP congestion window starts small and
    /// grows by slow start, shrinking again when the connection idles
    /// (Linux's defaults; `network::p2p::Tcp`). Not a CometBFT setting:
    /// the operating system's, which CometBFT's connections run over.
    #[serde(default = "defaults::yes")]
    pub tcp_slow_start: bool,
}

impl Default for P2pConfig {
    fn default() -> Self {
        P2pConfig {
            max_num_inbound_peers: defaults::max_num_inbound_peers(),
            max_num_outbound_peers: defaults::max_num_outbound_peers(),
            send_rate: defaults::send_rate(),
            recv_rate: defaults::recv_rate(),
            flush_throttle_timeout: defaults::flush_throttle_timeout(),
            max_packet_msg_payload_size: defaults::max_packet_msg_payload_size(),
            peer_gossip_sleep_duration: defaults::peer_gossip_sleep_duration(),
            tcp_slow_start: true,
        }
    }
}

/// What a node that does not vote does.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum NodeRole {
    /// Follows consensus and relays blocks, votes and transactions.
    #[default]
    Full,
    /// Seed mode: hands out addresses to nodes forming the peer graph and
    /// keeps no consensus connections (CometBFT's seed mode runs only PEX).
    Seed,
}

/// `[[full_nodes]]`: a group of nodes that do not vote.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FullNodeGroup {
    /// Group name; its nodes are named like validators' (`<name>-<i>`).
    pub name: String,
    #[serde(default = "defaults::one")]
    pub count: usize,
    pub region: String,
    #[serde(default)]
    pub role: NodeRole,
}

/// A node of the p2p network after expanding groups: validators first (in
/// address order), then full and seed nodes in declaration order.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerSpec {
    pub name: String,
    pub region: usize,
    /// `None` for a validator.
    pub role: Option<NodeRole>,
}

impl Scenario {
    /// Every node of the p2p network: validators, then `[[full_nodes]]`.
    pub fn peer_specs(&self) -> Vec<PeerSpec> {
        let mut out: Vec<PeerSpec> = self
            .validator_specs()
            .into_iter()
            .map(|v| PeerSpec {
                name: v.name,
                region: v.region,
                role: None,
            })
            .collect();
        for g in &self.full_nodes {
            let region = self
                .network
                .regions
                .iter()
                .position(|r| *r == g.region)
                .unwrap_or(0);
            for i in 0..g.count {
                out.push(PeerSpec {
                    name: if g.count == 1 {
                        g.name.clone()
                    } else {
                        format!("{}-{}", g.name, i)
                    },
                    region,
                    role: Some(g.role),
                });
            }
        }
        out
    }
}

/// Checks `network.model`, `[network.p2p]` and `[[full_nodes]]` together,
/// after `[[validators]]` and the topology's names.
pub(super) fn check_p2p(s: &Scenario) -> Result<(), (Vec<Seg>, String)> {
    let net: &NetworkConfig = &s.network;
    if net.model == NetworkModel::Direct {
        if !s.full_nodes.is_empty() {
            return err(
                vec![Key("full_nodes")],
                "full and seed nodes relay only in network.model = \"p2p\"; the direct model delivers every message straight to every validator".into(),
            );
        }
        return Ok(());
    }
    let p = &net.p2p;
    let at = |k: &'static str| vec![Key("network"), Key("p2p"), Key(k)];
    if p.max_num_outbound_peers == 0 {
        return err(
            at("max_num_outbound_peers"),
            "must be at least 1: a node that dials no one joins no graph".into(),
        );
    }
    for (k, v) in [("send_rate", p.send_rate), ("recv_rate", p.recv_rate)] {
        if v == 0 {
            return err(at(k), "must be > 0 bytes per second".into());
        }
    }
    if p.max_packet_msg_payload_size < 16 {
        return err(
            at("max_packet_msg_payload_size"),
            format!(
                "must be at least 16 bytes, got {}",
                p.max_packet_msg_payload_size
            ),
        );
    }
    if p.peer_gossip_sleep_duration.0 == 0 {
        return err(
            at("peer_gossip_sleep_duration"),
            "must be longer than zero (a gossip routine that never sleeps spins)".into(),
        );
    }
    if net.topology.kind == TopologyKind::Random {
        return err(
            vec![Key("network"), Key("topology"), Key("kind")],
            "\"random\" belongs to the direct model; network.model = \"p2p\" forms its peer graph as PEX does (kind = \"full\", the default) or takes it from `edges`".into(),
        );
    }
    if net.loss_rate > 0.0 {
        return err(
            vec![Key("network"), Key("loss_rate")],
            "CometBFT's connections are TCP, which loses nothing; loss applies to the direct model only".into(),
        );
    }
    if let Some(i) = s
        .faults
        .iter()
        .position(|f| f.kind == super::FaultKind::Loss)
    {
        return err(
            vec![Key("faults"), Idx(i), Key("kind")],
            "a loss fault applies to the direct model only (CometBFT's connections are TCP)".into(),
        );
    }
    if let Some(i) = s
        .validators
        .iter()
        .position(|g| g.behaviour == Behaviour::Equivocating)
    {
        return err(
            vec![Key("validators"), Idx(i), Key("behaviour")],
            "equivocating validators are modelled by the direct model only (the p2p model gossips one vote per validator and round)".into(),
        );
    }
    let total: usize = s.validators.iter().map(|g| g.count).sum::<usize>()
        + s.full_nodes.iter().map(|g| g.count).sum::<usize>();
    if total > u16::MAX as usize / 2 {
        return err(
            vec![Key("full_nodes")],
            format!(
                "validators and full nodes together must be at most {}, got {total}",
                u16::MAX / 2
            ),
        );
    }
    if s.mempool.size == 0 {
        return err(
            vec![Key("mempool"), Key("size")],
            "must be at least 1 transaction".into(),
        );
    }
    if let Some(e) = &s.mempool.entry {
        let names: Vec<String> = s.peer_specs().into_iter().map(|p| p.name).collect();
        if !names.contains(e) {
            return err(
                vec![Key("mempool"), Key("entry")],
                format!("unknown node {e:?}{}", did_you_mean(e, &names)),
            );
        }
    }
    for (i, g) in s.full_nodes.iter().enumerate() {
        let at = |k: &'static str| vec![Key("full_nodes"), Idx(i), Key(k)];
        if g.name.trim().is_empty() {
            return err(at("name"), "must not be empty".into());
        }
        if s.full_nodes[..i].iter().any(|o| o.name == g.name)
            || s.validators.iter().any(|o| o.name == g.name)
        {
            return err(at("name"), format!("group name {:?} is used twice", g.name));
        }
        if g.count == 0 || g.count > MAX_VALIDATORS {
            return err(
                at("count"),
                format!("must be between 1 and {MAX_VALIDATORS}, got {}", g.count),
            );
        }
        if !net.regions.contains(&g.region) {
            return err(
                at("region"),
                format!(
                    "unknown region {:?}{}",
                    g.region,
                    did_you_mean(&g.region, &net.regions)
                ),
            );
        }
    }
    Ok(())
}
