//! `hacasim sweep` and `hacasim merge`: a base scenario, axes addressed by
//! dotted key paths (grid, explicit list or Latin hypercube), `seeds`
//! replications per point; points run in parallel with rayon, each finished
//! (point, seed) is written atomically as one Hive-partitioned Parquet row
//! (`rows/point=P/seed=S/part-0.parquet`), so `--resume` re-runs nothing that
//! finished and `--shard I/N` splits the work across a cluster's array jobs.

use std::path::{Path, PathBuf};

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sim_core::Scenario;
use sim_core::scenario::{did_you_mean, line_of_keys};
use toml::Value;

use crate::Failure;

#[derive(Args, Debug, Default)]
pub struct SweepArgs {
    /// Sweep TOML file.
    pub sweep: PathBuf,
    /// Output directory (default: runs/sweeps/<sweep file stem>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Parallel runs (default: all cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Run only points with index ≡ I (mod N), written as "I/N".
    #[arg(long)]
    pub shard: Option<String>,
    /// Continue an interrupted sweep in the same output directory.
    #[arg(long)]
    pub resume: bool,
    /// Replace an existing output directory.
    #[arg(long)]
    pub force: bool,
    /// Also keep every (point, seed)'s full run directory under runs/.
    #[arg(long)]
    pub keep_runs: bool,
    /// No progress bar and no closing line.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub slurm: crate::slurm::SlurmArgs,
    /// Set by an in-process caller (the Python package's Ctrl-C): runs in
    /// flight stop, none starts, and what finished stays for `--resume`.
    #[arg(skip)]
    pub stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// A sweep output directory.
    pub dir: PathBuf,
    /// Merge even if some (point, seed) rows are missing.
    #[arg(long)]
    pub allow_partial: bool,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SweepKind {
    #[default]
    Grid,
    List,
    Lhs,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepFile {
    /// Base scenario, relative to the sweep file.
    base: String,
    #[serde(default = "one")]
    seeds: u64,
    #[serde(default)]
    kind: SweepKind,
    /// Latin hypercube: number of samples and the seed that places them.
    #[serde(default)]
    samples: usize,
    #[serde(default)]
    lhs_seed: u64,
    /// Fixed overrides applied to every point.
    #[serde(default)]
    set: toml::Table,
    /// grid: key path → list of values; lhs: key path → { min, max }.
    #[serde(default)]
    axes: toml::Table,
    /// list: one table of key path → value per point.
    #[serde(default)]
    points: Vec<toml::Table>,
}

fn one() -> u64 {
    1
}

/// The resolved plan: every point's scenario, and the seeds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub axes: Vec<String>,
    /// Parameter values per point, in axis order.
    pub points: Vec<Vec<Value>>,
    pub seeds: Vec<u64>,
    #[serde(skip)]
    pub scenarios: Vec<Scenario>,
}

/// One step of a key path such as `workload[0].arrival.rate_per_s`.
enum Step {
    Key(String),
    Index(usize),
}

fn parse_path(path: &str) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if name.is_empty() {
            return None;
        }
        steps.push(Step::Key(name.to_string()));
        while let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            steps.push(Step::Index(r[..end].parse().ok()?));
            rest = &r[end + 1..];
        }
        if !rest.is_empty() {
            return None;
        }
    }
    Some(steps)
}

/// `base` with each (key path, value) of `set` applied as a sweep's `[set]`
/// applies it (to the resolved scenario, so a default can be overridden),
/// then validated again; errors name `file` and the key. The Python
/// package's `run(..., set=...)`.
pub fn with_overrides(
    base: &Scenario,
    set: &[(String, Value)],
    file: &str,
) -> Result<Scenario, sim_core::ScenarioError> {
    let mut table: toml::Table =
        toml::from_str(&base.to_toml()).expect("a resolved scenario reads back");
    for (k, v) in set {
        set_path(&mut table, k, v).map_err(|message| sim_core::ScenarioError {
            file: file.to_string(),
            line: None,
            key: k.clone(),
            message,
        })?;
    }
    resolve_point(base, &table, file).map_err(|mut e| {
        // The line is one of the re-serialised text, not of the user's file.
        e.line = None;
        e
    })
}

