//! Inference: who runs it (`architecture`, `[replicated]`), the `[models]`
//! and `[hardware]` catalogues, `[[gpu_nodes]]` groups and their latency
//! profiles.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::locate::Seg::{self, Idx, Key};
use super::locate::{did_you_mean, err, error_at};
use super::{MAX_GPU_NODES, MAX_IMAGE_TOKENS, Scenario, ScenarioError, defaults};
use crate::inference::latency::LatencyKind;
use crate::inference::{self, GpuGroup, HardwareSpec, ModelSpec};

/// See [`Scenario::architecture`].
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    #[default]
    Decoupled,
    Replicated,
}

/// How validators execute the requests of a committed block.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Batching {
    /// One request after another, each alone: no batch-size variance.
    #[default]
    Sequential,
    /// All of a block's requests as one batch: faster, but kernels whose
    /// reductions depend on the batch make results differ between validators.
    Batched,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReplicatedConfig {
    /// Most prompt + output tokens of inference one block may carry: the
    /// compute counterpart of the gas limit (a protocol parameter; assumption).
    #[serde(default = "defaults::max_block_tokens")]
    pub max_block_tokens: u64,
    #[serde(default)]
    pub batching: Batching,
    /// Batch-invariant kernels: results never differ, at `deterministic_slowdown`.
    #[serde(default)]
    pub deterministic_kernels: bool,
    /// Execution-time multiplier of batch-invariant kernels (SOURCES.md).
    #[serde(default = "defaults::deterministic_slowdown")]
    pub deterministic_slowdown: f64,
}

impl Default for ReplicatedConfig {
    fn default() -> Self {
        ReplicatedConfig {
            max_block_tokens: defaults::max_block_tokens(),
            batching: Batching::Sequential,
            deterministic_kernels: false,
            deterministic_slowdown: defaults::deterministic_slowdown(),
        }
    }
}

/// See [`Scenario::gpu_steps`].
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum GpuSteps {
    #[default]
    Coalesced,
    Each,
}

/// The models and hardware a scenario may name: its own `[models]` and
/// `[hardware]` tables over the built-in catalogues, which they override.
pub(super) struct Catalogue<'a> {
    own_models: &'a BTreeMap<String, ModelSpec>,
    own_hardware: &'a BTreeMap<String, HardwareSpec>,
    builtin_models: BTreeMap<String, ModelSpec>,
    builtin_hw: BTreeMap<String, HardwareSpec>,
    /// Every model name, built-in ones first, for "did you mean".
    pub(super) model_names: Vec<String>,
    /// Every hardware name, built-in ones first, for "did you mean".
    pub(super) hw_names: Vec<String>,
}

impl<'a> Catalogue<'a> {
    pub(super) fn new(
        own_models: &'a BTreeMap<String, ModelSpec>,
        own_hardware: &'a BTreeMap<String, HardwareSpec>,
    ) -> Self {
        let builtin_models = inference::builtin_models();
        let builtin_hw = inference::builtin_hardware();
        let mut model_names: Vec<String> = builtin_models.keys().cloned().collect();
        model_names.extend(own_models.keys().cloned());
        let mut hw_names: Vec<String> = builtin_hw.keys().cloned().collect();
        hw_names.extend(own_hardware.keys().cloned());
        Catalogue {
            own_models,
            own_hardware,
            builtin_models,
            builtin_hw,
            model_names,
            hw_names,
        }
    }

    /// The scenario's own model of that name, else the built-in one.
    pub(super) fn model(&self, name: &str) -> Option<&ModelSpec> {
        self.own_models.get(name).or(self.builtin_models.get(name))
    }

    /// The error message for a model name in neither catalogue.
    pub(super) fn unknown_model(&self, name: &str) -> String {
        format!(
            "unknown model {name:?}{}",
            did_you_mean(name, &self.model_names)
        )
    }

    /// The scenario's own hardware of that name, else the built-in one.
    pub(super) fn hardware(&self, name: &str) -> Option<&HardwareSpec> {
        self.own_hardware.get(name).or(self.builtin_hw.get(name))
    }

    /// The built-in catalogues, releasing the scenario's tables so that
    /// [`Scenario::carry_catalogue_entries`] can fill them.
    pub(super) fn into_builtins(
        self,
    ) -> (BTreeMap<String, ModelSpec>, BTreeMap<String, HardwareSpec>) {
        (self.builtin_models, self.builtin_hw)
    }
}

