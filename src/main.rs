//! `hacasim`: the command-line program. A thin layer: it parses arguments,
//! reads the scenario, and hands the work to `sim-core` and `reports`.

mod check;
mod output;
mod run;
mod slurm;
mod sweep;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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

/// A failure with the exit code it deserves: 2 for bad input, 1 otherwise.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn input(message: impl Into<String>) -> Self {
        Failure {
            code: 2,
            message: message.into(),
        }
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Failure {
            code: 1,
            message: message.into(),
        }
    }
    /// A run that stopped: a guard of `[limits]` is the input's problem
    /// (exit 2; the run directory is not written), anything else a bug.
    pub fn from_sim(e: sim_core::SimError) -> Self {
        match e.kind {
            sim_core::SimErrorKind::Overload => Failure::input(e.to_string()),
            sim_core::SimErrorKind::Internal => Failure::internal(e.to_string()),
        }
    }
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
