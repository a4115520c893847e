//! One validator run twice on the same inputs: hacasim's round state machine
//! (`sim_core::consensus::round::RoundState`) and Malachite's `Driver`. The
//! harness plays what surrounds each: the simulation for hacasim (it carries
//! out the actions as `Simulation::perform` does), the host for Malachite (it
//! feeds the node's own proposal and votes back, names each round's
//! proposer, answers `GetValue`). After every input it compares what the two
//! emitted, as multisets: proposals, votes, timeouts, round changes and the
//! decision, and the (round, step) each is in.
//!
//! Where the two legitimately differ, a named rule below ([`Rule`]) says so,
//! maps one onto the other, and is counted; anything else is a mismatch.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write;

use malachitebft_core_driver::{Driver, Input as MInput, Output as MOutput};
use malachitebft_core_state_machine::state::Step as MStep;
use malachitebft_core_types::{
    NilOrVal, Round, SignedMessage, Threshold, Timeout, TimeoutKind, Validity, VoteType,
};
use sim_core::consensus::round::{Action, RoundState};
use sim_core::consensus::{BlockId, Message, NIL, Rules, Step, VoteKind};
use sim_core::network::NodeId;

use crate::context::{Addr, Block, Ctx, Height, Proposal, ValidatorSet, Vote};

/// The one height every case runs in.
const HEIGHT: u64 = 1;

/// Blocks other validators propose are `0..OTHER_BLOCKS`; the invalid ones
/// are drawn per case.
pub const OTHER_BLOCKS: u8 = 4;

/// The block this validator builds when it proposes a new one in `round`.
pub fn own_block(round: u32) -> BlockId {
    10 + round
}

/// A block as an input names it: `0..OTHER_BLOCKS` another's block,
/// [`PICK_OWN`] this validator's own block of the round (`own_block`),
/// [`PICK_PROPOSED`] the block of the round's proposal (nil if none yet),
/// anything else nil (votes only).
pub type Pick = u8;
pub const PICK_OWN: Pick = OTHER_BLOCKS;
pub const PICK_PROPOSED: Pick = OTHER_BLOCKS + 1;
pub const PICK_NIL: Pick = OTHER_BLOCKS + 2;

/// One input of a case, in hacasim's terms.
#[derive(Clone, Debug)]
pub enum Input {
    /// The proposal of `round` by that round's proposer.
    Proposal {
        round: u32,
        block: Pick,
        pol_round: i32,
    },
    /// A vote by another validator (`from` indexes the others).
    Vote {
        kind: VoteKind,
        round: u32,
        block: Pick,
        from: u16,
    },
    /// Votes of one kind for one block (never nil) from several others in
    /// the current round, counted at once: hacasim's `on_votes` (the quorum
    /// fast path), one `Input::Vote` each for Malachite. Bit `i` of `senders` is the
    /// `i`-th other validator.
    Batch {
        kind: VoteKind,
        block: Pick,
        senders: u16,
    },
    /// The `index`-th (modulo) of the timers both machines scheduled and
    /// that have not fired yet fires.
    Fire { index: u8 },
    /// A timer of `kind` for the current round that no rule scheduled
    /// fires: the simulation re-arms the current step's timer when a
    /// validator recovers from a crash (`Simulation::on_catch_up`).
    Rearm { kind: Step },
}

/// A generated case: the validator set, who we are, the proposer schedule,
/// which blocks are invalid, and the inputs.
#[derive(Clone, Debug)]
pub struct Case {
    pub powers: Vec<u64>,
    pub me: NodeId,
    /// The proposer of round `r` is `(first_proposer + r) % n`.
    pub first_proposer: NodeId,
    /// Bit `b` set: block `b` (of `0..OTHER_BLOCKS`) is invalid (hacasim's
    /// `reject`, Malachite's `Validity::Invalid`).
    pub invalid: u8,
    pub inputs: Vec<Input>,
}

/// What a machine emitted, in common terms. `block: None` is nil.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ev {
    Propose {
        round: u32,
        pol_round: i32,
        block: BlockId,
    },
    Vote {
        kind: VoteKind,
        round: u32,
        block: Option<BlockId>,
    },
    Timeout {
        kind: Step,
        round: u32,
    },
    EnterRound(u32),
    /// hacasim's `FetchBlock`, compared only without `Rule::FetchBlock`.
    FetchBlock(BlockId),
    Decide {
        round: u32,
        block: BlockId,
    },
}

