//! The scenario file: serde types, defaults, and validation whose errors name
//! the file, the line and the dotted key, so a user can fix a typo in one look.
//!
//! Names of consensus settings and their defaults follow CometBFT v0.38's
//! `config.toml` and consensus parameters (sources in `scenarios/SOURCES.md`).

use std::fmt;

use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use crate::consensus::Rules;
use crate::inference::latency::LatencyKind;
use crate::inference::{self, GpuGroup, HardwareSpec, ModelSpec};
use crate::regions;
use crate::time::{SimDuration, SimTime};
use crate::verification::VerificationConfig;
use crate::workload::{ArrivalKind, StreamConfig, TokenKind};

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
    /// Faults on a timetable (`[[faults]]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<FaultSpec>,
    /// GPU inference node groups (`[[gpu_nodes]]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpu_nodes: Vec<GpuGroup>,
    /// Request streams (`[[workload]]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workload: Vec<StreamConfig>,
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

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
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

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConsensusConfig {
    #[serde(default = "defaults::timeout_propose")]
    pub timeout_propose: SimDuration,
    #[serde(default = "defaults::delta")]
    pub timeout_propose_delta: SimDuration,
    #[serde(default = "defaults::timeout_vote")]
    pub timeout_prevote: SimDuration,
    #[serde(default = "defaults::delta")]
    pub timeout_prevote_delta: SimDuration,
    #[serde(default = "defaults::timeout_vote")]
    pub timeout_precommit: SimDuration,
    #[serde(default = "defaults::delta")]
    pub timeout_precommit_delta: SimDuration,
    #[serde(default = "defaults::timeout_commit")]
    pub timeout_commit: SimDuration,
    /// Start the next height as soon as precommits from all power are in.
    #[serde(default)]
    pub skip_timeout_commit: bool,
    #[serde(default = "defaults::yes")]
    pub create_empty_blocks: bool,
    /// With `create_empty_blocks = false`, propose an empty block after this
    /// long without transactions (0 = wait for transactions forever).
    #[serde(default = "defaults::zero")]
    pub create_empty_blocks_interval: SimDuration,
    /// Consensus parameter `block.max_bytes`.
    #[serde(default = "defaults::max_block_bytes")]
    pub max_block_bytes: u64,
    /// Size on the wire of one prevote or precommit.
    #[serde(default = "defaults::vote_bytes")]
    pub vote_bytes: u64,
    /// Header, last commit and proposal framing of a block, beyond its transactions.
    #[serde(default = "defaults::block_overhead_bytes")]
    pub block_overhead_bytes: u64,
    /// How votes travel: `"quorum"` (default) computes, for a height where
    /// nothing can interfere, each validator's +2/3 arrival times from the
    /// same per-message delays instead of queueing every vote; `"per_message"`
    /// delivers every vote as its own event (the reference semantics).
    #[serde(default)]
    pub vote_delivery: VoteDelivery,
    /// Whose round rules validators follow: `"cometbft-v0.38"` (default:
    /// what the Cosmos SDK's v0.50 and v0.53 releases ship), `"cometbft-v1"`
    /// or `"tendermint-paper"` (see [`Rules`]).
    #[serde(default)]
    pub rules: Rules,
}

/// See [`Scenario::gpu_steps`].
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum GpuSteps {
    #[default]
    Coalesced,
    Each,
}

