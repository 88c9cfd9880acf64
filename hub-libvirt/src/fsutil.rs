//! Small file helpers: private files written atomically, directories made with a mode.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{LibvirtError, LibvirtResult};

fn io<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> LibvirtError + 'a {
    move |source| LibvirtError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Creates `dir` (and its parents) and sets its mode.
pub(crate) fn ensure_dir(dir: &Path, mode: u32) -> LibvirtResult<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
        .map_err(io("create the directory", dir))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(mode)).map_err(io("set the mode of", dir))
}

/// Creates `dir` (mode 0700, parents as the umask says) when it does not exist; an existing
/// directory keeps its mode.
pub(crate) fn ensure_dir_keep_mode(dir: &Path) -> LibvirtResult<()> {
    if dir.is_dir() {
        return Ok(());
    }
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io("create the directory", dir))
}

/// Writes `data` to `path` with mode `mode`: first to a temporary file in the same directory,
/// then renamed, so a reader never sees half a file. The parent directory must exist.
pub(crate) fn write_atomic(
    path: &Path,
    data: &[u8],
    mode: u32,
    action: &'static str,
) -> LibvirtResult<()> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Unique per call, not only per process: the VMs of one `up` write at once, and two of
    // them may write the same file (the memo of a base image they share).
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let tmp = path.with_file_name(format!(
        ".{file_name}.tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let _ = fs::remove_file(&tmp);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io(action, path))
}

/// [`write_atomic`] with mode 0600, for files holding secrets.
pub(crate) fn write_private_atomic(
    path: &Path,
    data: &[u8],
    action: &'static str,
) -> LibvirtResult<()> {
    write_atomic(path, data, 0o600, action)
}

/// Removes a file; a file that is already gone is fine.
pub(crate) fn remove_file_if_exists(path: &Path) -> LibvirtResult<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("remove", path)(e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writers_of_one_file_at_once_all_succeed() {
        // The VMs of one `up` save at once, and share files such as a base image's memo.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("memo");
        std::thread::scope(|s| {
            for t in 0..8u8 {
                let path = &path;
                s.spawn(move || {
                    for _ in 0..50 {
                        write_atomic(path, &[t; 64], 0o600, "write the memo").unwrap();
                    }
                });
            }
        });
        let data = fs::read(&path).unwrap();
        assert!(data.len() == 64 && data.iter().all(|b| *b == data[0]));
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