/// The known, legitimate differences, each mapped explicitly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rule {
    /// **Round skip counts proposals.** hacasim's rule 55 counts the
    /// senders of *any* message of a later round, proposals included, as
    /// Algorithm 1 line 55 says (`f+1 ⟨∗, h, round, ∗, ∗⟩`); Malachite's vote
    /// keeper counts the senders of votes only. When hacasim skips to round
    /// r on the strength of r's proposer, who has sent its proposal but no
    /// vote of r yet, the harness hands both machines the prevote an honest
    /// proposer sends for its own proposal, which brings Malachite to r too;
    /// the step's outputs are compared together.
    SkipCountsProposal,
    /// **A commit from a block held from another round.** hacasim commits
    /// +2/3 precommits of round r for a block it holds from *any* proposal
    /// of the height (CometBFT fetches block parts by hash, whatever round
    /// they were proposed in), and before any other rule (its rule 49 comes
    /// first); Malachite, as Algorithm 1 line 49, needs round r's own
    /// proposal of that block. When hacasim commits such a block, the
    /// harness gives Malachite round r's proposal of it (what CometBFT's
    /// block-part gossip stands for) and Malachite must then make the same
    /// decision; in that step only the decisions are compared (Malachite
    /// may have acted on the step's input first, as a round-r' message).
    /// If Malachite decided the same block in a later round r' whose
    /// proposal it holds, the decision counts as the same: hacasim names the
    /// first round with +2/3 precommits for the block, as CometBFT's
    /// `enterCommit` does (its commit round is the first quorum seen).
    CommitHeldBlock,
    /// **Two decisions possible.** With +2/3 precommits for two different
    /// blocks at one height (≥ 1/3 of the power equivocating: a safety
    /// failure, which the simulation reports as such), hacasim commits the
    /// lowest round's block (and waits for it if it lacks it), Malachite the
    /// first quorum whose proposal it holds. The case is not compared past
    /// the first decision mismatch it causes.
    Fork,
    /// **One proposal a round.** hacasim keeps the first proposal of a round,
    /// as CometBFT's `cs.Proposal`, and the simulation sends each validator
    /// one (an equivocating proposer sends each side its own block);
    /// Malachite keeps every proposal of a round. A second, different
    /// proposal of a round is delivered to neither.
    OneProposalPerRound,
    /// **`FetchBlock`.** hacasim asks to fetch a block that has +2/3
    /// precommits and whose proposal it lacks; Malachite has no such output
    /// (its host syncs values outside the driver). Not compared; the harness
    /// never delivers the fetched block, so both wait for the proposal.
    FetchBlock,
    /// **Spent timers.** A timer that can do nothing when it fires is not
    /// compared: the round has moved on, or the step has for a propose or
    /// prevote timer (the simulation drops it as it schedules it:
    /// `RoundState::timer_is_spent`). A proposer's own propose timeout, which
    /// Malachite schedules with `GetValue` and hacasim never does (the
    /// simulation builds the block at once), is dropped this way: the
    /// proposer has prevoted by the end of the step. A timer a machine
    /// schedules again (Malachite re-reports +2/3 precommits on every step
    /// change) is compared the first time only.
    SpentTimer,
    /// **Malachite 0.5.0 defect: a polka certificate of any value.** Its
    /// driver takes a stored polka certificate of the POL round (line 28) or
    /// of the current round (line 36) as a polka for the proposal's value
    /// whatever value the certificate is for, and prevotes or precommits a
    /// value without +2/3 prevotes for it. Fixed upstream after 0.5.0
    /// (circlefin/malachite 3c9d5e97, "Ensure polka certificate is matched
    /// against a proposal for the same value"). The case is not compared
    /// past the first mismatch it causes.
    MalachitePolkaOfAnyValue,
    /// **Malachite 0.5.0 defect: +2/3 precommits hide a nil polka.** On a
    /// step change its driver re-checks only the first of "+2/3 precommits",
    /// "+2/3 prevotes for nil", "+2/3 prevotes", so a validator that enters
    /// the prevote step with the first already seen neither precommits nil
    /// (line 44) nor starts its prevote timer (line 34). Fixed upstream
    /// after 0.5.0 (circlefin/malachite d1aae817, "`PrecommitAny` does not
    /// shadow `PolkaNil` and `PolkaAny` pending inputs"). The case is not
    /// compared past the first mismatch it causes.
    MalachitePrecommitAnyShadows,
    /// **Malachite 0.5.0: skip before deciding.** A precommit of a later
    /// round that brings both f+1 of that round and +2/3 precommits for a
    /// block makes Malachite 0.5.0's vote keeper report the round skip only:
    /// its driver enters the round (proposing in it, if it is the
    /// proposer) and decides after. hacasim decides at once (its rule 49
    /// comes before rule 55), as Malachite does since upstream fabbbc13
    /// ("decide in a future round upon `PrecommitValue(v)`"). In a step
    /// where both make the same decision, what Malachite alone emitted in
    /// the decision's round is dropped.
    MalachiteSkipBeforeDecide,
}

pub const ALL_RULES: [Rule; 9] = [
    Rule::SkipCountsProposal,
    Rule::CommitHeldBlock,
    Rule::Fork,
    Rule::OneProposalPerRound,
    Rule::FetchBlock,
    Rule::SpentTimer,
    Rule::MalachitePolkaOfAnyValue,
    Rule::MalachitePrecommitAnyShadows,
    Rule::MalachiteSkipBeforeDecide,
];

