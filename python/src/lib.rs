//! `hacasim._hacasim`: the engine behind the Python package `hacasim`.
//!
//! A run happens in-process with the GIL released and its records kept in
//! memory; a table crosses to Python Polars through the Arrow C stream
//! interface (`__arrow_c_stream__`), without a copy, and `write` streams the
//! same records through the command line's own writer, so a run directory
//! written from Python is byte-identical to `hacasim run`'s. The Python
//! half (`hacasim/__init__.py`) wraps this module in the documented API.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use polars_arrow::array::{Array, StructArray};
use polars_arrow::datatypes::{ArrowDataType, Field};
use polars_arrow::ffi::export_iterator;
use pyo3::create_exception;
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyCapsule, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use reports::polars::prelude::{CompatLevel, DataFrame, PolarsResult};
use reports::{ParquetSink, RunTables};
use sim_core::{Scenario, ScenarioError, SimErrorKind, Summary};

create_exception!(
    _hacasim,
    ScenarioError_,
    PyValueError,
    "A scenario (or sweep) that is not valid; `file`, `line` (None where it cannot be located, as in a dict) and `key` say where."
);
create_exception!(
    _hacasim,
    InternalError,
    PyRuntimeError,
    "A bug of hacasim (a broken invariant or a Rust panic): please report it with the scenario."
);

/// The tables a run has, in the order `reports/README.md` lists them.
const TABLES: [&str; 7] = reports::RUN_TABLES;

fn scenario_error(py: Python<'_>, e: &ScenarioError) -> PyErr {
    scenario_error_shown(py, e, e.to_string())
}

/// A `ScenarioError` whose `str()` is `shown` (the message the CLI prints).
fn scenario_error_shown(py: Python<'_>, e: &ScenarioError, shown: String) -> PyErr {
    let err = ScenarioError_::new_err(shown);
    let value = err.value(py);
    // Attributes on a fresh exception object: setting them cannot fail.
    let _ = value.setattr("file", &e.file);
    let _ = value.setattr("line", e.line);
    let _ = value.setattr("key", &e.key);
    let _ = value.setattr("reason", &e.message);
    err
}

fn failure(f: hacasim::Failure) -> PyErr {
    if f.code == 2 {
        PyValueError::new_err(f.message)
    } else {
        InternalError::new_err(f.message)
    }
}

/// A Python value (from a scenario dict or a `set` override) as TOML.
fn to_toml(v: &Bound<'_, PyAny>, at: &str) -> PyResult<toml::Value> {
    if v.is_instance_of::<PyBool>() {
        return Ok(toml::Value::Boolean(v.extract()?));
    }
    if v.is_instance_of::<PyInt>() {
        return Ok(toml::Value::Integer(v.extract().map_err(|_| {
            PyValueError::new_err(format!("{at}: an integer beyond 64 bits"))
        })?));
    }
    if v.is_instance_of::<PyFloat>() {
        return Ok(toml::Value::Float(v.extract()?));
    }
    if v.is_instance_of::<PyString>() {
        return Ok(toml::Value::String(v.extract()?));
    }
    if let Ok(d) = v.cast::<PyDict>() {
        let mut t = toml::Table::new();
        for (k, x) in d.iter() {
            let k: String = k
                .extract()
                .map_err(|_| PyTypeError::new_err(format!("{at}: a key that is not a string")))?;
            let here = if at.is_empty() {
                k.clone()
            } else {
                format!("{at}.{k}")
            };
            t.insert(k, to_toml(&x, &here)?);
        }
        return Ok(toml::Value::Table(t));
    }
    if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
        let mut a = Vec::new();
        for (i, x) in v.try_iter()?.enumerate() {
            a.push(to_toml(&x?, &format!("{at}[{i}]"))?);
        }
        return Ok(toml::Value::Array(a));
    }
    Err(PyTypeError::new_err(format!(
        "{at}: a {} cannot be a scenario value (bool, int, float, str, list or dict)",
        v.get_type().name()?
    )))
}