/// `table` (the base's resolved TOML with overrides set) resolved and
/// validated as a scenario, with the base's trace and profile files, which
/// a TOML does not carry.
fn resolve_point(
    base: &Scenario,
    table: &toml::Table,
    file: &str,
) -> Result<Scenario, sim_core::ScenarioError> {
    let text = toml::to_string(table).expect("tables serialise");
    let mut s = Scenario::from_toml_str(&text, file)?;
    s.traces = base.traces.clone();
    s.profiles = base.profiles.clone();
    Ok(s)
}

/// Sets `path` in a resolved scenario's TOML to `value`: the key must exist
/// (every default is written out in a resolved scenario) and keep its type.
fn set_path(root: &mut toml::Table, path: &str, value: &Value) -> Result<(), String> {
    let steps =
        parse_path(path).ok_or_else(|| format!("{path:?} is not a key path like `a.b[0].c`"))?;
    let mut wrapped = Value::Table(std::mem::take(root));
    let result = set_in(&mut wrapped, &steps, path, value);
    if let Value::Table(t) = wrapped {
        *root = t;
    }
    result
}

fn set_in(mut here: &mut Value, steps: &[Step], path: &str, value: &Value) -> Result<(), String> {
    {
        for (i, step) in steps.iter().enumerate() {
            let last = i + 1 == steps.len();
            here = match (step, here) {
                (Step::Key(k), Value::Table(t)) => {
                    if !t.contains_key(k) {
                        let known: Vec<String> = t.keys().cloned().collect();
                        return Err(format!(
                            "unknown key path {path:?}: no `{k}` here{}",
                            did_you_mean(k, &known)
                        ));
                    }
                    t.get_mut(k).expect("checked")
                }
                (Step::Index(n), Value::Array(a)) => {
                    let len = a.len();
                    a.get_mut(*n).ok_or_else(|| {
                        format!("unknown key path {path:?}: index {n} but only {len} entries")
                    })?
                }
                _ => return Err(format!("unknown key path {path:?}")),
            };
            if last {
                let same = matches!(
                    (&*here, value),
                    (
                        Value::Integer(_) | Value::Float(_),
                        Value::Integer(_) | Value::Float(_)
                    ) | (Value::String(_), Value::String(_))
                        | (Value::Boolean(_), Value::Boolean(_))
                        | (Value::Array(_), Value::Array(_))
                        | (Value::Table(_), Value::Table(_))
                );
                if !same {
                    return Err(format!(
                        "{path:?} holds {} but the sweep gives {}",
                        here.type_str(),
                        value.type_str()
                    ));
                }
                *here = match (&*here, value) {
                    (Value::Float(_), Value::Integer(n)) => Value::Float(*n as f64),
                    _ => value.clone(),
                };
            }
        }
        Ok(())
    }
}

fn input_err(file: &Path, text: &str, keys: &[&str], message: String) -> Failure {
    let line = line_of_keys(text, keys).unwrap_or(1);
    Failure::input(format!(
        "{}:{}: key `{}`: {}",
        file.display(),
        line,
        keys.join("."),
        message
    ))
}

