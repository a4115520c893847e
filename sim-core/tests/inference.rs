//! Inference and verification, each checked against an independent fact:
//! queueing formulas, the verification rules' own bounds, binomial bounds.

mod common;

use common::{parse, run};
use sim_core::records::RequestRecord;
use sim_core::{Scenario, VecSink};

/// One validator (consensus is not under test here) and the given extra TOML.
fn one_validator(duration: &str, extra: &str) -> Scenario {
    parse(&format!(
        r#"
name = "inference"
duration = "{duration}"
[network]
regions = ["lab"]
latency_ms = [[1.0]]
[[validators]]
name = "v"
region = "lab"
{extra}
"#
    ))
}

/// M/M/1: Poisson arrivals at λ = 0.5/s, one server with exponential
/// service of mean 1 s (μ = 1/s). Mean time in system W = 1/(μ−λ) = 2 s,
/// and Little's law L = λW on the node's time-averaged occupancy.
#[test]
fn single_node_is_an_mm1_queue() {
    let s = one_validator(
        "100000s",
        r#"
[[gpu_nodes]]
name = "gpu"
hardware = "H100-SXM"
model = "llama-3.1-8b"
max_batch = 1
latency = { kind = "exponential", mean = "1s" }

[[workload]]
name = "w"
model = "llama-3.1-8b"
arrival = { kind = "poisson", rate_per_s = 0.5 }
prompt_tokens = { kind = "fixed", mean = 10 }
output_tokens = { kind = "fixed", mean = 10 }
modes = { vanilla = 1.0 }
"#,
    );
    let (summary, sink) = run(&s, 1);
    let delivered: Vec<&RequestRecord> = sink
        .requests
        .iter()
        .filter(|r| r.delivered_s.is_some())
        .collect();
    let w = delivered
        .iter()
        .map(|r| r.delivered_s.unwrap() - r.submitted_s)
        .sum::<f64>()
        / delivered.len() as f64;
    assert!((w - 2.0).abs() / 2.0 < 0.03, "W = {w}, M/M/1 gives 2.0");
    let lambda = summary.requests.submitted as f64 / 100_000.0;
    assert!((lambda - 0.5).abs() < 0.01, "λ = {lambda}");
    let l = sink.gpu_nodes[0].mean_in_system;
    assert!(
        (l - lambda * w).abs() / (lambda * w) < 0.03,
        "L = {l}, λW = {}",
        lambda * w
    );
    // Utilisation ρ = λ/μ = 0.5.
    assert!((sink.gpu_nodes[0].utilisation - 0.5).abs() < 0.015);
}

const MODES: &str = r#"
[verification]
zk_provers = 4
vanilla_challenge_window = "60s"

[[gpu_nodes]]
name = "plain"
count = 2
hardware = "H100-SXM"
model = "llama-3.2-1b"

[[gpu_nodes]]
name = "cc"
count = 2
hardware = "H100-SXM"
model = "llama-3.2-1b"
tee = true

[[workload]]
name = "w"
model = "llama-3.2-1b"
arrival = { kind = "poisson", rate_per_s = 2.0 }
prompt_tokens = { kind = "lognormal", mean = 200, sigma = 0.5 }
output_tokens = { kind = "exponential", mean = 20 }
modes = { tee = 1.0, zk = 0.2, vanilla = 1.0 }
"#;

