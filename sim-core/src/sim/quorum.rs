//! The quorum fast path (issue #8): a height whose outcome nothing can
//! disturb is computed when its proposer proposes, from the very per-message
//! delays that delivering every vote would draw, and each validator is handed
//! its +2/3 prevotes and precommits in one event at the time the last vote
//! it needed arrives: order statistics of arrival times instead of N² events.
//!
//! The validators' state machines still decide everything (they prevote,
//! precommit and commit through their own rules); the plan only says when the
//! votes they would have counted are in, and records when each validator is
//! predicted to vote so that the simulation can check the prediction as the
//! votes happen (a mismatch is a bug and stops the run).
//!
//! A height takes the fast path only when, at its round-0 proposal:
//! * every validator is honest, up, and fresh at this height (round 0, no
//!   vote or proposal seen), and none is catching up;
//! * no partition is in force and every message gets through (a lossy link
//!   is fine: its retransmissions are part of the drawn delay);
//! * `create_empty_blocks` is on and `skip_timeout_commit` off (the start of
//!   the next height then depends on the commit time alone);
//! * no fault is scheduled until the height's last vote has arrived;
//! * the proposal reaches every validator before its propose timeout;
//! * every validator precommits before the precommits of others alone make
//!   +2/3 (so it does commit after voting, as predicted), strictly, so that
//!   no tie of equal times can reorder the two;
//! * all validators commit within `timeout_commit` of the first (so no
//!   message of the next height reaches a validator still at this one).
//!
//! Otherwise the height runs with one event per vote, as in
//! `vote_delivery = "per_message"`. Tests run scenarios both ways, faults
//! included, and compare every table.

use crate::consensus::{BlockId, Message, VoteKind};
use crate::network::{Columns, Network, NodeId};
use crate::time::{SimDuration, SimTime};

/// What the fast path predicted for round 0 of one height.
#[derive(Clone, Debug)]
pub(super) struct Plan {
    pub height: u64,
    pub block: BlockId,
    /// When each validator will prevote and precommit (the self-check;
    /// `u64::MAX` ns for a validator that commits before it precommits).
    pub prevote_at: Vec<SimTime>,
    pub precommit_at: Vec<SimTime>,
    /// Power of the other validators' votes each validator is handed at its
    /// quorum event: every vote that has arrived by then.
    pub prevote_power: Vec<u64>,
    pub precommit_power: Vec<u64>,
}

/// A height's timeline as the plan computes it, for the simulation to schedule.
pub(super) struct Timeline {
    pub plan: Plan,
    /// When each validator's prevote and precommit quorum event fires.
    pub prevote_quorum: Vec<SimTime>,
    pub precommit_quorum: Vec<SimTime>,
    /// Votes of others each validator receives no later than the run's end.
    pub received: Vec<u64>,
}

/// What the plan needs to know about the height.
pub(super) struct Height<'a> {
    pub net: &'a Network,
    pub powers: &'a [u64],
    /// When each validator starts (or started) round 0 of this height.
    pub start: &'a [SimTime],
    pub height: u64,
    pub proposer: NodeId,
    pub block: BlockId,
    pub block_bytes: u64,
    pub vote_bytes: u64,
    pub now: SimTime,
    pub timeout_propose: SimDuration,
    pub timeout_commit: SimDuration,
    pub end: SimTime,
    /// The first fault scheduled at or after `now`, if any.
    pub next_fault: Option<SimTime>,
}

/// Scratch space kept between heights (the plan runs once per height).
#[derive(Default)]
pub(super) struct Planner {
    /// Every delay of one vote, row by sender (only when who precommits
    /// must be settled one by one: see `precommitters`).
    delays: Vec<u64>,
    /// The delays of one vote to one receiver, by sender.
    column: Vec<u64>,
    /// What the last `reach` found at its receiver.
    arrivals: Arrivals,
}

/// Where a receiver's column of delays comes from.
enum Column<'a> {
    /// Drawn for this receiver alone.
    Drawn(Columns<'a>),
    /// Read from the matrix `vote_delays` filled.
    Matrix,
}

/// The commits of one height as `commits` finds them.
#[derive(Default)]
struct Commits {
    quorum: Vec<SimTime>,
    power: Vec<u64>,
    received: Vec<u64>,
    first: u64,
    last: u64,
    last_arrival: u64,
}

