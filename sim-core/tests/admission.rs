//! Admission limits and the overload guard (issue #22): a node's queue
//! limit rejects exactly the overflow, a user's timeout takes a waiting
//! request out of the queue, and a workload that outruns its GPU nodes
//! stops at `limits.max_in_flight` with the offered load and the capacity.

mod common;

use common::run;
use sim_core::inference::latency::{LatencyConfig, LatencyModel};
use sim_core::inference::{builtin_hardware, builtin_models};
use sim_core::records::RequestRecord;
use sim_core::{NullSink, Scenario, SimDuration, SimErrorKind, sim};

/// One validator, one L4 serving Llama 3.1 8B alone (`max_batch = 1`),
/// requests of 100 prompt and 10 output tokens arriving at the trace's
/// times (seconds); `node` and `stream` are extra keys of each.
fn one_l4(times: &[f64], node: &str, stream: &str) -> Scenario {
    let text = format!(
        r#"
name = "admission"
duration = "5m"
[network]
regions = ["lab"]
latency_ms = [[1.0]]
[[validators]]
name = "v"
region = "lab"
[verification]
vanilla_challenge_window = "1s"
[[gpu_nodes]]
name = "l4"
hardware = "L4"
model = "llama-3.1-8b"
max_batch = 1
{node}
[[workload]]
name = "w"
model = "llama-3.1-8b"
arrival = {{ kind = "trace", file = "t.csv" }}
prompt_tokens = {{ kind = "fixed", mean = 100 }}
output_tokens = {{ kind = "fixed", mean = 10 }}
modes = {{ vanilla = 1.0 }}
{stream}
"#
    );
    let csv: String = times.iter().map(|t| format!("{t}\n")).collect();
    let mut s = Scenario::from_toml_str(&text, "inline.toml").unwrap();
    s.attach_traces(&text, "inline.toml", &mut |_| Ok(csv.clone()))
        .unwrap();
    s
}

/// The time one request takes alone on the L4: prefill, then nine decode
/// steps (the node serves one at a time, back to back).
fn service_s() -> f64 {
    let model = &builtin_models()["llama-3.1-8b"];
    let hw = &builtin_hardware()["L4"];
    let s = LatencyModel::new(&LatencyConfig::default(), hw, model, 1.0, None)
        .solo(100, 10, 0)
        .as_secs_f64();
    assert!(
        s > 0.1 && s < 3.0,
        "an L4 decodes an 8B model in ~70 ms a step: {s}"
    );
    s
}

fn by_id(rows: &[RequestRecord], id: u64) -> &RequestRecord {
    rows.iter().find(|r| r.id == id).expect("a row per request")
}

/// Ten requests within 10 ms onto a node that serves one at a time and
/// queues two: the first is served at once, two wait, the other seven are
/// rejected. Thirty seconds later the node is idle again, and three more
/// fit exactly (one served, two queued): 7 rejections in all, and the
/// served ones come out back to back, one service time apart.
#[test]
fn a_full_queue_rejects_exactly_the_overflow() {
    let s_time = service_s();
    let mut times: Vec<f64> = (1..=10).map(|i| i as f64 * 0.001).collect();
    times.extend([30.001, 30.002, 30.003]);
    let s = one_l4(&times, "max_queue = 2", "");
    let (summary, sink) = run(&s, 1);
    assert_eq!(summary.requests.submitted, 13);
    assert_eq!(summary.requests.rejected, 7);
    assert_eq!(summary.requests.abandoned, 0);
    assert_eq!(summary.requests.delivered, 6);
    let rejected: Vec<u64> = sink
        .requests
        .iter()
        .filter(|r| r.outcome == "rejected")
        .map(|r| r.id)
        .collect();
    assert_eq!(
        rejected,
        [3, 4, 5, 6, 7, 8, 9],
        "the overflow of the first burst"
    );
    for &id in &rejected {
        let r = by_id(&sink.requests, id);
        assert!(r.started_s.is_none() && r.delivered_s.is_none() && r.settled_s.is_none());
    }
    for (k, id) in [0u64, 1, 2].into_iter().enumerate() {
        let r = by_id(&sink.requests, id);
        let want = 0.001 + (k + 1) as f64 * s_time;
        assert!(
            (r.delivered_s.unwrap() - want).abs() < 1e-8,
            "request {id}: delivered at {:?}, want {want}",
            r.delivered_s
        );
        assert_eq!(r.outcome, "completed");
    }
    // Every request has exactly one row.
    assert_eq!(sink.requests.len(), 13);
    // The in-flight peak: one served and two queued (rejected ones hold no row).
    assert_eq!(summary.requests.peak_in_flight, 3);
}