/// `ORACLE_WITHOUT=<rule>` turns a rule off, to show what it maps (the
/// run then fails on the first case that needs it, shrunk).
fn without() -> Option<Rule> {
    static WITHOUT: std::sync::OnceLock<Option<Rule>> = std::sync::OnceLock::new();
    *WITHOUT.get_or_init(|| {
        let name = std::env::var("ORACLE_WITHOUT").ok()?;
        let rule = ALL_RULES.into_iter().find(|r| format!("{r:?}") == name);
        Some(rule.unwrap_or_else(|| panic!("ORACLE_WITHOUT={name}: no such rule ({ALL_RULES:?})")))
    })
}

/// How a case ended.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub decided: bool,
    /// Not compared past a point a rule names (`Rule::Fork`, Malachite's
    /// defects).
    pub cut: bool,
    /// hacasim precommitted a block (locked on it) at some point.
    pub locked: bool,
    pub max_round: u32,
    pub rules: BTreeMap<Rule, u32>,
}

fn kind_of(t: TimeoutKind) -> Step {
    match t {
        TimeoutKind::Propose => Step::Propose,
        TimeoutKind::Prevote => Step::Prevote,
        TimeoutKind::Precommit => Step::Precommit,
        TimeoutKind::Rebroadcast => unreachable!("the driver never schedules Rebroadcast"),
    }
}

fn timeout_of(kind: Step, round: u32) -> Timeout {
    let kind = match kind {
        Step::Propose => TimeoutKind::Propose,
        Step::Prevote => TimeoutKind::Prevote,
        Step::Precommit => TimeoutKind::Precommit,
        Step::NewHeight => unreachable!("no timer of NewHeight in a round"),
    };
    Timeout::new(Round::new(round), kind)
}

fn vote_type(kind: VoteKind) -> VoteType {
    match kind {
        VoteKind::Prevote => VoteType::Prevote,
        VoteKind::Precommit => VoteType::Precommit,
    }
}

fn vote_kind(t: VoteType) -> VoteKind {
    match t {
        VoteType::Prevote => VoteKind::Prevote,
        VoteType::Precommit => VoteKind::Precommit,
    }
}

fn round_u32(r: Round) -> u32 {
    r.as_u32().expect("a defined round")
}

fn pol_i32(r: Round) -> i32 {
    r.as_i64() as i32
}

fn round_of(pol: i32) -> Round {
    if pol < 0 {
        Round::Nil
    } else {
        Round::new(pol as u32)
    }
}

/// Whether a timer of `kind` for `round` can still do something for a
/// machine at (`round_now`, `step_now`): the simulation's
/// `RoundState::timer_is_spent`, applied to both machines alike.
fn live(kind: Step, round: u32, round_now: u32, step_now: Step) -> bool {
    match round.cmp(&round_now) {
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Equal => {
            !(matches!(kind, Step::Propose | Step::Prevote) && step_now > kind)
        }
    }
}

/// The two machines and what the harness knows of the inputs so far.
pub struct Pair {
    case: Case,
    hs: RoundState,
    mal: Driver<Ctx>,
    total: u64,
    /// The first proposal delivered for each round: (block, pol_round).
    proposals: BTreeMap<u32, (BlockId, i32)>,
    /// (kind, round, sender) of every single vote delivered, own ones included.
    voted: BTreeSet<(VoteKind, u32, NodeId)>,
    /// (kind, round, sender) counted through a batch: `on_votes` cannot
    /// tell a later single vote of the same sender from a new one, so such
    /// votes are not delivered (the fast path's own contract).
    batched: BTreeSet<(VoteKind, u32, NodeId)>,
    /// Timers each machine has scheduled (compared once, `Rule::SpentTimer`).
    scheduled_hs: BTreeSet<(Step, u32)>,
    scheduled_mal: BTreeSet<(Step, u32)>,
    /// Timers both scheduled that have not fired.
    pending: Vec<(Step, u32)>,
    pub outcome: Outcome,
    pub trace: String,
    /// The rules applied in the step under way, for the trace.
    notes: Vec<String>,
    /// A rule turned off.
    without: Option<Rule>,
}

/// A step's emissions, before and after the rules.
struct StepOut {
    hs: Vec<Ev>,
    mal: Vec<Ev>,
}

impl Pair {
    pub fn new(case: Case, without: Option<Rule>) -> Pair {
        let powers: std::sync::Arc<[u64]> = case.powers.clone().into();
        let mut hs = RoundState::new(case.me, powers, Rules::TendermintPaper);
        for b in 0..OTHER_BLOCKS {
            if case.invalid >> b & 1 == 1 {
                hs.reject(b as BlockId);
            }
        }
        let set = ValidatorSet::from_powers(&case.powers);
        let mal = Driver::new(Ctx, Height(HEIGHT), set, Addr(case.me), Default::default());
        let total = case.powers.iter().sum();
        let mut trace = String::new();
        let _ = writeln!(
            trace,
            "validators (power): {:?}; we are v{}; proposer of round r: v({} + r) % {}; invalid blocks: {:?}",
            case.powers,
            case.me,
            case.first_proposer,
            case.powers.len(),
            (0..OTHER_BLOCKS)
                .filter(|b| case.invalid >> b & 1 == 1)
                .collect::<Vec<_>>()
        );
        Pair {
            case,
            hs,
            mal,
            total,
            proposals: BTreeMap::new(),
            voted: BTreeSet::new(),
            batched: BTreeSet::new(),
            scheduled_hs: BTreeSet::new(),
            scheduled_mal: BTreeSet::new(),
            pending: Vec::new(),
            outcome: Outcome::default(),
            trace,
            notes: Vec::new(),
            without,
        }
    }