/// Power needed for "+2/3": the least p with 3p > 2·total.
fn two_thirds_plus(total: u64) -> u64 {
    2 * total / 3 + 1
}

impl Planner {
    /// Every delay from each sender to each receiver of one vote, row by
    /// sender; `None` if any message would be lost.
    fn vote_delays(&mut self, h: &Height, kind: VoteKind) -> Option<()> {
        let n = h.powers.len();
        self.delays.clear();
        self.delays.resize(n * n, 0);
        let key = vote_key(h, kind);
        for (from, row) in self.delays.chunks_mut(n).enumerate() {
            h.net.send_delays(from as NodeId, h.vote_bytes, key, row)?;
        }
        Some(())
    }

    /// Fills `column` with the delays of one vote from every sender to `to`.
    fn column(&mut self, h: &Height, source: &Column, to: usize) -> Option<()> {
        let n = h.powers.len();
        self.column.resize(n, 0);
        match source {
            Column::Drawn(votes) => votes.fill(to as NodeId, &mut self.column),
            Column::Matrix => {
                for (from, d) in self.column.iter_mut().enumerate() {
                    *d = self.delays[from * n + to];
                }
                Some(())
            }
        }
    }

    /// For receiver `to` of votes sent at `sent` (`NEVER` for validators
    /// that do not send this vote), the delays in `column`: the earliest
    /// times at which the others' votes arrived by then reach `needs[0]`
    /// and `needs[1]` of power (`None` if never), the count arriving by
    /// `end`, and the latest arrival.
    fn reach(&mut self, h: &Height, grid: Grid, sent: &[u64], to: usize, needs: [u64; 2]) -> ([Option<u64>; 2], u64, u64) {
        let a = &mut self.arrivals;
        a.clear(grid);
        let mut by_end = 0;
        for ((from, (&sent, &delay)), &power) in sent.iter().zip(&self.column).enumerate().zip(h.powers) {
            if from != to && sent != NEVER {
                let t = sent + delay;
                by_end += (t <= h.end.0) as u64;
                a.push(t, power);
            }
        }
        (a.crossings(needs), by_end, a.last)
    }

    /// Which validators precommit. One that has +2/3 of the others'
    /// precommits before it would precommit commits instead and never sends
    /// its own; whether it does depends only on validators that precommit
    /// earlier, so deciding in order of precommit time settles everyone.
    /// `None` on a tie of equal times, whose order the plan cannot know.
    fn precommitters(&mut self, h: &Height, precommit: &[u64], need: u64) -> Option<Vec<u64>> {
        let n = h.powers.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_unstable_by_key(|&u| (precommit[u], u));
        let mut sent = vec![NEVER; n];
        for &u in &order {
            let (mut before, mut by) = (0, 0);
            for v in 0..n {
                if sent[v] != NEVER {
                    let t = sent[v] + self.delays[v * n + u];
                    before += if t < precommit[u] { h.powers[v] } else { 0 };
                    by += if t <= precommit[u] { h.powers[v] } else { 0 };
                }
            }
            if before >= need {
                continue; // commits first
            }
            if by >= need {
                return None; // a tie at its own precommit time
            }
            sent[u] = precommit[u];
        }
        Some(sent)
    }

    /// Each validator's commit time (its precommit quorum event) and the
    /// power it is handed, given when each precommits (`sent`). `Some(false)`
    /// when a validator that precommits has +2/3 of the others' precommits
    /// by then (so it commits instead: `sent` was wrong), `None` when the
    /// fast path does not apply.
    fn commits(&mut self, h: &Height, sent: &[u64], prevote: &[u64], need: u64, source: &Column, c: &mut Commits) -> Option<bool> {
        let n = h.powers.len();
        let grid = Grid::new(sent, h.net.typical_max_delay(h.vote_bytes));
        *c = Commits { quorum: vec![SimTime::ZERO; n], power: vec![0; n], received: vec![0; n], first: u64::MAX, last: 0, last_arrival: 0 };
        for u in 0..n {
            let own = h.powers[u];
            self.column(h, source, u)?;
            let ([full, partial], by_end, last) = self.reach(h, grid, sent, u, [need, need.saturating_sub(own)]);
            c.received[u] = by_end;
            c.last_arrival = c.last_arrival.max(last);
            let commit = if sent[u] == NEVER {
                // Committed on the others' precommits alone, after its prevote.
                let f = full?;
                if f <= prevote[u] {
                    return None;
                }
                f
            } else {
                if full.is_some_and(|f| f <= sent[u]) {
                    return Some(false);
                }
                sent[u].max(partial.unwrap_or(0))
            };
            c.quorum[u] = SimTime(commit);
            c.power[u] = self.arrivals.power_by(commit);
            c.first = c.first.min(commit);
            c.last = c.last.max(commit);
        }
        Some(true)
    }

