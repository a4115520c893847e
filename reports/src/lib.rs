//! Tables, plots and reports of hacasim runs. The only crate that uses Polars
//! and plotters: records stream from the simulation into Parquet files in
//! row groups, so memory stays flat however long the run; plots and
//! `report.html` are made from those files alone, so old runs can be re-plotted.

pub mod html;
pub mod plots;
pub mod sweep;
pub mod trajectories;

use std::fs::File;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use sim_core::Summary;
use sim_core::records::{
    BlockRecord, GpuNodeRecord, LedgerRecord, MarketRecord, NodeRecord, RecordSink, RequestRecord,
    RoundRecord,
};

pub use polars;

/// Rows buffered per table before they are written as one Parquet row group
/// (a table may ask for more, [`Table::GROUP_ROWS`]): small enough that a
/// run's buffers stay a few MB whatever its length, large enough for
/// Parquet's compression.
///
/// Why row groups are not smaller still (issue #8's flat memory): the Parquet
/// writer keeps, until the footer, a few KB of page and column metadata per
/// column per row group (for the page index), so memory grows with the
/// number of row groups: about 0.9 MB per simulated hour for the requests
/// table of the default scenario at 8,192 rows, a quarter of that at 32,768.
pub const ROW_GROUP_ROWS: usize = 8_192;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Polars { path: PathBuf, source: PolarsError },
    #[error("plot: {0}")]
    Plot(String),
    #[error("{path}: {message}")]
    Input { path: PathBuf, message: String },
    /// A table that does not read back: bad input, not a bug of ours.
    #[error("{path}: not a readable Parquet table, corrupt or truncated ({message})")]
    Corrupt { path: PathBuf, message: String },
}

impl ReportError {
    /// Whether the error lies in a file given to us (exit 2), not in our
    /// own work (exit 1).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            ReportError::Input { .. } | ReportError::Corrupt { .. }
        )
    }
}

thread_local! {
    /// Set while a Parquet reader runs on this thread: its panics are caught
    /// and reported as a corrupt file, so the panic hook stays quiet.
    static READING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs a Parquet read of `path`, turning both its errors and a panic
/// inside the reader into [`ReportError::Corrupt`] naming the file: polars'
/// decoders still panic on some corrupt pages (seen: a flipped byte in a
/// dictionary-encoded page), and a corrupt file is bad input, not a crash.
pub fn read_guarded<T>(
    path: &Path,
    read: impl FnOnce() -> PolarsResult<T>,
) -> Result<T, ReportError> {
    static QUIET_HOOK: std::sync::Once = std::sync::Once::new();
    QUIET_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !READING.with(|r| r.get()) {
                previous(info);
            }
        }));
    });
    let was = READING.with(|r| r.replace(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(read));
    READING.with(|r| r.set(was));
    let corrupt = |message: String| ReportError::Corrupt {
        path: path.to_path_buf(),
        message,
    };
    match result {
        Ok(Ok(x)) => Ok(x),
        Ok(Err(e)) => Err(corrupt(e.to_string())),
        Err(panic) => Err(corrupt(
            panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .map_or("the reader panicked".into(), |m| {
                    format!("the reader panicked: {m}")
                }),
        )),
    }
}

/// A record type that becomes one Parquet table.
pub trait Table: Sized {
    /// File stem, e.g. `blocks` for `blocks.parquet`.
    const NAME: &'static str;
    /// The rows as a data frame (also used, with no rows, for the schema).
    fn frame(rows: &[Self]) -> PolarsResult<DataFrame>;
    /// Rows per row group; the buffer is this size from the first row on, so
    /// that memory does not creep up as a slow table fills its first group.
    const GROUP_ROWS: usize = ROW_GROUP_ROWS;
}

fn col<T, P: ?Sized>(name: &str, values: T) -> Column
where
    Series: NamedFrom<T, P>,
{
    Column::new(name.into(), values)
}

