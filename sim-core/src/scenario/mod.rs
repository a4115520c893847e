//! The scenario file: serde types, defaults, and validation whose errors name
//! the file, the line and the dotted key, so a user can fix a typo in one look.
//!
//! Names of consensus settings and their defaults follow CometBFT v0.38's
//! `config.toml` and consensus parameters (sources in `scenarios/SOURCES.md`).
//!
//! One file per section of the scenario, holding its types and their
//! checks (`defaults` holds the default values, each with its source);
//! [`Scenario::from_toml_str`] runs the checks in a fixed order, and the
//! first problem found is the error.

use std::fmt;

use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use crate::inference::{GpuGroup, HardwareSpec, ModelSpec};
use crate::time::{SimDuration, SimTime};
use crate::verification::VerificationConfig;
use crate::workload::StreamConfig;

mod consensus;
pub mod defaults;
mod economics;
mod faults;
mod inference;
mod locate;
mod market;
mod network;
mod p2p;
mod upgrades;
mod validators;
mod verification;
mod workload;

pub use consensus::{ConsensusConfig, MempoolConfig, VoteDelivery};
pub use faults::{FaultKind, FaultSpec};
pub use inference::{Architecture, Batching, GpuSteps, ReplicatedConfig};
pub use locate::{did_you_mean, line_of, line_of_keys};
pub use network::{JitterConfig, JitterKind, NetworkConfig, TopologyConfig, TopologyKind};
pub use p2p::{FullNodeGroup, NetworkModel, NodeRole, P2pConfig, PeerSpec};
pub use upgrades::UpgradeSpec;
pub use validators::{Behaviour, ValidatorGroup, ValidatorSpec};

use inference::Catalogue;
use locate::Seg::{self, Key};
use locate::{err, error_at, serde_error};

/// One validation problem: where it is and what is wrong.
#[derive(Clone, Debug, PartialEq)]
pub struct ScenarioError {
    pub file: String,
    /// 1-based line of the offending key or value, when it can be located.
    pub line: Option<usize>,
    /// Dotted key path, e.g. `validators[2].power`.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(
                f,
                "{}:{}: key `{}`: {}",
                self.file, l, self.key, self.message
            ),
            None => write!(f, "{}: key `{}`: {}", self.file, self.key, self.message),
        }
    }
}

impl std::error::Error for ScenarioError {}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Name of the scenario; the default run directory is `runs/<name>`.
    pub name: String,
    /// Master seed; `--seed` overrides it.
    #[serde(default = "defaults::seed")]
    pub seed: u64,
    /// Simulated time to run.
    pub duration: SimDuration,
    /// Who runs inference: GPU nodes off the consensus path (`"decoupled"`,
    /// HACA) or every validator inside block execution (`"replicated"`, the
    /// design HACA replaces).
    #[serde(default)]
    pub architecture: Architecture,
    /// How a GPU node's batched steps become events: `"coalesced"` (default)
    /// makes one event of the decode steps between two changes of the batch
    /// (an admission, a first token, a finish), cut short when a request
    /// arrives that the next step would admit; `"each"` makes every step an
    /// event (the reference). The steps and their times are the same; only
    /// the order of events that fall on the same nanosecond as a step's end
    /// can differ (each convention is deterministic).
    #[serde(default)]
    pub gpu_steps: GpuSteps,
    /// Block execution when `architecture = "replicated"`.
    #[serde(default)]
    pub replicated: ReplicatedConfig,
    /// The token's market (`[market]`); absent: no price, no `market` rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market: Option<crate::market::MarketConfig>,
    #[serde(default)]
    pub network: NetworkConfig,
    #[serde(default)]
    pub consensus: ConsensusConfig,
    #[serde(default)]
    pub mempool: MempoolConfig,
    /// Validator groups (`[[validators]]`), in address order.
    pub validators: Vec<ValidatorGroup>,
    /// Nodes that do not vote (`[[full_nodes]]`): full nodes that relay,
    /// seed nodes that form the peer graph (`network.model = "p2p"` only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub full_nodes: Vec<FullNodeGroup>,
    /// Faults on a timetable (`[[faults]]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<FaultSpec>,
    /// GPU inference node groups (`[[gpu_nodes]]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpu_nodes: Vec<GpuGroup>,
    /// Request streams (`[[workload]]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workload: Vec<StreamConfig>,
    /// Model upgrades on a timetable (`[[upgrades]]`, issue #26).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upgrades: Vec<UpgradeSpec>,
    #[serde(default)]
    pub verification: VerificationConfig,
    #[serde(default)]
    pub economics: crate::economy::EconomicsConfig,
    /// Guards of the run itself (`[limits]`).
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Models beyond (or replacing) the built-in catalogue `scenarios/models.toml`;
    /// the resolved scenario lists every model it uses.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub models: BTreeMap<String, ModelSpec>,
    /// Hardware beyond (or replacing) `scenarios/hardware.toml`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hardware: BTreeMap<String, HardwareSpec>,
    /// Arrival times of trace streams, per stream index, loaded by the caller
    /// (`sim-core` reads no files) with [`Scenario::attach_traces`].
    #[serde(skip)]
    pub traces: BTreeMap<usize, Vec<SimTime>>,
    /// Fitted calibration profiles, by the file name the scenario gives,
    /// loaded by the caller with [`Scenario::attach_profiles`].
    #[serde(skip)]
    pub profiles: BTreeMap<String, std::sync::Arc<crate::inference::profile::FittedProfile>>,
}