    /// The height's timeline, or `None` when the fast path does not apply.
    /// The caller has checked the validators' state and the fault timetable
    /// up to now; this checks the times.
    pub fn plan(&mut self, h: &Height) -> Option<Timeline> {
        let n = h.powers.len();
        let total: u64 = h.powers.iter().sum();
        let need = two_thirds_plus(total);
        let p = h.proposer as usize;
        let key = Message::Proposal { height: h.height, round: 0, block: h.block, pol_round: -1, from: h.proposer }.key();
        // Prevote times: round 0 started and proposal in hand.
        let mut prevote = vec![0u64; n];
        for v in 0..n {
            let start = h.start[v].0;
            let arrival = if v == p { h.now.0 } else { h.now.0 + h.net.send_delay(h.proposer, v as NodeId, h.block_bytes, key)?.0 };
            if v != p && arrival >= start + h.timeout_propose.0 {
                return None; // prevote nil on the propose timeout
            }
            prevote[v] = start.max(arrival);
        }
        let mut received = vec![0u64; n];
        let mut last_arrival = 0u64;

        // Precommit times: own prevote cast and +2/3 prevotes in. With the
        // others' votes alone reaching +2/3 at `full` and, with its own,
        // at `with_own` (from its prevote on), a validator precommits at
        // max(prevote, min(full, max(prevote, with_own))). Each receiver's
        // column of delays is drawn for it alone: the votes' matrix is
        // never needed whole here.
        let mut precommit = vec![0u64; n];
        let mut prevote_quorum = vec![SimTime::ZERO; n];
        let mut prevote_power = vec![0u64; n];
        let prevotes = Column::Drawn(h.net.columns(h.vote_bytes, vote_key(h, VoteKind::Prevote))?);
        let grid = Grid::new(&prevote, h.net.typical_max_delay(h.vote_bytes));
        for u in 0..n {
            let own = h.powers[u];
            self.column(h, &prevotes, u)?;
            let ([full, partial], by_end, last) = self.reach(h, grid, &prevote, u, [need, need.saturating_sub(own)]);
            received[u] += by_end;
            last_arrival = last_arrival.max(last);
            let with_own = prevote[u].max(partial.unwrap_or(0));
            let quorum = full.map_or(with_own, |f| f.min(with_own));
            precommit[u] = prevote[u].max(quorum);
            prevote_quorum[u] = SimTime(quorum);
            prevote_power[u] = self.arrivals.power_by(quorum);
        }

        // Commits: +2/3 precommits, the block already in hand (it came with
        // the proposal, before the prevote). Usually every validator
        // precommits: then no one has +2/3 of the others' precommits by its
        // own precommit time, which `commits` checks receiver by receiver.
        // Otherwise who precommits is settled in order of precommit time,
        // over the whole matrix.
        let mut c = Commits::default();
        let mut sent = precommit.clone();
        let precommits = Column::Drawn(h.net.columns(h.vote_bytes, vote_key(h, VoteKind::Precommit))?);
        if !self.commits(h, &sent, &prevote, need, &precommits, &mut c)? {
            self.vote_delays(h, VoteKind::Precommit)?;
            sent = self.precommitters(h, &precommit, need)?;
            if !self.commits(h, &sent, &prevote, need, &Column::Matrix, &mut c)? {
                return None;
            }
        }
        for (r, by_end) in received.iter_mut().zip(&c.received) {
            *r += by_end;
        }
        let (first, last_commit) = (c.first, c.last);
        last_arrival = last_arrival.max(c.last_arrival);
        if last_commit - first >= h.timeout_commit.0 {
            return None; // the next height would overlap this one
        }
        if h.next_fault.is_some_and(|f| f.0 <= last_arrival.max(last_commit)) {
            return None;
        }
        let at = |v: Vec<u64>| v.into_iter().map(SimTime).collect();
        Some(Timeline {
            plan: Plan { height: h.height, block: h.block, prevote_at: at(prevote), precommit_at: at(sent), prevote_power, precommit_power: c.power },
            prevote_quorum,
            precommit_quorum: c.quorum,
            received,
        })
    }
}