impl Table for BlockRecord {
    const NAME: &'static str = "blocks";
    fn frame(rows: &[Self]) -> PolarsResult<DataFrame> {
        DataFrame::new(
            rows.len(),
            vec![
                col(
                    "height",
                    rows.iter().map(|r| r.height).collect::<Vec<u64>>(),
                ),
                col("round", rows.iter().map(|r| r.round).collect::<Vec<u32>>()),
                col(
                    "proposer",
                    rows.iter().map(|r| r.proposer as u32).collect::<Vec<u32>>(),
                ),
                col("txs", rows.iter().map(|r| r.txs).collect::<Vec<u32>>()),
                col("bytes", rows.iter().map(|r| r.bytes).collect::<Vec<u64>>()),
                col(
                    "proposed_at_s",
                    rows.iter().map(|r| r.proposed_at_s).collect::<Vec<f64>>(),
                ),
                col(
                    "committed_at_s",
                    rows.iter().map(|r| r.committed_at_s).collect::<Vec<f64>>(),
                ),
                col(
                    "interval_s",
                    rows.iter()
                        .map(|r| r.interval_s)
                        .collect::<Vec<Option<f64>>>(),
                ),
                col(
                    "mempool_pending",
                    rows.iter().map(|r| r.mempool_pending).collect::<Vec<u64>>(),
                ),
                col(
                    "tx_latency_mean_s",
                    rows.iter()
                        .map(|r| r.tx_latency_mean_s)
                        .collect::<Vec<Option<f64>>>(),
                ),
                col(
                    "gas_used",
                    rows.iter().map(|r| r.gas_used).collect::<Vec<u64>>(),
                ),
                col(
                    "gas_target",
                    rows.iter().map(|r| r.gas_target).collect::<Vec<u64>>(),
                ),
                col(
                    "base_fee",
                    rows.iter().map(|r| r.base_fee).collect::<Vec<u64>>(),
                ),
                col(
                    "burned",
                    rows.iter().map(|r| r.burned).collect::<Vec<u64>>(),
                ),
                col("tips", rows.iter().map(|r| r.tips).collect::<Vec<u64>>()),
                col(
                    "minted",
                    rows.iter().map(|r| r.minted).collect::<Vec<u64>>(),
                ),
            ],
        )
    }
}

impl Table for RoundRecord {
    const NAME: &'static str = "consensus_rounds";
    fn frame(rows: &[Self]) -> PolarsResult<DataFrame> {
        DataFrame::new(
            rows.len(),
            vec![
                col(
                    "height",
                    rows.iter().map(|r| r.height).collect::<Vec<u64>>(),
                ),
                col("round", rows.iter().map(|r| r.round).collect::<Vec<u32>>()),
                col(
                    "proposer",
                    rows.iter().map(|r| r.proposer as u32).collect::<Vec<u32>>(),
                ),
                col(
                    "started_at_s",
                    rows.iter().map(|r| r.started_at_s).collect::<Vec<f64>>(),
                ),
                col(
                    "proposal_at_s",
                    rows.iter()
                        .map(|r| r.proposal_at_s)
                        .collect::<Vec<Option<f64>>>(),
                ),
                col(
                    "committed",
                    rows.iter().map(|r| r.committed).collect::<Vec<bool>>(),
                ),
            ],
        )
    }
}

