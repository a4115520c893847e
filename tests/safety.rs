//! Issue #22: a scenario file passed around never harms the user's files or
//! crashes the program. Names that escape `runs/`, `--force` on a directory
//! hacasim did not write, amounts the ledger cannot hold, corrupt tables,
//! and interruption: each is refused (exit 2, nothing written) or cleaned up.

use std::path::Path;
use std::process::{Command, Output};

fn hacasim_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hacasim"))
        .current_dir(cwd)
        .args(args)
        .output()
        .expect("hacasim runs")
}

fn scenario(name: &str) -> String {
    format!("{}/scenarios/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A short scenario (four validators, one region) under another name.
fn small_scenario(dir: &Path, name_line: &str, extra: &str) -> std::path::PathBuf {
    let base = std::fs::read_to_string(scenario("tests/four-one-region.toml")).unwrap();
    let mut text: String = base
        .lines()
        .map(|l| {
            if l.starts_with("name =") {
                name_line.to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    text.push('\n');
    text.push_str(extra);
    let path = dir.join("s.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A victim directory with a file in it, as a user's own work would be.
fn victim(dir: &Path) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("thesis.tex"), "years of work").unwrap();
    dir.to_path_buf()
}

fn intact(dir: &Path) {
    assert_eq!(
        std::fs::read_to_string(dir.join("thesis.tex")).unwrap(),
        "years of work",
        "{} was touched",
        dir.display()
    );
    assert_eq!(std::fs::read_dir(dir).unwrap().count(), 1);
}

#[test]
fn a_name_that_climbs_out_of_runs_is_refused_and_the_victim_kept() {
    let t = tempfile::tempdir().unwrap();
    let deep = t.path().join("a/b/c");
    std::fs::create_dir_all(&deep).unwrap();
    let v = victim(&t.path().join("victim"));
    let s = small_scenario(&deep, "name = \"../../../victim\"", "");
    let o = hacasim_in(&deep, &["run", s.to_str().unwrap(), "--force", "--quiet"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("s.toml:3: key `name`"), "{e}");
    assert!(e.contains("not a safe directory name"), "{e}");
    intact(&v);
    assert!(!deep.join("runs").exists(), "nothing written");
}

#[test]
fn an_absolute_name_is_refused_and_the_victim_kept() {
    let t = tempfile::tempdir().unwrap();
    let v = victim(&t.path().join("abs/victim"));
    let s = small_scenario(
        t.path(),
        &format!("name = {:?}", v.display().to_string()),
        "",
    );
    let o = hacasim_in(
        t.path(),
        &["run", s.to_str().unwrap(), "--force", "--quiet"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("key `name`"), "{}", stderr(&o));
    intact(&v);
    assert!(!t.path().join("runs").exists());
}

#[test]
fn names_are_one_safe_path_component() {
    let t = tempfile::tempdir().unwrap();
    for bad in ["..", ".", ".hidden", "a/b", "a\\\\b", "", "-rf", "a b", "é"] {
        let s = small_scenario(t.path(), &format!("name = \"{bad}\""), "");
        let o = hacasim_in(t.path(), &["validate", s.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("key `name`"), "{bad:?}: {}", stderr(&o));
    }
    for good in ["default", "day-150", "v0.38_test", "A1"] {
        let s = small_scenario(t.path(), &format!("name = \"{good}\""), "");
        let o = hacasim_in(t.path(), &["validate", s.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{good:?}: {}", stderr(&o));
    }
}

#[test]
fn force_replaces_only_a_directory_hacasim_wrote() {
    let t = tempfile::tempdir().unwrap();
    let s = small_scenario(t.path(), "name = \"small\"", "");
    // `--out ~ --force`, a typo: a home directory is not replaced.
    let home = victim(&t.path().join("home"));
    let o = hacasim_in(
        t.path(),
        &[
            "run",
            s.to_str().unwrap(),
            "--quiet",
            "--force",
            "--out",
            home.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(home.to_str().unwrap()),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("marker"), "{}", stderr(&o));
    intact(&home);
    // A sweep's --force the same.
    let sweep = t.path().join("sw.toml");
    std::fs::write(
        &sweep,
        "base = \"s.toml\"\n[axes]\n\"economics.burn_fraction\" = [0.0, 1.0]\n",
    )
    .unwrap();
    let o = hacasim_in(
        t.path(),
        &[
            "sweep",
            sweep.to_str().unwrap(),
            "--quiet",
            "--force",
            "--out",
            home.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    intact(&home);
    // A run directory hacasim wrote is replaced, and so is an empty one.
    let run = t.path().join("run");
    for _ in 0..2 {
        let o = hacasim_in(
            t.path(),
            &[
                "run",
                s.to_str().unwrap(),
                "--quiet",
                "--force",
                "--out",
                run.to_str().unwrap(),
            ],
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(run.join(".hacasim-output").is_file());
    }
    let empty = t.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let o = hacasim_in(
        t.path(),
        &[
            "run",
            s.to_str().unwrap(),
            "--quiet",
            "--force",
            "--out",
            empty.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn amounts_the_ledger_cannot_hold_are_refused_with_the_largest_allowed() {
    let t = tempfile::tempdir().unwrap();
    // u64 base units at 10^9 a token hold 1.8e10 tokens in all.
    for (line, key) in [
        ("treasury = 1e11", "economics.treasury"),
        ("stake_per_power = 9e11", "economics.stake_per_power"),
        ("user_balance = 9.9e11", "economics.user_balance"),
    ] {
        let s = small_scenario(
            t.path(),
            "name = \"rich\"",
            &format!("[economics]\n{line}\n"),
        );
        let o = hacasim_in(t.path(), &["run", s.to_str().unwrap(), "--quiet"]);
        assert_eq!(o.status.code(), Some(2), "{line}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(e.contains(&format!("key `{key}`")), "{line}: {e}");
        assert!(e.contains("largest"), "{line}: {e}");
        assert!(!t.path().join("runs").exists(), "{line}: nothing written");
    }
    // Just under the ledger's capacity runs (four validators of power 10:
    // 40 units of stake; the rest as treasury).
    let s = small_scenario(
        t.path(),
        "name = \"rich\"",
        "[economics]\ntreasury = 1.7e10\n",
    );
    let o = hacasim_in(t.path(), &["run", s.to_str().unwrap(), "--quiet"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// Flips `n` bytes of `file` at positions drawn from `seed`.
fn corrupt(file: &Path, seed: u64, n: usize) {
    let mut bytes = std::fs::read(file).unwrap();
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for _ in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let i = (x % bytes.len() as u64) as usize;
        bytes[i] ^= (x >> 32) as u8 | 1;
    }
    std::fs::write(file, bytes).unwrap();
}

#[test]
fn report_on_a_corrupt_table_exits_2_naming_it() {
    let t = tempfile::tempdir().unwrap();
    let s = small_scenario(t.path(), "name = \"small\"", "");
    let run = t.path().join("run");
    let o = hacasim_in(
        t.path(),
        &[
            "run",
            s.to_str().unwrap(),
            "--quiet",
            "--out",
            run.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let pristine = std::fs::read(run.join("blocks.parquet")).unwrap();
    for seed in 0..40 {
        std::fs::write(run.join("blocks.parquet"), &pristine).unwrap();
        corrupt(&run.join("blocks.parquet"), seed, 8);
        let o = hacasim_in(t.path(), &["report", run.to_str().unwrap()]);
        let e = stderr(&o);
        // A panic inside the reader is caught and reported; none escapes.
        assert!(!e.contains("panicked at"), "seed {seed}: {e}");
        match o.status.code() {
            // Flipped bytes in padding or statistics may leave it readable.
            Some(0) => {}
            Some(2) => assert!(e.contains("blocks.parquet"), "seed {seed}: {e}"),
            c => panic!("seed {seed}: exit {c:?}: {e}"),
        }
    }
}

#[test]
fn merge_of_a_corrupt_row_exits_2_and_resume_redoes_it() {
    let t = tempfile::tempdir().unwrap();
    let s = small_scenario(t.path(), "name = \"small\"", "");
    let sweep = t.path().join("sw.toml");
    std::fs::write(
        &sweep,
        format!(
            "base = {:?}\n[axes]\n\"economics.burn_fraction\" = [0.0, 1.0]\n",
            s.display().to_string()
        ),
    )
    .unwrap();
    let out = t.path().join("out");
    let go = |extra: &[&str]| {
        let mut args = vec![
            "sweep",
            sweep.to_str().unwrap(),
            "--quiet",
            "--jobs",
            "1",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        hacasim_in(t.path(), &args)
    };
    let o = go(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let merged = std::fs::read(out.join("sweep.parquet")).unwrap();
    let seeds = std::fs::read_dir(out.join("rows/point=00001")).unwrap();
    let row = seeds
        .flatten()
        .next()
        .unwrap()
        .path()
        .join("part-0.parquet");
    let len = std::fs::metadata(&row).unwrap().len();
    // A truncated row, as a full disk or a killed copy leaves it.
    std::fs::write(&row, &std::fs::read(&row).unwrap()[..len as usize / 2]).unwrap();
    let o = hacasim_in(t.path(), &["merge", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("part-0.parquet"), "{}", stderr(&o));
    assert!(stderr(&o).contains("point=00001"), "{}", stderr(&o));
    // --resume runs that (point, seed) again; the result is the same.
    let o = go(&["--resume"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(out.join("sweep.parquet")).unwrap(), merged);
}

#[test]
fn sigterm_and_sigint_remove_the_staging_directory() {
    for (signal, code) in [(libc::SIGTERM, 143), (libc::SIGINT, 130)] {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("run");
        let mut child = Command::new(env!("CARGO_BIN_EXE_hacasim"))
            .args([
                "run",
                &scenario("day-150.toml"),
                "--quiet",
                "--out",
                out.to_str().unwrap(),
            ])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Wait until the staging directory holds a table being written.
        let started = std::time::Instant::now();
        let staging = loop {
            let found = std::fs::read_dir(t.path())
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .find(|p| p.join("scenario.toml").exists());
            if let Some(p) = found {
                break p;
            }
            assert!(
                started.elapsed().as_secs() < 60,
                "no staging directory appeared"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        std::thread::sleep(std::time::Duration::from_millis(300));
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(code), "signal {signal}");
        assert!(
            !staging.exists(),
            "signal {signal}: {} left behind",
            staging.display()
        );
        assert!(!out.exists());
        assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 0);
    }
}

#[test]
fn a_staging_directory_of_a_killed_run_is_cleared_by_the_next_run() {
    let t = tempfile::tempdir().unwrap();
    let s = small_scenario(t.path(), "name = \"small\"", "");
    let out = t.path().join("runs");
    std::fs::create_dir(&out).unwrap();
    let host: String = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    // Above Linux's largest pid: a process that cannot be running.
    let stale = out.join(format!(".old.tmp-{host}-{}", 0x3fff_ffff));
    std::fs::create_dir(&stale).unwrap();
    std::fs::write(stale.join("requests.parquet"), vec![0u8; 1 << 20]).unwrap();
    let o = hacasim_in(t.path(), &["run", s.to_str().unwrap(), "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stale.exists());
    assert!(out.join("small").is_dir());
}
