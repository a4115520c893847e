//! `summary.json`: the headline numbers of a run, with stable keys that later
//! issues extend and that `hacasim check` compares. No wall-clock values.

use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub scenario: String,
    pub seed: u64,
    pub sim_duration_s: f64,
    pub events_processed: u64,
    pub consensus: ConsensusSummary,
    pub requests: RequestCounts,
    /// finalised − delivered, per verification mode.
    pub trust_gap_s: TrustGaps,
    pub fraud: FraudSummary,
    pub gpu: PoolSummary,
    pub prover: PoolSummary,
    pub economics: EconomicsSummary,
    /// `"decoupled"` or `"replicated"`.
    pub architecture: String,
    pub cost: CostSummary,
    /// Validators that stopped because a block's model did not fit them.
    pub validators_unable_to_execute: u64,
    /// CPU seconds of attestation and proof verification per second of
    /// simulated time, per validator: the load as a fraction of one core.
    pub validator_verify_cpu_fraction: MeanMax,
    /// The token's market (`[market]` only; issue #12's other fields follow
    /// when operators, demand response and shocks are built).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub market: Option<MarketSummary>,
    /// Model upgrades (`[[upgrades]]`, issue #26), in scenario order;
    /// absent when the scenario has none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub upgrades: Vec<UpgradeSummary>,
    /// The p2p model's peers and propagation; absent under the direct model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkSummary>,
}

/// One `[[upgrades]]` entry as it went.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UpgradeSummary {
    pub at_s: f64,
    /// The GPU-node group upgraded (decoupled; `None` when replicated).
    pub group: Option<String>,
    /// The group's model before (decoupled), or the first switched
    /// stream's (replicated).
    pub from_model: String,
    pub to_model: String,
    /// When the group's last node served the new model (decoupled), or
    /// when the streams switched (replicated); `None` if not within the run.
    pub completed_s: Option<f64>,
    /// Block intervals that ended before `at`, and from `at` to the end.
    pub block_interval_s_before: Distribution,
    pub block_interval_s_after: Distribution,
    /// Trust gaps (finalised − delivered, every mode) of requests finalised
    /// before `at`, and from `at` to the end.
    pub trust_gap_s_before: Distribution,
    pub trust_gap_s_after: Distribution,
    /// Requests that found no node serving their model (lost to capacity,
    /// any stream) from `at` until completion, or the end of the run;
    /// 0 when replicated (no GPU nodes: a halted chain loses none, it
    /// leaves them unfinished).
    pub requests_lost: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MarketSummary {
    pub price_final: f64,
    pub price_min: f64,
    pub price_max: f64,
    /// Fewest GPU operators serving at any interval's end.
    pub min_active_operators: u32,
    /// Intervals with requests waiting for a batch or lost for want of an operator, in seconds.
    pub time_capacity_short_s: f64,
    pub operator_exits: u64,
    pub operator_entries: u64,
    /// Requests that found no operator serving their model.
    pub requests_lost_to_capacity: u64,
}

/// Hardware-hours and what they cost (list prices of `scenarios/hardware.toml`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CostSummary {
    /// GPUs of the validators' machines × simulated hours.
    pub gpu_hours_validators: f64,
    /// GPUs of the inference nodes × simulated hours (0 when replicated: none run).
    pub gpu_hours_inference_nodes: f64,
    /// Every machine's hourly price × simulated hours, per 1,000 finalised requests.
    pub usd_per_1k_requests: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MeanMax {
    pub mean: Option<f64>,
    pub max: Option<f64>,
}

