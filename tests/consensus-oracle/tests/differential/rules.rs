//! One worked case per rule: the shortest sequence the property test found
//! with that rule turned off (`ORACLE_WITHOUT=<rule>`). Each must pass with
//! the rule applied, and fail without it: the rule is needed, and enough.

use sim_core::consensus::{Step, VoteKind};

use crate::harness::{Case, Input, PICK_PROPOSED, Rule, run_without};

fn case(powers: &[u64], me: u16, invalid: u8, inputs: Vec<Input>) -> Case {
    Case {
        powers: powers.to_vec(),
        me,
        first_proposer: 0,
        invalid,
        inputs,
    }
}

fn proposal(round: u32, block: u8, pol_round: i32) -> Input {
    Input::Proposal {
        round,
        block,
        pol_round,
    }
}

/// A vote by the first other validator.
fn vote(kind: VoteKind, round: u32, block: u8) -> Input {
    Input::Vote {
        kind,
        round,
        block,
        from: 0,
    }
}

fn check(rule: Rule, case: Case) {
    let outcome = run_without(case.clone(), None).unwrap_or_else(|trace| panic!("{trace}"));
    assert!(
        outcome.rules.contains_key(&rule),
        "{rule:?} not applied: {outcome:?}"
    );
    assert!(
        run_without(case, Some(rule)).is_err(),
        "the case passes without {rule:?}"
    );
}

use VoteKind::{Precommit, Prevote};

/// v1 (power 1 of 2) proposes in round 1: hacasim skips to round 1 on the
/// proposal alone (f+1 of any message), Malachite only on votes.
#[test]
fn skip_counts_proposal() {
    check(
        Rule::SkipCountsProposal,
        case(&[1, 1], 0, 0, vec![proposal(1, 0, 0)]),
    );
}

/// +2/3 precommits for b1 in round 1, then b1 arrives as round 0's
/// proposal: hacasim commits b1 in round 1, Malachite needs round 1's
/// proposal of it.
#[test]
fn commit_held_block() {
    check(
        Rule::CommitHeldBlock,
        case(
            &[3, 1],
            1,
            0b100,
            vec![vote(Precommit, 1, 1), proposal(0, 1, 0)],
        ),
    );
}

/// +2/3 precommits for b0 in round 2 (never proposed) and for b13 in round
/// 3: hacasim waits for the lowest round's block, Malachite decides b13.
#[test]
fn fork() {
    check(
        Rule::Fork,
        case(
            &[3, 1],
            1,
            0,
            vec![
                vote(Precommit, 2, 0),
                Input::Fire { index: 53 },
                vote(Precommit, 3, PICK_PROPOSED),
            ],
        ),
    );
}

/// Round 2's proposer sends two proposals of b0 (POL round 0, then none):
/// hacasim acts on the first only.
#[test]
fn one_proposal_per_round() {
    check(
        Rule::OneProposalPerRound,
        case(&[2, 1], 1, 0, vec![proposal(2, 0, 0), proposal(2, 0, -1)]),
    );
}

/// +2/3 precommits for b0, never proposed: hacasim asks to fetch it.
#[test]
fn fetch_block() {
    check(
        Rule::FetchBlock,
        case(&[5, 1], 1, 0b1110, vec![vote(Precommit, 0, 0)]),
    );
}

/// A single validator proposes, prevotes, precommits and decides at once:
/// Malachite's propose timer (with `GetValue`) and hacasim's prevote timer
/// are both spent.
#[test]
fn spent_timer() {
    check(Rule::SpentTimer, case(&[1], 0, 0, vec![proposal(0, 0, 0)]));
}

/// Round 0's polka is for b10; v1 proposes b0 in round 1 with POL round 0,
/// and Malachite 0.5.0 takes b10's polka certificate as one for b0.
#[test]
fn malachite_polka_of_any_value() {
    check(
        Rule::MalachitePolkaOfAnyValue,
        case(
            &[6, 3],
            0,
            0,
            vec![
                Input::Rearm {
                    kind: Step::Prevote,
                },
                vote(Prevote, 0, 4),
                proposal(1, 0, 0),
                vote(Precommit, 0, 0),
                Input::Fire { index: 0 },
            ],
        ),
    );
}

/// In round 1, +2/3 precommits and +2/3 nil prevotes are in before the
/// propose timeout: Malachite 0.5.0 does not precommit nil.
#[test]
fn malachite_precommit_any_shadows() {
    check(
        Rule::MalachitePrecommitAnyShadows,
        case(
            &[1, 3],
            0,
            0,
            vec![
                vote(Precommit, 1, 0),
                vote(Prevote, 1, PICK_PROPOSED),
                Input::Fire { index: 2 },
            ],
        ),
    );
}

/// v0 (power 9 of 10) precommits b2 in round 3: Malachite 0.5.0 enters
/// round 3 (and proposes in it) before it decides.
#[test]
fn malachite_skip_before_decide() {
    check(
        Rule::MalachiteSkipBeforeDecide,
        case(
            &[9, 1],
            1,
            0,
            vec![
                proposal(2, 2, 0),
                Input::Fire { index: 1 },
                vote(Precommit, 3, 2),
            ],
        ),
    );
}
