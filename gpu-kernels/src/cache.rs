//! How many bytes of operands to rotate through when timing an operator so
//! that none stays cached between calls, sized from the machine's own
//! last-level cache (the CPU's from sysfs or `cpuid`, a GPU's L2 from the
//! driver).
//!
//! Serving streams every layer's weights (and a decode step's KV cache)
//! from memory each step, and the check's layer stacks do the same; an
//! operator timed on one weight matrix that stays cached would be priced
//! at cache speed. A fixed rotation (once 64 MiB, "twice a 32 MiB L3") is
//! too small on a machine with a larger cache: with a 480 MiB L3 the
//! operators' weights stayed cached while the stacks streamed theirs, and
//! memory-bound decode stacks were under-predicted by 30–38 %.

use std::path::Path;

/// Rotation = this many times the last-level cache. Under LRU a cyclic walk
/// over anything larger than the cache misses on every copy; the adaptive
/// (thrash-resistant) policies of recent L3s and GPU L2s keep part of a
/// cyclic working set resident, at most a cache's worth, so at twice the
/// cache at least half of what a timed call reads comes from memory even
/// then, and in practice most does: each timed call takes the next copy,
/// and the copies are written in order just before timing, so the first
/// ones used are the longest evicted. More costs memory and, above all,
/// setup time: the copies are written afresh for every shape timed (with
/// a 480 MiB L3, 2× is already 960 MiB a shape).
pub const COLD_FACTOR: usize = 2;

/// The CPU cache assumed when neither sysfs nor `cpuid` gives one: 32 MiB,
/// the L3 of the machine the first profile was measured on, for a 64 MiB
/// rotation (the value this crate used before it read the machine's).
pub const DEFAULT_CPU_LLC_BYTES: u64 = 32 << 20;

/// The GPU L2 assumed when the driver does not report one: 50 MiB (H100).
pub const DEFAULT_GPU_L2_BYTES: u64 = 50 << 20;

/// The rotation's size and where the cache size came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColdRotation {
    /// Bytes of operand copies cycled through per timed operator.
    pub bytes: usize,
    /// The last-level cache it is sized from.
    pub cache_bytes: u64,
    /// What that cache is and where its size was read, e.g.
    /// `L3 (/sys/devices/system/cpu/cpu0/cache/index3/size)`.
    pub source: String,
}

impl ColdRotation {
    /// `COLD_FACTOR` times a cache of `cache_bytes`, found at `source`.
    pub fn from_cache(cache_bytes: u64, source: String) -> ColdRotation {
        ColdRotation {
            bytes: usize::try_from(cache_bytes)
                .unwrap_or(usize::MAX / COLD_FACTOR)
                .saturating_mul(COLD_FACTOR),
            cache_bytes,
            source,
        }
    }

    /// This machine's CPU: the largest data or unified cache cpu0 reports
    /// in sysfs, else the last level `cpuid` describes, else
    /// [`DEFAULT_CPU_LLC_BYTES`]; the source says which and why.
    pub fn for_cpu() -> ColdRotation {
        let dir = Path::new("/sys/devices/system/cpu/cpu0/cache");
        let sysfs = match llc_from_sysfs(dir) {
            Ok(c) => return ColdRotation::from_cache(c.bytes, c.describe()),
            Err(e) => e,
        };
        match cpuid_llc() {
            Some((level, bytes)) => {
                ColdRotation::from_cache(bytes, format!("L{level} (cpuid; sysfs: {sysfs})"))
            }
            None => ColdRotation::from_cache(
                DEFAULT_CPU_LLC_BYTES,
                format!("default, not measured (sysfs: {sysfs}; no cpuid cache leaf)"),
            ),
        }
    }

    /// One line: `64 MiB = 2 × 32 MiB L3 (/sys/…/index3/size)`.
    pub fn describe(&self) -> String {
        format!(
            "{} = {COLD_FACTOR} × {} {}",
            mib(self.bytes as u64),
            mib(self.cache_bytes),
            self.source
        )
    }
}

/// Bytes as MiB, without a fraction when whole.
pub fn mib(bytes: u64) -> String {
    if bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
    }
}

/// One cache as sysfs describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheLevel {
    pub level: u32,
    pub bytes: u64,
    /// The `size` file it was read from.
    pub path: String,
}

impl CacheLevel {
    fn describe(&self) -> String {
        format!("L{} ({})", self.level, self.path)
    }
}

/// A cache size as sysfs writes it: `32K`, `32768K`, `1M`, also `1G`, `64KiB`
/// or plain bytes; the suffixes are binary (the kernel's `K` is 1024).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, suffix) = s.split_at(digits);
    let number: u64 = number.parse().ok()?;
    let unit: u64 = match suffix.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(unit)
}

