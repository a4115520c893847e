//! Coalesced GPU steps (issue #8) against one event per step: the same
//! steps at the same times, so every record and the summary agree; only the
//! count of events differs (a tenth or less of a busy node's events remain).

mod common;

use common::{assert_same_records, parse, run, scenario_file};
use sim_core::scenario::GpuSteps;
use sim_core::{Scenario, SimDuration};

fn with(s: &Scenario, steps: GpuSteps) -> Scenario {
    let mut s = s.clone();
    s.gpu_steps = steps;
    s
}

/// Runs `s` both ways and asserts that everything but the event count
/// agrees; returns (events step by step, events coalesced).
fn same_both_ways(what: &str, s: &Scenario, seed: u64) -> (u64, u64) {
    let (each, each_sink) = run(&with(s, GpuSteps::Each), seed);
    let (coalesced, sink) = run(&with(s, GpuSteps::Coalesced), seed);
    assert!(
        !each_sink.requests.is_empty(),
        "{what}: no requests to compare"
    );
    assert_same_records(what, &sink, &each_sink);
    let mut a = coalesced.clone();
    a.events_processed = each.events_processed;
    assert_eq!(a, each, "{what}: summaries differ");
    (each.events_processed, coalesced.events_processed)
}

fn shortened(mut s: Scenario, minutes: u64) -> Scenario {
    s.duration = SimDuration::from_secs(60 * minutes);
    s
}

/// The default scenario: batched 8B and 70B nodes, TEE, ZK and vanilla
/// modes; on the direct model, so that the count compared is mostly the
/// GPUs' (the p2p model's gossip would swamp it).
#[test]
fn default_scenario_agrees_with_far_fewer_events() {
    let mut s = shortened(scenario_file("default.toml"), 20);
    s.network.model = sim_core::scenario::NetworkModel::Direct;
    let (each, coalesced) = same_both_ways("default", &s, 1);
    assert!(
        coalesced * 3 < each,
        "{coalesced} events coalesced against {each}"
    );
}

/// `day-150`: ~100 requests/s over 80 nodes, arrivals cutting runs short all the time.
#[test]
fn busy_fleet_agrees() {
    let (each, coalesced) =
        same_both_ways("day-150", &shortened(scenario_file("day-150.toml"), 3), 2);
    assert!(
        coalesced * 3 < each,
        "{coalesced} events coalesced against {each}"
    );
}

/// A saturated node: the queue's head waits for a finish (batch, token and
/// KV limits), requests arrive into an empty queue mid-run, and outputs of
/// one token finish at their prefill.
#[test]
fn saturated_small_batches_agree() {
    for seed in 1..=3 {
        same_both_ways("saturated", &parse(SATURATED), seed);
    }
}

const SATURATED: &str = r#"
name = "saturated"
duration = "20m"
[[validators]]
name = "v"
count = 4
region = "N_Virginia"
[[gpu_nodes]]
name = "gpu"
count = 2
hardware = "L4"
model = "llama-3.1-8b"
max_batch = 3
max_batch_tokens = 1200
[[workload]]
name = "chat"
model = "llama-3.1-8b"
arrival = { kind = "poisson", rate_per_s = 4.0 }
prompt_tokens = { kind = "exponential", mean = 300 }
output_tokens = { kind = "exponential", mean = 40 }
modes = { vanilla = 1.0 }
"#;

/// Admission limits (issue #22) on the saturated node: arrivals rejected
/// at a full queue, and users who give up take requests out of the queue
/// (sometimes its head, so that the next one may fit mid-run).
#[test]
fn queue_limits_and_timeouts_agree() {
    let mut s = parse(SATURATED);
    s.gpu_nodes[0].max_queue = Some(6);
    s.workload[0].timeout = Some(SimDuration::from_secs(4));
    for seed in 1..=3 {
        same_both_ways("admission limits", &s, seed);
    }
    let (summary, _) = run(&s, 1);
    let c = &summary.requests;
    assert!(
        c.rejected > 100 && c.abandoned > 100 && c.abandoned_in_service > 10,
        "{c:?}"
    );
}

/// GPU operators leaving and entering under market shocks.
#[test]
fn operators_leaving_and_entering_agree() {
    let (each, coalesced) = same_both_ways(
        "shock",
        &shortened(scenario_file("shock-base.toml"), 12 * 60),
        1,
    );
    assert!(coalesced < each);
}
