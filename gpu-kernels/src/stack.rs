//! A stack of decoder layers at one batch shape: what the end-to-end check
//! times as a whole and predicts from the fitted operators.

use sim_core::inference::ModelSpec;
use sim_core::inference::latency::StepWork;
use sim_core::inference::profile::{FittedProfile, Op, StackCheck, layer_ops};

/// Layer shape and batch: `prefill_seqs` prompts of `prefill_len` tokens
/// and `decode_seqs` sequences decoding with `decode_context` cached tokens.
#[derive(Clone, Debug, PartialEq)]
pub struct Stack {
    pub name: String,
    pub layers: u32,
    pub hidden: u32,
    pub heads: u32,
    pub kv_heads: u32,
    pub ffn: u32,
    pub prefill_seqs: u32,
    pub prefill_len: u32,
    pub decode_seqs: u32,
    pub decode_context: u32,
}

impl Stack {
    pub fn head_dim(&self) -> u32 {
        self.hidden / self.heads
    }

    /// Rows of activations that go through the projections.
    pub fn tokens(&self) -> u64 {
        self.prefill_seqs as u64 * self.prefill_len as u64 + self.decode_seqs as u64
    }

    /// The layer as a `sim-core` model (parameters of the layers only).
    pub fn model(&self) -> ModelSpec {
        let (d, f) = (self.hidden as f64, self.ffn as f64);
        let kv = (self.kv_heads * self.head_dim()) as f64;
        ModelSpec {
            params: self.layers as f64 * (d * (d + 2.0 * kv) + d * d + 3.0 * d * f),
            layers: self.layers,
            hidden: self.hidden,
            heads: self.heads,
            kv_heads: self.kv_heads,
            ffn: self.ffn,
            vocab: 0,
            dtype_bytes: 4,
        }
    }

    /// The batch as `sim-core` describes a step's work.
    pub fn work(&self) -> StepWork {
        let (s, p) = (self.prefill_seqs as f64, self.prefill_len as f64);
        StepWork {
            prefill_tokens: s * p,
            prefill_tokens_sq: s * p * p,
            prefill_seqs: s,
            decode_seqs: self.decode_seqs as f64,
            decode_context: self.decode_seqs as f64 * self.decode_context as f64,
        }
    }

    /// One layer's operators in execution order: exactly what `sim-core`
    /// prices, so the check tests the simulator's own prediction path.
    pub fn layer_ops(&self) -> Vec<Op> {
        layer_ops(&self.model(), self.tokens(), &self.work())
    }

    /// Predicted time of the whole stack from a fitted profile.
    pub fn predict(&self, fitted: &FittedProfile) -> f64 {
        self.layers as f64 * self.layer_ops().iter().map(|op| fitted.op_time(op)).sum::<f64>()
    }

    pub fn check(&self, measured_s: f64, predicted_s: f64) -> StackCheck {
        StackCheck {
            name: self.name.clone(),
            layers: self.layers,
            hidden: self.hidden,
            heads: self.heads,
            kv_heads: self.kv_heads,
            ffn: self.ffn,
            prefill_seqs: self.prefill_seqs,
            prefill_len: self.prefill_len,
            decode_seqs: self.decode_seqs,
            decode_context: self.decode_context,
            measured_s,
            predicted_s,
            error: (predicted_s - measured_s) / measured_s,
        }
    }
}
