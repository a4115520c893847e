//! `hacasim run` and `hacasim validate`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sim_core::{Scenario, SimTime};

use crate::Failure;
use crate::output::{StagedDir, write_atomic};

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Scenario TOML file.
    pub scenario: PathBuf,
    /// Run directory (default: runs/<scenario name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Seed (default: the scenario's `seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Replace an existing run directory.
    #[arg(long)]
    pub force: bool,
    /// No progress bar and no closing timing line.
    #[arg(long)]
    pub quiet: bool,
    /// Also write every table as CSV.
    #[arg(long)]
    pub csv: bool,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// A run directory (as written by `hacasim run`).
    pub dir: PathBuf,
}

#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// Scenario TOML file.
    pub scenario: PathBuf,
}

/// Reads and validates a scenario and the trace and profile files it names (relative to
/// the scenario's folder); every problem is bad input (exit 2).
pub fn load_scenario(path: &std::path::Path) -> Result<Scenario, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::input(format!("{}: cannot read scenario: {e}", path.display())))?;
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    scenario_from_text(&text, &path.display().to_string(), dir)
        .map_err(|e| Failure::input(e.to_string()))
}

/// A scenario from its TOML text (`file` names it in errors), the trace and
/// profile files it names read relative to `dir`.
pub fn scenario_from_text(
    text: &str,
    file: &str,
    dir: &std::path::Path,
) -> Result<Scenario, sim_core::ScenarioError> {
    let mut s = Scenario::from_toml_str(text, file)?;
    s.attach_files(text, file, &mut |name| {
        std::fs::read_to_string(dir.join(name)).map_err(|e| e.to_string())
    })?;
    Ok(s)
}

/// Copies every trace and profile file into the run directory and points
/// the resolved scenario at the copy, so that `runs/x/scenario.toml` runs on
/// its own.
pub fn copy_inputs(
    scenario: &mut Scenario,
    scenario_path: &std::path::Path,
    dir: &std::path::Path,
) -> Result<(), Failure> {
    let base = scenario_path.parent().unwrap_or(std::path::Path::new("."));
    let copy = |file: &mut String, prefix: String| -> Result<String, Failure> {
        let name = std::path::Path::new(file.as_str())
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let to = format!("{prefix}-{name}");
        std::fs::copy(base.join(file.as_str()), dir.join(&to))
            .map_err(|e| Failure::internal(format!("{file}: {e}")))?;
        Ok(std::mem::replace(file, to))
    };
    for (i, st) in scenario.workload.iter_mut().enumerate() {
        if let Some(file) = st.arrival.file.as_mut() {
            copy(file, format!("trace-{i}"))?;
        }
    }
    if let Some(file) = scenario.market.as_mut().and_then(|m| m.file.as_mut()) {
        copy(file, "price".into())?;
    }
    for (i, g) in scenario.gpu_nodes.iter_mut().enumerate() {
        if let Some(file) = g.latency.profile.as_mut() {
            let old = copy(file, format!("profile-{i}"))?;
            if let Some(fitted) = scenario.profiles.get(&old).cloned() {
                scenario.profiles.insert(file.clone(), fitted);
            }
        }
    }
    Ok(())
}

pub fn validate(args: &ValidateArgs) -> Result<(), Failure> {
    let s = load_scenario(&args.scenario)?;
    let n = s.validator_specs().len();
    println!(
        "{}: ok: scenario {:?}, {} validators in {} regions, {} simulated",
        args.scenario.display(),
        s.name,
        n,
        s.network.regions.len(),
        s.duration
    );
    Ok(())
}

/// One malloc arena: with glibc's default of one per thread, the memory
/// that Parquet's writer threads free is kept per thread and a long run's
/// resident size creeps up (24 h of the default scenario: 1.5× the peak of
/// 1 h; with one arena the two stay within a few percent, BENCHMARKS.md).
/// A single run allocates from one thread almost only, so nothing is lost.
fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any
    // other thread of this run starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

pub fn run(args: &RunArgs) -> Result<(), Failure> {
    one_malloc_arena();
    let mut scenario = load_scenario(&args.scenario)?;
    if let Some(seed) = args.seed {
        scenario.seed = seed;
    }
    let target = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(&scenario.name));
    let staged = StagedDir::create(&target, args.force)?;
    copy_inputs(&mut scenario, &args.scenario, staged.path())?;
    let started = Instant::now();
    let summary = write_run(
        &scenario,
        scenario.seed,
        staged.path(),
        args.quiet,
        args.csv,
        None,
    )
    .map_err(|mut f| {
        // A guard of `[limits]` (exit 2): the scenario is the problem, name it.
        if f.code == 2 {
            f.message = format!("{}: {}", args.scenario.display(), f.message);
        }
        f
    })?;
    let wall = started.elapsed().as_secs_f64();
    let dir = staged.commit()?;
    if !args.quiet {
        eprintln!(
            "{}: {} heights in {:.0} s simulated; wall {:.2} s, {} events, {:.0} events/s",
            dir.display(),
            summary.consensus.heights_committed,
            summary.sim_duration_s,
            wall,
            summary.events_processed,
            summary.events_processed as f64 / wall.max(1e-9)
        );
    }
    Ok(())
}

