//! `hacasim sweep SWEEP --slurm`: a Slurm job array with one task per shard
//! of the sweep, all writing rows into one shared output directory, and a
//! merge job that runs once every task has succeeded.
//!
//! `sweep` creates the output directory, its `sweep.toml` and `plan.json`
//! before anything is submitted, so the tasks only ever `--resume` into a
//! directory that is already there; this module writes
//! `OUT/slurm/array.sbatch` and `OUT/slurm/merge.sbatch` and, with
//! `--submit`, submits them (`sbatch --parsable`, the merge with
//! `--dependency=afterok:<array job>`).
//!
//! The shard count is written into the array script rather than read from
//! `SLURM_ARRAY_TASK_COUNT`: a task resubmitted alone
//! (`sbatch --array=3 OUT/slurm/array.sbatch`) is an array of one, yet must
//! still run shard 3 of N.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Args;

use crate::Failure;

/// Array tasks when `--array-size` is not given: one per point, at most this many.
pub const DEFAULT_MAX_TASKS: usize = 100;

#[derive(Args, Debug, Default)]
pub struct SlurmArgs {
    /// Write a Slurm job array (one task per shard) and a merge job into
    /// OUT/slurm/ instead of running the sweep here.
    #[arg(long, conflicts_with_all = ["shard", "jobs"])]
    pub slurm: bool,
    /// Array tasks (shards) for --slurm (default: one per point, at most 100).
    #[arg(long, value_name = "N", requires = "slurm")]
    pub array_size: Option<u64>,
    /// Slurm partition for --slurm (default: the cluster's default).
    #[arg(long, value_name = "P", requires = "slurm")]
    pub partition: Option<String>,
    /// Time limit per array task for --slurm, in Slurm's format (e.g. 30,
    /// 2:00:00, 1-12) (default: the partition's).
    #[arg(long, value_name = "T", requires = "slurm")]
    pub time: Option<String>,
    /// CPUs per array task for --slurm; each task runs that many (point, seed) runs at once.
    #[arg(long, value_name = "C", requires = "slurm", default_value_t = 1)]
    pub cpus_per_task: u64,
    /// With --slurm: submit the array and the merge job with sbatch and print their job ids.
    #[arg(long, requires = "slurm")]
    pub submit: bool,
}

/// What `--slurm` needs to know about the sweep.
pub struct Job<'a> {
    pub sweep: &'a Path,
    pub out: &'a Path,
    pub points: usize,
    pub seeds: usize,
    pub keep_runs: bool,
}

/// The array size, checked against the sweep: shards split the points
/// (point p goes to shard p mod N), so more tasks than points would idle.
pub fn array_size(args: &SlurmArgs, points: usize) -> Result<usize, Failure> {
    match args.array_size {
        None => Ok(points.clamp(1, DEFAULT_MAX_TASKS)),
        Some(0) => Err(Failure::input(
            "--array-size 0: must be at least 1 (one array task per shard)",
        )),
        Some(n) if n as usize > points => Err(Failure::input(format!(
            "--array-size {n}: the sweep has {points} points and shards split points, so at most {points} array tasks"
        ))),
        Some(n) => Ok(n as usize),
    }
}

/// Checks the options that go into `#SBATCH` lines before anything is written.
pub fn check_args(args: &SlurmArgs) -> Result<(), Failure> {
    if args.cpus_per_task == 0 {
        return Err(Failure::input("--cpus-per-task 0: must be at least 1"));
    }
    if let Some(p) = &args.partition
        && (p.is_empty()
            || !p
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.,".contains(c)))
    {
        return Err(Failure::input(format!(
            "--partition {p:?}: expected a partition name (letters, digits, _ - . and , between names)"
        )));
    }
    if let Some(t) = &args.time
        && !valid_time(t)
    {
        return Err(Failure::input(format!(
            "--time {t:?}: expected a Slurm time limit: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS or UNLIMITED"
        )));
    }
    Ok(())
}

/// Slurm's time formats: "M", "M:S", "H:M:S", "D-H", "D-H:M", "D-H:M:S", and
/// "UNLIMITED" / "INFINITE".
pub fn valid_time(t: &str) -> bool {
    if t.eq_ignore_ascii_case("unlimited") || t.eq_ignore_ascii_case("infinite") {
        return true;
    }
    let number = |s: &str| !s.is_empty() && s.len() <= 6 && s.bytes().all(|b| b.is_ascii_digit());
    let (days, rest) = match t.split_once('-') {
        Some((d, r)) => (Some(d), r),
        None => (None, t),
    };
    if days.is_some_and(|d| !number(d)) {
        return false;
    }
    let parts: Vec<&str> = rest.split(':').collect();
    (1..=3).contains(&parts.len()) && parts.iter().all(|p| number(p))
}

/// A string as one single-quoted shell word.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn path_str(p: &Path) -> Result<&str, Failure> {
    p.to_str().ok_or_else(|| {
        Failure::input(format!(
            "{}: --slurm needs paths that are valid UTF-8",
            p.display()
        ))
    })
}

