//! `hacasim` as a library: what the command line does (runs, sweeps, checks,
//! Slurm arrays), callable in-process — the Python package (`python/`) runs
//! scenarios and sweeps through it, so both write byte-identical outputs.

pub mod check;
pub mod output;
pub mod run;
pub mod slurm;
pub mod sweep;

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
            sim_core::SimErrorKind::Internal | sim_core::SimErrorKind::Interrupted => {
                Failure::internal(e.to_string())
            }
        }
    }
}
