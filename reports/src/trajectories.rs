//! Market trajectories of a sweep (issue #27): while a sweep runs, each
//! (point, seed) of a scenario with a `[market]` section keeps its market
//! intervals, with the requests served and lost in each, as one small table
//! (`market/point=P/seed=S/part-0.parquet`, beside `rows/`); `hacasim
//! report` draws them over time, one line per economic design with the
//! band of its seeds, one panel per quantity and shock.
//!
//! Per market interval (the `market` table's rows, `time_s` its end):
//!
//! * `served_per_s`: requests whose result reached their user in the
//!   interval;
//! * `lost_per_s`: requests submitted in the interval that were never
//!   served — no operator to take them (lost to capacity: no request row),
//!   refused at a full queue, or abandoned while they waited. The submitted
//!   ones less those that were served or still in flight at the end.

use std::collections::BTreeMap;
use std::path::Path;

use plotters::prelude::*;
use polars::prelude::*;
use sim_core::records::{
    BlockRecord, GpuNodeRecord, LedgerRecord, MarketRecord, NodeRecord, RecordSink, RequestRecord,
    RoundRecord,
};

use crate::ReportError;
use crate::plots::{Plot, column_f64, linear_ticks, plain};

/// Seconds in a year of 365.25 days, for per-year rates.
const SECONDS_PER_YEAR: f64 = economics::market::SECONDS_PER_YEAR;

/// One run's market intervals and the requests binned onto them, gathered
/// as the records go by (nothing kept per request).
#[derive(Clone, Debug, Default)]
pub struct MarketTrajectory {
    interval_s: f64,
    shock_at_s: Option<f64>,
    market: Vec<MarketRecord>,
    /// By submission interval: requests served or still in flight at the end.
    kept: Vec<u64>,
    /// By delivery interval: results delivered.
    delivered: Vec<u64>,
}

impl MarketTrajectory {
    /// For a run with market intervals of `interval_s` seconds, the shock
    /// (if any) at `shock_at_s`.
    pub fn new(interval_s: f64, shock_at_s: Option<f64>) -> MarketTrajectory {
        MarketTrajectory {
            interval_s,
            shock_at_s,
            ..MarketTrajectory::default()
        }
    }

    /// The market interval that holds time `t`: interval k ends at (k+1)·dt
    /// and holds (k·dt, (k+1)·dt].
    fn interval(&self, t: f64) -> usize {
        ((t / self.interval_s).ceil() as usize).saturating_sub(1)
    }

    fn bump(v: &mut Vec<u64>, k: usize) {
        if v.len() <= k {
            v.resize(k + 1, 0);
        }
        v[k] += 1;
    }

    pub fn request(&mut self, r: &RequestRecord) {
        if self.interval_s <= 0.0 {
            return; // no market in this run
        }
        if matches!(r.outcome, "completed" | "in_flight") {
            let k = self.interval(r.submitted_s);
            Self::bump(&mut self.kept, k);
        }
        if let Some(d) = r.delivered_s {
            let k = self.interval(d);
            Self::bump(&mut self.delivered, k);
        }
    }

    pub fn market(&mut self, r: &MarketRecord) {
        self.market.push(r.clone());
    }

    /// Whether the run had market intervals at all.
    pub fn is_empty(&self) -> bool {
        self.market.is_empty()
    }

    /// The table: one row per market interval.
    pub fn frame(&self) -> PolarsResult<DataFrame> {
        let n = self.market.len();
        let dt = self.interval_s;
        let at = |v: &[u64], k: usize| v.get(k).copied().unwrap_or(0);
        let col = |name: &str, v: Vec<f64>| Column::new(name.into(), v);
        let f = |g: &dyn Fn(usize, &MarketRecord) -> f64| -> Vec<f64> {
            self.market
                .iter()
                .enumerate()
                .map(|(k, r)| g(k, r))
                .collect()
        };
        DataFrame::new(
            n,
            vec![
                col("time_s", f(&|_, r| r.time_s)),
                col("price_usd", f(&|_, r| r.price_usd)),
                Column::new(
                    "active_operators".into(),
                    self.market
                        .iter()
                        .map(|r| r.active_operators)
                        .collect::<Vec<u32>>(),
                ),
                col("submitted_per_s", f(&|_, r| r.requests as f64 / dt)),
                col(
                    "served_per_s",
                    f(&|k, _| at(&self.delivered, k) as f64 / dt),
                ),
                col(
                    "lost_per_s",
                    f(&|k, r| r.requests.saturating_sub(at(&self.kept, k)) as f64 / dt),
                ),
                col(
                    "net_issuance_pct_a_year",
                    f(&|_, r| r.net_issuance_fraction * SECONDS_PER_YEAR / dt * 100.0),
                ),
                Column::new("shock_at_s".into(), vec![self.shock_at_s; n]),
            ],
        )
    }

