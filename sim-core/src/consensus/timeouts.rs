//! CometBFT's round timeouts: each grows linearly with the round,
//! `timeout_X + round × timeout_X_delta` (config.go, `Propose(round)` etc.).

use crate::scenario::ConsensusConfig;
use crate::time::SimDuration;

#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    pub propose: SimDuration,
    pub propose_delta: SimDuration,
    pub prevote: SimDuration,
    pub prevote_delta: SimDuration,
    pub precommit: SimDuration,
    pub precommit_delta: SimDuration,
    pub commit: SimDuration,
}

impl Timeouts {
    pub fn from_config(c: &ConsensusConfig) -> Timeouts {
        Timeouts {
            propose: c.timeout_propose,
            propose_delta: c.timeout_propose_delta,
            prevote: c.timeout_prevote,
            prevote_delta: c.timeout_prevote_delta,
            precommit: c.timeout_precommit,
            precommit_delta: c.timeout_precommit_delta,
            commit: c.timeout_commit,
        }
    }
    pub fn propose(&self, round: u32) -> SimDuration {
        self.propose + self.propose_delta.saturating_mul(round as u64)
    }
    pub fn prevote(&self, round: u32) -> SimDuration {
        self.prevote + self.prevote_delta.saturating_mul(round as u64)
    }
    pub fn precommit(&self, round: u32) -> SimDuration {
        self.precommit + self.precommit_delta.saturating_mul(round as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grow_by_delta_per_round() {
        let t = Timeouts::from_config(&ConsensusConfig::default());
        assert_eq!(t.propose(0), SimDuration::from_millis(3000));
        assert_eq!(t.propose(2), SimDuration::from_millis(4000));
        assert_eq!(t.prevote(1), SimDuration::from_millis(1500));
        assert_eq!(t.precommit(3), SimDuration::from_millis(2500));
    }
}
