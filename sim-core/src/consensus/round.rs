//! One validator's consensus state machine, after Algorithm 1 of "The latest
//! gossip on BFT consensus" (Buchman, Kwon, Milosevic, arXiv:1807.04938),
//! which CometBFT's `spec/consensus/` describes and implements. Rule numbers
//! in comments are that algorithm's line numbers.
//!
//! The machine is plain data driven by `on_*` calls; what it wants done (send
//! a vote, start a timer, commit) it pushes onto an outbox of [`Action`]s that
//! the simulation carries out. It never starts a round on its own: it asks
//! for one with [`Action::EnterRound`], because only the simulation knows the
//! proposer schedule.

use super::{BlockId, Message, NIL, Rules, Step, VoteKind};
use crate::network::NodeId;

/// What the state machine asks the simulation to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Broadcast a proposal for `round`: re-propose `block` if given (the
    /// valid value, with its `pol_round`), else a new block.
    Propose {
        height: u64,
        round: u32,
        pol_round: i32,
        block: Option<BlockId>,
    },
    /// Broadcast this validator's vote (already counted in its own tally).
    Vote {
        kind: VoteKind,
        height: u64,
        round: u32,
        block: BlockId,
    },
    /// Fire `on_timeout(step, round)` after the step's timeout for `round`.
    Schedule { step: Step, height: u64, round: u32 },
    /// Move to `round` of the current height (the simulation calls `start_round`).
    EnterRound { height: u64, round: u32 },
    /// The height is decided: `block`, committed in `round`. The machine has
    /// already moved to the next height's `NewHeight` step.
    Commit {
        height: u64,
        round: u32,
        block: BlockId,
    },
    /// Precommits for `block` reached +2/3 but its proposal never arrived: get
    /// the block from a peer.
    FetchBlock { height: u64, block: BlockId },
}

/// Votes of one kind in one round.
#[derive(Clone, Debug, Default)]
struct Tally {
    voted: Vec<u64>,
    any: u64,
    nil: u64,
    /// Power per block, small (one or two entries unless byzantine).
    blocks: Vec<(BlockId, u64)>,
}

impl Tally {
    fn reset(&mut self, n: usize) {
        self.voted.clear();
        self.voted.resize(n.div_ceil(64), 0);
        self.any = 0;
        self.nil = 0;
        self.blocks.clear();
    }
    /// Counts the first vote of `from`; later votes of the same sender (an
    /// equivocator's second vote) are ignored. Returns the block's new power.
    fn add(&mut self, from: NodeId, block: BlockId, power: u64) -> Option<u64> {
        let (w, b) = (from as usize / 64, from as usize % 64);
        if self.voted[w] >> b & 1 == 1 {
            return None;
        }
        self.voted[w] |= 1 << b;
        self.any += power;
        if block == NIL {
            self.nil += power;
            return Some(self.nil);
        }
        Some(self.credit(block, power))
    }
    /// Adds `power` of votes for `block` from senders not named one by one
    /// (the quorum fast path's remote votes; never mixed with single votes
    /// of the same senders).
    fn add_power(&mut self, block: BlockId, power: u64) {
        self.any += power;
        self.credit(block, power);
    }
    /// Adds `power` to `block`'s tally; returns its new power.
    fn credit(&mut self, block: BlockId, power: u64) -> u64 {
        match self.blocks.iter_mut().find(|(id, _)| *id == block) {
            Some((_, p)) => {
                *p += power;
                *p
            }
            None => {
                self.blocks.push((block, power));
                power
            }
        }
    }
    fn power_for(&self, block: BlockId) -> u64 {
        self.blocks
            .iter()
            .find(|(id, _)| *id == block)
            .map_or(0, |(_, p)| *p)
    }
    /// The value (a block or `NIL`) with more than `2/3` of `total`, if any:
    /// CometBFT's `TwoThirdsMajority`.
    fn majority(&self, total: u64) -> Option<BlockId> {
        let quorum = |p: u64| p * 3 > total * 2;
        if quorum(self.nil) {
            return Some(NIL);
        }
        self.blocks
            .iter()
            .find(|&&(_, p)| quorum(p))
            .map(|&(b, _)| b)
    }
}

/// Everything a validator knows about one round of the current height.
#[derive(Clone, Debug, Default)]
struct RoundData {
    proposal: Option<(BlockId, i32)>,
    prevotes: Tally,
    precommits: Tally,
    /// Distinct senders of any message in this round, for the round-skip rule.
    senders: Tally,
    prevote_wait: bool,
    precommit_wait: bool,
    /// Rule 36 fired (lock / valid value set) for this round.
    locked_here: bool,
    /// Rule 49 asked for this round's block to be fetched.
    fetch_asked: bool,
}

