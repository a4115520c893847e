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
use crate::network::{ABSENT, Columns, NOT_SENT, Network, NodeId};
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
    /// The delays of one vote to one receiver, by sender (read from the
    /// matrix).
    column: Vec<u64>,
    /// What the last `reach` found at its receiver.
    arrivals: Arrivals,
    /// By region, where the last receiver there found the full need met:
    /// where the next one's search starts (receivers in one region see
    /// the same base latencies, so their quorum times are close).
    hints: Vec<Option<i64>>,
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

    /// For receiver `to` of votes sent at `sent` (`NEVER` for validators
    /// that do not send this vote) with delays from `source`: the earliest
    /// times at which the others' votes arrived by then reach `needs[0]`
    /// and `needs[1]` of power (`None` if never), the count arriving by
    /// `end`, and the latest arrival; `None` if a vote is lost.
    fn reach(
        &mut self,
        h: &Height,
        source: &Column,
        sent: &[u64],
        to: usize,
        needs: [u64; 2],
    ) -> Option<([Option<u64>; 2], u64, u64)> {
        let n = h.powers.len();
        let a = &mut self.arrivals;
        match source {
            Column::Drawn(votes) => a.fill_drawn(votes, sent, to)?,
            Column::Matrix => {
                self.column.resize(n, 0);
                for (from, d) in self.column.iter_mut().enumerate() {
                    *d = self.delays[from * n + to];
                }
                a.fill(sent, &self.column, to);
            }
        }
        let region = h.net.region_of[to];
        let full = a.crossing(needs[0], self.hints[region]);
        self.hints[region] = full.map(|t| t as i64);
        let partial = a.crossing(needs[1], None);
        Some(([full, partial], a.count_by(h.end.0), a.last()))
    }

    /// Forgets the hints, and counts the senders of a new vote sent at `sent`.
    fn new_vote(&mut self, h: &Height, sent: &[u64]) {
        self.arrivals.count_senders(sent);
        self.hints.clear();
        self.hints
            .resize(h.net.region_of.iter().max().map_or(0, |&r| r + 1), None);
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
            #[allow(
                clippy::needless_range_loop,
                reason = "the index walks several tables in step"
            )]
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
    fn commits(
        &mut self,
        h: &Height,
        sent: &[u64],
        prevote: &[u64],
        need: u64,
        source: &Column,
        c: &mut Commits,
    ) -> Option<bool> {
        let n = h.powers.len();
        self.new_vote(h, sent);
        *c = Commits {
            quorum: vec![SimTime::ZERO; n],
            power: vec![0; n],
            received: vec![0; n],
            first: u64::MAX,
            last: 0,
            last_arrival: 0,
        };
        for u in 0..n {
            let own = h.powers[u];
            let ([full, partial], by_end, last) =
                self.reach(h, source, sent, u, [need, need.saturating_sub(own)])?;
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
        self.arrivals.set_powers(h.powers);
        let key = Message::Proposal {
            height: h.height,
            round: 0,
            block: h.block,
            pol_round: -1,
            from: h.proposer,
        }
        .key();
        // Prevote times: round 0 started and proposal in hand.
        let mut prevote = vec![0u64; n];
        #[allow(
            clippy::needless_range_loop,
            reason = "the index walks several tables in step"
        )]
        for v in 0..n {
            let start = h.start[v].0;
            let arrival = if v == p {
                h.now.0
            } else {
                h.now.0
                    + h.net
                        .send_delay(h.proposer, v as NodeId, h.block_bytes, key)?
                        .0
            };
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
        let prevotes = Column::Drawn(
            h.net
                .columns(h.vote_bytes, vote_key(h, VoteKind::Prevote))?,
        );
        self.new_vote(h, &prevote);
        for u in 0..n {
            let own = h.powers[u];
            let ([full, partial], by_end, last) =
                self.reach(h, &prevotes, &prevote, u, [need, need.saturating_sub(own)])?;
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
        let precommits = Column::Drawn(
            h.net
                .columns(h.vote_bytes, vote_key(h, VoteKind::Precommit))?,
        );
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
        if h.next_fault
            .is_some_and(|f| f.0 <= last_arrival.max(last_commit))
        {
            return None;
        }
        let at = |v: Vec<u64>| v.into_iter().map(SimTime).collect();
        Some(Timeline {
            plan: Plan {
                height: h.height,
                block: h.block,
                prevote_at: at(prevote),
                precommit_at: at(sent),
                prevote_power,
                precommit_power: c.power,
            },
            prevote_quorum,
            precommit_quorum: c.quorum,
            received,
        })
    }
}

