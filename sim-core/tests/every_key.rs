//! Every numeric key, one at a time (issue #22): each numeric key of the
//! resolved default scenario, and of the other scenarios for keys the
//! default lacks, is set to 0, a negative number, the largest value the
//! check accepts, one past it, NaN and ±infinity. Each variant is either
//! refused with file, line and key (the CLI's exit 2) or runs without a
//! panic; the largest accepted value must run too — that is where overflows
//! hide. The CLI's side (exit codes, nothing written) is in tests/cli.rs.
//!
//! A key is a path such as `economics.treasury` or `validators[0].count`;
//! an array of numbers (the latency matrix, a trace) is one key, reached
//! through its first element. The largest accepted value is found by
//! bisection on what `Scenario::from_toml_str` accepts, from the key's own
//! value up to `i64::MAX` or `f64::MAX`.

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use sim_core::{NullSink, Scenario, SimDuration, sim};
use toml::Value;

/// A run is stopped (and counted as surviving) after this long: the test is
/// about panics, not about how long a huge but valid scenario takes.
const WALL_BUDGET: Duration = Duration::from_secs(4);
/// Runs are cut to this much simulated time.
const SIM_CAP_S: u64 = 5;

fn scenarios() -> Vec<(String, String)> {
    let root = format!("{}/../scenarios", env!("CARGO_MANIFEST_DIR"));
    [
        "default.toml",
        "trust-gap-modes.toml",
        "shock-base.toml",
        "coupled-vs-decoupled-base.toml",
        "deflation.toml",
        "tests/byzantine-split.toml",
        "tests/trace-workload.toml",
        "tests/multimodal.toml",
        "tests/p2p-small.toml",
        "model-upgrade-base.toml",
    ]
    .iter()
    .map(|f| {
        let path = format!("{root}/{f}");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        (path, text)
    })
    .collect()
}

fn load(path: &str, text: &str) -> Result<Scenario, sim_core::scenario::ScenarioError> {
    let mut s = Scenario::from_toml_str(text, path)?;
    let dir = std::path::Path::new(path).parent().unwrap().to_path_buf();
    s.attach_files(text, path, &mut |name| {
        std::fs::read_to_string(dir.join(name)).map_err(|e| e.to_string())
    })?;
    Ok(s)
}

/// One step of a key path: a table key or an array index.
#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

/// A key path, and how it is written (`a.b[0].c`; keys holding dots quoted).
#[derive(Clone, Debug)]
struct KeyPath {
    steps: Vec<Step>,
    int: bool,
}

