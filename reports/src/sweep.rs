//! Sweep tables: one Parquet row per finished (point, seed), Hive-partitioned
//! (`rows/point=P/seed=S/part-0.parquet`), merged into `sweep.parquet`, and
//! per-point means with 95% confidence half-widths in `points.parquet`.

use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::{ReportError, read_table};

/// A swept parameter's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Param {
    Number(f64),
    Text(String),
}

/// Every number in a summary, by dotted path (nulls kept; `seed` and text left out).
pub fn flatten_metrics(v: &serde_json::Value) -> Vec<(String, Option<f64>)> {
    fn walk(v: &serde_json::Value, prefix: &str, out: &mut Vec<(String, Option<f64>)>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(x, &p, out);
                }
            }
            serde_json::Value::Number(n) => out.push((prefix.to_string(), n.as_f64())),
            serde_json::Value::Null => out.push((prefix.to_string(), None)),
            // A flag (e.g. consensus.halts) as 0 or 1: its mean over seeds is a rate.
            serde_json::Value::Bool(b) => out.push((prefix.to_string(), Some(*b as u8 as f64))),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, "", &mut out);
    out.retain(|(k, _)| k != "seed");
    out
}

/// Writes a table through a temporary name and a rename.
pub(crate) fn write_parquet_atomic(path: &Path, df: &mut DataFrame) -> Result<(), ReportError> {
    let tmp = path.with_extension("tmp");
    let polars_err = |source| ReportError::Polars {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::create(&tmp).map_err(|source| ReportError::Io {
        path: tmp.clone(),
        source,
    })?;
    ParquetWriter::new(file)
        .with_compression(ParquetCompression::Zstd(None))
        .set_parallel(false)
        .finish(df)
        .map_err(polars_err)?;
    std::fs::rename(&tmp, path).map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Whether a (point, seed)'s row file reads back as one row: `sweep
/// --resume` runs again a row that is missing, truncated or corrupt.
pub fn row_reads_back(path: &Path) -> bool {
    path.is_file() && crate::read_table(path).is_ok_and(|df| df.height() == 1)
}

/// Writes one (point, seed)'s row atomically.
pub fn write_row(
    path: &Path,
    params: &[(String, Param)],
    metrics: &[(String, Option<f64>)],
) -> Result<(), ReportError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| ReportError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let mut cols = Vec::new();
    for (name, p) in params {
        cols.push(match p {
            Param::Number(x) => Column::new(name.as_str().into(), [*x]),
            Param::Text(s) => Column::new(name.as_str().into(), [s.as_str()]),
        });
    }
    for (name, x) in metrics {
        cols.push(Column::new(name.as_str().into(), [*x]));
    }
    let mut df = DataFrame::new(1, cols).map_err(|source| ReportError::Polars {
        path: path.to_path_buf(),
        source,
    })?;
    write_parquet_atomic(path, &mut df)
}

/// Two-sided 95% Student t quantiles for 1..=30 degrees of freedom.
const T95: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
    2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
    2.052, 2.048, 2.045, 2.042,
];

