//! `hacasim calibrate`: times every operator over a grid of shapes, writes
//! the profile, fits it, and checks the fit against whole layer stacks at
//! shapes outside the grid.
//!
//! The grid scales Llama's layer proportions (head size 64, four query heads
//! per key/value head, FFN ≈ 2.7 × hidden) down to hidden sizes a CPU runs in
//! seconds; the check stacks use hidden sizes, token counts and contexts that
//! are not grid points, so they test the fit's interpolation and
//! extrapolation rather than its memory.

use std::io::Write;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use sim_core::inference::profile::{FittedProfile, Measurement, StackCheck};

use crate::cache::ColdRotation;
use crate::cpu::CpuBackend;
use crate::cuda::CudaBackend;
use crate::stack::Stack;
use crate::{DType, Op, Profile, Timing};

/// The thresholds of the end-to-end check (issue 7): Vidur reports < 9 %.
pub const MEDIAN_ERROR_LIMIT: f64 = 0.05;
pub const MAX_ERROR_LIMIT: f64 = 0.15;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendChoice {
    /// CUDA when a device loads, else the CPU.
    Auto,
    Cuda,
    Cpu,
}

#[derive(clap::Args, Debug, Clone)]
pub struct CalibrateArgs {
    #[arg(long, value_enum, default_value = "auto")]
    pub backend: BackendChoice,
    /// Where to write the profile (TOML). Default: `profiles/<backend>.toml`.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// A small grid and fewer repeats: under a minute on a 2-core machine.
    #[arg(long)]
    pub quick: bool,
    /// Element type on CUDA (the CPU computes in f32).
    #[arg(long, default_value = "f16")]
    pub dtype: String,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Time instead the CPU costs of a node's cryptographic operations
    /// (ed25519, Groth16 and pairings on BN254, P-384 ECDSA, SHA-256), one
    /// thread, and write an ops profile. Default: `profiles/cpu-ops.toml`.
    #[arg(long, conflicts_with_all = ["backend", "dtype"])]
    pub ops: bool,
}

/// The device the operators run on.
pub enum Backend {
    Cpu(CpuBackend),
    Cuda(Box<CudaBackend>, DType),
}

impl Backend {
    /// Opens the backend asked for; `auto` says on stderr which it took and why.
    pub fn open(choice: BackendChoice, dtype: DType) -> Result<Backend, String> {
        match choice {
            BackendChoice::Cpu => Ok(Backend::Cpu(CpuBackend::new())),
            BackendChoice::Cuda => CudaBackend::open(0).map(|c| Backend::Cuda(Box::new(c), dtype)),
            BackendChoice::Auto => match CudaBackend::open(0) {
                Ok(c) => {
                    eprintln!("calibrate: CUDA device {:?}", c.device_name());
                    Ok(Backend::Cuda(Box::new(c), dtype))
                }
                Err(why) => {
                    eprintln!("calibrate: {why}; using the CPU");
                    Ok(Backend::Cpu(CpuBackend::new()))
                }
            },
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Backend::Cpu(_) => "cpu",
            Backend::Cuda(..) => "cuda",
        }
    }

    fn dtype(&self) -> DType {
        match self {
            Backend::Cpu(_) => DType::F32,
            Backend::Cuda(_, d) => *d,
        }
    }

    fn device_name(&self) -> String {
        match self {
            Backend::Cpu(c) => c.device_name(),
            Backend::Cuda(c, _) => c.device_name(),
        }
    }

    /// The operand rotation that keeps timed weights cold, and its source.
    pub fn cold_rotation(&self) -> &ColdRotation {
        match self {
            Backend::Cpu(c) => c.cold_rotation(),
            Backend::Cuda(c, _) => c.cold_rotation(),
        }
    }

    fn versions(&self) -> std::collections::BTreeMap<String, String> {
        let mut v = match self {
            Backend::Cpu(c) => c.versions(),
            Backend::Cuda(c, _) => c.versions(),
        };
        v.insert("hacasim".into(), env!("CARGO_PKG_VERSION").into());
        v
    }

    pub fn time(&mut self, op: &Op, repeats: u32) -> Result<Timing, String> {
        match self {
            Backend::Cpu(c) => Ok(c.time(op, repeats)),
            Backend::Cuda(c, d) => c.time(op, *d, repeats),
        }
    }

    pub fn time_stack(&mut self, s: &Stack, repeats: u32) -> Result<Timing, String> {
        match self {
            Backend::Cpu(c) => Ok(c.time_stack(s, repeats)),
            Backend::Cuda(c, d) => c.time_stack(s, *d, repeats),
        }
    }
}