    fn n(&self) -> usize {
        self.case.powers.len()
    }

    fn proposer(&self, round: u32) -> NodeId {
        ((self.case.first_proposer as usize + round as usize) % self.n()) as NodeId
    }

    fn valid(&self, block: BlockId) -> bool {
        block >= OTHER_BLOCKS as BlockId || self.case.invalid >> block & 1 == 0
    }

    fn others(&self) -> Vec<NodeId> {
        (0..self.n() as NodeId)
            .filter(|&v| v != self.case.me)
            .collect()
    }

    fn pick(&self, pick: Pick, round: u32) -> BlockId {
        match pick {
            p if p < OTHER_BLOCKS => p as BlockId,
            PICK_OWN => own_block(round),
            PICK_PROPOSED => self.proposals.get(&round).map_or(NIL, |&(b, _)| b),
            _ => NIL,
        }
    }

    fn allowed(&self, rule: Rule) -> bool {
        self.without != Some(rule)
    }

    fn use_rule(&mut self, rule: Rule, note: &str) {
        *self.outcome.rules.entry(rule).or_default() += 1;
        self.notes.push(format!("rule {rule:?}: {note}"));
    }

    // ---- hacasim, as the simulation drives it ----

    /// Carries out hacasim's actions as `Simulation::drain`/`perform` do,
    /// until it asks nothing more.
    fn hs_drain(&mut self, out: &mut Vec<Ev>) {
        while !self.hs.outbox.is_empty() {
            let actions = std::mem::take(&mut self.hs.outbox);
            for action in actions {
                match action {
                    Action::Propose {
                        height,
                        round,
                        pol_round,
                        block,
                    } => {
                        if height != self.hs.height {
                            continue;
                        }
                        let block = block.unwrap_or(own_block(round));
                        self.proposals.entry(round).or_insert((block, pol_round));
                        out.push(Ev::Propose {
                            round,
                            pol_round,
                            block,
                        });
                        self.hs.on_message(Message::Proposal {
                            height,
                            round,
                            block,
                            pol_round,
                            from: self.case.me,
                        });
                    }
                    Action::Vote {
                        kind, round, block, ..
                    } => out.push(Ev::Vote {
                        kind,
                        round,
                        block: (block != NIL).then_some(block),
                    }),
                    Action::Schedule { step, round, .. } => {
                        out.push(Ev::Timeout { kind: step, round })
                    }
                    Action::EnterRound { height, round } => {
                        if height == self.hs.height {
                            out.push(Ev::EnterRound(round));
                            let we_propose = self.proposer(round) == self.case.me;
                            self.hs.start_round(round, we_propose);
                        }
                    }
                    Action::Commit { round, block, .. } => out.push(Ev::Decide { round, block }),
                    Action::FetchBlock { block, .. } => {
                        if self.allowed(Rule::FetchBlock) {
                            self.use_rule(Rule::FetchBlock, &format!("hacasim asks for b{block}"))
                        } else {
                            out.push(Ev::FetchBlock(block));
                        }
                    }
                }
            }
        }
    }

    // ---- Malachite, as a host drives it ----

    /// Feeds `input` to the driver, then its own proposal and votes back,
    /// the next round's proposer and a value to propose, until it emits
    /// nothing more.
    fn mal_feed(&mut self, input: MInput<Ctx>, out: &mut Vec<Ev>) {
        let mut queue = VecDeque::from([input]);
        while let Some(input) = queue.pop_front() {
            let outputs = self
                .mal
                .process(input.clone())
                .unwrap_or_else(|e| panic!("Malachite refused {input:?}: {e}"));
            for output in outputs {
                match output {
                    MOutput::NewRound(height, round) => {
                        let r = round_u32(round);
                        out.push(Ev::EnterRound(r));
                        queue.push_back(MInput::NewRound(height, round, Addr(self.proposer(r))));
                    }
                    MOutput::Propose(p) => {
                        out.push(Ev::Propose {
                            round: round_u32(p.round),
                            pol_round: pol_i32(p.pol_round),
                            block: p.value.0,
                        });
                        queue.push_back(MInput::Proposal(
                            SignedMessage::new(p, ()),
                            Validity::Valid,
                        ));
                    }
                    MOutput::Vote(v) => {
                        out.push(Ev::Vote {
                            kind: vote_kind(v.kind),
                            round: round_u32(v.round),
                            block: match v.value {
                                NilOrVal::Nil => None,
                                NilOrVal::Val(b) => Some(b.0),
                            },
                        });
                        queue.push_back(MInput::Vote(SignedMessage::new(v, ())));
                    }
                    MOutput::Decide(_, p) => out.push(Ev::Decide {
                        round: round_u32(p.round),
                        block: p.value.0,
                    }),
                    MOutput::ScheduleTimeout(t) => out.push(Ev::Timeout {
                        kind: kind_of(t.kind),
                        round: round_u32(t.round),
                    }),
                    MOutput::GetValue(_, round, _) => {
                        let block = Block(own_block(round_u32(round)));
                        queue.push_back(MInput::ProposeValue(round, block));
                    }
                }
            }
        }
    }

