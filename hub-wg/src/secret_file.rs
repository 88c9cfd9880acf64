//! Files that hold secrets: private directories (0700) and atomic writes of 0600 files.

use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::WgError;

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> WgError {
    let path = path.to_path_buf();
    move |source| WgError::Io {
        action,
        path,
        source,
    }
}

/// Creates `dir` (and missing parents) and makes `dir` itself mode 0700.
pub fn private_dir(dir: &Path) -> Result<(), WgError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io("could not create directory", dir))?;
    fs::set_permissions(dir, Permissions::from_mode(0o700))
        .map_err(io("could not set mode 0700 on", dir))
}

/// Writes `contents` to `path` atomically with mode 0600: a temporary file in the same
/// directory, created with mode 0600 (never readable by others, not even briefly), fsynced,
/// renamed over `path`, and the directory fsynced. On failure `path` is left as it was.
pub fn write_secret(path: &Path, contents: &[u8]) -> Result<(), WgError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| WgError::Io {
            action: "could not write",
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file path"),
        })?;
    let tmp = dir.join(format!(
        ".{file_name}.tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io("could not create", &tmp))?;
        // The umask can only remove bits; make it exactly 0600 whatever the umask is.
        file.set_permissions(Permissions::from_mode(0o600))
            .map_err(io("could not set mode 0600 on", &tmp))?;
        file.write_all(contents)
            .map_err(io("could not write", &tmp))?;
        file.sync_all().map_err(io("could not sync", &tmp))?;
        fs::rename(&tmp, path).map_err(io("could not rename a temporary file to", path))?;
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io("could not sync directory", &dir))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Writes like [`write_secret`] unless the file already holds exactly `contents` with mode
/// 0600. Returns whether it wrote.
pub fn write_secret_if_changed(path: &Path, contents: &[u8]) -> Result<bool, WgError> {
    let unchanged = match (fs::metadata(path), fs::read(path)) {
        (Ok(meta), Ok(current)) => {
            meta.permissions().mode() & 0o777 == 0o600 && current == contents
        }
        _ => false,
    };
    if unchanged {
        return Ok(false);
    }
    write_secret(path, contents).map(|()| true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn writes_atomically_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a/b");
        private_dir(&sub).unwrap();
        assert_eq!(mode(&sub), 0o700);
        let path = sub.join("k.key");
        write_secret(&path, b"one\n").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"one\n");
        assert_eq!(mode(&path), 0o600);
        // Overwriting a file that had looser permissions leaves it 0600.
        fs::set_permissions(&path, Permissions::from_mode(0o644)).unwrap();
        write_secret(&path, b"two\n").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two\n");
        assert_eq!(mode(&path), 0o600);
        let names: Vec<_> = fs::read_dir(&sub)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from("k.key")],
            "no temporary file left"
        );
    }

    #[test]
    fn unchanged_content_is_not_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.conf");
        assert!(write_secret_if_changed(&path, b"x").unwrap());
        assert!(!write_secret_if_changed(&path, b"x").unwrap());
        assert!(write_secret_if_changed(&path, b"y").unwrap());
    }

    #[test]
    fn failure_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_secret(&dir.path().join("missing/k.key"), b"x").unwrap_err();
        assert!(err.to_string().contains("could not create"), "{err}");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