/// A whole run directory at `dir`, written through a staging directory
/// (used by `sweep --keep-runs`), its market trajectory gathered on the way.
pub fn run_to_dir(
    scenario: &Scenario,
    seed: u64,
    dir: &std::path::Path,
    quiet: bool,
    trajectory: &mut reports::trajectories::MarketTrajectory,
) -> Result<sim_core::Summary, Failure> {
    let staged = StagedDir::create(dir, true)?;
    let mut s = scenario.clone();
    s.seed = seed;
    let summary = write_run(&s, seed, staged.path(), quiet, false, Some(trajectory))?;
    staged.commit()?;
    Ok(summary)
}

/// Runs the scenario into `dir`: scenario.toml, tables, summary, plots, report.
fn write_run(
    scenario: &Scenario,
    seed: u64,
    dir: &std::path::Path,
    quiet: bool,
    csv: bool,
    trajectory: Option<&mut reports::trajectories::MarketTrajectory>,
) -> Result<sim_core::Summary, Failure> {
    let total_ms = scenario.duration.0 / 1_000_000;
    let bar = if quiet || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::with_draw_target(Some(total_ms), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {msg} (ETA {eta})",
            )
            .expect("valid template"),
        );
        bar
    };
    let mut progress = |t: SimTime| {
        bar.set_position(t.0 / 1_000_000);
        bar.set_message(format!("{:.0} s simulated", t.as_secs_f64()));
    };
    write_atomic(&dir.join("scenario.toml"), scenario.to_toml().as_bytes())?;
    let mut sink =
        reports::ParquetSink::new(dir).with_request_plots(scenario.duration.as_secs_f64());
    let result = match trajectory {
        Some(trajectory) => {
            let mut both = reports::trajectories::WithTrajectory {
                inner: &mut sink,
                trajectory,
            };
            sim_core::sim::run(scenario, seed, &mut both, &mut progress)
        }
        None => sim_core::sim::run(scenario, seed, &mut sink, &mut progress),
    };
    bar.finish_and_clear();
    // On an error the staging directory, and all written so far, goes.
    let summary = result.map_err(Failure::from_sim)?;
    let request_plots = sink
        .finish()
        .map_err(|e| Failure::internal(e.to_string()))?;
    finish_dir(dir, &summary, request_plots, csv)?;
    Ok(summary)
}

/// Writes a run directory into `dir` from a run's tables kept in memory
/// (the Python package's `Run.write`): the same row groups through the same
/// writer as a run writing as it goes, so the two are byte-identical.
pub fn write_tables(
    scenario: &Scenario,
    dir: &std::path::Path,
    tables: &reports::RunTables,
    summary: &sim_core::Summary,
) -> Result<(), Failure> {
    write_atomic(&dir.join("scenario.toml"), scenario.to_toml().as_bytes())?;
    let request_plots = tables
        .write(dir)
        .map_err(|e| Failure::internal(e.to_string()))?;
    finish_dir(dir, summary, request_plots, false)
}

/// summary.json, the plots and report.html (and the tables as CSV) of a run
/// directory whose tables are written.
fn finish_dir(
    dir: &std::path::Path,
    summary: &sim_core::Summary,
    request_plots: Option<reports::plots::RequestPlots>,
    csv: bool,
) -> Result<(), Failure> {
    reports::write_summary(dir, summary).map_err(|e| Failure::internal(e.to_string()))?;
    reports::report_run_with(dir, request_plots).map_err(|e| Failure::internal(e.to_string()))?;
    if csv {
        reports::write_csv(dir).map_err(|e| Failure::internal(e.to_string()))?;
    }
    Ok(())
}

/// Regenerates plots and report.html of a run directory from its tables.
pub fn report(args: &ReportArgs) -> Result<(), Failure> {
    if args.dir.join("plan.json").is_file() {
        return crate::sweep::merge_dir(&args.dir, true)
            .map(|()| println!("{}: sweep report.html and plots", args.dir.display()));
    }
    if !args.dir.join("summary.json").is_file() {
        return Err(Failure::input(format!(
            "{}: neither a run directory (no summary.json) nor a sweep directory (no plan.json)",
            args.dir.display()
        )));
    }
    let plots = reports::report_run(&args.dir).map_err(|e| Failure::input(e.to_string()))?;
    println!(
        "{}: report.html and {} plots",
        args.dir.display(),
        plots.len()
    );
    Ok(())
}