    fn mal_step(&self) -> Step {
        match self.mal.step() {
            MStep::Unstarted => Step::NewHeight,
            MStep::Propose => Step::Propose,
            MStep::Prevote => Step::Prevote,
            MStep::Precommit => Step::Precommit,
            MStep::Commit => Step::NewHeight,
        }
    }

    fn mal_round(&self) -> u32 {
        self.mal.round().as_u32().unwrap_or(0)
    }

    fn mal_proposal(&self, round: u32, block: BlockId, pol_round: i32) -> MInput<Ctx> {
        let p = Proposal {
            height: Height(HEIGHT),
            round: Round::new(round),
            value: Block(block),
            pol_round: round_of(pol_round),
            from: Addr(self.proposer(round)),
        };
        MInput::Proposal(
            SignedMessage::new(p, ()),
            Validity::from_bool(self.valid(block)),
        )
    }

    fn mal_vote(&self, kind: VoteKind, round: u32, block: BlockId, from: NodeId) -> MInput<Ctx> {
        let v = Vote {
            kind: vote_type(kind),
            height: Height(HEIGHT),
            round: Round::new(round),
            value: if block == NIL {
                NilOrVal::Nil
            } else {
                NilOrVal::Val(Block(block))
            },
            from: Addr(from),
        };
        MInput::Vote(SignedMessage::new(v, ()))
    }

    /// Delivers one vote to both machines.
    fn deliver_vote(
        &mut self,
        kind: VoteKind,
        round: u32,
        block: BlockId,
        from: NodeId,
        s: &mut StepOut,
    ) {
        self.voted.insert((kind, round, from));
        self.hs.on_message(Message::Vote {
            kind,
            height: HEIGHT,
            round,
            block,
            from,
        });
        self.hs_drain(&mut s.hs);
        let input = self.mal_vote(kind, round, block, from);
        self.mal_feed(input, &mut s.mal);
    }

    /// Starts round 0 on both; the comparison of its outputs is step 0.
    pub fn start(&mut self) -> Result<(), String> {
        let mut s = StepOut {
            hs: Vec::new(),
            mal: Vec::new(),
        };
        let we_propose = self.proposer(0) == self.case.me;
        self.hs.start_round(0, we_propose);
        self.hs_drain(&mut s.hs);
        let input = MInput::NewRound(Height(HEIGHT), Round::ZERO, Addr(self.proposer(0)));
        self.mal_feed(input, &mut s.mal);
        self.finish_step("start round 0", s)
    }

    /// Feeds one input to both machines and compares. `Ok(true)`: the case
    /// is over (decided, or not comparable further).
    pub fn step(&mut self, input: &Input) -> Result<bool, String> {
        let mut s = StepOut {
            hs: Vec::new(),
            mal: Vec::new(),
        };
        let what = match *input {
            Input::Proposal {
                round,
                block,
                pol_round,
            } => {
                let from = self.proposer(round);
                let pol_round = pol_round.clamp(-1, round as i32 - 1);
                // A block of ours re-proposed by another: the one we built
                // in the proposal's POL round (or in its own round).
                let block = if block == PICK_OWN {
                    own_block(if pol_round < 0 {
                        round
                    } else {
                        pol_round as u32
                    })
                } else {
                    self.pick(block % OTHER_BLOCKS, round)
                };
                let what = format!("proposal r{round} b{block} pol {pol_round} from v{from}");
                if from == self.case.me {
                    let _ = writeln!(
                        self.trace,
                        "  {what}: skipped (we are honest and propose ourselves)"
                    );
                    return Ok(false);
                }
                match self.proposals.get(&round) {
                    Some(&first)
                        if first != (block, pol_round)
                            && self.allowed(Rule::OneProposalPerRound) =>
                    {
                        let _ = writeln!(self.trace, "  {what}: not delivered");
                        *self
                            .outcome
                            .rules
                            .entry(Rule::OneProposalPerRound)
                            .or_default() += 1;
                        return Ok(false);
                    }
                    _ => {}
                }
                self.proposals.entry(round).or_insert((block, pol_round));
                self.hs.on_message(Message::Proposal {
                    height: HEIGHT,
                    round,
                    block,
                    pol_round,
                    from,
                });
                self.hs_drain(&mut s.hs);
                let input = self.mal_proposal(round, block, pol_round);
                self.mal_feed(input, &mut s.mal);
                what
            }
            Input::Vote {
                kind,
                round,
                block,
                from,
            } => {
                let others = self.others();
                if others.is_empty() {
                    return Ok(false);
                }
                let from = others[from as usize % others.len()];
                let block = self.pick(block, round);
                let what = format!("{kind:?} r{round} {} from v{from}", show(block));
                if self.batched.contains(&(kind, round, from)) {
                    let _ = writeln!(self.trace, "  {what}: skipped (counted in a batch)");
                    return Ok(false);
                }
                self.deliver_vote(kind, round, block, from, &mut s);
                what
            }
            Input::Batch {
                kind,
                block,
                senders,
            } => {
                let round = self.hs.round;
                // The fast path hands over votes for a block, never nil
                // (`Tally::add_power` does not count nil).
                let block = self.pick(block, round);
                if block == NIL {
                    return Ok(false);
                }
                let senders: Vec<NodeId> = self
                    .others()
                    .into_iter()
                    .enumerate()
                    .filter(|&(i, v)| {
                        senders >> i & 1 == 1
                            && !self.voted.contains(&(kind, round, v))
                            && !self.batched.contains(&(kind, round, v))
                    })
                    .map(|(_, v)| v)
                    .collect();
                if senders.is_empty() {
                    return Ok(false);
                }
                let power = senders.iter().map(|&v| self.case.powers[v as usize]).sum();
                self.hs.on_votes(kind, round, block, power);
                self.hs_drain(&mut s.hs);
                for &v in &senders {
                    self.batched.insert((kind, round, v));
                    let input = self.mal_vote(kind, round, block, v);
                    self.mal_feed(input, &mut s.mal);
                }
                format!(
                    "batch of {kind:?} r{round} {} from {senders:?}",
                    show(block)
                )
            }
            Input::Fire { index } => {
                if self.pending.is_empty() {
                    return Ok(false);
                }
                let (kind, round) = self.pending.remove(index as usize % self.pending.len());
                self.fire(kind, round, &mut s);
                format!("timeout {kind:?} r{round}")
            }
            Input::Rearm { kind } => {
                let round = self.hs.round;
                self.fire(kind, round, &mut s);
                format!("timeout {kind:?} r{round} (re-armed, never scheduled)")
            }
        };
        self.finish_step(&what, s).map(|()| self.over())
    }