/// Each mode's trust gap respects its own rule: ZK waits at least for its
/// proof, vanilla at least for the challenge window, and TEE for at most the
/// inclusion of its settlement: the transaction waits at most one block
/// interval for the next proposal (blocks have room) and that block commits
/// within one more interval, so gap ≤ 2 × the longest block interval.
#[test]
fn trust_gap_bounds_per_mode() {
    let s = one_validator("20m", MODES);
    let (summary, sink) = run(&s, 3);
    let max_interval = summary.consensus.block_interval_s.max.unwrap();
    let mut seen = [0; 3];
    for r in sink.requests.iter().filter(|r| r.trust_gap_s.is_some()) {
        let gap = r.trust_gap_s.unwrap();
        match r.mode {
            "zk" => {
                seen[0] += 1;
                let proof = r.proof_done_s.unwrap() - r.proof_started_s.unwrap();
                assert!(gap >= proof, "request {}: gap {gap} < proof {proof}", r.id);
            }
            "vanilla" => {
                seen[1] += 1;
                assert!(gap >= 60.0, "request {}: gap {gap}", r.id);
            }
            "tee" => {
                seen[2] += 1;
                assert!(
                    gap <= 2.0 * max_interval,
                    "request {}: gap {gap} > 2 × {max_interval}",
                    r.id
                );
            }
            m => panic!("mode {m}"),
        }
    }
    assert!(seen.iter().all(|&n| n > 50), "finalised per mode {seen:?}");
    assert_eq!(summary.trust_gap_s.tee.n, seen[2] as u64);
}

/// Block space: with a block limit that holds fewer settlements than arrive,
/// the mempool backlog and so the trust gap grow through the run; with room
/// to spare they stay flat.
#[test]
fn saturated_blocks_make_trust_gaps_grow() {
    let workload = r#"
[[gpu_nodes]]
name = "cc"
count = 4
hardware = "H100-SXM"
model = "llama-3.2-1b"
tee = true

[[workload]]
name = "w"
model = "llama-3.2-1b"
arrival = { kind = "poisson", rate_per_s = 20.0 }
prompt_tokens = { kind = "fixed", mean = 100 }
output_tokens = { kind = "fixed", mean = 10 }
modes = { tee = 1.0 }
"#;
    let thirds = |s: &Scenario| {
        let (_, sink) = run(s, 1);
        let gaps: Vec<(f64, f64)> = sink
            .requests
            .iter()
            .filter_map(|r| Some((r.delivered_s?, r.trust_gap_s?)))
            .collect();
        let mean = |lo: f64, hi: f64| {
            // Grouped by when the result became final (a saturated run leaves
            // late deliveries unfinished, so group by finality, not delivery).
            let v: Vec<f64> = gaps
                .iter()
                .filter(|(d, g)| d + g >= lo && d + g < hi)
                .map(|(_, g)| *g)
                .collect();
            assert!(v.len() > 100, "{} finalised in [{lo}, {hi})", v.len());
            v.iter().sum::<f64>() / v.len() as f64
        };
        (mean(0.0, 200.0), mean(400.0, 600.0))
    };
    // 20 TEE settlements/s of 5.3 kB each; a block of 40 kB every ~1 s holds ~7.
    let tight = one_validator(
        "10m",
        &format!("[consensus]\nmax_block_bytes = 40000\n{workload}"),
    );
    let (early, late) = thirds(&tight);
    assert!(late > 3.0 * early, "saturated: early {early} late {late}");
    let roomy = one_validator("10m", workload);
    let (early, late) = thirds(&roomy);
    assert!(
        (late - early).abs() < 0.25 * early,
        "spare room: early {early} late {late}"
    );
}

fn fraud_scenario(mode: &str, reexec: f64) -> Scenario {
    one_validator(
        "2h",
        &format!(
            r#"
[verification]
zk_provers = 64
vanilla_challenge_window = "30s"
vanilla_reexecution_rate = {reexec}

[[gpu_nodes]]
name = "liar"
hardware = "H100-SXM"
model = "llama-3.2-1b"
dishonest_probability = 0.5

[[workload]]
name = "w"
model = "llama-3.2-1b"
arrival = {{ kind = "poisson", rate_per_s = 1.0 }}
prompt_tokens = {{ kind = "fixed", mean = 50 }}
output_tokens = {{ kind = "fixed", mean = 5 }}
modes = {{ {mode} = 1.0 }}
"#
        ),
    )
}

