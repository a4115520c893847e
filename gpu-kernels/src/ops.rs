//! CPU costs of a node's cryptographic operations: what one CPU thread of
//! the calibrating machine pays to check a vote signature, a zk proof, a
//! TEE attestation's certificate chain, and to hash a transaction, each
//! timed with the crate a Rust node would use (`hacasim calibrate --ops`).
//!
//! Every timed call really verifies: the fixtures are made at calibration
//! time (keys, signatures, a Groth16 proof of a small circuit, a KZG
//! opening), each call's verdict is checked to be "accepted", and the tests
//! check that a tampered input is rejected by the same call. Timing: a
//! warm-up, then `repeats` samples, each the mean of a batch of calls long
//! enough (≥ 100 µs) that the clock's resolution does not matter; the
//! profile records the median, the least and the 90th percentile sample.
//!
//! The file format is documented in `scenarios/profiles/README.md`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ark_bn254::{Bn254, Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::pairing::{Pairing, PairingOutput};
use ark_ec::{AffineRepr, CurveGroup, PrimeGroup};
use ark_ff::{Field, Zero};
use ark_groth16::{Groth16, PreparedVerifyingKey, Proof, prepare_verifying_key};
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError};
use ark_relations::lc;
use ark_snark::{CircuitSpecificSetupSNARK, SNARK};
use ark_std::UniformRand;
use ark_std::rand::{SeedableRng, rngs::StdRng};
// ed25519-dalek 3 and p384 0.14 share the `signature` 3 traits.
use ed25519_dalek::{Signer as _, Verifier as _};
use sha2::{Digest, Sha256};

pub use sim_core::verification::cpu::{COMMIT_SIGNATURES, OP_NAMES, OpTiming, OpsProfile};

/// The crates that do the work, as `Cargo.lock` pins them (a test checks).
pub const CRATES: [(&str, &str); 6] = [
    ("ed25519-dalek", "3.0.0"),
    ("sha2", "0.11.1"),
    ("ark-groth16", "0.6.0"),
    ("ark-bn254", "0.6.0"),
    ("ark-ec", "0.6.0"),
    ("p384", "0.14.0"),
];

/// Length of the signed vote message (CometBFT's canonical vote sign bytes
/// are of this order: chain id, height, round, block id, timestamp).
pub const VOTE_BYTES: usize = 200;
/// Length of the hashed transaction.
pub const TX_BYTES: usize = 1024;
/// Length of a certificate's signed body in the attestation chain (an X.509
/// to-be-signed part with a P-384 key and extensions is of this order).
pub const CERT_BYTES: usize = 1024;

// ---------------------------------------------------------------------------
// The fixtures: each `check` is one timed call, true when it accepts.

/// A CometBFT vote: an ed25519 signature over [`VOTE_BYTES`] bytes, checked
/// against the validator's public key as the node keeps it (decoded once,
/// with the validator set).
pub struct Ed25519Vote {
    pub key: ed25519_dalek::VerifyingKey,
    pub msg: Vec<u8>,
    pub sig: ed25519_dalek::Signature,
}

impl Ed25519Vote {
    pub fn new() -> Ed25519Vote {
        let sk = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
        let msg = pattern(VOTE_BYTES, 1);
        let sig = sk.sign(&msg);
        Ed25519Vote {
            key: sk.verifying_key(),
            msg,
            sig,
        }
    }
    pub fn check(&self) -> bool {
        self.key.verify(&self.msg, &self.sig).is_ok()
    }
}

impl Default for Ed25519Vote {
    fn default() -> Self {
        Self::new()
    }
}

/// A block's LastCommit: [`COMMIT_SIGNATURES`] votes by as many validators,
/// checked as one batch, as CometBFT's `VerifyCommit` does when the keys
/// support it (`verifyCommitBatch`, called by `validateBlock`).
pub struct Ed25519Commit {
    pub keys: Vec<ed25519_dalek::VerifyingKey>,
    pub msgs: Vec<Vec<u8>>,
    pub sigs: Vec<ed25519_dalek::Signature>,
}

impl Ed25519Commit {
    pub fn new() -> Ed25519Commit {
        let mut c = Ed25519Commit {
            keys: Vec::new(),
            msgs: Vec::new(),
            sigs: Vec::new(),
        };
        for i in 0..COMMIT_SIGNATURES {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
            let sk = ed25519_dalek::SigningKey::from_bytes(&seed);
            // Each validator signs its own vote (its timestamp differs).
            let msg = pattern(VOTE_BYTES, i as u8);
            c.sigs.push(sk.sign(&msg));
            c.keys.push(sk.verifying_key());
            c.msgs.push(msg);
        }
        c
    }
    pub fn check(&self) -> bool {
        let msgs: Vec<&[u8]> = self.msgs.iter().map(|m| m.as_slice()).collect();
        ed25519_dalek::verify_batch(&msgs, &self.sigs, &self.keys).is_ok()
    }
}