    fn fire(&mut self, kind: Step, round: u32, s: &mut StepOut) {
        self.hs.on_timeout(HEIGHT, round, kind);
        self.hs_drain(&mut s.hs);
        self.mal_feed(MInput::TimeoutElapsed(timeout_of(kind, round)), &mut s.mal);
    }

    fn over(&self) -> bool {
        self.outcome.decided || self.outcome.cut
    }

    fn flush_notes(&mut self) {
        for note in self.notes.drain(..) {
            let _ = writeln!(self.trace, "      {note}");
        }
    }

    /// Applies the rules to a step's emissions and compares them.
    fn finish_step(&mut self, what: &str, mut s: StepOut) -> Result<(), String> {
        // Rule::SkipCountsProposal: hacasim entered a round Malachite did not.
        let skipped: Vec<u32> =
            s.hs.iter()
                .filter_map(|e| match *e {
                    Ev::EnterRound(r) if !s.mal.contains(e) => Some(r),
                    _ => None,
                })
                .collect();
        for r in skipped {
            let proposer = self.proposer(r);
            let Some(&(block, _)) = self.proposals.get(&r) else {
                continue;
            };
            let votes = self.mal.votes().per_round(Round::new(r));
            let weights = votes.map(|v| v.addresses_weights());
            let voted = weights.map_or(0, |w| w.get(&Addr(proposer)));
            let sum = weights.map_or(0, |w| w.sum());
            let p = self.case.powers[proposer as usize];
            if self.allowed(Rule::SkipCountsProposal)
                && self.mal_round() < r
                && voted == 0
                && sum * 3 <= self.total
                && (sum + p) * 3 > self.total
            {
                self.use_rule(
                    Rule::SkipCountsProposal,
                    &format!("both get v{proposer}'s prevote for its proposal b{block} of r{r}"),
                );
                self.deliver_vote(VoteKind::Prevote, r, block, proposer, &mut s);
            }
        }
        // Rule::CommitHeldBlock: hacasim committed a block it holds from
        // another round's proposal.
        let hs_decided = s.hs.iter().find_map(|e| match *e {
            Ev::Decide { round, block } => Some((round, block)),
            _ => None,
        });
        if let Some((round, block)) = hs_decided
            && self.allowed(Rule::CommitHeldBlock)
            && !s.mal.contains(&Ev::Decide { round, block })
            && self.valid(block)
            && self
                .mal
                .proposal_and_validity_for_round_and_value(Round::new(round), Block(block))
                .is_none()
            && self
                .proposals
                .iter()
                .any(|(&r, &(b, _))| r != round && b == block)
            && self.mal.votes().is_threshold_met(
                &Round::new(round),
                VoteType::Precommit,
                Threshold::Value(Block(block)),
            )
        {
            let mal_decided = s.mal.iter().find_map(|e| match *e {
                Ev::Decide { round, block } => Some((round, block)),
                _ => None,
            });
            match mal_decided {
                None => {
                    self.use_rule(
                        Rule::CommitHeldBlock,
                        &format!("Malachite gets round {round}'s proposal of b{block}"),
                    );
                    let input = self.mal_proposal(round, block, -1);
                    self.mal_feed(input, &mut s.mal);
                }
                Some((r, b)) if b == block => {
                    self.use_rule(
                        Rule::CommitHeldBlock,
                        &format!("Malachite decided b{b} in r{r}, whose proposal it holds"),
                    );
                    s.mal.retain(|e| !matches!(e, Ev::Decide { .. }));
                    s.mal.push(Ev::Decide { round, block });
                }
                Some(_) => {}
            }
            if s.mal.contains(&Ev::Decide { round, block }) {
                s.mal.retain(|e| matches!(e, Ev::Decide { .. }));
                s.hs.retain(|e| matches!(e, Ev::Decide { .. }));
            }
        }
        // Rule::SpentTimer, on both sides alike.
        let hs_now = (self.hs.round, self.hs.step);
        let mal_now = (self.mal_round(), self.mal_step());
        let decided_now = hs_decided.is_some() || self.mal.decided_value().is_some();
        let mut dropped = 0;
        let filter = self.allowed(Rule::SpentTimer);
        for (evs, now, seen) in [
            (&mut s.hs, hs_now, &mut self.scheduled_hs),
            (&mut s.mal, mal_now, &mut self.scheduled_mal),
        ] {
            evs.retain(|e| match *e {
                Ev::Timeout { kind, round } if filter => {
                    let keep = !decided_now
                        && live(kind, round, now.0, now.1)
                        && seen.insert((kind, round));
                    dropped += usize::from(!keep);
                    keep
                }
                _ => true,
            });
        }
        if dropped > 0 {
            *self.outcome.rules.entry(Rule::SpentTimer).or_default() += dropped as u32;
        }
        // Rule::MalachiteSkipBeforeDecide.
        if let Some((round, block)) = hs_decided
            && self.allowed(Rule::MalachiteSkipBeforeDecide)
            && s.mal.contains(&Ev::Decide { round, block })
            && s.mal.contains(&Ev::EnterRound(round))
            && !s.hs.contains(&Ev::EnterRound(round))
        {
            let extra = difference(&s.mal, &s.hs);
            s.mal.retain(|e| {
                !extra.contains(e)
                    || !matches!(*e, Ev::EnterRound(r) | Ev::Propose { round: r, .. } | Ev::Vote { round: r, .. } if r == round)
            });
            self.use_rule(
                Rule::MalachiteSkipBeforeDecide,
                &format!("Malachite entered r{round} before deciding in it"),
            );
        }
        s.hs.sort();
        s.mal.sort();
        let _ = writeln!(self.trace, "  {what}");
        self.flush_notes();
        let _ = writeln!(self.trace, "      hacasim:   {}", show_evs(&s.hs));
        let _ = writeln!(self.trace, "      Malachite: {}", show_evs(&s.mal));
        let mal_decision = s.mal.iter().find(|e| matches!(e, Ev::Decide { .. }));
        let hs_decision = s.hs.iter().find(|e| matches!(e, Ev::Decide { .. }));
        if hs_decision != mal_decision && self.allowed(Rule::Fork) && self.fork() {
            self.use_rule(
                Rule::Fork,
                "+2/3 precommits for two blocks: not compared further",
            );
            self.flush_notes();
            self.outcome.cut = true;
            return Ok(());
        }
        if let Some((rule, note)) = self.malachite_defect(&s)
            && self.allowed(rule)
        {
            self.use_rule(rule, &format!("{note}: not compared further"));
            self.flush_notes();
            self.outcome.cut = true;
            return Ok(());
        }
        if s.hs != s.mal {
            let _ = writeln!(self.trace, "  MISMATCH in what was emitted");
            return Err(self.trace.clone());
        }
        self.outcome.locked |= s.hs.iter().any(|e| {
            matches!(
                e,
                Ev::Vote {
                    kind: VoteKind::Precommit,
                    block: Some(_),
                    ..
                }
            )
        });
        if hs_decision.is_some() {
            self.outcome.decided = true;
            return Ok(());
        }
        if (self.hs.round, self.hs.step) != mal_now {
            let _ = writeln!(
                self.trace,
                "  MISMATCH in state: hacasim at r{} {:?}, Malachite at r{} {:?}",
                self.hs.round, self.hs.step, mal_now.0, mal_now.1
            );
            return Err(self.trace.clone());
        }
        self.outcome.max_round = self.outcome.max_round.max(self.hs.round);
        for e in &s.hs {
            if let Ev::Timeout { kind, round } = *e {
                self.pending.push((kind, round));
            }
        }
        Ok(())
    }

