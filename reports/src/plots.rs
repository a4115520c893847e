//! The run's plots, drawn with plotters as SVG from the Parquet tables alone
//! (so an old run can be re-plotted), then rasterised to PNG with resvg and
//! a bundled DejaVu Sans: no system fonts, no fontconfig.

use std::path::Path;
use std::sync::Arc;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use polars::prelude::*;

use sim_core::records::RequestRecord;

use crate::ReportError;

const SIZE: (u32, u32) = (900, 540);
const FONT: &str = "sans-serif";

/// One finished plot: file stem, title, and its SVG text.
pub struct Plot {
    pub name: String,
    pub title: String,
    pub svg: String,
}

fn plot_err(e: impl std::fmt::Display) -> ReportError {
    ReportError::Plot(e.to_string())
}

/// A numeric column as `f64`s (nulls as `None`); empty if the column is missing.
pub fn column_f64(df: &DataFrame, name: &str) -> Vec<Option<f64>> {
    let Ok(c) = df.column(name) else {
        return Vec::new();
    };
    let Ok(c) = c.cast(&DataType::Float64) else {
        return Vec::new();
    };
    let ca = c.f64().expect("cast to f64");
    (0..ca.len()).map(|i| ca.get(i)).collect()
}

/// A string column; empty if missing.
pub fn column_str(df: &DataFrame, name: &str) -> Vec<String> {
    let Ok(c) = df.column(name) else {
        return Vec::new();
    };
    let Ok(ca) = c.str() else { return Vec::new() };
    (0..ca.len())
        .map(|i| ca.get(i).unwrap_or("").to_string())
        .collect()
}

/// The range of the values with a little room, or `fallback` when there are none.
fn span(values: impl Iterator<Item = f64>, fallback: (f64, f64)) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return fallback;
    }
    if hi - lo < 1e-12 {
        let pad = if lo.abs() > 0.0 { lo.abs() * 0.1 } else { 1.0 };
        return (lo - pad, hi + pad);
    }
    let pad = (hi - lo) * 0.05;
    (lo - pad, hi + pad)
}

/// Colours that stay apart in print and for common colour blindness (Okabe–Ito).
const PALETTE: [RGBColor; 6] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
];

/// The palette's colour `i` (wrapping).
pub(crate) fn palette(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// Draws into a fresh SVG string.
fn svg(draw: impl FnOnce(&Area) -> Result<(), ReportError>) -> Result<String, ReportError> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        draw(&root)?;
        root.present().map_err(plot_err)?;
    }
    Ok(out)
}

/// Writes "no data in this run" in the middle of an empty chart.
fn no_data(root: &Area) -> Result<(), ReportError> {
    root.draw(&Text::new(
        "no data in this run",
        (SIZE.0 as i32 / 2 - 90, SIZE.1 as i32 / 2),
        (FONT, 20).into_font().color(&RGBColor(120, 120, 120)),
    ))
    .map_err(plot_err)
}

type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// A titled chart with linear axes, before its mesh is drawn.
fn frame<'a, 'b>(
    root: &'a Area<'b>,
    title: &str,
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
) -> Result<Chart<'a, 'b>, ReportError> {
    ChartBuilder::on(root)
        .caption(title, (FONT, 24))
        .margin(18)
        .margin_right(40)
        .x_label_area_size(50)
        .y_label_area_size(90)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(plot_err)
}

/// A titled chart with linear axes, labelled and meshed.
fn linear_chart<'a, 'b>(
    root: &'a Area<'b>,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
) -> Result<Chart<'a, 'b>, ReportError> {
    let mut chart = frame(root, title, (x0, x1), (y0, y1))?;
    let (xr, yr) = (x1 - x0, y1 - y0);
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&|v| tick(*v, xr))
        .y_label_formatter(&|v| tick(*v, yr))
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 17))
        .draw()
        .map_err(plot_err)?;
    Ok(chart)
}

/// The legend box, in one style for every chart.
fn legend<'a, 'b: 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, SVGBackend<'b>, CT>,
    position: SeriesLabelPosition,
) -> Result<(), ReportError> {
    chart
        .configure_series_labels()
        .label_font((FONT, 16))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(position)
        .draw()
        .map_err(plot_err)
}

/// Tick labels without needless decimals, from the axis range.
fn tick(v: f64, range: f64) -> String {
    let digits = if range >= 20.0 {
        0
    } else if range >= 2.0 {
        1
    } else if range >= 0.2 {
        2
    } else {
        3
    };
    let s = format!("{v:.digits$}");
    if s == "-0" { "0".into() } else { s }
}

/// Ticks for a log axis over [lo, hi] (values, not logs): 1, 2 and 5 times
/// the powers of ten, so a reader sees round numbers; where fewer than three
/// of them fall in the range, every 1–9 times a power of ten; where still
/// fewer than two, the two ends.
pub fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    if !(lo > 0.0 && hi > lo && hi.is_finite()) {
        return Vec::new();
    }
    let within = |mantissas: &[f64]| -> Vec<f64> {
        let (k0, k1) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
        (k0..=k1)
            .flat_map(|k| mantissas.iter().map(move |m| round_sig(m * 10f64.powi(k))))
            .filter(|&v| v >= lo * (1.0 - 1e-9) && v <= hi * (1.0 + 1e-9))
            .collect()
    };
    let ticks = within(&[1.0, 2.0, 5.0]);
    if ticks.len() >= 3 {
        return ticks;
    }
    let ticks = within(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
    if ticks.len() >= 2 {
        return ticks;
    }
    vec![round_sig(lo), round_sig(hi)]
}

/// About six ticks for a linear axis over [lo, hi], a step of 1, 2 or 5
/// times a power of ten.
pub fn linear_ticks(lo: f64, hi: f64) -> Vec<f64> {
    if !(hi > lo && lo.is_finite() && hi.is_finite()) {
        return Vec::new();
    }
    // The smallest step of 1, 2 or 5 times a power of ten that gives at
    // most eight ticks.
    let p = 10f64.powf(((hi - lo) / 10.0).log10().floor());
    let count = |st: f64| (hi / st).floor() - (lo / st).ceil() + 1.0;
    let step = [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]
        .into_iter()
        .map(|m| m * p)
        .find(|&st| count(st) <= 8.0)
        .unwrap_or(100.0 * p);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last)
        .map(|i| round_sig(i as f64 * step))
        .map(|v| if v == 0.0 { 0.0 } else { v })
        .collect()
}

/// `v` to 12 significant digits: 0.30000000000000004 is 0.3 again.
fn round_sig(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let scale = 10f64.powi(11 - v.abs().log10().floor() as i32);
    (v * scale).round() / scale
}

