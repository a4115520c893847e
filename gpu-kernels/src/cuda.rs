//! CUDA backend: GEMM through cuBLAS, every other operator an NVRTC-compiled
//! kernel, all through `cudarc` with its libraries opened at run time
//! (`dynamic-loading`), so the crate builds with no CUDA toolkit and a
//! machine with no GPU gets an `Err` from [`CudaBackend::open`].
//!
//! Device tensors are untyped byte buffers holding elements of the chosen
//! [`DType`]; the kernels are one source instantiated for `float` and for
//! IEEE-half and bfloat16 bit patterns, and compute in `float`. Host data is `f32`
//! and converted on the device, so `run` compares with the reference on the
//! same inputs whatever the element type.

use crate::cache::{ColdRotation, DEFAULT_GPU_L2_BYTES};
use crate::{DType, Op, Timing, stack::Stack};
use cudarc::cublas::{CudaBlas, result as blas_result, sys as blas_sys};
use cudarc::driver::{
    CudaContext, CudaEvent, CudaFunction, CudaSlice, CudaStream, DevicePtr, DriverError,
    LaunchConfig, PushKernelArg, sys as cu,
};
use cudarc::nvrtc::{self, Ptx};
use std::collections::{BTreeMap, HashMap};
use std::ffi::{CStr, CString, c_void};
use std::sync::{Arc, Mutex};

/// The `cudarc` release in `Cargo.toml`, reported with the library versions
/// (Cargo gives a crate no way to read a dependency's version).
const CUDARC_VERSION: &str = "0.19.10";

/// Seed of the inputs `time` measures on: `crate::random_inputs(op, SEED)`.
const SEED: u64 = 0x5EED;

/// A device tensor: `len × dtype` bytes.
type Buf = CudaSlice<u8>;

/// What cudarc's kernel launch returns.
type Launched = Result<Option<(CudaEvent, CudaEvent)>, DriverError>;

/// One GPU with cuBLAS and the compiled kernels, working on one stream.
pub struct CudaBackend {
    /// `"{kernel}_{dtype}"` → function, e.g. `"rms_norm_bf16"`.
    kernels: HashMap<String, CudaFunction>,
    blas: CudaBlas,
    stream: Arc<CudaStream>,
    ctx: Arc<CudaContext>,
    name: String,
    versions: BTreeMap<String, String>,
    /// Bytes of weights (or KV cache) `time` cycles through, twice the L2.
    cold: ColdRotation,
}

impl CudaBackend {
    /// Loads the driver, cuBLAS and NVRTC on device `ordinal` and compiles
    /// the kernels; any failure is one line. `cudarc` panics when a library
    /// or symbol it loads lazily is missing, so the libraries are probed
    /// first and the whole opening runs under `catch_unwind`.
    pub fn open(ordinal: usize) -> Result<CudaBackend, String> {
        catch_quietly(|| Self::open_inner(ordinal))
            .map_err(|e| e.split_whitespace().collect::<Vec<_>>().join(" "))
    }

    fn open_inner(ordinal: usize) -> Result<CudaBackend, String> {
        require_library(
            "cuda",
            "no GPU",
            "is the NVIDIA driver installed?",
            cu::is_culib_present,
        )?;
        let ctx = CudaContext::new(ordinal).map_err(|e| {
            format!("no GPU: CUDA driver loaded but device {ordinal} unusable: {e}")
        })?;
        let hint = "is the CUDA 13 lib directory on LD_LIBRARY_PATH?";
        require_library("cublas", "no cuBLAS", hint, blas_sys::is_culib_present)?;
        require_library("nvrtc", "no NVRTC", hint, nvrtc::sys::is_culib_present)?;
        // One stream, so cudarc's per-buffer events that order work across
        // streams are pure overhead; they would also add calls to every
        // launch that `time` measures.
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx
            .new_stream()
            .map_err(|e| format!("creating a stream: {e}"))?;
        let blas =
            CudaBlas::new(stream.clone()).map_err(|e| format!("creating a cuBLAS handle: {e}"))?;

        let name = ctx.name().map_err(|e| format!("device name: {e}"))?;
        let (major, minor) = ctx
            .compute_capability()
            .map_err(|e| format!("compute capability: {e}"))?;
        let cubin = compile_cubin(&format!("sm_{major}{minor}"))?;
        let module = ctx
            .load_module(Ptx::from_binary(cubin))
            .map_err(|e| format!("loading the kernels: {e}"))?;
        let mut kernels = HashMap::new();
        for base in KERNEL_NAMES {
            for dtype in [DType::F32, DType::F16, DType::Bf16] {
                let key = format!("{base}_{}", dtype.name());
                let f = module
                    .load_function(&key)
                    .map_err(|e| format!("kernel {key}: {e}"))?;
                kernels.insert(key, f);
            }
        }

        let mut versions = BTreeMap::new();
        let mut v = 0;
        unsafe { cu::cuDriverGetVersion(&mut v) }
            .result()
            .map_err(|e| format!("driver version: {e}"))?;
        versions.insert(
            "cuda_driver".into(),
            format!("{}.{}", v / 1000, v % 1000 / 10),
        );
        let mut v = 0;
        unsafe { blas_sys::cublasGetVersion_v2(*blas.handle(), &mut v) }
            .result()
            .map_err(|e| format!("cuBLAS version: {e}"))?;
        versions.insert(
            "cublas".into(),
            format!("{}.{}.{}", v / 10000, v % 10000 / 100, v % 100),
        );
        let (mut maj, mut min) = (0, 0);
        unsafe { nvrtc::sys::nvrtcVersion(&mut maj, &mut min) }
            .result()
            .map_err(|e| format!("NVRTC version: {e:?}"))?;
        versions.insert("nvrtc".into(), format!("{maj}.{min}"));
        versions.insert("cudarc".into(), CUDARC_VERSION.into());
        versions.insert("compute_capability".into(), format!("{major}.{minor}"));
        let cold = match ctx.attribute(cu::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE) {
            Ok(bytes) if bytes > 0 => ColdRotation::from_cache(
                bytes as u64,
                "L2 (CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE)".into(),
            ),
            other => ColdRotation::from_cache(
                DEFAULT_GPU_L2_BYTES,
                format!("L2, default, not measured (CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE: {other:?})"),
            ),
        };
        versions.insert("cold_rotation".into(), cold.describe());

        Ok(CudaBackend {
            kernels,
            blas,
            stream,
            ctx,
            name,
            versions,
            cold,
        })
    }

