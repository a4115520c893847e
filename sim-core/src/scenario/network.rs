//! `[network]`: regions, the latency matrix between them, jitter,
//! bandwidth, loss and the topology of links between validators.

use serde::{Deserialize, Serialize};

use super::locate::Seg::{self, Idx, Key};
use super::locate::{did_you_mean, err};
use super::{MAX_LATENCY_MS, defaults};
use crate::regions;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// `"direct"` (default) or `"p2p"`: CometBFT's p2p layer as deployed
    /// (see `scenario/p2p.rs`).
    #[serde(default)]
    pub model: super::NetworkModel,
    /// Connections and gossip of the p2p model (`[network.p2p]`).
    #[serde(default)]
    pub p2p: super::P2pConfig,
    /// Region names; default: the 13 AWS regions of CometBFT's QA matrix.
    #[serde(default = "defaults::regions")]
    pub regions: Vec<String>,
    /// One-way latency in ms, `latency_ms[from][to]`. Default: the AWS QA
    /// matrix restricted to `regions` (only possible if they are AWS names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<Vec<Vec<f64>>>,
    #[serde(default)]
    pub jitter: JitterConfig,
    /// Per-link bandwidth for block parts, in Mbit/s.
    #[serde(default = "defaults::bandwidth_mbps")]
    pub bandwidth_mbps: f64,
    /// Probability that any one transmission is lost, from the start of the
    /// run; gossip sends it again after `GOSSIP_RETRY` (see `network.rs`).
    #[serde(default)]
    pub loss_rate: f64,
    #[serde(default)]
    pub topology: TopologyConfig,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum JitterKind {
    /// No jitter: every message takes exactly its cell.
    None,
    /// cell + fraction·cell·Z, clipped at 0, with Z drawn as Linux netem
    /// draws its `distribution normal` (one of the 4,096 quantiles of
    /// iproute2's `normal.dist`, from −4 to +3.52): CometBFT QA's netem
    /// setting.
    Normal,
    /// cell · exp(σZ − σ²/2): heavy right tail with the cell as mean.
    Lognormal,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JitterConfig {
    #[serde(default = "defaults::jitter_kind")]
    pub kind: JitterKind,
    /// Normal jitter: standard deviation as a fraction of the cell (QA: 0.05).
    #[serde(default = "defaults::jitter_fraction")]
    pub fraction: f64,
    /// Lognormal jitter: σ of the log.
    #[serde(default = "defaults::jitter_sigma")]
    pub sigma: f64,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TopologyKind {
    /// Every validator has a direct link to every other.
    Full,
    /// A ring plus random chords, `degree` links per validator on average;
    /// messages travel the lowest-latency path (gossip relays).
    Random,
    /// Exactly the links listed in `edges`.
    Edges,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TopologyConfig {
    #[serde(default = "defaults::topology_kind")]
    pub kind: TopologyKind,
    /// Links per validator for `random` (CometBFT's default max outbound peers is 10).
    #[serde(default = "defaults::degree")]
    pub degree: usize,
    /// Links by validator name for `edges`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub edges: Vec<[String; 2]>,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            model: super::NetworkModel::Direct,
            p2p: super::P2pConfig::default(),
            regions: defaults::regions(),
            latency_ms: None,
            jitter: JitterConfig::default(),
            bandwidth_mbps: defaults::bandwidth_mbps(),
            loss_rate: 0.0,
            topology: TopologyConfig::default(),
        }
    }
}
impl Default for JitterConfig {
    fn default() -> Self {
        JitterConfig {
            kind: defaults::jitter_kind(),
            fraction: defaults::jitter_fraction(),
            sigma: defaults::jitter_sigma(),
        }
    }
}
impl Default for TopologyConfig {
    fn default() -> Self {
        TopologyConfig {
            kind: defaults::topology_kind(),
            degree: defaults::degree(),
            edges: Vec::new(),
        }
    }
}

/// Checks `[network]` and fills `latency_ms` from the AWS matrix when the
/// scenario gives none, so that the resolved scenario carries its matrix.
pub(super) fn check_network(net: &mut NetworkConfig) -> Result<(), (Vec<Seg>, String)> {
    if net.regions.is_empty() {
        return err(
            vec![Key("network"), Key("regions")],
            "needs at least one region".into(),
        );
    }
    for (i, r) in net.regions.iter().enumerate() {
        if net.regions[..i].contains(r) {
            return err(
                vec![Key("network"), Key("regions"), Idx(i)],
                format!("region {r:?} is listed twice"),
            );
        }
    }
    match &net.latency_ms {
        None => match regions::aws_submatrix(&net.regions) {
            Some(m) => net.latency_ms = Some(m),
            None => {
                return err(
                    vec![Key("network"), Key("regions")],
                    "regions are not all AWS regions of the default matrix, so `network.latency_ms` must be given".into(),
                );
            }
        },
        Some(m) => {
            let n = net.regions.len();
            if m.len() != n {
                return err(
                    vec![Key("network"), Key("latency_ms")],
                    format!(
                        "has {} rows but there are {} regions (the matrix must be square, one row and column per region)",
                        m.len(),
                        n
                    ),
                );
            }
            for (i, row) in m.iter().enumerate() {
                if row.len() != n {
                    return err(
                        vec![Key("network"), Key("latency_ms"), Idx(i)],
                        format!(
                            "row {} has {} columns, expected {} (the matrix must be square)",
                            i,
                            row.len(),
                            n
                        ),
                    );
                }
                for (j, &v) in row.iter().enumerate() {
                    if !(0.0..=MAX_LATENCY_MS).contains(&v) {
                        return err(
                            vec![Key("network"), Key("latency_ms"), Idx(i), Idx(j)],
                            format!("latency must be between 0 and {MAX_LATENCY_MS} ms, got {v}"),
                        );
                    }
                }
            }
        }
    }
    let j = &net.jitter;
    if !(j.fraction.is_finite() && j.fraction >= 0.0) {
        return err(
            vec![Key("network"), Key("jitter"), Key("fraction")],
            format!("must be ≥ 0, got {}", j.fraction),
        );
    }
    if !(j.sigma.is_finite() && j.sigma >= 0.0) {
        return err(
            vec![Key("network"), Key("jitter"), Key("sigma")],
            format!("must be ≥ 0, got {}", j.sigma),
        );
    }
    if !(net.bandwidth_mbps.is_finite() && net.bandwidth_mbps > 0.0) {
        return err(
            vec![Key("network"), Key("bandwidth_mbps")],
            format!("must be > 0, got {}", net.bandwidth_mbps),
        );
    }
    if !(0.0..=1.0).contains(&net.loss_rate) {
        return err(
            vec![Key("network"), Key("loss_rate")],
            format!("must be a probability in [0, 1], got {}", net.loss_rate),
        );
    }
    Ok(())
}

/// Checks `[network.topology]` against the validators' names (after
/// `[[validators]]`, whose groups give the names).
pub(super) fn check_topology(
    t: &TopologyConfig,
    names: &[String],
) -> Result<(), (Vec<Seg>, String)> {
    match t.kind {
        TopologyKind::Random if t.degree < 2 => {
            return err(
                vec![Key("network"), Key("topology"), Key("degree")],
                "must be at least 2".into(),
            );
        }
        TopologyKind::Edges => {
            if t.edges.is_empty() {
                return err(
                    vec![Key("network"), Key("topology"), Key("edges")],
                    "kind = \"edges\" needs a list of [a, b] links".into(),
                );
            }
            for (i, e) in t.edges.iter().enumerate() {
                for (k, n) in e.iter().enumerate() {
                    if !names.contains(n) {
                        return err(
                            vec![
                                Key("network"),
                                Key("topology"),
                                Key("edges"),
                                Idx(i),
                                Idx(k),
                            ],
                            format!("unknown validator {n:?}{}", did_you_mean(n, names)),
                        );
                    }
                }
            }
        }
        _ => {}
    }
    Ok(())
}