impl Table for NodeRecord {
    const NAME: &'static str = "nodes";
    fn frame(rows: &[Self]) -> PolarsResult<DataFrame> {
        let s = |f: fn(&NodeRecord) -> &str| {
            rows.iter()
                .map(|r| f(r).to_string())
                .collect::<Vec<String>>()
        };
        DataFrame::new(
            rows.len(),
            vec![
                col("id", rows.iter().map(|r| r.id as u32).collect::<Vec<u32>>()),
                col("name", s(|r| &r.name)),
                col("group", s(|r| &r.group)),
                col("region", s(|r| &r.region)),
                col("power", rows.iter().map(|r| r.power).collect::<Vec<u64>>()),
                col("behaviour", s(|r| &r.behaviour)),
                col(
                    "proposals",
                    rows.iter().map(|r| r.proposals).collect::<Vec<u64>>(),
                ),
                col(
                    "votes_sent",
                    rows.iter().map(|r| r.votes_sent).collect::<Vec<u64>>(),
                ),
                col(
                    "messages_received",
                    rows.iter()
                        .map(|r| r.messages_received)
                        .collect::<Vec<u64>>(),
                ),
                col(
                    "heights_committed",
                    rows.iter()
                        .map(|r| r.heights_committed)
                        .collect::<Vec<u64>>(),
                ),
                col(
                    "heights_synced",
                    rows.iter().map(|r| r.heights_synced).collect::<Vec<u64>>(),
                ),
                col(
                    "final_height",
                    rows.iter().map(|r| r.final_height).collect::<Vec<u64>>(),
                ),
                col(
                    "crashed_at_end",
                    rows.iter().map(|r| r.crashed_at_end).collect::<Vec<bool>>(),
                ),
                col("hardware", s(|r| &r.hardware)),
                col(
                    "unable_to_execute",
                    rows.iter()
                        .map(|r| r.unable_to_execute)
                        .collect::<Vec<bool>>(),
                ),
                col(
                    "unable_at_s",
                    rows.iter()
                        .map(|r| r.unable_at_s)
                        .collect::<Vec<Option<f64>>>(),
                ),
                col(
                    "diverged",
                    rows.iter().map(|r| r.diverged).collect::<Vec<bool>>(),
                ),
                col(
                    "verify_cpu_s",
                    rows.iter().map(|r| r.verify_cpu_s).collect::<Vec<f64>>(),
                ),
            ],
        )
    }
}

impl Table for RequestRecord {
    const NAME: &'static str = "requests";
    /// The table that grows fastest (one row per request): larger groups
    /// mean fewer groups' metadata held until the footer (see ROW_GROUP_ROWS).
    const GROUP_ROWS: usize = 4 * ROW_GROUP_ROWS;
    fn frame(rows: &[Self]) -> PolarsResult<DataFrame> {
        let t =
            |f: fn(&RequestRecord) -> Option<f64>| rows.iter().map(f).collect::<Vec<Option<f64>>>();
        DataFrame::new(
            rows.len(),
            vec![
                col("id", rows.iter().map(|r| r.id).collect::<Vec<u64>>()),
                col(
                    "stream",
                    rows.iter()
                        .map(|r| r.stream.as_str())
                        .collect::<Vec<&str>>(),
                ),
                col(
                    "model",
                    rows.iter().map(|r| r.model.as_str()).collect::<Vec<&str>>(),
                ),
                col("mode", rows.iter().map(|r| r.mode).collect::<Vec<&str>>()),
                col(
                    "node",
                    rows.iter().map(|r| r.node as u32).collect::<Vec<u32>>(),
                ),
                col(
                    "prompt_tokens",
                    rows.iter().map(|r| r.prompt_tokens).collect::<Vec<u32>>(),
                ),
                col(
                    "output_tokens",
                    rows.iter().map(|r| r.output_tokens).collect::<Vec<u32>>(),
                ),
                col(
                    "images",
                    rows.iter().map(|r| r.images).collect::<Vec<u32>>(),
                ),
                col(
                    "submitted_s",
                    rows.iter().map(|r| r.submitted_s).collect::<Vec<f64>>(),
                ),
                col("started_s", t(|r| r.started_s)),
                col("first_token_s", t(|r| r.first_token_s)),
                col("delivered_s", t(|r| r.delivered_s)),
                col("settled_s", t(|r| r.settled_s)),
                col("proof_started_s", t(|r| r.proof_started_s)),
                col("proof_done_s", t(|r| r.proof_done_s)),
                col("finalised_s", t(|r| r.finalised_s)),
                col(
                    "honest",
                    rows.iter().map(|r| r.honest).collect::<Vec<bool>>(),
                ),
                col("detected_s", t(|r| r.detected_s)),
                col(
                    "value_at_risk_usd",
                    rows.iter()
                        .map(|r| r.value_at_risk_usd)
                        .collect::<Vec<f64>>(),
                ),
                col(
                    "fee_usd",
                    rows.iter().map(|r| r.fee_usd).collect::<Vec<f64>>(),
                ),
                col("trust_gap_s", t(|r| r.trust_gap_s)),
                col(
                    "outcome",
                    rows.iter().map(|r| r.outcome).collect::<Vec<&str>>(),
                ),
                col("abandoned_s", t(|r| r.abandoned_s)),
            ],
        )
    }
}