    /// The device's marketing name, e.g. "NVIDIA H100 80GB HBM3".
    pub fn device_name(&self) -> String {
        self.name.clone()
    }

    /// Versions of the driver, cuBLAS, NVRTC and cudarc (and the compute
    /// capability and the cold rotation), for the profile's provenance.
    pub fn versions(&self) -> BTreeMap<String, String> {
        self.versions.clone()
    }

    /// The operand rotation `time` uses, sized from the device's L2.
    pub fn cold_rotation(&self) -> &ColdRotation {
        &self.cold
    }

    /// One call of `op` on host inputs (the layouts of [`crate::reference`]),
    /// converted to `dtype` on the device; the output comes back as `f32`.
    pub fn run(&mut self, op: &Op, dtype: DType, inputs: &[Vec<f32>]) -> Result<Vec<f32>, String> {
        check(op)?;
        let (sizes, out_len) = crate::tensor_sizes(op);
        if inputs.len() != sizes.len() || inputs.iter().zip(&sizes).any(|(h, &n)| h.len() != n) {
            let got: Vec<usize> = inputs.iter().map(Vec::len).collect();
            return Err(format!(
                "{op:?}: inputs of lengths {got:?}, expected {sizes:?}"
            ));
        }
        let ins = inputs
            .iter()
            .map(|h| self.upload(dtype, h))
            .collect::<Result<Vec<_>, _>>()?;
        let out = if in_place(op) {
            None
        } else {
            Some(self.alloc(dtype, out_len)?)
        };
        let out = out.as_ref().unwrap_or(&ins[0]);
        self.launch(op, dtype, &ins.iter().collect::<Vec<_>>(), out)?;
        self.download(dtype, out, out_len)
    }

    /// Per-call device time of `op` on the inputs `crate::random_inputs(op,
    /// SEED)` (generated on the device): 3 warm-up calls, then `repeats`
    /// calls back to back, each between two events on the stream.
    ///
    /// The operands a serving step streams from memory (a GEMM's weights, a
    /// decode step's KV cache: [`per_layer_input`]) rotate through copies
    /// holding the same values, twice the L2 in all ([`Self::cold_rotation`]),
    /// so that no call finds them in L2, as no layer of a stack does.
    pub fn time(&mut self, op: &Op, dtype: DType, repeats: u32) -> Result<Timing, String> {
        check(op)?;
        let (sizes, out_len) = crate::tensor_sizes(op);
        let ins = sizes
            .iter()
            .enumerate()
            .map(|(t, &n)| self.random(dtype, n, SEED.wrapping_add((t as u64) << 40)))
            .collect::<Result<Vec<_>, _>>()?;
        let cold: Vec<usize> = (0..sizes.len())
            .filter(|&i| per_layer_input(op, i))
            .collect();
        let cold_bytes: usize = cold.iter().map(|&i| sizes[i] * elem_bytes(dtype)).sum();
        // Sets beyond the one in `ins`. All are written, in order, even when
        // there are fewer calls than sets: writing the later sets is what
        // evicts the earlier ones, which the calls use first.
        let spare_sets = if cold.is_empty() {
            0
        } else {
            self.cold
                .bytes
                .div_ceil(cold_bytes.max(1))
                .clamp(1, 1 << 16)
                - 1
        };
        let mut spares: Vec<Vec<Buf>> = Vec::with_capacity(spare_sets);
        for _ in 0..spare_sets {
            spares.push(
                cold.iter()
                    .map(|&i| self.random(dtype, sizes[i], SEED.wrapping_add((i as u64) << 40)))
                    .collect::<Result<_, _>>()?,
            );
        }
        let out = if in_place(op) {
            None
        } else {
            Some(self.alloc(dtype, out_len)?)
        };
        let out = out.as_ref().unwrap_or(&ins[0]);
        // Operand sets in rotation: the originals, then each spare set.
        let sets: Vec<Vec<&Buf>> = std::iter::once(ins.iter().collect())
            .chain(spares.iter().map(|spare| {
                let mut set: Vec<&Buf> = ins.iter().collect();
                for (&i, b) in cold.iter().zip(spare) {
                    set[i] = b;
                }
                set
            }))
            .collect();
        let mut call = 0usize;
        let mut next = || {
            call += 1;
            self.launch(op, dtype, &sets[call % sets.len()], out)
        };
        for _ in 0..3 {
            next()?;
        }
        Ok(Timing::from_samples(self.time_calls(repeats, next)?))
    }

