//! Model upgrades on the timetable (`[[upgrades]]`, issue #26), against
//! facts worked by hand: a rolling upgrade's completion time from the
//! weights' size and the load rate, the 2/3 quorum of a replicated chain
//! whose weaker validators cannot fit the new model, errors that name the
//! line and key, and determinism.

mod common;

use common::{assert_same_records, run};
use sim_core::Scenario;

/// Arrivals at 0.5 s, 1.5 s, …, 29.5 s: one a second, half a second from
/// any whole second, so that no request is in service on a whole second.
fn half_second_trace() -> String {
    let mut t = String::from("time_s\n");
    for k in 0..30 {
        t.push_str(&format!("{}.5\n", k));
    }
    t
}

fn parse_with_trace(text: &str) -> Scenario {
    let mut s = Scenario::from_toml_str(text, "inline.toml").unwrap();
    let trace = half_second_trace();
    s.attach_files(text, "inline.toml", &mut |_| Ok(trace.clone()))
        .unwrap();
    s
}

/// Four H100 nodes of group "up" and one of "spare" serve Llama 3.1 8B;
/// the stream "chat" sends one request a second (1 prompt token, 1 output
/// token: a few milliseconds of service on an H100).
fn rolling(upgrade: &str) -> String {
    format!(
        r#"
name = "rolling"
duration = "30s"

[network]
regions = ["lab"]
latency_ms = [[1.0]]
jitter = {{ kind = "none" }}

[mempool]
tx_rate_per_s = 0.0

[[validators]]
name = "v"
count = 4
region = "lab"

[[gpu_nodes]]
name = "up"
count = 4
hardware = "H100-SXM"
model = "llama-3.1-8b"

[[gpu_nodes]]
name = "spare"
hardware = "H100-SXM"
model = "llama-3.1-8b"

[[workload]]
name = "chat"
model = "llama-3.1-8b"
arrival = {{ kind = "trace", file = "arrivals.csv" }}
prompt_tokens = {{ kind = "fixed", mean = 1 }}
output_tokens = {{ kind = "fixed", mean = 1 }}
modes = {{ tee = 0.0, vanilla = 1.0 }}
{upgrade}
"#
    )
}

const ROLLING_UPGRADE: &str = r#"
[[upgrades]]
at = "10s"
group = "up"
to_model = "llama-3.2-1b"
batch = 2
load_gb_per_s = 2.48
streams = ["chat"]
"#;

/// Llama 3.2 1B's weights are 1.24e9 parameters × 2 bytes = 2.48 GB; at
/// 2.48 GB/s a node loads them in exactly 1 s. At 10 s nodes 0 and 1 (the
/// first batch of 2) leave routing; nothing runs on them (the last request,
/// of 9.5 s, took milliseconds), so they drain at once and load until 11 s;
/// then nodes 2 and 3 (the request of 10.5 s went to node 2, done by 11 s)
/// drain at once and load until 12 s: the upgrade completes at
/// 10 + 2 × 1 = 12 s. The stream switches then: from 10 s to 12 s its
/// requests go to the nodes that still serve Llama 3.1 8B (2, 3 and the
/// spare 4 until 11 s, the spare alone until 12 s), and from 12 s to the
/// four upgraded nodes: none is lost.
#[test]
fn rolling_upgrade_of_four_nodes_in_batches_of_two_completes_at_hand_worked_time() {
    let s = parse_with_trace(&rolling(ROLLING_UPGRADE));
    let (summary, sink) = run(&s, 1);
    assert_eq!(summary.upgrades.len(), 1);
    let u = &summary.upgrades[0];
    assert_eq!(u.at_s, 10.0);
    assert_eq!(u.group.as_deref(), Some("up"));
    assert_eq!(u.from_model, "llama-3.1-8b");
    assert_eq!(u.to_model, "llama-3.2-1b");
    assert_eq!(u.completed_s, Some(12.0));
    assert_eq!(u.requests_lost, 0);
    assert_eq!(summary.requests.submitted, 30);
    assert_eq!(summary.requests.delivered, 30);
    for r in &sink.requests {
        let (t, node, model) = (r.submitted_s, r.node, r.model.as_str());
        if t < 10.0 {
            assert_eq!(model, "llama-3.1-8b", "{t}");
        } else if t < 11.0 {
            assert!((2..=4).contains(&node), "{t}: node {node}");
            assert_eq!(model, "llama-3.1-8b");
        } else if t < 12.0 {
            assert_eq!((node, model), (4, "llama-3.1-8b"), "{t}");
        } else {
            assert!(node < 4, "{t}: node {node}");
            assert_eq!(model, "llama-3.2-1b", "{t}");
        }
    }
    // The table of GPU nodes shows each node's model at the end.
    let models: Vec<&str> = sink.gpu_nodes.iter().map(|g| g.model.as_str()).collect();
    assert_eq!(
        models,
        [
            "llama-3.2-1b",
            "llama-3.2-1b",
            "llama-3.2-1b",
            "llama-3.2-1b",
            "llama-3.1-8b"
        ]
    );
}