/// A dict's TOML text (for scenarios and sweeps given as dicts).
#[pyfunction]
fn dict_to_toml(d: &Bound<'_, PyDict>) -> PyResult<String> {
    match to_toml(d.as_any(), "")? {
        toml::Value::Table(t) => toml::to_string(&t)
            .map_err(|e| PyValueError::new_err(format!("not expressible as TOML: {e}"))),
        _ => unreachable!("a dict converts to a table"),
    }
}

/// The scenario `scenario` (a path or a dict) with `set` applied, and the
/// folder its trace and profile files are relative to.
fn load(
    py: Python<'_>,
    scenario: &Bound<'_, PyAny>,
    set: Option<&Bound<'_, PyDict>>,
) -> PyResult<(Scenario, PathBuf)> {
    let (text, file, dir) = if let Ok(d) = scenario.cast::<PyDict>() {
        (dict_to_toml(d)?, "<dict>".to_string(), PathBuf::from("."))
    } else {
        let path: PathBuf = scenario
            .extract()
            .map_err(|_| PyTypeError::new_err("scenario: a path (str or os.PathLike) or a dict"))?;
        let text = std::fs::read_to_string(&path).map_err(|e| {
            PyOSError::new_err(format!("{}: cannot read scenario: {e}", path.display()))
        })?;
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        (text, path.display().to_string(), dir)
    };
    let mut s = hacasim::run::scenario_from_text(&text, &file, &dir).map_err(|mut e| {
        if file == "<dict>" {
            e.line = None; // a line of our own TOML rendering means nothing to the caller
        }
        scenario_error(py, &e)
    })?;
    if let Some(set) = set
        && !set.is_empty()
    {
        let mut overrides = Vec::new();
        for (k, v) in set.iter() {
            let k: String = k
                .extract()
                .map_err(|_| PyTypeError::new_err("set: keys are dotted key paths (str)"))?;
            let value = to_toml(&v, &k)?;
            overrides.push((k, value));
        }
        s = hacasim::sweep::with_overrides(&s, &overrides, &file)
            .map_err(|e| scenario_error(py, &e))?;
    }
    Ok((s, dir))
}

/// Runs `work` on a thread of its own while this one, the GIL released,
/// waits for it and checks now and then for a signal: Ctrl-C in a notebook
/// sets the stop flag, the run ends within milliseconds and the
/// `KeyboardInterrupt` is raised. A Rust panic becomes an `InternalError`.
fn interruptible<T: Send>(
    py: Python<'_>,
    stop: &AtomicBool,
    work: impl FnOnce() -> T + Send,
) -> PyResult<T> {
    std::thread::scope(|scope| {
        let (done, finished) = std::sync::mpsc::channel::<()>();
        // A Receiver is not Sync; the waits below borrow it from the GIL-free side.
        let finished = std::sync::Mutex::new(finished);
        let handle = std::thread::Builder::new()
            .name("hacasim".into())
            .stack_size(8 << 20)
            .spawn_scoped(scope, move || {
                let r = guarded(|| Ok(work()));
                let _ = done.send(());
                r
            })
            .map_err(|e| InternalError::new_err(format!("cannot start a thread: {e}")))?;
        loop {
            let over = py.detach(|| {
                let finished = finished.lock().unwrap_or_else(|e| e.into_inner());
                finished.recv_timeout(Duration::from_millis(50)).is_ok()
            });
            if over || handle.is_finished() {
                break;
            }
            if let Err(e) = py.check_signals() {
                stop.store(true, Ordering::Relaxed);
                let _ = py.detach(|| handle.join());
                return Err(e);
            }
        }
        // `guarded` caught any panic of the work; the join cannot fail.
        handle
            .join()
            .unwrap_or_else(|panic| Err(panic_error(&*panic)))
    })
}