impl RoundData {
    fn reset(&mut self, n: usize) {
        self.proposal = None;
        self.prevotes.reset(n);
        self.precommits.reset(n);
        self.senders.reset(n);
        self.prevote_wait = false;
        self.precommit_wait = false;
        self.locked_here = false;
        self.fetch_asked = false;
    }
}

/// One validator's consensus state.
#[derive(Clone, Debug)]
pub struct RoundState {
    pub id: NodeId,
    pub rules: Rules,
    pub height: u64,
    pub round: u32,
    pub step: Step,
    locked: Option<(BlockId, u32)>,
    valid: Option<(BlockId, u32)>,
    rounds: Vec<RoundData>,
    /// Rounds of `rounds` in use at this height.
    rounds_used: usize,
    /// Blocks whose content this validator holds (from a proposal or a fetch).
    have: Vec<BlockId>,
    /// Blocks this validator found invalid (`valid(v)` false in the paper:
    /// a proposal built on an app hash other than its own).
    rejected: Vec<BlockId>,
    /// Messages for the next height, replayed when it starts.
    next_height: Vec<Message>,
    powers: std::sync::Arc<[u64]>,
    total: u64,
    pub outbox: Vec<Action>,
}

/// Most messages held for the next height: a full height's worth of votes.
const NEXT_HEIGHT_BUFFER_PER_VALIDATOR: usize = 6;

impl RoundState {
    pub fn new(id: NodeId, powers: std::sync::Arc<[u64]>, rules: Rules) -> RoundState {
        let total = powers.iter().sum();
        RoundState {
            id,
            rules,
            height: 1,
            round: 0,
            step: Step::NewHeight,
            locked: None,
            valid: None,
            rounds: Vec::new(),
            rounds_used: 0,
            have: Vec::new(),
            rejected: Vec::new(),
            next_height: Vec::new(),
            powers,
            total,
            outbox: Vec::new(),
        }
    }

    fn n(&self) -> usize {
        self.powers.len()
    }

    /// More than two thirds of the total power (CometBFT's "+2/3").
    fn quorum(&self, power: u64) -> bool {
        power * 3 > self.total * 2
    }

    /// More than one third: at least one honest validator among them (f+1).
    fn one_third(&self, power: u64) -> bool {
        power * 3 > self.total
    }

    fn data(&mut self, round: u32) -> &mut RoundData {
        let r = round as usize;
        while self.rounds_used <= r {
            if self.rounds.len() <= self.rounds_used {
                self.rounds.push(RoundData::default());
            }
            let n = self.n();
            self.rounds[self.rounds_used].reset(n);
            self.rounds_used += 1;
        }
        &mut self.rounds[r]
    }

    /// Moves to a new height with clean round state (`NewHeight` step).
    pub fn enter_height(&mut self, height: u64) {
        self.height = height;
        self.round = 0;
        self.step = Step::NewHeight;
        self.locked = None;
        self.valid = None;
        self.rounds_used = 0;
        self.have.clear();
        self.rejected.clear();
    }

    /// Marks `block` invalid for this validator: it prevotes nil on it and
    /// never locks on or commits it.
    pub fn reject(&mut self, block: BlockId) {
        if !self.rejected.contains(&block) {
            self.rejected.push(block);
        }
    }

    /// Jumps to `height` after syncing the blocks below it (blocksync). The
    /// messages held for the next height are kept if that is where we land.
    pub fn sync_to(&mut self, height: u64) {
        if height == self.height + 1 {
            self.advance_height();
        } else {
            self.enter_height(height);
            self.next_height.clear();
        }
    }

    /// StartRound (rule 10): the simulation says whether we propose.
    pub fn start_round(&mut self, round: u32, we_propose: bool) {
        self.round = round;
        self.step = Step::Propose;
        self.data(round);
        if we_propose {
            let (block, pol_round) = match self.valid {
                Some((b, r)) => (Some(b), r as i32),
                None => (None, -1),
            };
            self.outbox.push(Action::Propose {
                height: self.height,
                round,
                pol_round,
                block,
            });
        } else {
            self.outbox.push(Action::Schedule {
                step: Step::Propose,
                height: self.height,
                round,
            });
        }
        self.check();
    }

    /// A message from the network (or this validator's own proposal).
    /// Proposals must already be checked to come from the round's proposer.
    pub fn on_message(&mut self, msg: Message) {
        let h = msg.height();
        if h == self.height + 1 {
            if self.next_height.len() < NEXT_HEIGHT_BUFFER_PER_VALIDATOR * self.n() {
                self.next_height.push(msg);
            }
            return;
        }
        if h != self.height {
            return;
        }
        self.record(msg);
        self.check();
    }

