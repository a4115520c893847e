//! `hacasim`: the command-line program. A thin layer: it parses arguments,
//! reads the scenario, and hands the work to `sim-core` and `reports`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hacasim::{check, output, run, sweep};

#[derive(Parser, Debug)]
#[command(
    name = "hacasim",
    version,
    about = "Deterministic discrete-event simulator of decoupled AI-inference blockchains"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run one scenario and write its run directory.
    Run(run::RunArgs),
    /// Check a scenario file without running it.
    Validate(run::ValidateArgs),
    /// Regenerate the plots and report.html of a run directory from its tables.
    Report(run::ReportArgs),
    /// Run a parameter sweep (parallel, resumable, shardable).
    Sweep(sweep::SweepArgs),
    /// Merge a sweep's shards into sweep.parquet and points.parquet.
    Merge(sweep::MergeArgs),
    /// Run a suite and compare its metrics with blessed baselines (CI).
    Check(check::CheckArgs),
    /// Time the model's operators (CUDA or CPU), fit a latency profile and
    /// check its predictions against whole layer stacks.
    Calibrate(gpu_kernels::calibrate::CalibrateArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    output::on_interrupt_remove_staging();
    if let Command::Calibrate(args) = &cli.command {
        let command = std::env::args().collect::<Vec<_>>().join(" ");
        return ExitCode::from(gpu_kernels::calibrate::main_with(args, &command) as u8);
    }
    let result = match cli.command {
        Command::Run(args) => run::run(&args),
        Command::Validate(args) => run::validate(&args),
        Command::Report(args) => run::report(&args),
        Command::Sweep(args) => sweep::sweep(&args),
        Command::Merge(args) => sweep::merge(&args),
        Command::Check(args) => check::check(&args),
        Command::Calibrate(_) => unreachable!("handled above"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}