/// The `InternalError` that reports a panic as the bug it is.
fn panic_error(panic: &(dyn std::any::Any + Send)) -> PyErr {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into());
    InternalError::new_err(format!("hacasim bug: a panic: {message}"))
}

/// Runs `f`, a Rust panic in it becoming an `InternalError` that names it a
/// bug rather than crossing into Python as pyo3's `PanicException`.
fn guarded<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|panic| Err(panic_error(&*panic)))
}

/// One finished run: its scenario, summary and the records of the tables
/// asked for, in memory.
struct RunData {
    scenario: Scenario,
    /// The folder the scenario's trace and profile files are relative to.
    dir: PathBuf,
    summary: Summary,
    /// The kept tables as the row groups the CLI writes.
    tables: RunTables,
    /// Which of [`TABLES`] were kept (the others' records were dropped).
    kept: [bool; 7],
}

/// Keeps the records of the tables asked for and drops the rest as they
/// come: a Monte-Carlo loop that reads only the summary need hold nothing.
struct Keep<'a> {
    kept: [bool; 7],
    records: &'a mut ParquetSink,
}

impl sim_core::records::RecordSink for Keep<'_> {
    fn block(&mut self, r: sim_core::records::BlockRecord) {
        if self.kept[0] {
            self.records.block(r)
        }
    }
    fn round(&mut self, r: sim_core::records::RoundRecord) {
        if self.kept[1] {
            self.records.round(r)
        }
    }
    fn node(&mut self, r: sim_core::records::NodeRecord) {
        if self.kept[2] {
            self.records.node(r)
        }
    }
    fn request(&mut self, r: sim_core::records::RequestRecord) {
        if self.kept[3] {
            self.records.request(r)
        }
    }
    fn gpu_node(&mut self, r: sim_core::records::GpuNodeRecord) {
        if self.kept[4] {
            self.records.gpu_node(r)
        }
    }
    fn ledger(&mut self, r: sim_core::records::LedgerRecord) {
        if self.kept[5] {
            self.records.ledger(r)
        }
    }
    fn market(&mut self, r: sim_core::records::MarketRecord) {
        if self.kept[6] {
            self.records.market(r)
        }
    }
}

/// A finished run (the Python `Run` wraps it).
#[pyclass(frozen, module = "hacasim._hacasim")]
struct RunCore(Arc<RunData>);

/// One table of a run, handed to Polars through `__arrow_c_stream__`.
#[pyclass(frozen, module = "hacasim._hacasim")]
struct ArrowTable {
    frame: DataFrame,
}

/// Where `name` is in [`TABLES`], or the error listing them.
fn table_index(name: &str) -> PyResult<usize> {
    TABLES.iter().position(|t| *t == name).ok_or_else(|| {
        PyValueError::new_err(format!(
            "no table {name:?}; the tables are {}",
            TABLES.join(", ")
        ))
    })
}

impl RunData {
    fn frame(&self, name: &str) -> PyResult<PolarsResult<DataFrame>> {
        if !self.kept[table_index(name)?] {
            return Err(PyValueError::new_err(format!(
                "table {name:?} was not kept: run with tables=None (all) or naming it"
            )));
        }
        Ok(self.tables.get(name).expect("every table is kept").frame())
    }
}

#[pymethods]
impl RunCore {
    /// `summary.json`'s text.
    fn summary_json(&self) -> String {
        serde_json::to_string_pretty(&self.0.summary).expect("summary serialises")
    }

    /// The resolved scenario as TOML (what the run directory's scenario.toml holds).
    fn scenario_toml(&self) -> String {
        self.0.scenario.to_toml()
    }

    fn seed(&self) -> u64 {
        self.0.scenario.seed
    }