impl Default for Ed25519Commit {
    fn default() -> Self {
        Self::new()
    }
}

/// CheckTx's hash of a [`TX_BYTES`] transaction, compared with the hash the
/// transaction is known by.
pub struct Sha256Tx {
    pub tx: Vec<u8>,
    pub expected: [u8; 32],
}

impl Sha256Tx {
    pub fn new() -> Sha256Tx {
        let tx = pattern(TX_BYTES, 0);
        let expected = Sha256::digest(&tx).into();
        Sha256Tx { tx, expected }
    }
    pub fn check(&self) -> bool {
        let d: [u8; 32] = Sha256::digest(&self.tx).into();
        d == self.expected
    }
}

impl Default for Sha256Tx {
    fn default() -> Self {
        Self::new()
    }
}

/// The circuit: knowledge of `x` with `x³ + x + 5 = y`, `y` the one public
/// input (three R1CS constraints).
#[derive(Clone, Copy)]
struct Cubic {
    x: Option<Fr>,
}

impl ConstraintSynthesizer<Fr> for Cubic {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let x_val = self.x;
        let x = cs.new_witness_variable(|| x_val.ok_or(SynthesisError::AssignmentMissing))?;
        let x2_val = x_val.map(|x| x * x);
        let x2 = cs.new_witness_variable(|| x2_val.ok_or(SynthesisError::AssignmentMissing))?;
        let x3_val = x2_val.zip(x_val).map(|(a, b)| a * b);
        let x3 = cs.new_witness_variable(|| x3_val.ok_or(SynthesisError::AssignmentMissing))?;
        let y = cs.new_input_variable(|| {
            let (x3, x) = x3_val.zip(x_val).ok_or(SynthesisError::AssignmentMissing)?;
            Ok(x3 + x + Fr::from(5u64))
        })?;
        let one = ark_relations::gr1cs::Variable::One;
        cs.enforce_r1cs_constraint(|| lc!() + x, || lc!() + x, || lc!() + x2)?;
        cs.enforce_r1cs_constraint(|| lc!() + x2, || lc!() + x, || lc!() + x3)?;
        cs.enforce_r1cs_constraint(
            || lc!() + x3 + x + (Fr::from(5u64), one),
            || lc!() + one,
            || lc!() + y,
        )?;
        Ok(())
    }
}

/// A Groth16 proof over BN254 with one public input, checked against the
/// prepared verifying key a chain stores (`e(α, β)` and the negated `γ`,
/// `δ` precomputed): the public input's G1 multiplication, a three-pair
/// Miller loop and one final exponentiation. The proof is taken as decoded
/// points (decoding and subgroup checks are not timed).
pub struct Groth16Proof {
    pub pvk: PreparedVerifyingKey<Bn254>,
    pub proof: Proof<Bn254>,
    pub public: Fr,
}

impl Groth16Proof {
    pub fn new() -> Groth16Proof {
        let mut rng = StdRng::seed_from_u64(23);
        let (pk, vk) =
            Groth16::<Bn254>::setup(Cubic { x: None }, &mut rng).expect("the circuit synthesises");
        let x = Fr::from(3u64);
        let proof = Groth16::<Bn254>::prove(&pk, Cubic { x: Some(x) }, &mut rng)
            .expect("a witness satisfies the circuit");
        Groth16Proof {
            pvk: prepare_verifying_key(&vk),
            proof,
            public: x * x * x + x + Fr::from(5u64),
        }
    }
    pub fn check(&self) -> bool {
        Groth16::<Bn254>::verify_proof(&self.pvk, &self.proof, &[self.public]).unwrap_or(false)
    }
}

impl Default for Groth16Proof {
    fn default() -> Self {
        Self::new()
    }
}

/// One BN254 pairing `e(P, Q)` (Miller loop and final exponentiation, `Q`
/// prepared on the fly), compared with a value computed another way
/// (`e(abG₁, G₂)` for `P = aG₁`, `Q = bG₂`: bilinearity).
pub struct Pairing1 {
    pub p: G1Affine,
    pub q: G2Affine,
    pub expected: PairingOutput<Bn254>,
}

