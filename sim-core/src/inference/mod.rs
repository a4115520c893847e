//! GPU inference: the model and hardware catalogues, the latency model, and
//! the GPU node with its queue and continuous batching.

pub mod latency;
pub mod node;
pub mod profile;

use serde::{Deserialize, Serialize};

/// A transformer's shape, from its published `config.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// All parameters (memory); for a mixture of experts, see `active_params`.
    pub params: f64,
    /// Parameters used per token (a mixture of experts' active experts);
    /// FLOPs and weights streamed per step come from these. Absent: `params`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_params: Option<f64>,
    pub layers: u32,
    pub hidden: u32,
    pub heads: u32,
    pub kv_heads: u32,
    pub ffn: u32,
    pub vocab: u32,
    /// Bytes per weight and per cached key/value (2 for bf16/fp16).
    pub dtype_bytes: u32,
    /// A vision-language model's image encoder (absent: text only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vision: Option<VisionSpec>,
}

/// The image side of a vision-language model that feeds the language model
/// image tokens in its prompt (LLaVA's design): a vision transformer encodes
/// each image's patches, a projector maps them into the language model's
/// embedding space, and the language model prefills them with the text.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VisionSpec {
    /// Parameters of the encoder and the projector.
    pub params: f64,
    /// The encoder's transformer layers and width (for its attention term).
    pub layers: u32,
    pub hidden: u32,
    /// Tokens the encoder processes per image (patches, plus a class token).
    pub patches: u32,
    /// Tokens one image adds to the language model's prompt.
    pub image_tokens: u32,
}

impl VisionSpec {
    /// Forward FLOPs of encoding one image: 2·params per patch (the
    /// projector's share counted over every patch: an upper bound of
    /// 1/patches on it) plus attention over all patches in both directions,
    /// 2·layers·patches²·hidden (twice a causal prefill's `L·d·p²`).
    pub fn flops_per_image(&self) -> f64 {
        let p = self.patches as f64;
        2.0 * self.params * p + 2.0 * self.layers as f64 * p * p * self.hidden as f64
    }
}

impl ModelSpec {
    pub fn head_dim(&self) -> f64 {
        self.hidden as f64 / self.heads as f64
    }
    /// Parameters used per token (all of them unless a mixture of experts).
    pub fn active(&self) -> f64 {
        self.active_params.unwrap_or(self.params)
    }
    /// Bytes of all weights, the image encoder's included: what must fit in
    /// memory.
    pub fn weight_bytes(&self) -> f64 {
        self.params * self.dtype_bytes as f64 + self.encoder_weight_bytes()
    }
    /// Bytes of weights read per forward step: the active parameters' (for a
    /// mixture of experts, an optimistic floor: a batch touches more experts).
    pub fn streamed_weight_bytes(&self) -> f64 {
        self.active() * self.dtype_bytes as f64
    }
    /// Memory to hold the weights and the KV cache of `tokens` tokens.
    pub fn memory_bytes(&self, tokens: f64) -> f64 {
        self.weight_bytes() + self.kv_bytes_per_token() * tokens
    }
    /// KV-cache bytes per token: K and V, per layer, per KV head.
    pub fn kv_bytes_per_token(&self) -> f64 {
        2.0 * self.layers as f64 * self.kv_heads as f64 * self.head_dim() * self.dtype_bytes as f64
    }
    /// Forward FLOPs of one token attending to `context` earlier tokens:
    /// 2N for the weights plus 2·layers·context·hidden for attention
    /// (Kaplan et al. 2020, "Scaling laws", Table 1).
    pub fn flops_per_token(&self, context: f64) -> f64 {
        2.0 * self.active() + 2.0 * self.layers as f64 * context * self.hidden as f64
    }
    /// FLOPs of a prefill of `p` tokens (token i attends to i earlier ones).
    pub fn prefill_flops(&self, p: f64) -> f64 {
        2.0 * self.active() * p + self.layers as f64 * self.hidden as f64 * p * p
    }
    /// FLOPs of encoding `images` images (0 for a text-only model).
    pub fn encoder_flops(&self, images: f64) -> f64 {
        self.vision
            .as_ref()
            .map_or(0.0, |v| images * v.flops_per_image())
    }
    /// Bytes of the encoder's weights, streamed once by a step that encodes.
    pub fn encoder_weight_bytes(&self) -> f64 {
        self.vision
            .as_ref()
            .map_or(0.0, |v| v.params * self.dtype_bytes as f64)
    }
    /// Prompt tokens `images` images add (0 for a text-only model).
    pub fn image_tokens(&self, images: u32) -> u32 {
        self.vision
            .as_ref()
            .map_or(0, |v| images.saturating_mul(v.image_tokens))
    }
    /// FLOPs of a whole request: prefill of `prompt`, then `output` decode steps.
    pub fn request_flops(&self, prompt: f64, output: f64) -> f64 {
        let decode = 2.0 * self.active() * output
            + 2.0
                * self.layers as f64
                * self.hidden as f64
                * (prompt * output + output * output / 2.0);
        self.prefill_flops(prompt) + decode
    }
}