    /// Device time of the whole stack: `stack.layers` layers, each running
    /// `stack.layer_ops()` in order (what the simulator prices). Every layer
    /// has its own GEMM weights and its own decode KV cache, as in a model,
    /// so no layer finds the previous layer's operands in L2; activations
    /// are shared across layers, one set per operator position. One warm-up
    /// pass, then `repeats` timed passes.
    pub fn time_stack(
        &mut self,
        stack: &Stack,
        dtype: DType,
        repeats: u32,
    ) -> Result<Timing, String> {
        let ops = stack.layer_ops();
        for op in &ops {
            check(op)?;
        }
        // All buffers live in `pool`; the plan refers to them by index.
        let mut pool: Vec<Buf> = Vec::new();
        let add = |pool: &mut Vec<Buf>, n: usize| -> Result<usize, String> {
            pool.push(self.random(dtype, n, SEED.wrapping_add((pool.len() as u64) << 40))?);
            Ok(pool.len() - 1)
        };
        let mut shared = Vec::new();
        for op in &ops {
            let (sizes, out_len) = crate::tensor_sizes(op);
            let mut ins = Vec::new();
            for (i, &n) in sizes.iter().enumerate() {
                ins.push(if per_layer_input(op, i) {
                    None
                } else {
                    Some(add(&mut pool, n)?)
                });
            }
            let out = if in_place(op) {
                None
            } else {
                Some(add(&mut pool, out_len)?)
            };
            shared.push((ins, out));
        }
        let mut plan: Vec<(Op, Vec<usize>, usize)> = Vec::new();
        for _ in 0..stack.layers {
            for (op, (ins, out)) in ops.iter().zip(&shared) {
                let (sizes, _) = crate::tensor_sizes(op);
                let mut layer_ins = Vec::new();
                for (b, &n) in ins.iter().zip(&sizes) {
                    layer_ins.push(match b {
                        Some(i) => *i,
                        None => add(&mut pool, n)?,
                    });
                }
                let out = out.unwrap_or(layer_ins[0]);
                plan.push((*op, layer_ins, out));
            }
        }
        let pass = || -> Result<(), String> {
            for (op, ins, out) in &plan {
                let ins: Vec<&Buf> = ins.iter().map(|&i| &pool[i]).collect();
                self.launch(op, dtype, &ins, &pool[*out])?;
            }
            Ok(())
        };
        pass()?;
        Ok(Timing::from_samples(self.time_calls(repeats, pass)?))
    }

    /// Enqueues one call of `op`: `ins` in the order of [`crate::tensor_sizes`],
    /// `out` the output (the first input for in-place operators).
    fn launch(&self, op: &Op, dtype: DType, ins: &[&Buf], out: &Buf) -> Result<(), String> {
        let kernel = |base: &str| &self.kernels[&format!("{base}_{}", dtype.name())];
        let launched = match *op {
            Op::Gemm { m, k, n } => return self.gemm(dtype, ins[0], ins[1], out, m, k, n),
            Op::RmsNorm { tokens, hidden } => {
                // One block per row; enough threads for ~4 elements each.
                let threads = (hidden.div_ceil(4).next_multiple_of(32)).clamp(32, 1024) as u32;
                let cfg = LaunchConfig {
                    grid_dim: (tokens as u32, 1, 1),
                    block_dim: (threads, 1, 1),
                    shared_mem_bytes: 0,
                };
                unsafe {
                    self.stream
                        .launch_builder(kernel("rms_norm"))
                        .arg(ins[0])
                        .arg(ins[1])
                        .arg(out)
                        .arg(&hidden)
                        .launch(cfg)
                }
            }
            Op::Rope {
                tokens,
                heads,
                head_dim,
            } => {
                // A thread per (token, pair): the angle once, applied to every head.
                let cfg = elementwise(tokens * (head_dim / 2));
                unsafe {
                    self.stream
                        .launch_builder(kernel("rope"))
                        .arg(out)
                        .arg(&tokens)
                        .arg(&heads)
                        .arg(&head_dim)
                        .launch(cfg)
                }
            }
            Op::AttentionPrefill {
                seqs,
                len,
                heads,
                kv_heads,
                head_dim,
            } => {
                let a = Attention {
                    rows: seqs * len,
                    q_len: len,
                    kv_len: len,
                    heads,
                    kv_heads,
                    head_dim,
                    causal: 1,
                };
                self.attention(kernel("attention"), ins, out, &a)
            }
            Op::AttentionDecode {
                seqs,
                context,
                heads,
                kv_heads,
                head_dim,
            } => {
                let a = Attention {
                    rows: seqs,
                    q_len: 1,
                    kv_len: context,
                    heads,
                    kv_heads,
                    head_dim,
                    causal: 0,
                };
                self.attention(kernel("attention"), ins, out, &a)
            }
            Op::SiluMul { tokens, ffn } => {
                let cfg = elementwise(tokens * ffn);
                unsafe {
                    self.stream
                        .launch_builder(kernel("silu_mul"))
                        .arg(ins[0])
                        .arg(out)
                        .arg(&tokens)
                        .arg(&ffn)
                        .launch(cfg)
                }
            }
            Op::ResidualAdd { tokens, hidden } => {
                let n = tokens * hidden;
                unsafe {
                    self.stream
                        .launch_builder(kernel("residual_add"))
                        .arg(out)
                        .arg(ins[1])
                        .arg(&n)
                        .launch(elementwise(n))
                }
            }
        };
        launched
            .map(drop)
            .map_err(|e| format!("{op:?}: launch failed: {e}"))
    }

