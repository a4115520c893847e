//! In-sample error of the fit, per operator family, for a profile file:
//! `cargo run --release -p gpu-kernels --example fit_report -- PROFILE`.

use gpu_kernels::{OpKind, Profile};

fn main() {
    let path = std::env::args().nth(1).expect("usage: fit_report PROFILE");
    let p = Profile::parse(&std::fs::read_to_string(&path).expect("readable")).expect("a profile");
    let f = p.fit().expect("fits");
    for kind in OpKind::ALL {
        let mut errs: Vec<(f64, String)> = p
            .measurements
            .iter()
            .filter(|m| m.op.kind() == kind)
            .map(|m| {
                (
                    (f.op_time(&m.op) - m.median_s) / m.median_s,
                    format!("{:?} {:.3}ms", m.op, m.median_s * 1e3),
                )
            })
            .collect();
        if errs.is_empty() {
            continue;
        }
        errs.sort_by(|a, b| a.0.abs().total_cmp(&b.0.abs()));
        let med = errs[errs.len() / 2].0.abs();
        println!(
            "{:<18} n={:<4} knots={} median|e|={:.1}% worst:",
            kind.name(),
            errs.len(),
            f.ops[&kind].knots.len(),
            med * 100.0
        );
        for (e, what) in errs.iter().rev().take(4) {
            println!("    {:+.1}% {what}", e * 100.0);
        }
    }
    let checks = gpu_kernels::calibrate::repredict(&p, &f);
    for c in &checks {
        println!(
            "{} {:+.1}% (recorded {:+.1}%)",
            c.shape.name,
            c.error * 100.0,
            p.checks
                .iter()
                .find(|x| x.shape.name == c.shape.name)
                .map_or(0.0, |x| x.error * 100.0)
        );
    }
    let (med, max) = gpu_kernels::calibrate::error_figures(&checks);
    println!(
        "median |error| {:.1}%, max {:.1}%",
        med * 100.0,
        max * 100.0
    );
}