/// Mean and 95% confidence half-width (Student t); the half-width is null below two samples.
pub fn mean_ci(xs: &[f64]) -> (Option<f64>, Option<f64>) {
    if xs.is_empty() {
        return (None, None);
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    if xs.len() < 2 {
        return (Some(mean), None);
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let t = T95.get(xs.len() - 2).copied().unwrap_or(1.96);
    (Some(mean), Some(t * (var / n).sqrt()))
}

/// Merges the rows (in point, seed order) into `sweep.parquet` and `points.parquet`.
pub fn merge(
    out: &Path,
    params: &[String],
    rows: &[(usize, u64, PathBuf)],
) -> Result<(), ReportError> {
    let path = out.join("sweep.parquet");
    let polars_err = |source| ReportError::Polars {
        path: path.clone(),
        source,
    };
    let mut all: Option<DataFrame> = None;
    for (point, seed, file) in rows {
        let mut df = read_table(file)?;
        df.insert_column(0, Column::new("point".into(), [*point as u32]))
            .map_err(polars_err)?;
        df.insert_column(1, Column::new("seed".into(), [*seed]))
            .map_err(polars_err)?;
        match &mut all {
            None => all = Some(df),
            Some(a) => {
                a.vstack_mut(&df).map_err(polars_err)?;
            }
        }
    }
    let Some(mut sweep) = all else {
        return Err(ReportError::Input {
            path: out.to_path_buf(),
            message: "no finished runs to merge".into(),
        });
    };
    sweep.rechunk_mut_par();
    write_parquet_atomic(&path, &mut sweep)?;
    // Per point: parameters, n, and mean / ci95 of every numeric metric.
    let names: Vec<String> = sweep
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    let points: Vec<u32> = {
        let c = sweep
            .column("point")
            .map_err(polars_err)?
            .u32()
            .map_err(polars_err)?
            .clone();
        let mut v: Vec<u32> = (0..c.len()).filter_map(|i| c.get(i)).collect();
        v.dedup();
        v
    };
    let point_of: Vec<u32> = {
        let c = sweep
            .column("point")
            .map_err(polars_err)?
            .u32()
            .map_err(polars_err)?
            .clone();
        (0..c.len()).filter_map(|i| c.get(i)).collect()
    };
    let first_row = |p: u32| {
        point_of
            .iter()
            .position(|&q| q == p)
            .expect("point present")
    };
    let mut cols = vec![Column::new("point".into(), points.clone())];
    let n: Vec<u32> = points
        .iter()
        .map(|&p| point_of.iter().filter(|&&q| q == p).count() as u32)
        .collect();
    let mut metric_cols = Vec::new();
    for name in names.iter().filter(|n| *n != "point" && *n != "seed") {
        let c = sweep.column(name).map_err(polars_err)?;
        if c.dtype() == &DataType::String {
            let s = c.str().map_err(polars_err)?;
            cols.push(Column::new(
                name.as_str().into(),
                points
                    .iter()
                    .map(|&p| s.get(first_row(p)).unwrap_or("").to_string())
                    .collect::<Vec<_>>(),
            ));
            continue;
        }
        let values = crate::plots::column_f64(&sweep, name);
        if params.contains(name) {
            // A parameter is constant within a point.
            cols.push(Column::new(
                name.as_str().into(),
                points
                    .iter()
                    .map(|&p| values[first_row(p)])
                    .collect::<Vec<_>>(),
            ));
            continue;
        }
        let (mut mean, mut ci) = (Vec::new(), Vec::new());
        for &p in &points {
            let xs: Vec<f64> = point_of
                .iter()
                .zip(&values)
                .filter(|(q, _)| **q == p)
                .filter_map(|(_, v)| *v)
                .collect();
            let (m, h) = mean_ci(&xs);
            mean.push(m);
            ci.push(h);
        }
        metric_cols.push(Column::new(format!("{name}.mean").into(), mean));
        metric_cols.push(Column::new(format!("{name}.ci95").into(), ci));
    }
    cols.push(Column::new("n".into(), n));
    cols.extend(metric_cols);
    let mut df = DataFrame::new(points.len(), cols).map_err(polars_err)?;
    write_parquet_atomic(&out.join("points.parquet"), &mut df)
}

/// Metrics worth a plot across parameters, when the sweep has them.
const SWEEP_METRICS: [(&str, &str); 7] = [
    (
        "consensus.block_interval_s.mean",
        "block interval, mean (s)",
    ),
    ("trust_gap_s.tee.p99", "trust gap TEE, p99 (s)"),
    ("trust_gap_s.zk.p99", "trust gap ZK, p99 (s)"),
    ("trust_gap_s.vanilla.p99", "trust gap vanilla, p99 (s)"),
    (
        "economics.net_issuance_annualised_pct",
        "net issuance (% per year)",
    ),
    ("fraud.undetected", "wrong results not caught"),
    ("gpu.utilisation_mean", "GPU utilisation"),
];

fn file_stem(metric: &str) -> String {
    metric.replace(['.', '[', ']'], "_")
}

/// Plots across parameters from `points.parquet`: a line with its 95% band
/// for one numeric axis, a heatmap of the first two numeric axes otherwise
/// (averaged over any further axes).
pub fn sweep_plots(out: &Path, params: &[String]) -> Result<Vec<crate::plots::Plot>, ReportError> {
    use crate::plots::{Plot, band, column_f64, heatmap};
    let pts = read_table(&out.join("points.parquet"))?;
    let numeric: Vec<&String> = params
        .iter()
        .filter(|p| pts.column(p).is_ok_and(|c| c.dtype() == &DataType::Float64))
        .collect();
    let mut plots = Vec::new();
    for (metric, label) in SWEEP_METRICS {
        let mean = column_f64(&pts, &format!("{metric}.mean"));
        if mean.iter().all(Option::is_none) {
            continue;
        }
        let ci = column_f64(&pts, &format!("{metric}.ci95"));
        let name = format!("sweep_{}", file_stem(metric));
        match numeric.as_slice() {
            [x] => {
                let xs = column_f64(&pts, x);
                let mut p: Vec<(f64, f64, f64)> = (0..mean.len())
                    .filter_map(|i| Some((xs[i]?, mean[i]?, ci[i].unwrap_or(0.0))))
                    .collect();
                p.sort_by(|a, b| a.0.total_cmp(&b.0));
                let title = format!("{label} against {x}");
                plots.push(Plot {
                    name,
                    svg: band(&title, x, label, &p)?,
                    title,
                });
            }
            [x, y, ..] => {
                let (xv, yv) = (column_f64(&pts, x), column_f64(&pts, y));
                let distinct = |v: &[Option<f64>]| {
                    let mut d: Vec<f64> = v.iter().flatten().copied().collect();
                    d.sort_by(f64::total_cmp);
                    d.dedup();
                    d
                };
                let (xs, ys) = (distinct(&xv), distinct(&yv));
                let cell = |i: usize, j: usize| {
                    let vals: Vec<f64> = (0..mean.len())
                        .filter(|&k| xv[k] == Some(xs[i]) && yv[k] == Some(ys[j]))
                        .filter_map(|k| mean[k])
                        .collect();
                    (!vals.is_empty()).then(|| vals.iter().sum::<f64>() / vals.len() as f64)
                };
                let more = if numeric.len() > 2 {
                    ", mean over the other axes"
                } else {
                    ""
                };
                let title = format!("{label} (darker = higher{more})");
                plots.push(Plot {
                    name,
                    svg: heatmap(&title, x, y, &xs, &ys, &cell)?,
                    title,
                });
            }
            [] => {}
        }
    }
    if let Some(p) = architecture_panel(&pts, params)? {
        plots.insert(0, p);
    }
    if let Some(p) = design_panel(&pts, params)? {
        plots.insert(0, p);
    }
    if let Some(p) = trajectories(out, &pts, params)? {
        plots.insert(0, p);
    }
    Ok(plots)
}

/// Issue #11's figure, for a sweep with an `architecture` axis: both
/// architectures side by side against the number of validators, one line
/// per architecture and model, six measures.
fn architecture_panel(
    pts: &DataFrame,
    params: &[String],
) -> Result<Option<crate::plots::Plot>, ReportError> {
    use crate::plots::{PanelSeries, Plot, column_f64, column_str, panel};
    let Some(arch) = params.iter().find(|p| p.as_str() == "architecture") else {
        return Ok(None);
    };
    // The x axis: validators in all, over every group whose count is a parameter.
    let counts: Vec<Vec<Option<f64>>> = params
        .iter()
        .filter(|p| p.starts_with("validators") && p.ends_with(".count"))
        .map(|p| column_f64(pts, p))
        .collect();
    if counts.is_empty() {
        return Ok(None);
    }
    let model = params
        .iter()
        .find(|p| p.starts_with("workload") && p.ends_with(".model"));
    let archs = column_str(pts, arch);
    let models = model
        .map(|m| column_str(pts, m))
        .unwrap_or_else(|| vec![String::new(); pts.height()]);
    let xs: Vec<Option<f64>> = (0..pts.height())
        .map(|i| counts.iter().map(|c| c[i]).sum())
        .collect();
    let mut keys: Vec<(String, String)> =
        archs.iter().cloned().zip(models.iter().cloned()).collect();
    keys.sort();
    keys.dedup();
    let mut model_names: Vec<&String> = keys.iter().map(|k| &k.1).collect();
    model_names.sort();
    model_names.dedup();
    let measures = [
        (
            "requests.delivered_per_s",
            "requests/s delivered to users",
            true,
        ),
        (
            "requests.finalised_per_s",
            "requests/s final within the run",
            true,
        ),
        (
            "consensus.block_interval_s.p50",
            "block interval p50 (s)",
            true,
        ),
        (
            "requests.time_to_finality_s.p50",
            "time to finality p50 (s)",
            true,
        ),
        ("cost.usd_per_1k_requests", "USD per 1,000 requests", true),
        ("consensus.halts", "share of runs that halted", false),
    ];
    // A run that halted shows 0 on a log axis: the panel writes "halted" there.
    let halts = column_f64(pts, "consensus.halts.mean");
    let mut charts = Vec::new();
    for (metric, label, log) in measures {
        let ys = column_f64(pts, &format!("{metric}.mean"));
        let cis = column_f64(pts, &format!("{metric}.ci95"));
        let series = keys
            .iter()
            .map(|(a, m)| {
                let mut rows: Vec<(f64, f64, usize)> = (0..pts.height())
                    .filter(|&i| archs[i] == *a && models[i] == *m)
                    .filter_map(|i| Some((xs[i]?, ys[i]?, i)))
                    .collect();
                rows.sort_by(|p, q| p.0.total_cmp(&q.0));
                let name = if m.is_empty() {
                    a.clone()
                } else {
                    format!("{a} · {m}")
                };
                PanelSeries {
                    name,
                    colour: model_names.iter().position(|x| *x == m).unwrap_or(0),
                    solid: a == "decoupled",
                    points: rows.iter().map(|r| (r.0, r.1)).collect(),
                    ci: rows.iter().map(|r| cis[r.2]).collect(),
                    notes: rows
                        .iter()
                        .map(|r| halts[r.2].is_some_and(|h| h > 0.0).then(|| "halted".into()))
                        .collect(),
                }
            })
            .collect();
        charts.push((label.to_string(), log, series));
    }
    let title = "Decoupled (thick, dots) against replicated (thin, crosses) inference".to_string();
    let svg = panel(&title, "validators", &charts)?;
    Ok(Some(Plot {
        name: "sweep_architecture_panel".into(),
        title,
        svg,
    }))
}

/// Each point's shock, named by kind and factor ("none", "price ×0.2",
/// "GPU cost ×3", "exit ×0.5"), for a sweep with a `market.shocks[…].kind`
/// axis.
fn shock_labels(pts: &DataFrame, params: &[String]) -> Option<Vec<String>> {
    use crate::plots::{column_f64, column_str};
    let kind = params
        .iter()
        .find(|p| p.starts_with("market.shocks") && p.ends_with(".kind"))?;
    let factor = params
        .iter()
        .find(|p| p.starts_with("market.shocks") && p.ends_with(".factor"));
    let kinds = column_str(pts, kind);
    let factors = factor
        .map(|f| column_f64(pts, f))
        .unwrap_or_else(|| vec![None; pts.height()]);
    Some(
        (0..pts.height())
            .map(|i| match (kinds[i].as_str(), factors[i]) {
                (_, Some(1.0)) => "none".to_string(),
                (k, Some(f)) => format!(
                    "{} ×{f}",
                    match k {
                        "gpu_cost" => "GPU cost",
                        "operator_exit" => "exit",
                        other => other,
                    }
                ),
                (k, None) => k.to_string(),
            })
            .collect(),
    )
}

/// The market trajectories (issue #27), for a sweep whose runs kept them:
/// a line per `economics.design`, a row of panels per shock (or per value
/// of the axes outside `economics.*`).
fn trajectories(
    out: &Path,
    pts: &DataFrame,
    params: &[String],
) -> Result<Option<crate::plots::Plot>, ReportError> {
    use crate::plots::{column_f64, column_str};
    let point = column_f64(pts, "point");
    let designs = if params.iter().any(|p| p == "economics.design") {
        column_str(pts, "economics.design")
    } else {
        vec!["all".to_string(); pts.height()]
    };
    let groups = shock_labels(pts, params).unwrap_or_else(|| {
        let others: Vec<&String> = params
            .iter()
            .filter(|p| !p.starts_with("economics."))
            .collect();
        (0..pts.height())
            .map(|i| {
                others
                    .iter()
                    .map(|p| match pts.column(p).map(|c| c.dtype().clone()) {
                        Ok(DataType::String) => format!("{p} = {}", column_str(pts, p)[i]),
                        _ => format!(
                            "{p} = {}",
                            column_f64(pts, p)[i].map_or("—".into(), crate::plots::plain)
                        ),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .collect()
    });
    let points: Vec<(u32, String, String)> = (0..pts.height())
        .filter_map(|i| Some((point[i]? as u32, designs[i].clone(), groups[i].clone())))
        .collect();
    crate::trajectories::trajectory_plot(out, &points)
}

/// Issue #12's figure, for a sweep with `economics.design` and a shock
/// axis: each design through each shock, six measures.
fn design_panel(
    pts: &DataFrame,
    params: &[String],
) -> Result<Option<crate::plots::Plot>, ReportError> {
    use crate::plots::{PanelSeries, Plot, column_f64, column_str, panel_with_labels};
    if !params.iter().any(|p| p == "economics.design") {
        return Ok(None);
    }
    let Some(shocks) = shock_labels(pts, params) else {
        return Ok(None);
    };
    let designs = column_str(pts, "economics.design");
    let shock = |i: usize| shocks[i].clone();
    let mut labels: Vec<String> = Vec::new();
    for i in 0..pts.height() {
        let s = shock(i);
        if !labels.contains(&s) {
            labels.push(s);
        }
    }
    let mut names: Vec<&String> = designs.iter().collect();
    names.sort();
    names.dedup();
    let measures = [
        ("market.price_final", "token price at the end (USD)", false),
        (
            "market.min_active_operators",
            "fewest GPU operators serving",
            false,
        ),
        (
            "market.time_capacity_short_s",
            "time short of capacity (s)",
            false,
        ),
        (
            "requests.finalised_per_s",
            "requests finalised per second",
            false,
        ),
        ("market.operator_exits", "operators that left", false),
        (
            "economics.net_issuance_annualised_pct",
            "net issuance (% a year)",
            false,
        ),
    ];
    let mut charts = Vec::new();
    for (metric, label, log) in measures {
        let ys = column_f64(pts, &format!("{metric}.mean"));
        let cis = column_f64(pts, &format!("{metric}.ci95"));
        let series = names
            .iter()
            .enumerate()
            .map(|(c, d)| {
                let mut rows: Vec<(f64, f64, usize)> = (0..pts.height())
                    .filter(|&i| designs[i] == **d)
                    .filter_map(|i| {
                        Some((
                            labels.iter().position(|l| *l == shock(i))? as f64,
                            ys[i]?,
                            i,
                        ))
                    })
                    .collect();
                rows.sort_by(|p, q| p.0.total_cmp(&q.0));
                PanelSeries {
                    ci: rows.iter().map(|r| cis[r.2]).collect(),
                    ..PanelSeries::new(
                        (*d).clone(),
                        c,
                        true,
                        rows.iter().map(|r| (r.0, r.1)).collect(),
                    )
                }
            })
            .collect();
        charts.push((label.to_string(), log, series));
    }
    let title =
        "Economic designs through the same shock (mean over seeds, 95 % interval)".to_string();
    let svg = panel_with_labels(&title, "shock", &labels, &charts)?;
    Ok(Some(Plot {
        name: "sweep_design_panel".into(),
        title,
        svg,
    }))
}

/// Plots (SVG and PNG) and a `report.html` for a merged sweep directory.
pub fn report_sweep(out: &Path, params: &[String]) -> Result<Vec<String>, ReportError> {
    let plots = sweep_plots(out, params)?;
    let pts = read_table(&out.join("points.parquet"))?;
    let sweep_toml = std::fs::read_to_string(out.join("sweep.toml")).unwrap_or_default();
    let names = crate::write_plots(out, &plots)?;
    // The points table: parameters, then mean ± half-width of the plotted metrics.
    let esc = crate::html::escape;
    let mut h = String::from(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>hacasim sweep</title>\n<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}table{border-collapse:collapse}td,th{padding:.2em .6em;border-bottom:1px solid #ddd}td{text-align:right}svg{max-width:100%;height:auto}pre{background:#f6f6f6;padding:1em}</style>\n</head>\n<body>\n<h1>hacasim sweep</h1>\n<h2 id=\"points\">Points (mean ± 95% half-width over seeds)</h2>\n<table>\n<tr><th>point</th>",
    );
    let shown: Vec<(&str, &str)> = SWEEP_METRICS
        .iter()
        .copied()
        .filter(|(m, _)| {
            crate::plots::column_f64(&pts, &format!("{m}.mean"))
                .iter()
                .any(Option::is_some)
        })
        .collect();
    for p in params {
        h.push_str(&format!("<th>{}</th>", esc(p)));
    }
    for (_, label) in &shown {
        h.push_str(&format!("<th>{}</th>", esc(label)));
    }
    h.push_str("</tr>\n");
    let point = crate::plots::column_f64(&pts, "point");
    let param_cols: Vec<Vec<String>> = params
        .iter()
        .map(|p| match pts.column(p).map(|c| c.dtype().clone()) {
            Ok(DataType::String) => crate::plots::column_str(&pts, p),
            _ => crate::plots::column_f64(&pts, p)
                .iter()
                .map(|v| v.map_or("—".into(), |x| format!("{x}")))
                .collect(),
        })
        .collect();
    type MeanAndCi = (Vec<Option<f64>>, Vec<Option<f64>>);
    let metric_cols: Vec<MeanAndCi> = shown
        .iter()
        .map(|(m, _)| {
            (
                crate::plots::column_f64(&pts, &format!("{m}.mean")),
                crate::plots::column_f64(&pts, &format!("{m}.ci95")),
            )
        })
        .collect();
    for i in 0..pts.height() {
        h.push_str(&format!("<tr><td>{}</td>", point[i].unwrap_or(0.0)));
        for c in &param_cols {
            h.push_str(&format!("<td>{}</td>", esc(&c[i])));
        }
        for (m, ci) in &metric_cols {
            let cell = match (m[i], ci[i]) {
                (Some(m), Some(c)) => format!("{m:.4} ± {c:.4}"),
                (Some(m), None) => format!("{m:.4}"),
                _ => "—".into(),
            };
            h.push_str(&format!("<td>{cell}</td>"));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n<h2 id=\"plots\">Plots</h2>\n");
    for p in &plots {
        let body = p.svg.find("<svg").map_or(p.svg.as_str(), |i| &p.svg[i..]);
        h.push_str(&format!("<figure id=\"{n}\"><figcaption>{t}</figcaption>\n{body}\n<p><a href=\"{n}.png\">{n}.png</a> · <a href=\"{n}.svg\">{n}.svg</a></p></figure>\n", n = p.name, t = esc(&p.title)));
    }
    h.push_str(&format!(
        "<h2 id=\"sweep\">Sweep file</h2>\n<pre>{}</pre>\n</body>\n</html>\n",
        esc(&sweep_toml)
    ));
    crate::write_atomic(&out.join("report.html"), h.as_bytes())?;
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_t_interval_by_hand() {
        // xs = 1, 2, 3: mean 2, s = 1, half-width = t(2) · 1/√3 = 4.303/1.732.
        let (m, h) = mean_ci(&[1.0, 2.0, 3.0]);
        assert_eq!(m, Some(2.0));
        assert!((h.unwrap() - 4.303 / 3f64.sqrt()).abs() < 1e-12);
        assert_eq!(mean_ci(&[5.0]), (Some(5.0), None));
    }
}
