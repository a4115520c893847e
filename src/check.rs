//! `hacasim check`: CI regression on finality and trust-gap metrics. A suite
//! (`suite.toml`) lists scenarios and, per metric (a dotted path into
//! `summary.json`), a tolerance and which direction is worse. The suite runs
//! (in parallel), each metric is averaged over the suite's seeds and compared
//! with the blessed baseline; a regression exits 1 with a readable table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Args;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::Failure;

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Folder holding suite.toml.
    pub suite: PathBuf,
    /// Baselines folder (default: SUITE/baselines).
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Write the current results as the new baselines.
    #[arg(long)]
    pub bless: bool,
    /// Write a JUnit XML report.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Write a Markdown table (for a pull-request comment).
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// Parallel runs (default: all cores).
    #[arg(long)]
    pub jobs: Option<usize>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Worse {
    Higher,
    Lower,
    Both,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricSpec {
    path: String,
    /// Allowed change as a fraction of the baseline.
    relative: Option<f64>,
    /// Allowed change in the metric's own unit.
    absolute: Option<f64>,
    worse: Worse,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioSpec {
    file: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Suite {
    #[serde(default = "one")]
    seeds: u64,
    scenario: Vec<ScenarioSpec>,
    metric: Vec<MetricSpec>,
}

fn one() -> u64 {
    1
}

/// A scenario's blessed metric means.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Baseline {
    scenario: String,
    seeds: Vec<u64>,
    metrics: BTreeMap<String, Option<f64>>,
}

struct Row {
    scenario: String,
    metric: String,
    old: Option<f64>,
    new: Option<f64>,
    tolerance: String,
    regressed: bool,
}

fn fmt(x: Option<f64>) -> String {
    x.map_or("null".into(), |v| {
        format!("{v:.6}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    })
}

pub fn check(args: &CheckArgs) -> Result<(), Failure> {
    let suite_file = args.suite.join("suite.toml");
    let text = std::fs::read_to_string(&suite_file)
        .map_err(|e| Failure::input(format!("{}: cannot read suite: {e}", suite_file.display())))?;
    let suite: Suite = toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map_or(1, |s| sim_core::scenario::line_of(&text, s.start));
        Failure::input(format!(
            "{}:{}: {}",
            suite_file.display(),
            line,
            e.message().trim()
        ))
    })?;
    for (i, m) in suite.metric.iter().enumerate() {
        if m.relative.is_none() == m.absolute.is_none() {
            return Err(Failure::input(format!(
                "{}: metric[{i}] ({}): give exactly one of `relative` or `absolute`",
                suite_file.display(),
                m.path
            )));
        }
    }
    let scenarios: Vec<(String, sim_core::Scenario)> = suite
        .scenario
        .iter()
        .map(|s| {
            let path = args.suite.join(&s.file);
            let sc = crate::run::load_scenario(&path)?;
            let stem = Path::new(&s.file)
                .file_stem()
                .map(|x| x.to_string_lossy().into_owned())
                .unwrap_or_default();
            Ok((stem, sc))
        })
        .collect::<Result<_, Failure>>()?;
    // Every (scenario, seed) in parallel.
    let jobs: Vec<(usize, u64)> = (0..scenarios.len())
        .flat_map(|i| (0..suite.seeds).map(move |k| (i, k)))
        .collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs.unwrap_or(0))
        .build()
        .map_err(|e| Failure::internal(e.to_string()))?;
    type Metrics = Vec<(String, Option<f64>)>;
    let results: Vec<Result<(usize, Metrics), Failure>> = pool.install(|| {
        jobs.par_iter()
            .map(|&(i, k)| {
                let s = &scenarios[i].1;
                let summary =
                    sim_core::sim::run(s, s.seed + k, &mut sim_core::NullSink, &mut |_| {})
                        .map_err(Failure::from_sim)?;
                Ok((
                    i,
                    reports::sweep::flatten_metrics(
                        &serde_json::to_value(&summary).expect("serialises"),
                    ),
                ))
            })
            .collect()
    });
    let mut per: Vec<Vec<Metrics>> = vec![Vec::new(); scenarios.len()];
    for r in results {
        let (i, m) = r?;
        per[i].push(m);
    }
    let baseline_dir = args
        .baseline
        .clone()
        .unwrap_or_else(|| args.suite.join("baselines"));
    let mut rows = Vec::new();
    for (i, (stem, sc)) in scenarios.iter().enumerate() {
        let mut means = BTreeMap::new();
        for m in &suite.metric {
            if !per[i][0].iter().any(|(k, _)| *k == m.path) {
                let known: Vec<String> = per[i][0].iter().map(|(k, _)| k.clone()).collect();
                return Err(Failure::input(format!(
                    "{}: metric {:?} is not in summary.json{}",
                    suite_file.display(),
                    m.path,
                    sim_core::scenario::did_you_mean(&m.path, &known)
                )));
            }
            let xs: Vec<f64> = per[i]
                .iter()
                .filter_map(|run| run.iter().find(|(k, _)| *k == m.path).and_then(|(_, v)| *v))
                .collect();
            means.insert(
                m.path.clone(),
                (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64),
            );
        }
        let file = baseline_dir.join(format!("{stem}.json"));
        let current = Baseline {
            scenario: sc.name.clone(),
            seeds: (0..suite.seeds).map(|k| sc.seed + k).collect(),
            metrics: means,
        };
        if args.bless {
            std::fs::create_dir_all(&baseline_dir)
                .map_err(|e| Failure::internal(format!("{}: {e}", baseline_dir.display())))?;
            let mut json = serde_json::to_string_pretty(&current).expect("serialises");
            json.push('\n');
            crate::output::write_atomic(&file, json.as_bytes())?;
            continue;
        }
        let old: Baseline = std::fs::read_to_string(&file)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .ok_or_else(|| Failure::input(format!("{}: no baseline for scenario {stem:?}; run `hacasim check {} --bless` and commit it", file.display(), args.suite.display())))?;
        for m in &suite.metric {
            let (b, x) = (
                old.metrics.get(&m.path).copied().flatten(),
                current.metrics[&m.path],
            );
            let (allowed, tolerance) = match (m.relative, m.absolute) {
                (Some(r), _) => (b.map_or(0.0, |b| r * b.abs()), format!("±{}%", r * 100.0)),
                (_, Some(a)) => (a, format!("±{a}")),
                _ => unreachable!("checked above"),
            };
            let regressed = match (b, x) {
                (Some(b), Some(x)) => {
                    let d = x - b;
                    match m.worse {
                        Worse::Higher => d > allowed,
                        Worse::Lower => -d > allowed,
                        Worse::Both => d.abs() > allowed,
                    }
                }
                (None, None) => false,
                _ => true,
            };
            rows.push(Row {
                scenario: stem.clone(),
                metric: m.path.clone(),
                old: b,
                new: x,
                tolerance,
                regressed,
            });
        }
    }
    if args.bless {
        println!(
            "blessed {} scenario baselines in {}",
            scenarios.len(),
            baseline_dir.display()
        );
        return Ok(());
    }
    print_table(&rows);
    if let Some(f) = &args.junit {
        crate::output::write_atomic(f, junit(&rows).as_bytes())?;
    }
    if let Some(f) = &args.markdown {
        crate::output::write_atomic(f, markdown(&rows).as_bytes())?;
    }
    let failed = rows.iter().filter(|r| r.regressed).count();
    if failed > 0 {
        return Err(Failure {
            code: 1,
            message: format!("{failed} metric(s) regressed"),
        });
    }
    println!("all {} metrics within tolerance", rows.len());
    Ok(())
}

fn change(r: &Row) -> String {
    match (r.old, r.new) {
        (Some(b), Some(x)) if b != 0.0 => format!("{:+.2}%", (x - b) / b.abs() * 100.0),
        (Some(b), Some(x)) => format!("{:+}", x - b),
        _ => "—".into(),
    }
}

fn print_table(rows: &[Row]) {
    let w = rows
        .iter()
        .map(|r| r.scenario.len() + r.metric.len() + 1)
        .max()
        .unwrap_or(10)
        .max(10);
    println!(
        "{:<w$}  {:>14}  {:>14}  {:>9}  {:>9}  status",
        "scenario/metric", "baseline", "now", "change", "tolerance"
    );
    for r in rows {
        println!(
            "{:<w$}  {:>14}  {:>14}  {:>9}  {:>9}  {}",
            format!("{}/{}", r.scenario, r.metric),
            fmt(r.old),
            fmt(r.new),
            change(r),
            r.tolerance,
            if r.regressed { "REGRESSED" } else { "ok" }
        );
    }
}

fn xml(s: &str) -> String {
    reports::html::escape(s).replace('\'', "&apos;")
}

fn junit(rows: &[Row]) -> String {
    let failures = rows.iter().filter(|r| r.regressed).count();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!(
        "<testsuites tests=\"{}\" failures=\"{failures}\">\n",
        rows.len()
    ));
    x.push_str(&format!("  <testsuite name=\"hacasim check\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\">\n", rows.len()));
    for r in rows {
        x.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"{}\"",
            xml(&r.scenario),
            xml(&r.metric)
        ));
        if r.regressed {
            let msg = format!(
                "{} regressed: baseline {}, now {} ({}), tolerance {}",
                r.metric,
                fmt(r.old),
                fmt(r.new),
                change(r),
                r.tolerance
            );
            x.push_str(&format!(">\n      <failure message=\"{}\" type=\"regression\">{}</failure>\n    </testcase>\n", xml(&msg), xml(&msg)));
        } else {
            x.push_str("/>\n");
        }
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

fn markdown(rows: &[Row]) -> String {
    let mut m = String::from(
        "| scenario | metric | baseline | now | change | tolerance | status |\n|---|---|---:|---:|---:|---:|---|\n",
    );
    for r in rows {
        m.push_str(&format!(
            "| {} | `{}` | {} | {} | {} | {} | {} |\n",
            r.scenario,
            r.metric,
            fmt(r.old),
            fmt(r.new),
            change(r),
            r.tolerance,
            if r.regressed { "❌ regressed" } else { "✅" }
        ));
    }
    m
}