/// One receiver's arrivals of one vote, by sender: when each vote arrives
/// (`ABSENT` for the receiver's own and for votes not sent) and its power.
/// When the power in reaches a need is found by searching on time (from a
/// hint, then bisecting), each step one pass that sums the power and counts
/// the votes in by a time (a loop of compares the compiler turns into
/// vector code, AVX2 where the CPU has it), down to eight candidates, which
/// are sorted. Cheaper than sorting or bucketing all of them, and the same
/// answers (tested against sorting).
#[derive(Default)]
struct Arrivals {
    times: Vec<i64>,
    powers: Vec<u64>,
    /// Count and power of the votes that arrive.
    count: u64,
    total: u64,
    /// At or before the earliest arrival (the earliest send will do), and
    /// the latest.
    first: i64,
    last: i64,
    /// The passes made since `fill`: (time, power in by it, count in by it).
    probes: Vec<(i64, u64, u64)>,
    /// The votes in at a time in (lo, hi] of the last bisection, sorted,
    /// with lo, hi and the power in by lo (`None` when no bisection ran
    /// since `fill`).
    window: Vec<(i64, u64)>,
    span: Option<(i64, i64, u64)>,
    /// Times and powers of the window as `between` writes them.
    scratch: (Vec<i64>, Vec<u64>),
    /// Count, power and earliest send of the vote's senders (`count_senders`).
    senders: (u64, u64, i64),
}

/// A bisection stops when this many votes or fewer are left between its ends.
const CANDIDATES: u64 = 8;

impl Arrivals {
    /// The votes' powers, by sender (the same for every receiver).
    fn set_powers(&mut self, powers: &[u64]) {
        self.powers.clear();
        self.powers.extend_from_slice(powers);
    }

    /// Counts the senders of a vote sent at `sent`, the powers set.
    fn count_senders(&mut self, sent: &[u64]) {
        let sending = sent.iter().zip(&self.powers).filter(|&(&s, _)| s != NEVER);
        self.senders = sending.fold((0, 0, ABSENT), |(c, p, e), (&s, &w)| {
            (c + 1, p + w, e.min(s as i64))
        });
    }

    /// The arrivals at `to` of votes sent at `sent`, drawn by `votes`
    /// (senders counted).
    fn fill_drawn(&mut self, votes: &Columns, sent: &[u64], to: usize) -> Option<()> {
        self.times.resize(sent.len(), 0);
        self.last = votes.arrivals(to as NodeId, sent, &mut self.times)?;
        // No vote arrives before it is sent.
        self.first = self.senders.2;
        let own = if sent[to] == NEVER {
            (0, 0)
        } else {
            (1, self.powers[to])
        };
        (self.count, self.total) = (self.senders.0 - own.0, self.senders.1 - own.1);
        self.probes.clear();
        self.span = None;
        Some(())
    }

    /// The arrivals at `to` of votes sent at `sent` with `delays` (by
    /// sender), the powers set.
    fn fill(&mut self, sent: &[u64], delays: &[u64], to: usize) {
        assert!(
            sent.len() == self.powers.len() && delays.len() == self.powers.len() && to < sent.len()
        );
        self.times.resize(sent.len(), 0);
        (self.count, self.total, self.first, self.last) =
            arrive_fast(&mut self.times, sent, delays, &self.powers, to);
        self.probes.clear();
        self.span = None;
    }

    /// The latest arrival (0 if none).
    fn last(&self) -> u64 {
        if self.count == 0 { 0 } else { self.last as u64 }
    }

