//! CometBFT's weighted round-robin proposer selection (spec:
//! `spec/consensus/proposer-selection.md`; code: `types/validator_set.go`).
//!
//! Each call of `increment(times)` first rescales priorities so that their
//! spread is at most 2 × total power (integer division by
//! ceil(diff / (2·total))), then centres them on their average (Go's
//! `big.Int.Div`, i.e. Euclidean division), then `times` times: adds each
//! validator's power to its priority, picks the largest priority (ties go to
//! the lower address, here the lower index), and subtracts the total power
//! from the one picked.

/// Window factor of CometBFT's `PriorityWindowSizeFactor`.
const PRIORITY_WINDOW_SIZE_FACTOR: i64 = 2;

#[derive(Clone, Debug)]
pub struct ValidatorSet {
    pub powers: Vec<i64>,
    pub priorities: Vec<i64>,
    pub total: i64,
    /// The proposer after the last increment.
    pub proposer: usize,
}

impl ValidatorSet {
    /// A genesis set as `NewValidatorSet` makes it: every validator enters
    /// with priority −1.125 × total, is centred (so all start at 0), and the
    /// set is incremented once, which picks the first proposer.
    pub fn genesis(powers: &[u64]) -> ValidatorSet {
        let powers: Vec<i64> = powers.iter().map(|&p| p as i64).collect();
        let total: i64 = powers.iter().sum();
        let start = -(total + (total >> 3));
        let mut set = ValidatorSet {
            priorities: vec![start; powers.len()],
            powers,
            total,
            proposer: 0,
        };
        set.rescale();
        set.centre();
        set.increment(1);
        set
    }

    fn rescale(&mut self) {
        let diff_max = PRIORITY_WINDOW_SIZE_FACTOR * self.total;
        let max = *self.priorities.iter().max().unwrap_or(&0);
        let min = *self.priorities.iter().min().unwrap_or(&0);
        let diff = max - min;
        if diff_max > 0 && diff > diff_max {
            let ratio = (diff + diff_max - 1) / diff_max;
            for p in &mut self.priorities {
                *p /= ratio; // Go's `/` truncates toward zero, as Rust's does.
            }
        }
    }

    fn centre(&mut self) {
        let n = self.priorities.len() as i128;
        let sum: i128 = self.priorities.iter().map(|&p| p as i128).sum();
        let avg = sum.div_euclid(n) as i64;
        for p in &mut self.priorities {
            *p = p.saturating_sub(avg);
        }
    }

    /// CometBFT's `IncrementProposerPriority(times)`; returns the proposer.
    pub fn increment(&mut self, times: u32) -> usize {
        assert!(times > 0, "times must be positive");
        self.rescale();
        self.centre();
        for _ in 0..times {
            for (p, w) in self.priorities.iter_mut().zip(&self.powers) {
                *p = p.saturating_add(*w);
            }
            let mut best = 0;
            for i in 1..self.priorities.len() {
                if self.priorities[i] > self.priorities[best] {
                    best = i;
                }
            }
            self.priorities[best] = self.priorities[best].saturating_sub(self.total);
            self.proposer = best;
        }
        self.proposer
    }
}

/// Proposers by (height, round), computed on demand and cached for the
/// heights that validators are still at.
#[derive(Clone, Debug)]
pub struct ProposerSchedule {
    /// `sets[i]` is the validator set at height `first_height + i`.
    sets: std::collections::VecDeque<ValidatorSet>,
    first_height: u64,
    /// Proposers for rounds ≥ 1, per cached height.
    by_round: std::collections::VecDeque<Vec<u16>>,
}

impl ProposerSchedule {
    pub fn new(powers: &[u64]) -> ProposerSchedule {
        let mut sets = std::collections::VecDeque::new();
        sets.push_back(ValidatorSet::genesis(powers));
        let mut by_round = std::collections::VecDeque::new();
        by_round.push_back(Vec::new());
        ProposerSchedule {
            sets,
            first_height: 1,
            by_round,
        }
    }