/// Four requests within 4 ms, one at a time, and users who wait 1.5
/// service times. Request 0 is served in time. Request 1 starts after one
/// service time, before its user gives up, and is still running when they
/// do: served and settled all the same, counted as abandoned in service.
/// Requests 2 and 3 would start after two and three service times: their
/// users give up while they wait, and they leave the queue then.
#[test]
fn a_timeout_abandons_waiting_requests_and_flags_running_ones() {
    let s_time = service_s();
    let timeout = SimDuration::from_secs_f64(1.5 * s_time);
    let s = one_l4(
        &[0.001, 0.002, 0.003, 0.004],
        "",
        &format!("timeout = \"{}ns\"", timeout.0),
    );
    let (summary, sink) = run(&s, 1);
    let c = &summary.requests;
    assert_eq!(
        (c.submitted, c.rejected, c.abandoned, c.abandoned_in_service),
        (4, 0, 3, 1)
    );
    assert_eq!(c.delivered, 2);
    let r1 = by_id(&sink.requests, 1);
    assert_eq!(r1.outcome, "completed");
    let gave_up = r1.abandoned_s.unwrap();
    assert!((gave_up - (0.002 + timeout.as_secs_f64())).abs() < 1e-9);
    assert!(r1.started_s.unwrap() < gave_up && gave_up < r1.delivered_s.unwrap());
    for (id, arrived) in [(2, 0.003), (3, 0.004)] {
        let r = by_id(&sink.requests, id);
        assert_eq!(r.outcome, "abandoned", "request {id}");
        assert!(r.started_s.is_none() && r.delivered_s.is_none());
        assert!((r.abandoned_s.unwrap() - (arrived + timeout.as_secs_f64())).abs() < 1e-9);
    }
    let r0 = by_id(&sink.requests, 0);
    assert!(r0.abandoned_s.is_none() && r0.outcome == "completed");
    // The node served two; its queue held the abandoned ones only while they waited.
    assert_eq!(sink.gpu_nodes[0].served, 2);
    assert_eq!(sink.requests.len(), 4);
}

/// The issue's typo: 100,000 requests/s (for 10) onto one L4.
fn overloaded(extra: &str) -> Scenario {
    common::parse(&format!(
        r#"
name = "overload"
duration = "10m"
[network]
regions = ["lab"]
latency_ms = [[1.0]]
[[validators]]
name = "v"
region = "lab"
[[gpu_nodes]]
name = "l4"
hardware = "L4"
model = "llama-3.1-8b"
[[workload]]
name = "chat"
model = "llama-3.1-8b"
arrival = {{ kind = "poisson", rate_per_s = 100000.0 }}
prompt_tokens = {{ kind = "lognormal", mean = 600, sigma = 0.8, max = 8192 }}
output_tokens = {{ kind = "lognormal", mean = 250, sigma = 0.7, max = 2048 }}
modes = {{ vanilla = 1.0 }}
{extra}
"#
    ))
}