/// A Llama-proportioned layer of `hidden` (head size 64, GQA 4:1).
fn layer_shape(hidden: u64) -> (u64, u64, u64, u64) {
    let heads = hidden / 64;
    let kv = (heads / 4).max(1);
    let ffn = (hidden * 11 / 4).div_ceil(64) * 64;
    (hidden, heads, kv, ffn)
}

/// The operators to time. `big` adds GPU-sized shapes.
pub fn grid(quick: bool, big: bool) -> Vec<Op> {
    let hiddens: &[u64] = match (quick, big) {
        (true, false) => &[256, 1024],
        (false, false) => &[256, 512, 1024, 2048],
        (true, true) => &[1024, 4096],
        (false, true) => &[1024, 2048, 4096, 8192],
    };
    let tokens: &[u64] = if quick {
        &[1, 8, 64, 256]
    } else {
        &[1, 4, 16, 64, 256, 512]
    };
    let mut ops = Vec::new();
    for &d in hiddens {
        let (_, h, kvh, f) = layer_shape(d);
        let hd = 64;
        for &m in tokens {
            for (k, n) in [(d, d + 2 * kvh * hd), (d, d), (d, 2 * f), (f, d)] {
                ops.push(Op::Gemm { m, k, n });
            }
            ops.push(Op::RmsNorm {
                tokens: m,
                hidden: d,
            });
            ops.push(Op::Rope {
                tokens: m,
                heads: h + kvh,
                head_dim: hd,
            });
            ops.push(Op::SiluMul { tokens: m, ffn: f });
            ops.push(Op::ResidualAdd {
                tokens: m,
                hidden: d,
            });
        }
        let lens: &[u64] = if quick {
            &[16, 128, 512]
        } else {
            &[16, 64, 256, 512, 1024]
        };
        for &len in lens {
            for seqs in [1, 4] {
                ops.push(Op::AttentionPrefill {
                    seqs,
                    len,
                    heads: h,
                    kv_heads: kvh,
                    head_dim: hd,
                });
            }
        }
        let ctxs: &[u64] = if quick {
            &[64, 512, 2048]
        } else {
            &[64, 256, 1024, 2048, 4096]
        };
        let batches: &[u64] = if quick { &[1, 8, 32] } else { &[1, 8, 32, 64] };
        // Four and eight query heads per key/value head (Llama 3 8B, 70B):
        // the same cache bytes then carry different FLOPs.
        let groups: Vec<u64> = if h / 8 >= 1 && h / 8 != kvh {
            vec![kvh, h / 8]
        } else {
            vec![kvh]
        };
        for &context in ctxs {
            for &seqs in batches {
                for &kv_heads in &groups {
                    ops.push(Op::AttentionDecode {
                        seqs,
                        context,
                        heads: h,
                        kv_heads,
                        head_dim: hd,
                    });
                }
            }
        }
    }
    ops
}

/// Layer stacks at shapes outside the grid: other hidden sizes, token
/// counts, prompt lengths and contexts; prefill, decode and mixed batches.
pub fn check_stacks(quick: bool, big: bool) -> Vec<Stack> {
    let mk = |name: &str, hidden: u64, layers: u32, ps: u32, pl: u32, ds: u32, dc: u32| {
        let (d, h, kvh, f) = layer_shape(hidden);
        Stack {
            name: name.to_string(),
            layers,
            hidden: d as u32,
            heads: h as u32,
            kv_heads: kvh as u32,
            ffn: f as u32,
            prefill_seqs: ps,
            prefill_len: pl,
            decode_seqs: ds,
            decode_context: dc,
        }
    };
    let scale = if big { 4 } else { 1 };
    let mut v = vec![
        mk("prefill-768", 768 * scale, 4, 2, 100, 0, 0),
        mk("decode-768", 768 * scale, 4, 0, 0, 24, 700),
        mk("mixed-768", 768 * scale, 4, 1, 180, 12, 300),
        mk("prefill-1536", 1536 * scale, 2, 1, 300, 0, 0),
    ];
    if !quick {
        v.extend([
            mk("decode-1536", 1536 * scale, 2, 0, 0, 48, 1500),
            mk("mixed-1536", 1536 * scale, 2, 2, 90, 20, 900),
            mk("prefill-384", 384 * scale, 8, 3, 200, 0, 0),
            mk("decode-384", 384 * scale, 8, 0, 0, 6, 3000),
            mk("decode-1-1280", 1280 * scale, 4, 0, 0, 1, 200),
        ]);
    }
    v
}