/// A tick value as a plain number: no exponent, no trailing zeros, at most
/// four significant digits below 1 (0.002, 0.5, 2, 5000, 1.5).
pub fn plain(v: f64) -> String {
    let v = round_sig(v);
    let a = v.abs();
    let s = if a == 0.0 {
        "0".to_string()
    } else if a >= 1.0 {
        format!("{v:.3}")
    } else {
        let decimals = (3 - a.log10().floor() as i32).clamp(1, 12) as usize;
        format!("{v:.decimals$}")
    };
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" { "0".into() } else { s }
}

#[derive(Clone, Copy, PartialEq)]
enum Style {
    Lines,
    Points,
}

/// Several named series of (x, y) points as lines on linear axes.
fn lines(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<String, ReportError> {
    xy(title, x_desc, y_desc, series, Style::Lines)
}

fn xy(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[(String, Vec<(f64, f64)>)],
    style: Style,
) -> Result<String, ReportError> {
    svg(|root| {
        let (x0, x1) = span(
            series.iter().flat_map(|(_, p)| p.iter().map(|q| q.0)),
            (0.0, 1.0),
        );
        let (y0, y1) = span(
            series.iter().flat_map(|(_, p)| p.iter().map(|q| q.1)),
            (0.0, 1.0),
        );
        let mut chart = linear_chart(root, title, x_desc, y_desc, (x0, x1), (y0, y1))?;
        if series.iter().all(|(_, p)| p.is_empty()) {
            return no_data(root);
        }
        for (i, (name, points)) in series.iter().enumerate() {
            let c = PALETTE[i % PALETTE.len()];
            let drawn = match style {
                Style::Lines => {
                    chart.draw_series(LineSeries::new(points.iter().copied(), c.stroke_width(2)))
                }
                Style::Points => {
                    chart.draw_series(points.iter().map(|&p| Circle::new(p, 2, c.filled())))
                }
            };
            drawn
                .map_err(plot_err)?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 22, y)], c.stroke_width(3))
                });
        }
        if series.len() > 1 {
            legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        }
        Ok(())
    })
}

/// Bins per decade of the trust-gap CDF: points every 3.7 %, in memory that
/// does not grow with the number of requests.
const CDF_BINS_PER_DECADE: f64 = 64.0;
/// The CDF's range: 1 µs to 10⁷ s.
const CDF_LOWEST_DECADE: i32 = -6;
const CDF_DECADES: usize = 13;

/// Counts of positive values in log-spaced bins, for a CDF.
#[derive(Clone)]
struct LogBins {
    counts: Vec<u64>,
    n: u64,
}

impl LogBins {
    fn new() -> LogBins {
        LogBins {
            counts: vec![0; CDF_DECADES * CDF_BINS_PER_DECADE as usize],
            n: 0,
        }
    }
    fn push(&mut self, x: f64) {
        let k = ((x.log10() - CDF_LOWEST_DECADE as f64) * CDF_BINS_PER_DECADE).ceil();
        let k = (k.max(0.0) as usize).min(self.counts.len() - 1);
        self.counts[k] += 1;
        self.n += 1;
    }
    /// (upper edge, fraction ≤ edge) over the occupied bins.
    fn cdf(&self) -> Vec<(f64, f64)> {
        let Some(first) = self.counts.iter().position(|&c| c > 0) else {
            return Vec::new();
        };
        let last = self.counts.iter().rposition(|&c| c > 0).unwrap_or(first);
        let edge = |k: usize| 10f64.powf(CDF_LOWEST_DECADE as f64 + k as f64 / CDF_BINS_PER_DECADE);
        // From 0 at the first occupied bin's lower edge, so that a mode
        // whose gaps all fall in one bin still shows its rise.
        let mut points = vec![(edge(first.saturating_sub(1)), 0.0)];
        let mut sum = 0;
        for k in first..=last {
            sum += self.counts[k];
            points.push((edge(k), sum as f64 / self.n as f64));
        }
        points
    }
}

/// Trust-gap CDF per verification mode, log time axis, from per-mode bins.
fn trust_gap_cdf(bins: &[(&str, LogBins)]) -> Result<Plot, ReportError> {
    let series: Vec<(String, Vec<(f64, f64)>)> = bins
        .iter()
        .filter(|(_, b)| b.n > 0)
        .map(|(mode, b)| (format!("{mode} (n = {})", b.n), b.cdf()))
        .collect();
    let title = "Trust gap per verification mode (CDF)".to_string();
    let svg = svg(|root| {
        let (lo, hi) = series
            .iter()
            .flat_map(|(_, p)| p.iter().map(|q| q.0))
            .fold((f64::INFINITY, 0.0f64), |(lo, hi), x| {
                (lo.min(x), hi.max(x))
            });
        let (lo, hi) = if lo.is_finite() {
            (lo / 1.5, hi * 1.5)
        } else {
            (0.1, 1000.0)
        };
        let mut chart = ChartBuilder::on(root)
            .caption(&title, (FONT, 24))
            .margin(18)
            .margin_right(40)
            .x_label_area_size(50)
            .y_label_area_size(80)
            .build_cartesian_2d(
                (lo..hi).log_scale().with_key_points(log_ticks(lo, hi)),
                0f64..1.0,
            )
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("trust gap = finalised − delivered (s, log scale)")
            .x_label_formatter(&|v| plain(*v))
            .y_desc("fraction of finalised requests")
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 17))
            .draw()
            .map_err(plot_err)?;
        if series.is_empty() {
            return no_data(root);
        }
        for (i, (name, points)) in series.iter().enumerate() {
            let c = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(points.iter().copied(), c.stroke_width(2)))
                .map_err(plot_err)?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 22, y)], c.stroke_width(3))
                });
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)
    })?;
    Ok(Plot {
        name: "trust_gap_cdf".into(),
        title,
        svg,
    })
}

/// Bars over bins: `bars` are (left, right, count).
fn histogram(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    bars: &[(f64, f64, f64)],
    integer_x: bool,
) -> Result<String, ReportError> {
    svg(|root| {
        let pad = if integer_x { 0.1 } else { 0.0 };
        let x0 = bars.first().map_or(0.0, |b| b.0) - pad;
        let x1 = bars.last().map_or(1.0, |b| b.1) + pad;
        let y1 = bars.iter().map(|b| b.2).fold(1.0f64, f64::max) * 1.08;
        let mut chart = frame(root, title, (x0, x1), (0.0, y1))?;
        let xr = x1 - x0;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_label_formatter(&|v| {
                if !integer_x {
                    tick(*v, xr)
                } else if (v - v.round()).abs() < 1e-9 {
                    format!("{}", v.round())
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|v| tick(*v, 100.0))
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 17))
            .draw()
            .map_err(plot_err)?;
        if bars.is_empty() {
            return no_data(root);
        }
        chart
            .draw_series(
                bars.iter().map(|&(l, r, n)| {
                    Rectangle::new([(l, 0.0), (r, n)], PALETTE[0].mix(0.8).filled())
                }),
            )
            .map_err(plot_err)?;
        Ok(())
    })
}

