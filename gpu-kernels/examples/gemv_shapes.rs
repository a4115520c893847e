//! One-row GEMMs (decoding one sequence) at the shapes of several layer
//! sizes, timed as the calibration times them (cold weights):
//! `cargo run --release -p gpu-kernels --example gemv_shapes`.
fn main() {
    let mut cpu = gpu_kernels::cpu::CpuBackend::new();
    for (k, n) in [
        (1024u64, 1024u64),
        (1280, 1280),
        (1280, 1920),
        (3520, 1280),
        (1024, 5632),
        (2048, 2048),
        (2816, 1024),
    ] {
        let t = cpu.time(&gpu_kernels::Op::Gemm { m: 1, k, n }, 11);
        println!(
            "1 x {k} x {n}: {:.3} ms, {:.1} GB/s",
            t.median_s * 1e3,
            4.0 * (k * n) as f64 / t.median_s / 1e9
        );
    }
}
