//! `[[upgrades]]`: the inference layer changes model under a running chain
//! (issue #26).
//!
//! Decoupled: at `at` a rolling upgrade of the GPU-node group `group` to
//! `to_model`, `batch` nodes at a time (each drains, loads the new weights
//! at `load_gb_per_s`, then serves the new model); the workload `streams`
//! switch to `to_model` at `streams_at`, or when the group's upgrade
//! completes. Replicated: the `streams` switch at `streams_at` (or `at`),
//! and every validator must execute the new model; `group` and `batch` are
//! not used (there are no GPU nodes).
//!
//! One upgrade per group and per stream: a chain of upgrades of the same
//! group or stream is not modelled.

use serde::{Deserialize, Serialize};

use super::defaults;
use super::inference::{Architecture, Catalogue};
use super::locate::Seg::{self, Idx, Key};
use super::locate::{did_you_mean, err};
use crate::inference::GpuGroup;
use crate::inference::latency::LatencyKind;
use crate::time::SimDuration;
use crate::workload::{StreamConfig, TokenDist};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UpgradeSpec {
    /// When the upgrade starts (and, under `replicated` without
    /// `streams_at`, when the streams switch).
    pub at: SimDuration,
    /// The `[[gpu_nodes]]` group upgraded (decoupled; optional and unused
    /// under `replicated`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The model served after the upgrade (a catalogue name).
    pub to_model: String,
    /// Nodes upgraded at once (decoupled).
    #[serde(default = "defaults::upgrade_batch")]
    pub batch: usize,
    /// Rate at which a node reads the new weights, GB/s (decoupled).
    #[serde(default = "defaults::load_gb_per_s")]
    pub load_gb_per_s: f64,
    /// `[[workload]]` streams that switch to `to_model`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub streams: Vec<String>,
    /// When the streams switch; absent: when the group's upgrade completes
    /// (decoupled) or at `at` (replicated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streams_at: Option<SimDuration>,
    /// Images per request that the streams send from their switch on (a
    /// text stream becoming a vision-language one); absent: as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<TokenDist>,
}

/// Checks `[[upgrades]]` against the groups, streams and models they name.
pub(super) fn check_upgrades(
    upgrades: &[UpgradeSpec],
    gpu_nodes: &[GpuGroup],
    workload: &[StreamConfig],
    architecture: Architecture,
    duration: SimDuration,
    cat: &Catalogue,
) -> Result<(), (Vec<Seg>, String)> {
    let replicated = architecture == Architecture::Replicated;
    let group_names: Vec<String> = gpu_nodes.iter().map(|g| g.name.clone()).collect();
    let stream_names: Vec<String> = workload.iter().map(|s| s.name.clone()).collect();
    let mut groups_seen: Vec<&str> = Vec::new();
    let mut streams_seen: Vec<&str> = Vec::new();
    for (i, u) in upgrades.iter().enumerate() {
        let at = |k: &'static str| vec![Key("upgrades"), Idx(i), Key(k)];
        if u.at.0 == 0 || u.at >= duration {
            return err(
                at("at"),
                format!("must be within the run (0, {duration}), got {}", u.at),
            );
        }
        if let Some(s) = u.streams_at
            && s >= duration
        {
            return err(
                at("streams_at"),
                format!("must be within the run (before {duration}), got {s}"),
            );
        }
        let Some(new) = cat.model(&u.to_model) else {
            return err(at("to_model"), cat.unknown_model(&u.to_model));
        };
        if !(u.load_gb_per_s.is_finite() && u.load_gb_per_s > 0.0 && u.load_gb_per_s <= 1e4) {
            return err(
                at("load_gb_per_s"),
                format!("must be in (0, 10000] GB/s, got {}", u.load_gb_per_s),
            );
        }
        if u.batch == 0 || u.batch > super::MAX_GPU_NODES {
            return err(
                at("batch"),
                format!(
                    "must be between 1 and {}, got {}",
                    super::MAX_GPU_NODES,
                    u.batch
                ),
            );
        }
        match (&u.group, replicated) {
            (None, false) => {
                return err(
                    at("group"),
                    "names no [[gpu_nodes]] group (needed with architecture = \"decoupled\")"
                        .into(),
                );
            }
            (Some(name), false) => {
                let Some(g) = gpu_nodes.iter().find(|g| g.name == *name) else {
                    return err(
                        at("group"),
                        format!(
                            "unknown [[gpu_nodes]] group {name:?}{}",
                            did_you_mean(name, &group_names)
                        ),
                    );
                };
                if groups_seen.contains(&name.as_str()) {
                    return err(
                        at("group"),
                        format!(
                            "group {name:?} is upgraded twice (one upgrade per group is modelled)"
                        ),
                    );
                }
                groups_seen.push(name);
                if g.model == u.to_model {
                    return err(at("to_model"), format!("group {name:?} already serves it"));
                }
                if g.latency.kind == LatencyKind::Profile {
                    return err(
                        at("group"),
                        format!(
                            "group {name:?} uses a calibration profile, measured for one model: \
                             an upgrade needs latency kind \"roofline\" or \"exponential\""
                        ),
                    );
                }
                let h = cat.hardware(&g.hardware).expect("checked with gpu_nodes");
                if new.weight_bytes() >= h.mem_gb * 1e9 * g.memory_fraction {
                    return err(
                        at("to_model"),
                        format!(
                            "{} needs {:.1} GB for weights; group {name:?}'s {} offers {:.1} GB",
                            u.to_model,
                            new.weight_bytes() / 1e9,
                            g.hardware,
                            h.mem_gb * g.memory_fraction
                        ),
                    );
                }
            }
            // Replicated: a group, if given, is not used (no GPU nodes).
            (_, true) => {}
        }
        if let Some(d) = &u.images {
            // `{ kind = "uniform", min = 0, max = 0 }` says "no images" to
            // any model (a sweep's points must all set the same keys).
            if new.vision.is_none() && d.max > 0 {
                return err(
                    at("images"),
                    format!("{:?} takes no images (no `vision` encoder)", u.to_model),
                );
            }
            if u.streams.is_empty() {
                return err(at("images"), "names no stream to send them".into());
            }
            super::workload::check_count(d, super::MAX_IMAGES_PER_REQUEST, |k| {
                vec![Key("upgrades"), Idx(i), Key("images"), Key(k)]
            })?;
        }
        if replicated && u.streams.is_empty() {
            return err(
                at("streams"),
                "names no [[workload]] stream: under architecture = \"replicated\" the upgrade \
                 is the streams' switch"
                    .into(),
            );
        }
        for (k, name) in u.streams.iter().enumerate() {
            let key = vec![Key("upgrades"), Idx(i), Key("streams"), Idx(k)];
            let Some(st) = workload.iter().find(|s| s.name == *name) else {
                return err(
                    key,
                    format!(
                        "unknown [[workload]] stream {name:?}{}",
                        did_you_mean(name, &stream_names)
                    ),
                );
            };
            if streams_seen.contains(&name.as_str()) {
                return err(
                    key,
                    format!(
                        "stream {name:?} switches in two upgrades (one upgrade per stream is modelled)"
                    ),
                );
            }
            streams_seen.push(name);
            if st.images.is_some() && new.vision.is_none() {
                return err(
                    key,
                    format!(
                        "stream {name:?} sends images and {:?} takes none (no `vision` encoder)",
                        u.to_model
                    ),
                );
            }
        }
    }
    Ok(())
}
