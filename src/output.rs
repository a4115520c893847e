//! Run directories are written whole or not at all: everything goes into a
//! temporary sibling directory that is renamed into place at the end.
//!
//! What hacasim may delete is only what it wrote itself: every run and sweep
//! directory carries a marker file ([`MARKER`]), and `--force` replaces an
//! existing directory only if it holds the marker (or is empty). A staging
//! directory is removed when its run fails, when the process is interrupted
//! (SIGINT, SIGTERM: [`on_interrupt_remove_staging`]), and, if the process
//! was killed outright, by the next run or sweep that writes beside it
//! ([`clear_stale`]).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::Failure;

/// The file hacasim leaves in every run and sweep directory it writes: the
/// proof that `--force` may replace the directory.
pub const MARKER: &str = ".hacasim-output";

/// Staging directories being written now, removed on SIGINT or SIGTERM.
static STAGING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// This host's name, reduced to characters safe in a file name: staging and
/// temporary names carry it with the process id, so that the next run on
/// this host can tell whether their writer is gone (and never judges a
/// process of another host sharing the filesystem).
fn host() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    host.trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect()
}

/// Refuses to replace `target` unless hacasim wrote it: it must not exist,
/// be an empty directory, or be a directory holding [`MARKER`]. Checked
/// before anything runs, so a refusal (bad input, exit 2) writes nothing.
pub fn check_replaceable(target: &Path) -> Result<(), Failure> {
    let Ok(meta) = std::fs::symlink_metadata(target) else {
        return Ok(());
    };
    let refuse = |why: &str| {
        Err(Failure::input(format!(
            "{}: not replaced with --force: {why}; hacasim replaces only a directory it wrote \
             itself (one holding its {MARKER} marker). Remove it yourself or choose another --out",
            target.display()
        )))
    };
    if !meta.is_dir() {
        return refuse("it is not a directory");
    }
    if target.join(MARKER).is_file() {
        return Ok(());
    }
    match std::fs::read_dir(target).map(|mut entries| entries.next().is_none()) {
        Ok(true) => Ok(()),
        Ok(false) => refuse("it holds files and no hacasim marker"),
        Err(e) => refuse(&format!("it cannot be read ({e})")),
    }
}

/// Writes the marker into a directory hacasim creates.
pub fn mark(dir: &Path, what: &str) -> Result<(), Failure> {
    let text = format!(
        "Written by hacasim {} ({what}). `--force` may replace this directory.\n",
        env!("CARGO_PKG_VERSION")
    );
    std::fs::write(dir.join(MARKER), text)
        .map_err(|e| Failure::internal(format!("{}: {e}", dir.display())))
}

/// Removes, in `dir`, staging directories (`.NAME.tmp-HOST-PID`) and
/// temporary files (`.NAME.HOST-PID-….tmp`) left by processes of this host
/// that no longer run: a run killed outright (SIGKILL, power loss) leaves
/// them, and nobody else would see them.
pub fn clear_stale(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let tag = format!("{}-", host());
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') {
            continue;
        }
        let writer = name.rsplit_once(".tmp-").map(|(_, rest)| rest).or_else(|| {
            name.strip_suffix(".tmp")
                .and_then(|n| n.rsplit_once('.'))
                .map(|(_, r)| r)
        });
        let Some(pid) = writer
            .and_then(|w| w.strip_prefix(&tag))
            .and_then(|w| w.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists() {
            continue;
        }
        let path = entry.path();
        let _ = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
    }
}

/// On SIGINT or SIGTERM: removes the staging directories being written and
/// exits with 128 + the signal (130, 143), as a shell reports them. Finished
/// work (a committed run directory, a sweep's written rows) stays.
pub fn on_interrupt_remove_staging() {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            let staging = STAGING.lock().unwrap_or_else(|e| e.into_inner());
            for dir in staging.iter() {
                // The writer may still be adding files: try again.
                for _ in 0..3 {
                    if std::fs::remove_dir_all(dir).is_ok() || !dir.exists() {
                        break;
                    }
                }
            }
            eprintln!("interrupted: partial output removed");
            std::process::exit(128 + signal);
        }
    });
}