/// Equal-width bins over [lo, hi] (the values' range, found in a first pass).
fn bin_counts(lo: f64, hi: f64, bins: usize) -> (f64, Vec<f64>) {
    let width = if hi > lo {
        (hi - lo) / bins as f64
    } else {
        0.001
    };
    (width, vec![0.0; bins])
}

/// A count over `samples + 1` times 0, end/samples, …, end that changes at
/// (time, ±amount) events, added one by one in any order: a difference
/// array, so memory does not grow with the events. The level at sample k
/// counts every event at or before its time, as a sorted sweep would.
#[derive(Clone)]
struct StepCounts {
    end: f64,
    diff: Vec<f64>,
    /// The samples' times (`time`), so that placing an event (five per
    /// request of a day's run) divides nothing.
    times: Vec<f64>,
    /// Samples per second, for a first guess of the sample.
    rate: f64,
}

impl StepCounts {
    fn new(end: f64, samples: usize) -> StepCounts {
        let times = (0..=samples)
            .map(|k| end * k as f64 / samples as f64)
            .collect();
        StepCounts {
            end,
            diff: vec![0.0; samples + 2],
            times,
            rate: samples as f64 / end.max(f64::MIN_POSITIVE),
        }
    }
    fn time(&self, k: usize) -> f64 {
        self.times[k]
    }
    fn add(&mut self, t: f64, amount: f64) {
        let samples = self.diff.len() - 2;
        #[allow(
            clippy::neg_cmp_op_on_partial_ord,
            reason = "NaN must take this branch too"
        )]
        if !(t <= self.end) {
            return; // after the last sample (or never): counts nowhere
        }
        // The first sample whose time is ≥ t: a guess, then moved to it.
        let mut k = (t * self.rate).floor().max(0.0) as usize;
        k = k.min(samples);
        while k > 0 && self.time(k - 1) >= t {
            k -= 1;
        }
        while k <= samples && self.time(k) < t {
            k += 1;
        }
        self.diff[k] += amount;
    }
    /// An interval [from, to): +1 at from, −1 at to (never, if `to` is `None`).
    fn interval(&mut self, from: Option<f64>, to: Option<f64>, amount: f64) {
        if let Some(a) = from {
            self.add(a, amount);
            self.add(to.unwrap_or(f64::INFINITY), -amount);
        }
    }
    fn points(&self) -> Vec<(f64, f64)> {
        let mut level = 0.0;
        (0..self.diff.len() - 1)
            .map(|k| {
                level += self.diff[k];
                (self.time(k), level)
            })
            .collect()
    }
}

/// One request as the plots read it: its row of `requests.parquet`, or its
/// record as the run writes it.
pub struct RequestRow<'a> {
    pub mode: &'a str,
    pub trust_gap_s: Option<f64>,
    pub submitted_s: Option<f64>,
    pub started_s: Option<f64>,
    pub delivered_s: Option<f64>,
    pub proof_started_s: Option<f64>,
    pub proof_done_s: Option<f64>,
    pub honest: bool,
    pub value_at_risk_usd: Option<f64>,
    pub detected_s: Option<f64>,
    /// `"rejected"`, `"abandoned"`, …; empty in tables written before the column.
    pub outcome: &'a str,
    pub abandoned_s: Option<f64>,
}

impl<'a> From<&'a RequestRecord> for RequestRow<'a> {
    fn from(r: &'a RequestRecord) -> Self {
        RequestRow {
            mode: r.mode,
            trust_gap_s: r.trust_gap_s,
            submitted_s: Some(r.submitted_s),
            started_s: r.started_s,
            delivered_s: r.delivered_s,
            proof_started_s: r.proof_started_s,
            proof_done_s: r.proof_done_s,
            honest: r.honest,
            value_at_risk_usd: Some(r.value_at_risk_usd),
            detected_s: r.detected_s,
            outcome: r.outcome,
            abandoned_s: r.abandoned_s,
        }
    }
}

