//! Where a check stack's time goes: each operator of one layer timed alone,
//! its prediction from a profile, and the stack timed whole.
//! `cargo run --release -p gpu-kernels --example stack_breakdown -- PROFILE [STACK]`.

use gpu_kernels::Profile;
use gpu_kernels::calibrate::check_stacks;
use gpu_kernels::cpu::CpuBackend;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let p =
        Profile::parse(&std::fs::read_to_string(&args[1]).expect("readable")).expect("a profile");
    let f = p.fit().expect("fits");
    let want = args.get(2).cloned().unwrap_or_else(|| "prefill-768".into());
    let s = check_stacks(false, false)
        .into_iter()
        .find(|s| s.name == want)
        .expect("a check stack");
    let mut cpu = CpuBackend::new();
    let (mut sum_t, mut sum_p) = (0.0, 0.0);
    for op in s.layer_ops() {
        let t = cpu.time(&op, 11).median_s;
        let pr = f.op_time(&op);
        sum_t += t;
        sum_p += pr;
        println!(
            "{:>9.3} ms measured {:>9.3} ms predicted  {op:?}",
            t * 1e3,
            pr * 1e3
        );
    }
    let whole = cpu.time_stack(&s, 7).median_s / s.layers as f64;
    println!(
        "per layer: ops alone {:.3} ms, predicted {:.3} ms, in the stack {:.3} ms",
        sum_t * 1e3,
        sum_p * 1e3,
        whole * 1e3
    );
}