/// Guards that stop a run before it exhausts the machine (issue #22).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Most requests in flight at once (submitted and not yet finalised,
    /// caught, rejected or abandoned: each holds a row of the request
    /// table, about 200 bytes of memory). An arrival that would pass it
    /// stops the run (`sim::run` returns an error of kind
    /// [`crate::SimErrorKind::Overload`]) with the offered load against the
    /// fleet's estimated capacity; the program exits 2 and writes nothing.
    /// A workload that overloads its GPU nodes without bounded queues
    /// (`gpu_nodes.max_queue`, `workload.timeout`) meets it within seconds
    /// of simulated time, rather than swapping for an hour.
    #[serde(default = "defaults::max_in_flight")]
    pub max_in_flight: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_in_flight: defaults::max_in_flight(),
        }
    }
}

impl Scenario {
    /// Parses and validates `text` (the contents of `file`), filling every
    /// default so that the result is the resolved scenario.
    pub fn from_toml_str(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
        let mut scenario: Scenario =
            toml::from_str(text).map_err(|e| serde_error(text, file, &e))?;
        scenario
            .resolve()
            .map_err(|(path, message)| error_at(text, file, &path, message))?;
        Ok(scenario)
    }

    /// The resolved scenario as TOML (every default written out).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a scenario always serialises")
    }

    /// Fills defaults and checks every value that serde cannot, one section
    /// after another: the first problem found is the error, so the order of
    /// the checks is part of the output.
    fn resolve(&mut self) -> Result<(), (Vec<Seg>, String)> {
        if let Err(why) = check_name(&self.name) {
            return err(vec![Key("name")], why);
        }
        if self.duration.0 == 0 {
            return err(vec![Key("duration")], "must be longer than zero".into());
        }
        network::check_network(&mut self.network)?;
        consensus::check_consensus(&self.consensus)?;
        consensus::check_mempool(&self.mempool, &self.consensus)?;
        validators::check_validators(&self.validators, &self.network.regions)?;
        let specs = self.validator_specs();
        p2p::check_p2p(self)?;
        // Explicit links may name full nodes too under the p2p model.
        let names: Vec<String> = self.peer_specs().into_iter().map(|s| s.name).collect();
        network::check_topology(&self.network.topology, &names)?;
        faults::check_faults(
            &self.faults,
            &self.validators,
            &specs,
            &self.network.regions,
        )?;
        // Inference and what follows name models and hardware: the
        // scenario's own entries over the built-in catalogues.
        let cat = Catalogue::new(&self.models, &self.hardware);
        inference::check_own_catalogue(&self.models, &self.hardware)?;
        verification::check_verification(&self.verification)?;
        validators::check_validator_hardware(&self.validators, &cat)?;
        inference::check_replicated(&self.replicated)?;
        if let Some(m) = &self.market {
            market::check_market(m)?;
        }
        inference::check_gpu_nodes(&self.gpu_nodes, &cat)?;
        workload::check_workload(
            &self.workload,
            &self.gpu_nodes,
            self.architecture,
            &self.verification,
            &cat,
        )?;
        check_limits(&self.limits)?;
        economics::check_economics(self, &cat)?;
        upgrades::check_upgrades(
            &self.upgrades,
            &self.gpu_nodes,
            &self.workload,
            self.architecture,
            self.duration,
            &cat,
        )?;
        let (builtin_models, builtin_hw) = cat.into_builtins();
        self.carry_catalogue_entries(builtin_models, builtin_hw);
        Ok(())
    }

    /// Loads every file the scenario names (trace arrivals, calibration
    /// profiles) through `read`: what a caller with a file system does after
    /// parsing.
    pub fn attach_files(
        &mut self,
        text: &str,
        file: &str,
        read: &mut dyn FnMut(&str) -> Result<String, String>,
    ) -> Result<(), ScenarioError> {
        self.attach_traces(text, file, read)?;
        self.attach_profiles(text, file, read)?;
        self.attach_cpu_profile(text, file, read)?;
        self.attach_price_trace(text, file, read)
    }
}

/// Checks `[limits]`.
fn check_limits(l: &LimitsConfig) -> Result<(), (Vec<Seg>, String)> {
    if l.max_in_flight == 0 {
        return err(
            vec![Key("limits"), Key("max_in_flight")],
            "must be at least 1".into(),
        );
    }
    Ok(())
}