/// Reads a sweep file and resolves every point's scenario; any problem is
/// bad input (exit 2) before anything runs.
pub fn plan(sweep_path: &Path) -> Result<(Plan, String), Failure> {
    let text = std::fs::read_to_string(sweep_path)
        .map_err(|e| Failure::input(format!("{}: cannot read sweep: {e}", sweep_path.display())))?;
    let spec: SweepFile = toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map_or(1, |s| sim_core::scenario::line_of(&text, s.start));
        Failure::input(format!(
            "{}:{}: {}",
            sweep_path.display(),
            line,
            e.message().trim()
        ))
    })?;
    let dir = sweep_path.parent().unwrap_or(Path::new("."));
    let base_path = dir.join(&spec.base);
    let base = crate::run::load_scenario(&base_path).map_err(|f| {
        Failure::input(format!(
            "{}: base scenario: {}",
            sweep_path.display(),
            f.message
        ))
    })?;
    let base_table: toml::Table =
        toml::from_str(&base.to_toml()).expect("a resolved scenario reads back");
    if spec.seeds == 0 {
        return Err(input_err(
            sweep_path,
            &text,
            &["seeds"],
            "must be at least 1".into(),
        ));
    }
    // Points as (axis → value) lists.
    let (axes, points): (Vec<String>, Vec<Vec<Value>>) = match spec.kind {
        SweepKind::Grid => {
            let axes: Vec<String> = spec.axes.keys().cloned().collect();
            let mut points: Vec<Vec<Value>> = vec![Vec::new()];
            for a in &axes {
                let Value::Array(values) = &spec.axes[a] else {
                    return Err(input_err(
                        sweep_path,
                        &text,
                        &["axes", a],
                        "a grid axis is a list of values".into(),
                    ));
                };
                if values.is_empty() {
                    return Err(input_err(
                        sweep_path,
                        &text,
                        &["axes", a],
                        "has no values".into(),
                    ));
                }
                points = points
                    .into_iter()
                    .flat_map(|p| {
                        values
                            .iter()
                            .map(move |v| [p.clone(), vec![v.clone()]].concat())
                    })
                    .collect();
            }
            (axes, points)
        }
        SweepKind::List => {
            let axes: Vec<String> = spec
                .points
                .first()
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default();
            let mut points = Vec::new();
            for (i, p) in spec.points.iter().enumerate() {
                let keys: Vec<String> = p.keys().cloned().collect();
                if keys != axes {
                    return Err(Failure::input(format!(
                        "{}: points[{i}]: every point must set the same keys as the first ({axes:?})",
                        sweep_path.display()
                    )));
                }
                points.push(axes.iter().map(|a| p[a].clone()).collect());
            }
            if points.is_empty() {
                return Err(input_err(
                    sweep_path,
                    &text,
                    &["kind"],
                    "kind = \"list\" needs [[points]]".into(),
                ));
            }
            (axes, points)
        }
        SweepKind::Lhs => {
            if spec.samples == 0 {
                return Err(input_err(
                    sweep_path,
                    &text,
                    &["samples"],
                    "kind = \"lhs\" needs samples ≥ 1".into(),
                ));
            }
            let axes: Vec<String> = spec.axes.keys().cloned().collect();
            let n = spec.samples;
            let mut columns = Vec::new();
            for (k, a) in axes.iter().enumerate() {
                let range = spec.axes[a].as_table().and_then(|t| {
                    Some((
                        t.get("min")?
                            .as_float()
                            .or(t.get("min")?.as_integer().map(|x| x as f64))?,
                        t.get("max")?
                            .as_float()
                            .or(t.get("max")?.as_integer().map(|x| x as f64))?,
                    ))
                });
                let Some((lo, hi)) = range.filter(|(lo, hi)| lo < hi) else {
                    return Err(input_err(
                        sweep_path,
                        &text,
                        &["axes", a],
                        "an lhs axis is { min = …, max = … } with min < max".into(),
                    ));
                };
                columns.push(latin_hypercube(n, lo, hi, spec.lhs_seed, k as u64));
            }
            (
                (axes.clone()),
                (0..n)
                    .map(|i| columns.iter().map(|c| Value::Float(c[i])).collect())
                    .collect(),
            )
        }
    };
    // Every point's scenario, validated now.
    let mut scenarios = Vec::new();
    for (i, values) in points.iter().enumerate() {
        let mut table = base_table.clone();
        for (k, v) in &spec.set {
            set_path(&mut table, k, v).map_err(|m| input_err(sweep_path, &text, &["set", k], m))?;
        }
        for (a, v) in axes.iter().zip(values) {
            set_path(&mut table, a, v)
                .map_err(|m| input_err(sweep_path, &text, &["axes", a], m))?;
        }
        let s = resolve_point(
            &base,
            &table,
            &format!("{} point {i}", sweep_path.display()),
        )
        .map_err(|e| {
            let keys: Vec<&str> = axes.iter().map(String::as_str).collect();
            let line = keys
                .iter()
                .find_map(|a| line_of_keys(&text, &["axes", a]))
                .unwrap_or(1);
            Failure::input(format!(
                "{}:{}: point {i} ({}) is not a valid scenario: key `{}`: {}",
                sweep_path.display(),
                line,
                describe(&axes, values),
                e.key,
                e.message
            ))
        })?;
        scenarios.push(s);
    }
    let seeds = (0..spec.seeds).map(|k| base.seed + k).collect();
    Ok((
        Plan {
            axes,
            points,
            seeds,
            scenarios,
        },
        text,
    ))
}

