//! Runs a scenario with every record dropped and prints the peak resident
//! size: the engine's own memory, without the Parquet writer
//! (`cargo run --release -p sim-core --example null_run -- scenario.toml`).
fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: null_run SCENARIO.toml");
    let text = std::fs::read_to_string(&path).expect("readable scenario");
    let s = sim_core::Scenario::from_toml_str(&text, &path).expect("valid scenario");
    let started = std::time::Instant::now();
    let summary = sim_core::sim::run(&s, s.seed, &mut sim_core::NullSink, &mut |_| {})
        .expect("the run completes");
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .unwrap_or("VmHWM: ?");
    println!(
        "{} heights, {} events, {:.1} s wall, {hwm}",
        summary.consensus.heights_committed,
        summary.events_processed,
        started.elapsed().as_secs_f64()
    );
}