/// Without a spare, the group's own old-model nodes are all that serve the
/// stream until it switches: after the first batch, nodes 2 and 3 are
/// out from 11 s to 12 s, so the request of 11.5 s finds no node and is
/// lost (counted against the upgrade).
#[test]
fn a_request_finding_no_node_for_its_model_is_lost_and_counted() {
    let text = rolling(ROLLING_UPGRADE).replace(
        "[[gpu_nodes]]\nname = \"spare\"\nhardware = \"H100-SXM\"\nmodel = \"llama-3.1-8b\"\n",
        "",
    );
    let s = parse_with_trace(&text);
    let (summary, _) = run(&s, 1);
    let u = &summary.upgrades[0];
    assert_eq!(u.completed_s, Some(12.0));
    assert_eq!(u.requests_lost, 1);
    assert_eq!(summary.requests.submitted, 30);
    assert_eq!(summary.requests.delivered, 29);
}

/// Streams that switch before the group serves the new model lose their
/// requests until a node does (`streams_at` earlier than completion).
#[test]
fn streams_switching_early_lose_requests_until_a_node_serves_the_model() {
    let text = rolling(&ROLLING_UPGRADE.replace(
        "streams = [\"chat\"]",
        "streams = [\"chat\"]\nstreams_at = \"10s\"",
    ));
    let s = parse_with_trace(&text);
    let (summary, _) = run(&s, 1);
    // 10.5 s: nodes 0 and 1 still loading (until 11 s), no node serves
    // the new model: lost. 11.5 s: nodes 0 and 1 serve it.
    assert_eq!(summary.upgrades[0].requests_lost, 1);
    assert_eq!(summary.upgrades[0].completed_s, Some(12.0));
}

#[test]
fn same_seed_same_records_with_upgrades() {
    let s = parse_with_trace(&rolling(ROLLING_UPGRADE));
    let (a, sa) = run(&s, 7);
    let (b, sb) = run(&s, 7);
    assert_eq!(a, b);
    assert_same_records("upgrade", &sa, &sb);
}

/// Validators of power 10 each: `big` on 8×H100 (640 GB), `small` on a
/// regular PC (64 GB). Llama 3.2 1B fits both; Mixtral 8x7B's weights
/// (46.7e9 × 2 bytes = 93.4 GB) fit only the big ones. Deterministic
/// kernels: no divergence. The stream switches to Mixtral at 20 s.
fn replicated(big: u32, small: u32) -> String {
    format!(
        r#"
name = "replicated-upgrade"
duration = "60s"
architecture = "replicated"

[replicated]
deterministic_kernels = true

[network]
regions = ["lab"]
latency_ms = [[1.0]]
jitter = {{ kind = "none" }}

[mempool]
tx_rate_per_s = 0.0

[[validators]]
name = "big"
count = {big}
region = "lab"
power = 10
hardware = "8xH100-SXM"

[[validators]]
name = "small"
count = {small}
region = "lab"
power = 10
hardware = "regular-pc"

[[workload]]
name = "w"
model = "llama-3.2-1b"
arrival = {{ kind = "poisson", rate_per_s = 2.0 }}
prompt_tokens = {{ kind = "fixed", mean = 1 }}
output_tokens = {{ kind = "fixed", mean = 1 }}
modes = {{ tee = 1.0 }}

[[upgrades]]
at = "20s"
to_model = "mixtral-8x7b"
streams = ["w"]
"#
    )
}