    /// Writes the table atomically (through a temporary name).
    pub fn write(&self, path: &Path) -> Result<(), ReportError> {
        let mut df = self.frame().map_err(|source| ReportError::Polars {
            path: path.to_path_buf(),
            source,
        })?;
        crate::sweep::write_parquet_atomic(path, &mut df)
    }
}

/// A sink that shows every request and market record to a
/// [`MarketTrajectory`] on its way to another sink.
pub struct WithTrajectory<'a> {
    pub inner: &'a mut dyn RecordSink,
    pub trajectory: &'a mut MarketTrajectory,
}

impl RecordSink for WithTrajectory<'_> {
    fn block(&mut self, r: BlockRecord) {
        self.inner.block(r);
    }
    fn round(&mut self, r: RoundRecord) {
        self.inner.round(r);
    }
    fn node(&mut self, r: NodeRecord) {
        self.inner.node(r);
    }
    fn request(&mut self, r: RequestRecord) {
        self.trajectory.request(&r);
        self.inner.request(r);
    }
    fn gpu_node(&mut self, r: GpuNodeRecord) {
        self.inner.gpu_node(r);
    }
    fn ledger(&mut self, r: LedgerRecord) {
        self.inner.ledger(r);
    }
    fn market(&mut self, r: MarketRecord) {
        self.trajectory.market(&r);
        self.inner.market(r);
    }
}

/// One run's trajectory as the plot reads it.
#[derive(Clone, Debug, PartialEq)]
pub struct TrajectoryRun {
    /// The line it belongs to (`economics.design`).
    pub design: String,
    /// The panel row it belongs to (e.g. its shock).
    pub group: String,
    pub shock_at_s: Option<f64>,
    /// (time_s, price_usd, active_operators, served_per_s, lost_per_s,
    /// net_issuance_pct_a_year), one per market interval.
    pub rows: Vec<[f64; 6]>,
}

/// Reads a run's trajectory table into [`TrajectoryRun::rows`] and its shock time.
pub fn read_trajectory(path: &Path) -> Result<(Vec<[f64; 6]>, Option<f64>), ReportError> {
    let df = crate::read_table(path)?;
    let cols: Vec<Vec<Option<f64>>> = [
        "time_s",
        "price_usd",
        "active_operators",
        "served_per_s",
        "lost_per_s",
        "net_issuance_pct_a_year",
    ]
    .iter()
    .map(|c| column_f64(&df, c))
    .collect();
    let rows = (0..df.height())
        .map(|i| std::array::from_fn(|j| cols[j].get(i).copied().flatten().unwrap_or(f64::NAN)))
        .collect();
    let shock = column_f64(&df, "shock_at_s").into_iter().flatten().next();
    Ok((rows, shock))
}

/// The quantities drawn, one panel each: (title, columns of
/// [`TrajectoryRun::rows`] drawn as solid and dashed lines).
pub const QUANTITIES: [(&str, &[usize]); 4] = [
    ("token price (USD)", &[1]),
    ("GPU operators serving", &[2]),
    ("requests/s served (solid), lost (dashed)", &[3, 4]),
    ("net issuance (% a year)", &[5]),
];

/// One line of a chart: the mean over seeds at each time, with the band
/// from the lowest to the highest seed.
#[derive(Clone, Debug, PartialEq)]
pub struct BandSeries {
    pub name: String,
    pub colour: usize,
    pub dashed: bool,
    /// (hours, mean, min, max) over the seeds that have this interval.
    pub points: Vec<(f64, f64, f64, f64)>,
}