impl Table for GpuNodeRecord {
    const NAME: &'static str = "gpu_nodes";
    fn frame(rows: &[Self]) -> PolarsResult<DataFrame> {
        let s = |f: fn(&GpuNodeRecord) -> &str| {
            rows.iter()
                .map(|r| f(r).to_string())
                .collect::<Vec<String>>()
        };
        DataFrame::new(
            rows.len(),
            vec![
                col("id", rows.iter().map(|r| r.id as u32).collect::<Vec<u32>>()),
                col("name", s(|r| &r.name)),
                col("group", s(|r| &r.group)),
                col("hardware", s(|r| &r.hardware)),
                col("model", s(|r| &r.model)),
                col("tee", rows.iter().map(|r| r.tee).collect::<Vec<bool>>()),
                col(
                    "dishonest_probability",
                    rows.iter()
                        .map(|r| r.dishonest_probability)
                        .collect::<Vec<f64>>(),
                ),
                col(
                    "served",
                    rows.iter().map(|r| r.served).collect::<Vec<u64>>(),
                ),
                col(
                    "wrong_results",
                    rows.iter().map(|r| r.wrong_results).collect::<Vec<u64>>(),
                ),
                col(
                    "slashed",
                    rows.iter().map(|r| r.slashed).collect::<Vec<u64>>(),
                ),
                col(
                    "utilisation",
                    rows.iter().map(|r| r.utilisation).collect::<Vec<f64>>(),
                ),
                col(
                    "mean_in_system",
                    rows.iter().map(|r| r.mean_in_system).collect::<Vec<f64>>(),
                ),
            ],
        )
    }
}

impl Table for MarketRecord {
    const NAME: &'static str = "market";
    fn frame(rows: &[Self]) -> PolarsResult<DataFrame> {
        let f = |g: fn(&MarketRecord) -> f64| rows.iter().map(g).collect::<Vec<f64>>();
        let u = |g: fn(&MarketRecord) -> u64| rows.iter().map(g).collect::<Vec<u64>>();
        DataFrame::new(
            rows.len(),
            vec![
                col("time_s", f(|r| r.time_s)),
                col("price_usd", f(|r| r.price_usd)),
                col("requests", u(|r| r.requests)),
                col("minted", u(|r| r.minted)),
                col("burned", u(|r| r.burned)),
                col("net_issuance_fraction", f(|r| r.net_issuance_fraction)),
                col(
                    "active_operators",
                    rows.iter()
                        .map(|r| r.active_operators)
                        .collect::<Vec<u32>>(),
                ),
                col("operator_income_usd", f(|r| r.operator_income_usd)),
                col("operator_cost_usd", f(|r| r.operator_cost_usd)),
            ],
        )
    }
}

impl Table for LedgerRecord {
    const NAME: &'static str = "ledger";
    fn frame(rows: &[Self]) -> PolarsResult<DataFrame> {
        let u = |f: fn(&LedgerRecord) -> u64| rows.iter().map(f).collect::<Vec<u64>>();
        DataFrame::new(
            rows.len(),
            vec![
                col(
                    "time_s",
                    rows.iter().map(|r| r.time_s).collect::<Vec<f64>>(),
                ),
                col("height", u(|r| r.height)),
                col("supply", u(|r| r.supply)),
                col("minted", u(|r| r.minted)),
                col("burned", u(|r| r.burned)),
                col("slashed", u(|r| r.slashed)),
                col(
                    "net_issuance_annualised_pct",
                    rows.iter()
                        .map(|r| r.net_issuance_annualised_pct)
                        .collect::<Vec<f64>>(),
                ),
                col("base_fee", u(|r| r.base_fee)),
                col("fees_to_gpu_nodes", u(|r| r.fees_to_gpu_nodes)),
                col("fees_to_provers", u(|r| r.fees_to_provers)),
                col("tips_to_proposers", u(|r| r.tips_to_proposers)),
                col("emission_to_validators", u(|r| r.emission_to_validators)),
                col("emission_to_delegators", u(|r| r.emission_to_delegators)),
                col("emission_to_gpu_nodes", u(|r| r.emission_to_gpu_nodes)),
                col("to_treasury", u(|r| r.to_treasury)),
            ],
        )
    }
}

