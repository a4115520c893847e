//! The notebooks: stored without outputs, executed headless by
//! notebooks/run.sh (which makes their venv from the pinned requirements on
//! first use, so the first run needs PyPI), failing on a broken cell, and
//! printing answers that agree with the same figures computed here in Rust.

use std::path::{Path, PathBuf};
use std::process::Command;

fn notebooks() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("notebooks")
}

fn ipynbs() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(notebooks())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ipynb"))
        .collect();
    v.sort();
    v
}

#[test]
fn notebooks_are_stored_without_outputs() {
    let all = ipynbs();
    assert!(all.len() >= 3);
    for p in all {
        let nb: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        for cell in nb["cells"].as_array().unwrap() {
            if cell["cell_type"] == "code" {
                assert_eq!(
                    cell["outputs"],
                    serde_json::json!([]),
                    "{}: committed outputs",
                    p.display()
                );
                assert!(
                    cell["execution_count"].is_null(),
                    "{}: committed execution count",
                    p.display()
                );
            }
        }
        // Each opens with its question and ends with its answer.
        let cells = nb["cells"].as_array().unwrap();
        let text = |c: &serde_json::Value| {
            c["source"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap())
                .collect::<String>()
        };
        assert!(text(&cells[0]).contains("**Question.**"), "{}", p.display());
        assert!(
            text(cells.last().unwrap()).starts_with("## Answer"),
            "{}",
            p.display()
        );
    }
}

/// The value printed as `NAME = value` by an executed notebook.
fn printed(notebook: &Path, name: &str) -> String {
    let nb: serde_json::Value = serde_json::from_slice(&std::fs::read(notebook).unwrap()).unwrap();
    for cell in nb["cells"].as_array().unwrap() {
        for o in cell["outputs"].as_array().into_iter().flatten() {
            if o["output_type"] == "stream" {
                let text: String = o["text"]
                    .as_array()
                    .map(|a| a.iter().map(|s| s.as_str().unwrap()).collect())
                    .unwrap_or_else(|| o["text"].as_str().unwrap().to_string());
                for line in text.lines() {
                    if let Some(v) = line.strip_prefix(&format!("{name} = ")) {
                        return v.trim().to_string();
                    }
                }
            }
        }
    }
    panic!("{} printed no {name}", notebook.display());
}