/// Token totals in base units (10^token_decimals per token).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EconomicsSummary {
    pub token_decimals: u32,
    pub genesis_supply: u128,
    pub final_supply: u128,
    pub minted: u128,
    pub burned: u128,
    pub slashed: u128,
    pub fees_to_gpu_nodes: u128,
    pub fees_to_provers: u128,
    pub tips_to_proposers: u128,
    /// `fees-to-validators`: inference fees kept by validators.
    pub fees_to_validators: u128,
    /// `single`: inference fees burned.
    pub inference_fees_burned: u128,
    pub net_issuance_annualised_pct: f64,
    pub final_base_fee: u64,
    /// Payments refused for want of balance.
    pub payments_refused: u64,
    /// Supply-invariant checks passed (one per committed block).
    pub invariant_checks: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RequestCounts {
    pub submitted: u64,
    pub delivered: u64,
    pub finalised: u64,
    pub unfinished_at_end: u64,
    /// Refused on arrival by a GPU node whose queue was full (`gpu_nodes.max_queue`).
    pub rejected: u64,
    /// Given up by their user (`workload.timeout`) before the result came:
    /// taken out of a queue, or (`abandoned_in_service`) already in a batch.
    pub abandoned: u64,
    /// Of `abandoned`, those already in a batch: served and settled anyway.
    pub abandoned_in_service: u64,
    /// The most requests in flight at once (`limits.max_in_flight` bounds it).
    pub peak_in_flight: u64,
    /// Delivered requests (results to their users) per second of simulated
    /// time: what the GPU side served, whether or not final by the end.
    pub delivered_per_s: f64,
    /// Finalised requests per second of simulated time: sustained throughput
    /// of final results (a request whose challenge window outlasts the run
    /// is delivered but not counted here).
    pub finalised_per_s: f64,
    /// Submitted → finalised, per finalised request.
    pub time_to_finality_s: Distribution,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrustGaps {
    pub tee: ModeGaps,
    pub zk: ModeGaps,
    pub vanilla: ModeGaps,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModeGaps {
    pub n: u64,
    pub mean: Option<f64>,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

impl ModeGaps {
    pub fn of(samples: &Sketch) -> ModeGaps {
        let d = samples.distribution();
        ModeGaps {
            n: samples.len(),
            mean: d.mean,
            p50: d.p50,
            p90: d.p90,
            p99: d.p99,
            max: d.max,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FraudSummary {
    pub wrong_results: u64,
    pub detected: u64,
    pub undetected: u64,
    pub mean_detection_delay_s: Option<f64>,
    /// Value at risk (USD) of every wrong result delivered to a user.
    pub exposed_value: f64,
}

/// A pool of servers (GPU nodes, provers): mean utilisation and queue wait.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PoolSummary {
    pub utilisation_mean: Option<f64>,
    pub queue_wait_s_p99: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConsensusSummary {
    pub heights_committed: u64,
    /// Between consecutive commits, heights ≥ 2 (height 1 has no predecessor).
    pub block_interval_s: Distribution,
    pub rounds_per_height: RoundsPerHeight,
    pub heights_with_round_gt0: u64,
    /// Heights at which two honest validators committed different blocks.
    pub safety_violations: u64,
    /// Longest time without a new commit, counting the run's start and end.
    pub longest_stall_s: f64,
    /// Heights decided through the quorum fast path (the rest had one event per vote).
    pub heights_quorum_fast_path: u64,
    /// The chain halted: no app hash held +2/3 of the power (replicated).
    pub halts: bool,
    /// The first height that could not be decided, when it halted.
    pub halt_height: Option<u64>,
    /// Transactions' latency, submitted to the first honest commit of
    /// their block (CometBFT's QA measures the same).
    pub tx_latency_s: Distribution,
    /// Transactions in committed blocks (CometBFT's QA counts the same to
    /// find the saturation point).
    pub txs_committed: u64,
}

/// The p2p model's network (`network.model = "p2p"`, issue #23).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NetworkSummary {
    pub model: String,
    pub validators: u64,
    pub full_nodes: u64,
    pub seed_nodes: u64,
    /// Peer links (each both ways).
    pub links: u64,
    /// Peers per node that relays (seeds excluded).
    pub peers_mean: f64,
    pub peers_min: u64,
    pub peers_max: u64,
    /// From a block's proposal to each node holding all its parts.
    pub block_propagation_s: Distribution,
    /// Bytes written to connections, framing included.
    pub bytes_sent: u64,
    /// Transactions the entry node's full mempool refused (`mempool.size`).
    pub txs_rejected: u64,
    /// Copies of transactions other nodes' full mempools dropped.
    pub txs_dropped: u64,
}

/// Mean and nearest-rank percentiles; `None` when there is no sample.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Distribution {
    pub mean: Option<f64>,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoundsPerHeight {
    pub mean: Option<f64>,
    pub max: Option<u32>,
}

impl Distribution {
    /// Nearest-rank percentiles: the p-th is the smallest sample with at least
    /// p% of the samples at or below it.
    pub fn of(samples: &[f64]) -> Distribution {
        if samples.is_empty() {
            return Distribution {
                mean: None,
                p50: None,
                p90: None,
                p99: None,
                max: None,
            };
        }
        let mut v = samples.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let rank = |p: f64| v[((p / 100.0 * n as f64).ceil() as usize).clamp(1, n) - 1];
        Distribution {
            mean: Some(v.iter().sum::<f64>() / n as f64),
            p50: Some(rank(50.0)),
            p90: Some(rank(90.0)),
            p99: Some(rank(99.0)),
            max: Some(v[n - 1]),
        }
    }
}

/// A stream of non-negative samples in memory that does not grow with their
/// number (issue #8: a day's run must not hold a day of samples): exact
/// count, sum, minimum and maximum, and counts in log-linear buckets of
/// relative width 2⁻¹⁰ (HdrHistogram's layout, read straight off the f64
/// bits). A percentile is the midpoint of the bucket that holds the
/// nearest-rank sample, so within 2⁻¹¹ ≈ 0.05 % of it; the maximum is exact.
///
/// Kept rather than the `hdrhistogram` crate because it measured better on
/// every count (`cargo bench -p sim-core --bench sketch`, BENCHMARKS.md):
/// 2.8× faster a push than HdrHistogram at 3 significant digits, with the
/// same memory and a smaller error, and 14× less memory than it at 4 digits;
/// it also takes `f64` seconds as they are, with no range fixed in advance.
#[derive(Clone, Debug, Default)]
pub struct Sketch {
    n: u64,
    sum: f64,
    min: f64,
    max: f64,
    /// Samples ≤ 0 (bucketed as 0).
    zeros: u64,
    /// Bucket index of `counts[0]`.
    offset: u64,
    counts: Vec<u64>,
}

/// Mantissa bits kept in a bucket index: 2¹⁰ buckets per power of two.
const SKETCH_BITS: u32 = 10;

impl Sketch {
    fn bucket(x: f64) -> u64 {
        x.to_bits() >> (52 - SKETCH_BITS)
    }
    fn bucket_mid(i: u64) -> f64 {
        let lo = f64::from_bits(i << (52 - SKETCH_BITS));
        let hi = f64::from_bits((i + 1) << (52 - SKETCH_BITS));
        0.5 * (lo + hi)
    }

    pub fn push(&mut self, x: f64) {
        if self.n == 0 {
            (self.min, self.max) = (x, x);
        }
        self.n += 1;
        self.sum += x;
        self.min = self.min.min(x);
        self.max = self.max.max(x);
        if x <= 0.0 || !x.is_finite() {
            self.zeros += (x <= 0.0) as u64;
            return;
        }
        let i = Self::bucket(x);
        if self.counts.is_empty() {
            self.offset = i;
        }
        if i < self.offset {
            let grow = (self.offset - i) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset = i;
        }
        let k = (i - self.offset) as usize;
        if k >= self.counts.len() {
            self.counts.resize(k + 1, 0);
        }
        self.counts[k] += 1;
    }

    pub fn len(&self) -> u64 {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / self.n as f64)
    }

    /// The nearest-rank p-th percentile, to the bucket's precision.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        let rank = ((p / 100.0 * self.n as f64).ceil() as u64).clamp(1, self.n);
        if rank == self.n {
            return Some(self.max);
        }
        if rank <= self.zeros {
            return Some(self.min.min(0.0));
        }
        let mut seen = self.zeros;
        for (k, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(Self::bucket_mid(self.offset + k as u64).clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }

    pub fn distribution(&self) -> Distribution {
        Distribution {
            mean: self.mean(),
            p50: self.percentile(50.0),
            p90: self.percentile(90.0),
            p99: self.percentile(99.0),
            max: (self.n > 0).then_some(self.max),
        }
    }

    /// Memory held, in buckets (for the flatness test).
    pub fn buckets(&self) -> usize {
        self.counts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against exact nearest-rank percentiles of the same samples: within
    /// 2⁻¹¹ relative; mean and max exact (up to summation order).
    #[test]
    fn sketch_percentiles_are_within_the_bucket_precision() {
        let mut state = 3u64;
        for case in 0..20 {
            let mut sketch = Sketch::default();
            let mut all = Vec::new();
            let n = 1 + case * 997;
            for _ in 0..n {
                state = crate::rng::mix64(state.wrapping_add(1));
                // Log-uniform over 1 µs .. 1000 s, a few exact zeros.
                let u = (state >> 11) as f64 / (1u64 << 53) as f64;
                let x = if state.is_multiple_of(50) {
                    0.0
                } else {
                    1e-6 * 1e9f64.powf(u)
                };
                sketch.push(x);
                all.push(x);
            }
            let exact = Distribution::of(&all);
            let approx = sketch.distribution();
            for (a, e) in [
                (approx.p50, exact.p50),
                (approx.p90, exact.p90),
                (approx.p99, exact.p99),
            ] {
                let (a, e) = (a.unwrap(), e.unwrap());
                assert!(
                    (a - e).abs() <= e * 2f64.powi(-11) + 1e-300,
                    "case {case}: {a} vs {e}"
                );
            }
            assert_eq!(approx.max, exact.max);
            assert!(
                (approx.mean.unwrap() - exact.mean.unwrap()).abs() <= 1e-9 * exact.mean.unwrap()
            );
        }
    }

    /// Memory is set by the range of the values, not their number: a million
    /// samples between 1 and 2 s use at most the 2¹⁰ buckets of one binade.
    #[test]
    fn sketch_memory_does_not_grow_with_samples() {
        let mut sketch = Sketch::default();
        for i in 0..1_000_000u64 {
            sketch.push(1.0 + (i % 1000) as f64 / 1000.0);
        }
        assert!(sketch.buckets() <= 1 << SKETCH_BITS, "{}", sketch.buckets());
        assert_eq!(sketch.len(), 1_000_000);
    }

    #[test]
    fn nearest_rank_percentiles_by_hand() {
        let d = Distribution::of(&[5.0, 1.0, 4.0, 2.0, 3.0, 6.0, 7.0, 8.0, 9.0, 10.0]);
        assert_eq!(d.mean, Some(5.5));
        assert_eq!(d.p50, Some(5.0)); // ceil(0.5·10) = 5th smallest
        assert_eq!(d.p90, Some(9.0)); // 9th
        assert_eq!(d.p99, Some(10.0)); // ceil(9.9) = 10th
        assert_eq!(d.max, Some(10.0));
        assert_eq!(Distribution::of(&[]).mean, None);
    }
}