/// Median and largest absolute relative error of a set of checks.
pub fn error_figures(checks: &[StackCheck]) -> (f64, f64) {
    let mut e: Vec<f64> = checks.iter().map(|c| c.error.abs()).collect();
    e.sort_by(f64::total_cmp);
    if e.is_empty() {
        return (0.0, 0.0);
    }
    let n = e.len();
    let median = if n % 2 == 1 {
        e[n / 2]
    } else {
        (e[n / 2 - 1] + e[n / 2]) / 2.0
    };
    (median, e[n - 1])
}

/// Predicts every check stack from the profile's own fit.
pub fn repredict(profile: &Profile, fitted: &FittedProfile) -> Vec<StackCheck> {
    profile
        .checks
        .iter()
        .map(|c| c.shape.check(c.measured_s, c.shape.predict(fitted)))
        .collect()
}

fn bar(n: usize, quiet: bool, what: &str) -> ProgressBar {
    if quiet || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::new(n as u64);
    b.set_style(
        ProgressStyle::with_template("{prefix} [{bar:40}] {pos}/{len} {msg} ({eta})")
            .expect("template")
            .progress_chars("=> "),
    );
    b.set_prefix(what.to_string());
    b
}

/// What a calibration produced.
pub struct Outcome {
    pub profile: Profile,
    pub path: PathBuf,
    pub median_error: f64,
    pub max_error: f64,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.median_error < MEDIAN_ERROR_LIMIT && self.max_error < MAX_ERROR_LIMIT
    }
}

/// Runs a calibration end to end and writes the profile (atomically).
pub fn calibrate(args: &CalibrateArgs, command: &str) -> Result<Outcome, String> {
    let dtype = DType::parse(&args.dtype)
        .ok_or_else(|| format!("--dtype {:?}: expected f32, f16 or bf16", args.dtype))?;
    let mut backend = Backend::open(args.backend, dtype)?;
    eprintln!("{}", header(&backend));
    let big = matches!(backend, Backend::Cuda(..));
    let repeats = match (args.quick, big) {
        (true, false) => 5,
        (false, false) => 11,
        (_, true) => 25,
    };
    // Rounds over the whole grid (and over all stacks), each figure the
    // median of its fastest round (`Timing::combine`): a slow spell on a
    // shared machine then spoils one round of many shapes, not one shape.
    let rounds = if args.quick { 2 } else { 3 };
    let ops = grid(args.quick, big);
    let b = bar(ops.len() * rounds, args.quiet, "operators");
    let mut timings: Vec<Vec<Timing>> = vec![Vec::new(); ops.len()];
    for _ in 0..rounds {
        for (op, ts) in ops.iter().zip(timings.iter_mut()) {
            b.set_message(op.kind().name());
            ts.push(backend.time(op, repeats)?);
            b.inc(1);
        }
    }
    b.finish_and_clear();
    let measurements = ops.iter().zip(&timings).map(|(op, ts)| {
        let t = Timing::combine(ts);
        Measurement {
            op: *op,
            median_s: t.median_s,
            min_s: t.min_s,
            repeats: t.repeats,
        }
    });
    let mut profile = Profile {
        hardware: backend.device_name(),
        backend: backend.name().to_string(),
        dtype: backend.dtype().name().to_string(),
        versions: backend.versions(),
        date: today(),
        command: command.to_string(),
        measurements: measurements.collect(),
        checks: vec![],
    };
    let fitted = profile.fit()?;
    let stacks = check_stacks(args.quick, big);
    let stack_rounds = if args.quick { 2 } else { 5 };
    let b = bar(stacks.len() * stack_rounds, args.quiet, "layer stacks");
    let mut stack_times: Vec<Vec<Timing>> = vec![Vec::new(); stacks.len()];
    for _ in 0..stack_rounds {
        for (s, ts) in stacks.iter().zip(stack_times.iter_mut()) {
            b.set_message(s.name.clone());
            ts.push(backend.time_stack(s, 3)?);
            b.inc(1);
        }
    }
    b.finish_and_clear();
    for (s, ts) in stacks.iter().zip(&stack_times) {
        profile
            .checks
            .push(s.check(Timing::combine(ts).median_s, s.predict(&fitted)));
    }
    let (median_error, max_error) = error_figures(&profile.checks);
    let path = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("profiles/{}.toml", backend.name())));
    let text = format!(
        "# Calibration profile written by `{command}`; format: scenarios/profiles/README.md.\n{}",
        toml::to_string(&profile).map_err(|e| e.to_string())?
    );
    write_atomic(&path, text.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Outcome {
        profile,
        path,
        median_error,
        max_error,
    })
}

