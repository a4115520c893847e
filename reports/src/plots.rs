//! The run's plots, drawn with plotters as SVG from the Parquet tables alone
//! (so an old run can be re-plotted), then rasterised to PNG with resvg and
//! a bundled DejaVu Sans: no system fonts, no fontconfig.

use std::path::Path;
use std::sync::Arc;

use plotters::coord::Shift;
use plotters::prelude::*;
use polars::prelude::*;

use crate::{ReportError, read_table};

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
    let Ok(c) = df.column(name) else { return Vec::new() };
    let Ok(c) = c.cast(&DataType::Float64) else { return Vec::new() };
    let ca = c.f64().expect("cast to f64");
    (0..ca.len()).map(|i| ca.get(i)).collect()
}

/// A string column; empty if missing.
pub fn column_str(df: &DataFrame, name: &str) -> Vec<String> {
    let Ok(c) = df.column(name) else { return Vec::new() };
    let Ok(ca) = c.str() else { return Vec::new() };
    (0..ca.len()).map(|i| ca.get(i).unwrap_or("").to_string()).collect()
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
    root.draw(&Text::new("no data in this run", (SIZE.0 as i32 / 2 - 90, SIZE.1 as i32 / 2), (FONT, 20).into_font().color(&RGBColor(120, 120, 120))))
        .map_err(plot_err)
}

type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>>;

/// A titled chart with linear axes, before its mesh is drawn.
fn frame<'a, 'b>(root: &'a Area<'b>, title: &str, (x0, x1): (f64, f64), (y0, y1): (f64, f64)) -> Result<Chart<'a, 'b>, ReportError> {
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
fn linear_chart<'a, 'b>(root: &'a Area<'b>, title: &str, x_desc: &str, y_desc: &str, (x0, x1): (f64, f64), (y0, y1): (f64, f64)) -> Result<Chart<'a, 'b>, ReportError> {
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
fn legend<'a, 'b: 'a, CT: CoordTranslate>(chart: &mut ChartContext<'a, SVGBackend<'b>, CT>, position: SeriesLabelPosition) -> Result<(), ReportError> {
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
    let digits = if range >= 20.0 { 0 } else if range >= 2.0 { 1 } else if range >= 0.2 { 2 } else { 3 };
    let s = format!("{v:.digits$}");
    if s == "-0" { "0".into() } else { s }
}

#[derive(Clone, Copy, PartialEq)]
enum Style {
    Lines,
    Points,
}

/// Several named series of (x, y) points as lines on linear axes.
fn lines(title: &str, x_desc: &str, y_desc: &str, series: &[(String, Vec<(f64, f64)>)]) -> Result<String, ReportError> {
    xy(title, x_desc, y_desc, series, Style::Lines)
}

fn xy(title: &str, x_desc: &str, y_desc: &str, series: &[(String, Vec<(f64, f64)>)], style: Style) -> Result<String, ReportError> {
    svg(|root| {
        let (x0, x1) = span(series.iter().flat_map(|(_, p)| p.iter().map(|q| q.0)), (0.0, 1.0));
        let (y0, y1) = span(series.iter().flat_map(|(_, p)| p.iter().map(|q| q.1)), (0.0, 1.0));
        let mut chart = linear_chart(root, title, x_desc, y_desc, (x0, x1), (y0, y1))?;
        if series.iter().all(|(_, p)| p.is_empty()) {
            return no_data(root);
        }
        for (i, (name, points)) in series.iter().enumerate() {
            let c = PALETTE[i % PALETTE.len()];
            let drawn = match style {
                Style::Lines => chart.draw_series(LineSeries::new(points.iter().copied(), c.stroke_width(2))),
                Style::Points => chart.draw_series(points.iter().map(|&p| Circle::new(p, 2, c.filled()))),
            };
            drawn
                .map_err(plot_err)?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], c.stroke_width(3)));
        }
        if series.len() > 1 {
            legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        }
        Ok(())
    })
}