/// The largest data or unified cache among `dir/index*/` (each with
/// `level`, `size` and, optionally, `type` files; instruction caches are
/// skipped): the last level. `dir` is normally
/// `/sys/devices/system/cpu/cpu0/cache`. `Err` says why none was found.
pub fn llc_from_sysfs(dir: &Path) -> Result<CacheLevel, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut best: Option<CacheLevel> = None;
    let mut problems = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with("index") {
            continue;
        }
        let read = |file: &str| std::fs::read_to_string(path.join(file));
        if read("type").is_ok_and(|t| t.trim() == "Instruction") {
            continue;
        }
        let size_path = path.join("size");
        let (level, size) = match (read("level"), read("size")) {
            (Ok(l), Ok(s)) => (l, s),
            _ => {
                problems.push(format!("{}: no level or size", path.display()));
                continue;
            }
        };
        let (Ok(level), Some(bytes)) = (level.trim().parse::<u32>(), parse_size(&size)) else {
            problems.push(format!(
                "{}: unreadable level {:?} or size {:?}",
                path.display(),
                level.trim(),
                size.trim()
            ));
            continue;
        };
        if bytes > 0 && best.as_ref().is_none_or(|b| bytes > b.bytes) {
            best = Some(CacheLevel {
                level,
                bytes,
                path: size_path.display().to_string(),
            });
        }
    }
    best.ok_or_else(|| {
        if problems.is_empty() {
            format!("{}: no data or unified cache listed", dir.display())
        } else {
            problems.join("; ")
        }
    })
}