/// See [`ConsensusConfig::vote_delivery`].
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum VoteDelivery {
    #[default]
    Quorum,
    PerMessage,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MempoolConfig {
    /// Settlement transactions arriving per second (Poisson).
    #[serde(default)]
    pub tx_rate_per_s: f64,
    #[serde(default = "defaults::tx_bytes")]
    pub tx_bytes: u64,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Behaviour {
    Honest,
    /// Silent for the whole run.
    Crashed,
    /// Double-signs: conflicting proposals and votes to different peers.
    Equivocating,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ValidatorGroup {
    /// Group name; its validators are named `<name>-0`, `<name>-1`, …
    /// (a group of one is named `<name>`).
    pub name: String,
    #[serde(default = "defaults::one")]
    pub count: usize,
    pub region: String,
    /// Voting power of each validator in the group.
    #[serde(default = "defaults::power")]
    pub power: u64,
    #[serde(default = "defaults::behaviour")]
    pub behaviour: Behaviour,
    /// Hardware class of each validator (`scenarios/hardware.toml`): what it
    /// costs, whether it can execute a model, how fast (replicated), and
    /// whose CPU verifies attestations and proofs (decoupled).
    #[serde(default = "defaults::validator_hardware")]
    pub hardware: String,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FaultKind {
    /// The validators stop (no messages in or out, no timers) until `recover`.
    Crash,
    Recover,
    /// Every message to or from the validators takes `factor` times longer.
    Slow,
    /// Messages between different `groups` are dropped; validators in no group
    /// still reach everyone.
    Partition,
    /// Ends every partition.
    Heal,
    /// Sets the message-loss rate to `rate`.
    Loss,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    pub at: SimDuration,
    pub kind: FaultKind,
    /// Validator or group names (crash, recover, slow).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validators: Vec<String>,
    /// Partition sides, each a list of region, group or validator names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Undo the fault at this time (recover, un-slow, heal, loss back to the base rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<SimDuration>,
}

/// Defaults, each with the source of the number it stands for.
pub mod defaults {
    use super::*;
    pub fn seed() -> u64 {
        1
    }
    /// A million requests in flight: about 0.2 GB (~200 bytes each,
    /// measured: `scenarios/SOURCES.md`), and 34 times the most that any
    /// shipped scenario holds (`day-150`'s 29,276 at its diurnal peak, with
    /// its ten-minute vanilla challenge window).
    pub fn max_in_flight() -> u64 {
        1_000_000
    }
    /// 64 Ki tokens of inference per block (assumption: a protocol choice;
    /// about 77 chat requests of 600 + 250 tokens).
    pub fn max_block_tokens() -> u64 {
        65_536
    }
    /// Thinking Machines Lab, "Defeating Nondeterminism in LLM Inference"
    /// (He et al., 2025): batch-invariant vLLM took 42 s where the default
    /// took 26 s on their benchmark: 42 / 26 = 1.62.
    pub fn deterministic_slowdown() -> f64 {
        42.0 / 26.0
    }
    /// A validator is a regular PC unless the scenario says otherwise.
    pub fn validator_hardware() -> String {
        "regular-pc".into()
    }
    pub fn regions() -> Vec<String> {
        regions::AWS_REGIONS.iter().map(|s| s.to_string()).collect()
    }
    /// 1 Gbit/s per peer link: a sustained single-flow rate between cloud VMs
    /// (assumption, see `scenarios/SOURCES.md`).
    pub fn bandwidth_mbps() -> f64 {
        1000.0
    }
    pub fn jitter_kind() -> JitterKind {
        JitterKind::Normal
    }
    /// CometBFT QA: netem `delay <cell>ms <5% of cell>ms distribution normal`.
    pub fn jitter_fraction() -> f64 {
        0.05
    }
    pub fn jitter_sigma() -> f64 {
        0.1
    }
    pub fn topology_kind() -> TopologyKind {
        TopologyKind::Full
    }
    /// CometBFT `p2p.max_num_outbound_peers` default.
    pub fn degree() -> usize {
        10
    }
    /// CometBFT v0.38 `consensus.timeout_propose = "3s"`.
    pub fn timeout_propose() -> SimDuration {
        SimDuration::from_secs(3)
    }
    /// CometBFT v0.38 `timeout_*_delta = "500ms"`.
    pub fn delta() -> SimDuration {
        SimDuration::from_millis(500)
    }
    /// CometBFT v0.38 `timeout_prevote = timeout_precommit = "1s"`.
    pub fn timeout_vote() -> SimDuration {
        SimDuration::from_secs(1)
    }
    /// CometBFT v0.38 `timeout_commit = "1s"`.
    pub fn timeout_commit() -> SimDuration {
        SimDuration::from_secs(1)
    }
    pub fn yes() -> bool {
        true
    }
    pub fn zero() -> SimDuration {
        SimDuration::ZERO
    }
    /// CometBFT v0.38 consensus parameter `block.max_bytes = 22020096` (21 MiB).
    pub fn max_block_bytes() -> u64 {
        22_020_096
    }
    /// A signed vote: type, height, round, block id (2×32 B hashes),
    /// timestamp, validator address (20 B) and index, Ed25519 signature
    /// (64 B), plus framing: about 160 B (see `scenarios/SOURCES.md`).
    pub fn vote_bytes() -> u64 {
        160
    }
    /// Header (~650 B) and proposal framing; the last commit's signatures are
    /// counted per validator at run time (see `scenarios/SOURCES.md`).
    pub fn block_overhead_bytes() -> u64 {
        1024
    }
    /// A typical Cosmos SDK bank send is ~250 bytes (see `scenarios/SOURCES.md`).
    pub fn tx_bytes() -> u64 {
        250
    }
    pub fn one() -> usize {
        1
    }
    pub fn power() -> u64 {
        10
    }
    pub fn behaviour() -> Behaviour {
        Behaviour::Honest
    }
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
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
impl Default for ConsensusConfig {
    fn default() -> Self {
        ConsensusConfig {
            timeout_propose: defaults::timeout_propose(),
            timeout_propose_delta: defaults::delta(),
            timeout_prevote: defaults::timeout_vote(),
            timeout_prevote_delta: defaults::delta(),
            timeout_precommit: defaults::timeout_vote(),
            timeout_precommit_delta: defaults::delta(),
            timeout_commit: defaults::timeout_commit(),
            skip_timeout_commit: false,
            create_empty_blocks: true,
            create_empty_blocks_interval: SimDuration::ZERO,
            max_block_bytes: defaults::max_block_bytes(),
            vote_bytes: defaults::vote_bytes(),
            block_overhead_bytes: defaults::block_overhead_bytes(),
            vote_delivery: VoteDelivery::Quorum,
            rules: Rules::default(),
        }
    }
}
impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig {
            tx_rate_per_s: 0.0,
            tx_bytes: defaults::tx_bytes(),
        }
    }
}

/// A validator after expanding groups: index = address order.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidatorSpec {
    pub name: String,
    pub group: String,
    pub region: usize,
    pub power: u64,
    pub behaviour: Behaviour,
    pub hardware: String,
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

    /// Potential GPU operators per group beyond `count` (issue #12's entrants).
    pub fn gpu_entrants(&self) -> usize {
        self.market.as_ref().map_or(0, |m| {
            if m.operators.enabled {
                m.operators.max_entrants as usize
            } else {
                0
            }
        })
    }

    /// The validators, expanded from their groups in declaration order.
    pub fn validator_specs(&self) -> Vec<ValidatorSpec> {
        let mut out = Vec::new();
        for g in &self.validators {
            let region = self
                .network
                .regions
                .iter()
                .position(|r| *r == g.region)
                .unwrap_or(0);
            for i in 0..g.count {
                let name = if g.count == 1 {
                    g.name.clone()
                } else {
                    format!("{}-{}", g.name, i)
                };
                out.push(ValidatorSpec {
                    name,
                    group: g.name.clone(),
                    region,
                    power: g.power,
                    behaviour: g.behaviour,
                    hardware: g.hardware.clone(),
                });
            }
        }
        out
    }

    /// Resolves a validator-or-group name to validator indices.
    pub fn resolve_validators(&self, name: &str) -> Option<Vec<usize>> {
        let specs = self.validator_specs();
        let by_group: Vec<usize> = specs
            .iter()
            .enumerate()
            .filter(|(_, s)| s.group == name)
            .map(|(i, _)| i)
            .collect();
        if !by_group.is_empty() {
            return Some(by_group);
        }
        specs.iter().position(|s| s.name == name).map(|i| vec![i])
    }

    /// Fills defaults and checks every value that serde cannot.
    fn resolve(&mut self) -> Result<(), (Vec<Seg>, String)> {
        use Seg::{Idx, Key};
        let err = |path: Vec<Seg>, msg: String| Err((path, msg));
        if let Err(why) = check_name(&self.name) {
            return err(vec![Key("name")], why);
        }
        if self.duration.0 == 0 {
            return err(vec![Key("duration")], "must be longer than zero".into());
        }
        // Network.
        let net = &mut self.network;
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
                                format!(
                                    "latency must be between 0 and {MAX_LATENCY_MS} ms, got {v}"
                                ),
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
        // Consensus.
        let c = &self.consensus;
        for (key, d) in [
            ("timeout_propose", c.timeout_propose),
            ("timeout_prevote", c.timeout_prevote),
            ("timeout_precommit", c.timeout_precommit),
        ] {
            if d.0 == 0 {
                return err(
                    vec![Key("consensus"), Key(key)],
                    "must be longer than zero".into(),
                );
            }
        }
        if c.max_block_bytes == 0 || c.max_block_bytes > MAX_BLOCK_SIZE_BYTES {
            return err(
                vec![Key("consensus"), Key("max_block_bytes")],
                format!(
                    "must be between 1 and {MAX_BLOCK_SIZE_BYTES} (CometBFT's MaxBlockSizeBytes), \
                     got {}",
                    c.max_block_bytes
                ),
            );
        }
        for (key, x) in [
            ("vote_bytes", c.vote_bytes),
            ("block_overhead_bytes", c.block_overhead_bytes),
        ] {
            if x > MAX_BLOCK_SIZE_BYTES {
                return err(
                    vec![Key("consensus"), Key(key)],
                    format!(
                        "at most {MAX_BLOCK_SIZE_BYTES} bytes (CometBFT's MaxBlockSizeBytes), got {x}"
                    ),
                );
            }
        }
        // Mempool.
        let m = &self.mempool;
        if !(m.tx_rate_per_s >= 0.0 && m.tx_rate_per_s <= MAX_RATE_PER_S) {
            return err(
                vec![Key("mempool"), Key("tx_rate_per_s")],
                format!(
                    "must be in [0, {MAX_RATE_PER_S:e}], got {}",
                    m.tx_rate_per_s
                ),
            );
        }
        if m.tx_bytes == 0 {
            return err(vec![Key("mempool"), Key("tx_bytes")], "must be > 0".into());
        }
        if m.tx_bytes.saturating_add(c.block_overhead_bytes) > c.max_block_bytes {
            return err(
                vec![Key("mempool"), Key("tx_bytes")],
                format!(
                    "a transaction of {} bytes does not fit in a block of max_block_bytes = {}",
                    m.tx_bytes, c.max_block_bytes
                ),
            );
        }
        // Validators.
        if self.validators.is_empty() {
            return err(
                vec![Key("validators")],
                "needs at least one [[validators]] group".into(),
            );
        }
        for (i, g) in self.validators.iter().enumerate() {
            let at = |k: &'static str| vec![Key("validators"), Idx(i), Key(k)];
            if g.name.trim().is_empty() {
                return err(at("name"), "must not be empty".into());
            }
            if self.validators[..i].iter().any(|o| o.name == g.name) {
                return err(at("name"), format!("group name {:?} is used twice", g.name));
            }
            if g.count == 0 || g.count > MAX_VALIDATORS {
                return err(
                    at("count"),
                    format!("must be between 1 and {MAX_VALIDATORS}, got {}", g.count),
                );
            }
            if g.power == 0 {
                return err(at("power"), "voting power must be > 0".into());
            }
            if g.power > (i64::MAX as u64) / 8 / 10_000 {
                return err(at("power"), "voting power is too large".into());
            }
            if !self.network.regions.contains(&g.region) {
                return err(
                    at("region"),
                    format!(
                        "unknown region {:?}{}",
                        g.region,
                        did_you_mean(&g.region, &self.network.regions)
                    ),
                );
            }
        }
        let total: usize = self.validators.iter().map(|g| g.count).sum();
        if total > MAX_VALIDATORS {
            return err(
                vec![Key("validators")],
                format!("{total} validators in all; at most {MAX_VALIDATORS}"),
            );
        }
        let specs = self.validator_specs();
        for (i, s) in specs.iter().enumerate() {
            if specs[..i].iter().any(|o| o.name == s.name) {
                return err(
                    vec![Key("validators")],
                    format!("validator name {:?} is used twice", s.name),
                );
            }
        }
        let total_power: u64 = specs.iter().map(|s| s.power).sum();
        if total_power > (i64::MAX as u64) / 8 {
            return err(
                vec![Key("validators")],
                "total voting power is too large".into(),
            );
        }
        // Topology.
        let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
        let t = &self.network.topology;
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
                                format!("unknown validator {n:?}{}", did_you_mean(n, &names)),
                            );
                        }
                    }
                }
            }
            _ => {}
        }
        // Faults.
        let mut known: Vec<String> = names.clone();
        known.extend(self.validators.iter().map(|g| g.name.clone()));
        for (i, f) in self.faults.iter().enumerate() {
            let at = |k: &'static str| vec![Key("faults"), Idx(i), Key(k)];
            if let Some(u) = f.until
                && u <= f.at
            {
                return err(at("until"), format!("must be later than `at` ({})", f.at));
            }
            match f.kind {
                FaultKind::Crash | FaultKind::Recover | FaultKind::Slow => {
                    if f.validators.is_empty() {
                        return err(at("validators"), "names no validator".into());
                    }
                    for (k, n) in f.validators.iter().enumerate() {
                        if self.resolve_validators(n).is_none() {
                            return err(
                                vec![Key("faults"), Idx(i), Key("validators"), Idx(k)],
                                format!(
                                    "unknown validator or group {n:?}{}",
                                    did_you_mean(n, &known)
                                ),
                            );
                        }
                    }
                    if f.kind == FaultKind::Slow {
                        match f.factor {
                            Some(x) if x.is_finite() && x >= 1.0 => {}
                            Some(x) => return err(at("factor"), format!("must be ≥ 1, got {x}")),
                            None => {
                                return err(
                                    at("factor"),
                                    "kind = \"slow\" needs `factor` (≥ 1)".into(),
                                );
                            }
                        }
                    }
                }
                FaultKind::Partition => {
                    if f.groups.len() < 2 {
                        return err(at("groups"), "a partition needs at least two groups".into());
                    }
                    let mut all = known.clone();
                    all.extend(self.network.regions.iter().cloned());
                    for (g, group) in f.groups.iter().enumerate() {
                        if group.is_empty() {
                            return err(
                                vec![Key("faults"), Idx(i), Key("groups"), Idx(g)],
                                "is empty".into(),
                            );
                        }
                        for (k, n) in group.iter().enumerate() {
                            if !self.network.regions.contains(n)
                                && self.resolve_validators(n).is_none()
                            {
                                return err(
                                    vec![Key("faults"), Idx(i), Key("groups"), Idx(g), Idx(k)],
                                    format!(
                                        "unknown region, group or validator {n:?}{}",
                                        did_you_mean(n, &all)
                                    ),
                                );
                            }
                        }
                    }
                }
                FaultKind::Loss => match f.rate {
                    Some(r) if (0.0..=1.0).contains(&r) => {}
                    Some(r) => {
                        return err(
                            at("rate"),
                            format!("must be a probability in [0, 1], got {r}"),
                        );
                    }
                    None => return err(at("rate"), "kind = \"loss\" needs `rate`".into()),
                },
                FaultKind::Heal => {}
            }
        }
        self.resolve_inference()
    }

    /// Fills the model and hardware entries the scenario uses from the
    /// catalogues and checks GPU nodes, workload streams and verification.
    fn resolve_inference(&mut self) -> Result<(), (Vec<Seg>, String)> {
        use Seg::{Idx, Key};
        let err = |path: Vec<Seg>, msg: String| Err((path, msg));
        let builtin_models = inference::builtin_models();
        let builtin_hw = inference::builtin_hardware();
        let mut model_names: Vec<String> = builtin_models.keys().cloned().collect();
        model_names.extend(self.models.keys().cloned());
        let mut hw_names: Vec<String> = builtin_hw.keys().cloned().collect();
        hw_names.extend(self.hardware.keys().cloned());
        for (name, m) in &self.models {
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
        }
        for (name, h) in &self.hardware {
            if !(h.peak_tflops > 0.0 && h.mem_bw_gbps > 0.0 && h.mem_gb > 0.0) {
                return err(
                    vec![Key("hardware")],
                    format!("hardware {name:?}: peak_tflops, mem_bw_gbps and mem_gb must be > 0"),
                );
            }
        }
        let v = &self.verification;
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
        for (i, g) in self.validators.iter().enumerate() {
            if !self.hardware.contains_key(&g.hardware) && !builtin_hw.contains_key(&g.hardware) {
                return err(
                    vec![Key("validators"), Idx(i), Key("hardware")],
                    format!(
                        "unknown hardware {:?}{}",
                        g.hardware,
                        did_you_mean(&g.hardware, &hw_names)
                    ),
                );
            }
        }
        let r = &self.replicated;
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
        if let Some(m) = &self.market {
            let at = |k: &'static str| vec![Key("market"), Key(k)];
            if m.interval.0 == 0 {
                return err(at("interval"), "must be longer than zero".into());
            }
            if m.price == crate::market::PriceKind::Trace
                && m.file.as_deref().is_none_or(|f| f.trim().is_empty())
            {
                return err(
                    at("file"),
                    "price = \"trace\" needs file = \"<time_s,price_usd CSV>\"".into(),
                );
            }
            if !(m.initial_price_usd.is_finite() && m.initial_price_usd > 0.0) {
                return err(
                    at("initial_price_usd"),
                    format!("must be > 0, got {}", m.initial_price_usd),
                );
            }
            if !(m.volatility.is_finite() && m.volatility >= 0.0) {
                return err(
                    at("volatility"),
                    format!("must be ≥ 0, got {}", m.volatility),
                );
            }
            let o = &m.operators;
            if o.window.0 == 0 || o.patience.0 == 0 {
                return err(
                    vec![
                        Key("market"),
                        Key("operators"),
                        Key(if o.window.0 == 0 {
                            "window"
                        } else {
                            "patience"
                        }),
                    ],
                    "must be longer than zero".into(),
                );
            }
            if !(o.entry_margin.is_finite() && o.entry_margin >= 0.0) {
                return err(
                    vec![Key("market"), Key("operators"), Key("entry_margin")],
                    format!("must be ≥ 0, got {}", o.entry_margin),
                );
            }
            for (i, sh) in m.shocks.iter().enumerate() {
                let at = |k: &'static str| vec![Key("market"), Key("shocks"), Idx(i), Key(k)];
                let ok = match sh.kind {
                    crate::market::ShockKind::OperatorExit => (0.0..=1.0).contains(&sh.factor),
                    _ => sh.factor.is_finite() && sh.factor > 0.0,
                };
                if !ok {
                    return err(
                        at("factor"),
                        format!(
                            "must be > 0 (a fraction in [0, 1] for operator_exit), got {}",
                            sh.factor
                        ),
                    );
                }
                if sh.until.is_some_and(|u| u <= sh.at) {
                    return err(at("until"), "must be later than `at`".into());
                }
            }
            for (key, x) in [
                ("price_elasticity", m.demand.price_elasticity),
                ("latency_elasticity", m.demand.latency_elasticity),
            ] {
                if !x.is_finite() || x.abs() > 100.0 {
                    return err(
                        vec![Key("market"), Key("demand"), Key(key)],
                        format!("must be a finite elasticity, got {x}"),
                    );
                }
            }
            for (key, x) in [
                ("drift", m.drift),
                ("issuance_elasticity", m.issuance_elasticity),
                ("demand_elasticity", m.demand_elasticity),
            ] {
                if !x.is_finite() || x.abs() > 1e6 {
                    return err(
                        at(key),
                        format!("must be a finite number of reasonable size, got {x}"),
                    );
                }
            }
        }
        let replicated = self.architecture == Architecture::Replicated;
        let mut group_names: Vec<&str> = Vec::new();
        for (i, g) in self.gpu_nodes.iter().enumerate() {
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
            let Some(m) = self.models.get(&g.model).or(builtin_models.get(&g.model)) else {
                return err(
                    at("model"),
                    format!(
                        "unknown model {:?}{}",
                        g.model,
                        did_you_mean(&g.model, &model_names)
                    ),
                );
            };
            let Some(h) = self
                .hardware
                .get(&g.hardware)
                .or(builtin_hw.get(&g.hardware))
            else {
                return err(
                    at("hardware"),
                    format!(
                        "unknown hardware {:?}{}",
                        g.hardware,
                        did_you_mean(&g.hardware, &hw_names)
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
                    "kind = \"profile\" needs profile = \"<file>\" (see scenarios/profiles/)"
                        .into(),
                );
            }
        }
        let mut stream_names: Vec<&str> = Vec::new();
        for (i, st) in self.workload.iter().enumerate() {
            let at = |k: &'static str| vec![Key("workload"), Idx(i), Key(k)];
            if st.name.trim().is_empty() || stream_names.contains(&st.name.as_str()) {
                return err(
                    at("name"),
                    format!("stream name {:?} is empty or used twice", st.name),
                );
            }
            stream_names.push(&st.name);
            if !self.models.contains_key(&st.model) && !builtin_models.contains_key(&st.model) {
                return err(
                    at("model"),
                    format!(
                        "unknown model {:?}{}",
                        st.model,
                        did_you_mean(&st.model, &model_names)
                    ),
                );
            }
            let serving: Vec<&GpuGroup> = self
                .gpu_nodes
                .iter()
                .filter(|g| g.model == st.model)
                .collect();
            if serving.is_empty() && !replicated {
                return err(
                    at("model"),
                    format!("no [[gpu_nodes]] group serves model {:?}", st.model),
                );
            }
            let a = &st.arrival;
            let arr = |k: &'static str| vec![Key("workload"), Idx(i), Key("arrival"), Key(k)];
            match a.kind {
                ArrivalKind::Poisson | ArrivalKind::Diurnal
                    if !(a.rate_per_s > 0.0 && a.rate_per_s <= MAX_RATE_PER_S) =>
                {
                    return err(
                        arr("rate_per_s"),
                        format!("must be in (0, {MAX_RATE_PER_S:e}], got {}", a.rate_per_s),
                    );
                }
                ArrivalKind::Diurnal if !(0.0..=1.0).contains(&a.amplitude) => {
                    return err(
                        arr("amplitude"),
                        format!("must be in [0, 1], got {}", a.amplitude),
                    );
                }
                ArrivalKind::Diurnal if a.period.0 == 0 => {
                    return err(arr("period"), "must be longer than zero".into());
                }
                ArrivalKind::Mmpp => {
                    if a.rates.is_empty()
                        || a.rates.iter().any(|r| !(*r >= 0.0 && *r <= MAX_RATE_PER_S))
                        || a.rates.iter().all(|r| *r == 0.0)
                    {
                        return err(
                            arr("rates"),
                            format!(
                                "needs one or more rates in [0, {MAX_RATE_PER_S:e}], not all zero"
                            ),
                        );
                    }
                    if a.dwell.len() != a.rates.len() || a.dwell.iter().any(|d| d.0 == 0) {
                        return err(
                            arr("dwell"),
                            format!("needs {} mean dwell times > 0, one per rate", a.rates.len()),
                        );
                    }
                }
                ArrivalKind::Trace if a.file.as_deref().is_none_or(str::is_empty) => {
                    return err(arr("file"), "kind = \"trace\" needs `file`".into());
                }
                _ => {}
            }
            for (key, d) in [
                ("prompt_tokens", &st.prompt_tokens),
                ("output_tokens", &st.output_tokens),
            ] {
                let path = |k: &'static str| vec![Key("workload"), Idx(i), Key(key), Key(k)];
                if d.kind != TokenKind::Uniform && !(d.mean.is_finite() && d.mean >= 1.0) {
                    return err(path("mean"), format!("must be ≥ 1, got {}", d.mean));
                }
                if d.min > d.max {
                    return err(path("min"), format!("min {} is above max {}", d.min, d.max));
                }
                if !(d.sigma.is_finite() && d.sigma >= 0.0) {
                    return err(path("sigma"), format!("must be ≥ 0, got {}", d.sigma));
                }
            }
            let m = &st.modes;
            for (key, x) in [("tee", m.tee), ("zk", m.zk), ("vanilla", m.vanilla)] {
                if !(x.is_finite() && x >= 0.0) {
                    return err(
                        vec![Key("workload"), Idx(i), Key("modes"), Key(key)],
                        format!("must be ≥ 0, got {x}"),
                    );
                }
            }
            if m.total() <= 0.0 {
                return err(
                    at("modes"),
                    "needs a weight > 0 for at least one of tee, zk, vanilla".into(),
                );
            }
            if m.tee > 0.0 && !replicated && !serving.iter().any(|g| g.tee) {
                return err(
                    vec![Key("workload"), Idx(i), Key("modes"), Key("tee")],
                    format!(
                        "no [[gpu_nodes]] group with tee = true serves {:?}",
                        st.model
                    ),
                );
            }
            if m.zk > 0.0 && self.verification.zk_provers == 0 {
                return err(
                    vec![Key("verification"), Key("zk_provers")],
                    "ZK requests need at least one prover".into(),
                );
            }
            for (key, x) in [
                ("value_at_risk_usd", st.value_at_risk_usd),
                ("fee_usd", st.fee_usd),
            ] {
                if !(x.is_finite() && x >= 0.0) {
                    return err(at(key), format!("must be ≥ 0, got {x}"));
                }
            }
            if st.timeout.is_some_and(|t| t.0 == 0) {
                return err(
                    at("timeout"),
                    "must be longer than zero (leave the key out for no timeout)".into(),
                );
            }
        }
        if self.limits.max_in_flight == 0 {
            return err(
                vec![Key("limits"), Key("max_in_flight")],
                "must be at least 1".into(),
            );
        }
        // Economics.
        let e = &self.economics;
        for (key, x) in [
            ("burn_fraction", e.burn_fraction),
            ("delegated_fraction", e.delegated_fraction),
            ("commission", e.commission),
            ("gpu_emission_share", e.gpu_emission_share),
            ("validator_gpu_share", e.validator_gpu_share),
            ("slash_fraction_fraud", e.slash_fraction_fraud),
            ("slash_fraction_double_sign", e.slash_fraction_double_sign),
        ] {
            if !(0.0..=1.0).contains(&x) {
                return err(
                    vec![Key("economics"), Key(key)],
                    format!("must be a fraction in [0, 1], got {x}"),
                );
            }
        }
        for (key, x) in [
            ("user_balance", e.user_balance),
            ("stake_per_power", e.stake_per_power),
            ("gpu_node_stake", e.gpu_node_stake),
            ("treasury", e.treasury),
            ("zk_prover_fee", e.zk_prover_fee),
            ("price_per_mtok_per_bparam", e.price_per_mtok_per_bparam),
            ("annual_inflation", e.annual_inflation),
        ] {
            if !(x.is_finite() && (0.0..1e12).contains(&x)) {
                return err(
                    vec![Key("economics"), Key(key)],
                    format!("must be between 0 and 1e12, got {x}"),
                );
            }
        }
        if e.annual_inflation > 10.0 {
            return err(
                vec![Key("economics"), Key("annual_inflation")],
                "is a fraction per year (0.05 = 5%); more than 10 is surely a mistake".into(),
            );
        }
        if let Some((key, message)) = crate::economy::genesis_overflow(self) {
            return err(vec![Key("economics"), Key(key)], message);
        }
        for (key, x) in [
            ("block_gas_limit", e.block_gas_limit),
            ("elasticity", e.elasticity),
            ("base_fee_denominator", e.base_fee_denominator),
        ] {
            if x == 0 {
                return err(
                    vec![Key("economics"), Key(key)],
                    "must be at least 1".into(),
                );
            }
        }
        if e.block_gas_limit < e.tx_base_gas {
            return err(
                vec![Key("economics"), Key("block_gas_limit")],
                format!("below tx_base_gas ({}): no transaction fits", e.tx_base_gas),
            );
        }
        for (name, p) in &e.prices {
            if !self.models.contains_key(name) && !builtin_models.contains_key(name) {
                return err(
                    vec![Key("economics"), Key("prices")],
                    format!("unknown model {name:?}{}", did_you_mean(name, &model_names)),
                );
            }
            if !(p.input_per_mtok >= 0.0
                && p.output_per_mtok >= 0.0
                && p.input_per_mtok.is_finite()
                && p.output_per_mtok.is_finite())
            {
                return err(
                    vec![Key("economics"), Key("prices")],
                    format!("prices of {name:?} must be ≥ 0"),
                );
            }
        }
        // The resolved scenario carries every model and GPU it uses.
        for st in &self.workload {
            if !self.models.contains_key(&st.model) {
                self.models
                    .insert(st.model.clone(), builtin_models[&st.model].clone());
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
        Ok(())
    }

    /// Loads the arrival times of every `kind = "trace"` stream through
    /// `read` (given the file name as written in the scenario). `text` and
    /// `file` are the scenario's own, for error locations.
    pub fn attach_traces(
        &mut self,
        text: &str,
        file: &str,
        read: &mut dyn FnMut(&str) -> Result<String, String>,
    ) -> Result<(), ScenarioError> {
        for (i, st) in self.workload.iter().enumerate() {
            if st.arrival.kind != ArrivalKind::Trace {
                continue;
            }
            let name = st.arrival.file.clone().unwrap_or_default();
            let path = vec![
                Seg::Key("workload"),
                Seg::Idx(i),
                Seg::Key("arrival"),
                Seg::Key("file"),
            ];
            let fail = |message: String| error_at(text, file, &path, message);
            let body = read(&name).map_err(|e| fail(format!("cannot read trace {name:?}: {e}")))?;
            let times = crate::workload::parse_trace(&body)
                .map_err(|(line, m)| fail(format!("trace {name:?} line {line}: {m}")))?;
            self.traces.insert(i, times);
        }
        Ok(())
    }
}

impl Scenario {
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
        self.attach_price_trace(text, file, read)
    }

    /// Loads `[market] file` when `price = "trace"`.
    pub fn attach_price_trace(
        &mut self,
        text: &str,
        file: &str,
        read: &mut dyn FnMut(&str) -> Result<String, String>,
    ) -> Result<(), ScenarioError> {
        let Some(m) = self.market.as_mut() else {
            return Ok(());
        };
        if m.price != crate::market::PriceKind::Trace {
            return Ok(());
        }
        let name = m.file.clone().unwrap_or_default();
        let fail = |message: String| {
            error_at(text, file, &[Seg::Key("market"), Seg::Key("file")], message)
        };
        let body =
            read(&name).map_err(|e| fail(format!("cannot read price trace {name:?}: {e}")))?;
        m.trace = crate::market::parse_price_trace(&body)
            .map_err(|(line, msg)| fail(format!("price trace {name:?} line {line}: {msg}")))?;
        Ok(())
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

/// The 1-based line of the key at `keys` (plain table keys, outermost
/// first) in a TOML text, for errors about files other than scenarios.
pub fn line_of_keys(text: &str, keys: &[&str]) -> Option<usize> {
    let path: Vec<Seg> = keys.iter().map(|k| Seg::Name(k.to_string())).collect();
    locate(text, &path)
}

/// One step of a key path.
#[derive(Clone, Debug)]
enum Seg {
    Key(&'static str),
    /// A key known only at run time.
    Name(String),
    Idx(usize),
}

impl Seg {
    fn key(&self) -> Option<&str> {
        match self {
            Seg::Key(k) => Some(k),
            Seg::Name(k) => Some(k),
            Seg::Idx(_) => None,
        }
    }
}

/// The error for the key at `path` in `text` (the contents of `file`).
fn error_at(text: &str, file: &str, path: &[Seg], message: String) -> ScenarioError {
    ScenarioError {
        file: file.to_string(),
        line: locate(text, path),
        key: path_string(path),
        message,
    }
}

fn path_string(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg.key() {
            Some(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            None => {
                if let Seg::Idx(i) = seg {
                    s.push_str(&format!("[{i}]"));
                }
            }
        }
    }
    s
}

/// The 1-based line holding byte `offset` of `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

/// The line of the deepest part of `path` present in `text`.
fn locate(text: &str, path: &[Seg]) -> Option<usize> {
    use toml::de::{DeTable, DeValue};
    let doc = DeTable::parse(text).ok()?;
    let mut span = None;
    let mut value: Option<&DeValue> = None;
    let mut table = Some(doc.get_ref());
    for seg in path {
        let next = match (seg, table, value) {
            (Seg::Key(_) | Seg::Name(_), Some(t), _) => t
                .iter()
                .find(|(key, _)| Some(key.get_ref().as_ref()) == seg.key())
                .map(|(key, v)| {
                    span = Some(key.span());
                    v
                }),
            (Seg::Idx(i), _, Some(DeValue::Array(a))) => {
                a.get(*i).inspect(|v| span = Some(v.span()))
            }
            _ => None,
        };
        let Some(v) = next else { break };
        value = Some(v.get_ref());
        table = match v.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => None,
        };
    }
    // Nothing of the path is in the file (e.g. a default that conflicts with
    // another value): point at the top of the file, the key names the rest.
    Some(span.map_or(1, |s| line_of(text, s.start)))
}

/// The deepest key path whose key or value span contains `offset`. Header
/// tables (`[network]`, `[[validators]]`) may have spans that do not cover
/// their keys, so every entry is searched, not only the enclosing ones.
fn path_at(text: &str, offset: usize) -> String {
    use toml::de::{DeTable, DeValue};
    fn walk(v: &DeValue, offset: usize, path: &mut Vec<String>, best: &mut (usize, Vec<String>)) {
        let mut visit = |label: String, hit: bool, child: &DeValue, path: &mut Vec<String>| {
            path.push(label);
            if hit && path.len() > best.0 {
                *best = (path.len(), path.clone());
            }
            walk(child, offset, path, best);
            path.pop();
        };
        match v {
            DeValue::Table(t) => {
                for (k, val) in t.iter() {
                    let hit = k.span().contains(&offset) || val.span().contains(&offset);
                    visit(k.get_ref().to_string(), hit, val.get_ref(), path);
                }
            }
            DeValue::Array(a) => {
                for (i, val) in a.iter().enumerate() {
                    visit(
                        format!("[{i}]"),
                        val.span().contains(&offset),
                        val.get_ref(),
                        path,
                    );
                }
            }
            _ => {}
        }
    }
    let Ok(doc) = DeTable::parse(text) else {
        return String::new();
    };
    let root = DeValue::Table(doc.into_inner());
    let mut best = (0, Vec::new());
    walk(&root, offset, &mut Vec::new(), &mut best);
    let mut out = String::new();
    for seg in best.1 {
        if !seg.starts_with('[') && !out.is_empty() {
            out.push('.');
        }
        out.push_str(&seg);
    }
    out
}

fn serde_error(text: &str, file: &str, e: &toml::de::Error) -> ScenarioError {
    let raw = e.message().trim().to_string();
    let line = Some(e.span().map_or(1, |s| line_of(text, s.start)));
    let mut key = e.span().map(|s| path_at(text, s.start)).unwrap_or_default();
    let mut message = raw.clone();
    // serde: "unknown field `x`, expected one of `a`, `b`" / "expected `a`".
    if let Some(rest) = raw.strip_prefix("unknown field `") {
        let field = rest.split('`').next().unwrap_or("");
        let expected: Vec<String> = rest
            .split('`')
            .skip(2)
            .step_by(2)
            .map(|s| s.to_string())
            .collect();
        if !key.ends_with(field) {
            key = if key.is_empty() {
                field.to_string()
            } else {
                format!("{key}.{field}")
            };
        }
        message = format!("unknown key `{field}`{}", did_you_mean(field, &expected));
        if !expected.is_empty() {
            message.push_str(&format!(" (allowed here: {})", expected.join(", ")));
        }
    } else if let Some(rest) = raw.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or("");
        key = if key.is_empty() {
            field.to_string()
        } else {
            format!("{key}.{field}")
        };
        message = format!("required key `{field}` is missing");
    } else if let Some(rest) = raw.strip_prefix("unknown variant `") {
        let value = rest.split('`').next().unwrap_or("");
        let expected: Vec<String> = rest
            .split('`')
            .skip(2)
            .step_by(2)
            .map(|s| s.to_string())
            .collect();
        message = format!(
            "unknown value {value:?}{} (allowed: {})",
            did_you_mean(value, &expected),
            expected.join(", ")
        );
    }
    if key.is_empty() {
        key = "(document)".to_string();
    }
    ScenarioError {
        file: file.to_string(),
        line,
        key,
        message,
    }
}

/// ", did you mean `x`?" when a candidate is close, else "".
pub fn did_you_mean(word: &str, candidates: &[String]) -> String {
    candidates
        .iter()
        .map(|c| (strsim::levenshtein(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| format!(", did you mean `{c}`?"))
        .unwrap_or_default()
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
    fn line_of_counts_the_line_an_offset_is_on() {
        let t = "a = 1\nb = 2\n";
        assert_eq!(line_of(t, 0), 1);
        assert_eq!(
            line_of(t, 6),
            2,
            "the first byte after a newline is on the next line"
        );
        assert_eq!(line_of(t, 12), 3);
    }

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
