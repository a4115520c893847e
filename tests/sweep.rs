//! Sweeps and `check` end to end: grid points, determinism across --jobs,
//! shards merged = whole, kill and resume, bad axes, regressions caught.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn hacasim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hacasim"))
        .args(args)
        .output()
        .expect("hacasim runs")
}

fn root() -> &'static str {
    env!("CARGO_MANIFEST_DIR")
}

/// A small sweep (3 × 2 grid, 2 seeds) over trust-gap-modes, 5 simulated minutes each.
fn sweep_file(dir: &Path) -> PathBuf {
    let f = dir.join("small.toml");
    std::fs::write(
        &f,
        format!(
            r#"base = "{}/scenarios/trust-gap-modes.toml"
seeds = 2
[set]
duration = "5m"
[axes]
"economics.burn_fraction" = [0.0, 0.5, 1.0]
"verification.zk_provers" = [8, 32]
"#,
            root()
        ),
    )
    .unwrap();
    f
}

fn sweep(file: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "sweep",
        file.to_str().unwrap(),
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    hacasim(&args)
}

fn ok(o: &Output) {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn read(p: PathBuf) -> Vec<u8> {
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn grid_points_and_byte_identical_results_whatever_the_jobs() {
    let t = tempfile::tempdir().unwrap();
    let f = sweep_file(t.path());
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    ok(&sweep(&f, &a, &["--jobs", "1"]));
    ok(&sweep(&f, &b, &["--jobs", "2"]));
    assert_eq!(read(a.join("sweep.parquet")), read(b.join("sweep.parquet")));
    assert_eq!(
        read(a.join("points.parquet")),
        read(b.join("points.parquet"))
    );
    let df = reports::read_table(&a.join("sweep.parquet")).unwrap();
    assert_eq!(df.height(), 6 * 2);
    let burn = reports::plots::column_f64(&df, "economics.burn_fraction");
    let provers = reports::plots::column_f64(&df, "verification.zk_provers");
    let points = reports::plots::column_f64(&df, "point");
    // Grid in axis order (alphabetical), the last axis fastest; seeds innermost.
    for (i, p) in points.iter().enumerate() {
        let p = p.unwrap() as usize;
        assert_eq!(p, i / 2);
        assert_eq!(burn[i], Some([0.0, 0.5, 1.0][p / 2]));
        assert_eq!(provers[i], Some([8.0, 32.0][p % 2]));
    }
    let pts = reports::read_table(&a.join("points.parquet")).unwrap();
    assert_eq!(pts.height(), 6);
    // Two axes: heatmaps, shown in the sweep's report.
    let html = std::fs::read_to_string(a.join("report.html")).unwrap();
    let svg = std::fs::read_to_string(a.join("sweep_trust_gap_s_zk_p99.svg")).unwrap();
    assert!(svg.contains("trust gap ZK, p99 (s) (darker = higher)"));
    assert_eq!(
        &read(a.join("sweep_trust_gap_s_zk_p99.png"))[..4],
        b"\x89PNG"
    );
    assert!(
        html.contains("id=\"sweep_trust_gap_s_zk_p99\"")
            && html.contains("economics.burn_fraction")
    );
    // `hacasim report` on the sweep directory regenerates the same report.
    let before = read(a.join("report.html"));
    ok(&hacasim(&["report", a.to_str().unwrap()]));
    assert_eq!(before, read(a.join("report.html")));
    assert!(
        pts.column("trust_gap_s.zk.p50.mean").is_ok()
            && pts.column("trust_gap_s.zk.p50.ci95").is_ok()
    );
}

#[test]
fn shards_merged_equal_the_whole_sweep() {
    let t = tempfile::tempdir().unwrap();
    let f = sweep_file(t.path());
    let whole = t.path().join("whole");
    ok(&sweep(&f, &whole, &[]));
    let sharded = t.path().join("sharded");
    ok(&sweep(&f, &sharded, &["--shard", "0/3"]));
    // An incomplete set of shards is refused.
    let o = hacasim(&["merge", sharded.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing"));
    ok(&sweep(&f, &sharded, &["--shard", "1/3"]));
    ok(&sweep(&f, &sharded, &["--shard", "2/3"]));
    ok(&hacasim(&["merge", sharded.to_str().unwrap()]));
    assert_eq!(
        read(whole.join("sweep.parquet")),
        read(sharded.join("sweep.parquet"))
    );
}

#[test]
fn killed_sweep_resumes_to_the_same_result() {
    let t = tempfile::tempdir().unwrap();
    let f = sweep_file(t.path());
    let whole = t.path().join("whole");
    ok(&sweep(&f, &whole, &["--jobs", "1"]));
    let out = t.path().join("killed");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hacasim"))
        .args([
            "sweep",
            f.to_str().unwrap(),
            "--quiet",
            "--jobs",
            "1",
            "--out",
            out.to_str().unwrap(),
        ])
        .spawn()
        .unwrap();
    let rows = |d: &Path| -> usize {
        walk(&d.join("rows"))
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
            .count()
    };
    let start = std::time::Instant::now();
    while rows(&out) < 3 && start.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let done = rows(&out);
    assert!((3..12).contains(&done), "killed after {done} of 12 runs");
    assert!(!out.join("sweep.parquet").exists());
    // Without --resume the directory is refused; with it, only the rest runs.
    assert_eq!(sweep(&f, &out, &[]).status.code(), Some(2));
    ok(&sweep(&f, &out, &["--resume"]));
    assert_eq!(
        read(whole.join("sweep.parquet")),
        read(out.join("sweep.parquet"))
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn bad_axes_exit_2_with_file_line_key_before_anything_runs() {
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("bad.toml");
    let base = format!("{}/scenarios/trust-gap-modes.toml", root());
    for (axes, key, hint) in [
        (
            "\"economics.burn_fracton\" = [0.5]",
            "axes.economics.burn_fracton",
            "did you mean `burn_fraction`",
        ),
        (
            "\"economics.burn_fraction\" = [\"half\"]",
            "axes.economics.burn_fraction",
            "holds float",
        ),
        (
            "\"economics.burn_fraction\" = [2.0]",
            "axes.economics.burn_fraction",
            "fraction in [0, 1]",
        ),
    ] {
        std::fs::write(&f, format!("base = \"{base}\"\n\n[axes]\n{axes}\n")).unwrap();
        let out = t.path().join("out");
        let o = sweep(&f, &out, &[]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(&format!("{}:4:", f.display())), "{err}");
        assert!(err.contains(key) || err.contains("point 0"), "{err}");
        assert!(err.contains(hint), "{err}");
        assert!(!out.exists());
    }
}

/// A copy of a CI suite with one scenario: bless it, then raise
/// timeout_commit in the scenario: the block interval regresses.
#[test]
fn check_passes_unchanged_and_fails_on_an_injected_regression() {
    let t = tempfile::tempdir().unwrap();
    let suite = t.path().join("suite");
    std::fs::create_dir(&suite).unwrap();
    let scenario =
        std::fs::read_to_string(format!("{}/scenarios/tests/four-one-region.toml", root()))
            .unwrap();
    std::fs::write(suite.join("s.toml"), &scenario).unwrap();
    std::fs::write(
        suite.join("suite.toml"),
        "seeds = 2\n[[scenario]]\nfile = \"s.toml\"\n[[metric]]\npath = \"consensus.block_interval_s.mean\"\nrelative = 0.02\nworse = \"higher\"\n[[metric]]\npath = \"consensus.safety_violations\"\nabsolute = 0.0\nworse = \"higher\"\n",
    )
    .unwrap();
    let s = suite.to_str().unwrap();
    // No baseline yet: bad input.
    assert_eq!(hacasim(&["check", s]).status.code(), Some(2));
    ok(&hacasim(&["check", s, "--bless"]));
    let junit = t.path().join("junit.xml");
    let o = hacasim(&["check", s, "--junit", junit.to_str().unwrap()]);
    ok(&o);
    assert!(read(junit.clone()).starts_with(b"<?xml"));
    // Inject: timeout_commit 1s → 1.5s.
    std::fs::write(
        suite.join("s.toml"),
        scenario.replace(
            "jitter = { kind = \"none\" }",
            "jitter = { kind = \"none\" }\n\n[consensus]\ntimeout_commit = \"1500ms\"",
        ),
    )
    .unwrap();
    let md = t.path().join("check.md");
    let o = hacasim(&[
        "check",
        s,
        "--junit",
        junit.to_str().unwrap(),
        "--markdown",
        md.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    let line = out
        .lines()
        .find(|l| l.contains("consensus.block_interval_s.mean"))
        .unwrap();
    assert!(
        line.contains("1.003014") && line.contains("1.503014") && line.contains("REGRESSED"),
        "{line}"
    );
    let xml = String::from_utf8(read(junit)).unwrap();
    assert!(
        xml.contains("<testsuite name=\"hacasim check\" tests=\"2\" failures=\"1\""),
        "{xml}"
    );
    assert!(xml.contains("<testcase classname=\"s\" name=\"consensus.block_interval_s.mean\">\n      <failure message="));
    assert!(xml.contains("<testcase classname=\"s\" name=\"consensus.safety_violations\"/>"));
    assert_eq!(xml.matches("<testcase").count(), 2);
    assert!(
        String::from_utf8(read(md))
            .unwrap()
            .contains("| s | `consensus.block_interval_s.mean` | 1.003014 | 1.503014 |")
    );
}

/// The project's own suite against its committed baselines.
#[test]
fn project_ci_suite_is_within_tolerance() {
    let o = hacasim(&["check", &format!("{}/scenarios/ci", root())]);
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// An explicit list of points, with --keep-runs: each (point, seed) keeps its
/// whole run directory, whose summary matches its row in sweep.parquet.
#[test]
fn list_sweep_keeps_runs_that_match_their_rows() {
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("list.toml");
    std::fs::write(
        &f,
        format!(
            "base = \"{}/scenarios/tests/four-one-region.toml\"\nkind = \"list\"\n\n[[points]]\n\"consensus.timeout_commit\" = \"1s\"\n\n[[points]]\n\"consensus.timeout_commit\" = \"2s\"\n",
            root()
        ),
    )
    .unwrap();
    let out = t.path().join("out");
    ok(&sweep(&f, &out, &["--keep-runs"]));
    let df = reports::read_table(&out.join("sweep.parquet")).unwrap();
    let heights = reports::plots::column_f64(&df, "consensus.heights_committed");
    assert_eq!(
        reports::plots::column_str(&df, "consensus.timeout_commit"),
        ["1s", "2s"]
    );
    for (p, h) in heights.iter().enumerate() {
        let s: serde_json::Value = serde_json::from_slice(&read(
            out.join(format!("runs/point={p:05}/seed=1/summary.json")),
        ))
        .unwrap();
        assert_eq!(s["consensus"]["heights_committed"].as_f64(), *h);
    }
    // A longer timeout_commit gives fewer heights in the same 2 minutes.
    assert!(heights[1].unwrap() < heights[0].unwrap() * 0.6);
}

/// Issue #11's sweep, as shipped (its 32 points) but one seed of 60
/// simulated seconds: every point runs, the two architectures' panel is
/// drawn, and the outcomes that follow from memory alone hold — Llama 3 70B
/// (141 GB) and Mixtral 8x7B (93 GB) fit no H100 (80 GB), so every
/// replicated run of them halts with all validators unable, while no
/// decoupled run halts.
#[test]
fn coupled_vs_decoupled_sweep_runs_and_draws_its_panel() {
    let t = tempfile::tempdir().unwrap();
    let shipped =
        std::fs::read_to_string(format!("{}/scenarios/coupled-vs-decoupled.toml", root())).unwrap();
    let points = &shipped[shipped.find("[[points]]").unwrap()..];
    let f = t.path().join("cvd.toml");
    std::fs::write(&f, format!("base = \"{}/scenarios/coupled-vs-decoupled-base.toml\"\nseeds = 1\nkind = \"list\"\n[set]\nduration = \"60s\"\n{points}", root())).unwrap();
    let out = t.path().join("out");
    ok(&sweep(&f, &out, &["--jobs", "2"]));
    assert!(
        out.join("sweep_architecture_panel.svg").is_file()
            && out.join("sweep_architecture_panel.png").is_file()
    );
    let df = reports::read_table(&out.join("points.parquet")).unwrap();
    assert_eq!(df.height(), 32);
    let arch = reports::plots::column_str(&df, "architecture");
    let model = reports::plots::column_str(&df, "workload[0].model");
    let halts = reports::plots::column_f64(&df, "consensus.halts.mean");
    let unable = reports::plots::column_f64(&df, "validators_unable_to_execute.mean");
    let total: Vec<f64> = (0..32)
        .map(|i| {
            (0..3)
                .map(|g| {
                    reports::plots::column_f64(&df, &format!("validators[{g}].count"))[i].unwrap()
                })
                .sum()
        })
        .collect();
    for i in 0..32 {
        let too_big = model[i] == "llama-3-70b" || model[i] == "mixtral-8x7b";
        if arch[i] == "replicated" && too_big {
            assert_eq!(
                (halts[i], unable[i]),
                (Some(1.0), Some(total[i])),
                "point {i}"
            );
        } else {
            assert_eq!(halts[i], Some(0.0), "point {i}: {} {}", arch[i], model[i]);
        }
    }
}

/// Issue #12's sweep, as shipped (15 points: 3 designs × 5 shocks) but one
/// seed of 3 simulated hours with the shock at 1 hour: every point runs,
/// the designs' panel is drawn, and what follows from the shocks' own
/// definitions holds — half of the 4 operators leave in the mass exit under
/// every design (and entrants need 6 hours to arrive), and nobody leaves
/// without a shock within 3 hours (a patience of 4 hours).
#[test]
fn shock_sweep_runs_and_draws_its_panel() {
    let t = tempfile::tempdir().unwrap();
    let shipped =
        std::fs::read_to_string(format!("{}/scenarios/shock-dual-vs-single.toml", root())).unwrap();
    let points = &shipped[shipped.find("[[points]]").unwrap()..];
    let f = t.path().join("shock.toml");
    std::fs::write(&f, format!("base = \"{}/scenarios/shock-base.toml\"\nseeds = 1\nkind = \"list\"\n[set]\nduration = \"3h\"\n\"market.shocks[0].at\" = \"1h\"\n{points}", root())).unwrap();
    let out = t.path().join("out");
    ok(&sweep(&f, &out, &["--jobs", "2"]));
    assert!(
        out.join("sweep_design_panel.svg").is_file()
            && out.join("sweep_design_panel.png").is_file()
    );
    let df = reports::read_table(&out.join("points.parquet")).unwrap();
    assert_eq!(df.height(), 15);
    let kind = reports::plots::column_str(&df, "market.shocks[0].kind");
    let factor = reports::plots::column_f64(&df, "market.shocks[0].factor");
    let min_active = reports::plots::column_f64(&df, "market.min_active_operators.mean");
    let exits = reports::plots::column_f64(&df, "market.operator_exits.mean");
    for i in 0..15 {
        if kind[i] == "operator_exit" {
            assert_eq!(min_active[i], Some(2.0), "point {i}");
        }
        if kind[i] == "demand" && factor[i] == Some(1.0) {
            assert_eq!(exits[i], Some(0.0), "point {i}: no shock, nobody leaves");
        }
        // Issue #27: each run kept its market intervals while it ran (no
        // --keep-runs), and they agree with its summary.
        let m =
            reports::read_table(&out.join(format!("market/point={i:05}/seed=1/part-0.parquet")))
                .unwrap();
        let active = reports::plots::column_f64(&m, "active_operators");
        let fewest = active
            .iter()
            .flatten()
            .copied()
            .fold(f64::INFINITY, f64::min);
        assert_eq!(Some(fewest), min_active[i], "point {i}");
        let shock = reports::plots::column_f64(&m, "shock_at_s");
        assert!(shock.iter().all(|s| *s == Some(3600.0)), "point {i}");
        let col = |c| reports::plots::column_f64(&m, c);
        for ((sub, served), lost) in col("submitted_per_s")
            .iter()
            .zip(col("served_per_s"))
            .zip(col("lost_per_s"))
        {
            assert!(lost.unwrap() >= 0.0 && lost.unwrap() <= sub.unwrap() + 1e-9);
            assert!(served.unwrap() >= 0.0);
        }
    }
    assert!(
        out.join("sweep_market_trajectories.svg").is_file()
            && out.join("sweep_market_trajectories.png").is_file()
    );
}

/// Issue #26's sweep, as shipped but 40 simulated minutes (the upgrade at
/// 30): what follows from memory and the rolling upgrade alone holds.
/// Replicated, Mixtral's 93 GB fit the four HGX validators but not the four
/// on one H100 (80 GB): they stop, the rest hold half the power (not more
/// than 2/3), the chain halts, each stopped validator after the switch.
/// LLaVA-1.5 7B (14 GB) fits everyone: no halt. Decoupled, nothing halts
/// and no request is lost; the group of four rolls one node at a time,
/// each loading the weights at 1,000 MiB/s, so it completes no sooner
/// than 30 min + 4 × weights / rate.
#[test]
fn model_upgrade_sweep_runs_and_keeps_its_runs() {
    let t = tempfile::tempdir().unwrap();
    let shipped =
        std::fs::read_to_string(format!("{}/scenarios/model-upgrade.toml", root())).unwrap();
    let body = &shipped[shipped.find("[set]").unwrap()..];
    let f = t.path().join("upgrade.toml");
    let body = body.replace("[set]\n", "[set]\nduration = \"40m\"\n");
    std::fs::write(
        &f,
        format!(
            "base = \"{}/scenarios/model-upgrade-base.toml\"\nseeds = 1\nkind = \"list\"\n{body}",
            root()
        ),
    )
    .unwrap();
    let out = t.path().join("out");
    ok(&sweep(&f, &out, &["--jobs", "2", "--keep-runs"]));
    let df = reports::read_table(&out.join("points.parquet")).unwrap();
    assert_eq!(df.height(), 4);
    let arch = reports::plots::column_str(&df, "architecture");
    let to = reports::plots::column_str(&df, "upgrades[0].to_model");
    let halts = reports::plots::column_f64(&df, "consensus.halts.mean");
    let unable = reports::plots::column_f64(&df, "validators_unable_to_execute.mean");
    for i in 0..4 {
        let run = out.join(format!("runs/point={i:05}/seed=1"));
        let s: serde_json::Value =
            serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap();
        let u = &s["upgrades"][0];
        // Weights in bf16 (LLaVA: its language model alone, a lower bound).
        let weights_gb = if to[i] == "mixtral-8x7b" {
            46.7 * 2.0
        } else {
            6.74 * 2.0
        };
        match arch[i].as_str() {
            "replicated" if to[i] == "mixtral-8x7b" => {
                assert_eq!((halts[i], unable[i]), (Some(1.0), Some(4.0)), "point {i}");
                let nodes = reports::read_table(&run.join("nodes.parquet")).unwrap();
                let hw = reports::plots::column_str(&nodes, "hardware");
                let at = reports::plots::column_f64(&nodes, "unable_at_s");
                for k in 0..hw.len() {
                    assert_eq!(at[k].is_some(), hw[k] == "H100-SXM", "validator {k}");
                    assert!(at[k].is_none_or(|t| t >= 1800.0));
                }
            }
            "replicated" => assert_eq!((halts[i], unable[i]), (Some(0.0), Some(0.0))),
            _ => {
                assert_eq!(halts[i], Some(0.0), "point {i}");
                assert_eq!(u["requests_lost"].as_u64(), Some(0), "point {i}");
                let done = u["completed_s"]
                    .as_f64()
                    .expect("completes within 40 minutes");
                let load = weights_gb * 1e9 / 1.048576e9;
                assert!(done >= 1800.0 + 4.0 * load, "point {i}: {done}");
            }
        }
    }
}