/// 4 big + 2 small: the small ones hold 20 of 60 = exactly 1/3 of the
/// power. When the first block with a Mixtral request commits, they cannot
/// execute it; the rest hold 40 of 60, and 40 × 3 = 120 ≤ 2 × 60: no app
/// hash holds more than 2/3, the chain halts.
#[test]
fn replicated_chain_halts_when_exactly_a_third_cannot_fit_the_new_model() {
    let s = common::parse(&replicated(4, 2));
    let (summary, sink) = run(&s, 1);
    assert!(summary.consensus.halts, "{:?}", summary.consensus);
    assert_eq!(summary.validators_unable_to_execute, 2);
    let u = &summary.upgrades[0];
    assert_eq!((u.group.clone(), u.completed_s), (None, Some(20.0)));
    assert_eq!(u.from_model, "llama-3.2-1b");
    // Nothing is committed long after the switch.
    let last = sink.blocks.last().unwrap().committed_at_s;
    assert!(last < 25.0, "last commit at {last}");
    for n in &sink.nodes {
        assert_eq!(n.unable_to_execute, n.group == "small", "{}", n.name);
        // The small ones stop at the first block with a Mixtral request,
        // committed after the switch at 20 s and before the last commit.
        match n.unable_at_s {
            Some(t) => assert!(n.group == "small" && (20.0..=last).contains(&t), "{t}"),
            None => assert_eq!(n.group, "big"),
        }
    }
}

/// An upgrade to a vision-language model that sends images: requests
/// submitted before the switch (20 s) carry none and a 1-token prompt;
/// those after carry 2 images each, and their prompt is 1 + 2 × 576 tokens
/// (LLaVA-1.5: a 336-pixel image is 24 × 24 = 576 patches, one token each).
#[test]
fn an_upgrade_to_a_vision_model_sends_images_from_the_switch() {
    let text = replicated(4, 0)
        .replace("count = 0", "count = 1")
        .replace("to_model = \"mixtral-8x7b\"", "to_model = \"llava-1.5-7b\"")
        .replace(
            "streams = [\"w\"]",
            "streams = [\"w\"]\nimages = { kind = \"fixed\", mean = 2, max = 2 }",
        );
    let s = common::parse(&text);
    let (_, sink) = run(&s, 1);
    let (before, after): (Vec<_>, Vec<_>) =
        sink.requests.iter().partition(|r| r.submitted_s < 20.0);
    assert!(!before.is_empty() && !after.is_empty());
    for r in before {
        assert_eq!(
            (r.images, r.prompt_tokens, r.model.as_str()),
            (0, 1, "llama-3.2-1b")
        );
    }
    for r in after {
        assert_eq!(
            (r.images, r.prompt_tokens, r.model.as_str()),
            (2, 1 + 2 * 576, "llava-1.5-7b")
        );
    }
    // Images go only to a model with a vision encoder (a sweep may say
    // "none" to any model with a maximum of 0).
    let bad = text.replace("to_model = \"llava-1.5-7b\"", "to_model = \"mixtral-8x7b\"");
    let e = sim_core::Scenario::from_toml_str(&bad, "inline.toml").unwrap_err();
    assert_eq!(e.key, "upgrades[0].images");
    assert!(e.message.contains("no `vision` encoder"), "{}", e.message);
    let none = bad.replace(
        "{ kind = \"fixed\", mean = 2, max = 2 }",
        "{ kind = \"uniform\", min = 0, max = 0 }",
    );
    assert!(sim_core::Scenario::from_toml_str(&none, "inline.toml").is_ok());
}

/// 3 big + 1 small: the small one holds 10 of 40 = 1/4. The rest hold 30,
/// and 30 × 3 = 90 > 2 × 40: the chain goes on, executing Mixtral.
#[test]
fn replicated_chain_goes_on_when_a_quarter_cannot_fit_the_new_model() {
    let s = common::parse(&replicated(3, 1));
    let (summary, sink) = run(&s, 1);
    assert!(!summary.consensus.halts, "{:?}", summary.consensus);
    assert_eq!(summary.validators_unable_to_execute, 1);
    let last = sink.blocks.last().unwrap().committed_at_s;
    assert!(last > 55.0, "last commit at {last}");
    assert!(
        sink.requests
            .iter()
            .any(|r| r.model == "mixtral-8x7b" && r.finalised_s.is_some())
    );
}