/// One panel: a quantity for one group, a line per design.
#[derive(Clone, Debug, PartialEq)]
pub struct TrajectoryChart {
    pub title: String,
    pub group: String,
    pub shock_at_h: Option<f64>,
    pub series: Vec<BandSeries>,
}

/// The panels, group by group (in order of first appearance), each with a
/// chart per quantity; designs sorted by name, one colour each.
pub fn trajectory_charts(runs: &[TrajectoryRun]) -> Vec<TrajectoryChart> {
    let mut groups: Vec<&str> = Vec::new();
    for r in runs {
        if !groups.contains(&r.group.as_str()) {
            groups.push(&r.group);
        }
    }
    let mut designs: Vec<&str> = runs.iter().map(|r| r.design.as_str()).collect();
    designs.sort();
    designs.dedup();
    let mut charts = Vec::new();
    for g in &groups {
        let in_group: Vec<&TrajectoryRun> = runs.iter().filter(|r| r.group == *g).collect();
        let shock_at_h = in_group
            .iter()
            .find_map(|r| r.shock_at_s)
            .map(|s| s / 3600.0);
        for (title, columns) in QUANTITIES {
            let mut series = Vec::new();
            for (colour, d) in designs.iter().enumerate() {
                let seeds: Vec<&&TrajectoryRun> =
                    in_group.iter().filter(|r| r.design == *d).collect();
                if seeds.is_empty() {
                    continue;
                }
                for (j, &c) in columns.iter().enumerate() {
                    // Seeds share the interval grid: gather by time (ms).
                    let mut at: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
                    for r in &seeds {
                        for row in &r.rows {
                            if row[c].is_finite() {
                                at.entry((row[0] * 1000.0).round() as i64)
                                    .or_default()
                                    .push(row[c]);
                            }
                        }
                    }
                    let points = at
                        .into_iter()
                        .map(|(ms, v)| {
                            let mean = v.iter().sum::<f64>() / v.len() as f64;
                            let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
                            let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                            (ms as f64 / 3.6e6, mean, lo, hi)
                        })
                        .collect();
                    series.push(BandSeries {
                        name: if columns.len() > 1 {
                            format!("{d} ({})", if j == 0 { "served" } else { "lost" })
                        } else {
                            d.to_string()
                        },
                        colour,
                        dashed: j > 0,
                        points,
                    });
                }
            }
            charts.push(TrajectoryChart {
                title: title.to_string(),
                group: g.to_string(),
                shock_at_h,
                series,
            });
        }
    }
    charts
}

/// Ticks for a time axis in hours: every 1, 2, 3, 6, 12 or 24 hours (or
/// a whole number of days), the smallest step that gives at most eight.
pub fn hour_ticks(lo: f64, hi: f64) -> Vec<f64> {
    if !(hi > lo && lo.is_finite() && hi.is_finite()) {
        return Vec::new();
    }
    if hi - lo < 2.0 {
        return linear_ticks(lo, hi);
    }
    let step = [1.0, 2.0, 3.0, 6.0, 12.0, 24.0]
        .into_iter()
        .chain((2..).map(|d| 24.0 * d as f64))
        .find(|st| (hi / st).floor() - (lo / st).ceil() + 1.0 <= 8.0)
        .expect("some step fits");
    ((lo / step).ceil() as i64..=(hi / step).floor() as i64)
        .map(|i| i as f64 * step)
        .collect()
}

fn plot_err(e: impl std::fmt::Display) -> ReportError {
    ReportError::Plot(e.to_string())
}