/// What the requests' plots (trust gaps per mode, load over time, fraud
/// exposure) need, in memory that does not grow with the rows, added row
/// by row in table order: by the run as it writes each request (so that a
/// day's run does not read its requests back, ~7 % of its time) or from
/// the table (`hacasim report`); the same rows in the same order give the
/// same plots, byte for byte (tested).
#[derive(Clone)]
pub struct RequestPlots {
    duration_s: f64,
    gaps: [(&'static str, LogBins); 3],
    gq: StepCounts,
    gs: StepCounts,
    pq: StepCounts,
    pp: StepCounts,
    exposure: StepCounts,
    /// Requests refused at a full queue and given up while queued, cumulative.
    rejected: StepCounts,
    abandoned: StepCounts,
    any_request: bool,
    any_wrong: bool,
    any_rejected: bool,
    any_abandoned: bool,
}

impl RequestPlots {
    /// For a run of `duration_s` simulated seconds.
    pub fn new(duration_s: f64) -> RequestPlots {
        let [gq, gs, pq, pp, exposure, rejected, abandoned] =
            std::array::from_fn(|_| StepCounts::new(duration_s, 300));
        RequestPlots {
            duration_s,
            gaps: [
                ("tee", LogBins::new()),
                ("zk", LogBins::new()),
                ("vanilla", LogBins::new()),
            ],
            gq,
            gs,
            pq,
            pp,
            exposure,
            rejected,
            abandoned,
            any_request: false,
            any_wrong: false,
            any_rejected: false,
            any_abandoned: false,
        }
    }

    /// The next request of the table.
    pub fn push(&mut self, r: &RequestRow) {
        self.any_request = true;
        if let (Some((_, bins)), Some(g)) = (
            self.gaps.iter_mut().find(|(m, _)| *m == r.mode),
            r.trust_gap_s,
        ) && g > 0.0
        {
            bins.push(g);
        }
        match r.outcome {
            "rejected" => {
                // Never queued: counted where it was refused.
                self.any_rejected = true;
                self.rejected.interval(r.submitted_s, None, 1.0);
                return;
            }
            "abandoned" => {
                // Waited in the queue until its user gave up.
                self.any_abandoned = true;
                self.abandoned.interval(r.abandoned_s, None, 1.0);
                self.gq.interval(r.submitted_s, r.abandoned_s, 1.0);
                return;
            }
            _ => {}
        }
        self.gq.interval(r.submitted_s, r.started_s, 1.0);
        self.gs.interval(r.started_s, r.delivered_s, 1.0);
        if r.mode == "zk" {
            self.pq.interval(r.delivered_s, r.proof_started_s, 1.0);
            self.pp.interval(r.proof_started_s, r.proof_done_s, 1.0);
        }
        if !r.honest
            && let (Some(d), Some(v)) = (r.delivered_s, r.value_at_risk_usd)
        {
            self.any_wrong = true;
            self.exposure.interval(Some(d), r.detected_s, v);
        }
    }

    /// From the requests table at `path`, streamed.
    pub fn from_table(path: &Path, duration_s: f64) -> Result<RequestPlots, ReportError> {
        let mut plots = RequestPlots::new(duration_s);
        let cols = [
            "mode",
            "trust_gap_s",
            "submitted_s",
            "started_s",
            "delivered_s",
            "proof_started_s",
            "proof_done_s",
            "honest",
            "value_at_risk_usd",
            "detected_s",
            "outcome",
            "abandoned_s",
        ];
        for_each_chunk(path, &cols, |df| {
            let col = |n: &str| column_f64(df, n);
            let modes = column_str(df, "mode");
            let (gap, sub, start, deliv, ps, pd) = (
                col("trust_gap_s"),
                col("submitted_s"),
                col("started_s"),
                col("delivered_s"),
                col("proof_started_s"),
                col("proof_done_s"),
            );
            let (value, detected) = (col("value_at_risk_usd"), col("detected_s"));
            // Absent from tables written before issue #22: empty.
            let (outcome, abandoned) = (column_str(df, "outcome"), col("abandoned_s"));
            let honest: Vec<bool> = df
                .column("honest")
                .ok()
                .and_then(|c| {
                    c.bool()
                        .ok()
                        .map(|b| (0..b.len()).map(|i| b.get(i).unwrap_or(true)).collect())
                })
                .unwrap_or_default();
            for i in 0..modes.len() {
                plots.push(&RequestRow {
                    mode: &modes[i],
                    trust_gap_s: gap[i],
                    submitted_s: sub[i],
                    started_s: start[i],
                    delivered_s: deliv[i],
                    proof_started_s: ps[i],
                    proof_done_s: pd[i],
                    honest: honest.get(i).copied().unwrap_or(true),
                    value_at_risk_usd: value[i],
                    detected_s: detected[i],
                    outcome: outcome.get(i).map_or("", String::as_str),
                    abandoned_s: abandoned.get(i).copied().flatten(),
                });
            }
        })?;
        Ok(plots)
    }
}

/// Rows read per chunk when a table is streamed (whole row groups).
const CHUNK_ROWS: usize = 65_536;

/// Calls `f` on `columns` of the table at `path`, one chunk of rows at a
/// time, so that plotting a day's run does not load a day of rows.
pub fn for_each_chunk(
    path: &Path,
    columns: &[&str],
    mut f: impl FnMut(&DataFrame),
) -> Result<(), ReportError> {
    let open = || {
        std::fs::File::open(path).map_err(|source| ReportError::Io {
            path: path.to_path_buf(),
            source,
        })
    };
    let mut reader = ParquetReader::new(open()?);
    let (rows, schema) = crate::read_guarded(path, || Ok((reader.num_rows()?, reader.schema()?)))?;
    // Columns that the table lacks (written by an older version) are left
    // out: they read as missing, not as an error.
    let cols: Vec<String> = columns
        .iter()
        .filter(|c| schema.contains(c))
        .map(|c| c.to_string())
        .collect();
    let mut offset = 0;
    while offset < rows {
        let len = CHUNK_ROWS.min(rows - offset);
        let file = open()?;
        let df = crate::read_guarded(path, || {
            ParquetReader::new(file)
                .with_columns(Some(cols.clone()))
                .with_slice(Some((offset, len)))
                .finish()
        })?;
        f(&df);
        offset += len;
    }
    Ok(())
}

/// Every plot of a run directory, from its tables, streamed.
///
/// `requests_plots`: the requests' part accumulated while the run wrote the
/// table (`None`: read from `requests.parquet`, as `hacasim report` does).
pub fn run_plots(
    dir: &Path,
    duration_s: f64,
    requests_plots: Option<RequestPlots>,
) -> Result<Vec<Plot>, ReportError> {
    let blocks = dir.join("blocks.parquet");
    let requests = dir.join("requests.parquet");
    let ledger = dir.join("ledger.parquet");

    // Requests: trust gaps per mode, load over time, fraud exposure.
    let requests_plots = match requests_plots {
        // Over the same duration as the summary's (always, for a run's own).
        Some(r) if r.duration_s == duration_s => r,
        _ => RequestPlots::from_table(&requests, duration_s)?,
    };
    let RequestPlots {
        gaps,
        gq,
        gs,
        pq,
        pp,
        exposure,
        rejected,
        abandoned,
        any_request,
        any_wrong,
        any_rejected,
        any_abandoned,
        ..
    } = requests_plots;
    let mut plots = vec![trust_gap_cdf(&gaps)?];

    // Blocks: two passes, the first for the intervals' range.
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for_each_chunk(&blocks, &["interval_s"], |df| {
        for x in column_f64(df, "interval_s").into_iter().flatten() {
            (lo, hi) = (lo.min(x), hi.max(x));
        }
    })?;
    let (width, mut counts) = bin_counts(lo, hi, 40);
    const LATENCY_BINS: usize = 600;
    let bin_s = duration_s.max(1e-9) / LATENCY_BINS as f64;
    let mut latency = vec![(0.0f64, 0.0f64, f64::NEG_INFINITY, 0u64); LATENCY_BINS]; // (sum t, sum y, max y, n)
    let mut latency_max_at = vec![0.0f64; LATENCY_BINS];
    let mut per_round: Vec<f64> = Vec::new();
    for_each_chunk(
        &blocks,
        &["interval_s", "committed_at_s", "proposed_at_s", "round"],
        |df| {
            for x in column_f64(df, "interval_s").into_iter().flatten() {
                counts[(((x - lo) / width) as usize).min(39)] += 1.0;
            }
            for (c, p) in column_f64(df, "committed_at_s")
                .into_iter()
                .zip(column_f64(df, "proposed_at_s"))
            {
                if let (Some(c), Some(p)) = (c, p) {
                    let b = ((c / bin_s) as usize).min(LATENCY_BINS - 1);
                    let e = &mut latency[b];
                    (e.0, e.1, e.3) = (e.0 + c, e.1 + (c - p), e.3 + 1);
                    if c - p > e.2 {
                        e.2 = c - p;
                        latency_max_at[b] = c;
                    }
                }
            }
            for r in column_f64(df, "round").into_iter().flatten() {
                let r = r as usize;
                if per_round.len() <= r {
                    per_round.resize(r + 1, 0.0);
                }
                per_round[r] += 1.0;
            }
        },
    )?;
    let bars: Vec<(f64, f64, f64)> = if lo.is_finite() {
        counts
            .iter()
            .enumerate()
            .map(|(i, &n)| (lo + i as f64 * width, lo + (i + 1) as f64 * width, n))
            .collect()
    } else {
        Vec::new()
    };
    let title = "Block interval".to_string();
    plots.push(Plot {
        name: "block_interval_hist".into(),
        svg: histogram(
            &title,
            "time between consecutive commits (s)",
            "heights",
            &bars,
            false,
        )?,
        title,
    });

    // One point per block while they fit; beyond, the mean and the slowest
    // block of each 1/600 of the run (bounded, and outliers stay visible).
    let blocks_n: u64 = latency.iter().map(|e| e.3).sum();
    let series = if blocks_n as usize <= LATENCY_BINS {
        let mut every = Vec::new();
        for_each_chunk(&blocks, &["committed_at_s", "proposed_at_s"], |df| {
            for (c, p) in column_f64(df, "committed_at_s")
                .into_iter()
                .zip(column_f64(df, "proposed_at_s"))
            {
                if let (Some(c), Some(p)) = (c, p) {
                    every.push((c, c - p));
                }
            }
        })?;
        vec![("committed block".to_string(), every)]
    } else {
        let filled = || latency.iter().zip(&latency_max_at).filter(|(e, _)| e.3 > 0);
        vec![
            (
                format!("mean of the blocks in each {:.0} s", bin_s),
                filled()
                    .map(|(e, _)| (e.0 / e.3 as f64, e.1 / e.3 as f64))
                    .collect(),
            ),
            (
                format!("slowest block in each {:.0} s", bin_s),
                filled().map(|(e, &t)| (t, e.2)).collect(),
            ),
        ]
    };
    let title = "Finality latency over time".to_string();
    plots.push(Plot {
        name: "finality_latency".into(),
        svg: xy(
            &title,
            "simulated time (s)",
            "proposal → commit of each block (s)",
            &series,
            Style::Points,
        )?,
        title,
    });

    // At least rounds 1 to 3 on the axis, so that a run without any retry still reads as one.
    let bars: Vec<(f64, f64, f64)> = if per_round.is_empty() {
        Vec::new()
    } else {
        (0..per_round.len().max(3))
            .map(|r| {
                (
                    r as f64 + 0.6,
                    r as f64 + 1.4,
                    per_round.get(r).copied().unwrap_or(0.0),
                )
            })
            .collect()
    };
    let title = "Rounds per height".to_string();
    plots.push(Plot {
        name: "rounds_per_height".into(),
        svg: histogram(
            &title,
            "rounds used (1 = committed in round 0)",
            "heights",
            &bars,
            true,
        )?,
        title,
    });

    // Ledger: cumulative series, sampled at the last row of each of 1000
    // equal slices of the run plus the first and last rows.
    const LEDGER_SAMPLES: usize = 1000;
    let names = ["supply", "minted", "burned", "slashed", "base_fee"];
    let mut rows: Vec<(f64, [f64; 5])> = Vec::new();
    let mut last_slice = usize::MAX;
    let mut cols = vec!["time_s"];
    cols.extend(names);
    for_each_chunk(&ledger, &cols, |df| {
        let t = column_f64(df, "time_s");
        let vals: Vec<Vec<Option<f64>>> = names.iter().map(|n| column_f64(df, n)).collect();
        for i in 0..t.len() {
            let Some(ti) = t[i] else { continue };
            let row = (ti, std::array::from_fn(|j| vals[j][i].unwrap_or(0.0)));
            let slice = ((ti / duration_s.max(1e-9)) * LEDGER_SAMPLES as f64) as usize;
            if rows.is_empty() || slice != last_slice {
                rows.push(row);
            } else {
                *rows.last_mut().expect("non-empty") = row; // keep the slice's last row
            }
            last_slice = slice;
        }
    })?;
    let tokens = |j: usize| -> Vec<(f64, f64)> {
        rows.iter()
            .map(|(t, v)| (*t, v[j] / economics::BASE_UNITS_PER_TOKEN as f64))
            .collect()
    };
    let (supply, minted, burned, slashed) = (tokens(0), tokens(1), tokens(2), tokens(3));
    let net: Vec<(f64, f64)> = minted
        .iter()
        .zip(&burned)
        .map(|(m, b)| (m.0, m.1 - b.1))
        .collect();
    let title = match (supply.first(), supply.last()) {
        (Some(a), Some(b)) => format!(
            "Token supply: {:.0} → {:.0} tokens",
            a.1 - (minted[0].1 - burned[0].1),
            b.1
        ),
        _ => "Token supply".to_string(),
    };
    plots.push(Plot {
        name: "supply".into(),
        svg: lines(
            &title,
            "simulated time (s)",
            "tokens since genesis",
            &[
                ("minted (cumulative)".into(), minted),
                (
                    "burned: fees and burned slashes (cumulative)".into(),
                    burned,
                ),
                ("slashed (cumulative)".into(), slashed),
                ("net issuance = minted − burned".into(), net),
            ],
        )?,
        title,
    });
    let fee: Vec<(f64, f64)> = rows.iter().map(|(t, v)| (*t, v[4])).collect();
    let title = "Base fee (EIP-1559)".to_string();
    plots.push(Plot {
        name: "base_fee".into(),
        svg: lines(
            &title,
            "simulated time (s)",
            "base fee (base units per gas)",
            &[("base fee".into(), fee)],
        )?,
        title,
    });

    let mut series = vec![
        ("GPU queue (waiting)".to_string(), gq.points()),
        ("GPU batches (in service)".to_string(), gs.points()),
        ("prover queue (waiting)".to_string(), pq.points()),
        ("provers busy".to_string(), pp.points()),
    ];
    // Admission limits (issue #22), only when they turned requests away.
    if any_rejected {
        series.push((
            "rejected: queue full (cumulative)".to_string(),
            rejected.points(),
        ));
    }
    if any_abandoned {
        series.push((
            "abandoned in the queue (cumulative)".to_string(),
            abandoned.points(),
        ));
    }
    let series: Vec<_> = if any_request { series } else { Vec::new() };
    let title = "GPU-node and prover load".to_string();
    plots.push(Plot {
        name: "load".into(),
        svg: lines(&title, "simulated time (s)", "requests", &series)?,
        title,
    });

    let series = if any_wrong {
        vec![("exposed".to_string(), exposure.points())]
    } else {
        Vec::new()
    };
    let title = "Fraud exposure: value at risk of wrong results not yet caught".to_string();
    plots.push(Plot {
        name: "fraud_exposure".into(),
        svg: lines(&title, "simulated time (s)", "USD exposed", &series)?,
        title,
    });
    Ok(plots)
}

/// Mean with a shaded 95% confidence band, against one parameter.
pub fn band(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    points: &[(f64, f64, f64)],
) -> Result<String, ReportError> {
    svg(|root| {
        let (x0, x1) = span(points.iter().map(|p| p.0), (0.0, 1.0));
        let (y0, y1) = span(
            points.iter().flat_map(|p| [p.1 - p.2, p.1 + p.2]),
            (0.0, 1.0),
        );
        let mut chart = linear_chart(root, title, x_desc, y_desc, (x0, x1), (y0, y1))?;
        if points.is_empty() {
            return no_data(root);
        }
        let mut poly: Vec<(f64, f64)> = points.iter().map(|p| (p.0, p.1 + p.2)).collect();
        poly.extend(points.iter().rev().map(|p| (p.0, p.1 - p.2)));
        chart
            .draw_series(std::iter::once(Polygon::new(
                poly,
                PALETTE[0].mix(0.2).filled(),
            )))
            .map_err(plot_err)?
            .label("95% confidence interval")
            .legend(|(x, y)| {
                Rectangle::new([(x, y - 5), (x + 22, y + 5)], PALETTE[0].mix(0.2).filled())
            });
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p.0, p.1)),
                PALETTE[0].stroke_width(2),
            ))
            .map_err(plot_err)?
            .label("mean over seeds")
            .legend(|(x, y)| {
                PathElement::new(vec![(x, y), (x + 22, y)], PALETTE[0].stroke_width(3))
            });
        chart
            .draw_series(
                points
                    .iter()
                    .map(|p| Circle::new((p.0, p.1), 4, PALETTE[0].filled())),
            )
            .map_err(plot_err)?;
        legend(&mut chart, SeriesLabelPosition::UpperLeft)
    })
}