    /// Adds a message to the round data without running the rules.
    fn record(&mut self, msg: Message) {
        let from = msg.from();
        let power = self.powers[from as usize];
        match msg {
            Message::Proposal {
                round,
                block,
                pol_round,
                ..
            } => {
                let d = self.data(round);
                if d.proposal.is_none() {
                    d.proposal = Some((block, pol_round));
                }
                d.senders.add(from, 0, power);
                if !self.have.contains(&block) {
                    self.have.push(block);
                }
            }
            Message::Vote {
                kind, round, block, ..
            } => {
                let d = self.data(round);
                d.senders.add(from, 0, power);
                match kind {
                    VoteKind::Prevote => d.prevotes.add(from, block, power),
                    VoteKind::Precommit => d.precommits.add(from, block, power),
                };
            }
        }
    }

    /// Votes of `kind` for `block` in `round` with `power` in all, from other
    /// validators, counted at once: what the quorum fast path hands over
    /// instead of one message per sender.
    pub fn on_votes(&mut self, kind: VoteKind, round: u32, block: BlockId, power: u64) {
        let d = self.data(round);
        d.senders.any += power;
        match kind {
            VoteKind::Prevote => d.prevotes.add_power(block, power),
            VoteKind::Precommit => d.precommits.add_power(block, power),
        }
        self.check();
    }

    /// Whether this validator is at `height`, in round 0, before any vote
    /// or proposal of the height: the state in which the quorum fast path
    /// can predict everything it will do.
    pub fn is_fresh_at(&self, height: u64) -> bool {
        let untouched = |d: &RoundData| {
            d.proposal.is_none()
                && d.prevotes.any == 0
                && d.precommits.any == 0
                && d.senders.any == 0
        };
        self.height == height
            && self.round == 0
            && matches!(self.step, Step::NewHeight | Step::Propose)
            && self.locked.is_none()
            && self.valid.is_none()
            && self.next_height.is_empty()
            && self.rounds[..self.rounds_used].iter().all(untouched)
    }

    /// A block fetched from a peer after its precommits were seen.
    pub fn on_block(&mut self, block: BlockId) {
        if !self.have.contains(&block) {
            self.have.push(block);
        }
        self.check();
    }

    /// Whether a timer for (`height`, `round`, `step`) would do nothing if
    /// it fired now, and so at any later time: (height, round, step) only
    /// moves forward, and `on_timeout` acts only in its own height and
    /// round, the propose and prevote timers only in their own step. A
    /// prevote timer is usually spent when scheduled: +2/3 prevotes for the
    /// proposal move the validator to precommit in the same step of rules.
    pub fn timer_is_spent(&self, height: u64, round: u32, step: Step) -> bool {
        match (height, round).cmp(&(self.height, self.round)) {
            std::cmp::Ordering::Less => true,
            std::cmp::Ordering::Greater => false,
            std::cmp::Ordering::Equal => {
                matches!(step, Step::Propose | Step::Prevote) && self.step > step
            }
        }
    }

    /// A timer fired; stale timers (other height, round or step) do nothing.
    pub fn on_timeout(&mut self, height: u64, round: u32, step: Step) {
        if height != self.height || round != self.round {
            return;
        }
        match step {
            // Rule 57; v0.38's `defaultDoPrevote` prevotes its locked block
            // even without a proposal.
            Step::Propose if self.step == Step::Propose => {
                let block = match (self.rules, self.locked) {
                    (Rules::CometbftV038, Some((b, _))) => b,
                    _ => NIL,
                };
                self.vote(VoteKind::Prevote, block);
                self.step = Step::Prevote;
            }
            // Rule 61; CometBFT's timeout goes through `enterPrecommit`,
            // which still precommits a polka's block it may precommit.
            Step::Prevote if self.step == Step::Prevote => {
                if self.rules.cometbft() {
                    self.enter_precommit();
                } else {
                    self.vote(VoteKind::Precommit, NIL);
                    self.step = Step::Precommit;
                }
            }
            // Rule 65: any step of this round. CometBFT's `handleTimeout`
            // runs `enterPrecommit` first (v0.38 state.go @1003, v1 @1011):
            // a validator that has not precommitted in the round does now.
            Step::Precommit if self.step != Step::NewHeight => {
                if self.rules.cometbft() && self.step < Step::Precommit {
                    self.enter_precommit();
                }
                self.outbox.push(Action::EnterRound {
                    height,
                    round: round + 1,
                });
                return;
            }
            _ => return,
        }
        self.check();
    }

    /// Counts our own vote and asks for it to be broadcast.
    fn vote(&mut self, kind: VoteKind, block: BlockId) {
        let (id, round) = (self.id, self.round);
        self.record(Message::Vote {
            kind,
            height: self.height,
            round,
            block,
            from: id,
        });
        self.outbox.push(Action::Vote {
            kind,
            height: self.height,
            round,
            block,
        });
    }