    /// A known defect of Malachite 0.5.0 that shows in this step: one that
    /// explains its mismatch, or a valid or locked value that no polka
    /// justifies (`Rule::MalachitePolkaOfAnyValue` at line 36 in the
    /// precommit step, which only sets the valid value, emits nothing).
    fn malachite_defect(&self, s: &StepOut) -> Option<(Rule, String)> {
        let state = self.mal.round_state();
        for (what, rv) in [("valid", &state.valid), ("locked", &state.locked)] {
            if let Some(rv) = rv
                && !self.mal.votes().is_threshold_met(
                    &rv.round,
                    VoteType::Prevote,
                    Threshold::Value(rv.value),
                )
            {
                return Some((
                    Rule::MalachitePolkaOfAnyValue,
                    format!(
                        "Malachite's {what} value b{} of round {} has no polka",
                        rv.value.0,
                        round_u32(rv.round)
                    ),
                ));
            }
        }
        if s.hs == s.mal {
            return None;
        }
        let only_mal = difference(&s.mal, &s.hs);
        let only_hs = difference(&s.hs, &s.mal);
        let votes = self.mal.votes();
        let polka = |r: u32, b: BlockId| {
            votes.is_threshold_met(
                &Round::new(r),
                VoteType::Prevote,
                Threshold::Value(Block(b)),
            )
        };
        let certificate_of_other = |r: u32, b: BlockId| {
            self.mal
                .polka_certificates()
                .iter()
                .any(|c| c.round == Round::new(r) && c.value_id != Block(b))
        };
        for e in &only_mal {
            let Ev::Vote { kind, round, block } = *e else {
                continue;
            };
            // The value and round of the polka the vote stands on: the
            // proposal's and its POL round for a prevote (line 28, a nil
            // prevote for an invalid proposal included), the vote's own for
            // a precommit (line 36).
            let justified_by = match (kind, self.proposals.get(&round), block) {
                (VoteKind::Prevote, Some(&(b, pol)), _) if pol >= 0 => Some((b, pol as u32)),
                (VoteKind::Precommit, _, Some(b)) => Some((b, round)),
                _ => None,
            };
            if let Some((b, r)) = justified_by
                && !polka(r, b)
                && certificate_of_other(r, b)
            {
                return Some((
                    Rule::MalachitePolkaOfAnyValue,
                    format!(
                        "Malachite takes round {r}'s polka certificate for another value as one for b{b}"
                    ),
                ));
            }
        }
        let r = self.mal_round();
        let shadowed = only_hs.iter().any(|e| {
            matches!(*e, Ev::Vote { kind: VoteKind::Precommit, round, block: None } if round == r)
                || matches!(*e, Ev::Timeout { kind: Step::Prevote, round } if round == r)
        });
        if shadowed
            && self.mal_step() == Step::Prevote
            && votes.is_threshold_met(&Round::new(r), VoteType::Precommit, Threshold::Any)
        {
            return Some((
                Rule::MalachitePrecommitAnyShadows,
                format!("+2/3 precommits of r{r} hide Malachite's prevote quorum"),
            ));
        }
        None
    }