/// The largest data or unified cache `cpuid` describes, as (level, bytes):
/// leaf 4 on Intel, leaf 0x8000_001D on AMD (the same layout), or AMD's
/// older leaf 0x8000_0006 (L3 in 512 KiB units). `None` off x86-64.
pub fn cpuid_llc() -> Option<(u32, u64)> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::__cpuid_count;
        // `cpuid` exists on every x86-64 processor; leaves beyond the
        // maximum it reports are not queried.
        let vendor = {
            let r = __cpuid_count(0, 0);
            let mut v = Vec::with_capacity(12);
            for reg in [r.ebx, r.edx, r.ecx] {
                v.extend_from_slice(&reg.to_le_bytes());
            }
            (r.eax, v)
        };
        let max_ext = __cpuid_count(0x8000_0000, 0).eax;
        let leaf = if vendor.1 == b"AuthenticAMD" || vendor.1 == b"HygonGenuine" {
            (max_ext >= 0x8000_001D).then_some(0x8000_001D)
        } else {
            (vendor.0 >= 4).then_some(4)
        };
        let mut best: Option<(u32, u64)> = None;
        if let Some(leaf) = leaf {
            for sub in 0..16 {
                let r = __cpuid_count(leaf, sub);
                let kind = r.eax & 0x1f;
                if kind == 0 {
                    break;
                }
                if kind == 2 {
                    continue; // instruction cache
                }
                let level = (r.eax >> 5) & 0x7;
                let ways = ((r.ebx >> 22) & 0x3ff) as u64 + 1;
                let partitions = ((r.ebx >> 12) & 0x3ff) as u64 + 1;
                let line = (r.ebx & 0xfff) as u64 + 1;
                let sets = r.ecx as u64 + 1;
                let bytes = ways * partitions * line * sets;
                if best.is_none_or(|b| bytes > b.1) {
                    best = Some((level, bytes));
                }
            }
        }
        if best.is_none() && max_ext >= 0x8000_0006 {
            let l3 = (__cpuid_count(0x8000_0006, 0).edx >> 18) as u64 * (512 << 10);
            if l3 > 0 {
                best = Some((3, l3));
            }
        }
        best
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A fresh directory under the system's temp dir, removed on drop.
    struct TempTree(PathBuf);

    impl TempTree {
        fn new(tag: &str) -> TempTree {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let dir = std::env::temp_dir().join(format!(
                "gpu-kernels-cache-{}-{tag}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempTree(dir)
        }

        /// `index{i}/` with the given files.
        fn index(&self, i: u32, files: &[(&str, &str)]) -> &TempTree {
            let d = self.0.join(format!("index{i}"));
            std::fs::create_dir_all(&d).unwrap();
            for (name, text) in files {
                std::fs::write(d.join(name), format!("{text}\n")).unwrap();
            }
            self
        }
    }

    impl Drop for TempTree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn sizes_parse_with_and_without_suffixes() {
        assert_eq!(parse_size("32K"), Some(32 << 10));
        assert_eq!(parse_size("32768K\n"), Some(32 << 20));
        assert_eq!(parse_size("491520K"), Some(480 << 20));
        assert_eq!(parse_size("1M"), Some(1 << 20));
        assert_eq!(parse_size("480M"), Some(480 << 20));
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("64KiB"), Some(64 << 10));
        assert_eq!(parse_size("8 MB"), Some(8 << 20));
        assert_eq!(parse_size("65536"), Some(65536));
        assert_eq!(parse_size(" 2m "), Some(2 << 20));
        for bad in ["", "K", "12Q", "1.5M", "-4K", "99999999999999999999G"] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
    }

    /// This machine kind's tree: L1d, L1i, L2, L3 of 32 MiB.
    #[test]
    fn the_largest_data_or_unified_cache_is_the_last_level() {
        let t = TempTree::new("epyc");
        t.index(0, &[("level", "1"), ("type", "Data"), ("size", "32K")])
            .index(
                1,
                &[("level", "1"), ("type", "Instruction"), ("size", "32K")],
            )
            .index(2, &[("level", "2"), ("type", "Unified"), ("size", "1024K")])
            .index(
                3,
                &[("level", "3"), ("type", "Unified"), ("size", "32768K")],
            );
        let c = llc_from_sysfs(&t.0).unwrap();
        assert_eq!((c.level, c.bytes), (3, 32 << 20));
        assert!(c.path.ends_with("index3/size"), "{}", c.path);
        let r = ColdRotation::from_cache(c.bytes, c.describe());
        assert_eq!(r.bytes, 64 << 20);
        assert!(
            r.describe().starts_with("64 MiB = 2 × 32 MiB L3 ("),
            "{}",
            r.describe()
        );
    }

    #[test]
    fn a_large_l3_in_megabytes_and_no_type_files() {
        let t = TempTree::new("big");
        t.index(0, &[("level", "1"), ("size", "48K")])
            .index(2, &[("level", "2"), ("size", "2M")])
            .index(3, &[("level", "3"), ("size", "480M")]);
        let c = llc_from_sysfs(&t.0).unwrap();
        assert_eq!((c.level, c.bytes), (3, 480 << 20));
        assert_eq!(
            ColdRotation::from_cache(c.bytes, c.describe()).bytes,
            960 << 20
        );
    }

    /// An instruction cache larger than every data cache is not the answer,
    /// and a broken entry is passed over when another one reads.
    #[test]
    fn instruction_caches_and_broken_entries_are_skipped() {
        let t = TempTree::new("odd");
        t.index(0, &[("level", "1"), ("type", "Data"), ("size", "64K")])
            .index(
                1,
                &[("level", "1"), ("type", "Instruction"), ("size", "8M")],
            )
            .index(2, &[("level", "2"), ("type", "Unified"), ("size", "lots")])
            .index(3, &[("level", "3"), ("type", "Unified")]);
        std::fs::write(t.0.join("uevent"), "").unwrap();
        let c = llc_from_sysfs(&t.0).unwrap();
        assert_eq!((c.level, c.bytes), (1, 64 << 10));
    }

    #[test]
    fn a_missing_or_empty_tree_is_an_error() {
        let t = TempTree::new("gone");
        let missing = t.0.join("no-such-dir");
        let e = llc_from_sysfs(&missing).unwrap_err();
        assert!(e.contains("no-such-dir"), "{e}");
        let e = llc_from_sysfs(&t.0).unwrap_err();
        assert!(e.contains("no data or unified cache"), "{e}");
        t.index(3, &[("level", "3")]);
        let e = llc_from_sysfs(&t.0).unwrap_err();
        assert!(e.contains("no level or size"), "{e}");
    }

    /// Whatever this machine reports, the rotation is at least twice a
    /// plausible cache and says where its size came from.
    #[test]
    fn this_machine_has_a_rotation() {
        let r = ColdRotation::for_cpu();
        eprintln!("cold rotation: {}; cpuid: {:?}", r.describe(), cpuid_llc());
        assert!(r.cache_bytes >= 1 << 16, "{r:?}");
        assert_eq!(r.bytes as u64, COLD_FACTOR as u64 * r.cache_bytes);
        assert!(!r.source.is_empty());
    }

    #[test]
    fn sizes_print_in_mib() {
        assert_eq!(mib(64 << 20), "64 MiB");
        assert_eq!(mib(60 << 19), "30 MiB");
        assert_eq!(mib(3 << 19), "1.5 MiB");
    }
}