    /// Runs the upon-rules until none fires.
    fn check(&mut self) {
        loop {
            if self.step == Step::NewHeight && self.rounds_used == 0 {
                return;
            }
            // Rule 49: a decision in any round we know of.
            if let Some((round, block)) = self.decision()
                && !self.rejected.contains(&block)
            {
                if self.have.contains(&block) {
                    let height = self.height;
                    self.outbox.push(Action::Commit {
                        height,
                        round,
                        block,
                    });
                    self.advance_height();
                    continue;
                }
                let d = self.data(round);
                if !d.fetch_asked {
                    d.fetch_asked = true;
                    let height = self.height;
                    self.outbox.push(Action::FetchBlock { height, block });
                }
            }
            // Rule 55: f+1 of the power is already in a later round (the
            // paper); CometBFT: +2/3 of any votes of a later round.
            if let Some(r) = self.later_round() {
                self.outbox.push(Action::EnterRound {
                    height: self.height,
                    round: r,
                });
                return;
            }
            if self.step == Step::NewHeight {
                return;
            }
            let r = self.round;
            // v0.38 `addVote` (state.go @2256-2265): a polka in a round after
            // the lock's, up to ours, for anything but the locked block (nil
            // included) unlocks; `enterPrecommit`'s two unlocks (@1483-1493,
            // @1542-1544) are this rule's cases in our own round.
            if self.rules == Rules::CometbftV038
                && let Some((lb, lr)) = self.locked
                && (lr + 1..=r).any(|vr| {
                    let polka = self.rounds[vr as usize].prevotes.majority(self.total);
                    polka.is_some_and(|x| x != lb)
                })
            {
                self.locked = None;
            }
            let step = self.step;
            let d = &self.rounds[r as usize];
            let proposal = d.proposal;
            // v0.38 `defaultDoPrevote` (@1344-1397) once the proposal is
            // complete (`isProposalComplete` @1254-1265: no POL round, or +2/3
            // for one value, whichever, in it): the locked block if locked.
            if self.rules == Rules::CometbftV038
                && step == Step::Propose
                && let Some((b, pol)) = proposal
            {
                let complete = pol < 0 || {
                    let vr = pol as usize;
                    vr < r as usize
                        && vr < self.rounds_used
                        && self.rounds[vr].prevotes.majority(self.total).is_some()
                };
                if complete {
                    let block = match self.locked {
                        Some((lb, _)) => lb,
                        None if self.rejected.contains(&b) => NIL,
                        None => b,
                    };
                    self.vote(VoteKind::Prevote, block);
                    self.step = Step::Prevote;
                    continue;
                }
            }
            // Rules 22 and 28: prevote on the proposal.
            if self.rules != Rules::CometbftV038
                && step == Step::Propose
                && let Some((b, pol)) = proposal
            {
                let valid = !self.rejected.contains(&b);
                if pol < 0 {
                    let ok = valid
                        && match self.locked {
                            None => true,
                            Some((lb, _)) => lb == b,
                        };
                    self.vote(VoteKind::Prevote, if ok { b } else { NIL });
                    self.step = Step::Prevote;
                    continue;
                }
                let vr = pol as u32;
                if vr < r && vr < self.rounds_used as u32 {
                    let prevoted = self.rounds[vr as usize].prevotes.power_for(b);
                    if self.quorum(prevoted) {
                        let ok = valid
                            && match self.locked {
                                None => true,
                                Some((lb, lr)) => lr <= vr || lb == b,
                            };
                        self.vote(VoteKind::Prevote, if ok { b } else { NIL });
                        self.step = Step::Prevote;
                        continue;
                    }
                }
            }
            let d = &self.rounds[r as usize];
            // Rule 34: +2/3 of any prevotes, first time: start the prevote timer.
            if step == Step::Prevote && !d.prevote_wait && self.quorum(d.prevotes.any) {
                self.rounds[r as usize].prevote_wait = true;
                self.outbox.push(Action::Schedule {
                    step: Step::Prevote,
                    height: self.height,
                    round: r,
                });
                continue;
            }
            // Rule 36: proposal and +2/3 prevotes for it, step ≥ prevote, first time.
            if step >= Step::Prevote
                && !d.locked_here
                && let Some((b, _)) = proposal
                && !self.rejected.contains(&b)
                && self.quorum(d.prevotes.power_for(b))
            {
                self.rounds[r as usize].locked_here = true;
                if step == Step::Prevote {
                    self.locked = Some((b, r));
                    self.vote(VoteKind::Precommit, b);
                    self.step = Step::Precommit;
                }
                self.valid = Some((b, r));
                continue;
            }
            let d = &self.rounds[r as usize];
            // Rule 44: +2/3 prevotes for nil.
            if step == Step::Prevote && self.quorum(d.prevotes.nil) {
                self.vote(VoteKind::Precommit, NIL);
                self.step = Step::Precommit;
                continue;
            }
            // CometBFT `addVote` (v0.38 @2332-2349, v1 @2481-2499): +2/3 of
            // any precommits of our round end our voting in it
            // (`enterPrecommitWait`); +2/3 for one value (nil: no decision)
            // first runs `enterPrecommit`.
            if self.rules.cometbft() && step < Step::Precommit && self.quorum(d.precommits.any) {
                if d.precommits.majority(self.total).is_some() {
                    self.enter_precommit();
                } else {
                    self.step = Step::Precommit;
                }
                continue;
            }
            // Rule 47: +2/3 of any precommits, first time: start the precommit timer.
            if !d.precommit_wait && self.quorum(d.precommits.any) {
                self.rounds[r as usize].precommit_wait = true;
                self.outbox.push(Action::Schedule {
                    step: Step::Precommit,
                    height: self.height,
                    round: r,
                });
                continue;
            }
            return;
        }
    }

