//! Reports: tables agree with the summary and with their documentation,
//! plots are valid PNG and SVG with their titles, report.html shows them,
//! `hacasim report` reproduces them byte for byte, and Python reads the tables.

use std::path::{Path, PathBuf};
use std::process::Command;

use reports::polars::prelude::*;

fn hacasim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hacasim"))
        .args(args)
        .output()
        .expect("hacasim runs")
}

fn run(dir: &Path) -> PathBuf {
    let out = dir.join("run");
    let s = format!(
        "{}/scenarios/trust-gap-modes.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let o = hacasim(&[
        "run",
        &s,
        "--quiet",
        "--csv",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap()
}

const PLOTS: [(&str, &str); 8] = [
    ("trust_gap_cdf", "Trust gap per verification mode"),
    ("block_interval_hist", "Block interval"),
    ("finality_latency", "Finality latency over time"),
    ("rounds_per_height", "Rounds per height"),
    ("supply", "Token supply"),
    ("base_fee", "Base fee"),
    ("load", "GPU-node and prover load"),
    ("fraud_exposure", "Fraud exposure"),
];

#[test]
fn row_counts_and_trust_gap_quantiles_agree_with_the_summary() {
    let t = tempfile::tempdir().unwrap();
    let dir = run(t.path());
    let s = summary(&dir);
    let rows = |name: &str| {
        reports::read_table(&dir.join(format!("{name}.parquet")))
            .unwrap()
            .height() as u64
    };
    let heights = s["consensus"]["heights_committed"].as_u64().unwrap();
    assert_eq!(rows("blocks"), heights);
    assert!(rows("consensus_rounds") >= heights);
    assert_eq!(rows("nodes"), 16);
    assert_eq!(rows("gpu_nodes"), 4);
    assert_eq!(
        rows("requests"),
        s["requests"]["submitted"].as_u64().unwrap()
    );
    assert_eq!(rows("ledger"), heights + 1);
    // Quantiles recomputed from the requests table (nearest rank).
    let req = reports::read_table(&dir.join("requests.parquet")).unwrap();
    let modes = reports::plots::column_str(&req, "mode");
    let gaps = reports::plots::column_f64(&req, "trust_gap_s");
    for mode in ["tee", "zk", "vanilla"] {
        let mut g: Vec<f64> = modes
            .iter()
            .zip(&gaps)
            .filter(|(m, _)| *m == mode)
            .filter_map(|(_, g)| *g)
            .collect();
        g.sort_by(f64::total_cmp);
        let rank = |p: f64| g[((p / 100.0 * g.len() as f64).ceil() as usize).clamp(1, g.len()) - 1];
        let m = &s["trust_gap_s"][mode];
        assert_eq!(m["n"].as_u64().unwrap() as usize, g.len());
        // The summary keeps bounded histograms: within 2^-11 of the sample.
        for (p, key) in [(50.0, "p50"), (90.0, "p90"), (99.0, "p99")] {
            let (exact, kept) = (rank(p), m[key].as_f64().unwrap());
            assert!(
                (kept - exact).abs() <= exact * 2f64.powi(-11),
                "{mode} {key}: {kept} vs {exact}"
            );
        }
        assert_eq!(g.last().copied(), m["max"].as_f64(), "{mode} max is exact");
    }
    // CSV has the same rows as Parquet (header + one line per row).
    let csv = std::fs::read_to_string(dir.join("requests.csv")).unwrap();
    assert_eq!(csv.lines().count() as u64, 1 + rows("requests"));
}

/// Every table's columns and types are the ones `reports/README.md` documents.
#[test]
fn parquet_schemas_match_the_documentation() {
    let t = tempfile::tempdir().unwrap();
    let dir = run(t.path());
    let doc = std::fs::read_to_string(format!("{}/reports/README.md", env!("CARGO_MANIFEST_DIR")))
        .unwrap();
    for table in reports::RUN_TABLES {
        let heading = format!("## `{table}.parquet`");
        let start = doc
            .find(&heading)
            .unwrap_or_else(|| panic!("{table} is not documented"));
        let section = &doc[start..];
        let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
        let mut documented: Vec<(String, String)> = Vec::new();
        for line in section.lines().filter(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let ty = cells[2].split(',').next().unwrap().trim().to_string();
            for name in cells[1].split(',') {
                documented.push((name.trim().trim_matches('`').to_string(), ty.clone()));
            }
        }
        let df = reports::read_table(&dir.join(format!("{table}.parquet"))).unwrap();
        let actual: Vec<(String, String)> = df
            .columns()
            .iter()
            .map(|c| {
                let ty = match c.dtype() {
                    DataType::UInt64 => "u64",
                    DataType::UInt32 => "u32",
                    DataType::Float64 => "f64",
                    DataType::Boolean => "bool",
                    DataType::String => "str",
                    other => panic!("{table}.{}: undocumented type {other}", c.name()),
                };
                (c.name().to_string(), ty.to_string())
            })
            .collect();
        assert_eq!(actual, documented, "{table}");
    }
}

#[test]
fn plots_are_valid_png_and_svg_with_titles_and_the_report_shows_them() {
    let t = tempfile::tempdir().unwrap();
    let dir = run(t.path());
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    for (name, title) in PLOTS {
        let png = std::fs::read(dir.join(format!("{name}.png"))).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{name}.png signature");
        assert_eq!(&png[12..16], b"IHDR");
        let (w, h) = (
            u32::from_be_bytes(png[16..20].try_into().unwrap()),
            u32::from_be_bytes(png[20..24].try_into().unwrap()),
        );
        assert_eq!((w, h), (900, 540), "{name}.png size");
        let svg = std::fs::read_to_string(dir.join(format!("{name}.svg"))).unwrap();
        let tree = resvg_parse(&svg);
        assert!(tree, "{name}.svg is not well-formed");
        assert!(svg.contains(title), "{name}.svg lacks its title {title:?}");
        assert!(
            html.contains(&format!("id=\"{name}\""))
                && html.contains(&format!("href=\"{name}.png\"")),
            "report lacks {name}"
        );
    }
    let s = summary(&dir);
    assert!(html.contains(&format!(
        "<td class=\"n\">{}</td>",
        s["consensus"]["heights_committed"]
    )));
    assert!(html.contains("heights committed") && html.contains("trust gap TEE, p50 (s)"));
    // Self-contained: nothing fetched (SVG namespaces are names, not fetches).
    assert!(
        !html.contains("src=") && !html.contains("href=\"http") && !html.contains("url(http"),
        "report.html must be self-contained"
    );
    assert!(
        html.contains("[[validators]]"),
        "the resolved scenario is shown"
    );
}

/// Well-formed XML: every tag opened is closed, in order.
fn resvg_parse(svg: &str) -> bool {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = svg;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let end = match rest.find('>') {
            Some(e) => e,
            None => return false,
        };
        let tag = &rest[..end];
        rest = &rest[end + 1..];
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            if stack.pop().as_deref() != Some(name.trim()) {
                return false;
            }
        } else if !tag.ends_with('/') {
            stack.push(tag.split_whitespace().next().unwrap_or("").to_string());
        }
    }
    stack.is_empty()
}