fn describe(axes: &[String], values: &[Value]) -> String {
    axes.iter()
        .zip(values)
        .map(|(a, v)| format!("{a} = {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// n samples in [lo, hi): one in each of n equal strata, strata shuffled.
pub fn latin_hypercube(n: usize, lo: f64, hi: f64, seed: u64, axis: u64) -> Vec<f64> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(axis + 1);
    let mut strata: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        strata.swap(i, j);
    }
    strata
        .iter()
        .map(|&s| lo + (s as f64 + sim_core::rng::unit_f64(&mut rng)) / n as f64 * (hi - lo))
        .collect()
}

pub fn parse_shard(s: &str) -> Result<(usize, usize), Failure> {
    let bad = || Failure::input(format!("--shard {s:?}: expected I/N with 0 ≤ I < N"));
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (usize, usize) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

/// A (point, seed)'s market trajectory, for a scenario with `[market]`
/// (written before its row: a row read back means its trajectory is there).
fn market_path(out: &Path, point: usize, seed: u64) -> PathBuf {
    out.join("market")
        .join(format!("point={point:05}"))
        .join(format!("seed={seed}"))
        .join("part-0.parquet")
}

fn row_path(out: &Path, point: usize, seed: u64) -> PathBuf {
    out.join("rows")
        .join(format!("point={point:05}"))
        .join(format!("seed={seed}"))
        .join("part-0.parquet")
}

/// Entries a sweep writes into its output directory (and the temporary
/// names it writes them through).
fn sweep_entry(name: &str) -> bool {
    matches!(
        name,
        "sweep.toml" | "plan.json" | "rows" | "market" | "runs" | "slurm"
    ) || name.starts_with('.')
        || name.ends_with(".tmp")
}

/// Creates the output directory with its `sweep.toml` and `plan.json`, or
/// checks that an existing one holds this very sweep (`continuing`: --resume
/// or --shard). Shards started together on a shared filesystem may race
/// here: a directory that another shard has just created, without its
/// `sweep.toml` yet, is accepted, and both files are written (identically)
/// through temporary names of their own and a rename, and only when they
/// differ from what is there, so a task never rewrites what others read.
fn prepare_out(
    out: &Path,
    text: &str,
    plan_json: &str,
    continuing: bool,
    force: bool,
) -> Result<(), Failure> {
    if out.exists() {
        let existing = std::fs::read_to_string(out.join("sweep.toml"));
        if continuing {
            let fresh = || -> bool {
                std::fs::read_dir(out).is_ok_and(|entries| {
                    entries
                        .flatten()
                        .all(|e| sweep_entry(&e.file_name().to_string_lossy()))
                })
            };
            match existing {
                Ok(t) if t == text => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && fresh() => {}
                _ => {
                    return Err(Failure::input(format!(
                        "{}: holds a different sweep; refusing to mix results (use a new --out)",
                        out.display()
                    )));
                }
            }
        } else if force {
            crate::output::check_replaceable(out)?;
            std::fs::remove_dir_all(out)
                .map_err(|e| Failure::internal(format!("{}: {e}", out.display())))?;
        } else {
            return Err(Failure::input(format!(
                "{}: output directory exists; pass --resume to continue it or --force to replace it",
                out.display()
            )));
        }
    }
    std::fs::create_dir_all(out)
        .map_err(|e| Failure::internal(format!("{}: {e}", out.display())))?;
    // What a killed sweep or run of this host left beside or inside it.
    crate::output::clear_stale(out.parent().unwrap_or(Path::new(".")));
    crate::output::clear_stale(out);
    if !out.join(crate::output::MARKER).is_file() {
        crate::output::mark(out, "sweep")?;
    }
    for (name, contents) in [("sweep.toml", text), ("plan.json", plan_json)] {
        let path = out.join(name);
        if std::fs::read_to_string(&path).is_ok_and(|t| t == contents) {
            continue;
        }
        crate::output::write_atomic(&path, contents.as_bytes())?;
    }
    Ok(())
}

pub fn sweep(args: &SweepArgs) -> Result<(), Failure> {
    let (plan, text) = plan(&args.sweep)?;
    let shard = args.shard.as_deref().map(parse_shard).transpose()?;
    if args.slurm.slurm {
        crate::slurm::check_args(&args.slurm)?;
        crate::slurm::array_size(&args.slurm, plan.points.len())?;
    }
    let stem = args
        .sweep
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "sweep".into());
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs/sweeps").join(stem));
    let plan_json = serde_json::to_string_pretty(&plan).expect("plan serialises");
    prepare_out(
        &out,
        &text,
        &plan_json,
        args.resume || shard.is_some(),
        args.force,
    )?;
    if args.slurm.slurm {
        // The directory, sweep.toml and plan.json exist before any task
        // starts: the tasks only --resume into it.
        // Absolute, symlinks kept: the base scenario is found beside the sweep file as named.
        let abs = |p: &Path| {
            std::path::absolute(p).map_err(|e| Failure::internal(format!("{}: {e}", p.display())))
        };
        let (sweep_abs, out_abs) = (abs(&args.sweep)?, abs(&out)?);
        let job = crate::slurm::Job {
            sweep: &sweep_abs,
            out: &out_abs,
            points: plan.points.len(),
            seeds: plan.seeds.len(),
            keep_runs: args.keep_runs,
        };
        return crate::slurm::prepare(&args.slurm, &job);
    }

    let jobs: Vec<(usize, u64)> = (0..plan.points.len())
        .filter(|p| shard.is_none_or(|(i, n)| p % n == i))
        .flat_map(|p| plan.seeds.iter().map(move |&s| (p, s)))
        .filter(|&(p, s)| !reports::sweep::row_reads_back(&row_path(&out, p, s)))
        .collect();
    let bar = if args.quiet || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        ProgressBar::hidden()
    } else {
        let b =
            ProgressBar::with_draw_target(Some(jobs.len() as u64), ProgressDrawTarget::stderr());
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} runs (ETA {eta})",
            )
            .expect("template"),
        );
        b
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs.unwrap_or(0))
        .build()
        .map_err(|e| Failure::internal(e.to_string()))?;
    let results: Vec<Result<(), Failure>> = pool.install(|| {
        jobs.par_iter()
            .map(|&(p, seed)| {
                let r = run_point(&plan, &out, p, seed, args.keep_runs, &args.stop);
                bar.inc(1);
                r
            })
            .collect()
    });
    bar.finish_and_clear();
    results.into_iter().collect::<Result<Vec<()>, Failure>>()?;
    if shard.is_none() {
        // On the sweep's pool too: --jobs bounds the whole sweep.
        pool.install(|| merge_dir(&out, false))?;
    }
    if !args.quiet {
        eprintln!(
            "{}: {} points × {} seeds",
            out.display(),
            plan.points.len(),
            plan.seeds.len()
        );
    }
    Ok(())
}