/// CometBFT's largest block (`types.MaxBlockSizeBytes`, 100 MiB,
/// types/params.go): no message the model sends is larger.
pub const MAX_BLOCK_SIZE_BYTES: u64 = 104_857_600;

/// The most validators a scenario may have. CometBFT's own QA testnet has
/// 175 validators of 200 nodes and the largest Cosmos chains keep 100–200
/// active; a thousand leaves room for what-ifs while bounding memory (the
/// quorum kernel keeps a validator × validator table).
pub const MAX_VALIDATORS: usize = 1_000;

/// The longest one-way latency between two regions, ms: a minute, far past
/// any path on Earth (the AWS matrix's longest is ~170 ms) and still far from
/// the nanosecond clock's range when messages add up.
pub const MAX_LATENCY_MS: f64 = 60_000.0;

/// The highest arrival rate of one stream, requests (or transactions) per
/// second: ten times the peak of the largest payment networks (Visa's stated
/// 65,000 tx/s), and a mean gap of 1 µs, still a thousand ticks of the
/// nanosecond clock; the in-flight guard (`[limits]`) bounds what follows.
pub const MAX_RATE_PER_S: f64 = 1e6;

/// The most GPU nodes in one group: a bound on memory (each node keeps its
/// queue and batch), far above any fleet a scenario ships (day-150: 24).
pub const MAX_GPU_NODES: usize = 100_000;

/// The most tokens a prompt or an output may ask for: 16.8 million, above
/// the longest context windows offered (10 million), and small enough that
/// a request's prompt (its text and its images' tokens) and output add up
/// within u32.
pub const MAX_SEQUENCE_TOKENS: u32 = 1 << 24;

/// The most images one request may carry.
pub const MAX_IMAGES_PER_REQUEST: u32 = 1024;

/// The most prompt tokens one image may become (LLaVA-1.5: 576; tiled
/// high-resolution encoders a few thousand).
pub const MAX_IMAGE_TOKENS: u32 = 1 << 14;

/// The longest scenario name: it is one file name (`runs/<name>`), and file
/// systems allow 255 bytes for one; hacasim prefixes staging names to it.
pub const NAME_MAX: usize = 100;

/// A scenario's name becomes a directory, `runs/<name>`, that `--force`
/// may replace: it must be one safe path component. Allowed: ASCII letters,
/// digits, `.`, `_` and `-`, starting with a letter or digit (so never `.`,
/// `..`, a hidden name, a separator or an absolute path), at most
/// [`NAME_MAX`] characters.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if !first_ok || !name.chars().all(ok_char) || name.len() > NAME_MAX {
        return Err(format!(
            "{name:?} is not a safe directory name: the run directory is runs/<name>, so a name \
             is one path component of ASCII letters, digits, '.', '_' and '-', starting with a \
             letter or digit, at most {NAME_MAX} characters (no '/', '..' or absolute path)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
name = "t"
duration = "10s"

[network]
regions = ["a"]
latency_ms = [[1.0]]

[[validators]]
name = "v"
count = 4
region = "a"
"#;

    #[test]
    fn minimal_resolves_with_cometbft_defaults() {
        let s = Scenario::from_toml_str(MINIMAL, "t.toml").unwrap();
        assert_eq!(s.consensus.timeout_propose, SimDuration::from_secs(3));
        assert_eq!(s.consensus.timeout_commit, SimDuration::from_secs(1));
        assert_eq!(s.validator_specs().len(), 4);
        // The resolved form reads back to the same scenario.
        let again = Scenario::from_toml_str(&s.to_toml(), "resolved.toml").unwrap();
        assert_eq!(again, s);
    }

    #[test]
    fn unknown_key_names_line_key_and_suggestion() {
        let text = MINIMAL.replace("count = 4", "cuont = 4");
        let e = Scenario::from_toml_str(&text, "t.toml").unwrap_err();
        assert_eq!(e.line, Some(11), "{e}");
        assert_eq!(e.key, "validators[0].cuont", "{e}");
        assert!(e.message.contains("did you mean `count`"), "{e}");
    }

    #[test]
    fn impossible_values_are_located() {
        let text = MINIMAL.replace("latency_ms = [[1.0]]", "latency_ms = [[1.0, 2.0]]");
        let e = Scenario::from_toml_str(&text, "t.toml").unwrap_err();
        assert_eq!(e.key, "network.latency_ms[0]");
        assert_eq!(e.line, Some(7));
        let text = MINIMAL.replace("region = \"a\"", "region = \"b\"\npower = 0");
        let e = Scenario::from_toml_str(&text, "t.toml").unwrap_err();
        assert_eq!(e.key, "validators[0].power");
        assert_eq!(e.line, Some(13));
    }
}
