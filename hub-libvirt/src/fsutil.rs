//! Small file helpers: private files written atomically, directories made with a mode.

use std::fs::{self, DirBuilder};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

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

/// Writes `data` to `path` with mode `mode` through [`hub_runtime::files::write_atomic`]: a
/// reader never sees half a file. The parent directory must exist.
pub(crate) fn write_atomic(
    path: &Path,
    data: &[u8],
    mode: u32,
    action: &'static str,
) -> LibvirtResult<()> {
    hub_runtime::files::write_atomic(path, data, mode).map_err(io(action, path))
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