    /// The proposer of `round` at `height` (heights start at 1).
    pub fn proposer(&mut self, height: u64, round: u32) -> u16 {
        assert!(height >= self.first_height, "height {height} was pruned");
        let idx = (height - self.first_height) as usize;
        while self.sets.len() <= idx {
            let mut next = self.sets.back().expect("never empty").clone();
            next.increment(1);
            self.sets.push_back(next);
            self.by_round.push_back(Vec::new());
        }
        if round == 0 {
            return self.sets[idx].proposer as u16;
        }
        let cached = &self.by_round[idx];
        if let Some(&p) = cached.get(round as usize - 1) {
            return p;
        }
        // Round r's proposer is the height's set incremented r more times, in
        // one call (as `enterNewRound` does when it moves from round 0 to r).
        for r in cached.len() as u32 + 1..=round {
            let mut copy = self.sets[idx].clone();
            let p = copy.increment(r) as u16;
            self.by_round[idx].push(p);
        }
        self.by_round[idx][round as usize - 1]
    }

    /// Forgets heights below `height` (no validator will ask for them again).
    pub fn prune_below(&mut self, height: u64) {
        while self.first_height < height && self.sets.len() > 1 {
            self.sets.pop_front();
            self.by_round.pop_front();
            self.first_height += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec's own example (`proposer-selection.md`): powers
    /// (p0,4), (p1,2), (p2,2), (p3,2) give p0 p1 p2 p3 p0 p0 p1 p2 p3 p0.
    #[test]
    fn matches_the_spec_example_sequence() {
        let mut s = ProposerSchedule::new(&[4, 2, 2, 2]);
        let seq: Vec<u16> = (1..=10).map(|h| s.proposer(h, 0)).collect();
        assert_eq!(seq, [0, 1, 2, 3, 0, 0, 1, 2, 3, 0]);
    }

    /// Hand-computed, powers A=1, B=2, C=3 (total 6). Genesis priorities
    /// −6 each, centred to 0. Each step adds powers, picks the max (lower
    /// index on ties), subtracts 6:
    ///   [1,2,3]→C→[1,2,−3]; [2,4,0]→B→[2,−2,0]; [3,0,3]→A (tie)→[−3,0,3];
    ///   [−2,2,6]→C→[−2,2,0]; [−1,4,3]→B→[−1,−2,3]; [0,0,6]→C→[0,0,0].
    #[test]
    fn matches_a_hand_computed_sequence() {
        let mut s = ProposerSchedule::new(&[1, 2, 3]);
        let seq: Vec<u16> = (1..=12).map(|h| s.proposer(h, 0)).collect();
        assert_eq!(seq, [2, 1, 0, 2, 1, 2, 2, 1, 0, 2, 1, 2]);
        // Round 1 at height 1 is height 1's set incremented once more: B.
        assert_eq!(s.proposer(1, 1), 1);
        // Round 2 at height 1: from [1,2,−3], +powers twice in one call:
        // [2,4,0]→B→[2,−2,0]; [3,0,3]→A.
        assert_eq!(s.proposer(1, 2), 0);
    }

    #[test]
    fn rescales_and_centres_like_cometbft() {
        // Priorities spread wider than 2·total are divided by ceil(diff/(2·total)).
        let mut v = ValidatorSet {
            powers: vec![1, 1],
            priorities: vec![10, -10],
            total: 2,
            proposer: 0,
        };
        v.rescale(); // diff 20 > 4 → ratio 5
        assert_eq!(v.priorities, [2, -2]);
        // Centring uses Euclidean division: avg of [-3, 0] is floor(-1.5) = -2.
        let mut v = ValidatorSet {
            powers: vec![1, 1],
            priorities: vec![-3, 0],
            total: 2,
            proposer: 0,
        };
        v.centre();
        assert_eq!(v.priorities, [-1, 2]);
    }

    #[test]
    fn frequency_is_proportional_to_power() {
        let powers = [5u64, 3, 1, 1];
        let mut s = ProposerSchedule::new(&powers);
        let mut count = [0u32; 4];
        for h in 1..=1000 {
            count[s.proposer(h, 0) as usize] += 1;
        }
        assert_eq!(count, [500, 300, 100, 100]);
    }
}