/// A heatmap over two parameters, each cell labelled with its value.
pub fn heatmap(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    xs: &[f64],
    ys: &[f64],
    value: &dyn Fn(usize, usize) -> Option<f64>,
) -> Result<String, ReportError> {
    svg(|root| {
        let mut chart = frame(
            root,
            title,
            (0.0, xs.len().max(1) as f64),
            (0.0, ys.len().max(1) as f64),
        )?;
        let xl: Vec<String> = xs.iter().map(|v| format!("{v}")).collect();
        let yl: Vec<String> = ys.iter().map(|v| format!("{v}")).collect();
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_labels(xs.len().max(1) * 2 + 1)
            .y_labels(ys.len().max(1) * 2 + 1)
            .x_label_formatter(&|v| {
                let i = v - 0.5;
                if (i - i.round()).abs() < 1e-6 && i >= 0.0 {
                    xl.get(i.round() as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|v| {
                let i = v - 0.5;
                if (i - i.round()).abs() < 1e-6 && i >= 0.0 {
                    yl.get(i.round() as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 17))
            .draw()
            .map_err(plot_err)?;
        let cells: Vec<(usize, usize, f64)> = (0..xs.len())
            .flat_map(|i| (0..ys.len()).filter_map(move |j| value(i, j).map(|v| (i, j, v))))
            .collect();
        if cells.is_empty() {
            return no_data(root);
        }
        let (lo, hi) = cells
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), c| {
                (a.min(c.2), b.max(c.2))
            });
        for &(i, j, v) in &cells {
            let f = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
            // From pale to the palette's blue.
            let c = RGBColor(
                (240.0 - 240.0 * f) as u8,
                (245.0 - 131.0 * f) as u8,
                (255.0 - 77.0 * f) as u8,
            );
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(i as f64, j as f64), (i as f64 + 1.0, j as f64 + 1.0)],
                    c.filled(),
                )))
                .map_err(plot_err)?;
            let text_colour = if f > 0.55 { WHITE } else { BLACK };
            let label = if v.abs() >= 100.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.3}")
            };
            chart
                .draw_series(std::iter::once(Text::new(
                    label,
                    (i as f64 + 0.38, j as f64 + 0.55),
                    (FONT, 16).into_font().color(&text_colour),
                )))
                .map_err(plot_err)?;
        }
        Ok(())
    })
}