impl KeyPath {
    fn show(&self, generic: bool) -> String {
        let mut out = String::new();
        for s in &self.steps {
            match s {
                Step::Key(k) if k.contains('.') => out.push_str(&format!(".{k:?}")),
                Step::Key(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k)
                }
                Step::Index(_) if generic => out.push_str("[]"),
                Step::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    }
}

/// Numeric leaves under `v`.
fn numeric_keys(v: &Value, path: &mut Vec<Step>, out: &mut Vec<KeyPath>) {
    let mut leaf = |int| {
        out.push(KeyPath {
            steps: path.clone(),
            int,
        })
    };
    match v {
        Value::Integer(_) => leaf(true),
        Value::Float(_) => leaf(false),
        Value::Table(t) => {
            for (k, x) in t {
                path.push(Step::Key(k.clone()));
                numeric_keys(x, path, out);
                path.pop();
            }
        }
        Value::Array(a) => {
            let tables = a.iter().all(|x| matches!(x, Value::Table(_)));
            for (i, x) in a.iter().enumerate().take(if tables { a.len() } else { 1 }) {
                path.push(Step::Index(i));
                numeric_keys(x, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn slot<'a>(root: &'a mut Value, path: &KeyPath) -> &'a mut Value {
    let mut here = root;
    for s in &path.steps {
        here = match s {
            Step::Key(k) => &mut here[k.as_str()],
            Step::Index(i) => &mut here[*i],
        };
    }
    here
}

fn with(base: &Value, path: &KeyPath, v: Value) -> String {
    let mut t = base.clone();
    *slot(&mut t, path) = v;
    toml::to_string(&t).unwrap()
}

/// Bisection for the largest accepted value above `from` (accepted).
fn largest_accepted(path: &KeyPath, base: &Value, file: &str, from: &Value) -> Value {
    let int = path.int;
    let ok = |v: Value| Scenario::from_toml_str(&with(base, path, v), file).is_ok();
    if int {
        let (mut lo, mut hi) = (from.as_integer().unwrap().max(0), i64::MAX);
        if ok(Value::Integer(hi)) {
            return Value::Integer(hi);
        }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if ok(Value::Integer(mid)) {
                lo = mid
            } else {
                hi = mid
            }
        }
        Value::Integer(lo)
    } else {
        // Positive floats are ordered as their bit patterns.
        let start = from.as_float().unwrap().max(0.0);
        let (mut lo, mut hi) = (start.to_bits(), f64::MAX.to_bits());
        if ok(Value::Float(f64::MAX)) {
            return Value::Float(f64::MAX);
        }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if ok(Value::Float(f64::from_bits(mid))) {
                lo = mid
            } else {
                hi = mid
            }
        }
        Value::Float(f64::from_bits(lo))
    }
}

fn one_past(v: &Value) -> Option<Value> {
    match v {
        Value::Integer(n) => n.checked_add(1).map(Value::Integer),
        Value::Float(x) if *x < f64::MAX => Some(Value::Float(f64::from_bits(x.to_bits() + 1))),
        Value::Float(_) => Some(Value::Float(f64::INFINITY)),
        _ => None,
    }
}

/// A panic raised from the progress callback to stop a long run.
struct OutOfTime;

/// Runs a scenario that the check accepted; a panic fails the test, and
/// so does an error (a run the check lets through must not fail later).
fn runs_cleanly(s: &mut Scenario, what: &str) -> Result<(), String> {
    s.duration = s.duration.min(SimDuration::from_secs(SIM_CAP_S));
    let started = Instant::now();
    let result = catch_unwind(AssertUnwindSafe(|| {
        sim::run(s, 1, &mut NullSink, &mut |_| {
            if started.elapsed() > WALL_BUDGET {
                std::panic::panic_any(OutOfTime);
            }
        })
    }));
    match result {
        Ok(Ok(_)) => Ok(()),
        // The in-flight guard: a problem of the input, the CLI's exit 2.
        Ok(Err(e)) if e.kind == sim_core::sim::SimErrorKind::Overload => Ok(()),
        Ok(Err(e)) => Err(format!("{what}: accepted by the check, then failed: {e}")),
        Err(p) if p.is::<OutOfTime>() => Ok(()),
        Err(p) => {
            let m = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(format!("{what}: panicked: {m}"))
        }
    }
}

#[test]
fn every_numeric_key_at_its_limits_is_refused_or_runs() {
    // Keep the panics this test provokes on purpose (OutOfTime) quiet.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !info.payload().is::<OutOfTime>() {
            hook(info)
        }
    }));
    let mut seen = BTreeSet::new();
    let mut failures = Vec::new();
    let (mut refused, mut ran, mut keys) = (0, 0, 0);
    for (file, text) in scenarios() {
        let resolved = load(&file, &text).unwrap_or_else(|e| panic!("{e}"));
        let base: Value = toml::from_str(&resolved.to_toml()).unwrap();
        let mut found = Vec::new();
        numeric_keys(&base, &mut Vec::new(), &mut found);
        for path in found {
            // A key is tried once, in the first scenario (and group) that has it.
            if !seen.insert(path.show(true)) {
                continue;
            }
            keys += 1;
            if std::env::var_os("EVERY_KEY_TRACE").is_some() {
                eprintln!("key {}", path.show(false));
            }
            let current = slot(&mut base.clone(), &path).clone();
            let largest = largest_accepted(&path, &base, &file, &current);
            let int = path.int;
            let mut values = vec![
                (if int {
                    Value::Integer(0)
                } else {
                    Value::Float(0.0)
                }),
                (if int {
                    Value::Integer(-1)
                } else {
                    Value::Float(-1.5)
                }),
                Value::Float(f64::NAN),
                Value::Float(f64::INFINITY),
                Value::Float(f64::NEG_INFINITY),
                largest.clone(),
            ];
            values.extend(one_past(&largest));
            for v in values {
                let what = format!("{file}: {} = {v}", path.show(false));
                let text = with(&base, &path, v);
                let parsed = catch_unwind(AssertUnwindSafe(|| load(&file, &text)));
                match parsed {
                    Err(_) => failures.push(format!("{what}: the check panicked")),
                    Ok(Err(e)) => {
                        refused += 1;
                        assert!(e.line.is_some() && !e.key.is_empty(), "{what}: {e}");
                    }
                    Ok(Ok(mut s)) => {
                        ran += 1;
                        if let Err(f) = runs_cleanly(&mut s, &what) {
                            failures.push(f);
                        }
                    }
                }
            }
        }
    }
    eprintln!("{keys} keys: {refused} variants refused, {ran} ran");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(keys > 100, "numeric keys found: {keys}");
    assert!(refused > 0 && ran > 0);
}