/// A GPU's datasheet numbers (dense, no sparsity).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HardwareSpec {
    pub peak_tflops: f64,
    pub mem_bw_gbps: f64,
    /// Memory that holds weights and KV cache: GPU memory over all the
    /// node's GPUs (tensor parallel), or RAM for a machine without a GPU.
    pub mem_gb: f64,
    /// Supports confidential computing (TEE mode).
    #[serde(default)]
    pub tee_capable: bool,
    /// GPUs in the machine (0: CPU only), for GPU-hours.
    #[serde(default)]
    pub gpus: u32,
    /// Price of the machine per hour, USD (sourced list prices; SOURCES.md).
    #[serde(default)]
    pub usd_per_hour: f64,
    /// Probability that one executed request's output differs from the other
    /// validators', per batching policy (replicated architecture).
    #[serde(default)]
    pub divergence_sequential: f64,
    #[serde(default)]
    pub divergence_batched: f64,
}

#[derive(Deserialize)]
struct ModelFile {
    models: std::collections::BTreeMap<String, ModelSpec>,
}
#[derive(Deserialize)]
struct HardwareFile {
    hardware: std::collections::BTreeMap<String, HardwareSpec>,
}

/// The built-in catalogue, `scenarios/models.toml` (compiled in: the
/// simulator reads no files of its own).
pub fn builtin_models() -> std::collections::BTreeMap<String, ModelSpec> {
    toml::from_str::<ModelFile>(include_str!("../../../scenarios/models.toml"))
        .expect("models.toml is valid")
        .models
}

/// The built-in catalogue, `scenarios/hardware.toml`.
pub fn builtin_hardware() -> std::collections::BTreeMap<String, HardwareSpec> {
    toml::from_str::<HardwareFile>(include_str!("../../../scenarios/hardware.toml"))
        .expect("hardware.toml is valid")
        .hardware
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama_8b_derived_sizes_match_hand_computation() {
        let m = &builtin_models()["llama-3.1-8b"];
        // 2 (K,V) × 32 layers × 8 KV heads × 128 dims × 2 bytes = 131,072 B.
        assert_eq!(m.kv_bytes_per_token(), 131_072.0);
        assert_eq!(m.weight_bytes(), 16.06e9);
        // One token with no context: 2N.
        assert_eq!(m.flops_per_token(0.0), 16.06e9);
        // Prefill of p tokens = Σ_{i<p} flops_per_token(i) = 2Np + L·d·p(p−1);
        // our closed form uses p² (continuous), within 1/p of it.
        let p = 1000.0;
        let exact: f64 = (0..1000).map(|i| m.flops_per_token(i as f64)).sum();
        assert!((m.prefill_flops(p) - exact).abs() / exact < 1e-3);
    }

    #[test]
    fn catalogues_have_three_models_of_different_sizes() {
        let m = builtin_models();
        assert!(m.len() >= 3);
        let mut sizes: Vec<f64> = m.values().map(|x| x.params).collect();
        sizes.sort_by(f64::total_cmp);
        assert!(sizes[0] * 5.0 < sizes[sizes.len() - 1]);
        assert!(builtin_hardware().contains_key("H100-SXM"));
    }
}

/// A group of identical GPU nodes (`[[gpu_nodes]]`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GpuGroup {
    pub name: String,
    #[serde(default = "group_defaults::one")]
    pub count: usize,
    /// A name from the hardware catalogue.
    pub hardware: String,
    /// The model this group serves (one per group: declare several groups
    /// for several models).
    pub model: String,
    /// Runs in confidential-computing mode: serves TEE requests, slower by
    /// `verification.tee_slowdown`.
    #[serde(default)]
    pub tee: bool,
    /// Probability that a result from this node is wrong.
    #[serde(default)]
    pub dishonest_probability: f64,
    /// vLLM's `max_num_seqs` default.
    #[serde(default = "group_defaults::max_batch")]
    pub max_batch: u32,
    /// vLLM's `max_num_batched_tokens` default with chunked prefill.
    #[serde(default = "group_defaults::max_batch_tokens")]
    pub max_batch_tokens: u32,
    /// Share of device memory for weights and KV cache (vLLM's `gpu_memory_utilization`).
    #[serde(default = "group_defaults::memory_fraction")]
    pub memory_fraction: f64,
    /// Most requests waiting on one node for a place in its batch (not
    /// counting the batch); a request that the router sends to a node whose
    /// queue is full is rejected (counted, its row's `outcome` is
    /// `"rejected"`), as a server answers 429/503 when its admission queue
    /// is full. Absent (the default): no limit, as vLLM's waiting queue and
    /// Triton's `max_queue_size = 0` (see `scenarios/SOURCES.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_queue: Option<u32>,
    #[serde(default)]
    pub latency: latency::LatencyConfig,
}

mod group_defaults {
    pub fn one() -> usize {
        1
    }
    pub fn max_batch() -> u32 {
        256
    }
    pub fn max_batch_tokens() -> u32 {
        8192
    }
    pub fn memory_fraction() -> f64 {
        0.9
    }
}
