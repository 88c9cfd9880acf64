//! The lab lock: one `up` or `down` of a lab at a time, across processes (flock on
//! `<state root>/<lab>.lock`, released by the kernel when the holder dies).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use fs4::FileExt;

use crate::error::HubError;

/// How long between two tries when waiting for the lock.
const POLL: Duration = Duration::from_millis(100);

/// A held lab lock; released on drop.
#[derive(Debug)]
pub struct LabLock {
    file: File,
    path: PathBuf,
}

impl LabLock {
    /// The lock file of `lab` under the state root.
    pub fn path(root: &Path, lab: &str) -> PathBuf {
        root.join(format!("{lab}.lock"))
    }

    /// Takes the lab's lock. With `wait`, waits until the holder releases it (cancel by
    /// dropping the future); without, fails at once naming the holder's pid.
    pub async fn acquire(root: &Path, lab: &str, wait: bool) -> Result<LabLock, HubError> {
        let path = Self::path(root, lab);
        let io = |context: &str, source| HubError::Io {
            lab: lab.to_string(),
            context: context.to_string(),
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(root).map_err(|e| io("creating the state directory for", e))?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io("opening the lock file", e))?;
        loop {
            match FileExt::try_lock(&file) {
                Ok(()) => break,
                Err(fs4::TryLockError::WouldBlock) => {
                    if !wait {
                        return Err(HubError::Locked {
                            lab: lab.to_string(),
                            pid: read_pid(&mut file),
                            path,
                        });
                    }
                    tracing::info!(lab, holder = ?read_pid(&mut file), "waiting for the lab lock");
                    tokio::time::sleep(POLL).await;
                }
                Err(fs4::TryLockError::Error(e)) => return Err(io("locking", e)),
            }
        }
        let pid = std::process::id().to_string();
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(pid.as_bytes()))
            .and_then(|()| file.flush())
            .map_err(|e| io("writing the lock file", e))?;
        Ok(LabLock { file, path })
    }

    /// The lock file.
    pub fn file_path(&self) -> &Path {
        &self.path
    }
}

impl Drop for LabLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = FileExt::unlock(&self.file);
    }
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut s = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut s).ok()?;
    s.trim().parse().ok()
}
