//! The shipped profiles: each parses, fits, and its recorded end-to-end
//! check is what this fit predicts from its own measurements, within
//! issue 7's thresholds (median |error| < 5 %, largest < 15 %). The timings
//! were measured once, by the command each file records (on a busy shared
//! machine a new calibration can miss them: README, "Calibration").
//! The ops profiles (`--ops`) read, and time every operation.

use gpu_kernels::calibrate::{MAX_ERROR_LIMIT, MEDIAN_ERROR_LIMIT, error_figures, repredict};
use gpu_kernels::ops::{self, OP_NAMES};
use gpu_kernels::{OpKind, Profile};

/// The shipped TOML files, and whether each is an ops profile
/// (`kind = "ops"`, `hacasim calibrate --ops`) rather than an operator one.
fn shipped_files() -> Vec<(std::path::PathBuf, bool)> {
    let dir = format!("{}/../scenarios/profiles", env!("CARGO_MANIFEST_DIR"));
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| {
            let t: toml::Table = toml::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            let ops = t.get("kind").and_then(|k| k.as_str()) == Some("ops");
            (p, ops)
        })
        .collect();
    v.sort();
    v
}

fn shipped() -> Vec<(String, Profile)> {
    let mut v: Vec<(String, Profile)> = shipped_files()
        .into_iter()
        .filter(|(_, ops)| !ops)
        .map(|(p, _)| {
            (
                p.display().to_string(),
                Profile::parse(&std::fs::read_to_string(&p).unwrap()).unwrap(),
            )
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn a_cpu_profile_is_shipped() {
    assert!(shipped().iter().any(|(_, p)| p.backend == "cpu"));
}

#[test]
fn shipped_profiles_predict_their_layer_stacks_within_the_thresholds() {
    for (name, p) in shipped() {
        let fitted = p.fit().unwrap();
        for kind in OpKind::ALL {
            assert!(
                fitted.ops.contains_key(&kind),
                "{name}: no {} measurements",
                kind.name()
            );
        }
        assert!(
            p.checks.len() >= 4,
            "{name}: {} check stacks",
            p.checks.len()
        );
        let again = repredict(&p, &fitted);
        for (recorded, now) in p.checks.iter().zip(&again) {
            assert!(
                (recorded.predicted_s - now.predicted_s).abs() <= 1e-9 * now.predicted_s,
                "{name} {}: recorded prediction differs from the fit's",
                now.shape.name
            );
        }
        let (median, max) = error_figures(&again);
        println!(
            "{name}: median |error| {:.1}%, max {:.1}%",
            median * 100.0,
            max * 100.0
        );
        assert!(
            median < MEDIAN_ERROR_LIMIT && max < MAX_ERROR_LIMIT,
            "{name}: median {median}, max {max}"
        );
    }
}

#[test]
fn shipped_ops_profiles_time_every_operation() {
    let files: Vec<_> = shipped_files()
        .into_iter()
        .filter(|(_, ops)| *ops)
        .map(|(p, _)| p)
        .collect();
    assert!(!files.is_empty(), "no ops profile is shipped");
    for path in files {
        let p = ops::read(&path).unwrap();
        for name in OP_NAMES {
            let o = p
                .get(name)
                .unwrap_or_else(|| panic!("{}: no {name}", path.display()));
            println!(
                "{}: {name} median {:.2} µs",
                path.display(),
                o.median_s * 1e6
            );
        }
    }
}