/// Wrong results among those whose verification had time to finish.
fn wrong_and_caught(sink: &VecSink) -> (usize, usize) {
    let settled_wrong: Vec<&RequestRecord> = sink
        .requests
        .iter()
        .filter(|r| !r.honest && r.settled_s.is_some() && r.settled_s.unwrap() < 7000.0)
        .collect();
    (
        settled_wrong.len(),
        settled_wrong
            .iter()
            .filter(|r| r.detected_s.is_some())
            .count(),
    )
}

#[test]
fn zk_always_catches_a_dishonest_node() {
    let (summary, sink) = run(&fraud_scenario("zk", 0.0), 1);
    let (wrong, caught) = wrong_and_caught(&sink);
    assert!(wrong > 1000);
    assert_eq!(caught, wrong);
    assert!(
        sink.requests
            .iter()
            .filter(|r| !r.honest)
            .all(|r| r.finalised_s.is_none()),
        "a wrong result was finalised"
    );
    assert!(summary.fraud.detected > 1000);
}

#[test]
fn vanilla_without_reexecution_never_catches() {
    let (summary, sink) = run(&fraud_scenario("vanilla", 0.0), 1);
    let (wrong, caught) = wrong_and_caught(&sink);
    assert!(wrong > 1000);
    assert_eq!(caught, 0);
    assert_eq!(summary.fraud.detected, 0);
}

/// Re-executing 10% of vanilla results catches each wrong one with
/// probability 0.1: the detected count is Binomial(n, 0.1), so within
/// 4 standard deviations of 0.1·n.
#[test]
fn vanilla_reexecution_catches_its_sampling_rate() {
    let (_, sink) = run(&fraud_scenario("vanilla", 0.1), 1);
    let (wrong, caught) = wrong_and_caught(&sink);
    let n = wrong as f64;
    let sd = (n * 0.1 * 0.9).sqrt();
    assert!(
        (caught as f64 - 0.1 * n).abs() < 4.0 * sd,
        "caught {caught} of {wrong}"
    );
    // Detection happens within the challenge window, never after it.
    for r in sink.requests.iter().filter(|r| r.detected_s.is_some()) {
        assert!(r.detected_s.unwrap() <= r.settled_s.unwrap() + 30.0);
    }
}

#[test]
fn workload_runs_are_deterministic() {
    let s = one_validator("5m", MODES);
    let (a, sa) = run(&s, 9);
    let (b, sb) = run(&s, 9);
    assert_eq!(a, b);
    assert_eq!(sa.requests, sb.requests);
    assert_eq!(sa.gpu_nodes, sb.gpu_nodes);
    let (c, _) = run(&s, 10);
    assert_ne!(a.trust_gap_s, c.trust_gap_s);
}

/// The shipped CPU calibration profile, as a scenario names it.
const CPU_PROFILE: &str = "profiles/cpu-amd-epyc-2t.toml";

fn profile_scenario(kind: &str) -> Scenario {
    let mut s = one_validator(
        "20m",
        &format!(
            r#"
[[gpu_nodes]]
name = "gpu"
count = 2
hardware = "H100-SXM"
model = "llama-3.2-1b"
latency = {{ kind = "{kind}", profile = "{CPU_PROFILE}" }}

[[workload]]
name = "w"
model = "llama-3.2-1b"
arrival = {{ kind = "poisson", rate_per_s = 0.05 }}
prompt_tokens = {{ kind = "lognormal", mean = 100, sigma = 0.5 }}
output_tokens = {{ kind = "fixed", mean = 4 }}
modes = {{ tee = 0.0, zk = 0.3, vanilla = 1.0 }}
"#
        ),
    );
    let scenarios = format!("{}/../scenarios", env!("CARGO_MANIFEST_DIR"));
    s.attach_files("", "inline.toml", &mut |f| {
        std::fs::read_to_string(format!("{scenarios}/{f}")).map_err(|e| e.to_string())
    })
    .unwrap();
    s
}