    fn table(&self, name: &str) -> PyResult<ArrowTable> {
        guarded(|| {
            let frame = self
                .0
                .frame(name)?
                .map_err(|e| InternalError::new_err(format!("hacasim bug: table {name}: {e}")))?;
            Ok(ArrowTable { frame })
        })
    }

    /// Writes the run directory `hacasim run` writes, through a staging
    /// directory (nothing half-written); `force` replaces one that exists.
    fn write(&self, py: Python<'_>, dir: PathBuf, force: bool) -> PyResult<String> {
        if let Some(i) = self.0.kept.iter().position(|k| !k) {
            return Err(PyValueError::new_err(format!(
                "write needs every table, and {:?} was not kept (run with tables=None)",
                TABLES[i]
            )));
        }
        let data = self.0.clone();
        guarded(|| {
            py.detach(move || -> Result<PathBuf, hacasim::Failure> {
                let staged = hacasim::output::StagedDir::create(&dir, force)?;
                let mut scenario = data.scenario.clone();
                hacasim::run::copy_inputs(
                    &mut scenario,
                    &data.dir.join("scenario.toml"),
                    staged.path(),
                )?;
                hacasim::run::write_tables(&scenario, staged.path(), &data.tables, &data.summary)?;
                staged.commit()
            })
            .map(|p| p.display().to_string())
            .map_err(failure)
        })
    }
}

#[pymethods]
impl ArrowTable {
    /// The Arrow PyCapsule interface: one stream of record batches.
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema; // the table's own schema is the only one offered
        guarded(|| self.stream(py))
    }

    fn __len__(&self) -> usize {
        self.frame.height()
    }
}

impl ArrowTable {
    fn stream<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        let batches: Vec<Box<dyn Array>> = self
            .frame
            .iter_chunks(CompatLevel::newest(), false)
            .map(|batch| {
                let fields: Vec<Field> = batch.schema().iter_values().cloned().collect();
                let height = batch.height();
                Box::new(StructArray::new(
                    ArrowDataType::Struct(fields),
                    height,
                    batch.into_arrays(),
                    None,
                )) as Box<dyn Array>
            })
            .collect();
        let fields: Vec<Field> = self
            .frame
            .schema()
            .iter()
            .map(|(name, dtype)| dtype.to_arrow_field(name.clone(), CompatLevel::newest()))
            .collect();
        let field = Field::new("".into(), ArrowDataType::Struct(fields), false);
        let stream = export_iterator(Box::new(batches.into_iter().map(Ok)), field);
        // The consumer moves the stream out (its `release` then null); one
        // not consumed is released when the capsule drops it.
        PyCapsule::new_with_value(py, stream, c"arrow_array_stream")
    }
}

/// Runs a scenario (a path or a dict) in-process; see `hacasim.run`.
#[pyfunction]
#[pyo3(signature = (scenario, seed=None, set=None, tables=None))]
fn run(
    py: Python<'_>,
    scenario: &Bound<'_, PyAny>,
    seed: Option<u64>,
    set: Option<&Bound<'_, PyDict>>,
    tables: Option<Vec<String>>,
) -> PyResult<RunCore> {
    let kept = match tables {
        None => [true; 7],
        Some(names) => {
            let mut kept = [false; 7];
            for n in &names {
                kept[table_index(n)?] = true;
            }
            kept
        }
    };
    let (mut scenario, dir) = guarded(|| load(py, scenario, set))?;
    if let Some(seed) = seed {
        scenario.seed = seed;
    }
    let stop = AtomicBool::new(false);
    let (scenario, result) = interruptible(py, &stop, || {
        let mut records =
            ParquetSink::in_memory().with_request_plots(scenario.duration.as_secs_f64());
        let mut keep = Keep {
            kept,
            records: &mut records,
        };
        let result = sim_core::Simulation::new(&scenario, scenario.seed).run_until_stopped(
            &mut keep,
            &mut |_| {},
            &stop,
        );
        let result = result.map(|summary| (summary, records.finish_in_memory()));
        (scenario, result)
    })?;
    match result {
        Ok((summary, tables)) => Ok(RunCore(Arc::new(RunData {
            scenario,
            dir,
            summary,
            tables: tables.map_err(|e| InternalError::new_err(format!("hacasim bug: {e}")))?,
            kept,
        }))),
        Err(e) => Err(match e.kind {
            // `check_signals` raised already; a stop without a signal is ours.
            SimErrorKind::Overload => PyValueError::new_err(e.to_string()),
            SimErrorKind::Internal | SimErrorKind::Interrupted => {
                InternalError::new_err(format!("hacasim bug: {e}"))
            }
        }),
    }
}