/// Rasterises an SVG to PNG with the bundled DejaVu Sans as every family.
pub fn svg_to_png(svg: &str) -> Result<Vec<u8>, ReportError> {
    let mut db = resvg::usvg::fontdb::Database::new();
    db.load_font_data(dejavu::sans::regular().to_vec());
    db.set_sans_serif_family("DejaVu Sans");
    db.set_serif_family("DejaVu Sans");
    db.set_monospace_family("DejaVu Sans");
    let opt = resvg::usvg::Options {
        font_family: "DejaVu Sans".into(),
        fontdb: Arc::new(db),
        ..Default::default()
    };
    let tree = resvg::usvg::Tree::from_str(svg, &opt).map_err(plot_err)?;
    let size = tree.size().to_int_size();
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height())
        .ok_or_else(|| plot_err("empty image"))?;
    pixmap.fill(resvg::tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::default(),
        &mut pixmap.as_mut(),
    );
    pixmap.encode_png().map_err(plot_err)
}

/// One named series of (x, y) points for a panel, drawn as a line with
/// markers: `solid` lines and filled circles, or thin lines and crosses; on
/// a categorical x axis, markers only (categories are not a line).
pub struct PanelSeries {
    pub name: String,
    pub colour: usize,
    pub solid: bool,
    pub points: Vec<(f64, f64)>,
    /// 95 % half-widths over seeds, one per point (empty, or `None`: no
    /// interval drawn).
    pub ci: Vec<Option<f64>>,
    /// For a point a log axis cannot show (0 or below), the word drawn at
    /// the axis floor instead (e.g. `"halted"`), one per point (empty, or
    /// `None`: "0").
    pub notes: Vec<Option<String>>,
}

impl PanelSeries {
    /// A series with neither intervals nor notes.
    pub fn new(name: String, colour: usize, solid: bool, points: Vec<(f64, f64)>) -> PanelSeries {
        PanelSeries {
            name,
            colour,
            solid,
            points,
            ci: Vec::new(),
            notes: Vec::new(),
        }
    }
}

/// Small charts side by side sharing an x axis (a 2 × 3 grid): `charts`
/// are (title, log y axis, series). A log axis plots log10 of the values,
/// ticked at 1, 2 and 5 times powers of ten and labelled in the original
/// units; a value it cannot show (0 or below) is drawn at its floor as a
/// triangle with a word, not left out.
pub fn panel(
    title: &str,
    x_desc: &str,
    charts: &[(String, bool, Vec<PanelSeries>)],
) -> Result<String, ReportError> {
    panel_with_labels(title, x_desc, &[], charts)
}

/// A linear f64 axis ticked at the given values only (plotters' own
/// key points are evenly spaced in the coordinate: on a log10 axis they
/// fall at 10^0.3 = 1.995 and the like).
pub(crate) struct Ticked {
    inner: plotters::coord::types::RangedCoordf64,
    keys: Vec<f64>,
}

impl Ticked {
    pub(crate) fn new(range: std::ops::Range<f64>, keys: Vec<f64>) -> Ticked {
        Ticked {
            inner: range.into(),
            keys,
        }
    }
}