#[test]
fn notebooks_execute_answer_like_rust_and_a_broken_cell_fails() {
    let nbdir = notebooks();
    let o = Command::new(nbdir.join("run.sh"))
        .env("HACASIM", env!("CARGO_BIN_EXE_hacasim"))
        .output()
        .expect("notebooks/run.sh runs");
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    // The burn sweep's best point, recomputed here from the same Parquet:
    // lowest mean net issuance among points whose mean TEE p99 is ≤ 5 s.
    let pts = reports::read_table(&nbdir.join("inputs/burn/points.parquet")).unwrap();
    let point = reports::plots::column_f64(&pts, "point");
    let net = reports::plots::column_f64(&pts, "economics.net_issuance_annualised_pct.mean");
    let gap = reports::plots::column_f64(&pts, "trust_gap_s.tee.p99.mean");
    let best = (0..point.len())
        .filter(|&i| gap[i].is_some_and(|g| g <= 5.0))
        .min_by(|&a, &b| {
            net[a]
                .unwrap()
                .total_cmp(&net[b].unwrap())
                .then(point[a].unwrap().total_cmp(&point[b].unwrap()))
        })
        .unwrap();
    let executed = nbdir.join("executed");
    assert_eq!(
        printed(&executed.join("burn_sweep.ipynb"), "BEST_POINT"),
        format!("{}", point[best].unwrap() as u32)
    );
    let nb_net: f64 = printed(&executed.join("burn_sweep.ipynb"), "BEST_NET_ISSUANCE_PCT")
        .parse()
        .unwrap();
    assert!((nb_net - net[best].unwrap()).abs() < 1e-6);
    // Finality: the halted runs are those whose stall exceeds a minute.
    let mut halted = Vec::new();
    for s in [
        "four-one-region",
        "proposer-crashed",
        "one-of-four-crashed",
        "two-of-four-crashed",
        "byzantine-minority",
    ] {
        let v: serde_json::Value = serde_json::from_slice(
            &std::fs::read(nbdir.join(format!("inputs/finality/{s}/summary.json"))).unwrap(),
        )
        .unwrap();
        if v["consensus"]["longest_stall_s"].as_f64().unwrap() > 60.0 {
            halted.push(format!("'{s}'"));
        }
    }
    assert_eq!(
        printed(&executed.join("finality.ipynb"), "HALTED"),
        format!("[{}]", halted.join(", "))
    );

    // Coupled against decoupled: the halted points are those whose runs
    // halted (consensus.halts), read from the sweep's own points table.
    let pts =
        reports::read_table(&nbdir.join("inputs/coupled-vs-decoupled/points.parquet")).unwrap();
    let point = reports::plots::column_f64(&pts, "point");
    let halts = reports::plots::column_f64(&pts, "consensus.halts.mean");
    let halted: Vec<String> = (0..point.len())
        .filter(|&i| halts[i].unwrap() > 0.0)
        .map(|i| format!("{}", point[i].unwrap() as u32))
        .collect();
    assert!(
        !halted.is_empty(),
        "the replicated 70B runs halt on one H100"
    );
    assert_eq!(
        printed(
            &executed.join("coupled_vs_decoupled.ipynb"),
            "HALTED_POINTS"
        ),
        format!("[{}]", halted.join(", "))
    );

    // Market shocks: per design, the requests lost after the shock (lost/s ×
    // the interval, summed, mean over seeds) and the fewest operators after
    // it, recomputed from each run's market table.
    let shocks = nbdir.join("inputs/market-shocks");
    let pts = reports::read_table(&shocks.join("points.parquet")).unwrap();
    for (p, design) in reports::plots::column_str(&pts, "economics.design")
        .iter()
        .enumerate()
    {
        let (mut lost, mut fewest, mut seeds) = (0.0, f64::INFINITY, 0.0);
        for seed in std::fs::read_dir(shocks.join(format!("market/point={p:05}"))).unwrap() {
            let t = reports::read_table(&seed.unwrap().path().join("part-0.parquet")).unwrap();
            let time = reports::plots::column_f64(&t, "time_s");
            let at = reports::plots::column_f64(&t, "shock_at_s")[0].unwrap();
            let step = time[1].unwrap() - time[0].unwrap();
            let lost_per_s = reports::plots::column_f64(&t, "lost_per_s");
            let ops = reports::plots::column_f64(&t, "active_operators");
            for i in (0..time.len()).filter(|&i| time[i].unwrap() > at) {
                lost += lost_per_s[i].unwrap() * step;
                fewest = fewest.min(ops[i].unwrap());
            }
            seeds += 1.0;
        }
        let key = design.to_uppercase().replace('-', "_");
        let nb = executed.join("market_shocks.ipynb");
        let nb_lost: f64 = printed(&nb, &format!("LOST_REQUESTS_{key}"))
            .parse()
            .unwrap();
        assert!(
            (nb_lost - lost / seeds).abs() <= 0.05,
            "{design}: {nb_lost} against {}",
            lost / seeds
        );
        assert_eq!(
            printed(&nb, &format!("MIN_OPERATORS_{key}")),
            format!("{fewest}")
        );
    }

    check_burn_roots(&executed);

    // A deliberately broken copy makes the runner fail.
    let t = tempfile::tempdir().unwrap();
    let mut nb: serde_json::Value =
        serde_json::from_slice(&std::fs::read(nbdir.join("finality.ipynb")).unwrap()).unwrap();
    nb["cells"].as_array_mut().unwrap().insert(1, serde_json::json!({"cell_type": "code", "id": "broken", "metadata": {}, "execution_count": null, "outputs": [], "source": ["raise RuntimeError('deliberately broken')"]}));
    let broken = t.path().join("broken.ipynb");
    std::fs::write(&broken, serde_json::to_vec(&nb).unwrap()).unwrap();
    let o = Command::new(nbdir.join(".venv/bin/python"))
        .arg(nbdir.join("execute.py"))
        .arg(t.path().join("out"))
        .arg(&broken)
        .output()
        .unwrap();
    assert!(!o.status.success(), "a failing cell must fail the runner");
    assert!(String::from_utf8_lossy(&o.stderr).contains("deliberately broken"));
}

/// burn_root.ipynb's roots, checked by the engine called from Rust: for
/// each seed, net issuance is positive a hair below the root it printed
/// and negative a hair above (the slope is about −5 %/0.01 of burn
/// fraction, so ±1e-4 moves it by ±0.05 %, far beyond brentq's 1e-6).
fn check_burn_roots(executed: &Path) {
    let roots: Vec<f64> = printed(&executed.join("burn_root.ipynb"), "BURN_ROOTS")
        .split(',')
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(roots.len(), 8);
    let base = hacasim::run::load_scenario(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/deflation.toml"),
    )
    .unwrap_or_else(|f| panic!("{}", f.message));
    let net = |burn: f64, seed: u64| {
        let s = hacasim::sweep::with_overrides(
            &base,
            &[("economics.burn_fraction".into(), toml::Value::Float(burn))],
            "deflation.toml",
        )
        .unwrap();
        sim_core::sim::run(&s, seed, &mut sim_core::NullSink, &mut |_| {})
            .unwrap()
            .economics
            .net_issuance_annualised_pct
    };
    for (seed, root) in (1..).zip(roots) {
        assert!(net(root - 1e-4, seed) > 0.0, "seed {seed}: root {root}");
        assert!(net(root + 1e-4, seed) < 0.0, "seed {seed}: root {root}");
    }
}
