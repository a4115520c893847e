//! End-to-end tests of the `hacasim` program: run directories, determinism,
//! refusal of bad input with exit code 2 and nothing written.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn hacasim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hacasim"))
        .args(args)
        .output()
        .expect("hacasim runs")
}

fn scenario(name: &str) -> String {
    format!("{}/scenarios/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn run_to(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    run_scenario_to("tests/byzantine-minority.toml", dir, name, extra)
}

fn run_scenario_to(file: &str, dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let mut args = vec!["run", "--quiet", "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let s = scenario(file);
    args.insert(1, &s);
    let o = hacasim(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

#[test]
fn run_writes_the_run_directory() {
    let t = tmp();
    let dir = run_to(t.path(), "r", &[]);
    let names: Vec<String> = files(&dir).into_iter().map(|(n, _)| n).collect();
    for f in [
        "blocks.parquet",
        "consensus_rounds.parquet",
        "gpu_nodes.parquet",
        "ledger.parquet",
        "market.parquet",
        "nodes.parquet",
        "requests.parquet",
        "scenario.toml",
        "summary.json",
        "report.html",
        ".hacasim-output",
    ] {
        assert!(names.iter().any(|n| n == f), "{f} missing from {names:?}");
    }
    assert_eq!(names.iter().filter(|n| n.ends_with(".png")).count(), 8);
    assert_eq!(names.iter().filter(|n| n.ends_with(".svg")).count(), 8);
    assert_eq!(names.len(), 11 + 16, "{names:?}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    for key in [
        "scenario",
        "seed",
        "sim_duration_s",
        "events_processed",
        "consensus",
        "requests",
        "trust_gap_s",
        "fraud",
        "gpu",
        "prover",
        "economics",
        "architecture",
        "cost",
        "validators_unable_to_execute",
        "validator_verify_cpu_fraction",
    ] {
        assert!(summary.get(key).is_some(), "summary lacks {key}");
    }
    let c = &summary["consensus"];
    for key in [
        "heights_committed",
        "block_interval_s",
        "rounds_per_height",
        "heights_with_round_gt0",
        "safety_violations",
        "longest_stall_s",
    ] {
        assert!(c.get(key).is_some(), "consensus lacks {key}");
    }
    for key in ["mean", "p50", "p90", "p99", "max"] {
        assert!(c["block_interval_s"].get(key).is_some());
    }
    // The tables agree with the summary: one block row per committed height,
    // one node row per validator (7 in this scenario).
    let blocks = reports::read_table(&dir.join("blocks.parquet")).unwrap();
    assert_eq!(
        blocks.height() as u64,
        c["heights_committed"].as_u64().unwrap()
    );
    let nodes = reports::read_table(&dir.join("nodes.parquet")).unwrap();
    assert_eq!(nodes.height(), 7);
    // One ledger row per block (ledger_every = 0s) plus the closing row, and
    // the summary's supply identity.
    let ledger = reports::read_table(&dir.join("ledger.parquet")).unwrap();
    assert_eq!(ledger.height(), blocks.height() + 1);
    let e = &summary["economics"];
    let (g, f, m, b) = (
        e["genesis_supply"].as_u64().unwrap(),
        e["final_supply"].as_u64().unwrap(),
        e["minted"].as_u64().unwrap(),
        e["burned"].as_u64().unwrap(),
    );
    assert_eq!(f as i128 - g as i128, m as i128 - b as i128);
    // The resolved scenario is itself a valid scenario.
    let o = hacasim(&["validate", dir.join("scenario.toml").to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn same_seed_gives_byte_identical_directories_other_seed_differs() {
    let t = tmp();
    let a = run_to(t.path(), "a", &["--seed", "5"]);
    let b = run_to(t.path(), "b", &["--seed", "5"]);
    assert_eq!(files(&a), files(&b));
    let c = run_to(t.path(), "c", &["--seed", "6"]);
    assert_ne!(
        std::fs::read(a.join("summary.json")).unwrap(),
        std::fs::read(c.join("summary.json")).unwrap()
    );
}

/// With the workload on: requests, trust gaps and the tables are still
/// byte-identical for one seed, and the requests table agrees with the summary.
#[test]
fn workload_run_is_byte_identical_and_tables_agree() {
    let t = tmp();
    let a = run_scenario_to("trust-gap-modes.toml", t.path(), "a", &[]);
    let b = run_scenario_to("trust-gap-modes.toml", t.path(), "b", &[]);
    assert_eq!(files(&a), files(&b));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(a.join("summary.json")).unwrap()).unwrap();
    let requests = reports::read_table(&a.join("requests.parquet")).unwrap();
    assert_eq!(
        requests.height() as u64,
        summary["requests"]["submitted"].as_u64().unwrap()
    );
    let gaps = requests.column("trust_gap_s").unwrap().f64().unwrap();
    let n = summary["trust_gap_s"]["tee"]["n"].as_u64().unwrap()
        + summary["trust_gap_s"]["zk"]["n"].as_u64().unwrap()
        + summary["trust_gap_s"]["vanilla"]["n"].as_u64().unwrap();
    assert_eq!(gaps.len() - gaps.null_count(), n as usize);
    let present: Vec<f64> = (0..gaps.len()).filter_map(|i| gaps.get(i)).collect();
    let mean = present.iter().sum::<f64>() / present.len() as f64;
    let expected = ["tee", "zk", "vanilla"]
        .iter()
        .map(|m| {
            summary["trust_gap_s"][m]["mean"].as_f64().unwrap()
                * summary["trust_gap_s"][m]["n"].as_f64().unwrap()
        })
        .sum::<f64>()
        / n as f64;
    assert!(
        (mean - expected).abs() < 1e-9 * expected,
        "{mean} vs {expected}"
    );
}

/// A trace stream replays its file: one request per line, at those times.
#[test]
fn trace_arrivals_are_replayed() {
    let t = tmp();
    let dir = run_scenario_to("tests/trace-workload.toml", t.path(), "r", &[]);
    let trace: Vec<f64> = std::fs::read_to_string(scenario("tests/trace-arrivals.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.parse().unwrap())
        .collect();
    let requests = reports::read_table(&dir.join("requests.parquet")).unwrap();
    let submitted = requests.column("submitted_s").unwrap().f64().unwrap();
    let mut got: Vec<f64> = (0..submitted.len())
        .filter_map(|i| submitted.get(i))
        .collect();
    got.sort_by(f64::total_cmp);
    assert_eq!(got.len(), trace.len());
    for (g, e) in got.iter().zip(&trace) {
        assert!((g - e).abs() < 1e-9, "{g} vs {e}");
    }
    // The run directory carries its trace: its scenario.toml runs on its own.
    let again = t.path().join("again");
    let o = hacasim(&[
        "run",
        dir.join("scenario.toml").to_str().unwrap(),
        "--quiet",
        "--out",
        again.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read(dir.join("requests.parquet")).unwrap(),
        std::fs::read(again.join("requests.parquet")).unwrap()
    );
    // A missing trace file is bad input, named by file, line and key.
    let bad = t.path().join("bad.toml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(scenario("tests/trace-workload.toml"))
            .unwrap()
            .replace("trace-arrivals.csv", "nope.csv"),
    )
    .unwrap();
    let o = hacasim(&["validate", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(":22: key `workload[0].arrival.file`") && err.contains("nope.csv"),
        "{err}"
    );
}

#[test]
fn existing_output_is_refused_without_force() {
    let t = tmp();
    let dir = run_to(t.path(), "r", &[]);
    let before = files(&dir);
    let s = scenario("tests/byzantine-minority.toml");
    let o = hacasim(&[
        "run",
        &s,
        "--quiet",
        "--out",
        dir.to_str().unwrap(),
        "--seed",
        "9",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));
    assert_eq!(
        files(&dir),
        before,
        "refused run must not touch the directory"
    );
    let o = hacasim(&[
        "run",
        &s,
        "--quiet",
        "--out",
        dir.to_str().unwrap(),
        "--seed",
        "9",
        "--force",
    ]);
    assert!(o.status.success());
    assert_ne!(files(&dir), before);
    // No staging directory is left behind.
    assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 1);
}

/// Issue #22's typo: 100,000 requests/s (for 10) onto one L4, with the
/// default limits. The guard stops the run at a million requests in
/// flight (a few hundred MB, seconds of wall time) with the offered load
/// and the capacity; exit 2 as for any bad input, and nothing written: no
/// run directory, no staging left, an existing directory left as it was.
#[test]
fn an_overloaded_scenario_exits_2_and_writes_nothing() {
    let t = tmp();
    let file = t.path().join("overload.toml");
    std::fs::write(
        &file,
        r#"name = "overload"
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
arrival = { kind = "poisson", rate_per_s = 100000.0 }
prompt_tokens = { kind = "lognormal", mean = 600, sigma = 0.8, max = 8192 }
output_tokens = { kind = "lognormal", mean = 250, sigma = 0.7, max = 2048 }
modes = { vanilla = 1.0 }
"#,
    )
    .unwrap();
    let out = t.path().join("out");
    let o = hacasim(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let head = format!("error: {}: the run stopped at ", file.display());
    for want in [
        head.as_str(),
        "1000000 requests in flight reached limits.max_in_flight = 1000000",
        "offers 100000 requests/s",
        "GPU node serving can take about",
        "max_queue",
    ] {
        assert!(err.contains(want), "{want:?} not in {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    assert!(!out.exists(), "nothing may be written");
    assert_eq!(
        std::fs::read_dir(t.path()).unwrap().count(),
        1,
        "only the scenario file: no staging directory left"
    );
    // Over an existing run directory with --force: left as it was.
    let dir = run_to(t.path(), "r", &[]);
    let before = files(&dir);
    let o = hacasim(&[
        "run",
        file.to_str().unwrap(),
        "--quiet",
        "--force",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(files(&dir), before, "a stopped run must not touch it");
    assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 2);
}

#[test]
fn bad_scenarios_exit_2_name_file_line_key_and_write_nothing() {
    let t = tmp();
    let base = std::fs::read_to_string(scenario("tests/four-one-region.toml")).unwrap();
    let cases = [
        (
            "count = 4",
            "cuont = 4",
            "validators[0].cuont",
            "did you mean `count`",
        ),
        (
            "latency_ms = [[1.0]]",
            "latency_ms = [[1.0, 2.0]]",
            "network.latency_ms[0]",
            "square",
        ),
        ("power = 10", "power = 0", "validators[0].power", "> 0"),
        (
            "duration = \"2m\"",
            "duration = \"3sec\"",
            "duration",
            "unknown unit",
        ),
        (
            "region = \"lab\"",
            "region = \"lob\"",
            "validators[0].region",
            "did you mean `lab`",
        ),
    ];
    for (i, (from, to, key, hint)) in cases.iter().enumerate() {
        let file = t.path().join(format!("bad{i}.toml"));
        std::fs::write(&file, base.replacen(from, to, 1)).unwrap();
        let line = base
            .replacen(from, to, 1)
            .lines()
            .position(|l| l.contains(to))
            .unwrap()
            + 1;
        for cmd in ["run", "validate"] {
            let out_dir = t.path().join(format!("out{i}"));
            let o = if cmd == "run" {
                hacasim(&[
                    "run",
                    file.to_str().unwrap(),
                    "--out",
                    out_dir.to_str().unwrap(),
                ])
            } else {
                hacasim(&["validate", file.to_str().unwrap()])
            };
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{cmd} {to}: {err}");
            assert!(
                err.contains(&format!("{}:{line}: key `{key}`", file.display())),
                "{cmd} {to}: {err}"
            );
            assert!(err.contains(hint), "{err}");
            assert!(!err.contains("panicked"), "{err}");
            assert!(!out_dir.exists(), "nothing may be written");
        }
    }
    // A missing file is bad input too.
    let o = hacasim(&["validate", t.path().join("nope.toml").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    // Only the scenario files are left in the directory: no staging leftovers.
    let left = std::fs::read_dir(t.path()).unwrap().count();
    assert_eq!(left, cases.len());
}

#[path = "../sim-core/tests/common/mutate.rs"]
mod mutate;

/// Random mutations of a valid file through the program: exit 0 or 2, never
/// a panic; on 2, file:line:key on stderr and no run directory.
#[test]
fn mutated_scenarios_through_the_program_exit_0_or_2() {
    use rand::SeedableRng;
    let t = tmp();
    let base = std::fs::read_to_string(scenario("tests/one-of-four-crashed.toml")).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut rejected = 0;
    for i in 0..40 {
        let file = t.path().join(format!("m{i}.toml"));
        std::fs::write(&file, mutate::mutate(&base, &mut rng)).unwrap();
        let out = t.path().join(format!("out{i}"));
        let o = hacasim(&[
            "run",
            file.to_str().unwrap(),
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        match o.status.code() {
            Some(0) => assert!(out.join("summary.json").exists()),
            Some(2) => {
                rejected += 1;
                assert!(
                    err.starts_with(&format!("error: {}:", file.display()))
                        && err.contains(": key `"),
                    "{err}"
                );
                assert!(!out.exists(), "a rejected scenario wrote {}", out.display());
            }
            other => panic!("exit {other:?}: {err}"),
        }
    }
    assert!(rejected >= 10, "only {rejected} of 40 mutations rejected");
}

#[test]
fn every_shipped_scenario_validates() {
    let mut n = 0;
    for dir in ["", "tests"] {
        for e in std::fs::read_dir(scenario(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "toml") && !is_catalogue(&p) {
                let o = hacasim(&["validate", p.to_str().unwrap()]);
                assert!(
                    o.status.success(),
                    "{}: {}",
                    p.display(),
                    String::from_utf8_lossy(&o.stderr)
                );
                n += 1;
            }
        }
    }
    assert!(n >= 7);
}

/// `models.toml` and `hardware.toml` are catalogues, not scenarios.
/// The catalogues, and sweep files (a top-level `base = "…"`, tested in
/// `tests/sweep.rs`), are not scenarios.
fn is_catalogue(p: &std::path::Path) -> bool {
    p.file_name()
        .is_some_and(|n| n == "models.toml" || n == "hardware.toml")
        || std::fs::read_to_string(p).is_ok_and(|t| t.lines().any(|l| l.starts_with("base =")))
}