    /// Attention, prefill or decode: one block of `ATT_WARPS` warps per
    /// (query row, head); the warps split the keys, each keeps an online
    /// softmax, and the block merges the partial results.
    fn attention(&self, f: &CudaFunction, ins: &[&Buf], out: &Buf, a: &Attention) -> Launched {
        let cfg = LaunchConfig {
            grid_dim: (a.rows as u32, a.heads as u32, 1),
            block_dim: (32 * ATT_WARPS, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut b = self.stream.launch_builder(f);
        b.arg(ins[0]).arg(ins[1]).arg(ins[2]).arg(out);
        b.arg(&a.q_len)
            .arg(&a.kv_len)
            .arg(&a.heads)
            .arg(&a.kv_heads)
            .arg(&a.head_dim)
            .arg(&a.causal);
        unsafe { b.launch(cfg) }
    }

    /// Row-major `c[m×n] = a[m×k]·b[k×n]` with cuBLAS, accumulating in f32.
    /// cuBLAS is column-major, where row-major `c` reads as `cᵀ`, so it
    /// computes `cᵀ = bᵀ·aᵀ` with no transposes. For f32 this is sgemm
    /// (f32 compute, no TF32: the default math mode keeps full precision).
    #[allow(clippy::too_many_arguments)]
    fn gemm(
        &self,
        dtype: DType,
        a: &Buf,
        b: &Buf,
        c: &Buf,
        m: u64,
        k: u64,
        n: u64,
    ) -> Result<(), String> {
        let ty = match dtype {
            DType::F32 => blas_sys::cudaDataType::CUDA_R_32F,
            DType::F16 => blas_sys::cudaDataType::CUDA_R_16F,
            DType::Bf16 => blas_sys::cudaDataType::CUDA_R_16BF,
        };
        let (alpha, beta) = (1.0f32, 0.0f32);
        self.ctx.bind_to_thread().map_err(|e| e.to_string())?;
        let (pa, _ra) = a.device_ptr(&self.stream);
        let (pb, _rb) = b.device_ptr(&self.stream);
        let (pc, _rc) = c.device_ptr(&self.stream);
        let (m, k, n) = (m as i32, k as i32, n as i32);
        let op_n = blas_sys::cublasOperation_t::CUBLAS_OP_N;
        unsafe {
            blas_result::gemm_ex(
                *self.blas.handle(),
                op_n,
                op_n,
                n,
                m,
                k,
                &alpha as *const f32 as *const c_void,
                pb as *const c_void,
                ty,
                n,
                pa as *const c_void,
                ty,
                k,
                &beta as *const f32 as *const c_void,
                pc as *mut c_void,
                ty,
                n,
                blas_sys::cublasComputeType_t::CUBLAS_COMPUTE_32F,
                blas_sys::cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
            )
        }
        .map_err(|e| format!("cuBLAS GEMM {m}×{k}×{n} {}: {e}", dtype.name()))
    }

    /// Runs `call` `repeats` times with an event recorded before the first
    /// call and after each; returns the seconds between consecutive events.
    /// Calls go back to back with no host synchronisation, as in a serving
    /// engine, so a sample is what a call adds to the stream's timeline.
    fn time_calls(
        &self,
        repeats: u32,
        mut call: impl FnMut() -> Result<(), String>,
    ) -> Result<Vec<f64>, String> {
        if repeats == 0 {
            return Err("repeats must be at least 1".into());
        }
        let err = |e: DriverError| format!("timing events: {e}");
        let events = (0..=repeats)
            .map(|_| {
                self.ctx
                    .new_event(Some(cu::CUevent_flags::CU_EVENT_DEFAULT))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        events[0].record(&self.stream).map_err(err)?;
        for e in &events[1..] {
            call()?;
            e.record(&self.stream).map_err(err)?;
        }
        self.stream
            .synchronize()
            .map_err(|e| format!("running the timed calls: {e}"))?;
        events
            .windows(2)
            .map(|w| {
                w[0].elapsed_ms(&w[1])
                    .map(|ms| ms as f64 * 1e-3)
                    .map_err(err)
            })
            .collect()
    }

    /// A zeroed device tensor of `n` elements.
    fn alloc(&self, dtype: DType, n: usize) -> Result<Buf, String> {
        let bytes = n * elem_bytes(dtype);
        self.stream
            .alloc_zeros::<u8>(bytes)
            .map_err(|e| format!("allocating {:.1} MiB: {e}", bytes as f64 / (1 << 20) as f64))
    }

    /// A device tensor holding `crate::random_inputs`' values for a tensor
    /// whose generator offset is `base` (`seed + (index << 40)`), made on the
    /// device: the stack's weights would be gigabytes to generate and copy.
    fn random(&self, dtype: DType, n: usize, base: u64) -> Result<Buf, String> {
        let buf = self.alloc(dtype, n)?;
        let n = n as u64;
        let f = &self.kernels[&format!("fill_random_{}", dtype.name())];
        unsafe {
            self.stream
                .launch_builder(f)
                .arg(&buf)
                .arg(&n)
                .arg(&base)
                .launch(elementwise(n))
        }
        .map_err(|e| format!("fill_random: {e}"))?;
        Ok(buf)
    }

    /// Copies `host` to the device and converts it to `dtype` there.
    fn upload(&self, dtype: DType, host: &[f32]) -> Result<Buf, String> {
        let staging = self
            .stream
            .clone_htod(host)
            .map_err(|e| format!("copy to device: {e}"))?;
        let buf = self.alloc(dtype, host.len())?;
        let n = host.len() as u64;
        let f = &self.kernels[&format!("from_f32_{}", dtype.name())];
        unsafe {
            self.stream
                .launch_builder(f)
                .arg(&staging)
                .arg(&buf)
                .arg(&n)
                .launch(elementwise(n))
        }
        .map_err(|e| format!("from_f32: {e}"))?;
        Ok(buf)
    }

    /// Converts the first `n` elements of `buf` to f32 on the device and
    /// copies them back, waiting for all the stream's work.
    fn download(&self, dtype: DType, buf: &Buf, n: usize) -> Result<Vec<f32>, String> {
        let staging = self
            .stream
            .alloc_zeros::<f32>(n)
            .map_err(|e| format!("allocating: {e}"))?;
        let n64 = n as u64;
        let f = &self.kernels[&format!("to_f32_{}", dtype.name())];
        unsafe {
            self.stream
                .launch_builder(f)
                .arg(buf)
                .arg(&staging)
                .arg(&n64)
                .launch(elementwise(n64))
        }
        .map_err(|e| format!("to_f32: {e}"))?;
        let host = self
            .stream
            .clone_dtoh(&staging)
            .map_err(|e| format!("copy to host: {e}"))?;
        self.stream
            .synchronize()
            .map_err(|e| format!("running the call: {e}"))?;
        Ok(host)
    }
}

/// Attention shape as the kernel takes it: `rows` query rows (sequence
/// `row / q_len`, position `row % q_len`), each against `kv_len` keys of its
/// sequence, or the first `position + 1` of them when `causal`.
struct Attention {
    rows: u64,
    q_len: u64,
    kv_len: u64,
    heads: u64,
    kv_heads: u64,
    head_dim: u64,
    causal: u32,
}

/// Warps per attention block, and the largest head dimension (8 elements
/// per lane in registers); both must match the kernel source.
const ATT_WARPS: u32 = 4;
const ATT_MAX_DIM: u64 = 256;

fn elem_bytes(dtype: DType) -> usize {
    match dtype {
        DType::F32 => 4,
        DType::F16 | DType::Bf16 => 2,
    }
}

/// Rotary embedding and residual add write their first input.
fn in_place(op: &Op) -> bool {
    matches!(op, Op::Rope { .. } | Op::ResidualAdd { .. })
}

/// Inputs that belong to a layer rather than flowing through it: a GEMM's
/// weight and the decode KV cache.
fn per_layer_input(op: &Op, index: usize) -> bool {
    matches!(
        (op, index),
        (Op::Gemm { .. }, 1) | (Op::AttentionDecode { .. }, 1 | 2)
    )
}

/// Grid-stride launch over `n` elements, 256 threads a block.
fn elementwise(n: u64) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (n.div_ceil(256).clamp(1, 1 << 16) as u32, 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// Shapes the kernels and launch grids support, checked before any launch.
fn check(op: &Op) -> Result<(), String> {
    let (sizes, out) = crate::tensor_sizes(op);
    let fail = |why: &str| Err(format!("{op:?}: {why}"));
    if out == 0 || sizes.contains(&0) {
        return fail("empty tensor");
    }
    const GRID_X: u64 = i32::MAX as u64;
    match *op {
        Op::Gemm { m, k, n } if m.max(k).max(n) > i32::MAX as u64 => {
            fail("dimension over cuBLAS's 32-bit limit")
        }
        Op::RmsNorm { tokens, .. } if tokens > GRID_X => fail("too many rows"),
        Op::Rope { head_dim, .. } if !head_dim.is_multiple_of(2) => fail("odd head_dim"),
        Op::AttentionPrefill {
            seqs,
            len,
            heads,
            kv_heads,
            head_dim,
        } => check_attention(seqs * len, heads, kv_heads, head_dim).or_else(fail),
        Op::AttentionDecode {
            seqs,
            heads,
            kv_heads,
            head_dim,
            ..
        } => check_attention(seqs, heads, kv_heads, head_dim).or_else(fail),
        _ => Ok(()),
    }
}

/// Attention's limits: whole query groups, head_dim within the registers
/// the kernel keeps, and a grid of (rows, heads) blocks.
fn check_attention(
    rows: u64,
    heads: u64,
    kv_heads: u64,
    head_dim: u64,
) -> Result<(), &'static str> {
    if !heads.is_multiple_of(kv_heads) {
        Err("heads not a multiple of kv_heads")
    } else if head_dim > ATT_MAX_DIM {
        Err("head_dim over 256")
    } else if heads > 65_535 || rows > i32::MAX as u64 {
        Err("grid too large")
    } else {
        Ok(())
    }
}

/// Kernel families in [`KERNELS`]; each exists as `{name}_{f32,f16,bf16}`.
const KERNEL_NAMES: [&str; 8] = [
    "fill_random",
    "from_f32",
    "to_f32",
    "rms_norm",
    "rope",
    "attention",
    "silu_mul",
    "residual_add",
];

/// Compiles [`KERNELS`] to a CUBIN for the device's own architecture
/// (`sm_XY`), not to PTX: a CUBIN needs no JIT by the driver, so an NVRTC
/// newer than the driver (whose PTX the driver could not read) still works.
fn compile_cubin(arch: &str) -> Result<Vec<u8>, String> {
    let src = CString::new(KERNELS).expect("kernel source has no NUL");
    let prog = nvrtc::result::create_program(&src, Some(c"hacasim_kernels.cu"))
        .map_err(|e| format!("NVRTC: {e:?}"))?;
    let result = unsafe { compile_program(prog, arch) };
    let _ = unsafe { nvrtc::result::destroy_program(prog) };
    result
}

/// Compiles the created program `prog` for `arch` and returns its CUBIN.
///
/// # Safety
/// `prog` must be a live program from `nvrtc::result::create_program`.
unsafe fn compile_program(prog: nvrtc::sys::nvrtcProgram, arch: &str) -> Result<Vec<u8>, String> {
    let opts = [
        format!("--gpu-architecture={arch}"),
        "--std=c++17".to_string(),
    ];
    unsafe {
        if let Err(e) = nvrtc::result::compile_program(prog, &opts) {
            let log = nvrtc::result::get_program_log(prog)
                .map(|l| CStr::from_ptr(l.as_ptr()).to_string_lossy().into_owned())
                .unwrap_or_default();
            return Err(format!(
                "NVRTC compiling the kernels for {arch}: {e:?}: {log}"
            ));
        }
        let mut size = 0usize;
        nvrtc::sys::nvrtcGetCUBINSize(prog, &mut size)
            .result()
            .map_err(|e| format!("NVRTC CUBIN size: {e:?}"))?;
        let mut cubin = vec![0u8; size];
        nvrtc::sys::nvrtcGetCUBIN(prog, cubin.as_mut_ptr().cast())
            .result()
            .map_err(|e| format!("NVRTC CUBIN: {e:?}"))?;
        Ok(cubin)
    }
}

/// `Err` naming the library when none of cudarc's candidate file names for
/// `lib` loads (where cudarc itself would panic on first use).
fn require_library(
    lib: &str,
    what: &str,
    hint: &str,
    present: unsafe fn() -> bool,
) -> Result<(), String> {
    if unsafe { present() } {
        return Ok(());
    }
    let names = cudarc::get_lib_name_candidates(lib);
    let stem = format!("lib{lib}.so");
    let wanted = [stem.clone(), format!("{stem}.1"), format!("{stem}.13")];
    let shown: Vec<&str> = names
        .iter()
        .filter(|n| wanted.contains(n))
        .map(String::as_str)
        .collect();
    Err(format!(
        "{what}: cannot load {stem}: tried {} and {} other names; {hint}",
        shown.join(", "),
        names.len() - shown.len()
    ))
}

/// Runs `f`, turning a panic into `Err(message)` and keeping the default
/// hook from printing it; panics on other threads still print. The hook is
/// process-wide, so swaps are serialised.
fn catch_quietly<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    static HOOK: Mutex<()> = Mutex::new(());
    let _guard = HOOK.lock().unwrap_or_else(|e| e.into_inner());
    let me = std::thread::current().id();
    let previous = Arc::new(std::panic::take_hook());
    let chained = previous.clone();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().id() != me {
            chained(info)
        }
    }));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    drop(std::panic::take_hook());
    match Arc::try_unwrap(previous) {
        Ok(hook) => std::panic::set_hook(hook),
        Err(shared) => std::panic::set_hook(Box::new(move |info| shared(info))),
    }
    result.unwrap_or_else(|payload| {
        let msg = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()));
        Err(format!(
            "no GPU: {}",
            msg.unwrap_or_else(|| "CUDA library panicked".into())
        ))
    })
}