/// Trust-gap CDF per verification mode, log time axis.
fn trust_gap_cdf(requests: &DataFrame) -> Result<Plot, ReportError> {
    let modes = column_str(requests, "mode");
    let gaps = column_f64(requests, "trust_gap_s");
    let mut series = Vec::new();
    for mode in ["tee", "zk", "vanilla"] {
        let mut g: Vec<f64> = modes.iter().zip(&gaps).filter(|(m, _)| *m == mode).filter_map(|(_, g)| *g).filter(|g| *g > 0.0).collect();
        if g.is_empty() {
            continue;
        }
        g.sort_by(f64::total_cmp);
        let n = g.len() as f64;
        series.push((format!("{mode} (n = {})", g.len()), g.iter().enumerate().map(|(i, &x)| (x, (i + 1) as f64 / n)).collect::<Vec<_>>()));
    }
    let title = "Trust gap per verification mode (CDF)".to_string();
    let svg = svg(|root| {
        let (lo, hi) = series
            .iter()
            .flat_map(|(_, p)| p.iter().map(|q| q.0))
            .fold((f64::INFINITY, 0.0f64), |(lo, hi), x| (lo.min(x), hi.max(x)));
        let (lo, hi) = if lo.is_finite() { (lo / 1.5, hi * 1.5) } else { (0.1, 1000.0) };
        let mut chart = ChartBuilder::on(root)
            .caption(&title, (FONT, 24))
            .margin(18)
            .margin_right(40)
            .x_label_area_size(50)
            .y_label_area_size(80)
            .build_cartesian_2d((lo..hi).log_scale(), 0f64..1.0)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("trust gap = finalised − delivered (s, log scale)")
            .x_label_formatter(&|v| if *v >= 1.0 { format!("{v:.0}") } else { format!("{v:.2}") })
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
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], c.stroke_width(3)));
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)
    })?;
    Ok(Plot { name: "trust_gap_cdf".into(), title, svg })
}

/// Bars over bins: `bars` are (left, right, count).
fn histogram(title: &str, x_desc: &str, y_desc: &str, bars: &[(f64, f64, f64)], integer_x: bool) -> Result<String, ReportError> {
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
            .draw_series(bars.iter().map(|&(l, r, n)| Rectangle::new([(l, 0.0), (r, n)], PALETTE[0].mix(0.8).filled())))
            .map_err(plot_err)?;
        Ok(())
    })
}

/// Equal-width bins over the values' range.
fn bin(values: &[f64], bins: usize) -> Vec<(f64, f64, f64)> {
    if values.is_empty() {
        return Vec::new();
    }
    let (lo, hi) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    let width = if hi > lo { (hi - lo) / bins as f64 } else { 0.001 };
    let mut counts = vec![0.0; bins];
    for &v in values {
        let i = (((v - lo) / width) as usize).min(bins - 1);
        counts[i] += 1.0;
    }
    counts.iter().enumerate().map(|(i, &n)| (lo + i as f64 * width, lo + (i + 1) as f64 * width, n)).collect()
}