/// The calibration's first line (on stderr): the device, and the operand
/// rotation that keeps timed weights cold, with where its size came from.
fn header(backend: &Backend) -> String {
    format!(
        "calibrate: {} on {}; cold rotation {}",
        backend.name(),
        backend.device_name(),
        backend.cold_rotation().describe()
    )
}

/// The check table, one stack per line, after the cold rotation the
/// operators were timed with (as the profile records it).
pub fn print_checks(o: &Outcome, out: &mut dyn Write) -> std::io::Result<()> {
    if let Some(cold) = o.profile.versions.get("cold_rotation") {
        writeln!(out, "cold rotation: {cold}")?;
    }
    writeln!(
        out,
        "{:<16} {:>6} {:>6} {:>12} {:>12} {:>8}",
        "stack", "layers", "hidden", "measured ms", "predicted ms", "error"
    )?;
    for c in &o.profile.checks {
        writeln!(
            out,
            "{:<16} {:>6} {:>6} {:>12.3} {:>12.3} {:>+7.1}%",
            c.shape.name,
            c.shape.layers,
            c.shape.hidden,
            c.measured_s * 1e3,
            c.predicted_s * 1e3,
            c.error * 100.0
        )?;
    }
    writeln!(
        out,
        "{}: {} operators timed on {} ({}); median |error| {:.1}% (limit {:.0}%), max {:.1}% (limit {:.0}%): {}",
        o.path.display(),
        o.profile.measurements.len(),
        o.profile.hardware,
        o.profile.backend,
        o.median_error * 100.0,
        MEDIAN_ERROR_LIMIT * 100.0,
        o.max_error * 100.0,
        MAX_ERROR_LIMIT * 100.0,
        if o.passed() { "PASS" } else { "FAIL" }
    )
}

/// The command-line entry point shared by `hacasim calibrate` and the
/// standalone `hacasim-calibrate` (with `--ops`, [`crate::ops::main_with`]): exit 0 when the check passes, 1 when it
/// fails or the backend cannot be opened (one line on stderr), 2 on bad input.
pub fn main_with(args: &CalibrateArgs, command: &str) -> i32 {
    if args.ops {
        return crate::ops::main_with(args.out.clone(), args.quick, command);
    }
    if DType::parse(&args.dtype).is_none() {
        eprintln!("error: --dtype {:?}: expected f32, f16 or bf16", args.dtype);
        return 2;
    }
    match calibrate(args, command) {
        Ok(o) => {
            let _ = print_checks(&o, &mut std::io::stdout());
            if o.passed() { 0 } else { 1 }
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("toml.partial");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Today's UTC date from the system clock, for the profile's header.
pub(crate) fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    date_of(secs)
}

/// The UTC date (`YYYY-MM-DD`) of a Unix time, by `chrono` (already in the
/// build through Polars' Arrow, so no new crate is compiled; its `std`
/// features suffice, no clock or time zone database).
fn date_of(unix_secs: i64) -> String {
    chrono::DateTime::from_timestamp(unix_secs, 0)
        .map_or_else(|| "unknown".into(), |t| t.date_naive().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_stacks_are_outside_the_grid() {
        for quick in [true, false] {
            let grid_hidden: Vec<u64> = grid(quick, false)
                .iter()
                .filter_map(|op| {
                    if let Op::RmsNorm { hidden, .. } = op {
                        Some(*hidden)
                    } else {
                        None
                    }
                })
                .collect();
            let grid_tokens: Vec<u64> = grid(quick, false)
                .iter()
                .filter_map(|op| {
                    if let Op::RmsNorm { tokens, .. } = op {
                        Some(*tokens)
                    } else {
                        None
                    }
                })
                .collect();
            let stacks = check_stacks(quick, false);
            for s in &stacks {
                assert!(!grid_hidden.contains(&(s.hidden as u64)), "{}", s.name);
            }
            // Token counts too, but for single-sequence decode (one token).
            assert!(
                stacks
                    .iter()
                    .filter(|s| s.tokens() > 1)
                    .all(|s| !grid_tokens.contains(&s.tokens()))
            );
        }
    }

    /// Known instants (from Python's `calendar.timegm`): the epoch, a
    /// 400-year leap day and the last second before a century's March.
    #[test]
    fn dates_of_known_instants() {
        assert_eq!(date_of(0), "1970-01-01");
        assert_eq!(date_of(951_782_400), "2000-02-29");
        assert_eq!(date_of(4_107_542_399), "2100-02-28");
    }

    #[test]
    fn today_is_a_date() {
        let d = today();
        assert_eq!(d.len(), 10);
        assert!(d.as_str() >= "2025-01-01", "{d}");
    }
}