/// The kernels, for `float` and for 16-bit storage types whose bits are
/// converted with the instructions `cuda_fp16.h` uses, so NVRTC needs no
/// header (the target machine may have the libraries without the toolkit's
/// include directory). All arithmetic is in `float`; sizes are 64-bit.
const KERNELS: &str = r##"
typedef unsigned long long u64;

struct h16 { unsigned short bits; };  // IEEE half
struct b16 { unsigned short bits; };  // bfloat16

__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(h16 x) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(x.bits));
    return f;
}
__device__ __forceinline__ float to_f(b16 x) { return __uint_as_float(((unsigned int)x.bits) << 16); }

template <typename T> __device__ __forceinline__ T from_f(float f);
template <> __device__ __forceinline__ float from_f<float>(float f) { return f; }
template <> __device__ __forceinline__ h16 from_f<h16>(float f) {
    h16 r;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(r.bits) : "f"(f));
    return r;
}
template <> __device__ __forceinline__ b16 from_f<b16>(float f) {
    unsigned int u = __float_as_uint(f);
    b16 r;
    if ((u & 0x7fffffffu) > 0x7f800000u) { r.bits = 0x7fc0; return r; }  // NaN stays NaN
    u += 0x7fffu + ((u >> 16) & 1u);                                     // round to nearest even
    r.bits = (unsigned short)(u >> 16);
    return r;
}

