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
                    let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    walk(x, &p, out);
                }
            }
            serde_json::Value::Number(n) => out.push((prefix.to_string(), n.as_f64())),
            serde_json::Value::Null => out.push((prefix.to_string(), None)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, "", &mut out);
    out.retain(|(k, _)| k != "seed");
    out
}

fn write_parquet(path: &Path, df: &mut DataFrame) -> Result<(), ReportError> {
    let tmp = path.with_extension("tmp");
    let polars_err = |source| ReportError::Polars { path: path.to_path_buf(), source };
    let file = std::fs::File::create(&tmp).map_err(|source| ReportError::Io { path: tmp.clone(), source })?;
    ParquetWriter::new(file).with_compression(ParquetCompression::Zstd(None)).set_parallel(false).finish(df).map_err(polars_err)?;
    std::fs::rename(&tmp, path).map_err(|source| ReportError::Io { path: path.to_path_buf(), source })
}

/// Writes one (point, seed)'s row atomically.
pub fn write_row(path: &Path, params: &[(String, Param)], metrics: &[(String, Option<f64>)]) -> Result<(), ReportError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| ReportError::Io { path: dir.to_path_buf(), source })?;
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
    let mut df = DataFrame::new(1, cols).map_err(|source| ReportError::Polars { path: path.to_path_buf(), source })?;
    write_parquet(path, &mut df)
}

/// Two-sided 95% Student t quantiles for 1..=30 degrees of freedom.
const T95: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101,
    2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
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
pub fn merge(out: &Path, params: &[String], rows: &[(usize, u64, PathBuf)]) -> Result<(), ReportError> {
    let path = out.join("sweep.parquet");
    let polars_err = |source| ReportError::Polars { path: path.clone(), source };
    let mut all: Option<DataFrame> = None;
    for (point, seed, file) in rows {
        let mut df = read_table(file)?;
        df.insert_column(0, Column::new("point".into(), [*point as u32])).map_err(polars_err)?;
        df.insert_column(1, Column::new("seed".into(), [*seed])).map_err(polars_err)?;
        match &mut all {
            None => all = Some(df),
            Some(a) => {
                a.vstack_mut(&df).map_err(polars_err)?;
            }
        }
    }
    let Some(mut sweep) = all else {
        return Err(ReportError::Input { path: out.to_path_buf(), message: "no finished runs to merge".into() });
    };
    sweep.rechunk_mut_par();
    write_parquet(&path, &mut sweep)?;
    // Per point: parameters, n, and mean / ci95 of every numeric metric.
    let names: Vec<String> = sweep.get_column_names().iter().map(|n| n.to_string()).collect();
    let points: Vec<u32> = {
        let c = sweep.column("point").map_err(polars_err)?.u32().map_err(polars_err)?.clone();
        let mut v: Vec<u32> = (0..c.len()).filter_map(|i| c.get(i)).collect();
        v.dedup();
        v
    };
    let point_of: Vec<u32> = {
        let c = sweep.column("point").map_err(polars_err)?.u32().map_err(polars_err)?.clone();
        (0..c.len()).filter_map(|i| c.get(i)).collect()
    };
    let first_row = |p: u32| point_of.iter().position(|&q| q == p).expect("point present");
    let mut cols = vec![Column::new("point".into(), points.clone())];
    let n: Vec<u32> = points.iter().map(|&p| point_of.iter().filter(|&&q| q == p).count() as u32).collect();
    let mut metric_cols = Vec::new();
    for name in names.iter().filter(|n| *n != "point" && *n != "seed") {
        let c = sweep.column(name).map_err(polars_err)?;
        if c.dtype() == &DataType::String {
            let s = c.str().map_err(polars_err)?;
            cols.push(Column::new(name.as_str().into(), points.iter().map(|&p| s.get(first_row(p)).unwrap_or("").to_string()).collect::<Vec<_>>()));
            continue;
        }
        let values = crate::plots::column_f64(&sweep, name);
        if params.contains(name) {
            // A parameter is constant within a point.
            cols.push(Column::new(name.as_str().into(), points.iter().map(|&p| values[first_row(p)]).collect::<Vec<_>>()));
            continue;
        }
        let (mut mean, mut ci) = (Vec::new(), Vec::new());
        for &p in &points {
            let xs: Vec<f64> = point_of.iter().zip(&values).filter(|(q, _)| **q == p).filter_map(|(_, v)| *v).collect();
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
    write_parquet(&out.join("points.parquet"), &mut df)
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