impl Pairing1 {
    pub fn new() -> Pairing1 {
        let mut rng = StdRng::seed_from_u64(29);
        let (a, b) = (Fr::rand(&mut rng), Fr::rand(&mut rng));
        Pairing1 {
            p: (G1Projective::generator() * a).into_affine(),
            q: (G2Projective::generator() * b).into_affine(),
            expected: Bn254::pairing(G1Projective::generator() * (a * b), G2Affine::generator()),
        }
    }
    pub fn check(&self) -> bool {
        Bn254::pairing(self.p, self.q) == self.expected
    }
}

impl Default for Pairing1 {
    fn default() -> Self {
        Self::new()
    }
}

/// The pairing check of a KZG opening: `e(C − yG₁ + zW, G₂) · e(−W, τG₂) = 1`
/// for a commitment `C` to `p`, the claim `p(z) = y` and the witness
/// `W = q(τ)G₁`, `q = (p − y)/(X − z)`. Both G₂ points belong to the setup,
/// so a verifier prepares them once; the timed call is a two-pair Miller
/// loop and one final exponentiation.
///
/// This is the dominant cost of a Plonk verifier: it batches all its
/// polynomial openings into one such two-pairing check (the PLONK paper's
/// verifier: two pairings), and what else it does (G1 multiplications to
/// fold the commitments, [`G1ScalarMul`] each, a Fiat–Shamir transcript,
/// a few dozen field operations) is priced by the other entries here; no
/// Plonk verifier crate is timed.
pub struct KzgCheck {
    pub g1: [G1Affine; 2],
    pub g2: [<Bn254 as Pairing>::G2Prepared; 2],
}

impl KzgCheck {
    /// A degree-15 polynomial opened at `z` ([`KzgCheck::opening`]).
    pub fn new() -> KzgCheck {
        let (c, w, y, z, tau) = KzgCheck::opening();
        KzgCheck::from_opening(c, w, y, z, tau)
    }

    /// A valid opening `(C, W, y, z, τ)` of a random degree-15 polynomial;
    /// the setup's `τ` is known here (the verifier never sees it).
    pub fn opening() -> (G1Projective, G1Projective, Fr, Fr, Fr) {
        let mut rng = StdRng::seed_from_u64(31);
        let coeffs: Vec<Fr> = (0..16).map(|_| Fr::rand(&mut rng)).collect();
        let (tau, z) = (Fr::rand(&mut rng), Fr::rand(&mut rng));
        let eval = |x: Fr| coeffs.iter().rev().fold(Fr::zero(), |acc, c| acc * x + c);
        let y = eval(z);
        // q(τ) = (p(τ) − y) / (τ − z): the quotient is a polynomial because
        // p(z) = y, so its value at τ is this ratio.
        let q_tau = (eval(tau) - y) * (tau - z).inverse().expect("τ ≠ z");
        let g = G1Projective::generator();
        (g * eval(tau), g * q_tau, y, z, tau)
    }

    /// The two pairs the verifier multiplies, from commitment `c`, witness
    /// `w`, claimed value `y` at `z`, and the setup's `τG₂`.
    pub fn from_opening(c: G1Projective, w: G1Projective, y: Fr, z: Fr, tau: Fr) -> KzgCheck {
        let g = G1Projective::generator();
        let lhs = c - g * y + w * z;
        KzgCheck {
            g1: [lhs.into_affine(), (-w).into_affine()],
            g2: [
                G2Affine::generator().into(),
                (G2Projective::generator() * tau).into_affine().into(),
            ],
        }
    }

    pub fn check(&self) -> bool {
        Bn254::multi_pairing(self.g1, self.g2.clone()).is_zero()
    }
}

impl Default for KzgCheck {
    fn default() -> Self {
        Self::new()
    }
}

/// A variable-base BN254 G1 scalar multiplication (a full-size scalar),
/// compared with the expected point: the unit of a verifier's folding of
/// commitments.
pub struct G1ScalarMul {
    pub p: G1Affine,
    pub k: Fr,
    pub expected: G1Affine,
}

impl G1ScalarMul {
    pub fn new() -> G1ScalarMul {
        let mut rng = StdRng::seed_from_u64(37);
        let (a, k) = (Fr::rand(&mut rng), Fr::rand(&mut rng));
        let g = G1Projective::generator();
        G1ScalarMul {
            p: (g * a).into_affine(),
            k,
            expected: (g * (a * k)).into_affine(),
        }
    }
    pub fn check(&self) -> bool {
        (self.p * self.k) == self.expected
    }
}