/// Every name an upgrade gives is checked, with the line and the key.
#[test]
fn unknown_group_model_or_stream_is_an_error_with_line_and_key() {
    let base = rolling(ROLLING_UPGRADE);
    let line_of =
        |text: &str, needle: &str| text.lines().position(|l| l.starts_with(needle)).unwrap() + 1;
    for (from, to, key, says) in [
        (
            "group = \"up\"",
            "group = \"upp\"",
            "upgrades[0].group",
            "did you mean `up`",
        ),
        (
            "to_model = \"llama-3.2-1b\"",
            "to_model = \"llama-9\"",
            "upgrades[0].to_model",
            "unknown model",
        ),
        (
            "streams = [\"chat\"]",
            "streams = [\"chatt\"]",
            "upgrades[0].streams[0]",
            "did you mean `chat`",
        ),
        ("batch = 2", "batch = 0", "upgrades[0].batch", "between 1"),
        (
            "load_gb_per_s = 2.48",
            "load_gb_per_s = -1.0",
            "upgrades[0].load_gb_per_s",
            "must be in",
        ),
        (
            "at = \"10s\"",
            "at = \"40s\"",
            "upgrades[0].at",
            "within the run",
        ),
    ] {
        let text = base.replace(from, to);
        let e = Scenario::from_toml_str(&text, "t.toml").unwrap_err();
        assert_eq!(e.key, key, "{e}");
        assert_eq!(e.line, Some(line_of(&text, to)), "{e}");
        assert!(e.message.contains(says), "{e}");
        assert!(e.to_string().starts_with("t.toml:"), "{e}");
    }
    // Decoupled needs a group; a model too large for the group's memory.
    let text = base.replace("group = \"up\"\n", "");
    let e = Scenario::from_toml_str(&text, "t.toml").unwrap_err();
    assert_eq!(e.key, "upgrades[0].group", "{e}");
    let text = base.replace("\"llama-3.2-1b\"\nbatch", "\"llama-3.1-70b\"\nbatch");
    let e = Scenario::from_toml_str(&text, "t.toml").unwrap_err();
    assert_eq!(e.key, "upgrades[0].to_model", "{e}");
    assert!(e.message.contains("offers"), "{e}");
    // Replicated: no group needed, the streams are.
    let text = replicated(3, 1).replace("streams = [\"w\"]\n", "");
    let e = Scenario::from_toml_str(&text, "t.toml").unwrap_err();
    assert_eq!(e.key, "upgrades[0].streams", "{e}");
}

/// The resolved scenario carries the upgrade and its model, and reads back.
#[test]
fn resolved_scenario_round_trips_with_upgrades() {
    let s = Scenario::from_toml_str(&rolling(ROLLING_UPGRADE), "t.toml").unwrap();
    assert!(s.models.contains_key("llama-3.2-1b"));
    let again = Scenario::from_toml_str(&s.to_toml(), "resolved.toml").unwrap();
    assert_eq!(again, s);
    // The default load rate: 1,000 MiB/s.
    let s = Scenario::from_toml_str(
        &rolling(&ROLLING_UPGRADE.replace("load_gb_per_s = 2.48\n", "")),
        "t.toml",
    )
    .unwrap();
    assert_eq!(s.upgrades[0].load_gb_per_s, 1.048576);
}