pub struct Scripts {
    pub array: PathBuf,
    pub merge: PathBuf,
    pub tasks: usize,
}

/// Writes `OUT/slurm/array.sbatch`, `OUT/slurm/merge.sbatch` and the log
/// folder `OUT/slurm/logs/`. `exe`, `job.sweep` and `job.out` are absolute.
pub fn write_scripts(
    args: &SlurmArgs,
    exe: &Path,
    job: &Job,
    tasks: usize,
) -> Result<Scripts, Failure> {
    let dir = job.out.join("slurm");
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs)
        .map_err(|e| Failure::internal(format!("{}: {e}", logs.display())))?;
    let (exe_q, sweep_q, out_q) = (
        shell_quote(path_str(exe)?),
        shell_quote(path_str(job.sweep)?),
        shell_quote(path_str(job.out)?),
    );
    let logs_s = path_str(&logs)?;
    let stem = job
        .sweep
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "sweep".into());
    let name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let array_path = dir.join("array.sbatch");
    let merge_path = dir.join("merge.sbatch");
    let array_q = shell_quote(path_str(&array_path)?);
    let merge_q = shell_quote(path_str(&merge_path)?);
    let mut common = String::new();
    if let Some(p) = &args.partition {
        common += &format!("#SBATCH --partition={p}\n");
    }
    let mut array_limits = common.clone();
    if let Some(t) = &args.time {
        array_limits += &format!("#SBATCH --time={t}\n");
    }
    let keep = if job.keep_runs { " --keep-runs" } else { "" };
    let last = tasks - 1;
    let array = format!(
        r#"#!/bin/bash
# Written by `hacasim sweep --slurm`: shard $SLURM_ARRAY_TASK_ID of {tasks} of
#   {sweep}
# ({points} points x {seeds} seeds; point p runs in task p mod {tasks}), its rows into
#   {out}/rows/
# Every finished (point, seed) row is written whole, and each task runs with
# --resume, so a task that failed or was pre-empted is simply resubmitted and
# redoes nothing that finished:
#   sbatch --array=<task> {array_q}
# then merge: sbatch {merge_q}  (or `hacasim merge {out_q}` anywhere).
#SBATCH --job-name=hacasim-{name}
#SBATCH --array=0-{last}
#SBATCH --cpus-per-task={cpus}
#SBATCH --requeue
#SBATCH --output={logs_s}/array-%A_%a.out
{array_limits}set -euo pipefail
exec {exe_q} sweep {sweep_q} --out {out_q} \
    --shard "${{SLURM_ARRAY_TASK_ID}}/{tasks}" --resume --quiet{keep} \
    --jobs "${{SLURM_CPUS_PER_TASK:-{cpus}}}"
"#,
        sweep = job.sweep.display(),
        out = job.out.display(),
        points = job.points,
        seeds = job.seeds,
        cpus = args.cpus_per_task,
    );
    let merge = format!(
        r#"#!/bin/bash
# Written by `hacasim sweep --slurm`: merges the rows of every shard into
# sweep.parquet, points.parquet, plots and report.html in
#   {out}
# Submitted after the array with --dependency=afterok:<array job id>; it
# refuses (exit 2) while any (point, seed) row is missing.
#SBATCH --job-name=hacasim-{name}-merge
#SBATCH --cpus-per-task=1
#SBATCH --kill-on-invalid-dep=yes
#SBATCH --output={logs_s}/merge-%j.out
{common}set -euo pipefail
exec {exe_q} merge {out_q}
"#,
        out = job.out.display(),
    );
    write_script(&array_path, &array)?;
    write_script(&merge_path, &merge)?;
    Ok(Scripts {
        array: array_path,
        merge: merge_path,
        tasks,
    })
}