/// Where a table's row groups go.
enum Destination {
    /// `<dir>/<NAME>.parquet`, opened at the first row group.
    File(Option<Box<BatchedWriter<File>>>),
    /// Memory, as data frames (the Python package's runs, [`RunTables`]).
    Memory(Vec<DataFrame>),
}

/// Streams rows of one table into `<dir>/<NAME>.parquet`, or into memory,
/// a row group at a time.
pub struct TableWriter<T: Table> {
    path: PathBuf,
    rows: Vec<T>,
    destination: Destination,
}

/// The Parquet writer every table is written with.
fn parquet_writer<T: Table>(path: &Path) -> Result<BatchedWriter<File>, ReportError> {
    let polars_err = |source| ReportError::Polars {
        path: path.to_path_buf(),
        source,
    };
    let file = File::create(path).map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let schema = T::frame(&[]).map_err(polars_err)?.schema().as_ref().clone();
    ParquetWriter::new(file)
        .with_compression(ParquetCompression::Zstd(None))
        .set_parallel(false)
        .batched(&schema)
        .map_err(polars_err)
}

impl<T: Table> TableWriter<T> {
    pub fn new(dir: &Path) -> Self {
        TableWriter {
            path: dir.join(format!("{}.parquet", T::NAME)),
            rows: Vec::new(),
            destination: Destination::File(None),
        }
    }

    /// Keeps the row groups in memory instead (they are the data frames a
    /// file would get, so [`TableChunks::write`] writes the same bytes).
    pub fn in_memory() -> Self {
        TableWriter {
            path: PathBuf::from(format!("{}.parquet", T::NAME)),
            rows: Vec::new(),
            destination: Destination::Memory(Vec::new()),
        }
    }

    fn polars_err(&self, source: PolarsError) -> ReportError {
        ReportError::Polars {
            path: self.path.clone(),
            source,
        }
    }

    pub fn push(&mut self, row: T) -> Result<(), ReportError> {
        if self.rows.capacity() == 0 {
            self.rows.reserve_exact(T::GROUP_ROWS);
        }
        self.rows.push(row);
        if self.rows.len() >= T::GROUP_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ReportError> {
        if let Destination::File(w @ None) = &mut self.destination {
            *w = Some(Box::new(parquet_writer::<T>(&self.path)?));
        }
        if self.rows.is_empty() {
            return Ok(());
        }
        let df = T::frame(&self.rows).map_err(|e| self.polars_err(e))?;
        self.rows.clear();
        match &mut self.destination {
            Destination::File(w) => {
                let w = w.as_mut().expect("opened");
                w.write_batch(&df).map_err(|source| ReportError::Polars {
                    path: self.path.clone(),
                    source,
                })
            }
            Destination::Memory(chunks) => {
                chunks.push(df);
                Ok(())
            }
        }
    }

    /// Writes what is buffered and the file footer; in memory, returns the
    /// table's row groups.
    pub fn finish(mut self) -> Result<TableChunks, ReportError> {
        self.flush()?;
        let empty = T::frame(&[]).map_err(|e| self.polars_err(e))?;
        let chunks = match self.destination {
            Destination::File(ref mut w) => {
                let w = w.take().expect("opened");
                w.finish().map_err(|e| self.polars_err(e))?;
                Vec::new()
            }
            Destination::Memory(chunks) => chunks,
        };
        Ok(TableChunks {
            name: T::NAME,
            empty,
            chunks,
            write: |path, chunks| {
                let mut w = parquet_writer::<T>(path)?;
                let err = |source| ReportError::Polars {
                    path: path.to_path_buf(),
                    source,
                };
                for df in chunks {
                    w.write_batch(df).map_err(err)?;
                }
                w.finish().map(|_| ()).map_err(err)
            },
        })
    }
}

/// A table held in memory as the row groups its Parquet file would have.
pub struct TableChunks {
    pub name: &'static str,
    /// No rows: the schema.
    empty: DataFrame,
    chunks: Vec<DataFrame>,
    write: fn(&Path, &[DataFrame]) -> Result<(), ReportError>,
}

impl TableChunks {
    /// The whole table; its chunks are the row groups (nothing is copied).
    pub fn frame(&self) -> PolarsResult<DataFrame> {
        let mut df = self.empty.clone();
        for c in &self.chunks {
            df.vstack_mut(c)?;
        }
        Ok(df)
    }