    /// Power and count of the votes in at or before `t`.
    fn by(&self, t: i64) -> (u64, u64) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2.
            return unsafe { by_avx2(&self.times, &self.powers, t) };
        }
        by(&self.times, &self.powers, t)
    }

    /// Count of the votes in at or before `t`.
    fn count_by(&self, t: u64) -> u64 {
        if self.count == 0 || self.last as u64 <= t {
            self.count
        } else {
            self.by(t as i64).1
        }
    }

    /// Power of the votes in at or before `t`: from the sorted window when
    /// `t` falls in it, else by a pass.
    fn power_by(&self, t: u64) -> u64 {
        if self.count == 0 || self.last as u64 <= t {
            return self.total;
        }
        let t = t as i64;
        match self.span {
            Some((lo, hi, power_lo)) if lo <= t && t <= hi => {
                power_lo
                    + self
                        .window
                        .iter()
                        .take_while(|w| w.0 <= t)
                        .map(|w| w.1)
                        .sum::<u64>()
            }
            _ => self.by(t).0,
        }
    }

    /// The crossing of `need` if the window holds it.
    fn in_window(&self, need: u64) -> Option<i64> {
        let (_, _, power_lo) = self.span?;
        if need <= power_lo {
            return None;
        }
        let mut sum = power_lo;
        self.window
            .iter()
            .find(|&&(_, p)| {
                sum += p;
                sum >= need
            })
            .map(|w| w.0)
    }

    /// The earliest time at which the power of the votes in at or before
    /// it reaches `need` (time 0 for no need), or `None`; the search starts
    /// at `hint` if given, stepping away from it in doubling steps until
    /// the time is bracketed, then bisects.
    fn crossing(&mut self, need: u64, hint: Option<i64>) -> Option<u64> {
        if need == 0 {
            return Some(0);
        }
        if need > self.total {
            return None;
        }
        if let Some(t) = self.in_window(need) {
            return Some(t as u64);
        }
        // Power in by `lo` is below the need, by `hi` reaches it; the
        // counts in by each. Earlier passes narrow the start.
        let (mut lo, mut power_lo, mut count_lo) = (self.first - 1, 0, 0);
        let (mut hi, mut count_hi) = (self.last, self.count);
        for &(t, p, c) in &self.probes {
            if p < need && t > lo {
                (lo, power_lo, count_lo) = (t, p, c);
            } else if p >= need && t < hi {
                (hi, count_hi) = (t, c);
            }
        }
        if let Some(mut t) = hint {
            let mut step = ((hi - lo) / 64).max(1);
            while count_hi - count_lo > CANDIDATES && lo < t && t < hi {
                let (p, c) = self.by(t);
                self.probes.push((t, p, c));
                if p >= need {
                    (hi, count_hi) = (t, c);
                    t = t.saturating_sub(step);
                } else {
                    (lo, power_lo, count_lo) = (t, p, c);
                    t = t.saturating_add(step);
                }
                step = step.saturating_mul(2);
            }
        }
        while count_hi - count_lo > CANDIDATES && hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            let (p, c) = self.by(mid);
            self.probes.push((mid, p, c));
            if p >= need {
                (hi, count_hi) = (mid, c);
            } else {
                (lo, power_lo, count_lo) = (mid, p, c);
            }
        }
        let k = between(
            &self.times,
            &self.powers,
            lo,
            hi,
            &mut self.scratch.0,
            &mut self.scratch.1,
        );
        self.window.clear();
        self.window.extend(
            self.scratch.0[..k]
                .iter()
                .zip(&self.scratch.1[..k])
                .map(|(&t, &p)| (t, p)),
        );
        self.window.sort_unstable_by_key(|w| w.0);
        self.span = Some((lo, hi, power_lo));
        Some(
            self.in_window(need)
                .expect("the power by hi reaches the need") as u64,
        )
    }
}

