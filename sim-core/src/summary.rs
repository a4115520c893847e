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
    pub fn of(samples: &[f64]) -> ModeGaps {
        let d = Distribution::of(samples);
        ModeGaps { n: samples.len() as u64, mean: d.mean, p50: d.p50, p90: d.p90, p99: d.p99, max: d.max }
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
            return Distribution { mean: None, p50: None, p90: None, p99: None, max: None };
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

#[cfg(test)]
mod tests {
    use super::*;

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