impl Default for G1ScalarMul {
    fn default() -> Self {
        Self::new()
    }
}

/// A P-384 ECDSA signature (SHA-384 of the message, then the verification)
/// against a decoded key.
pub struct P384Sig {
    pub key: p384::ecdsa::VerifyingKey,
    pub msg: Vec<u8>,
    pub sig: p384::ecdsa::Signature,
}

fn p384_key(seed: u8) -> p384::ecdsa::SigningKey {
    let mut b = [0u8; 48];
    b[47] = seed;
    b[0] = 1;
    p384::ecdsa::SigningKey::from_slice(&b).expect("a valid scalar")
}

impl P384Sig {
    pub fn new() -> P384Sig {
        let sk = p384_key(1);
        let msg = pattern(CERT_BYTES, 2);
        let sig: p384::ecdsa::Signature = sk.sign(&msg);
        P384Sig {
            key: *sk.verifying_key(),
            msg,
            sig,
        }
    }
    pub fn check(&self) -> bool {
        self.key.verify(&self.msg, &self.sig).is_ok()
    }
}

impl Default for P384Sig {
    fn default() -> Self {
        Self::new()
    }
}

/// One certificate: a signed body that starts with its subject's public key
/// (SEC1, uncompressed: 97 bytes), and the issuer's signature over it.
pub struct Cert {
    pub body: Vec<u8>,
    pub sig: p384::ecdsa::Signature,
}

const SEC1_P384: usize = 97;

/// A GPU TEE attestation's certificate chain of three (device leaf,
/// intermediate, self-signed root), P-384 ECDSA throughout as in NVIDIA's
/// attestation chain: walking it decodes each issuer's key from the
/// issuer's certificate and verifies one signature per certificate, the
/// root's against itself, and the root's key against the pinned one.
/// Parsing the X.509 DER around them is not timed.
pub struct P384Chain {
    /// Leaf first.
    pub certs: [Cert; 3],
    pub pinned_root: Vec<u8>,
}

impl P384Chain {
    pub fn new() -> P384Chain {
        let keys = [p384_key(11), p384_key(12), p384_key(13)];
        let cert = |i: usize, issuer: usize| {
            let mut body = keys[i]
                .verifying_key()
                .to_sec1_point(false)
                .as_bytes()
                .to_vec();
            assert_eq!(body.len(), SEC1_P384);
            body.extend(pattern(CERT_BYTES - SEC1_P384, 3 + i as u8));
            let sig: p384::ecdsa::Signature = keys[issuer].sign(&body);
            Cert { body, sig }
        };
        let certs = [cert(0, 1), cert(1, 2), cert(2, 2)];
        let pinned_root = certs[2].body[..SEC1_P384].to_vec();
        P384Chain { certs, pinned_root }
    }
    pub fn check(&self) -> bool {
        if self.certs[2].body[..SEC1_P384] != self.pinned_root[..] {
            return false;
        }
        self.certs.iter().enumerate().all(|(i, c)| {
            let issuer = &self.certs[(i + 1).min(2)].body[..SEC1_P384];
            p384::ecdsa::VerifyingKey::from_sec1_bytes(issuer)
                .is_ok_and(|k| k.verify(&c.body, &c.sig).is_ok())
        })
    }
}

impl Default for P384Chain {
    fn default() -> Self {
        Self::new()
    }
}

/// Deterministic bytes: `(i + seed)` mod 256.
fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_add(seed)).collect()
}

/// Every fixture, made once.
pub struct Fixtures {
    pub ed25519: Ed25519Vote,
    pub commit: Ed25519Commit,
    pub sha256: Sha256Tx,
    pub groth16: Groth16Proof,
    pub pairing: Pairing1,
    pub kzg: KzgCheck,
    pub g1_mul: G1ScalarMul,
    pub p384: P384Sig,
    pub chain: P384Chain,
}

impl Fixtures {
    pub fn new() -> Fixtures {
        Fixtures {
            ed25519: Ed25519Vote::new(),
            commit: Ed25519Commit::new(),
            sha256: Sha256Tx::new(),
            groth16: Groth16Proof::new(),
            pairing: Pairing1::new(),
            kzg: KzgCheck::new(),
            g1_mul: G1ScalarMul::new(),
            p384: P384Sig::new(),
            chain: P384Chain::new(),
        }
    }