/// Points over `samples` times of a count that changes at (time, +1/−1) events.
fn step_counts(mut events: Vec<(f64, f64)>, end: f64, samples: usize) -> Vec<(f64, f64)> {
    events.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mut out = Vec::with_capacity(samples + 1);
    let (mut level, mut j) = (0.0, 0);
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

/// Every plot of a run directory, from its tables.
pub fn run_plots(dir: &Path, duration_s: f64) -> Result<Vec<Plot>, ReportError> {
    let blocks = read_table(&dir.join("blocks.parquet"))?;
    let requests = read_table(&dir.join("requests.parquet"))?;
    let ledger = read_table(&dir.join("ledger.parquet"))?;
    let mut plots = vec![trust_gap_cdf(&requests)?];

    let intervals: Vec<f64> = column_f64(&blocks, "interval_s").into_iter().flatten().collect();
    let title = "Block interval".to_string();
    plots.push(Plot { name: "block_interval_hist".into(), svg: histogram(&title, "time between consecutive commits (s)", "heights", &bin(&intervals, 40), false)?, title });

    let committed = column_f64(&blocks, "committed_at_s");
    let proposed = column_f64(&blocks, "proposed_at_s");
    let latency: Vec<(f64, f64)> = committed.iter().zip(&proposed).filter_map(|(c, p)| Some((c.as_ref()?.to_owned(), c.as_ref()? - p.as_ref()?))).collect();
    let title = "Finality latency over time".to_string();
    plots.push(Plot { name: "finality_latency".into(), svg: xy(&title, "simulated time (s)", "proposal → commit of each block (s)", &[("committed block".into(), latency)], Style::Points)?, title });

    let rounds: Vec<f64> = column_f64(&blocks, "round").into_iter().flatten().collect();
    let max_round = rounds.iter().fold(0.0f64, |a, &b| a.max(b)) as usize;
    // At least rounds 1 to 3 on the axis, so that a run without any retry still reads as one.
    let bars: Vec<(f64, f64, f64)> = if rounds.is_empty() {
        Vec::new()
    } else {
        (0..=max_round.max(2)).map(|r| (r as f64 + 0.6, r as f64 + 1.4, rounds.iter().filter(|&&x| x as usize == r).count() as f64)).collect()
    };
    let title = "Rounds per height".to_string();
    plots.push(Plot { name: "rounds_per_height".into(), svg: histogram(&title, "rounds used (1 = committed in round 0)", "heights", &bars, true)?, title });

    let t = column_f64(&ledger, "time_s");
    let tokens = |name: &str| -> Vec<(f64, f64)> {
        t.iter().zip(column_f64(&ledger, name)).filter_map(|(t, v)| Some(((*t)?, v? / economics::BASE_UNITS_PER_TOKEN as f64))).collect()
    };
    let (minted, burned, slashed) = (tokens("minted"), tokens("burned"), tokens("slashed"));
    let net: Vec<(f64, f64)> = minted.iter().zip(&burned).map(|(m, b)| (m.0, m.1 - b.1)).collect();
    let supply = tokens("supply");
    let title = match (supply.first(), supply.last()) {
        (Some(a), Some(b)) => format!("Token supply: {:.0} → {:.0} tokens", a.1 - (minted[0].1 - burned[0].1), b.1),
        _ => "Token supply".to_string(),
    };
    plots.push(Plot {
        name: "supply".into(),
        svg: lines(&title, "simulated time (s)", "tokens since genesis", &[("minted (cumulative)".into(), minted), ("burned: fees and burned slashes (cumulative)".into(), burned), ("slashed (cumulative)".into(), slashed), ("net issuance = minted − burned".into(), net)])?,
        title,
    });

    let fee: Vec<(f64, f64)> = t.iter().zip(column_f64(&ledger, "base_fee")).filter_map(|(t, v)| Some(((*t)?, v?))).collect();
    let title = "Base fee (EIP-1559)".to_string();
    plots.push(Plot { name: "base_fee".into(), svg: lines(&title, "simulated time (s)", "base fee (base units per gas)", &[("base fee".into(), fee)])?, title });

    // Load over time, from each request's timeline.
    let col = |n: &str| column_f64(&requests, n);
    let (sub, start, deliv, ps, pd) = (col("submitted_s"), col("started_s"), col("delivered_s"), col("proof_started_s"), col("proof_done_s"));
    let modes = column_str(&requests, "mode");
    let (mut gq, mut gs, mut pq, mut pp) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..sub.len() {
        let interval = |from: Option<f64>, to: Option<f64>, into: &mut Vec<(f64, f64)>| {
            if let Some(a) = from {
                into.push((a, 1.0));
                into.push((to.unwrap_or(f64::INFINITY), -1.0));
            }
        };
        interval(sub[i], start[i], &mut gq);
        interval(start[i], deliv[i], &mut gs);
        if modes.get(i).is_some_and(|m| m == "zk") {
            interval(deliv[i], ps[i], &mut pq);
            interval(ps[i], pd[i], &mut pp);
        }
    }
    let series = vec![
        ("GPU queue (waiting)".to_string(), step_counts(gq, duration_s, 300)),
        ("GPU batches (in service)".to_string(), step_counts(gs, duration_s, 300)),
        ("prover queue (waiting)".to_string(), step_counts(pq, duration_s, 300)),
        ("provers busy".to_string(), step_counts(pp, duration_s, 300)),
    ];
    let series: Vec<_> = if sub.is_empty() { Vec::new() } else { series };
    let title = "GPU-node and prover load".to_string();
    plots.push(Plot { name: "load".into(), svg: lines(&title, "simulated time (s)", "requests", &series)?, title });

    // Value at risk exposed: wrong results from delivery until detection.
    let honest: Vec<bool> = requests.column("honest").ok().and_then(|c| c.bool().ok().map(|b| (0..b.len()).map(|i| b.get(i).unwrap_or(true)).collect())).unwrap_or_default();
    let (value, detected) = (col("value_at_risk_usd"), col("detected_s"));
    let mut exposure = Vec::new();
    for i in 0..honest.len() {
        if !honest[i]
            && let (Some(d), Some(v)) = (deliv[i], value[i])
        {
            exposure.push((d, v));
            exposure.push((detected[i].unwrap_or(f64::INFINITY), -v));
        }
    }
    let series = if exposure.is_empty() { Vec::new() } else { vec![("exposed".to_string(), step_counts(exposure, duration_s, 300))] };
    let title = "Fraud exposure: value at risk of wrong results not yet caught".to_string();
    plots.push(Plot { name: "fraud_exposure".into(), svg: lines(&title, "simulated time (s)", "USD exposed", &series)?, title });
    Ok(plots)
}

/// Mean with a shaded 95% confidence band, against one parameter.
pub fn band(title: &str, x_desc: &str, y_desc: &str, points: &[(f64, f64, f64)]) -> Result<String, ReportError> {
    svg(|root| {
        let (x0, x1) = span(points.iter().map(|p| p.0), (0.0, 1.0));
        let (y0, y1) = span(points.iter().flat_map(|p| [p.1 - p.2, p.1 + p.2]), (0.0, 1.0));
        let mut chart = linear_chart(root, title, x_desc, y_desc, (x0, x1), (y0, y1))?;
        if points.is_empty() {
            return no_data(root);
        }
        let mut poly: Vec<(f64, f64)> = points.iter().map(|p| (p.0, p.1 + p.2)).collect();
        poly.extend(points.iter().rev().map(|p| (p.0, p.1 - p.2)));
        chart.draw_series(std::iter::once(Polygon::new(poly, PALETTE[0].mix(0.2).filled()))).map_err(plot_err)?.label("95% confidence interval").legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 22, y + 5)], PALETTE[0].mix(0.2).filled()));
        chart.draw_series(LineSeries::new(points.iter().map(|p| (p.0, p.1)), PALETTE[0].stroke_width(2))).map_err(plot_err)?.label("mean over seeds").legend(|(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], PALETTE[0].stroke_width(3)));
        chart.draw_series(points.iter().map(|p| Circle::new((p.0, p.1), 4, PALETTE[0].filled()))).map_err(plot_err)?;
        legend(&mut chart, SeriesLabelPosition::UpperLeft)
    })
}

