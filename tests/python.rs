//! The Python package (`python/`), through the README's test command: builds
//! its wheel into the project's .venv with `scripts/python-package.sh` (the
//! shared `dev` profile, so nothing is compiled twice) and runs its pytest
//! suite, which compares every result with this build's `hacasim` program.
//! Needs Python 3.11 with venv and PyPI, as the Parquet read-back tests do;
//! without them this test fails rather than skip.

use std::process::Command;

#[test]
fn the_python_package_passes_its_pytest_suite() {
    let root = env!("CARGO_MANIFEST_DIR");
    let built = Command::new(format!("{root}/scripts/python-package.sh"))
        .current_dir(root)
        .output()
        .expect("scripts/python-package.sh runs");
    assert!(
        built.status.success(),
        "building and installing the wheel failed:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let python = String::from_utf8(built.stdout).unwrap().trim().to_string();
    let o = Command::new(&python)
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "python/tests",
        ])
        .env("HACASIM_BIN", env!("CARGO_BIN_EXE_hacasim"))
        .current_dir(root)
        .output()
        .expect("pytest runs");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "pytest failed:\n{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // A suite that collected nothing must not pass silently.
    assert!(out.contains(" passed"), "pytest ran nothing:\n{out}");
    assert!(!out.contains("skipped"), "pytest skipped tests:\n{out}");
}