    /// The call that times the operation `name` (one of [`OP_NAMES`]),
    /// chosen once so the timed loop does no dispatch on the name.
    pub fn call(&self, name: &str) -> Option<Box<dyn Fn() -> bool + '_>> {
        Some(match name {
            "ed25519_verify" => Box::new(|| self.ed25519.check()),
            "ed25519_batch_verify_175" => Box::new(|| self.commit.check()),
            "sha256_1kib" => Box::new(|| self.sha256.check()),
            "groth16_bn254_verify" => Box::new(|| self.groth16.check()),
            "bn254_pairing" => Box::new(|| self.pairing.check()),
            "bn254_multi_pairing_2" => Box::new(|| self.kzg.check()),
            "bn254_g1_scalar_mul" => Box::new(|| self.g1_mul.check()),
            "p384_ecdsa_verify" => Box::new(|| self.p384.check()),
            "p384_cert_chain_3" => Box::new(|| self.chain.check()),
            _ => return None,
        })
    }
}

impl Default for Fixtures {
    fn default() -> Self {
        Self::new()
    }
}

// ---------------------------------------------------------------------------
// Timing.

/// How long to warm up, how many samples, and the least length of one
/// sample's batch of calls.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub warmup: Duration,
    pub repeats: u32,
    pub min_sample: Duration,
}

impl Plan {
    pub fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                warmup: Duration::from_millis(50),
                repeats: 31,
                min_sample: Duration::from_micros(100),
            }
        } else {
            Plan {
                warmup: Duration::from_millis(500),
                repeats: 501,
                min_sample: Duration::from_micros(200),
            }
        }
    }
}

/// Times `call` under `plan`; an error if it ever rejects (the fixture is
/// valid, so a rejection means the timing would not measure verification).
pub fn time(name: &str, plan: Plan, mut call: impl FnMut() -> bool) -> Result<OpTiming, String> {
    let rejected = || format!("{name}: a valid input was rejected");
    let start = Instant::now();
    let mut calls = 0u64;
    while calls == 0 || start.elapsed() < plan.warmup {
        if !black_box(call()) {
            return Err(rejected());
        }
        calls += 1;
    }
    let per_call = start.elapsed().as_secs_f64() / calls as f64;
    let batch = (plan.min_sample.as_secs_f64() / per_call)
        .ceil()
        .clamp(1.0, 1e6) as u32;
    let mut samples = Vec::with_capacity(plan.repeats as usize);
    for _ in 0..plan.repeats {
        let t = Instant::now();
        let mut ok = true;
        for _ in 0..batch {
            ok &= black_box(call());
        }
        samples.push(t.elapsed().as_secs_f64() / batch as f64);
        if !ok {
            return Err(rejected());
        }
    }
    Ok(summarize(name, samples, batch))
}

/// The median, least and 90th-percentile (nearest rank: the least sample
/// with at least 90 % of them at or below it) of per-call samples.
fn summarize(name: &str, mut samples: Vec<f64>, batch: u32) -> OpTiming {
    let median = crate::sort_median(&mut samples);
    let n = samples.len();
    OpTiming {
        name: name.to_string(),
        median_s: median,
        min_s: samples[0],
        p90_s: samples[(n * 9).div_ceil(10) - 1],
        repeats: n as u32,
        batch,
    }
}