    /// The first round (lowest) with +2/3 precommits for one block.
    fn decision(&self) -> Option<(u32, BlockId)> {
        for (r, d) in self.rounds[..self.rounds_used].iter().enumerate() {
            if self.quorum(d.precommits.any) {
                for &(b, p) in &d.precommits.blocks {
                    if self.quorum(p) {
                        return Some((r as u32, b));
                    }
                }
            }
        }
        None
    }

    /// The highest round above ours that the rules move us to: under the
    /// paper's line 55, one that f+1 of the power has sent messages in;
    /// under CometBFT's `addVote`, one with +2/3 of any prevotes or of any
    /// precommits (v0.38 state.go @2304-2306 and @2346-2348; v1 @2453,
    /// @2496). While waiting in `NewHeight`, round 0 does not count: the
    /// wait for `timeout_commit` is deliberate (CometBFT would enter round 0
    /// early on +2/3 of its precommits: a validator that far behind syncs
    /// instead, here).
    fn later_round(&self) -> Option<u32> {
        let lowest = self.round as usize + 1;
        (lowest..self.rounds_used)
            .rev()
            .find(|&r| {
                let d = &self.rounds[r];
                if self.rules.cometbft() {
                    self.quorum(d.prevotes.any) || self.quorum(d.precommits.any)
                } else {
                    self.one_third(d.senders.any)
                }
            })
            .map(|r| r as u32)
    }

    /// CometBFT's `enterPrecommit` for our round (v0.38 state.go
    /// @1437-1556, v1 @1604-1703): precommit the polka's
    /// block if it is our locked block or the round's valid proposal (and
    /// lock on it); otherwise nil, unlocking under v0.38 on a polka for
    /// nil or for a block we cannot precommit.
    fn enter_precommit(&mut self) {
        let r = self.round;
        let d = &self.rounds[r as usize];
        let proposal = d.proposal.map(|(b, _)| b);
        let block = match d.prevotes.majority(self.total) {
            None => NIL,
            Some(b)
                if b != NIL
                    && (self.locked.is_some_and(|(lb, _)| lb == b)
                        || (proposal == Some(b) && !self.rejected.contains(&b))) =>
            {
                self.locked = Some((b, r));
                if proposal == Some(b) {
                    self.valid = Some((b, r));
                    self.rounds[r as usize].locked_here = true;
                }
                b
            }
            Some(_) => {
                if self.rules == Rules::CometbftV038 {
                    self.locked = None;
                }
                NIL
            }
        };
        self.vote(VoteKind::Precommit, block);
        self.step = Step::Precommit;
    }

    /// After a commit: clean state for the next height, then the messages
    /// that arrived early for it.
    fn advance_height(&mut self) {
        self.enter_height(self.height + 1);
        let mut early = std::mem::take(&mut self.next_height);
        for msg in early.drain(..) {
            self.record(msg);
        }
        self.next_height = early; // keeps the allocation
    }

