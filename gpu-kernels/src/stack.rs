//! A stack of decoder layers at one batch shape: what the end-to-end check
//! times as a whole and predicts from the fitted operators. The shape and
//! its prediction live in `sim-core`, beside the check records a profile
//! stores; the backends here time it.

pub use sim_core::inference::profile::StackShape as Stack;
