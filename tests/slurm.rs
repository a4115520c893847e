//! Sweeps on a cluster, tested for real: `hacasim sweep --slurm --submit` on
//! a one-node Slurm that tests/cluster/slurm-up.sh starts on this machine
//! (packages installed if absent), and the Kubernetes Indexed Job of
//! scenarios/cluster/ run pod by pod. Results are compared byte for byte
//! with the same sweep run here in one process.
//!
//! Where Slurm cannot be had (packages not installable, daemons that do not
//! start) the Slurm test prints "skipped: <reason>" and passes, unless
//! HACASIM_REQUIRE_SLURM=1.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime};

const HACASIM: &str = env!("CARGO_BIN_EXE_hacasim");

fn root() -> &'static str {
    env!("CARGO_MANIFEST_DIR")
}

fn hacasim(args: &[&str]) -> Output {
    Command::new(HACASIM)
        .args(args)
        .output()
        .expect("hacasim runs")
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\n{}\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn read(p: PathBuf) -> Vec<u8> {
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// 3 × 2 grid over trust-gap-modes, `seeds` seeds, `duration` simulated.
fn sweep_file(path: &Path, seeds: u64, duration: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        path,
        format!(
            "base = \"{}/scenarios/trust-gap-modes.toml\"\nseeds = {seeds}\n[set]\nduration = \"{duration}\"\n[axes]\n\"economics.burn_fraction\" = [0.0, 0.5, 1.0]\n\"verification.zk_provers\" = [8, 32]\n",
            root()
        ),
    )
    .unwrap();
}

fn assert_same_results(a: &Path, b: &Path) {
    for f in ["sweep.parquet", "points.parquet"] {
        assert!(
            read(a.join(f)) == read(b.join(f)),
            "{f} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
}

/// Finished rows of the given points: path → (inode, modification time).
fn rows_of(out: &Path, points: &[usize]) -> BTreeMap<PathBuf, (u64, SystemTime)> {
    use std::os::unix::fs::MetadataExt;
    let mut rows = BTreeMap::new();
    for p in points {
        let Ok(seeds) = std::fs::read_dir(out.join("rows").join(format!("point={p:05}"))) else {
            continue;
        };
        for s in seeds.flatten() {
            let row = s.path().join("part-0.parquet");
            if let Ok(m) = std::fs::metadata(&row) {
                rows.insert(row, (m.ino(), m.modified().unwrap()));
            }
        }
    }
    rows
}

// ---------------------------------------------------------------- Slurm

fn script(name: &str) -> PathBuf {
    Path::new(root()).join("tests/cluster").join(name)
}

/// Stops Slurm at the end (even on a failed assertion) if this test started it.
struct Slurm {
    started: bool,
}

impl Slurm {
    /// None: skipped, with the reason printed.
    fn up() -> Option<Slurm> {
        let t = Instant::now();
        let o = Command::new("bash")
            .arg(script("slurm-up.sh"))
            .output()
            .expect("bash runs");
        let stdout = String::from_utf8_lossy(&o.stdout);
        let stderr = String::from_utf8_lossy(&o.stderr);
        if !o.status.success() {
            let reason = stderr
                .lines()
                .rev()
                .find(|l| l.starts_with("slurm-up:"))
                .unwrap_or("slurm-up.sh failed")
                .to_string();
            if std::env::var("HACASIM_REQUIRE_SLURM").is_ok_and(|v| v == "1") {
                panic!("Slurm required but not available: {reason}\n{stderr}");
            }
            eprintln!("skipped: {reason} (exit {:?})", o.status.code());
            return None;
        }
        eprintln!("{} in {:.1}s", stdout.trim(), t.elapsed().as_secs_f64());
        Some(Slurm {
            started: stdout
                .lines()
                .last()
                .is_some_and(|l| l.starts_with("started")),
        })
    }
}

impl Drop for Slurm {
    fn drop(&mut self) {
        if self.started {
            let _ = Command::new("bash").arg(script("slurm-down.sh")).status();
        }
    }
}

/// Cancels the jobs it holds when dropped, so that a failing test leaves
/// nothing running.
#[derive(Default)]
struct Jobs(Vec<String>);

impl Drop for Jobs {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            let _ = Command::new("scancel").args(&self.0).output();
        }
    }
}

fn sbatch(args: &[&str]) -> String {
    let out = ok(&Command::new("sbatch")
        .arg("--parsable")
        .args(args)
        .output()
        .expect("sbatch runs"));
    out.trim().split(';').next().unwrap().to_string()
}

/// `squeue -t all` for these jobs: "id state" per job or array task.
fn states(ids: &[&str]) -> Vec<(String, String)> {
    let o = Command::new("squeue")
        .args(["-h", "-t", "all", "-o", "%i %T", "-j", &ids.join(",")])
        .output()
        .expect("squeue runs");
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| {
            l.split_once(' ')
                .map(|(a, b)| (a.to_string(), b.trim().to_string()))
        })
        .collect()
}