    /// Precommit power for `block` in `round`, for `skip_timeout_commit`.
    pub fn precommit_power(&self, round: u32, block: BlockId) -> u64 {
        self.rounds
            .get(round as usize)
            .map_or(0, |d| d.precommits.power_for(block))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(id: NodeId, n: usize) -> RoundState {
        RoundState::new(id, vec![1u64; n].into(), Rules::TendermintPaper)
    }

    fn prevote(from: NodeId, block: BlockId) -> Message {
        Message::Vote {
            kind: VoteKind::Prevote,
            height: 1,
            round: 0,
            block,
            from,
        }
    }
    fn precommit(from: NodeId, block: BlockId) -> Message {
        Message::Vote {
            kind: VoteKind::Precommit,
            height: 1,
            round: 0,
            block,
            from,
        }
    }

    #[test]
    fn happy_path_prevote_lock_precommit_commit() {
        let mut m = machine(1, 4);
        m.start_round(0, false);
        assert_eq!(
            m.outbox.drain(..).collect::<Vec<_>>(),
            [Action::Schedule {
                step: Step::Propose,
                height: 1,
                round: 0
            }]
        );
        m.on_message(Message::Proposal {
            height: 1,
            round: 0,
            block: 7,
            pol_round: -1,
            from: 0,
        });
        assert_eq!(
            m.outbox.drain(..).collect::<Vec<_>>(),
            [Action::Vote {
                kind: VoteKind::Prevote,
                height: 1,
                round: 0,
                block: 7
            }]
        );
        m.on_message(prevote(0, 7));
        assert!(m.outbox.is_empty(), "2 of 4 prevotes is not +2/3");
        m.on_message(prevote(2, 7));
        let out: Vec<_> = m.outbox.drain(..).collect();
        assert!(
            out.contains(&Action::Vote {
                kind: VoteKind::Precommit,
                height: 1,
                round: 0,
                block: 7
            }),
            "{out:?}"
        );
        assert_eq!(m.locked, Some((7, 0)));
        m.on_message(precommit(0, 7));
        m.on_message(precommit(2, 7));
        let out: Vec<_> = m.outbox.drain(..).collect();
        assert!(
            out.contains(&Action::Commit {
                height: 1,
                round: 0,
                block: 7
            }),
            "{out:?}"
        );
        assert_eq!((m.height, m.step), (2, Step::NewHeight));
    }

    #[test]
    fn locked_validator_prevotes_nil_for_another_block() {
        let mut m = machine(1, 4);
        m.locked = Some((7, 0));
        m.start_round(1, false);
        m.outbox.clear();
        m.on_message(Message::Proposal {
            height: 1,
            round: 1,
            block: 9,
            pol_round: -1,
            from: 0,
        });
        assert_eq!(
            m.outbox.drain(..).collect::<Vec<_>>(),
            [Action::Vote {
                kind: VoteKind::Prevote,
                height: 1,
                round: 1,
                block: NIL
            }]
        );
    }

    #[test]
    fn equivocating_second_vote_is_not_counted() {
        let mut t = Tally::default();
        t.reset(4);
        assert_eq!(t.add(3, 7, 1), Some(1));
        assert_eq!(t.add(3, 8, 1), None);
        assert_eq!((t.any, t.power_for(8)), (1, 0));
    }

    #[test]
    fn skips_to_a_round_that_one_third_is_in() {
        let mut m = machine(0, 4);
        m.start_round(0, false);
        m.outbox.clear();
        let v = |from| Message::Vote {
            kind: VoteKind::Prevote,
            height: 1,
            round: 3,
            block: NIL,
            from,
        };
        m.on_message(v(1));
        assert!(m.outbox.is_empty(), "1 of 4 is not more than a third");
        m.on_message(v(2));
        assert_eq!(
            m.outbox.drain(..).collect::<Vec<_>>(),
            [Action::EnterRound {
                height: 1,
                round: 3
            }]
        );
    }

    /// Along the happy path, every timer `timer_is_spent` calls spent does
    /// nothing when it fires (no action, no change of state), for every
    /// step of every (height, round) around the current one; and the timers
    /// of the current step, and of later rounds, are not called spent.
    #[test]
    fn spent_timers_do_nothing_when_they_fire() {
        let mut m = machine(1, 4);
        let mut checked = 0;
        let mut check = |m: &RoundState| {
            for (height, round, step) in (0..4).flat_map(|h| {
                (0..3).flat_map(move |r| {
                    [Step::Propose, Step::Prevote, Step::Precommit].map(|s| (h, r, s))
                })
            }) {
                if m.timer_is_spent(height, round, step) {
                    let mut fired = m.clone();
                    fired.on_timeout(height, round, step);
                    assert!(
                        fired.outbox.len() == m.outbox.len()
                            && (fired.height, fired.round, fired.step)
                                == (m.height, m.round, m.step),
                        "{height} {round} {step:?}"
                    );
                    checked += 1;
                }
            }
            assert!(!m.timer_is_spent(m.height, m.round + 1, Step::Propose));
            if m.step != Step::NewHeight {
                assert!(!m.timer_is_spent(m.height, m.round, m.step));
            }
        };
        m.start_round(0, false);
        check(&m);
        m.on_message(Message::Proposal {
            height: 1,
            round: 0,
            block: 7,
            pol_round: -1,
            from: 0,
        });
        check(&m);
        m.on_message(prevote(0, 7));
        m.on_message(prevote(2, 7));
        assert_eq!(m.step, Step::Precommit);
        assert!(
            m.timer_is_spent(1, 0, Step::Prevote),
            "the prevote timer +2/3 prevotes schedule is spent at once"
        );
        check(&m);
        m.on_message(precommit(0, 7));
        m.on_message(precommit(2, 7));
        check(&m);
        assert!(checked > 20);
    }

    // Hand-worked cases of `consensus.rules`, 4 validators of power 1 (a
    // quorum is 3, more than a third is 2), this machine validator 1. Each
    // cites the lines of CometBFT's state.go (tags v0.38.25 and v1.0.1) whose
    // behaviour it checks.

    fn with_rules(rules: Rules) -> RoundState {
        RoundState::new(1, vec![1u64; 4].into(), rules)
    }
    fn vote_in(kind: VoteKind, round: u32, from: NodeId, block: BlockId) -> Message {
        Message::Vote {
            kind,
            height: 1,
            round,
            block,
            from,
        }
    }
    fn proposal_in(round: u32, block: BlockId, pol_round: i32) -> Message {
        Message::Proposal {
            height: 1,
            round,
            block,
            pol_round,
            from: 0,
        }
    }
    fn votes_of(m: &mut RoundState) -> Vec<(VoteKind, u32, BlockId)> {
        m.outbox
            .drain(..)
            .filter_map(|a| match a {
                Action::Vote {
                    kind, round, block, ..
                } => Some((kind, round, block)),
                _ => None,
            })
            .collect()
    }
    /// Locked on block 7 in round 0 the way the rules lock: proposal 7,
    /// prevotes of 0 and 2, our precommit; then round 1 entered.
    fn locked_on_7(rules: Rules) -> RoundState {
        let mut m = with_rules(rules);
        m.start_round(0, false);
        m.on_message(proposal_in(0, 7, -1));
        m.on_message(vote_in(VoteKind::Prevote, 0, 0, 7));
        m.on_message(vote_in(VoteKind::Prevote, 0, 2, 7));
        assert_eq!(m.locked, Some((7, 0)));
        m.start_round(1, false);
        m.outbox.clear();
        m
    }

    /// v0.38 `defaultDoPrevote` @1344-1347 prevotes the locked block whatever
    /// the proposal; v1 @1499-1506 and the paper's line 23 prevote nil for a
    /// fresh proposal of another block.
    #[test]
    fn locked_validator_meets_another_block() {
        for (rules, want) in [
            (Rules::CometbftV038, 7),
            (Rules::CometbftV1, NIL),
            (Rules::TendermintPaper, NIL),
        ] {
            let mut m = locked_on_7(rules);
            m.on_message(proposal_in(1, 8, -1));
            assert_eq!(
                votes_of(&mut m),
                [(VoteKind::Prevote, 1, want)],
                "{rules:?}"
            );
        }
    }

    /// No proposal in round 1: at `timeout_propose` v0.38 still prevotes its
    /// lock (`handleTimeout` @983-988 → `defaultDoPrevote` @1344); v1
    /// (@1384-1388) and the paper's line 57 prevote nil.
    #[test]
    fn locked_validator_at_timeout_propose() {
        for (rules, want) in [
            (Rules::CometbftV038, 7),
            (Rules::CometbftV1, NIL),
            (Rules::TendermintPaper, NIL),
        ] {
            let mut m = locked_on_7(rules);
            m.on_timeout(1, 1, Step::Propose);
            assert_eq!(
                votes_of(&mut m),
                [(VoteKind::Prevote, 1, want)],
                "{rules:?}"
            );
        }
    }

    /// +2/3 prevotes for nil in round 1 (ours: the lock's prevote under
    /// v0.38, nil otherwise): v0.38 unlocks ("+2/3 prevoted for nil;
    /// unlocking", @1483-1493; `addVote` @2256-2265) and in round 2 prevotes
    /// a new block 8; v1 (@1649-1654) and the paper keep the lock and
    /// prevote nil.
    #[test]
    fn nil_polka_unlocks_only_under_v038() {
        for (rules, unlocked) in [
            (Rules::CometbftV038, true),
            (Rules::CometbftV1, false),
            (Rules::TendermintPaper, false),
        ] {
            let mut m = locked_on_7(rules);
            m.on_timeout(1, 1, Step::Propose);
            for from in [0, 2, 3] {
                m.on_message(vote_in(VoteKind::Prevote, 1, from, NIL));
            }
            assert_eq!(m.locked.is_none(), unlocked, "{rules:?}");
            let votes = votes_of(&mut m);
            assert!(
                votes.contains(&(VoteKind::Precommit, 1, NIL)),
                "{rules:?}: {votes:?}"
            );
            m.start_round(2, false);
            m.outbox.clear();
            m.on_message(proposal_in(2, 8, -1));
            let want = if unlocked { 8 } else { NIL };
            assert_eq!(
                votes_of(&mut m),
                [(VoteKind::Prevote, 2, want)],
                "{rules:?}"
            );
        }
    }

    /// A proposal of block 8 with POL round 1, where round 1 had +2/3
    /// prevotes for nil, not for 8. v0.38's `isProposalComplete`
    /// (@1254-1265) asks only for +2/3 for one value in the POL round, and
    /// an unlocked validator then prevotes the proposal; line 28 of the
    /// paper (v1 @1536-1563) needs the polka to be for 8: no prevote until
    /// `timeout_propose`.
    #[test]
    fn pol_round_with_a_polka_for_another_value() {
        for (rules, want) in [
            (Rules::CometbftV038, Some(8)),
            (Rules::CometbftV1, None),
            (Rules::TendermintPaper, None),
        ] {
            let mut m = with_rules(rules);
            m.start_round(1, false);
            for from in [0, 2, 3] {
                m.on_message(vote_in(VoteKind::Prevote, 1, from, NIL));
            }
            m.start_round(2, false);
            m.outbox.clear();
            m.on_message(proposal_in(2, 8, 1));
            let got = votes_of(&mut m).first().map(|&(_, _, b)| b);
            assert_eq!(got, want, "{rules:?}");
        }
    }

    /// Round skip: prevotes of round 3 from validators 0 and 2 (half the
    /// power: more than a third, not more than two thirds). The paper's
    /// line 55 moves on f+1; CometBFT's `addVote` (v0.38 @2304-2306, v1
    /// @2453-2455) needs +2/3 of any prevotes, so only the third one moves it.
    #[test]
    fn round_skip_threshold() {
        for rules in Rules::ALL {
            let mut m = with_rules(rules);
            m.start_round(0, false);
            m.outbox.clear();
            m.on_message(vote_in(VoteKind::Prevote, 3, 0, NIL));
            m.on_message(vote_in(VoteKind::Prevote, 3, 2, NIL));
            let enter = Action::EnterRound {
                height: 1,
                round: 3,
            };
            let moved = m.outbox.contains(&enter);
            assert_eq!(moved, rules == Rules::TendermintPaper, "{rules:?}");
            m.outbox.clear();
            m.on_message(vote_in(VoteKind::Prevote, 3, 3, NIL));
            if rules.cometbft() {
                assert_eq!(m.outbox, [enter], "{rules:?}");
            }
        }
    }

    /// Proposals do not move a CometBFT validator to another round
    /// (`defaultSetProposal` drops them, v0.38 @1906, v1 @2051); the
    /// paper's line 55 counts them with the votes.
    #[test]
    fn a_later_proposal_counts_only_in_the_paper() {
        for rules in Rules::ALL {
            let mut m = with_rules(rules);
            m.start_round(0, false);
            m.outbox.clear();
            m.on_message(vote_in(VoteKind::Prevote, 2, 2, NIL));
            m.on_message(proposal_in(2, 9, -1));
            let moved = m.outbox.contains(&Action::EnterRound {
                height: 1,
                round: 2,
            });
            assert_eq!(moved, !rules.cometbft(), "{rules:?}");
        }
    }

    /// +2/3 of precommits of our round, split between two blocks and nil
    /// (no value has +2/3), while we wait in the prevote step: CometBFT
    /// enters `PrecommitWait` (v0.38 @2346-2348, v1 @2496-2498) and never
    /// precommits in this round, even when its timers fire (`enterPrecommit`
    /// returns at a later step); the paper schedules the precommit timer
    /// (line 47) and precommits nil at `timeout_prevote` (line 61).
    #[test]
    fn precommit_wait_ends_voting_in_cometbft() {
        for rules in Rules::ALL {
            let mut m = with_rules(rules);
            m.start_round(0, false);
            m.on_timeout(1, 0, Step::Propose);
            m.outbox.clear();
            m.on_message(vote_in(VoteKind::Precommit, 0, 0, 7));
            m.on_message(vote_in(VoteKind::Precommit, 0, 2, 8));
            m.on_message(vote_in(VoteKind::Precommit, 0, 3, NIL));
            assert!(m.outbox.contains(&Action::Schedule {
                step: Step::Precommit,
                height: 1,
                round: 0
            }));
            m.on_timeout(1, 0, Step::Prevote);
            m.on_timeout(1, 0, Step::Precommit);
            let precommitted = !votes_of(&mut m).is_empty();
            assert_eq!(precommitted, !rules.cometbft(), "{rules:?}");
        }
    }

    /// Locked on 7 in round 0, no proposal in round 1, then +2/3 prevotes
    /// for 7 in round 1. At `timeout_prevote` CometBFT's `enterPrecommit`
    /// relocks and precommits the locked block (v1 @1658; under v0.38 the
    /// validator prevoted 7 itself); the paper's line 61 precommits nil (line
    /// 36 needs round 1's proposal of 7).
    #[test]
    fn polka_for_the_locked_block_without_its_proposal() {
        for (rules, want) in [
            (Rules::CometbftV038, 7),
            (Rules::CometbftV1, 7),
            (Rules::TendermintPaper, NIL),
        ] {
            let mut m = locked_on_7(rules);
            m.on_timeout(1, 1, Step::Propose);
            for from in [0, 2, 3] {
                m.on_message(vote_in(VoteKind::Prevote, 1, from, 7));
            }
            m.outbox.clear();
            m.on_timeout(1, 1, Step::Prevote);
            assert_eq!(
                votes_of(&mut m),
                [(VoteKind::Precommit, 1, want)],
                "{rules:?}"
            );
            let relocked = m.locked == Some((7, 1));
            assert_eq!(relocked, want == 7, "{rules:?}");
        }
    }
}
