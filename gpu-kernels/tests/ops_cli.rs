//! `hacasim-calibrate --ops` through the program: a quick run writes a
//! profile that reads back with every operation; `--ops` with an operator
//! option is bad input. (`hacasim calibrate` takes the same arguments.)

use std::process::Command;

use gpu_kernels::ops::{self, OP_NAMES};

fn calibrate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hacasim-calibrate"))
        .args(args)
        .output()
        .expect("hacasim-calibrate runs")
}

#[test]
fn quick_ops_calibration_writes_a_profile() {
    let dir = std::env::temp_dir().join(format!("hacasim-ops-cli-{}", std::process::id()));
    let out = dir.join("ops.toml");
    let o = calibrate(&["--ops", "--quick", "--out", out.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let p = ops::read(&out).unwrap();
    assert!(p.command.contains("--ops"), "{}", p.command);
    for name in OP_NAMES {
        assert!(p.get(name).is_some(), "{name}");
        assert!(stdout.contains(name), "{stdout}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn ops_with_an_operator_option_is_bad_input() {
    for extra in [["--backend", "cuda"], ["--dtype", "f32"]] {
        let o = calibrate(&["--ops", extra[0], extra[1], "--quick"]);
        assert_eq!(o.status.code(), Some(2), "{extra:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("--ops"));
    }
}