/// The run accumulates the requests' plots as it writes the rows; `hacasim
/// report` reads them from the table: the same plots, byte for byte, on a
/// run with every mode, proofs and wrong results (the exposure plot's data).
#[test]
fn report_command_reproduces_plots_and_report_byte_for_byte() {
    let t = tempfile::tempdir().unwrap();
    let dir = run(t.path());
    let s = summary(&dir);
    assert!(
        s["fraud"]["wrong_results"].as_u64().unwrap() > 0
            && s["requests"]["finalised"].as_u64().unwrap() > 0
    );
    let copy = t.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".parquet") || name == "summary.json" || name == "scenario.toml" {
            std::fs::copy(&p, copy.join(&name)).unwrap();
        }
    }
    let o = hacasim(&["report", copy.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for (name, _) in PLOTS {
        for ext in ["svg", "png"] {
            let f = format!("{name}.{ext}");
            assert_eq!(
                std::fs::read(dir.join(&f)).unwrap(),
                std::fs::read(copy.join(&f)).unwrap(),
                "{f}"
            );
        }
    }
    assert_eq!(
        std::fs::read(dir.join("report.html")).unwrap(),
        std::fs::read(copy.join("report.html")).unwrap()
    );
    // Not a run directory: bad input.
    let o = hacasim(&["report", t.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
}

/// Admission limits (issue #22): a node with a short queue under twice the
/// load it serves, and users who give up. The load plot shows the rejected
/// and abandoned requests, the rows' outcomes agree with the summary, and
/// `hacasim report` redraws the plot from the table byte for byte.
#[test]
fn admission_limits_show_in_the_rows_summary_and_load_plot() {
    let t = tempfile::tempdir().unwrap();
    let file = t.path().join("limits.toml");
    std::fs::write(
        &file,
        r#"name = "limits"
duration = "3m"
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
max_batch = 4
max_queue = 8
[[workload]]
name = "chat"
model = "llama-3.1-8b"
arrival = { kind = "poisson", rate_per_s = 4.0 }
prompt_tokens = { kind = "fixed", mean = 300 }
output_tokens = { kind = "fixed", mean = 60 }
modes = { vanilla = 1.0 }
timeout = "3s"
"#,
    )
    .unwrap();
    let dir = t.path().join("run");
    let o = hacasim(&[
        "run",
        file.to_str().unwrap(),
        "--quiet",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = summary(&dir);
    let (rejected, abandoned, in_service) = (
        s["requests"]["rejected"].as_u64().unwrap(),
        s["requests"]["abandoned"].as_u64().unwrap(),
        s["requests"]["abandoned_in_service"].as_u64().unwrap(),
    );
    assert!(rejected > 0 && abandoned > in_service, "{}", s["requests"]);
    let req = reports::read_table(&dir.join("requests.parquet")).unwrap();
    let outcomes = reports::plots::column_str(&req, "outcome");
    let count = |o: &str| outcomes.iter().filter(|x| *x == o).count() as u64;
    assert_eq!(count("rejected"), rejected);
    assert_eq!(count("abandoned"), abandoned - in_service);
    let gave_up = reports::plots::column_f64(&req, "abandoned_s");
    assert_eq!(gave_up.iter().flatten().count() as u64, abandoned);
    let svg = std::fs::read_to_string(dir.join("load.svg")).unwrap();
    assert!(
        svg.contains("rejected: queue full (cumulative)"),
        "no rejected series"
    );
    assert!(
        svg.contains("abandoned in the queue (cumulative)"),
        "no abandoned series"
    );
    std::fs::remove_file(dir.join("load.svg")).unwrap();
    let o = hacasim(&["report", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(dir.join("load.svg")).unwrap(), svg);
}

/// Python (polars, DuckDB, pandas from the project's pinned venv) reads every
/// table; needs PyPI on first run (scripts/pyenv.sh makes .venv once).
#[test]
fn python_reads_the_tables() {
    let root = env!("CARGO_MANIFEST_DIR");
    let py = Command::new(format!("{root}/scripts/pyenv.sh"))
        .output()
        .expect("scripts/pyenv.sh runs");
    assert!(
        py.status.success(),
        "making the venv failed: {}",
        String::from_utf8_lossy(&py.stderr)
    );
    let python = String::from_utf8(py.stdout).unwrap().trim().to_string();
    let t = tempfile::tempdir().unwrap();
    let dir = run(t.path());
    let o = Command::new(&python)
        .arg(format!("{root}/tests/python/read_back.py"))
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .trim_end()
            .ends_with("ok")
    );
}
