//! `[verification]`: the settings of TEE, ZK and vanilla verification.

use super::MAX_BLOCK_SIZE_BYTES;
use super::locate::Seg::{self, Key};
use super::locate::err;
use crate::verification::VerificationConfig;

/// Checks `[verification]`.
pub(super) fn check_verification(v: &VerificationConfig) -> Result<(), (Vec<Seg>, String)> {
    if !(v.tee_slowdown.is_finite() && v.tee_slowdown >= 1.0) {
        return err(
            vec![Key("verification"), Key("tee_slowdown")],
            format!("must be ≥ 1, got {}", v.tee_slowdown),
        );
    }
    for (key, p) in [
        ("tee_breach_probability", v.tee_breach_probability),
        ("vanilla_reexecution_rate", v.vanilla_reexecution_rate),
    ] {
        if !(0.0..=1.0).contains(&p) {
            return err(
                vec![Key("verification"), Key(key)],
                format!("must be a probability in [0, 1], got {p}"),
            );
        }
    }
    if !(v.zk_prover_flops.is_finite() && v.zk_prover_flops > 0.0) {
        return err(
            vec![Key("verification"), Key("zk_prover_flops")],
            "must be > 0".into(),
        );
    }
    for (key, x) in [
        ("settlement_tx_bytes", v.settlement_tx_bytes),
        ("tee_attestation_bytes", v.tee_attestation_bytes),
        ("zk_proof_bytes", v.zk_proof_bytes),
    ] {
        if x > MAX_BLOCK_SIZE_BYTES {
            return err(
                vec![Key("verification"), Key(key)],
                format!(
                    "at most {MAX_BLOCK_SIZE_BYTES} bytes (a transaction must fit CometBFT's \
                     largest block), got {x}"
                ),
            );
        }
    }
    Ok(())
}