/// `times[f]` = when sender f's vote reaches `to` (`ABSENT` if never), and
/// the count, power, earliest and latest of those that do: straight-line,
/// so that it vectorises.
#[inline(always)]
fn arrive(
    times: &mut [i64],
    sent: &[u64],
    delays: &[u64],
    powers: &[u64],
    to: usize,
) -> (u64, u64, i64, i64) {
    for ((t, &s), &d) in times.iter_mut().zip(sent).zip(delays) {
        *t = if s == NEVER {
            ABSENT
        } else {
            s.wrapping_add(d) as i64
        };
    }
    times[to] = ABSENT;
    let (mut count, mut total, mut first, mut last) = (0, 0, ABSENT, i64::MIN);
    for (&t, &p) in times.iter().zip(powers) {
        let here = t != ABSENT;
        count += here as u64;
        total += if here { p } else { 0 };
        first = first.min(t);
        last = last.max(if here { t } else { i64::MIN });
    }
    (count, total, first, last)
}

/// [`arrive`], compiled for AVX2 where the CPU has it.
fn arrive_fast(
    times: &mut [i64],
    sent: &[u64],
    delays: &[u64],
    powers: &[u64],
    to: usize,
) -> (u64, u64, i64, i64) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { arrive_avx2(times, sent, delays, powers, to) };
    }
    arrive(times, sent, delays, powers, to)
}

/// [`arrive`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn arrive_avx2(
    times: &mut [i64],
    sent: &[u64],
    delays: &[u64],
    powers: &[u64],
    to: usize,
) -> (u64, u64, i64, i64) {
    arrive(times, sent, delays, powers, to)
}

/// Power and count of the times at or before `t`: straight-line, so that it
/// vectorises.
#[inline(always)]
fn by(times: &[i64], powers: &[u64], t: i64) -> (u64, u64) {
    let (mut power, mut count) = (0u64, 0u64);
    for (&x, &p) in times.iter().zip(powers) {
        let m = (x <= t) as u64;
        power += p & m.wrapping_neg();
        count += m;
    }
    (power, count)
}

/// Writes to the front of `ts` and `ps` the times and powers of the votes
/// in at a time in (lo, hi], in sender order, and returns how many.
fn between(
    times: &[i64],
    powers: &[u64],
    lo: i64,
    hi: i64,
    ts: &mut Vec<i64>,
    ps: &mut Vec<u64>,
) -> usize {
    let n = times.len().min(powers.len());
    ts.resize(n, 0);
    ps.resize(n, 0);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2; the buffers have n slots.
        return unsafe { between_avx2(&times[..n], &powers[..n], lo, hi, ts, ps) };
    }
    let mut k = 0;
    for (&t, &p) in times[..n].iter().zip(&powers[..n]) {
        if t > lo && t <= hi {
            (ts[k], ps[k]) = (t, p);
            k += 1;
        }
    }
    k
}

/// [`between`], four times compared at once: the comparisons' bits
/// gathered into words first (no branch on the data), then the few votes
/// in read by their bits.
///
/// # Safety
/// The CPU must have AVX2, `powers` as long as `times`, and `ts` and `ps`
/// at least as long.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn between_avx2(
    times: &[i64],
    powers: &[u64],
    lo: i64,
    hi: i64,
    ts: &mut [i64],
    ps: &mut [u64],
) -> usize {
    use std::arch::x86_64::*;
    let n = times.len();
    assert!(powers.len() == n && ts.len() >= n && ps.len() >= n);
    let (lo_v, hi_v) = (_mm256_set1_epi64x(lo), _mm256_set1_epi64x(hi));
    let mut k = 0;
    for (w, chunk) in times.chunks(64).enumerate() {
        let full = chunk.len() / 4 * 4;
        let mut word = 0u64;
        for f in (0..full).step_by(4) {
            // SAFETY: f + 3 < the chunk's length.
            let t = unsafe { _mm256_loadu_si256(chunk.as_ptr().add(f).cast()) };
            let inside =
                _mm256_andnot_si256(_mm256_cmpgt_epi64(t, hi_v), _mm256_cmpgt_epi64(t, lo_v));
            word |= (_mm256_movemask_pd(_mm256_castsi256_pd(inside)) as u64) << f;
        }
        for (f, &t) in chunk.iter().enumerate().skip(full) {
            word |= ((t > lo && t <= hi) as u64) << f;
        }
        while word != 0 {
            let i = 64 * w + word.trailing_zeros() as usize;
            (ts[k], ps[k]) = (times[i], powers[i]);
            k += 1;
            word &= word - 1;
        }
    }
    k
}