/// Runs one (point, seed) and writes its row atomically.
fn run_point(
    plan: &Plan,
    out: &Path,
    point: usize,
    seed: u64,
    keep_runs: bool,
    stop: &std::sync::atomic::AtomicBool,
) -> Result<(), Failure> {
    if stop.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(Failure::internal("interrupted"));
    }
    let scenario = &plan.scenarios[point];
    let mut trajectory = scenario.market.as_ref().map_or_else(Default::default, |m| {
        reports::trajectories::MarketTrajectory::new(
            m.interval.as_secs_f64(),
            m.shocks.first().map(|s| s.at.as_secs_f64()),
        )
    });
    let summary = if keep_runs {
        let dir = out
            .join("runs")
            .join(format!("point={point:05}"))
            .join(format!("seed={seed}"));
        crate::run::run_to_dir(scenario, seed, &dir, true, &mut trajectory)?
    } else {
        let mut sink = reports::trajectories::WithTrajectory {
            inner: &mut sim_core::NullSink,
            trajectory: &mut trajectory,
        };
        sim_core::Simulation::new(scenario, seed)
            .run_until_stopped(&mut sink, &mut |_| {}, stop)
            .map_err(Failure::from_sim)?
    };
    if !trajectory.is_empty() {
        let path = market_path(out, point, seed);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Failure::internal(format!("{}: {e}", dir.display())))?;
        }
        trajectory
            .write(&path)
            .map_err(|e| Failure::internal(e.to_string()))?;
    }
    let metrics = reports::sweep::flatten_metrics(
        &serde_json::to_value(&summary).expect("summary serialises"),
    );
    let params: Vec<(String, reports::sweep::Param)> = plan
        .axes
        .iter()
        .zip(&plan.points[point])
        .map(|(a, v)| (a.clone(), param(v)))
        .collect();
    let path = row_path(out, point, seed);
    reports::sweep::write_row(&path, &params, &metrics)
        .map_err(|e| Failure::internal(e.to_string()))
}