/// Draws the charts in a grid, a row per group and a column per quantity
/// (`columns` charts a row): each design's mean as a line in its colour
/// over its min–max band, the shock as a dashed vertical line.
pub fn draw_trajectories(
    title: &str,
    columns: usize,
    charts: &[TrajectoryChart],
) -> Result<String, ReportError> {
    const FONT: &str = "sans-serif";
    let columns = columns.max(1);
    let rows = charts.len().div_ceil(columns).max(1);
    let size = (420 * columns as u32, 290 * rows as u32 + 90);
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let root = root.titled(title, (FONT, 24)).map_err(plot_err)?;
        let (legend_area, grid) = root.split_vertically(34);
        // The designs' legend, once, above the grid.
        let mut names: Vec<(usize, String)> = charts
            .iter()
            .flat_map(|c| c.series.iter())
            .filter(|s| !s.dashed)
            .map(|s| (s.colour, s.name.trim_end_matches(" (served)").to_string()))
            .collect();
        names.sort();
        names.dedup();
        let mut x = 20;
        for (colour, name) in &names {
            let c = crate::plots::palette(*colour);
            legend_area
                .draw(&PathElement::new(
                    vec![(x, 14), (x + 26, 14)],
                    c.stroke_width(4),
                ))
                .map_err(plot_err)?;
            legend_area
                .draw(&Text::new(name.clone(), (x + 32, 6), (FONT, 16)))
                .map_err(plot_err)?;
            x += 50 + 9 * name.chars().count() as i32;
        }
        legend_area
            .draw(&Text::new(
                "line: mean over seeds · band: lowest to highest seed · dashed grey: the shock",
                (x + 20, 6),
                (FONT, 14).into_font().color(&RGBColor(90, 90, 90)),
            ))
            .map_err(plot_err)?;
        let areas = grid.split_evenly((rows, columns));
        for (chart_spec, area) in charts.iter().zip(areas.iter()) {
            let pts = chart_spec.series.iter().flat_map(|s| s.points.iter());
            let (mut x0, mut x1, mut y0, mut y1) = (
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::INFINITY,
                f64::NEG_INFINITY,
            );
            for p in pts {
                x0 = x0.min(p.0);
                x1 = x1.max(p.0);
                y0 = y0.min(p.2);
                y1 = y1.max(p.3);
            }
            if !x0.is_finite() {
                (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
            }
            x0 = x0.min(0.0);
            if y1 - y0 < 1e-12 {
                let pad = if y0.abs() > 0.0 { y0.abs() * 0.1 } else { 1.0 };
                (y0, y1) = (y0 - pad, y1 + pad);
            } else {
                let pad = 0.06 * (y1 - y0);
                (y0, y1) = (y0 - pad, y1 + pad);
            }
            let caption = if chart_spec.group.is_empty() {
                chart_spec.title.clone()
            } else {
                format!("{} · {}", chart_spec.group, chart_spec.title)
            };
            let (xk, yk) = (hour_ticks(x0, x1), linear_ticks(y0, y1));
            let mut chart = ChartBuilder::on(area)
                .caption(caption, (FONT, 15))
                .margin(8)
                .margin_right(16)
                .x_label_area_size(34)
                .y_label_area_size(58)
                .build_cartesian_2d(
                    crate::plots::Ticked::new(x0..x1, xk),
                    crate::plots::Ticked::new(y0..y1, yk),
                )
                .map_err(plot_err)?;
            chart
                .configure_mesh()
                .x_desc("simulated time (h)")
                .max_light_lines(0)
                .x_label_formatter(&|v| plain(*v))
                .y_label_formatter(&|v| plain(*v))
                .label_style((FONT, 12))
                .axis_desc_style((FONT, 13))
                .draw()
                .map_err(plot_err)?;
            for s in &chart_spec.series {
                let c = crate::plots::palette(s.colour);
                let mut band: Vec<(f64, f64)> = s.points.iter().map(|p| (p.0, p.3)).collect();
                band.extend(s.points.iter().rev().map(|p| (p.0, p.2)));
                chart
                    .draw_series(std::iter::once(Polygon::new(band, c.mix(0.18).filled())))
                    .map_err(plot_err)?;
                let line = s.points.iter().map(|p| (p.0, p.1));
                if s.dashed {
                    chart
                        .draw_series(DashedLineSeries::new(line, 7, 6, c.stroke_width(2)))
                        .map_err(plot_err)?;
                } else {
                    chart
                        .draw_series(LineSeries::new(line, c.stroke_width(2)))
                        .map_err(plot_err)?;
                }
            }
            if let Some(h) = chart_spec.shock_at_h {
                chart
                    .draw_series(DashedLineSeries::new(
                        [(h, y0), (h, y1)],
                        5,
                        4,
                        RGBColor(110, 110, 110).stroke_width(1),
                    ))
                    .map_err(plot_err)?;
            }
        }
        root.present().map_err(plot_err)?;
    }
    Ok(out)
}