    /// Whether the inputs hold +2/3 precommits for two different blocks.
    fn fork(&self) -> bool {
        let votes = self.mal.votes();
        let max_round = votes.max_round().as_u32().unwrap_or(0);
        let candidates: Vec<BlockId> = (0..OTHER_BLOCKS as BlockId)
            .chain((0..=max_round).map(own_block))
            .collect();
        let quorums: BTreeSet<BlockId> = (0..=max_round)
            .flat_map(|r| {
                candidates.iter().copied().filter(move |&b| {
                    votes.is_threshold_met(
                        &Round::new(r),
                        VoteType::Precommit,
                        Threshold::Value(Block(b)),
                    )
                })
            })
            .collect();
        quorums.len() >= 2
    }
}

/// `a` less `b`, as multisets (both sorted).
fn difference(a: &[Ev], b: &[Ev]) -> Vec<Ev> {
    let mut rest = b.to_vec();
    a.iter()
        .filter(|e| match rest.iter().position(|x| x == *e) {
            Some(i) => {
                rest.remove(i);
                false
            }
            None => true,
        })
        .copied()
        .collect()
}

fn show(block: BlockId) -> String {
    if block == NIL {
        "nil".into()
    } else {
        format!("b{block}")
    }
}

fn show_evs(evs: &[Ev]) -> String {
    if evs.is_empty() {
        return "-".into();
    }
    evs.iter()
        .map(|e| match *e {
            Ev::Propose {
                round,
                pol_round,
                block,
            } => format!("propose r{round} b{block} pol {pol_round}"),
            Ev::Vote { kind, round, block } => {
                format!("{kind:?} r{round} {}", show(block.unwrap_or(NIL)))
            }
            Ev::Timeout { kind, round } => format!("timeout {kind:?} r{round}"),
            Ev::EnterRound(r) => format!("enter r{r}"),
            Ev::FetchBlock(b) => format!("fetch b{b}"),
            Ev::Decide { round, block } => format!("DECIDE r{round} b{block}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs a whole case; `Err` holds the trace up to the first mismatch.
pub fn run(case: Case) -> Result<Outcome, String> {
    run_without(case, without())
}

/// Runs a whole case with `rule` turned off.
pub fn run_without(case: Case, rule: Option<Rule>) -> Result<Outcome, String> {
    let inputs = case.inputs.clone();
    let mut pair = Pair::new(case, rule);
    pair.start()?;
    for input in &inputs {
        if pair.step(input)? {
            break;
        }
    }
    Ok(pair.outcome)
}