    /// `<dir>/<name>.parquet`, the bytes a run writing it as it goes writes.
    pub fn write(&self, dir: &Path) -> Result<(), ReportError> {
        (self.write)(&dir.join(format!("{}.parquet", self.name)), &self.chunks)
    }
}

/// A run's tables and its requests' plots, kept in memory
/// ([`ParquetSink::in_memory`]): what the Python package hands out as data
/// frames and writes, on request, as the run directory.
pub struct RunTables {
    /// In the order of the run directory's listing in `reports/README.md`.
    pub tables: Vec<TableChunks>,
    pub request_plots: Option<plots::RequestPlots>,
}

impl RunTables {
    pub fn get(&self, name: &str) -> Option<&TableChunks> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// Every table's Parquet file in `dir`; returns the requests' plots for
    /// [`report_run_with`].
    pub fn write(&self, dir: &Path) -> Result<Option<plots::RequestPlots>, ReportError> {
        for t in &self.tables {
            t.write(dir)?;
        }
        Ok(self.request_plots.clone())
    }
}

/// The run directory's tables: `blocks`, `consensus_rounds`, `nodes`,
/// `requests`, `gpu_nodes` and `ledger`.
pub struct ParquetSink {
    blocks: TableWriter<BlockRecord>,
    rounds: TableWriter<RoundRecord>,
    nodes: TableWriter<NodeRecord>,
    requests: TableWriter<RequestRecord>,
    gpu_nodes: TableWriter<GpuNodeRecord>,
    ledger: TableWriter<LedgerRecord>,
    market: TableWriter<MarketRecord>,
    /// The requests' plots, accumulated as the rows are written (when asked
    /// for: `with_request_plots`).
    request_plots: Option<plots::RequestPlots>,
    /// The first write error; later rows are dropped and the error is
    /// returned by `finish` (the sink trait cannot fail mid-run).
    error: Option<ReportError>,
}

impl ParquetSink {
    pub fn new(dir: &Path) -> Self {
        ParquetSink {
            blocks: TableWriter::new(dir),
            rounds: TableWriter::new(dir),
            nodes: TableWriter::new(dir),
            requests: TableWriter::new(dir),
            gpu_nodes: TableWriter::new(dir),
            ledger: TableWriter::new(dir),
            market: TableWriter::new(dir),
            request_plots: None,
            error: None,
        }
    }

    /// Keeps every table in memory instead of writing files
    /// ([`ParquetSink::finish_in_memory`]).
    pub fn in_memory() -> Self {
        ParquetSink {
            blocks: TableWriter::in_memory(),
            rounds: TableWriter::in_memory(),
            nodes: TableWriter::in_memory(),
            requests: TableWriter::in_memory(),
            gpu_nodes: TableWriter::in_memory(),
            ledger: TableWriter::in_memory(),
            market: TableWriter::in_memory(),
            request_plots: None,
            error: None,
        }
    }

    /// Also accumulates the requests' plots of a run of `duration_s`
    /// simulated seconds, for `report_run_with`.
    pub fn with_request_plots(mut self, duration_s: f64) -> Self {
        self.request_plots = Some(plots::RequestPlots::new(duration_s));
        self
    }

    fn keep(&mut self, r: Result<(), ReportError>) {
        if let (Err(e), None) = (r, &self.error) {
            self.error = Some(e);
        }
    }

    /// Writes what is left of every table; returns the requests' plots if
    /// they were asked for.
    pub fn finish(self) -> Result<Option<plots::RequestPlots>, ReportError> {
        Ok(self.finish_in_memory()?.request_plots)
    }