/// `scenarios/model-upgrade-base.toml`, its first 40 minutes: four nodes, one at
/// a time, each loading Mixtral's 93.4 GB at 1,000 MiB/s (89.07 s) after
/// draining: complete between 30 min + 4 × 89.07 s and a minute more of
/// draining, with the group's other nodes and the spare `gpu-old` carrying
/// the stream until it switches: none lost.
#[test]
fn shipped_model_upgrade_scenario_completes_without_loss() {
    let mut s = common::scenario_file("model-upgrade-base.toml");
    s.duration = sim_core::SimDuration::from_secs(40 * 60);
    let (summary, _) = run(&s, 1);
    let u = &summary.upgrades[0];
    let load = 46.7e9 * 2.0 / 1.048576e9;
    let done = u.completed_s.expect("completes within 40 minutes");
    assert!(
        done >= 1800.0 + 4.0 * load && done < 1800.0 + 4.0 * load + 60.0,
        "{done}"
    );
    assert_eq!(u.requests_lost, 0);
    assert_eq!(u.from_model, "llama-3.1-8b");
}

/// A node still serving at `at` drains first: it takes nothing new, finishes
/// what it has, then loads for 1 s. With 200 output tokens a request runs
/// past the next arrival, so at 10 s a node of the group is still busy; the
/// batch (both nodes) serves the new model at max(10 s, the last delivery
/// on either node) + 1 s, and no request reaches them in between.
#[test]
fn busy_nodes_drain_before_loading() {
    let text = rolling(&ROLLING_UPGRADE.replace("streams = [\"chat\"]", "streams = []"))
        .replace("count = 4", "count = 2")
        .replace(
            "output_tokens = { kind = \"fixed\", mean = 1 }",
            "output_tokens = { kind = \"fixed\", mean = 200 }",
        );
    let s = parse_with_trace(&text);
    let (summary, sink) = run(&s, 1);
    let done = summary.upgrades[0].completed_s.unwrap();
    let last = sink
        .requests
        .iter()
        .filter(|r| r.node < 2 && r.submitted_s < 10.0)
        .map(|r| r.delivered_s.unwrap())
        .fold(10.0, f64::max);
    assert!(last > 10.0, "no node was busy at 10 s: {last}");
    assert!((done - (last + 1.0)).abs() < 1e-9, "{done} vs {last} + 1");
    for r in &sink.requests {
        if r.submitted_s >= 10.0 && r.submitted_s < done {
            assert_eq!(r.node, 2, "{}", r.submitted_s);
        }
    }
    assert_eq!(summary.upgrades[0].requests_lost, 0);
}

/// `summary.upgrades`' before and after distributions, against the same
/// percentiles computed here from the records: block intervals of heights
/// committed before and after the upgrade's `at` (the `blocks` table), and
/// trust gaps of requests finalised before and after it (`requests`) —
/// equal within the summary sketch's 2⁻¹¹ relative precision.
#[test]
fn before_and_after_percentiles_match_the_records() {
    use sim_core::summary::Distribution;
    let s = common::scenario_file("model-upgrade-base.toml");
    let (summary, sink) = run(&s, 3);
    let u = &summary.upgrades[0];
    let at = u.at_s;
    let split = |xs: Vec<(f64, f64)>| -> [Distribution; 2] {
        let before: Vec<f64> = xs.iter().filter(|p| p.0 < at).map(|p| p.1).collect();
        let after: Vec<f64> = xs.iter().filter(|p| p.0 >= at).map(|p| p.1).collect();
        [Distribution::of(&before), Distribution::of(&after)]
    };
    let intervals = split(
        sink.blocks
            .iter()
            .filter_map(|b| Some((b.committed_at_s, b.interval_s?)))
            .collect(),
    );
    let gaps = split(
        sink.requests
            .iter()
            .filter_map(|r| Some((r.finalised_s?, r.trust_gap_s?)))
            .collect(),
    );
    let close = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= b.abs() * 2f64.powi(-11) + 1e-9,
        (a, b) => a == b,
    };
    for (got, want, what) in [
        (&u.block_interval_s_before, &intervals[0], "interval before"),
        (&u.block_interval_s_after, &intervals[1], "interval after"),
        (&u.trust_gap_s_before, &gaps[0], "trust gap before"),
        (&u.trust_gap_s_after, &gaps[1], "trust gap after"),
    ] {
        assert!(want.p50.is_some(), "{what}: no samples");
        for (a, b) in [
            (got.p50, want.p50),
            (got.p99, want.p99),
            (got.max, want.max),
        ] {
            assert!(close(a, b), "{what}: {a:?} vs {b:?}");
        }
    }
}