impl Ranged for Ticked {
    type FormatOption = plotters::coord::ranged1d::NoDefaultFormatting;
    type ValueType = f64;
    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }
    fn key_points<H: plotters::coord::ranged1d::KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.keys.clone()
        }
    }
    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

impl plotters::coord::ranged1d::ValueFormatter<f64> for Ticked {
    fn format(value: &f64) -> String {
        plain(*value)
    }
}

/// One series' points as a chart draws them: shown points (x, y′, interval
/// ends) and the points at the floor (x, note).
type Placed = (Vec<(f64, f64, Option<(f64, f64)>)>, Vec<(f64, String)>);

/// [`panel`] with names for the x positions 0, 1, 2, … (categories): each
/// series' markers side by side within its category, with its intervals.
pub fn panel_with_labels(
    title: &str,
    x_desc: &str,
    x_labels: &[String],
    charts: &[(String, bool, Vec<PanelSeries>)],
) -> Result<String, ReportError> {
    let size = (1500u32, 900u32);
    let categorical = !x_labels.is_empty();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let root = root.titled(title, (FONT, 26)).map_err(plot_err)?;
        let areas = root.split_evenly((2, 3));
        for (k, ((name, log, series), area)) in charts.iter().zip(areas.iter()).enumerate() {
            let tf = |y: f64| {
                if *log {
                    (y > 0.0).then(|| y.log10())
                } else {
                    Some(y)
                }
            };
            let n = series.len().max(1) as f64;
            let placed: Vec<Placed> = series
                .iter()
                .enumerate()
                .map(|(j, s)| {
                    let dx = if categorical {
                        (j as f64 - (n - 1.0) / 2.0) * (0.6 / n)
                    } else {
                        0.0
                    };
                    let (mut shown, mut floor) = (Vec::new(), Vec::new());
                    for (i, &(x, y)) in s.points.iter().enumerate() {
                        let Some(ty) = tf(y) else {
                            let note = s.notes.get(i).cloned().flatten();
                            floor.push((x + dx, note.unwrap_or_else(|| "0".into())));
                            continue;
                        };
                        let ci = s.ci.get(i).copied().flatten().map(|c| {
                            let lo = tf(y - c).unwrap_or(ty);
                            (lo, tf(y + c).unwrap_or(ty))
                        });
                        shown.push((x + dx, ty, ci));
                    }
                    (shown, floor)
                })
                .collect();
            let xs = placed
                .iter()
                .flat_map(|(p, f)| p.iter().map(|q| q.0).chain(f.iter().map(|q| q.0)));
            let (x0, x1) = if categorical {
                (-0.5, x_labels.len() as f64 - 0.5)
            } else {
                span(xs, (0.0, 1.0))
            };
            let ys = placed.iter().flat_map(|(p, _)| {
                p.iter()
                    .flat_map(|q| [Some(q.1), q.2.map(|c| c.0), q.2.map(|c| c.1)])
                    .flatten()
            });
            let (mut y0, mut y1) = span(ys, (0.0, 1.0));
            if k == 0 {
                // Headroom for the legend, so that it covers no data.
                y1 += 0.08 * series.len() as f64 * (y1 - y0);
            }
            let any_floor = placed.iter().any(|(_, f)| !f.is_empty());
            if any_floor {
                // Room at the bottom for the floor's markers and words.
                y0 -= 0.12 * (y1 - y0);
            }
            let keys: Vec<f64> = if *log {
                log_ticks(10f64.powf(y0), 10f64.powf(y1))
                    .into_iter()
                    .map(f64::log10)
                    .collect()
            } else {
                linear_ticks(y0, y1)
            };
            let mut chart = ChartBuilder::on(area)
                .caption(name, (FONT, 18))
                .margin(10)
                .x_label_area_size(36)
                .y_label_area_size(64)
                .build_cartesian_2d(x0..x1, Ticked::new(y0..y1, keys))
                .map_err(plot_err)?;
            chart
                .configure_mesh()
                .x_desc(x_desc)
                .max_light_lines(0)
                .x_labels(if categorical { x_labels.len() + 1 } else { 10 })
                .x_label_formatter(&|v| {
                    if !categorical {
                        tick(*v, x1 - x0)
                    } else if (v - v.round()).abs() < 1e-6 && *v >= 0.0 {
                        x_labels
                            .get(v.round() as usize)
                            .cloned()
                            .unwrap_or_default()
                    } else {
                        String::new()
                    }
                })
                .y_label_formatter(&|v| {
                    if *log {
                        plain(10f64.powf(*v))
                    } else {
                        plain(*v)
                    }
                })
                .label_style((FONT, 13))
                .axis_desc_style((FONT, 14))
                .draw()
                .map_err(plot_err)?;
            let floor_y = y0 + 0.04 * (y1 - y0);
            for (s, (shown, floor)) in series.iter().zip(&placed) {
                let c = PALETTE[s.colour % PALETTE.len()];
                let width = if s.solid { 3 } else { 1 };
                let line: Vec<(f64, f64)> = shown.iter().map(|q| (q.0, q.1)).collect();
                let drawn = if categorical {
                    chart.draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
                } else {
                    chart.draw_series(LineSeries::new(line.iter().copied(), c.stroke_width(width)))
                }
                .map_err(plot_err)?;
                if k == 0 {
                    let solid = s.solid;
                    drawn.label(s.name.as_str()).legend(move |(x, y)| {
                        PathElement::new(
                            vec![(x, y), (x + 18, y)],
                            c.stroke_width(if solid { 3 } else { 1 }),
                        )
                    });
                }
                for &(x, _, ci) in shown {
                    if let Some((lo, hi)) = ci {
                        let cap = 0.08 / n.max(2.0);
                        chart
                            .draw_series([
                                PathElement::new(vec![(x, lo), (x, hi)], c.stroke_width(2)),
                                PathElement::new(
                                    vec![(x - cap, lo), (x + cap, lo)],
                                    c.stroke_width(2),
                                ),
                                PathElement::new(
                                    vec![(x - cap, hi), (x + cap, hi)],
                                    c.stroke_width(2),
                                ),
                            ])
                            .map_err(plot_err)?;
                    }
                }
                if s.solid {
                    chart
                        .draw_series(line.iter().map(|&q| Circle::new(q, 4, c.filled())))
                        .map_err(plot_err)?;
                } else {
                    chart
                        .draw_series(line.iter().map(|&q| Cross::new(q, 5, c.stroke_width(2))))
                        .map_err(plot_err)?;
                }
                for (x, note) in floor {
                    chart
                        .draw_series([TriangleMarker::new((*x, floor_y), 6, c.filled())])
                        .map_err(plot_err)?;
                    chart
                        .draw_series([Text::new(
                            note.clone(),
                            (*x, floor_y + 0.03 * (y1 - y0)),
                            (FONT, 12)
                                .into_font()
                                .color(&c)
                                .pos(Pos::new(HPos::Center, VPos::Bottom)),
                        )])
                        .map_err(plot_err)?;
                }
            }
            if k == 0 {
                chart
                    .configure_series_labels()
                    .label_font((FONT, 11))
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK)
                    .position(SeriesLabelPosition::UpperLeft)
                    .draw()
                    .map_err(plot_err)?;
            }
        }
        root.present().map_err(plot_err)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sorted sweep that `StepCounts` replaces, as the oracle.
    fn sorted_sweep(mut events: Vec<(f64, f64)>, end: f64, samples: usize) -> Vec<(f64, f64)> {
        events.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (mut level, mut j, mut out) = (0.0, 0, Vec::new());
        for k in 0..=samples {
            let t = end * k as f64 / samples as f64;
            while j < events.len() && events[j].0 <= t {
                level += events[j].1;
                j += 1;
            }
            out.push((t, level));
        }
        out
    }

    #[test]
    fn step_counts_equal_a_sorted_sweep() {
        let mut state = 11u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        for &end in &[100.0, 3600.0, 86_400.0] {
            let mut counts = StepCounts::new(end, 300);
            let mut events = Vec::new();
            for i in 0..5000 {
                // Start times on sample instants too, to exercise the edges.
                let a = if i % 10 == 0 {
                    end * (i % 301) as f64 / 300.0
                } else {
                    next() * end * 1.1
                };
                let b = if i % 7 == 0 {
                    None
                } else {
                    Some(a + next() * end * 0.2)
                };
                counts.interval(Some(a), b, 1.0);
                events.push((a, 1.0));
                events.push((b.unwrap_or(f64::INFINITY), -1.0));
            }
            assert_eq!(counts.points(), sorted_sweep(events, end, 300), "end {end}");
        }
    }

    /// A table of several row groups streams back whole, in bounded chunks.
    #[test]
    fn tables_stream_back_in_bounded_chunks() {
        let dir = std::env::temp_dir().join(format!("hacasim-chunks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let n = 2 * CHUNK_ROWS as u64 + 1234;
        let mut w = crate::TableWriter::<sim_core::BlockRecord>::new(&dir);
        for height in 1..=n {
            let row = sim_core::BlockRecord {
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
        }
        w.finish().unwrap();
        let (mut rows, mut sum, mut largest) = (0u64, 0u64, 0usize);
        for_each_chunk(&dir.join("blocks.parquet"), &["height"], |df| {
            largest = largest.max(df.height());
            rows += df.height() as u64;
            sum += column_f64(df, "height").into_iter().flatten().sum::<f64>() as u64;
        })
        .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!((rows, sum), (n, n * (n + 1) / 2));
        assert_eq!(largest, CHUNK_ROWS);
    }

    /// A CDF from bins at each bin's upper edge: the fraction of values at or below it.
    #[test]
    fn log_bins_cdf_counts_values_below_each_edge() {
        let mut bins = LogBins::new();
        let values = [0.5, 0.5, 2.0, 30.0];
        values.iter().for_each(|&v| bins.push(v));
        let cdf = bins.cdf();
        for &(edge, frac) in &cdf {
            let below = values
                .iter()
                .filter(|&&v| v <= edge * (1.0 + 1e-12))
                .count() as f64
                / 4.0;
            assert_eq!(frac, below, "edge {edge}");
        }
        assert_eq!(cdf.last().unwrap().1, 1.0);
        assert_eq!(cdf[0].1, 0.0, "starts from zero");
        assert!(cdf[1].0 >= 0.5 && cdf[1].0 < 0.5 * 1.04 && cdf[0].0 < 0.5);
    }

    /// Log ticks by hand: 1-2-5 over the range; 1–9 where 1-2-5 gives
    /// fewer than three; the ends where even that gives fewer than two.
    #[test]
    fn log_ticks_are_round_numbers() {
        assert_eq!(log_ticks(0.8, 30.0), [1.0, 2.0, 5.0, 10.0, 20.0]);
        assert_eq!(log_ticks(0.003, 0.2), [0.005, 0.01, 0.02, 0.05, 0.1, 0.2]);
        assert_eq!(log_ticks(3.0, 9.0), [3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
        assert_eq!(log_ticks(1.1, 1.9), [1.1, 1.9]);
        assert!(log_ticks(0.0, 1.0).is_empty());
    }

    #[test]
    fn linear_ticks_step_by_1_2_5() {
        assert_eq!(linear_ticks(0.0, 1.0), [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(linear_ticks(-3.0, 47.0), [0.0, 10.0, 20.0, 30.0, 40.0]);
        assert_eq!(
            linear_ticks(-0.35, 0.35),
            [-0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3]
        );
    }

    #[test]
    fn plain_numbers_have_no_exponent() {
        for (v, s) in [
            (0.002, "0.002"),
            (0.5, "0.5"),
            (2.0, "2"),
            (5000.0, "5000"),
            (1.5, "1.5"),
            (0.1 + 0.2, "0.3"),
            (10f64.powf(20f64.log10()), "20"),
            (0.0, "0"),
            (-0.25, "-0.25"),
        ] {
            assert_eq!(plain(v), s, "{v}");
        }
    }

    /// A log panel labels its axis with the 1-2-5 ticks as plain numbers
    /// (not 8.91e-1 or 1.995), and a 0 it cannot show is written at the
    /// floor with its note; a categorical panel draws each series' interval.
    #[test]
    fn panel_axes_and_floor_notes() {
        let series = vec![PanelSeries {
            notes: vec![None, None, Some("halted".into())],
            ..PanelSeries::new(
                "a".into(),
                0,
                true,
                vec![(1.0, 0.9), (2.0, 30.0), (3.0, 0.0)],
            )
        }];
        let svg = panel("t", "x", &[("c".into(), true, series)]).unwrap();
        // The words of every <text> element.
        let texts = |svg: &str| -> Vec<String> {
            svg.split("</text>")
                .filter_map(|t| t.rsplit('>').next())
                .map(|t| t.trim().to_string())
                .collect()
        };
        let words = texts(&svg);
        for label in ["1", "2", "5", "10", "20", "halted"] {
            assert!(
                words.iter().any(|w| w == label),
                "{label} missing: {words:?}"
            );
        }
        assert!(
            !words
                .iter()
                .any(|w| w.contains("e-") || w.contains("1.995")),
            "{words:?}"
        );
        let bars = vec![PanelSeries {
            ci: vec![Some(0.5), None],
            ..PanelSeries::new("d".into(), 1, true, vec![(0.0, 2.0), (1.0, 3.0)])
        }];
        let labels = ["none".to_string(), "price ×0.2".to_string()];
        let svg = panel_with_labels("t", "shock", &labels, &[("c".into(), false, bars)]).unwrap();
        let words = texts(&svg);
        assert!(words.iter().any(|w| w == "none") && words.iter().any(|w| w == "price ×0.2"));
    }
}