const ACTIVE: [&str; 8] = [
    "PENDING",
    "RUNNING",
    "CONFIGURING",
    "COMPLETING",
    "REQUEUED",
    "REQUEUE_HOLD",
    "RESIZING",
    "SUSPENDED",
];

/// Waits until none of these jobs is pending or running; their final states.
fn wait_done(ids: &[&str], limit: Duration) -> Vec<(String, String)> {
    let t = Instant::now();
    loop {
        let s = states(ids);
        if !s.is_empty() && s.iter().all(|(_, st)| !ACTIVE.contains(&st.as_str())) {
            return s;
        }
        assert!(
            t.elapsed() < limit,
            "jobs {ids:?} still not done after {limit:?}: {s:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn submitted(stdout: &str, what: &str) -> String {
    let line = stdout
        .lines()
        .find(|l| l.starts_with(what))
        .unwrap_or_else(|| panic!("no `{what}` line in\n{stdout}"));
    line[what.len()..]
        .split(':')
        .next()
        .unwrap()
        .trim()
        .to_string()
}

fn submit(sweep: &Path, out: &Path) -> (String, String) {
    let o = ok(&hacasim(&[
        "sweep",
        sweep.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--slurm",
        "--array-size",
        "3",
        "--submit",
    ]));
    (submitted(&o, "array job "), submitted(&o, "merge job "))
}

/// The same sweep on Slurm (three array tasks and a merge job) and here
/// with --jobs 1: byte-identical results. Then a task killed part-way,
/// resubmitted alone: it redoes nothing that finished, and the merged
/// results are byte-identical again. And the hand-written
/// scenarios/cluster/slurm-array.sh gives the same. One test, one Slurm.
#[test]
fn slurm_array_matches_a_local_run_and_a_killed_task_resumes() {
    let Some(_slurm) = Slurm::up() else { return };
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("small.toml");
    // 6 points × 2 seeds, about half a second each.
    sweep_file(&f, 2, "90m");
    let local = t.path().join("local");
    let mut baseline = Command::new(HACASIM)
        .args([
            "sweep",
            f.to_str().unwrap(),
            "--quiet",
            "--jobs",
            "1",
            "--out",
            local.to_str().unwrap(),
        ])
        .spawn()
        .unwrap();

    // A: the whole sweep on Slurm.
    let started = Instant::now();
    let a = t.path().join("on-slurm");
    let (array, merge) = submit(&f, &a);
    let _jobs = Jobs(vec![array.clone(), merge.clone()]);
    let done = wait_done(&[&array, &merge], Duration::from_secs(150));
    assert_eq!(done.len(), 4, "3 array tasks and the merge job: {done:?}");
    assert!(done.iter().all(|(_, s)| s == "COMPLETED"), "{done:?}");
    for i in 0..3 {
        assert!(
            a.join(format!("slurm/logs/array-{array}_{i}.out")).exists(),
            "task {i} ran as its own array task"
        );
    }
    eprintln!(
        "A: array and merge done in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    assert!(baseline.wait().unwrap().success());
    assert_same_results(&local, &a);

    // B: task 0 (points 0 and 3: four rows) killed after its first row.
    let started = Instant::now();
    let b = t.path().join("killed");
    let (array, merge) = submit(&f, &b);
    let mut jobs = Jobs(vec![array.clone(), merge.clone()]);
    let task0 = format!("{array}_0");
    let wait = Instant::now();
    while rows_of(&b, &[0, 3]).is_empty() {
        assert!(
            wait.elapsed() < Duration::from_secs(120),
            "task 0 wrote no row: {:?}",
            states(&[&array])
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    ok(&Command::new("scancel")
        .args(["--full", "--signal=KILL", &task0])
        .output()
        .unwrap());
    let done = wait_done(&[&array, &merge], Duration::from_secs(150));
    let state = |id: &str| {
        done.iter()
            .find(|(i, _)| i == id)
            .map(|(_, s)| s.clone())
            .unwrap_or_default()
    };
    // Killed by a signal through scancel: Slurm says CANCELLED (FAILED were
    // the process killed by other means).
    assert!(
        ["CANCELLED", "FAILED"].contains(&state(&task0).as_str()),
        "{done:?}"
    );
    assert_eq!(state(&format!("{array}_1")), "COMPLETED", "{done:?}");
    assert_eq!(state(&format!("{array}_2")), "COMPLETED", "{done:?}");
    // The merge job never ran: its dependency can no longer be met.
    assert_eq!(state(&merge), "CANCELLED", "{done:?}");
    assert!(!b.join("sweep.parquet").exists());
    let before = rows_of(&b, &[0, 3]);
    assert!(
        !before.is_empty() && before.len() < 4,
        "killed after {} of 4 rows",
        before.len()
    );
    eprintln!("B: task 0 killed after {} of its 4 rows", before.len());
    // An incomplete sweep is not merged.
    let o = hacasim(&["merge", b.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing"));
    // Resubmit task 0 alone, then the merge after it.
    let script = b.join("slurm/array.sbatch");
    let again = sbatch(&["--array=0", script.to_str().unwrap()]);
    let merge = sbatch(&[
        &format!("--dependency=afterok:{again}"),
        b.join("slurm/merge.sbatch").to_str().unwrap(),
    ]);
    jobs.0.extend([again.clone(), merge.clone()]);
    let done = wait_done(&[&again, &merge], Duration::from_secs(150));
    assert!(
        done.len() == 2 && done.iter().all(|(_, s)| s == "COMPLETED"),
        "{done:?}"
    );
    eprintln!(
        "B: killed, resubmitted and merged in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let after = rows_of(&b, &[0, 3]);
    assert_eq!(after.len(), 4);
    for (row, was) in &before {
        assert_eq!(after.get(row), Some(was), "{} was rewritten", row.display());
    }
    assert_same_results(&local, &b);

    // C: the hand-written array of scenarios/cluster/ (hacasim on the PATH),
    // its tasks creating the output directory themselves.
    let c = t.path().join("by-hand");
    let bin = Path::new(HACASIM).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = Command::new("sbatch")
        .args([
            "--parsable",
            "--array=0-2",
            &format!("--output={}/hand-%A_%a.out", t.path().display()),
        ])
        .arg(format!("{}/scenarios/cluster/slurm-array.sh", root()))
        .args([f.to_str().unwrap(), c.to_str().unwrap(), "3"])
        .env("PATH", path)
        .output()
        .unwrap();
    let array = ok(&o).trim().split(';').next().unwrap().to_string();
    jobs.0.push(array.clone());
    let done = wait_done(&[&array], Duration::from_secs(150));
    assert!(
        done.len() == 3 && done.iter().all(|(_, s)| s == "COMPLETED"),
        "{done:?}"
    );
    ok(&hacasim(&["merge", c.to_str().unwrap()]));
    assert_same_results(&local, &c);
}

// ----------------------------------------------------------- Kubernetes

/// The Indexed Job's settings and its container's shell command, read as
/// the YAML-lite it is.
struct IndexedJob {
    completions: usize,
    parallelism: usize,
    indexed: bool,
    command: Vec<String>,
    script: String,
}

fn read_indexed_job(text: &str) -> IndexedJob {
    let value = |key: &str| -> Option<String> {
        text.lines().find_map(|l| {
            l.trim()
                .strip_prefix(key)
                .and_then(|r| r.strip_prefix(':'))
                .map(|v| v.split('#').next().unwrap().trim().to_string())
        })
    };
    let command = value("command").expect("command:");
    let command: Vec<String> = command
        .trim_matches(['[', ']'])
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_string())
        .collect();
    // args: a list of one plain scalar, folded over its indented lines.
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.trim() == "args:")
        .expect("args:");
    let first = lines[at + 1].trim().strip_prefix("- ").expect("args: - …");
    let indent = lines[at + 1].find('-').unwrap();
    let mut script = first.to_string();
    for l in &lines[at + 2..] {
        let depth = l.len() - l.trim_start().len();
        if l.trim().is_empty() || depth <= indent || l.trim().starts_with("- ") {
            break;
        }
        script = format!("{script} {}", l.trim());
    }
    IndexedJob {
        completions: value("completions").expect("completions:").parse().unwrap(),
        parallelism: value("parallelism").expect("parallelism:").parse().unwrap(),
        indexed: value("completionMode").as_deref() == Some("Indexed"),
        command,
        script,
    }
}

/// The shell words of a simple command line (quotes removed, no expansion).
fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    for c in s.chars() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            (_, c) => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// scenarios/cluster/k8s-indexed-job.yaml keeps the Slurm contract: pod
/// INDEX of COUNT = completions runs `--shard INDEX/COUNT --resume` into one
/// shared directory. Then every pod's command, as Kubernetes and `sh -c`
/// would expand it, is run here, all at once (so shards race to create the
/// directory), with /data a temporary folder: merged, the result is
/// byte-identical to the whole sweep run in one process.
#[test]
fn k8s_indexed_job_shards_match_the_slurm_contract_and_a_local_run() {
    let text =
        std::fs::read_to_string(format!("{}/scenarios/cluster/k8s-indexed-job.yaml", root()))
            .unwrap();
    let job = read_indexed_job(&text);
    assert!(job.indexed, "completionMode: Indexed");
    assert!(
        job.completions >= 1 && job.parallelism <= job.completions,
        "parallelism {} > completions {}",
        job.parallelism,
        job.completions
    );
    assert_eq!(job.command, ["sh", "-c"]);
    let w = words(&job.script);
    assert_eq!(&w[..2], ["hacasim", "sweep"], "{}", job.script);
    let arg = |flag: &str| {
        w.iter()
            .position(|x| x == flag)
            .and_then(|i| w.get(i + 1))
            .unwrap_or_else(|| panic!("no {flag} in {}", job.script))
            .clone()
    };
    let shard = arg("--shard");
    let (index, count) = shard.split_once('/').unwrap();
    assert!(
        [
            "${JOB_COMPLETION_INDEX}",
            "$(JOB_COMPLETION_INDEX)",
            "$JOB_COMPLETION_INDEX"
        ]
        .contains(&index),
        "--shard {shard}"
    );
    assert_eq!(
        count.parse::<usize>().unwrap(),
        job.completions,
        "--shard INDEX/COUNT: COUNT must equal completions"
    );
    assert!(
        w.contains(&"--resume".to_string()),
        "every pod runs with --resume: {}",
        job.script
    );
    let (sweep, out) = (w[2].clone(), arg("--out"));
    assert!(
        sweep.starts_with("/data/") && out.starts_with("/data/"),
        "sweep and output on the shared volume"
    );
    assert!(
        text.contains(&format!("hacasim merge {out}")),
        "the comment says how to merge {out}"
    );

    // Run every pod. 6 points × 1 seed, short runs.
    let t = tempfile::tempdir().unwrap();
    let data = t.path().join("data");
    let at_data = |p: &str| data.join(p.strip_prefix("/data/").unwrap());
    sweep_file(&at_data(&sweep), 1, "5m");
    let local = t.path().join("local");
    ok(&hacasim(&[
        "sweep",
        at_data(&sweep).to_str().unwrap(),
        "--quiet",
        "--jobs",
        "1",
        "--out",
        local.to_str().unwrap(),
    ]));
    let pods: Vec<_> = (0..job.completions)
        .map(|i| {
            // Kubernetes expands $(VAR) in args; the shell then expands ${VAR}.
            let script = job
                .script
                .replacen("hacasim", HACASIM, 1)
                .replace("/data", data.to_str().unwrap())
                .replace("$(JOB_COMPLETION_INDEX)", &i.to_string());
            Command::new(&job.command[0])
                .args(&job.command[1..])
                .arg(&script)
                .env("JOB_COMPLETION_INDEX", i.to_string())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, pod) in pods.into_iter().enumerate() {
        let o = pod.wait_with_output().unwrap();
        assert!(
            o.status.success(),
            "pod {i}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let merged = at_data(&out);
    ok(&hacasim(&["merge", merged.to_str().unwrap()]));
    assert_same_results(&local, &merged);
}
