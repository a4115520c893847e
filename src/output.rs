//! Run directories are written whole or not at all: everything goes into a
//! temporary sibling directory that is renamed into place at the end.

use std::path::{Path, PathBuf};

use crate::Failure;

/// A directory being written; dropped without `commit`, it is removed.
pub struct StagedDir {
    staging: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl StagedDir {
    /// Refuses an existing `target` unless `force`.
    pub fn create(target: &Path, force: bool) -> Result<StagedDir, Failure> {
        if target.exists() && !force {
            return Err(Failure::input(format!(
                "{}: output directory exists; pass --force to replace it",
                target.display()
            )));
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
        let staging = parent.join(format!(".{name}.tmp-{}", std::process::id()));
        if staging.exists() {
            let _ = std::fs::remove_dir_all(&staging);
        }
        std::fs::create_dir(&staging)
            .map_err(|e| Failure::internal(format!("{}: {e}", staging.display())))?;
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
        if self.target.exists() {
            std::fs::remove_dir_all(&self.target)
                .map_err(|e| Failure::internal(format!("{}: {e}", self.target.display())))?;
        }
        std::fs::rename(&self.staging, &self.target)
            .map_err(|e| Failure::internal(format!("{}: {e}", self.target.display())))?;
        self.committed = true;
        Ok(self.target.clone())
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

/// Writes `contents` to `path` through a temporary name and a rename.
///
/// The temporary name is one no other process uses (host, process id, time
/// and a counter), on this host or another sharing the filesystem: shards of
/// a sweep on a cluster write the same files side by side.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), Failure> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host: String = host
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(
        ".{name}.{host}-{}-{nanos}-{n}.tmp",
        std::process::id()
    ));
    std::fs::write(&tmp, contents)
        .map_err(|e| Failure::internal(format!("{}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Failure::internal(format!("{}: {e}", path.display()))
    })
}