/// Buckets of arrival time.
const BUCKETS: usize = 512;

/// Buckets of arrival time for one vote, the same at every receiver: 2^shift
/// ns wide from the earliest send. Arrivals past the last bucket count in
/// it, so the width, sized from a typical delay, only matters for speed.
#[derive(Clone, Copy, Debug, Default)]
struct Grid {
    origin: u64,
    shift: u32,
}

impl Grid {
    /// For votes sent at `sent` (`NEVER` for none) with delays up to about `delay`.
    fn new(sent: &[u64], delay: u64) -> Grid {
        let sending = sent.iter().filter(|&&t| t != NEVER);
        let (first, last) = sending.fold((u64::MAX, 0), |(a, b), &t| (a.min(t), b.max(t)));
        if first == u64::MAX {
            return Grid::default();
        }
        // 2^shift > span / BUCKETS: the span fits in the buckets.
        let span = last - first + delay;
        Grid { origin: first, shift: 64 - (span / BUCKETS as u64).leading_zeros() }
    }

    /// The bucket of a time at or after the origin; monotone in the time.
    #[inline]
    fn bucket(self, t: u64) -> usize {
        (((t - self.origin) >> self.shift) as usize).min(BUCKETS - 1)
    }
}

/// One receiver's arrivals of one vote, (time, power), ordered just enough
/// to answer when their power reaches a need and how much is in by a time:
/// one pass spreads the power over buckets of time, a scan of the buckets
/// finds the ones the needs cross in, and only those buckets' items (both
/// needs usually cross in one) are sorted. Cheaper than selecting among
/// all the items twice, and the same answers (tested against sorting).
struct Arrivals {
    grid: Grid,
    items: Vec<(u64, u64)>,
    power: [u64; BUCKETS],
    total: u64,
    first: u64,
    last: u64,
    /// The items of buckets `lo..=hi`, sorted, and the power before `lo`
    /// (`lo > hi` when no need was searched for).
    window: Vec<(u64, u64)>,
    lo: usize,
    hi: usize,
    below: u64,
}

impl Default for Arrivals {
    fn default() -> Arrivals {
        let (items, window) = (Vec::new(), Vec::new());
        Arrivals { grid: Grid::default(), items, power: [0; BUCKETS], total: 0, first: u64::MAX, last: 0, window, lo: 1, hi: 0, below: 0 }
    }
}

impl Arrivals {
    fn clear(&mut self, grid: Grid) {
        // Only the buckets between the first and the last item were filled.
        if !self.items.is_empty() {
            let (b0, b1) = (self.grid.bucket(self.first), self.grid.bucket(self.last));
            self.power[b0..=b1].fill(0);
        }
        self.grid = grid;
        self.items.clear();
        (self.total, self.first, self.last) = (0, u64::MAX, 0);
        self.window.clear();
        (self.lo, self.hi, self.below) = (1, 0, 0);
    }

    #[inline]
    fn push(&mut self, t: u64, power: u64) {
        self.items.push((t, power));
        let b = self.grid.bucket(t);
        self.power[b] += power;
        self.total += power;
        self.first = self.first.min(t);
        self.last = self.last.max(t);
    }

    /// For each of `needs`, the earliest time at which the power of the
    /// items at or before it reaches it (time 0 for no need), or `None`.
    fn crossings(&mut self, needs: [u64; 2]) -> [Option<u64>; 2] {
        let mut found = needs.map(|need| if need == 0 { Some(0) } else { None });
        let wanted = needs.map(|need| need != 0 && need <= self.total);
        if wanted == [false, false] {
            return found;
        }
        // The bucket each wanted need crosses in, and the power below it,
        // in one scan (the smaller need first).
        let mut crossing = [(BUCKETS, 0u64); 2];
        // From the first item's bucket: all before it are empty.
        let (mut b, mut below) = (self.grid.bucket(self.first), 0);
        let order = if needs[0] <= needs[1] { [0, 1] } else { [1, 0] };
        for k in order {
            if !wanted[k] {
                continue;
            }
            while below + self.power[b] < needs[k] {
                below += self.power[b];
                b += 1;
            }
            crossing[k] = (b, below);
        }
        let searched = || crossing.iter().filter(|c| c.0 < BUCKETS);
        let (lo, hi) = (searched().map(|c| c.0).min().expect("a need"), searched().map(|c| c.0).max().expect("a need"));
        self.below = searched().map(|c| c.1).min().expect("a need");
        (self.lo, self.hi) = (lo, hi);
        let grid = self.grid;
        self.window.extend(self.items.iter().filter(|&&(t, _)| grid.bucket(t).wrapping_sub(lo) <= hi - lo));
        self.window.sort_unstable();
        for ((slot, &need), &(b, _)) in found.iter_mut().zip(&needs).zip(&crossing) {
            if b == BUCKETS {
                continue;
            }
            let mut sum = self.below;
            *slot = self.window.iter().find(|&&(_, p)| {
                sum += p;
                sum >= need
            }).map(|&(t, _)| t);
        }
        found
    }

