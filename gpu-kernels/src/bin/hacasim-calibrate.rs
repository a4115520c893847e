//! `hacasim-calibrate`: the calibration alone, without the simulator's
//! Polars and plotting dependencies, small enough to carry to a GPU machine
//! that has no Rust toolchain. Same options as `hacasim calibrate`.

use clap::Parser;
use gpu_kernels::calibrate::{CalibrateArgs, main_with};

#[derive(Parser)]
#[command(
    name = "hacasim-calibrate",
    version,
    about = "Time operators on CUDA or the CPU and write a latency profile (--ops: the CPU costs of signature, proof and hash checks)"
)]
struct Cli {
    #[command(flatten)]
    args: CalibrateArgs,
}

fn main() {
    let cli = Cli::parse();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    std::process::exit(main_with(&cli.args, &command));
}
