//! `hacasim calibrate` through the program: the clean "no GPU" line, a quick
//! CPU calibration whose profile a scenario then runs on, bad input.

use std::process::{Command, Output};

use sim_core::inference::profile::{OpKind, Profile};

fn hacasim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hacasim"))
        .args(args)
        .output()
        .expect("hacasim runs")
}

#[test]
fn cuda_without_a_gpu_is_one_line_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cuda.toml");
    let o = hacasim(&[
        "calibrate",
        "--backend",
        "cuda",
        "--quick",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    if o.status.success() {
        eprintln!("a GPU is present: the CUDA calibration ran");
        assert!(
            Profile::parse(&std::fs::read_to_string(&out).unwrap())
                .unwrap()
                .backend
                == "cuda"
        );
        return;
    }
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line expected: {err}");
    assert!(
        err.starts_with("error: no GPU")
            || err.starts_with("error: no cuBLAS")
            || err.starts_with("error: no NVRTC"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        !out.exists(),
        "nothing is written when the backend cannot open"
    );
}

#[test]
fn bad_dtype_is_bad_input() {
    let o = hacasim(&["calibrate", "--dtype", "f8", "--quick"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--dtype"));
}

/// The README's quick calibration on whatever backend `auto` finds, then a
/// scenario on the profile it wrote. Timings are not asserted (a shared
/// machine is noisy): the check may pass (exit 0) or miss (exit 1), and
/// either way the profile is complete and usable.
#[test]
fn quick_calibration_writes_a_profile_a_scenario_runs_on() {
    let dir = tempfile::tempdir().unwrap();
    let prof = dir.path().join("quick.toml");
    let o = hacasim(&[
        "calibrate",
        "--quick",
        "--quiet",
        "--out",
        prof.to_str().unwrap(),
    ]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(matches!(o.status.code(), Some(0 | 1)), "{stderr}");
    assert!(
        stderr.contains("using the CPU") || stderr.contains("CUDA device"),
        "auto says which backend: {stderr}"
    );
    assert!(stdout.contains("median |error|"), "{stdout}");
    let p = Profile::parse(&std::fs::read_to_string(&prof).unwrap()).unwrap();
    let f = p.fit().unwrap();
    for kind in OpKind::ALL {
        assert!(f.ops.contains_key(&kind), "{}", kind.name());
    }
    assert!(
        p.checks.len() >= 4
            && p.checks
                .iter()
                .all(|c| c.measured_s > 0.0 && c.error.is_finite())
    );

    let scenario = dir.path().join("on-profile.toml");
    std::fs::write(
        &scenario,
        r#"
name = "on-profile"
duration = "2m"
[network]
regions = ["lab"]
latency_ms = [[1.0]]
[[validators]]
name = "v"
region = "lab"
[[gpu_nodes]]
name = "gpu"
hardware = "H100-SXM"
model = "llama-3.2-1b"
latency = { kind = "profile", profile = "quick.toml" }
[[workload]]
name = "w"
model = "llama-3.2-1b"
arrival = { kind = "poisson", rate_per_s = 0.1 }
prompt_tokens = { kind = "fixed", mean = 50 }
output_tokens = { kind = "fixed", mean = 3 }
modes = { vanilla = 1.0 }
"#,
    )
    .unwrap();
    let run = dir.path().join("run");
    let o = hacasim(&[
        "run",
        "--quiet",
        "--out",
        run.to_str().unwrap(),
        scenario.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The run directory carries its own copy of the profile and reruns alone.
    assert!(run.join("profile-0-quick.toml").exists());
    let again = dir.path().join("again");
    let o = hacasim(&[
        "run",
        "--quiet",
        "--out",
        again.to_str().unwrap(),
        run.join("scenario.toml").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read(run.join("summary.json")).unwrap(),
        std::fs::read(again.join("summary.json")).unwrap()
    );

    // A missing profile is bad input naming the key.
    std::fs::remove_file(&prof).unwrap();
    let o = hacasim(&["validate", scenario.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("gpu_nodes[0].latency.profile") && err.contains("quick.toml"),
        "{err}"
    );
}