/// A directory being written; dropped without `commit`, it is removed.
pub struct StagedDir {
    staging: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl StagedDir {
    /// Refuses an existing `target` unless `force` and hacasim wrote it.
    pub fn create(target: &Path, force: bool) -> Result<StagedDir, Failure> {
        if std::fs::symlink_metadata(target).is_ok() {
            if !force {
                return Err(Failure::input(format!(
                    "{}: output directory exists; pass --force to replace it",
                    target.display()
                )));
            }
            check_replaceable(target)?;
        }
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "run".into());
        let parent = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent)
            .map_err(|e| Failure::internal(format!("{}: {e}", parent.display())))?;
        clear_stale(parent);
        let staging = parent.join(format!(".{name}.tmp-{}-{}", host(), std::process::id()));
        if staging.exists() {
            let _ = std::fs::remove_dir_all(&staging);
        }
        std::fs::create_dir(&staging)
            .map_err(|e| Failure::internal(format!("{}: {e}", staging.display())))?;
        STAGING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(staging.clone());
        mark(&staging, "run")?;
        Ok(StagedDir {
            staging,
            target: target.to_path_buf(),
            committed: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// Replaces the target with the staged directory.
    pub fn commit(mut self) -> Result<PathBuf, Failure> {
        if std::fs::symlink_metadata(&self.target).is_ok() {
            // Checked again: the target may have appeared during the run.
            check_replaceable(&self.target)?;
            if self.target.is_dir() {
                std::fs::remove_dir_all(&self.target)
            } else {
                std::fs::remove_file(&self.target)
            }
            .map_err(|e| Failure::internal(format!("{}: {e}", self.target.display())))?;
        }
        std::fs::rename(&self.staging, &self.target)
            .map_err(|e| Failure::internal(format!("{}: {e}", self.target.display())))?;
        self.committed = true;
        unregister(&self.staging);
        Ok(self.target.clone())
    }
}

fn unregister(staging: &Path) {
    STAGING
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|d| d != staging);
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
            unregister(&self.staging);
        }
    }
}

/// Writes `contents` to `path` through a temporary name and a rename.
///
/// The temporary name is one no other process uses (host, process id, time
/// and a counter), on this host or another sharing the filesystem: shards of
/// a sweep on a cluster write the same files side by side.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), Failure> {
    let tmp = temporary_name(path);
    std::fs::write(&tmp, contents)
        .map_err(|e| Failure::internal(format!("{}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Failure::internal(format!("{}: {e}", path.display()))
    })
}

/// `.NAME.HOST-PID-NANOS-N.tmp` beside `path`: unique to this process and
/// this write, and recognisable by [`clear_stale`] once the process is gone.
pub fn temporary_name(path: &Path) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(
        ".{name}.{}-{}-{nanos}-{n}.tmp",
        host(),
        std::process::id()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_empty_or_marked_directories_are_replaceable() {
        let root = tempfile::tempdir().unwrap();
        let missing = root.path().join("missing");
        assert!(check_replaceable(&missing).is_ok());
        let empty = root.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        assert!(check_replaceable(&empty).is_ok());
        let foreign = root.path().join("foreign");
        std::fs::create_dir(&foreign).unwrap();
        std::fs::write(foreign.join("thesis.tex"), "x").unwrap();
        let f = check_replaceable(&foreign).unwrap_err();
        assert_eq!(f.code, 2);
        assert!(f.message.contains("no hacasim marker"), "{}", f.message);
        mark(&foreign, "run").unwrap();
        assert!(check_replaceable(&foreign).is_ok());
        let file = root.path().join("file");
        std::fs::write(&file, "x").unwrap();
        assert!(
            check_replaceable(&file)
                .unwrap_err()
                .message
                .contains("not a directory")
        );
    }

    #[test]
    fn stale_staging_of_dead_processes_is_cleared_and_live_ones_kept() {
        let root = tempfile::tempdir().unwrap();
        // Pid 0x3fffffff is above Linux's pid_max (2^22): never a live process.
        let dead = 0x3fff_ffffu32;
        let me = std::process::id();
        let h = host();
        let names = [
            format!(".run.tmp-{h}-{dead}"),
            format!(".run.tmp-{h}-{me}"),
            format!(".run.tmp-otherhost-{dead}"),
            format!(".part-0.parquet.{h}-{dead}-123-0.tmp"),
            format!(".part-0.parquet.{h}-{me}-123-0.tmp"),
            "run".to_string(),
        ];
        for n in &names[..3] {
            std::fs::create_dir(root.path().join(n)).unwrap();
        }
        for n in &names[3..] {
            std::fs::write(root.path().join(n), "x").unwrap();
        }
        clear_stale(root.path());
        let left: Vec<bool> = names.iter().map(|n| root.path().join(n).exists()).collect();
        assert_eq!(left, [false, true, true, false, true, true]);
    }
}