#define FOR_EACH(i, n) for (u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (u64)gridDim.x * blockDim.x)

__device__ __forceinline__ float neg_inf() { return __int_as_float(0xff800000); }

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Sum over the block (a multiple of 32 threads), returned to every thread.
__device__ float block_sum(float v) {
    __shared__ float part[32];
    v = warp_sum(v);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) part[warp] = v;
    __syncthreads();
    v = lane < (int)(blockDim.x >> 5) ? part[lane] : 0.0f;
    return warp_sum(v);
}

// crate::random_inputs: SplitMix64 of (seed + (tensor << 40) + index), in [-1, 1).
template <typename T> __device__ void fill_random(T* dst, u64 n, u64 base) {
    FOR_EACH(i, n) {
        u64 z = (base + i) * 0x9E3779B97F4A7C15ull;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        dst[i] = from_f<T>(((float)(z >> 40) / 16777216.0f) * 2.0f - 1.0f);
    }
}

template <typename T> __device__ void from_f32(const float* src, T* dst, u64 n) { FOR_EACH(i, n) dst[i] = from_f<T>(src[i]); }
template <typename T> __device__ void to_f32(const T* src, float* dst, u64 n) { FOR_EACH(i, n) dst[i] = to_f(src[i]); }

// One block per row: y = x / sqrt(mean(x^2) + eps) * w.
template <typename T> __device__ void rms_norm(const T* x, const T* w, T* y, u64 hidden) {
    const T* xr = x + blockIdx.x * hidden;
    T* yr = y + blockIdx.x * hidden;
    float ss = 0.0f;
    for (u64 j = threadIdx.x; j < hidden; j += blockDim.x) { float v = to_f(xr[j]); ss += v * v; }
    const float inv = 1.0f / sqrtf(block_sum(ss) / (float)hidden + 1e-5f);
    for (u64 j = threadIdx.x; j < hidden; j += blockDim.x) yr[j] = from_f<T>(to_f(xr[j]) * inv * to_f(w[j]));
}

// Half-split pairs (x[j], x[j + hd/2]) of every head of token t rotated by
// t * 10000^(-2j/hd). A thread per (token, j) computes the angle once in
// double (at thousands of radians float rounding alone is ~1e-4) and
// applies it to all heads.
template <typename T> __device__ void rope(T* x, u64 tokens, u64 heads, u64 hd) {
    const u64 half = hd / 2;
    FOR_EACH(i, tokens * half) {
        const u64 t = i / half, j = i % half;
        double s, c;
        sincos((double)t * pow(10000.0, -2.0 * (double)j / (double)hd), &s, &c);
        const float sf = (float)s, cf = (float)c;
        for (u64 h = 0; h < heads; ++h) {
            T* r = x + (t * heads + h) * hd;
            const float a = to_f(r[j]), b = to_f(r[j + half]);
            r[j] = from_f<T>(a * cf - b * sf);
            r[j + half] = from_f<T>(a * sf + b * cf);
        }
    }
}

#define ATT_WARPS 4
#define ATT_MAX_DIM 256
#define ATT_PER_LANE (ATT_MAX_DIM / 32)

