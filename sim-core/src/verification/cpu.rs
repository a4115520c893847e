//! An ops profile (`hacasim calibrate --ops`, issue #23): the CPU cost of a
//! node's cryptographic checks, measured with the crates that implement
//! them on the machine that ran the calibration. `verification.cpu_profile`
//! makes a scenario's verification costs these measurements; the format is
//! in `scenarios/profiles/README.md`. Parsed here, where the simulator
//! reads it; measured in `gpu-kernels` (`ops.rs`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Signatures in the batch `ed25519_batch_verify_175` times: the QA
/// network's 175 validators (a block's LastCommit).
pub const COMMIT_SIGNATURES: usize = 175;

/// The operations, in the order they are timed and written.
pub const OP_NAMES: [&str; 9] = [
    "ed25519_verify",
    "ed25519_batch_verify_175",
    "sha256_1kib",
    "groth16_bn254_verify",
    "bn254_pairing",
    "bn254_multi_pairing_2",
    "bn254_g1_scalar_mul",
    "p384_ecdsa_verify",
    "p384_cert_chain_3",
];

/// One operation's timing: seconds per call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpTiming {
    pub name: String,
    pub median_s: f64,
    pub min_s: f64,
    pub p90_s: f64,
    /// Samples taken.
    pub repeats: u32,
    /// Calls per sample (each sample is their mean).
    pub batch: u32,
}

/// An ops profile: where it was measured, and one timing per operation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpsProfile {
    /// Always `ops`: tells this file from an operator profile.
    pub kind: String,
    /// CPU model and the machine's thread count (one thread is timed).
    pub hardware: String,
    pub date: String,
    pub command: String,
    /// Crate versions, architecture, build.
    #[serde(default)]
    pub versions: BTreeMap<String, String>,
    #[serde(rename = "op")]
    pub ops: Vec<OpTiming>,
}

impl OpsProfile {
    /// The timing of the operation `name`, if the profile has it.
    pub fn get(&self, name: &str) -> Option<&OpTiming> {
        self.ops.iter().find(|o| o.name == name)
    }

    /// The file's text: a comment line, then the TOML.
    pub fn to_toml(&self) -> Result<String, String> {
        Ok(format!(
            "# CPU costs of a node's cryptographic operations, written by `{}`; format: scenarios/profiles/README.md.\n{}",
            self.command,
            toml::to_string(self).map_err(|e| e.to_string())?
        ))
    }

    /// Parses and checks a profile; errors name `file` and the key.
    pub fn parse(text: &str, file: &str) -> Result<OpsProfile, String> {
        let p: OpsProfile = toml::from_str(text).map_err(|e| format!("{file}: {e}"))?;
        if p.kind != "ops" {
            return Err(format!(
                "{file}: kind = {:?}: expected \"ops\" (an ops profile)",
                p.kind
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, o) in p.ops.iter().enumerate() {
            let at = format!("{file}: op[{i}]");
            if !OP_NAMES.contains(&o.name.as_str()) {
                return Err(format!(
                    "{at}.name = {:?}: not an operation (expected one of {})",
                    o.name,
                    OP_NAMES.join(", ")
                ));
            }
            if !seen.insert(o.name.as_str()) {
                return Err(format!("{at}.name = {:?}: given twice", o.name));
            }
            for (key, v) in [
                ("median_s", o.median_s),
                ("min_s", o.min_s),
                ("p90_s", o.p90_s),
            ] {
                if !(v > 0.0 && v.is_finite()) {
                    return Err(format!(
                        "{at} ({}).{key} = {v}: not a positive number of seconds",
                        o.name
                    ));
                }
            }
            if o.min_s > o.median_s {
                return Err(format!(
                    "{at} ({}).min_s = {}: above median_s = {}",
                    o.name, o.min_s, o.median_s
                ));
            }
            if o.p90_s < o.median_s {
                return Err(format!(
                    "{at} ({}).p90_s = {}: below median_s = {}",
                    o.name, o.p90_s, o.median_s
                ));
            }
            for (key, v) in [("repeats", o.repeats), ("batch", o.batch)] {
                if v == 0 {
                    return Err(format!("{at} ({}).{key} = 0: at least 1", o.name));
                }
            }
        }
        Ok(p)
    }
}
