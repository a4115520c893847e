//! GEMM throughput on the CPU against the machine's measured peak, for the
//! two GEMM crates considered (`gemm`, chosen; `matrixmultiply`).
//!
//! Peak: every rayon thread runs a register-resident loop of independent
//! 8-wide FMAs (AVX2+FMA when the CPU has them, else 4-wide SSE mul+add),
//! the most FLOP/s the cores can retire. Run with
//! `cargo run --release -p gpu-kernels --example gemm_peak`.

use std::time::Instant;

use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fma_loop(iters: u64) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm256_set1_ps(0.0); 10];
    let a = _mm256_set1_ps(1.000_000_1);
    let b = _mm256_set1_ps(0.999_999_9);
    for _ in 0..iters {
        for x in acc.iter_mut() {
            *x = _mm256_fmadd_ps(*x, a, b);
        }
    }
    let mut out = [0.0f32; 8];
    let mut s = _mm256_set1_ps(0.0);
    for x in acc {
        s = _mm256_add_ps(s, x);
    }
    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), s) };
    out.iter().sum()
}

/// FLOP/s of all threads running the FMA loop.
fn peak() -> (f64, &'static str) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        let threads = rayon::current_num_threads();
        let iters = 100_000_000u64;
        let t = Instant::now();
        let s: f32 = (0..threads)
            .into_par_iter()
            .map(|_| unsafe { fma_loop(iters) })
            .sum();
        std::hint::black_box(s);
        // 10 accumulators × 8 lanes × 2 FLOPs per FMA.
        return (
            threads as f64 * iters as f64 * 160.0 / t.elapsed().as_secs_f64(),
            "AVX2 FMA",
        );
    }
    (f64::NAN, "no AVX2/FMA: peak not measured")
}

fn time(mut f: impl FnMut()) -> f64 {
    f();
    let mut v: Vec<f64> = (0..7)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[3]
}

fn main() {
    let (peak, how) = peak();
    println!(
        "threads {}; measured peak {:.1} GFLOP/s f32 ({how})",
        rayon::current_num_threads(),
        peak / 1e9
    );
    println!(
        "{:>5} {:>5} {:>5} {:>12} {:>8} {:>12} {:>8}",
        "m", "k", "n", "gemm GF/s", "of peak", "mmul GF/s", "of peak"
    );
    for (m, k, n) in [
        (1024, 1024, 1024),
        (2048, 2048, 2048),
        (512, 2048, 5632),
        (256, 1024, 2816),
        (64, 1024, 1024),
        (1, 2048, 2048),
    ] {
        let a = vec![0.5f32; m * k];
        let b = vec![0.25f32; k * n];
        let mut c = vec![0.0f32; m * n];
        let flops = 2.0 * (m * k * n) as f64;
        let tg = time(|| gpu_kernels::cpu::gemm(&a, &b, &mut c, m, k, n));
        let tm = time(|| unsafe {
            matrixmultiply::sgemm(
                m,
                k,
                n,
                1.0,
                a.as_ptr(),
                k as isize,
                1,
                b.as_ptr(),
                n as isize,
                1,
                0.0,
                c.as_mut_ptr(),
                n as isize,
                1,
            )
        });
        let (g, mm) = (flops / tg / 1e9, flops / tm / 1e9);
        println!(
            "{m:>5} {k:>5} {n:>5} {g:>12.1} {:>7.0}% {mm:>12.1} {:>7.0}%",
            100.0 * g * 1e9 / peak,
            100.0 * mm * 1e9 / peak
        );
    }
}