fn param(v: &Value) -> reports::sweep::Param {
    match v {
        Value::Integer(n) => reports::sweep::Param::Number(*n as f64),
        Value::Float(x) => reports::sweep::Param::Number(*x),
        Value::Boolean(b) => reports::sweep::Param::Number(*b as u8 as f64),
        Value::String(s) => reports::sweep::Param::Text(s.clone()),
        other => reports::sweep::Param::Text(other.to_string()),
    }
}

/// Shards' rows → `sweep.parquet` (one row per point and seed) and
/// `points.parquet` (mean and 95% confidence half-width per point).
pub fn merge_dir(out: &Path, allow_partial: bool) -> Result<(), Failure> {
    let plan: Plan = std::fs::read_to_string(out.join("plan.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .ok_or_else(|| {
            Failure::input(format!(
                "{}: not a sweep directory (no plan.json)",
                out.display()
            ))
        })?;
    let mut present = Vec::new();
    let mut missing = 0;
    for p in 0..plan.points.len() {
        for &s in &plan.seeds {
            if row_path(out, p, s).exists() {
                present.push((p, s, row_path(out, p, s)));
            } else {
                missing += 1;
            }
        }
    }
    if missing > 0 && !allow_partial {
        return Err(Failure::input(format!(
            "{}: {missing} of {} (point, seed) runs are missing; run the remaining shards (or --resume), or pass --allow-partial",
            out.display(),
            plan.points.len() * plan.seeds.len()
        )));
    }
    reports::sweep::merge(out, &plan.axes, &present).map_err(|e| {
        if e.is_bad_input() {
            Failure::input(format!("{e}; run `hacasim sweep --resume` to redo it"))
        } else {
            Failure::internal(e.to_string())
        }
    })?;
    reports::sweep::report_sweep(out, &plan.axes).map_err(|e| Failure::internal(e.to_string()))?;
    Ok(())
}

pub fn merge(args: &MergeArgs) -> Result<(), Failure> {
    merge_dir(&args.dir, args.allow_partial)?;
    println!("{}: sweep.parquet and points.parquet", args.dir.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin_hypercube_hits_every_stratum_once() {
        for axis in 0..3 {
            let xs = latin_hypercube(10, 2.0, 4.0, 7, axis);
            let mut strata: Vec<usize> = xs.iter().map(|x| ((x - 2.0) / 0.2) as usize).collect();
            strata.sort();
            assert_eq!(strata, (0..10).collect::<Vec<_>>());
        }
        assert_ne!(
            latin_hypercube(10, 0.0, 1.0, 7, 0),
            latin_hypercube(10, 0.0, 1.0, 7, 1),
            "axes are shuffled independently"
        );
    }

    #[test]
    fn key_paths_set_existing_keys_and_keep_types() {
        let mut t: toml::Table = toml::from_str("a = 1.5\n[b]\nc = [ { d = \"x\" } ]\n").unwrap();
        set_path(&mut t, "a", &Value::Integer(2)).unwrap();
        assert_eq!(t["a"], Value::Float(2.0));
        set_path(&mut t, "b.c[0].d", &Value::String("y".into())).unwrap();
        assert_eq!(t["b"]["c"][0]["d"], Value::String("y".into()));
        assert!(
            set_path(&mut t, "b.e", &Value::Integer(1))
                .unwrap_err()
                .contains("unknown key path")
        );
        assert!(
            set_path(&mut t, "b.c[3].d", &Value::Integer(1))
                .unwrap_err()
                .contains("index 3")
        );
        assert!(
            set_path(&mut t, "a", &Value::String("z".into()))
                .unwrap_err()
                .contains("holds float")
        );
    }
}