/// [`by`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn by_avx2(times: &[i64], powers: &[u64], t: i64) -> (u64, u64) {
    by(times, powers, t)
}

/// The key of the height's round-0 vote of `kind` (the sender is the
/// pair's word, not the message's).
fn vote_key(h: &Height, kind: VoteKind) -> [u64; 4] {
    Message::Vote {
        kind,
        height: h.height,
        round: 0,
        block: h.block,
        from: 0,
    }
    .key()
}

/// Send time of a vote that is never sent.
const NEVER: u64 = NOT_SENT;

#[cfg(test)]
mod tests {
    use super::*;

    /// The search against sorting and summing, on random inputs with
    /// many ties, spans from nothing to 2^60 ns, votes not sent and the
    /// receiver's own left out, needs from 0 to more than the total (both
    /// orders, so that the second starts from the first's passes), hints
    /// near the answer, far off and none; the
    /// power and count by the found times, by times around them and by
    /// random times; and the latest arrival.
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
            let sent: Vec<u64> = (0..n)
                .map(|_| {
                    if next() % 10 == 0 {
                        NEVER
                    } else {
                        base + next() % range
                    }
                })
                .collect();
            let delays: Vec<u64> = (0..n).map(|_| next() % (range / 2 + 1)).collect();
            let powers: Vec<u64> = (0..n).map(|_| 1 + next() % 12).collect();
            let to = (next() % n as u64) as usize;
            let items: Vec<(u64, u64)> = (0..n)
                .filter(|&f| f != to && sent[f] != NEVER)
                .map(|f| (sent[f] + delays[f], powers[f]))
                .collect();
            let total: u64 = items.iter().map(|i| i.1).sum();
            let mut sorted = items.clone();
            sorted.sort_unstable();
            let expected = |need: u64| {
                let mut sum = 0;
                if need == 0 {
                    return Some(0);
                }
                sorted
                    .iter()
                    .find(|i| {
                        sum += i.1;
                        sum >= need
                    })
                    .map(|i| i.0)
            };
            let power_by = |t: u64| sorted.iter().filter(|i| i.0 <= t).map(|i| i.1).sum::<u64>();
            let count_by = |t: u64| sorted.iter().filter(|i| i.0 <= t).count() as u64;
            let large = next() % (total + 5);
            let small = if large == 0 { 0 } else { next() % (large + 1) };
            a.set_powers(&powers);
            a.fill(&sent, &delays, to);
            let needs = if case % 2 == 0 {
                [large, small]
            } else {
                [small, large]
            };
            // A hint anywhere: none, near the answer, far off, out of range.
            let hint = match case % 5 {
                0 => None,
                1 => expected(needs[0]).map(|t| (t + next() % 1000) as i64 - 500),
                _ => Some((base + next() % range) as i64 - (next() % 1000) as i64),
            };
            let got = [a.crossing(needs[0], hint), a.crossing(needs[1], None)];
            assert_eq!(
                got,
                needs.map(expected),
                "case {case}: {items:?} needs {needs:?}"
            );
            assert_eq!(
                a.last(),
                sorted.last().map_or(0, |i| i.0),
                "case {case}: last"
            );
            let probes = got
                .iter()
                .flatten()
                .flat_map(|&t| [t.saturating_sub(1), t, t + 1])
                .chain([next() % (1 << 41), base + next() % range]);
            for t in probes {
                assert_eq!(a.power_by(t), power_by(t), "case {case}: power by {t}");
                assert_eq!(a.count_by(t), count_by(t), "case {case}: count by {t}");
            }
        }
    }

    #[test]
    fn two_thirds_plus_is_the_least_power_over_two_thirds() {
        for total in 1..200u64 {
            let q = two_thirds_plus(total);
            assert!(
                3 * q > 2 * total && 3 * (q - 1) <= 2 * total,
                "total {total}"
            );
        }
    }
}