    /// Finishes every table; those kept in memory come back whole.
    pub fn finish_in_memory(self) -> Result<RunTables, ReportError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        Ok(RunTables {
            tables: vec![
                self.blocks.finish()?,
                self.rounds.finish()?,
                self.nodes.finish()?,
                self.requests.finish()?,
                self.gpu_nodes.finish()?,
                self.ledger.finish()?,
                self.market.finish()?,
            ],
            request_plots: self.request_plots,
        })
    }
}

impl RecordSink for ParquetSink {
    fn block(&mut self, r: BlockRecord) {
        let res = self.blocks.push(r);
        self.keep(res);
    }
    fn round(&mut self, r: RoundRecord) {
        let res = self.rounds.push(r);
        self.keep(res);
    }
    fn node(&mut self, r: NodeRecord) {
        let res = self.nodes.push(r);
        self.keep(res);
    }
    fn request(&mut self, r: RequestRecord) {
        if let Some(p) = &mut self.request_plots {
            p.push(&(&r).into());
        }
        let res = self.requests.push(r);
        self.keep(res);
    }
    fn gpu_node(&mut self, r: GpuNodeRecord) {
        let res = self.gpu_nodes.push(r);
        self.keep(res);
    }
    fn ledger(&mut self, r: LedgerRecord) {
        let res = self.ledger.push(r);
        self.keep(res);
    }
    fn market(&mut self, r: MarketRecord) {
        let res = self.market.push(r);
        self.keep(res);
    }
}

/// Writes `summary.json` (pretty, with a final newline).
pub fn write_summary(dir: &Path, summary: &Summary) -> Result<(), ReportError> {
    let path = dir.join("summary.json");
    let mut text = serde_json::to_string_pretty(summary).expect("summary serialises");
    text.push('\n');
    std::fs::write(&path, text).map_err(|source| ReportError::Io { path, source })
}

/// Reads a Parquet table back (for tests and `hacasim report`).
pub fn read_table(path: &Path) -> Result<DataFrame, ReportError> {
    let file = File::open(path).map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    read_guarded(path, || ParquetReader::new(file).finish())
}

/// Writes `contents` through a temporary name and a rename.
pub(crate) fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), ReportError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).map_err(|source| ReportError::Io {
        path: tmp.clone(),
        source,
    })?;
    std::fs::rename(&tmp, path).map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Plots (`<name>.svg` and `<name>.png`) and `report.html` for a run
/// directory, from its Parquet tables, `summary.json` and `scenario.toml`.
pub fn report_run(dir: &Path) -> Result<Vec<String>, ReportError> {
    report_run_with(dir, None)
}

/// [`report_run`], with the requests' plots accumulated by the run's sink
/// (`ParquetSink::with_request_plots`) instead of read from the table.
pub fn report_run_with(
    dir: &Path,
    request_plots: Option<plots::RequestPlots>,
) -> Result<Vec<String>, ReportError> {
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name)).map_err(|source| ReportError::Io {
            path: dir.join(name),
            source,
        })
    };
    let summary_text = read("summary.json")?;
    let summary: serde_json::Value =
        serde_json::from_str(&summary_text).map_err(|e| ReportError::Input {
            path: dir.join("summary.json"),
            message: e.to_string(),
        })?;
    let scenario = read("scenario.toml")?;
    let duration = summary
        .get("sim_duration_s")
        .and_then(|v| v.as_f64())
        .unwrap_or(0.0);
    let plots = plots::run_plots(dir, duration, request_plots)?;
    let written = write_plots(dir, &plots)?;
    write_atomic(
        &dir.join("report.html"),
        html::report(&summary, &scenario, &plots).as_bytes(),
    )?;
    Ok(written)
}

/// Writes each plot as `<name>.svg` and `<name>.png` in `dir` and returns
/// their names. The PNGs are rasterised in parallel on the current rayon
/// pool (the sweep's `--jobs`), the most expensive part of a report; the
/// bytes do not depend on the thread count.
pub fn write_plots(dir: &Path, plots: &[plots::Plot]) -> Result<Vec<String>, ReportError> {
    use rayon::prelude::*;
    let pngs = plots
        .par_iter()
        .map(|p| plots::svg_to_png(&p.svg))
        .collect::<Result<Vec<_>, _>>()?;
    for (p, png) in plots.iter().zip(&pngs) {
        write_atomic(&dir.join(format!("{}.svg", p.name)), p.svg.as_bytes())?;
        write_atomic(&dir.join(format!("{}.png", p.name)), png)?;
    }
    Ok(plots.iter().map(|p| p.name.clone()).collect())
}

