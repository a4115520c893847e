//! The HTML reports render in a real browser: a run's and a sweep's
//! report.html opened in headless Chromium by tests/browser/check.py (Chrome
//! DevTools Protocol over a pipe) with no uncaught exception, no console or
//! log error (a missing file shows as net::ERR_FILE_NOT_FOUND), no broken
//! image or local link, and nothing wider than a 1280 px window. Then three
//! spoiled copies of the run's report (an <img> of a missing file, a
//! console.error, a 3000 px wide <div>) must each fail, naming the cause.
//!
//! The two full-page screenshots are kept, for a person to look at, as
//! target/browser-artefacts/run-default.png and target/browser-artefacts/sweep.png
//! (beside the target directory's tmp/, wherever CARGO_TARGET_DIR puts it).
//!
//! Chromium comes from tests/browser/chromium-up.sh (Debian's chromium
//! package, installed if absent). Where it cannot be had the test prints
//! "skipped: <reason>" and passes, unless HACASIM_REQUIRE_BROWSER=1.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

const HACASIM: &str = env!("CARGO_BIN_EXE_hacasim");

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn hacasim(args: &[&str]) -> Output {
    Command::new(HACASIM)
        .args(args)
        .output()
        .expect("hacasim runs")
}

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "exit {:?}\n{}\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The chromium binary, or None (skipped, with the reason printed).
fn chromium() -> Option<String> {
    let t = Instant::now();
    let o = Command::new("bash")
        .arg(root().join("tests/browser/chromium-up.sh"))
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    let python = Command::new("python3").arg("--version").output();
    let reason = if !o.status.success() {
        Some(
            stderr
                .lines()
                .rev()
                .find(|l| l.starts_with("chromium-up:"))
                .unwrap_or("chromium-up.sh failed")
                .to_string(),
        )
    } else if !python.as_ref().is_ok_and(|p| p.status.success()) {
        Some("no python3 to run tests/browser/check.py".to_string())
    } else {
        None
    };
    if let Some(reason) = reason {
        if std::env::var("HACASIM_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
            panic!("browser required but not available: {reason}\n{stderr}");
        }
        eprintln!("skipped: {reason} (exit {:?})", o.status.code());
        return None;
    }
    let bin = stdout.lines().last().unwrap_or("").trim().to_string();
    eprintln!("chromium {bin} ready in {:.1}s", t.elapsed().as_secs_f64());
    Some(bin)
}

/// check.py's exit status and its output (stdout then stderr).
fn check(chromium: &str, html: &Path, png: &Path) -> (Option<i32>, String) {
    let t = Instant::now();
    let o = Command::new("python3")
        .arg(root().join("tests/browser/check.py"))
        .args([Path::new(chromium), html, png])
        .output()
        .expect("python3 runs");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    eprintln!(
        "check.py {} ({:.1}s): exit {:?}\n{}",
        html.display(),
        t.elapsed().as_secs_f64(),
        o.status.code(),
        out.trim_end()
    );
    (o.status.code(), out)
}

fn passes(chromium: &str, html: &Path, png: &Path) {
    let (code, out) = check(chromium, html, png);
    assert_eq!(
        code,
        Some(0),
        "{} does not render cleanly:\n{out}",
        html.display()
    );
    let size = std::fs::metadata(png).map(|m| m.len()).unwrap_or(0);
    assert!(size > 1000, "screenshot {} missing or empty", png.display());
}