/// The sweep's trajectory plot, from `market/point=P/seed=S/part-0.parquet`:
/// `design` and `group` name each point's line and row of panels. `None`
/// when no point has a trajectory table.
pub fn trajectory_plot(
    out: &Path,
    points: &[(u32, String, String)],
) -> Result<Option<Plot>, ReportError> {
    let mut runs = Vec::new();
    for (point, design, group) in points {
        let dir = out.join("market").join(format!("point={point:05}"));
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut seeds: Vec<std::path::PathBuf> = entries
            .flatten()
            .map(|e| e.path().join("part-0.parquet"))
            .filter(|p| p.is_file())
            .collect();
        seeds.sort();
        for file in seeds {
            let (rows, shock_at_s) = read_trajectory(&file)?;
            runs.push(TrajectoryRun {
                design: design.clone(),
                group: group.clone(),
                shock_at_s,
                rows,
            });
        }
    }
    if runs.iter().all(|r| r.rows.is_empty()) {
        return Ok(None);
    }
    let charts = trajectory_charts(&runs);
    let title =
        "Market trajectories by economic design (mean over seeds, band: lowest to highest seed)"
            .to_string();
    let svg = draw_trajectories(&title, QUANTITIES.len(), &charts)?;
    Ok(Some(Plot {
        name: "sweep_market_trajectories".into(),
        title,
        svg,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(time_s: f64, requests: u64, active: u32) -> MarketRecord {
        MarketRecord {
            time_s,
            price_usd: 1.0,
            requests,
            minted: 0,
            burned: 0,
            net_issuance_fraction: 1e-6,
            active_operators: active,
            operator_income_usd: 0.0,
            operator_cost_usd: 0.0,
        }
    }

    fn request(submitted_s: f64, delivered_s: Option<f64>, outcome: &'static str) -> RequestRecord {
        RequestRecord {
            id: 0,
            stream: "s".into(),
            model: "m".into(),
            mode: "tee",
            node: 0,
            prompt_tokens: 1,
            output_tokens: 1,
            images: 0,
            submitted_s,
            started_s: None,
            first_token_s: None,
            delivered_s,
            settled_s: None,
            proof_started_s: None,
            proof_done_s: None,
            finalised_s: None,
            honest: true,
            detected_s: None,
            value_at_risk_usd: 0.0,
            fee_usd: 0.0,
            trust_gap_s: None,
            outcome,
            abandoned_s: None,
        }
    }

    #[test]
    fn hour_ticks_fall_on_hours_and_days() {
        assert_eq!(hour_ticks(0.0, 48.0), [0.0, 12.0, 24.0, 36.0, 48.0]);
        assert_eq!(hour_ticks(0.0, 12.0), [0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0]);
        assert_eq!(
            hour_ticks(0.0, 24.0 * 10.0),
            [0.0, 48.0, 96.0, 144.0, 192.0, 240.0]
        );
        assert_eq!(hour_ticks(0.0, 1.0), linear_ticks(0.0, 1.0));
    }

    /// Served by delivery interval, lost = submitted − (served or in flight)
    /// by submission interval, issuance annualised: by hand.
    #[test]
    fn requests_bin_onto_market_intervals() {
        let mut t = MarketTrajectory::new(10.0, Some(15.0));
        let mut sink = sim_core::NullSink;
        let mut w = WithTrajectory {
            inner: &mut sink,
            trajectory: &mut t,
        };
        // Interval 0 = (0, 10]: 4 submitted; 1 completed (delivered at 12,
        // in interval 1), 1 rejected, 1 abandoned, 1 lost to capacity (no row).
        w.request(request(1.0, Some(12.0), "completed"));
        w.request(request(2.0, None, "rejected"));
        w.request(request(3.0, None, "abandoned"));
        w.market(record(10.0, 4, 2));
        // Interval 1 = (10, 20]: 2 submitted, one delivered at 20, one in flight.
        w.request(request(11.0, Some(20.0), "completed"));
        w.request(request(19.0, None, "in_flight"));
        w.market(record(20.0, 2, 1));
        let df = t.frame().unwrap();
        assert_eq!(column_f64(&df, "served_per_s"), [Some(0.0), Some(0.2)]);
        assert_eq!(column_f64(&df, "lost_per_s"), [Some(0.3), Some(0.0)]);
        assert_eq!(column_f64(&df, "active_operators"), [Some(2.0), Some(1.0)]);
        let pct = 1e-6 * SECONDS_PER_YEAR / 10.0 * 100.0;
        assert_eq!(
            column_f64(&df, "net_issuance_pct_a_year"),
            [Some(pct), Some(pct)]
        );
        assert_eq!(column_f64(&df, "shock_at_s"), [Some(15.0), Some(15.0)]);
    }

    /// Two designs × two seeds × two shocks of hand-made rows: a chart per
    /// quantity and shock, a line per design (two in the requests chart),
    /// means and min–max bands over the seeds, the shock in hours.
    #[test]
    fn trajectory_panels_and_series_from_synthetic_rows() {
        let run = |design: &str, group: &str, price: [f64; 2], lost: f64| TrajectoryRun {
            design: design.into(),
            group: group.into(),
            shock_at_s: Some(3600.0),
            rows: vec![
                [1800.0, price[0], 4.0, 20.0, 0.0, 3.0],
                [3600.0, price[1], 2.0, 10.0, lost, -1.0],
            ],
        };
        let runs = vec![
            run("single", "none", [1.0, 1.0], 0.0),
            run("dual", "none", [1.0, 2.0], 0.0),
            run("dual", "none", [3.0, 4.0], 2.0),
            run("single", "none", [1.0, 3.0], 0.0),
            run("dual", "demand ×0.3", [1.0, 1.0], 5.0),
            run("single", "demand ×0.3", [1.0, 1.0], 0.0),
        ];
        let charts = trajectory_charts(&runs);
        assert_eq!(charts.len(), 2 * QUANTITIES.len());
        assert_eq!(
            charts.iter().map(|c| c.group.as_str()).collect::<Vec<_>>(),
            ["none", "none", "none", "none"]
                .into_iter()
                .chain(["demand ×0.3"; 4])
                .collect::<Vec<_>>()
        );
        let counts: Vec<usize> = charts.iter().map(|c| c.series.len()).collect();
        assert_eq!(counts, [2, 2, 4, 2, 2, 2, 4, 2]);
        assert!(charts.iter().all(|c| c.shock_at_h == Some(1.0)));
        // Price, "none": dual (sorted first) has seeds (1, 2) and (3, 4).
        let dual = &charts[0].series[0];
        assert_eq!(dual.name, "dual");
        assert_eq!(dual.points, [(0.5, 2.0, 1.0, 3.0), (1.0, 3.0, 2.0, 4.0)]);
        let single = &charts[0].series[1];
        assert_eq!(single.points, [(0.5, 1.0, 1.0, 1.0), (1.0, 2.0, 1.0, 3.0)]);
        // Requests: served solid, lost dashed, per design.
        let req = &charts[2].series;
        assert_eq!(
            req.iter()
                .map(|s| (s.name.as_str(), s.dashed))
                .collect::<Vec<_>>(),
            [
                ("dual (served)", false),
                ("dual (lost)", true),
                ("single (served)", false),
                ("single (lost)", true)
            ]
        );
        assert_eq!(req[1].points[1], (1.0, 1.0, 0.0, 2.0));
        // It draws: one chart caption per panel.
        let svg = draw_trajectories("t", QUANTITIES.len(), &charts).unwrap();
        assert_eq!(svg.matches("none · ").count(), QUANTITIES.len());
        assert_eq!(svg.matches("demand ×0.3 · ").count(), QUANTITIES.len());
    }
}