/// A run on the shipped CPU profile differs from the roofline run only in
/// latencies: the same requests arrive with the same sizes and modes, and
/// each is served in exactly the time the fitted profile predicts for a
/// prefill then one decode step per further token (the load is low enough
/// that no two requests share a batch).
#[test]
fn cpu_profile_changes_only_latencies() {
    let (_, mut roof) = run(&profile_scenario("roofline"), 4);
    let s = profile_scenario("profile");
    let (a, mut prof) = run(&s, 4);
    // Records come out as requests finish, which the latencies reorder.
    roof.requests.sort_by_key(|r| r.id);
    prof.requests.sort_by_key(|r| r.id);
    assert!(prof.requests.len() > 30, "{} requests", prof.requests.len());
    assert_eq!(roof.requests.len(), prof.requests.len());
    for (r, p) in roof.requests.iter().zip(&prof.requests) {
        assert_eq!(
            (
                r.id,
                &r.stream,
                r.mode,
                r.prompt_tokens,
                r.output_tokens,
                r.submitted_s
            ),
            (
                p.id,
                &p.stream,
                p.mode,
                p.prompt_tokens,
                p.output_tokens,
                p.submitted_s
            )
        );
    }
    // Service times from the profile itself.
    let fitted = s.profiles[CPU_PROFILE].clone();
    let m = &s.models["llama-3.2-1b"];
    use sim_core::inference::latency::StepWork;
    let mut checked = 0;
    for (r, p) in roof.requests.iter().zip(&prof.requests) {
        let (Some(start), Some(first)) = (p.started_s, p.first_token_s) else {
            continue;
        };
        let pt = p.prompt_tokens as f64;
        let prefill = fitted.step_secs(
            m,
            &StepWork {
                prefill_tokens: pt,
                prefill_tokens_sq: pt * pt,
                prefill_seqs: 1.0,
                ..Default::default()
            },
        );
        if (first - start - prefill).abs() < 1e-6 {
            checked += 1;
        }
        // The CPU (f32) is far slower than an H100's roofline.
        assert!(first - start > 10.0 * (r.first_token_s.unwrap() - r.started_s.unwrap()));
    }
    assert!(
        checked * 10 >= prof.requests.len() * 9,
        "{checked} of {} prefills took the profile's time",
        prof.requests.len()
    );
    let (b, mut again) = run(&s, 4);
    again.requests.sort_by_key(|r| r.id);
    assert_eq!(a, b);
    assert_eq!(prof.requests, again.requests);
}

/// A vision-language stream (`scenarios/tests/multimodal.toml`: LLaVA-1.5
/// 7B, 60 text tokens and 1–3 images a request): every row's prompt is its
/// text plus 576 tokens an image; every image count occurs; a ZK proof
/// covers the request's real work, the encoder's FLOPs included (its
/// proving time is the pool's overhead plus those FLOPs at the prover's
/// rate, by the formula); and the run is deterministic.
#[test]
fn multimodal_requests_carry_their_images() {
    let s = common::load("multimodal");
    let (summary, sink) = run(&s, 5);
    let model = &s.models["llava-1.5-7b"];
    let v = &s.verification;
    let mut seen = [0usize; 4];
    let mut proofs = 0;
    for r in &sink.requests {
        assert!((1..=3).contains(&r.images), "{} images", r.images);
        seen[r.images as usize] += 1;
        assert_eq!(r.prompt_tokens, 60 + 576 * r.images);
        if let (Some(a), Some(b)) = (r.proof_started_s, r.proof_done_s) {
            let flops = model.request_flops(r.prompt_tokens as f64, r.output_tokens as f64)
                + model.encoder_flops(r.images as f64);
            let want = v.zk_proof_overhead.as_secs_f64() + flops / v.zk_prover_flops;
            assert!(
                (b - a - want).abs() < 1e-6,
                "proof {} s, formula {want} s",
                b - a
            );
            proofs += 1;
        }
    }
    assert!(seen[1..].iter().all(|&n| n > 20), "{seen:?}");
    assert!(proofs > 20, "{proofs} proofs");
    assert!(summary.requests.delivered > 100);
    let (again, sink2) = run(&s, 5);
    assert_eq!(summary, again);
    assert_eq!(sink.requests, sink2.requests);
}