/// Names of the tables a run directory holds.
pub const RUN_TABLES: [&str; 7] = [
    "blocks",
    "consensus_rounds",
    "nodes",
    "requests",
    "gpu_nodes",
    "ledger",
    "market",
];

fn csv_field(v: AnyValue) -> String {
    match v {
        AnyValue::Null => String::new(),
        AnyValue::String(s) => csv_text(s),
        AnyValue::StringOwned(s) => csv_text(s.as_str()),
        AnyValue::Float64(x) => format!("{x}"),
        AnyValue::Float32(x) => format!("{x}"),
        other => other.to_string(),
    }
}

fn csv_text(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Writes `<table>.csv` beside every `<table>.parquet` of a run directory,
/// a chunk of rows at a time, through a temporary name.
pub fn write_csv(dir: &Path) -> Result<(), ReportError> {
    use std::io::Write;
    for name in RUN_TABLES {
        let path = dir.join(format!("{name}.parquet"));
        fn io(p: &Path) -> impl Fn(std::io::Error) -> ReportError + '_ {
            move |source| ReportError::Io {
                path: p.to_path_buf(),
                source,
            }
        }
        let file = File::open(&path).map_err(io(&path))?;
        let schema = read_guarded(&path, || ParquetReader::new(file).schema())?;
        let names: Vec<String> = schema.iter_names().map(|n| n.to_string()).collect();
        let (tmp, target) = (
            dir.join(format!("{name}.csv.tmp")),
            dir.join(format!("{name}.csv")),
        );
        let mut out = std::io::BufWriter::new(File::create(&tmp).map_err(io(&tmp))?);
        let mut result = writeln!(
            out,
            "{}",
            names
                .iter()
                .map(|n| csv_text(n))
                .collect::<Vec<_>>()
                .join(",")
        );
        let cols: Vec<&str> = names.iter().map(String::as_str).collect();
        plots::for_each_chunk(&path, &cols, |df| {
            let cols = df.columns();
            for i in 0..df.height() {
                let row: Vec<String> = cols
                    .iter()
                    .map(|c| csv_field(c.get(i).unwrap_or(AnyValue::Null)))
                    .collect();
                if result.is_ok() {
                    result = writeln!(out, "{}", row.join(","));
                }
            }
        })?;
        result.and_then(|()| out.flush()).map_err(io(&tmp))?;
        drop(out);
        std::fs::rename(&tmp, &target).map_err(io(&target))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records stream to disk (issue #8's flat memory): the buffer holds one
    /// row group from the first row on and never more, and the file has
    /// ⌈rows / GROUP_ROWS⌉ row groups.
    #[test]
    fn a_table_is_written_a_row_group_at_a_time_from_a_fixed_buffer() {
        let dir = std::env::temp_dir().join(format!("hacasim-groups-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let group = <BlockRecord as Table>::GROUP_ROWS;
        let n = 2 * group as u64 + 5;
        let mut w = TableWriter::<BlockRecord>::new(&dir);
        for height in 1..=n {
            let row = BlockRecord {
                height,
                round: 0,
                proposer: 0,
                txs: 0,
                bytes: 0,
                proposed_at_s: 0.0,
                committed_at_s: height as f64,
                interval_s: None,
                mempool_pending: 0,
                tx_latency_mean_s: None,
                gas_used: 0,
                gas_target: 0,
                base_fee: 0,
                burned: 0,
                tips: 0,
                minted: 0,
            };
            w.push(row).unwrap();
            assert_eq!(w.rows.capacity(), group, "row {height}");
        }
        w.finish().unwrap();
        let file = File::open(dir.join("blocks.parquet")).unwrap();
        let mut reader = ParquetReader::new(file);
        let groups: Vec<usize> = reader
            .get_metadata()
            .unwrap()
            .row_groups
            .iter()
            .map(|g| g.num_rows())
            .collect();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(groups, [group, group, 5]);
    }
}
