//! Verification of inference results: TEE attestations checked when the
//! settlement transaction is included, ZK proofs from a prover pool, and the
//! vanilla challenge window with sampled re-execution. Defaults are sourced
//! in `scenarios/SOURCES.md`.

pub mod cpu;
pub mod zk;

use serde::{Deserialize, Serialize};

use crate::time::SimDuration;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VerificationConfig {
    /// Size of a settlement transaction (result commitment, signature).
    #[serde(default = "defaults::settlement_tx_bytes")]
    pub settlement_tx_bytes: u64,
    /// GPU time multiplier in confidential-computing mode (H100 CC).
    #[serde(default = "defaults::tee_slowdown")]
    pub tee_slowdown: f64,
    /// Attestation carried by a TEE settlement transaction.
    #[serde(default = "defaults::tee_attestation_bytes")]
    pub tee_attestation_bytes: u64,
    /// Probability that a dishonest TEE node's enclave is breached, so its
    /// wrong result carries a valid attestation and is not caught.
    #[serde(default)]
    pub tee_breach_probability: f64,
    /// Provers working in parallel.
    #[serde(default = "defaults::zk_provers")]
    pub zk_provers: u32,
    /// FLOPs of inference one prover proves per second.
    #[serde(default = "defaults::zk_prover_flops")]
    pub zk_prover_flops: f64,
    /// Fixed time per proof (setup, commitment), on top of the FLOP-based time.
    #[serde(default = "defaults::zk_proof_overhead")]
    pub zk_proof_overhead: SimDuration,
    #[serde(default = "defaults::zk_proof_bytes")]
    pub zk_proof_bytes: u64,
    /// Vanilla results are final this long after their settlement is included.
    #[serde(default = "defaults::vanilla_challenge_window")]
    pub vanilla_challenge_window: SimDuration,
    /// Fraction of vanilla results re-executed by a verifier.
    #[serde(default)]
    pub vanilla_reexecution_rate: f64,
    /// CPU seconds for a validator to verify one TEE attestation (SOURCES.md).
    #[serde(default = "defaults::tee_verify_cpu_s")]
    pub tee_verify_cpu_s: f64,
    /// The proof system of ZK results, which sets a proof's verification time.
    #[serde(default)]
    pub zk_proof_system: ProofSystem,
    /// An ops profile (`hacasim calibrate --ops`, relative to the
    /// scenario): when given, a TEE attestation costs its measured P-384
    /// chain of three certificates, a Groth16 proof its measured Groth16
    /// verification, and under `network.model = "p2p"` each new vote a
    /// node receives its measured Ed25519 verification, serialised with
    /// the node's consensus routine. Plonk and STARK proofs keep their
    /// sourced estimates (the profile times no such verifier).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_profile: Option<String>,
    /// The profile's measurements, loaded by the caller with
    /// [`crate::Scenario::attach_files`].
    #[serde(skip)]
    pub cpu_ops: Option<std::sync::Arc<cpu::OpsProfile>>,
}

/// Proof systems by what verifying one proof costs a validator's CPU.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ProofSystem {
    /// Three pairings (Groth 2016).
    Groth16,
    /// KZG-based Plonkish proofs, as zkML toolkits (EZKL on Halo2) emit.
    #[default]
    Plonk,
    /// Hash-based STARKs: no trusted setup, larger and slower to verify.
    Stark,
}

impl ProofSystem {
    /// CPU seconds to verify one proof on one core (order of magnitude; the
    /// figures and their sources are in `scenarios/SOURCES.md`).
    pub fn verify_cpu_s(self) -> f64 {
        match self {
            ProofSystem::Groth16 => 0.0015,
            ProofSystem::Plonk => 0.004,
            ProofSystem::Stark => 0.03,
        }
    }
}

pub mod defaults {
    use crate::time::SimDuration;
    pub fn settlement_tx_bytes() -> u64 {
        300
    }
    pub fn tee_slowdown() -> f64 {
        1.07
    }
    pub fn tee_attestation_bytes() -> u64 {
        5_000
    }
    pub fn zk_provers() -> u32 {
        8
    }
    pub fn zk_prover_flops() -> f64 {
        5.9e10
    }
    pub fn zk_proof_overhead() -> SimDuration {
        SimDuration::from_secs(1)
    }
    pub fn zk_proof_bytes() -> u64 {
        200_000
    }
    pub fn vanilla_challenge_window() -> SimDuration {
        SimDuration::from_secs(600)
    }
    /// An attestation is a quote signed with ECDSA P-384 plus a certificate
    /// chain: about four P-384 verifications at ~1,700 per second per core
    /// (OpenSSL `speed ecdsap384` class figure): ~2.4 ms.
    pub fn tee_verify_cpu_s() -> f64 {
        0.0024
    }
}

impl VerificationConfig {
    /// The median of operation `op` in the attached ops profile, if any.
    pub fn measured(&self, op: &str) -> Option<f64> {
        self.cpu_ops.as_ref()?.get(op).map(|t| t.median_s)
    }
}

impl Default for VerificationConfig {
    fn default() -> Self {
        VerificationConfig {
            settlement_tx_bytes: defaults::settlement_tx_bytes(),
            tee_slowdown: defaults::tee_slowdown(),
            tee_attestation_bytes: defaults::tee_attestation_bytes(),
            tee_breach_probability: 0.0,
            zk_provers: defaults::zk_provers(),
            zk_prover_flops: defaults::zk_prover_flops(),
            zk_proof_overhead: defaults::zk_proof_overhead(),
            zk_proof_bytes: defaults::zk_proof_bytes(),
            vanilla_challenge_window: defaults::vanilla_challenge_window(),
            vanilla_reexecution_rate: 0.0,
            tee_verify_cpu_s: defaults::tee_verify_cpu_s(),
            zk_proof_system: ProofSystem::Plonk,
            cpu_profile: None,
            cpu_ops: None,
        }
    }
}