/// Times the operations named (each of [`OP_NAMES`]) on `fixtures`.
pub fn time_ops(fixtures: &Fixtures, names: &[&str], plan: Plan) -> Result<Vec<OpTiming>, String> {
    names
        .iter()
        .map(|&name| {
            let call = fixtures
                .call(name)
                .ok_or_else(|| format!("unknown operation {name:?}"))?;
            time(name, plan, call)
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The profile file.

/// Reads an ops profile from `path`.
pub fn read(path: &Path) -> Result<OpsProfile, String> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{file}: {e}"))?;
    OpsProfile::parse(&text, &file)
}

/// The CPU's model name and the machine's thread count.
fn hardware() -> String {
    format!(
        "{} ({} threads)",
        crate::cpu::cpu_model(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    )
}

fn versions() -> BTreeMap<String, String> {
    let mut v: BTreeMap<String, String> = CRATES
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    v.insert("hacasim".into(), env!("CARGO_PKG_VERSION").into());
    v.insert("arch".into(), std::env::consts::ARCH.into());
    v.insert("threads_timed".into(), "1".into());
    v.insert(
        "build".into(),
        if cfg!(debug_assertions) {
            "debug assertions on"
        } else {
            "release"
        }
        .into(),
    );
    v
}

/// Times every operation and writes the profile to `out` (atomically).
pub fn calibrate(out: &Path, quick: bool, command: &str) -> Result<OpsProfile, String> {
    eprintln!("calibrate --ops: {}, one thread", hardware());
    if cfg!(debug_assertions) {
        // Measured here: arkworks' pairings take twice as long with the
        // dev profile's overflow checks and opt-level 2 as in release.
        eprintln!(
            "calibrate --ops: a build with debug assertions (overflow checks in the crates timed); build with --release for a profile"
        );
    }
    let fixtures = Fixtures::new();
    let ops = time_ops(&fixtures, &OP_NAMES, Plan::new(quick))?;
    let profile = OpsProfile {
        kind: "ops".into(),
        hardware: hardware(),
        date: crate::calibrate::today(),
        command: command.to_string(),
        versions: versions(),
        ops,
    };
    crate::calibrate::write_atomic(out, profile.to_toml()?.as_bytes())
        .map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(profile)
}

/// The table printed after an ops calibration.
pub fn print(p: &OpsProfile, path: &Path, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<24} {:>12} {:>12} {:>12} {:>8} {:>6}",
        "operation", "median µs", "min µs", "p90 µs", "repeats", "batch"
    )?;
    for o in &p.ops {
        writeln!(
            out,
            "{:<24} {:>12.2} {:>12.2} {:>12.2} {:>8} {:>6}",
            o.name,
            o.median_s * 1e6,
            o.min_s * 1e6,
            o.p90_s * 1e6,
            o.repeats,
            o.batch
        )?;
    }
    writeln!(
        out,
        "{}: {} operations timed on {}",
        path.display(),
        p.ops.len(),
        p.hardware
    )
}

/// `--ops`: exit 0 when the profile is written, 1 otherwise.
pub fn main_with(out: Option<PathBuf>, quick: bool, command: &str) -> i32 {
    let path = out.unwrap_or_else(|| PathBuf::from("profiles/cpu-ops.toml"));
    match calibrate(&path, quick, command) {
        Ok(p) => {
            let _ = print(&p, &path, &mut std::io::stdout());
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hacasim-ops-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn ed25519_accepts_the_vote_and_rejects_a_tampered_one() {
        let mut v = Ed25519Vote::new();
        assert!(v.check());
        v.msg[0] ^= 1;
        assert!(!v.check(), "tampered message");
        v.msg[0] ^= 1;
        let mut bytes = v.sig.to_bytes();
        bytes[5] ^= 1;
        v.sig = ed25519_dalek::Signature::from_bytes(&bytes);
        assert!(!v.check(), "tampered signature");
    }

    /// The expected digest comes from coreutils, not from `sha2`:
    /// `python3 -c "import sys; sys.stdout.buffer.write(bytes(i%256 for i in
    /// range(1024)))" | sha256sum`.
    #[test]
    fn sha256_matches_coreutils_and_rejects_a_tampered_tx() {
        let mut t = Sha256Tx::new();
        let hex: String = t.expected.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "785b0751fc2c53dc14a4ce3d800e69ef9ce1009eb327ccf458afe09c242c26c9"
        );
        assert!(t.check());
        t.tx[1000] ^= 0x80;
        assert!(!t.check());
    }

    #[test]
    fn groth16_accepts_the_proof_and_rejects_a_wrong_input_or_proof() {
        let mut g = Groth16Proof::new();
        assert!(g.check());
        g.public += Fr::from(1u64);
        assert!(!g.check(), "wrong public input");
        g.public -= Fr::from(1u64);
        assert!(g.check());
        g.proof.a = (g.proof.a + G1Affine::generator()).into_affine();
        assert!(!g.check(), "tampered proof");
    }

    #[test]
    fn pairing_is_bilinear_and_a_changed_point_is_caught() {
        let mut p = Pairing1::new();
        assert!(p.check());
        p.p = (p.p + p.p).into_affine();
        assert!(!p.check());
    }

    #[test]
    fn kzg_check_accepts_the_opening_and_rejects_a_false_claim() {
        assert!(KzgCheck::new().check());
        let (c, w, y, z, tau) = KzgCheck::opening();
        let one = Fr::from(1u64);
        assert!(!KzgCheck::from_opening(c, w, y + one, z, tau).check(), "y");
        assert!(!KzgCheck::from_opening(c, w, y, z + one, tau).check(), "z");
        let g = G1Projective::generator();
        assert!(!KzgCheck::from_opening(c, w + g, y, z, tau).check(), "W");
        assert!(!KzgCheck::from_opening(c + g, w, y, z, tau).check(), "C");
    }

    #[test]
    fn g1_scalar_mul_gives_the_expected_point() {
        let mut m = G1ScalarMul::new();
        assert!(m.check());
        m.k += Fr::from(1u64);
        assert!(!m.check());
    }

    #[test]
    fn p384_accepts_the_signature_and_rejects_tampering_or_another_key() {
        let mut s = P384Sig::new();
        assert!(s.check());
        s.msg[3] ^= 1;
        assert!(!s.check(), "tampered message");
        s.msg[3] ^= 1;
        s.key = *p384_key(99).verifying_key();
        assert!(!s.check(), "another key");
    }

    #[test]
    fn cert_chain_is_rejected_when_any_link_is_tampered() {
        assert!(P384Chain::new().check());
        for i in 0..3 {
            let mut c = P384Chain::new();
            let last = c.certs[i].body.len() - 1;
            c.certs[i].body[last] ^= 1;
            assert!(!c.check(), "cert {i}'s body");
            let mut c = P384Chain::new();
            c.certs[i].sig = P384Chain::new().certs[(i + 1) % 3].sig;
            assert!(!c.check(), "cert {i}'s signature");
        }
        // An intermediate re-signed by a key outside the chain.
        let mut c = P384Chain::new();
        c.certs[1].sig = p384_key(99).sign(&c.certs[1].body);
        assert!(!c.check(), "stranger-signed intermediate");
        // A self-consistent chain under another root.
        let mut c = P384Chain::new();
        c.pinned_root = p384_key(99)
            .verifying_key()
            .to_sec1_point(false)
            .as_bytes()
            .to_vec();
        assert!(!c.check(), "unpinned root");
    }

    #[test]
    fn every_operation_has_a_call_that_accepts() {
        let f = Fixtures::new();
        for name in OP_NAMES {
            assert_eq!(f.call(name).map(|c| c()), Some(true), "{name}");
        }
        assert!(f.call("md5").is_none());
    }

    #[test]
    fn a_rejecting_call_is_an_error_not_a_timing() {
        let e = time("x", Plan::new(true), || false).unwrap_err();
        assert!(e.contains("rejected"), "{e}");
    }

    #[test]
    fn percentiles_of_known_samples() {
        // 10, 9, ..., 1: median 5.5, least 1, nearest-rank 90th percentile
        // 9 (nine of ten at or below it; 10 is the maximum).
        let t = summarize("x", (1..=10).rev().map(f64::from).collect(), 3);
        assert_eq!((t.median_s, t.min_s, t.p90_s), (5.5, 1.0, 9.0));
        assert_eq!((t.repeats, t.batch), (10, 3));
        // 1..=21: median 11, p90 the 19th (ceil(18.9)).
        let t = summarize("x", (1..=21).map(f64::from).collect(), 1);
        assert_eq!((t.median_s, t.p90_s), (11.0, 19.0));
        let t = summarize("x", vec![4.0], 1);
        assert_eq!((t.median_s, t.min_s, t.p90_s), (4.0, 4.0, 4.0));
    }

    /// Independent facts, from the algorithms rather than from these
    /// crates: a Groth16 verification is a three-pair Miller loop, one
    /// final exponentiation and a G1 multiplication, so strictly more work
    /// than one pairing (one Miller loop, one final exponentiation); an
    /// ed25519 verification is a double scalar multiplication on a 255-bit
    /// curve, published at ~270 000 cycles (Bernstein et al., "High-speed
    /// high-security signatures", 2011), against ~15 cycles a byte for
    /// SHA-256 in software (eBASH), ~15 000 cycles for 1 KiB and less with
    /// the SHA extensions; and a chain of three P-384 verifications is three
    /// times the work of one. The margins (1.2×, 2×, 2×) are well inside
    /// those ratios, so a busy neighbour does not fail this.
    #[test]
    fn timings_agree_with_what_the_algorithms_cost() {
        let plan = Plan {
            warmup: Duration::from_millis(20),
            repeats: 15,
            min_sample: Duration::from_micros(100),
        };
        let f = Fixtures::new();
        let t = |name| time_ops(&f, &[name], plan).unwrap().remove(0).min_s;
        let (groth16, pairing) = (t("groth16_bn254_verify"), t("bn254_pairing"));
        assert!(groth16 > 1.2 * pairing, "{groth16} vs {pairing}");
        let (ed, sha) = (t("ed25519_verify"), t("sha256_1kib"));
        assert!(ed > 2.0 * sha, "{ed} vs {sha}");
        let (chain, one) = (t("p384_cert_chain_3"), t("p384_ecdsa_verify"));
        assert!(chain > 2.0 * one, "{chain} vs {one}");
        // Batch verification shares one multi-scalar multiplication among
        // the batch: about twice as fast a signature as one at a time for
        // batches of this size (Bernstein et al., 2011, section 5), and
        // still a scalar multiplication's work for each signature.
        let (batch, n) = (t("ed25519_batch_verify_175"), COMMIT_SIGNATURES as f64);
        assert!(batch < 0.9 * n * ed, "{batch} vs {n} × {ed}");
        assert!(batch > n * ed / 8.0, "{batch} vs {n} × {ed}");
    }

    #[test]
    fn a_written_profile_reads_back_the_same() {
        let path = temp_path("round-trip.toml");
        let written = calibrate(&path, true, "hacasim calibrate --ops --quick").unwrap();
        assert_eq!(read(&path).unwrap(), written);
        let names: Vec<&str> = written.ops.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, OP_NAMES);
        for o in &written.ops {
            assert!(o.min_s <= o.median_s && o.median_s <= o.p90_s, "{o:?}");
            assert_eq!(o.repeats, Plan::new(true).repeats);
        }
        assert_eq!(written.versions["ed25519-dalek"], "3.0.0");
        assert!(!path.with_extension("toml.partial").exists());
        std::fs::remove_file(&path).unwrap();
    }

    const GOOD: &str = r#"
kind = "ops"
hardware = "AMD EPYC (2 threads)"
date = "2026-12-05"
command = "hacasim calibrate --ops"

[versions]
p384 = "0.14.0"

[[op]]
name = "ed25519_verify"
median_s = 3e-5
min_s = 2.9e-5
p90_s = 3.2e-5
repeats = 11
batch = 7

[[op]]
name = "sha256_1kib"
median_s = 1e-6
min_s = 0.9e-6
p90_s = 1.1e-6
repeats = 11
batch = 100
"#;

    #[test]
    fn a_hand_written_profile_parses() {
        let p = OpsProfile::parse(GOOD, "good.toml").unwrap();
        assert_eq!(p.get("sha256_1kib").unwrap().batch, 100);
        assert!(p.get("bn254_pairing").is_none());
    }

    #[test]
    fn bad_profiles_are_errors_naming_the_file_and_key() {
        let cases: [(&str, &str, &[&str]); 9] = [
            ("median_s = 3e-5", "median_s = \"fast\"", &["median_s"]),
            ("p90_s = 3.2e-5\n", "\n", &["p90_s"]),
            ("p90_s = 1.1e-6", "p90_s = 0.5e-6", &["op[1]", "p90_s"]),
            ("min_s = 2.9e-5", "min_s = -1.0", &["op[0]", "min_s"]),
            ("min_s = 2.9e-5", "min_s = 4e-5", &["op[0]", "min_s"]),
            (
                "name = \"sha256_1kib\"",
                "name = \"md5\"",
                &["op[1]", "name"],
            ),
            (
                "name = \"sha256_1kib\"",
                "name = \"ed25519_verify\"",
                &["op[1]", "twice"],
            ),
            ("kind = \"ops\"", "kind = \"cpu\"", &["kind"]),
            ("batch = 7", "batch = 7\nextra = 1", &["extra"]),
        ];
        for (from, to, keys) in cases {
            assert!(GOOD.contains(from), "{from}");
            let text = GOOD.replacen(from, to, 1);
            let e = OpsProfile::parse(&text, "bad.toml").unwrap_err();
            assert!(e.starts_with("bad.toml: "), "{e}");
            for k in keys {
                assert!(e.contains(k), "{to:?}: {e}");
            }
        }
        // Through `read`: the path is named, also when the file is missing.
        let path = temp_path("bad.toml");
        std::fs::write(&path, GOOD.replacen("repeats = 11", "repeats = 0", 1)).unwrap();
        let e = read(&path).unwrap_err();
        assert!(e.contains(&path.display().to_string()), "{e}");
        assert!(e.contains("repeats"), "{e}");
        std::fs::remove_file(&path).unwrap();
        let e = read(&path).unwrap_err();
        assert!(e.contains(&path.display().to_string()), "{e}");
    }

    /// The versions a profile records are the ones `Cargo.lock` pins.
    #[test]
    fn recorded_crate_versions_are_the_locked_ones() {
        let lock =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock")).unwrap();
        for (name, version) in CRATES {
            assert!(
                lock.contains(&format!("name = \"{name}\"\nversion = \"{version}\"\n")),
                "{name} {version} is not what Cargo.lock pins"
            );
        }
    }
}