/// A heatmap over two parameters, each cell labelled with its value.
pub fn heatmap(title: &str, x_desc: &str, y_desc: &str, xs: &[f64], ys: &[f64], value: &dyn Fn(usize, usize) -> Option<f64>) -> Result<String, ReportError> {
    svg(|root| {
        let mut chart = frame(root, title, (0.0, xs.len().max(1) as f64), (0.0, ys.len().max(1) as f64))?;
        let xl: Vec<String> = xs.iter().map(|v| format!("{v}")).collect();
        let yl: Vec<String> = ys.iter().map(|v| format!("{v}")).collect();
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_labels(xs.len().max(1) * 2 + 1)
            .y_labels(ys.len().max(1) * 2 + 1)
            .x_label_formatter(&|v| { let i = v - 0.5; if (i - i.round()).abs() < 1e-6 && i >= 0.0 { xl.get(i.round() as usize).cloned().unwrap_or_default() } else { String::new() } })
            .y_label_formatter(&|v| { let i = v - 0.5; if (i - i.round()).abs() < 1e-6 && i >= 0.0 { yl.get(i.round() as usize).cloned().unwrap_or_default() } else { String::new() } })
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 17))
            .draw()
            .map_err(plot_err)?;
        let cells: Vec<(usize, usize, f64)> = (0..xs.len()).flat_map(|i| (0..ys.len()).filter_map(move |j| value(i, j).map(|v| (i, j, v)))).collect();
        if cells.is_empty() {
            return no_data(root);
        }
        let (lo, hi) = cells.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), c| (a.min(c.2), b.max(c.2)));
        for &(i, j, v) in &cells {
            let f = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
            // From pale to the palette's blue.
            let c = RGBColor((240.0 - 240.0 * f) as u8, (245.0 - 131.0 * f) as u8, (255.0 - 77.0 * f) as u8);
            chart.draw_series(std::iter::once(Rectangle::new([(i as f64, j as f64), (i as f64 + 1.0, j as f64 + 1.0)], c.filled()))).map_err(plot_err)?;
            let text_colour = if f > 0.55 { WHITE } else { BLACK };
            let label = if v.abs() >= 100.0 { format!("{v:.0}") } else { format!("{v:.3}") };
            chart
                .draw_series(std::iter::once(Text::new(label, (i as f64 + 0.38, j as f64 + 0.55), (FONT, 16).into_font().color(&text_colour))))
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
    let opt = resvg::usvg::Options { font_family: "DejaVu Sans".into(), fontdb: Arc::new(db), ..Default::default() };
    let tree = resvg::usvg::Tree::from_str(svg, &opt).map_err(plot_err)?;
    let size = tree.size().to_int_size();
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height()).ok_or_else(|| plot_err("empty image"))?;
    pixmap.fill(resvg::tiny_skia::Color::WHITE);
    resvg::render(&tree, resvg::tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap.encode_png().map_err(plot_err)
}