/// A copy of `html` beside it (so that its relative links still resolve),
/// `edit` applied; check.py must fail (exit 1) with every one of `causes`
/// on a "problem:" line and nothing else wrong.
fn fails_naming(
    chromium: &str,
    html: &Path,
    name: &str,
    edit: impl Fn(&str) -> String,
    causes: &[&str],
    shots: &Path,
) {
    let text = std::fs::read_to_string(html).unwrap();
    let spoiled = html.with_file_name(format!("{name}.html"));
    std::fs::write(&spoiled, edit(&text)).unwrap();
    let (code, out) = check(chromium, &spoiled, &shots.join(format!("{name}.png")));
    assert_eq!(code, Some(1), "{name}: check.py should fail:\n{out}");
    let problems: Vec<&str> = out.lines().filter(|l| l.starts_with("problem:")).collect();
    for cause in causes {
        assert!(
            problems.iter().any(|p| p.contains(cause)),
            "{name}: no problem naming {cause:?}:\n{out}"
        );
    }
    for p in &problems {
        assert!(
            causes.iter().any(|c| p.contains(c)),
            "{name}: a problem not caused by the edit: {p}\n{out}"
        );
    }
}

/// `html` with `extra` inserted just before `at` (which must be there).
fn insert_before(html: &str, at: &str, extra: &str) -> String {
    let i = html
        .find(at)
        .unwrap_or_else(|| panic!("report has no {at:?}"));
    format!("{}{extra}{}", &html[..i], &html[i..])
}

#[test]
fn run_and_sweep_reports_render_in_headless_chromium() {
    let Some(chromium) = chromium() else {
        return;
    };
    let artefacts = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("browser-artefacts");
    std::fs::create_dir_all(&artefacts).unwrap();
    let t = tempfile::tempdir().unwrap();

    // A run of the default scenario, its first five simulated minutes (the
    // whole hour takes over a minute under the p2p model); the report's
    // layout does not depend on the run's length.
    let run: PathBuf = t.path().join("run");
    let scenario = t.path().join("default.toml");
    let text = std::fs::read_to_string(root().join("scenarios/default.toml")).unwrap();
    assert!(text.contains("\nduration = \"1h\"\n"));
    std::fs::write(
        &scenario,
        text.replace("\nduration = \"1h\"\n", "\nduration = \"5m\"\n"),
    )
    .unwrap();
    ok(&hacasim(&[
        "run",
        scenario.to_str().unwrap(),
        "--quiet",
        "--out",
        run.to_str().unwrap(),
    ]));
    passes(
        &chromium,
        &run.join("report.html"),
        &artefacts.join("run-default.png"),
    );

    // A small sweep: 3 × 2 points, 2 seeds, 5 simulated minutes each.
    let sweep_toml = t.path().join("small.toml");
    std::fs::write(
        &sweep_toml,
        format!(
            "base = \"{}/scenarios/trust-gap-modes.toml\"\nseeds = 2\n[set]\nduration = \"5m\"\n[axes]\n\"economics.burn_fraction\" = [0.0, 0.5, 1.0]\n\"verification.zk_provers\" = [8, 32]\n",
            root().display()
        ),
    )
    .unwrap();
    let sweep = t.path().join("sweep");
    ok(&hacasim(&[
        "sweep",
        sweep_toml.to_str().unwrap(),
        "--quiet",
        "--out",
        sweep.to_str().unwrap(),
    ]));
    passes(
        &chromium,
        &sweep.join("report.html"),
        &artefacts.join("sweep.png"),
    );

    // The check catches what it is for. The run's report draws its plots as
    // inline SVG, so the image is added: one of a plot that is there (must
    // pass) and one of a file that is not.
    let report = run.join("report.html");
    assert!(run.join("supply.png").is_file());
    fails_naming(
        &chromium,
        &report,
        "missing-image",
        |h| {
            insert_before(
                h,
                "<figure",
                r#"<img src="supply.png" alt="there"><img src="no-such-plot.png" alt="missing">"#,
            )
        },
        &["ERR_FILE_NOT_FOUND", "no-such-plot.png"],
        t.path(),
    );
    fails_naming(
        &chromium,
        &report,
        "console-error",
        |h| insert_before(h, "</body>", r#"<script>console.error("x")</script>"#),
        &["console error: x"],
        t.path(),
    );
    fails_naming(
        &chromium,
        &report,
        "too-wide",
        |h| insert_before(h, "</body>", r#"<div style="width:3000px">wide</div>"#),
        &["content wider than the page", "\"wide\""],
        t.path(),
    );
}