/// The guard stops the run when the requests in flight reach the cap,
/// never beyond it, with the offered load against the capacity estimate.
#[test]
fn an_overloaded_run_stops_at_the_in_flight_cap() {
    let s = overloaded("[limits]\nmax_in_flight = 20000");
    let e = sim::run(&s, 1, &mut NullSink, &mut |_| {}).expect_err("the guard stops it");
    assert_eq!(e.kind, SimErrorKind::Overload);
    let m = e.to_string();
    for want in [
        "20000 requests in flight reached limits.max_in_flight = 20000",
        "offers 100000 requests/s",
        "the 1 GPU node serving can take about",
        "the queues grow without bound",
        "max_queue",
        "timeout",
    ] {
        assert!(m.contains(want), "{want:?} not in: {m}");
    }
    // 20,000 arrivals at 100,000/s: the guard fires at about 0.2 s.
    assert!(e.time_s > 0.15 && e.time_s < 0.25, "{}", e.time_s);
    // The capacity named is an L4's few requests/s of 600 + 250-token chat.
    let capacity: f64 = m
        .split("can take about ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|x| x.parse().ok())
        .expect("a capacity in the message");
    assert!(capacity > 0.3 && capacity < 10.0, "{capacity}");
}

/// With a bounded queue and a timeout the same workload runs to its end:
/// the overflow is rejected, requests in flight stay within the cap (a
/// node's batch and queue), and memory with them.
#[test]
fn bounded_queues_keep_an_overloaded_run_in_memory() {
    let mut s = overloaded("[limits]\nmax_in_flight = 20000");
    s.gpu_nodes[0].max_queue = Some(1000);
    s.workload[0].timeout = Some(SimDuration::from_secs(2));
    s.duration = SimDuration::from_secs(5);
    let summary = sim::run(&s, 1, &mut NullSink, &mut |_| {}).expect("bounded: it completes");
    let c = &summary.requests;
    assert!(c.peak_in_flight <= 1000 + 256, "{}", c.peak_in_flight);
    assert!(c.rejected > 400_000, "{}", c.rejected);
    assert_eq!(
        c.submitted,
        c.rejected + c.abandoned - c.abandoned_in_service + c.unfinished_at_end + c.finalised,
        "every request is rejected, abandoned, in flight or final: {c:?}"
    );
}

/// The new keys' impossible values name their file, line and key.
#[test]
fn impossible_limits_are_located() {
    let base = r#"name = "t"
duration = "1m"
[network]
regions = ["lab"]
latency_ms = [[1.0]]
[[validators]]
name = "v"
region = "lab"
[[gpu_nodes]]
name = "g"
hardware = "L4"
model = "llama-3.1-8b"
max_queue = 4
[[workload]]
name = "w"
model = "llama-3.1-8b"
arrival = { kind = "poisson", rate_per_s = 1.0 }
prompt_tokens = { kind = "fixed", mean = 10 }
output_tokens = { kind = "fixed", mean = 10 }
modes = { vanilla = 1.0 }
timeout = "30s"
[limits]
max_in_flight = 100
"#;
    let s = Scenario::from_toml_str(base, "t.toml").unwrap();
    assert_eq!(s.gpu_nodes[0].max_queue, Some(4));
    assert_eq!(s.workload[0].timeout, Some(SimDuration::from_secs(30)));
    assert_eq!(s.limits.max_in_flight, 100);
    // The resolved scenario keeps them.
    assert_eq!(Scenario::from_toml_str(&s.to_toml(), "r.toml").unwrap(), s);
    for (from, to, key, line) in [
        (
            "max_queue = 4",
            "max_queue = 0",
            "gpu_nodes[0].max_queue",
            13,
        ),
        (
            "timeout = \"30s\"",
            "timeout = \"0s\"",
            "workload[0].timeout",
            21,
        ),
        (
            "max_in_flight = 100",
            "max_in_flight = 0",
            "limits.max_in_flight",
            23,
        ),
        (
            "max_in_flight = 100",
            "max_in_flite = 1",
            "limits.max_in_flite",
            23,
        ),
    ] {
        let e = Scenario::from_toml_str(&base.replace(from, to), "t.toml").unwrap_err();
        assert_eq!((e.key.as_str(), e.line), (key, Some(line)), "{e}");
    }
}

/// Off by default: no queue limit, no timeout, a cap of a million.
#[test]
fn defaults_leave_runs_as_they_were() {
    let s = overloaded("");
    assert_eq!(s.gpu_nodes[0].max_queue, None);
    assert_eq!(s.workload[0].timeout, None);
    assert_eq!(s.limits.max_in_flight, 1_000_000);
    let text = s.to_toml();
    assert!(!text.contains("max_queue"));
    // A workload's `timeout` key (not `flush_throttle_timeout` and the like).
    assert!(!text.lines().any(|l| l.starts_with("timeout =")), "{text}");
}