/// Checks the scenario's own `[models]` and `[hardware]` entries.
pub(super) fn check_own_catalogue(
    models: &BTreeMap<String, ModelSpec>,
    hardware: &BTreeMap<String, HardwareSpec>,
) -> Result<(), (Vec<Seg>, String)> {
    for (name, m) in models {
        if m.params <= 0.0
            || m.layers == 0
            || m.hidden == 0
            || m.heads == 0
            || m.kv_heads == 0
            || m.dtype_bytes == 0
        {
            return err(
                vec![Key("models")],
                format!(
                    "model {name:?}: params, layers, hidden, heads, kv_heads and dtype_bytes must be > 0"
                ),
            );
        }
        if let Some(v) = &m.vision
            && !(v.params.is_finite()
                && v.params > 0.0
                && v.layers > 0
                && v.hidden > 0
                && v.patches > 0
                && v.image_tokens > 0)
        {
            return err(
                vec![Key("models")],
                format!(
                    "model {name:?}: vision params, layers, hidden, patches and image_tokens \
                     must be > 0"
                ),
            );
        }
        if let Some(v) = &m.vision
            && (v.image_tokens > MAX_IMAGE_TOKENS || v.patches > MAX_IMAGE_TOKENS)
        {
            return err(
                vec![Key("models")],
                format!(
                    "model {name:?}: vision patches and image_tokens must be at most \
                     {MAX_IMAGE_TOKENS}, got {} and {}",
                    v.patches, v.image_tokens
                ),
            );
        }
    }
    for (name, h) in hardware {
        if !(h.peak_tflops > 0.0 && h.mem_bw_gbps > 0.0 && h.mem_gb > 0.0) {
            return err(
                vec![Key("hardware")],
                format!("hardware {name:?}: peak_tflops, mem_bw_gbps and mem_gb must be > 0"),
            );
        }
    }
    Ok(())
}

/// Checks `[replicated]` (used when `architecture = "replicated"`).
pub(super) fn check_replicated(r: &ReplicatedConfig) -> Result<(), (Vec<Seg>, String)> {
    if r.max_block_tokens == 0 {
        return err(
            vec![Key("replicated"), Key("max_block_tokens")],
            "must be at least 1".into(),
        );
    }
    if !(r.deterministic_slowdown.is_finite() && r.deterministic_slowdown >= 1.0) {
        return err(
            vec![Key("replicated"), Key("deterministic_slowdown")],
            format!("must be ≥ 1, got {}", r.deterministic_slowdown),
        );
    }
    Ok(())
}

/// Checks `[[gpu_nodes]]`: names, counts, the model and hardware each
/// group names, whether the model fits its memory, and its latency model.
pub(super) fn check_gpu_nodes(
    gpu_nodes: &[GpuGroup],
    cat: &Catalogue,
) -> Result<(), (Vec<Seg>, String)> {
    let mut group_names: Vec<&str> = Vec::new();
    for (i, g) in gpu_nodes.iter().enumerate() {
        let at = |k: &'static str| vec![Key("gpu_nodes"), Idx(i), Key(k)];
        if g.name.trim().is_empty() || group_names.contains(&g.name.as_str()) {
            return err(
                at("name"),
                format!("group name {:?} is empty or used twice", g.name),
            );
        }
        group_names.push(&g.name);
        if g.count == 0 || g.count > MAX_GPU_NODES {
            return err(
                at("count"),
                format!("must be between 1 and {MAX_GPU_NODES}, got {}", g.count),
            );
        }
        let Some(m) = cat.model(&g.model) else {
            return err(at("model"), cat.unknown_model(&g.model));
        };
        let Some(h) = cat.hardware(&g.hardware) else {
            return err(
                at("hardware"),
                format!(
                    "unknown hardware {:?}{}",
                    g.hardware,
                    did_you_mean(&g.hardware, &cat.hw_names)
                ),
            );
        };
        if g.tee && !h.tee_capable {
            return err(
                at("tee"),
                format!(
                    "hardware {:?} has no confidential-computing mode",
                    g.hardware
                ),
            );
        }
        if !(0.0..=1.0).contains(&g.dishonest_probability) {
            return err(
                at("dishonest_probability"),
                format!(
                    "must be a probability in [0, 1], got {}",
                    g.dishonest_probability
                ),
            );
        }
        if g.max_batch == 0 {
            return err(at("max_batch"), "must be at least 1".into());
        }
        if g.max_batch_tokens == 0 {
            return err(at("max_batch_tokens"), "must be at least 1".into());
        }
        if g.max_queue == Some(0) {
            return err(
                at("max_queue"),
                "must be at least 1 (a request waits in the queue for the next step; leave the key out for no limit)".into(),
            );
        }
        if !(g.memory_fraction > 0.0 && g.memory_fraction <= 1.0) {
            return err(
                at("memory_fraction"),
                format!("must be in (0, 1], got {}", g.memory_fraction),
            );
        }
        if m.weight_bytes() >= h.mem_gb * 1e9 * g.memory_fraction {
            return err(
                at("model"),
                format!(
                    "{} needs {:.1} GB for weights; {} offers {:.1} GB",
                    g.model,
                    m.weight_bytes() / 1e9,
                    g.hardware,
                    h.mem_gb * g.memory_fraction
                ),
            );
        }
        let l = &g.latency;
        for (key, x) in [
            ("flops_efficiency", l.flops_efficiency),
            ("bandwidth_efficiency", l.bandwidth_efficiency),
        ] {
            if !(x > 0.0 && x <= 1.0) {
                return err(
                    vec![Key("gpu_nodes"), Idx(i), Key("latency"), Key(key)],
                    format!("must be in (0, 1], got {x}"),
                );
            }
        }
        if l.kind == LatencyKind::Exponential && l.mean.is_none_or(|d| d.0 == 0) {
            return err(
                vec![Key("gpu_nodes"), Idx(i), Key("latency"), Key("mean")],
                "kind = \"exponential\" needs a mean service time > 0".into(),
            );
        }
        if l.kind == LatencyKind::Profile
            && l.profile.as_deref().is_none_or(|p| p.trim().is_empty())
        {
            return err(
                vec![Key("gpu_nodes"), Idx(i), Key("latency"), Key("profile")],
                "kind = \"profile\" needs profile = \"<file>\" (see scenarios/profiles/)".into(),
            );
        }
    }
    Ok(())
}