// Block (row, head): query row `row` (sequence row / q_len, position
// row % q_len) of head h against the keys of kv head h / (heads / kv_heads),
// the first position + 1 of them when causal. Warp w takes keys w, w + 4, ...
// with an online softmax (lane holds dims lane, lane + 32, ...), then the
// block merges the four partial softmaxes.
template <typename T>
__device__ void attention(const T* q, const T* k, const T* v, T* o, u64 q_len, u64 kv_len, u64 heads, u64 kv_heads, u64 hd, unsigned int causal) {
    __shared__ float part_m[ATT_WARPS], part_l[ATT_WARPS], part_acc[ATT_WARPS][ATT_MAX_DIM];
    const u64 row = blockIdx.x, h = blockIdx.y;
    const u64 s = row / q_len, t = row % q_len;
    const u64 stride = kv_heads * hd;
    const u64 kv0 = (s * kv_len * kv_heads + h / (heads / kv_heads)) * hd;
    const u64 keys = causal ? t + 1 : kv_len;
    const T* qr = q + (row * heads + h) * hd;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const float scale = 1.0f / sqrtf((float)hd);

    float qv[ATT_PER_LANE], acc[ATT_PER_LANE];
#pragma unroll
    for (int i = 0; i < ATT_PER_LANE; ++i) {
        const u64 d = lane + 32 * i;
        qv[i] = d < hd ? to_f(qr[d]) * scale : 0.0f;
        acc[i] = 0.0f;
    }
    float m = neg_inf(), l = 0.0f;
    for (u64 p = warp; p < keys; p += ATT_WARPS) {
        const T* kr = k + kv0 + p * stride;
        const T* vr = v + kv0 + p * stride;
        float dot = 0.0f;
#pragma unroll
        for (int i = 0; i < ATT_PER_LANE; ++i) {
            const u64 d = lane + 32 * i;
            if (d < hd) dot += qv[i] * to_f(kr[d]);
        }
        dot = warp_sum(dot);
        const float m_new = fmaxf(m, dot);
        const float corr = expf(m - m_new), w = expf(dot - m_new);
        l = l * corr + w;
#pragma unroll
        for (int i = 0; i < ATT_PER_LANE; ++i) {
            const u64 d = lane + 32 * i;
            if (d < hd) acc[i] = acc[i] * corr + w * to_f(vr[d]);
        }
        m = m_new;
    }
    if (lane == 0) { part_m[warp] = m; part_l[warp] = l; }
#pragma unroll
    for (int i = 0; i < ATT_PER_LANE; ++i) {
        const u64 d = lane + 32 * i;
        if (d < hd) part_acc[warp][d] = acc[i];
    }
    __syncthreads();
    // Warps that saw no key have m = -inf and weigh exp(-inf) = 0.
    float mx = neg_inf();
    for (int w = 0; w < ATT_WARPS; ++w) mx = fmaxf(mx, part_m[w]);
    float denom = 0.0f;
    for (int w = 0; w < ATT_WARPS; ++w) denom += part_l[w] * expf(part_m[w] - mx);
    T* orow = o + (row * heads + h) * hd;
    for (u64 d = threadIdx.x; d < hd; d += blockDim.x) {
        float num = 0.0f;
        for (int w = 0; w < ATT_WARPS; ++w) num += part_acc[w][d] * expf(part_m[w] - mx);
        orow[d] = from_f<T>(num / denom);
    }
}

// gu row: gate in the first ffn columns, up in the last ffn.
template <typename T> __device__ void silu_mul(const T* gu, T* y, u64 tokens, u64 ffn) {
    FOR_EACH(i, tokens * ffn) {
        const u64 r = i / ffn, j = i % ffn;
        const float g = to_f(gu[r * 2 * ffn + j]), u = to_f(gu[r * 2 * ffn + ffn + j]);
        y[i] = from_f<T>(g / (1.0f + expf(-g)) * u);
    }
}

template <typename T> __device__ void residual_add(T* x, const T* y, u64 n) { FOR_EACH(i, n) x[i] = from_f<T>(to_f(x[i]) + to_f(y[i])); }

#define KERNELS(T, S) \
extern "C" __global__ void fill_random_##S(T* dst, u64 n, u64 base) { fill_random<T>(dst, n, base); } \
extern "C" __global__ void from_f32_##S(const float* src, T* dst, u64 n) { from_f32<T>(src, dst, n); } \
extern "C" __global__ void to_f32_##S(const T* src, float* dst, u64 n) { to_f32<T>(src, dst, n); } \
extern "C" __global__ void rms_norm_##S(const T* x, const T* w, T* y, u64 hidden) { rms_norm<T>(x, w, y, hidden); } \
extern "C" __global__ void rope_##S(T* x, u64 tokens, u64 heads, u64 hd) { rope<T>(x, tokens, heads, hd); } \
extern "C" __global__ void attention_##S(const T* q, const T* k, const T* v, T* o, u64 q_len, u64 kv_len, u64 heads, u64 kv_heads, u64 hd, unsigned int causal) { \
    attention<T>(q, k, v, o, q_len, kv_len, heads, kv_heads, hd, causal); } \
extern "C" __global__ void silu_mul_##S(const T* gu, T* y, u64 tokens, u64 ffn) { silu_mul<T>(gu, y, tokens, ffn); } \
extern "C" __global__ void residual_add_##S(T* x, const T* y, u64 n) { residual_add<T>(x, y, n); }

