//! hacasim's round state machine against Malachite's driver, an independent
//! implementation of the same algorithm (Algorithm 1 of arXiv:1807.04938):
//! random validator sets and input sequences go to both, and what each emits
//! after every input must agree but for the named rules of `harness.rs`.
//!
//! `ORACLE_CASES` (default 10,000) and `ORACLE_SEED` (default fixed, so CI is
//! deterministic) change the run. A mismatch is shrunk by proptest and the
//! shortest sequence found is printed step by step.

mod context;
mod harness;
mod rules;

use std::cell::RefCell;
use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};
use sim_core::consensus::{Step, VoteKind};
use sim_core::network::NodeId;

use harness::{ALL_RULES, Case, Input, OTHER_BLOCKS, PICK_NIL, PICK_PROPOSED, Rule};

/// Rounds that inputs name: `0..ROUNDS`.
const ROUNDS: u32 = 4;
/// Most inputs in a case.
const MAX_INPUTS: usize = 48;
/// Most validators.
const MAX_VALIDATORS: usize = 10;

fn vote_kind() -> impl Strategy<Value = VoteKind> {
    prop_oneof![Just(VoteKind::Prevote), Just(VoteKind::Precommit)]
}

/// A block for a vote: the round's proposal half the time.
fn vote_block() -> impl Strategy<Value = u8> {
    prop_oneof![1 => 0..=PICK_NIL, 1 => Just(PICK_PROPOSED)]
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        2 => (0..ROUNDS, 0..=OTHER_BLOCKS, -1..ROUNDS as i32).prop_map(|(round, block, pol_round)| {
            Input::Proposal {
                round,
                block,
                pol_round,
            }
        }),
        8 => (vote_kind(), 0..ROUNDS, vote_block(), 0..MAX_VALIDATORS as u16).prop_map(
            |(kind, round, block, from)| Input::Vote {
                kind,
                round,
                block,
                from,
            }
        ),
        1 => (vote_kind(), vote_block(), any::<u16>()).prop_map(|(kind, block, senders)| {
            Input::Batch {
                kind,
                block,
                senders,
            }
        }),
        3 => any::<u8>().prop_map(|index| Input::Fire { index }),
        1 => prop_oneof![Just(Step::Propose), Just(Step::Prevote), Just(Step::Precommit)]
            .prop_map(|kind| Input::Rearm { kind }),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (1..=MAX_VALIDATORS)
        .prop_flat_map(|n| {
            (
                proptest::collection::vec(1..=10u64, n),
                0..n as NodeId,
                0..n as NodeId,
                0..1u8 << OTHER_BLOCKS,
                proptest::collection::vec(input(), 1..=MAX_INPUTS),
            )
        })
        .prop_map(|(powers, me, first_proposer, invalid, inputs)| Case {
            powers,
            me,
            first_proposer,
            invalid,
            inputs,
        })
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v} is not a number"))
        })
        .unwrap_or(default)
}

#[derive(Default)]
struct Stats {
    cases: u32,
    decided: u32,
    cut: u32,
    locked: u32,
    reached_round: BTreeMap<u32, u32>,
    rules: BTreeMap<Rule, u32>,
}

#[test]
fn hacasim_agrees_with_malachite() {
    let cases = env_u64("ORACLE_CASES", 10_000) as u32;
    let seed = env_u64("ORACLE_SEED", 0x4d41_4c41_4348_4954);
    let config = Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        max_shrink_iters: 20_000,
        ..Config::default()
    };
    let started = std::time::Instant::now();
    let stats = RefCell::new(Stats::default());
    let mut runner = TestRunner::new(config);
    let result = runner.run(&case(), |case| match harness::run(case) {
        Ok(outcome) => {
            let mut s = stats.borrow_mut();
            s.cases += 1;
            s.decided += u32::from(outcome.decided);
            s.cut += u32::from(outcome.cut);
            s.locked += u32::from(outcome.locked);
            *s.reached_round.entry(outcome.max_round).or_default() += 1;
            for (rule, n) in outcome.rules {
                *s.rules.entry(rule).or_default() += n;
            }
            Ok(())
        }
        Err(trace) => Err(TestCaseError::fail(trace)),
    });
    match result {
        Ok(()) => {}
        Err(TestError::Fail(trace, case)) => panic!(
            "hacasim and Malachite differ. Shortest sequence found:\n{case:#?}\nStep by step:\n{trace}"
        ),
        Err(e) => panic!("{e}"),
    }
    let s = stats.into_inner();
    eprintln!(
        "{} cases in {:.1} s (seed {seed:#x}): {} decided, {} locked, {} cut short by a rule; \
         highest round reached {:?}; rules applied {:?}",
        s.cases,
        started.elapsed().as_secs_f64(),
        s.decided,
        s.locked,
        s.cut,
        s.reached_round,
        s.rules
    );
    // The cases must reach what they are meant to exercise.
    assert!(s.decided * 10 >= s.cases, "too few cases reach a decision");
    assert!(
        s.reached_round.keys().any(|&r| r >= 2),
        "no case reaches round 2"
    );
    // Every rule but the rarest is needed in a run of this size (each also
    // has its worked case in `rules.rs`).
    if cases >= 10_000 {
        for rule in ALL_RULES {
            assert!(
                s.rules.contains_key(&rule) || rule == Rule::MalachiteSkipBeforeDecide,
                "rule {rule:?} never applied"
            );
        }
    }
}