impl Scenario {
    /// Copies each built-in model and hardware entry the scenario uses into
    /// its own tables: the resolved scenario carries every model and GPU it
    /// uses.
    pub(super) fn carry_catalogue_entries(
        &mut self,
        builtin_models: BTreeMap<String, ModelSpec>,
        builtin_hw: BTreeMap<String, HardwareSpec>,
    ) {
        for st in &self.workload {
            if !self.models.contains_key(&st.model) {
                self.models
                    .insert(st.model.clone(), builtin_models[&st.model].clone());
            }
        }
        for u in &self.upgrades {
            if !self.models.contains_key(&u.to_model) {
                self.models
                    .insert(u.to_model.clone(), builtin_models[&u.to_model].clone());
            }
        }
        for g in &self.validators {
            if !self.hardware.contains_key(&g.hardware) {
                self.hardware
                    .insert(g.hardware.clone(), builtin_hw[&g.hardware].clone());
            }
        }
        for g in &self.gpu_nodes {
            if !self.models.contains_key(&g.model) {
                self.models
                    .insert(g.model.clone(), builtin_models[&g.model].clone());
            }
            if !self.hardware.contains_key(&g.hardware) {
                self.hardware
                    .insert(g.hardware.clone(), builtin_hw[&g.hardware].clone());
            }
        }
    }

    /// Loads and fits the calibration profile of every GPU group with
    /// `latency.kind = "profile"`, through `read` (given the file name as
    /// written in the scenario).
    pub fn attach_profiles(
        &mut self,
        text: &str,
        file: &str,
        read: &mut dyn FnMut(&str) -> Result<String, String>,
    ) -> Result<(), ScenarioError> {
        for (i, g) in self.gpu_nodes.iter().enumerate() {
            let (LatencyKind::Profile, Some(name)) = (g.latency.kind, g.latency.profile.clone())
            else {
                continue;
            };
            if self.profiles.contains_key(&name) {
                continue;
            }
            let path = vec![
                Seg::Key("gpu_nodes"),
                Seg::Idx(i),
                Seg::Key("latency"),
                Seg::Key("profile"),
            ];
            let fail = |message: String| error_at(text, file, &path, message);
            let body =
                read(&name).map_err(|e| fail(format!("cannot read profile {name:?}: {e}")))?;
            let fitted = crate::inference::profile::Profile::parse(&body)
                .and_then(|p| p.fit())
                .map_err(|e| fail(format!("profile {name:?}: {e}")))?;
            self.profiles.insert(name, std::sync::Arc::new(fitted));
        }
        Ok(())
    }
}