/// Checks a scenario without running it; see `hacasim.validate`.
#[pyfunction]
#[pyo3(signature = (scenario, set=None))]
fn validate<'py>(
    py: Python<'py>,
    scenario: &Bound<'py, PyAny>,
    set: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    let (s, _) = guarded(|| load(py, scenario, set))?;
    let out = PyDict::new(py);
    out.set_item("name", &s.name)?;
    out.set_item("validators", s.validator_specs().len())?;
    out.set_item("regions", s.network.regions.len())?;
    out.set_item("duration_s", s.duration.as_secs_f64())?;
    out.set_item("seed", s.seed)?;
    Ok(out)
}

/// Runs a sweep file into `out` exactly as `hacasim sweep` does; see `hacasim.sweep`.
#[pyfunction]
#[pyo3(signature = (sweep, out, jobs=None, resume=false, force=false))]
fn sweep(
    py: Python<'_>,
    sweep: PathBuf,
    out: PathBuf,
    jobs: Option<usize>,
    resume: bool,
    force: bool,
) -> PyResult<()> {
    let sweep_path = sweep.clone();
    let args = hacasim::sweep::SweepArgs {
        sweep,
        out: Some(out),
        jobs,
        resume,
        force,
        quiet: true,
        ..Default::default()
    };
    // Ctrl-C sets the sweep's own flag: runs in flight stop, none starts.
    let stop = args.stop.clone();
    let result = interruptible(py, &stop, || hacasim::sweep::sweep(&args))?;
    result.map_err(|f| match f.code {
        2 => scenario_error_shown(py, &sweep_error(&sweep_path, &f.message), f.message),
        _ => InternalError::new_err(f.message),
    })
}

/// A sweep's bad-input message (`FILE:LINE: key `K`: …`, `FILE:LINE: …` or
/// a message of its own, such as an output folder that exists) as a
/// [`ScenarioError`], so that `file`, `line` and `key` are there to read.
fn sweep_error(sweep: &Path, message: &str) -> ScenarioError {
    let file = sweep.display().to_string();
    let located = message
        .strip_prefix(&format!("{file}:"))
        .and_then(|rest| rest.split_once(": "))
        .and_then(|(line, rest)| Some((line.parse::<usize>().ok()?, rest)));
    let (line, key, reason) = match located {
        Some((line, rest)) => match rest.strip_prefix("key `").and_then(|r| r.split_once("`: ")) {
            Some((key, reason)) => (Some(line), key.to_string(), reason),
            None => (Some(line), String::new(), rest),
        },
        None => (None, String::new(), message),
    };
    ScenarioError {
        file,
        line,
        key,
        message: reason.to_string(),
    }
}

#[pymodule]
fn _hacasim(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(validate, m)?)?;
    m.add_function(wrap_pyfunction!(sweep, m)?)?;
    m.add_function(wrap_pyfunction!(dict_to_toml, m)?)?;
    m.add_class::<RunCore>()?;
    m.add_class::<ArrowTable>()?;
    m.add("ScenarioError", m.py().get_type::<ScenarioError_>())?;
    m.add("InternalError", m.py().get_type::<InternalError>())?;
    m.add("TABLES", TABLES.to_vec())?;
    Ok(())
}