KERNELS(float, f32)
KERNELS(h16, f16)
KERNELS(b16, bf16)
"##;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OpKind;

    /// Why the device tests are `#[ignore]`d: `cargo test` lists them as
    /// ignored rather than passing them with nothing run. Where a GPU is,
    /// `cargo test -p gpu-kernels -- --include-ignored` runs them, and
    /// `gpu-kernels/gpu-tests.sh` does so when `nvidia-smi` lists a GPU and
    /// prints how many ran. Asked for without a GPU, they fail.
    const NEEDS_GPU: &str = "needs a CUDA GPU: run with --include-ignored where one is present";

    /// The backend; a test asked to run where none opens fails, saying why.
    fn backend() -> CudaBackend {
        CudaBackend::open(0).unwrap_or_else(|e| panic!("{NEEDS_GPU}: {e}"))
    }

    /// A small shape of every operator, with ragged sizes (not multiples of
    /// a warp or block) and grouped-query attention. The `match` makes a new
    /// operator a compile error here until it has a test shape.
    fn small(kind: OpKind) -> Op {
        match kind {
            OpKind::Gemm => Op::Gemm { m: 5, k: 67, n: 33 },
            OpKind::RmsNorm => Op::RmsNorm {
                tokens: 3,
                hidden: 300,
            },
            OpKind::Rope => Op::Rope {
                tokens: 9,
                heads: 3,
                head_dim: 16,
            },
            OpKind::AttentionPrefill => Op::AttentionPrefill {
                seqs: 2,
                len: 11,
                heads: 4,
                kv_heads: 2,
                head_dim: 72,
            },
            OpKind::AttentionDecode => Op::AttentionDecode {
                seqs: 3,
                context: 13,
                heads: 6,
                kv_heads: 2,
                head_dim: 40,
            },
            OpKind::SiluMul => Op::SiluMul { tokens: 3, ffn: 50 },
            OpKind::ResidualAdd => Op::ResidualAdd {
                tokens: 3,
                hidden: 70,
            },
        }
    }

    /// The no-GPU path, run everywhere: without a GPU, opening is an `Err`
    /// of one line that says so (`no GPU: cannot load libcuda.so: …` with
    /// no driver; `no GPU: CUDA driver loaded but device 0 unusable: …`
    /// with a driver and no device), never a panic.
    #[test]
    fn open_fails_with_one_line_instead_of_panicking() {
        let opened = std::panic::catch_unwind(|| CudaBackend::open(0).map(|b| b.device_name()));
        match opened.expect("CudaBackend::open panicked") {
            Ok(name) => eprintln!("a GPU is present: {name}"),
            Err(e) => {
                assert!(!e.is_empty() && !e.contains('\n'), "not one line: {e:?}");
                let no_driver = e.starts_with("no GPU: cannot load libcuda.so: tried ")
                    && e.ends_with("is the NVIDIA driver installed?");
                let no_device = e.starts_with("no GPU: CUDA driver loaded but device 0 unusable: ");
                // A driver and a device but not the CUDA 13 libraries.
                let no_library = (e.starts_with("no cuBLAS: cannot load libcublas.so")
                    || e.starts_with("no NVRTC: cannot load libnvrtc.so"))
                    && e.ends_with("is the CUDA 13 lib directory on LD_LIBRARY_PATH?");
                assert!(
                    no_driver || no_device || no_library,
                    "unexpected message: {e}"
                );
                eprintln!("open failed as expected: {e}");
            }
        }
    }

    /// The message for a missing library, whether or not this machine has it.
    #[test]
    fn a_missing_library_is_named_with_a_hint() {
        unsafe fn absent() -> bool {
            false
        }
        let e = require_library("cuda", "no GPU", "is the NVIDIA driver installed?", absent)
            .unwrap_err();
        assert!(
            e.starts_with("no GPU: cannot load libcuda.so: tried libcuda.so"),
            "{e}"
        );
        assert!(
            e.ends_with(" other names; is the NVIDIA driver installed?"),
            "{e}"
        );
        assert!(!e.contains('\n'), "{e}");
        unsafe fn present() -> bool {
            true
        }
        assert_eq!(require_library("cuda", "no GPU", "", present), Ok(()));
    }

    #[test]
    fn a_panic_while_opening_becomes_an_error() {
        let r: Result<(), String> =
            catch_quietly(|| panic!("Unable to dynamically load the \"cublas\" shared library"));
        assert_eq!(
            r,
            Err("no GPU: Unable to dynamically load the \"cublas\" shared library".to_string())
        );
    }

    /// NVRTC needs no GPU: wherever libnvrtc loads, the kernel source must
    /// compile for Hopper (H100/H200) and Ampere. Ignored with the device
    /// tests (it needs the CUDA 13 NVRTC library, which CUDA machines have).
    #[test]
    #[ignore = "needs libnvrtc (CUDA 13): run with --include-ignored where it loads"]
    fn kernels_compile_with_nvrtc() {
        assert!(
            unsafe { nvrtc::sys::is_culib_present() },
            "libnvrtc not found: is the CUDA 13 lib directory on LD_LIBRARY_PATH?"
        );
        for arch in ["sm_90", "sm_80"] {
            let cubin = compile_cubin(arch).unwrap_or_else(|e| panic!("{e}"));
            assert!(cubin.starts_with(b"\x7fELF"), "{arch}: not an ELF CUBIN");
        }
    }

    #[test]
    #[ignore = "needs a CUDA GPU: run with --include-ignored where one is present"]
    fn every_operator_matches_the_reference() {
        let mut gpu = backend();
        eprintln!("{} {:?}", gpu.device_name(), gpu.versions());
        for kind in OpKind::ALL {
            let op = small(kind);
            let inputs = crate::random_inputs(&op, 7);
            let want = crate::run_reference(&op, &inputs);
            for dtype in [DType::F32, DType::F16, DType::Bf16] {
                let got = gpu.run(&op, dtype, &inputs).unwrap();
                assert_eq!(got.len(), want.len());
                let err = crate::relative_error(&got, &want);
                assert!(
                    err <= dtype.tolerance(),
                    "{op:?} {}: relative error {err}",
                    dtype.name()
                );
            }
        }
    }

    #[test]
    #[ignore = "needs a CUDA GPU: run with --include-ignored where one is present"]
    fn device_random_inputs_equal_the_host_ones() {
        let gpu = backend();
        let op = Op::AttentionDecode {
            seqs: 2,
            context: 5,
            heads: 4,
            kv_heads: 2,
            head_dim: 8,
        };
        for (t, want) in crate::random_inputs(&op, SEED).iter().enumerate() {
            let buf = gpu
                .random(DType::F32, want.len(), SEED.wrapping_add((t as u64) << 40))
                .unwrap();
            assert_eq!(
                &gpu.download(DType::F32, &buf, want.len()).unwrap(),
                want,
                "tensor {t}"
            );
        }
    }

    #[test]
    #[ignore = "needs a CUDA GPU: run with --include-ignored where one is present"]
    fn timings_are_positive() {
        let mut gpu = backend();
        eprintln!("cold rotation: {}", gpu.cold_rotation().describe());
        assert!(
            gpu.cold_rotation()
                .source
                .contains("CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE")
        );
        for kind in OpKind::ALL {
            let t = gpu.time(&small(kind), DType::Bf16, 5).unwrap();
            assert!(
                t.min_s > 0.0 && t.median_s >= t.min_s && t.repeats == 5,
                "{kind:?}: {t:?}"
            );
        }
        let stack = Stack {
            name: "tiny".into(),
            layers: 2,
            hidden: 256,
            heads: 4,
            kv_heads: 2,
            ffn: 512,
            prefill_seqs: 2,
            prefill_len: 16,
            decode_seqs: 3,
            decode_context: 40,
        };
        let t = gpu.time_stack(&stack, DType::F16, 3).unwrap();
        assert!(t.min_s > 0.0 && t.repeats == 3, "{t:?}");
    }
}