    /// Power of the items at or before `t`: from the sorted window when `t`
    /// falls in it (items in earlier buckets are earlier, in later ones
    /// later), else by a scan.
    fn power_by(&self, t: u64) -> u64 {
        if t >= self.last {
            return self.total;
        }
        if t >= self.grid.origin && (self.lo..=self.hi).contains(&self.grid.bucket(t)) {
            return self.below + self.window.iter().take_while(|a| a.0 <= t).map(|a| a.1).sum::<u64>();
        }
        self.items.iter().map(|a| if a.0 <= t { a.1 } else { 0 }).sum()
    }
}

/// The key of the height's round-0 vote of `kind` (the sender is the
/// pair's word, not the message's).
fn vote_key(h: &Height, kind: VoteKind) -> [u64; 4] {
    Message::Vote { kind, height: h.height, round: 0, block: h.block, from: 0 }.key()
}

/// Send time of a vote that is never sent.
const NEVER: u64 = u64::MAX;

#[cfg(test)]
mod tests {
    use super::*;

    /// The bucketed search against sorting and summing, on random inputs
    /// with many ties, spans from nothing to 2^60 ns, needs from 0 to more
    /// than the total, grids sized right, far too small (most items in the
    /// last bucket) and far too large; and the power by the found times,
    /// by times around them and by random times.
    #[test]
    fn arrivals_match_a_sorted_scan() {
        let mut state = 7u64;
        let mut next = || {
            state = crate::rng::mix64(state.wrapping_add(1));
            state
        };
        let mut a = Arrivals::default();
        for case in 0..6000 {
            let n = 1 + (next() % 200) as usize;
            let (base, range) = (next() % (1 << 40), [1u64, 50, 1_000_000, 1 << 60][case % 4]);
            let items: Vec<(u64, u64)> = (0..n).map(|_| (base + next() % range, 1 + next() % 12)).collect();
            let total: u64 = items.iter().map(|i| i.1).sum();
            let mut sorted = items.clone();
            sorted.sort_unstable();
            let expected = |need: u64| {
                let mut sum = 0;
                if need == 0 {
                    return Some(0);
                }
                sorted.iter().find(|i| {
                    sum += i.1;
                    sum >= need
                }).map(|i| i.0)
            };
            let power_by = |t: u64| sorted.iter().filter(|i| i.0 <= t).map(|i| i.1).sum::<u64>();
            let large = next() % (total + 5);
            let small = if large == 0 { 0 } else { next() % (large + 1) };
            let origin = items.iter().map(|i| i.0).min().unwrap().saturating_sub(next() % 1000);
            let delay = [range, 1, range << 3][(case / 4) % 3];
            a.clear(Grid::new(&[origin, NEVER], delay));
            items.iter().for_each(|&(t, p)| a.push(t, p));
            let needs = if case % 2 == 0 { [large, small] } else { [small, large] };
            let got = a.crossings(needs);
            assert_eq!(got, needs.map(expected), "case {case}: {items:?} needs {needs:?}");
            let probes = got.iter().flatten().flat_map(|&t| [t.saturating_sub(1), t, t + 1]).chain([next() % (1 << 41), base + next() % range]);
            for t in probes {
                assert_eq!(a.power_by(t), power_by(t), "case {case}: power by {t}");
            }
        }
    }

    #[test]
    fn two_thirds_plus_is_the_least_power_over_two_thirds() {
        for total in 1..200u64 {
            let q = two_thirds_plus(total);
            assert!(3 * q > 2 * total && 3 * (q - 1) <= 2 * total, "total {total}");
        }
    }
}