fn write_script(path: &Path, text: &str) -> Result<(), Failure> {
    crate::output::write_atomic(path, text.as_bytes())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| Failure::internal(format!("{}: {e}", path.display())))?;
    }
    Ok(())
}

/// `sbatch --parsable ARGS…`: the job id.
fn sbatch(args: &[&str]) -> Result<String, Failure> {
    let o = Command::new("sbatch").arg("--parsable").args(args).output().map_err(|e| {
        Failure::internal(format!("cannot run sbatch ({e}): run on a Slurm login node, or leave out --submit and submit the scripts yourself"))
    })?;
    let stdout = String::from_utf8_lossy(&o.stdout);
    if !o.status.success() {
        return Err(Failure::internal(format!(
            "sbatch {} failed: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr).trim(),
            stdout.trim()
        )));
    }
    // --parsable prints "id" or "id;cluster".
    let id = stdout.trim().split(';').next().unwrap_or("").to_string();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Failure::internal(format!(
            "sbatch {}: unexpected output {:?}",
            args.join(" "),
            stdout.trim()
        )));
    }
    Ok(id)
}

/// Writes the scripts, then submits them (`--submit`) or says how to.
pub fn prepare(args: &SlurmArgs, job: &Job) -> Result<(), Failure> {
    let tasks = array_size(args, job.points)?;
    let exe = std::env::current_exe()
        .map_err(|e| Failure::internal(format!("cannot find this hacasim binary: {e}")))?;
    let exe = exe.canonicalize().unwrap_or(exe);
    let s = write_scripts(args, &exe, job, tasks)?;
    let (array, merge, out) = (s.array.display(), s.merge.display(), job.out.display());
    if !args.submit {
        println!(
            "wrote {array} ({} tasks, one per shard) and {merge}; submit them with",
            s.tasks
        );
        println!(
            "  array=$(sbatch --parsable {})",
            shell_quote(&array.to_string())
        );
        println!(
            "  sbatch --dependency=afterok:${{array%%;*}} {}",
            shell_quote(&merge.to_string())
        );
        println!("(or run again with --submit). Results land in {out}.");
        return Ok(());
    }
    let array_id = sbatch(&[path_str(&s.array)?])?;
    let merge_id = sbatch(&[
        &format!("--dependency=afterok:{array_id}"),
        path_str(&s.merge)?,
    ])?;
    println!(
        "array job {array_id}: {} tasks, logs in {out}/slurm/logs/",
        s.tasks
    );
    println!("merge job {merge_id}: runs `hacasim merge {out}` once every task has succeeded");
    println!(
        "Watch with `squeue -j {array_id},{merge_id}`; a task i that failed: `sbatch --array=i {array}`, then `sbatch --dependency=afterok:<its id> {merge}`."
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slurm_time_formats() {
        for t in [
            "30",
            "30:00",
            "2:00:00",
            "1-12",
            "1-12:30",
            "1-12:30:00",
            "UNLIMITED",
            "infinite",
        ] {
            assert!(valid_time(t), "{t}");
        }
        for t in ["", "1h", "1:2:3:4", "-1", "1-", "a-1", "1-1:2:3:4", "1 0"] {
            assert!(!valid_time(t), "{t}");
        }
    }

    #[test]
    fn quoting_survives_quotes_and_spaces() {
        assert_eq!(shell_quote("/a b/it's"), r"'/a b/it'\''s'");
    }

    #[test]
    fn array_size_defaults_to_points_capped() {
        let a = SlurmArgs::default();
        assert_eq!(array_size(&a, 6).unwrap(), 6);
        assert_eq!(array_size(&a, 1000).unwrap(), DEFAULT_MAX_TASKS);
        for bad in [0, 7] {
            let a = SlurmArgs {
                array_size: Some(bad),
                ..SlurmArgs::default()
            };
            assert_eq!(array_size(&a, 6).unwrap_err().code, 2);
        }
    }
}
