//! The README's two set-up commands share one build: `cargo run` (the
//! `hacasim` package alone) and `cargo test --workspace` (every package, with
//! dev-dependencies) must resolve the same features for every crate the
//! first one builds. Otherwise cargo compiles that crate, and everything
//! above it (Polars, rayon, gemm), a second time: on a fresh 2-core clone
//! that was 7½ minutes more, from one feature of `either` that only the
//! test-only dependencies turned on.

use std::collections::BTreeMap;
use std::process::Command;

/// `package version` → its features, as `cargo tree` resolves them.
fn features(args: &[&str]) -> BTreeMap<String, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["tree", "--locked", "--prefix", "none", "-f", "{p}|{f}"])
        .args(args)
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo tree {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut map = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let line = line.trim_end_matches(" (*)");
        if let Some((package, features)) = line.split_once('|') {
            // `{p}` ends with " (proc-macro)" or a path for some packages:
            // keep the name and version only.
            let key: Vec<&str> = package.split_whitespace().take(2).collect();
            map.insert(key.join(" "), features.to_string());
        }
    }
    map
}

/// The crates whose features differ between two resolutions.
fn differing(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Vec<String> {
    a.iter()
        .filter_map(|(package, f)| {
            let g = b.get(package)?;
            (g != f).then(|| format!("{package}: [{f}] against [{g}]"))
        })
        .collect()
}

#[test]
fn cargo_run_and_cargo_test_resolve_the_same_features() {
    let run = features(&["-p", "hacasim", "-e", "normal,build"]);
    let test = features(&["--workspace", "-e", "normal,build,dev"]);
    assert!(
        run.len() > 100,
        "only {} packages in the run build",
        run.len()
    );
    let differ = differing(&run, &test);
    assert!(
        differ.is_empty(),
        "features differ between the README's two commands, run against test \
         (turn them on in the root Cargo.toml):\n{}",
        differ.join("\n")
    );
}

/// `scripts/python-package.sh` builds the Python package alone into the same
/// target folder: it too must find every crate compiled already.
#[test]
fn the_python_package_resolves_the_same_features_as_cargo_run() {
    let run = features(&["-p", "hacasim", "-e", "normal,build"]);
    let python = features(&["-p", "hacasim-py", "-e", "normal,build"]);
    assert!(python.contains_key("pyo3 v0.30.1") && python.contains_key("hacasim v0.1.0"));
    let differ = differing(&run, &python);
    assert!(
        differ.is_empty(),
        "features differ between `cargo run` and the Python package's build \
         (turn them on in the root Cargo.toml):\n{}",
        differ.join("\n")
    );
}
