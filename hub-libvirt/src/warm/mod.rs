//! Warm start: a VM restored from a snapshot of itself taken after its first boot, in seconds
//! instead of a minute.
//!
//! Everything about a VM is reproducible (name, MAC, address, host key), so a snapshot taken
//! once the VM was ready (SSH with the pinned key, cloud-init done) is valid for every later
//! `up` of the same VM. The first `up` of a warm VM boots it cold, waits until it is ready, then
//! saves it (`virsh save`: memory and device state), copies its disk, and resumes it at once.
//! Later `up`s make a new overlay over the cached disk (base image ← cached disk, read only ←
//! overlay), restore the saved state onto it on this run's bridge, and fix what a restore leaves
//! stale (the guest clock, its neighbour table, its DHCP lease).
//!
//! The cache key ([`key`]) covers everything the saved state depends on; an entry is checked
//! against the digests in its manifest before use; a corrupt, truncated or half-written entry
//! is ignored with a warning and replaced. One lock per entry keeps two `up`s from writing the
//! same entry at once.
//!
//! ```no_run
//! use hub_libvirt::WarmCache;
//! let cache = WarmCache::from_env(); // $HUB_WARM_CACHE, else /var/cache/hub/warm for root
//! for e in cache.list()? {
//!     println!("{} {}/{} {} bytes", &e.key[..12], e.lab, e.vm, e.size);
//! }
//! cache.prune(Some(std::time::Duration::from_secs(7 * 86400)), None)?;
//! # Ok::<(), hub_libvirt::LibvirtError>(())
//! ```

mod entry;
mod key;
mod xml;

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use fs4::FileExt;
use hub_runtime::{LabContext, VmSpec};

use crate::error::{LibvirtError, LibvirtResult};
use crate::fsutil::{ensure_dir, write_atomic, write_private_atomic};
use crate::ssh::KeyPair;
use crate::virsh::Virsh;
use crate::virt::DomainType;
pub(crate) use entry::{Manifest, SavedPaths};
pub(crate) use xml::{Rewrite, rewrite};

/// The environment variable naming the warm cache folder.
pub const WARM_CACHE_ENV: &str = "HUB_WARM_CACHE";

/// `/var/cache/hub/warm` for root, else `$XDG_CACHE_HOME/hub/warm` (or `~/.cache/hub/warm`).
pub fn default_warm_cache_dir() -> PathBuf {
    if hub_runtime::running_as_root() {
        return PathBuf::from("/var/cache/hub/warm");
    }
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("hub/warm");
    }
    match std::env::var_os("HOME") {
        Some(h) => PathBuf::from(h).join(".cache/hub/warm"),
        None => std::env::temp_dir().join("hub-warm"),
    }
}

/// One entry of the cache, as `hub cache list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmEntry {
    /// The cache key (64 hex digits); also the entry's folder name.
    pub key: String,
    /// The lab of the VM it was saved from.
    pub lab: String,
    /// The VM.
    pub vm: String,
    /// Bytes on disk (memory state, disk, XML, keys).
    pub size: u64,
    /// When it was saved.
    pub created: SystemTime,
    /// When it was last restored (its creation when never).
    pub last_used: SystemTime,
    /// How long `virsh save` took.
    pub save_time: Duration,
}

/// What [`WarmCache::save`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveOutcome {
    /// A new entry, of this many bytes; the VM was paused for `paused`.
    Saved {
        /// The entry's size.
        size: u64,
        /// How long the VM was not running (save, copy of the disk, resume).
        paused: Duration,
    },
    /// Nothing was saved, for this reason (another `up` holds the entry, or it exists).
    Skipped(String),
}

/// A held entry lock; released on drop (and by the kernel if the process dies).
#[derive(Debug)]
pub(crate) struct EntryLock {
    _file: std::fs::File,
}

/// The warm cache: a folder of entries, one per VM state (see the module docs).
#[derive(Debug)]
pub struct WarmCache {
    dir: PathBuf,
    qemu: tokio::sync::OnceCell<String>,
}

impl WarmCache {
    /// A cache in `dir` (made on first save, mode 0711 so QEMU's user can reach cached disks).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        WarmCache {
            dir: dir.into(),
            qemu: tokio::sync::OnceCell::new(),
        }
    }

    /// The cache in `$HUB_WARM_CACHE`, else [`default_warm_cache_dir`].
    pub fn from_env() -> Self {
        match std::env::var_os(WARM_CACHE_ENV).filter(|v| !v.is_empty()) {
            Some(d) => Self::new(d),
            None => Self::new(default_warm_cache_dir()),
        }
    }

    /// The cache folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn entry_dir(&self, key: &str) -> PathBuf {
        self.dir.join(key)
    }

    /// Every complete entry (partial ones, from a save that was cut short, are not listed),
    /// most recently used first.
    pub fn list(&self) -> LibvirtResult<Vec<WarmEntry>> {
        let read = match std::fs::read_dir(&self.dir) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(LibvirtError::Io {
                    action: "list the warm cache",
                    path: self.dir.clone(),
                    source,
                });
            }
        };
        let mut out = Vec::new();
        for e in read.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !e.path().is_dir() {
                continue;
            }
            let Ok(m) = Manifest::read(&e.path()) else {
                continue;
            };
            let created = SystemTime::UNIX_EPOCH + Duration::from_secs(m.created);
            let last_used = std::fs::metadata(e.path().join(entry::USED))
                .and_then(|u| u.modified())
                .unwrap_or(created);
            out.push(WarmEntry {
                key: m.key.clone(),
                lab: m.lab.clone(),
                vm: m.vm.clone(),
                size: m.size(),
                created,
                last_used,
                save_time: Duration::from_millis(m.save_ms),
            });
        }
        out.sort_by(|a, b| b.last_used.cmp(&a.last_used).then(a.key.cmp(&b.key)));
        Ok(out)
    }

    /// Removes entries not used for `older_than`, then the least recently used ones until the
    /// rest fit in `max_size` bytes; also removes what saves cut short left behind. Entries
    /// locked by a running `up` are left alone. Returns the removed entries.
    pub fn prune(
        &self,
        older_than: Option<Duration>,
        max_size: Option<u64>,
    ) -> LibvirtResult<Vec<WarmEntry>> {
        self.remove_partials();
        let now = SystemTime::now();
        let mut kept = self.list()?; // most recently used first
        let mut removed = Vec::new();
        if let Some(age) = older_than {
            let (old, young): (Vec<_>, Vec<_>) = kept
                .into_iter()
                .partition(|e| now.duration_since(e.last_used).unwrap_or_default() > age);
            kept = young;
            removed.extend(old);
        }
        if let Some(max) = max_size {
            let mut total = 0u64;
            for e in kept {
                if total + e.size <= max {
                    total += e.size;
                } else {
                    removed.push(e);
                }
            }
        }
        let mut done = Vec::new();
        for e in removed {
            let Some(_lock) = self.try_lock(&e.key)? else {
                continue;
            };
            self.discard(&e.key)?;
            done.push(e);
        }
        Ok(done)
    }

    /// Removes `.partial-*` and `.trash-*` folders whose save is no longer running (its lock is
    /// free; the caller's own locks are open files of this process and do not block it).
    fn remove_partials(&self) {
        let Ok(read) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for e in read.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(rest) = name
                .strip_prefix(".partial-")
                .or_else(|| name.strip_prefix(".trash-"))
            else {
                continue;
            };
            let key = rest.split('-').next().unwrap_or_default();
            if let Ok(Some(_lock)) = self.try_lock(key) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }

    /// Removes every `.partial-KEY-*` folder: only while holding `key`'s lock.
    fn remove_partials_of(&self, key: &str) {
        let Ok(read) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let prefix = format!(".partial-{key}-");
        for e in read.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }

    /// Removes an entry (renamed aside first, so nobody sees half of it).
    pub(crate) fn discard(&self, key: &str) -> LibvirtResult<()> {
        let dir = self.entry_dir(key);
        if !dir.exists() {
            return Ok(());
        }
        let trash = self
            .dir
            .join(format!(".trash-{key}-{}", std::process::id()));
        let io = |action, path: &Path, source| LibvirtError::Io {
            action,
            path: path.to_path_buf(),
            source,
        };
        std::fs::rename(&dir, &trash).map_err(|e| io("move aside", &dir, e))?;
        std::fs::remove_dir_all(&trash).map_err(|e| io("remove", &trash, e))
    }

    fn lock_file(&self, key: &str) -> LibvirtResult<std::fs::File> {
        let dir = self.dir.join(".locks");
        ensure_dir(&self.dir, 0o711)?;
        ensure_dir(&dir, 0o700)?;
        let path = dir.join(format!("{key}.lock"));
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| LibvirtError::Io {
                action: "open the lock file",
                path,
                source,
            })
    }

    fn try_lock(&self, key: &str) -> LibvirtResult<Option<EntryLock>> {
        let file = self.lock_file(key)?;
        match FileExt::try_lock(&file) {
            Ok(()) => Ok(Some(EntryLock { _file: file })),
            Err(fs4::TryLockError::WouldBlock) => Ok(None),
            Err(fs4::TryLockError::Error(source)) => Err(LibvirtError::Io {
                action: "lock",
                path: self.dir.join(".locks").join(key),
                source,
            }),
        }
    }

    /// The entry's lock, waiting up to `wait` for another `up` to release it.
    pub(crate) async fn lock(&self, key: &str, wait: Duration) -> LibvirtResult<Option<EntryLock>> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(l) = self.try_lock(key)? {
                return Ok(Some(l));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The cache key of `vm` (see [`key`]); `Err` says why none can be made.
    pub(crate) async fn key_for(
        &self,
        lab: &LabContext,
        vm: &VmSpec,
        base: &Path,
        domain_type: DomainType,
    ) -> Result<String, String> {
        let qemu = self
            .qemu
            .get_or_try_init(key::qemu_version)
            .await
            .map_err(|e| format!("QEMU's version is unknown: {e}"))?
            .clone();
        let dir = self.dir.clone();
        let base_path = base.to_path_buf();
        let digest = tokio::task::spawn_blocking(move || {
            ensure_dir(&dir, 0o711)?;
            key::base_digest(&dir, &base_path)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("the base image could not be hashed: {e}"))?;
        let model = key::device_model(&lab.name, vm, domain_type).map_err(|e| e.to_string())?;
        Ok(key::cache_key(lab, vm, base, &digest, &qemu, &model))
    }

    /// The checked manifest of entry `key`. A missing entry is `Err("none saved yet")`; an
    /// entry that fails its check is removed (with a warning) and `Err` says why.
    pub(crate) async fn lookup(&self, key: &str) -> Result<Manifest, String> {
        let dir = self.entry_dir(key);
        if !dir.join(entry::MANIFEST).exists() {
            return Err("none saved yet".into());
        }
        let k = key.to_string();
        let d = dir.clone();
        let checked = tokio::task::spawn_blocking(move || entry::verify(&d, &k))
            .await
            .map_err(|e| e.to_string())?;
        match checked {
            Ok(m) => Ok(m),
            Err(why) => {
                tracing::warn!(entry = %dir.display(), reason = %why, "warm snapshot is not usable; removing it (the VM boots cold and a new one is saved)");
                let _ = self.discard(key);
                Err(format!("the saved one is not usable: {why}"))
            }
        }
    }

    /// Marks entry `key` as used now.
    pub(crate) fn mark_used(&self, key: &str) {
        let _ = write_atomic(
            &self.entry_dir(key).join(entry::USED),
            entry::now_secs().to_string().as_bytes(),
            0o600,
            "mark the warm snapshot used",
        );
    }

    /// Saves the running domain `domain` into entry `key` and resumes it. If anything fails
    /// after the guest was stopped, the guest is resumed (or, failing that, started) before the
    /// error is returned: the lab's VM is never left down.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn save(
        &self,
        virsh: &Virsh,
        domain: &str,
        lab: &LabContext,
        vm: &str,
        key: &str,
        saved: SavedPaths,
        lab_key: &KeyPair,
        host_key: &KeyPair,
    ) -> LibvirtResult<SaveOutcome> {
        let Some(_lock) = self.lock(key, Duration::ZERO).await? else {
            return Ok(SaveOutcome::Skipped(
                "another `up` is saving this snapshot".into(),
            ));
        };
        if let Ok(m) = entry::verify(&self.entry_dir(key), key) {
            return Ok(SaveOutcome::Skipped(format!(
                "a valid snapshot of {}/{} exists",
                m.lab, m.vm
            )));
        }
        // What saves killed half-way left (their locks died with them): of this key, which
        // this process now holds, and of every key nobody holds.
        self.remove_partials_of(key);
        self.remove_partials();
        let partial = self
            .dir
            .join(format!(".partial-{key}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&partial);
        ensure_dir(&partial, 0o711)?;
        let result = self
            .save_into(
                virsh, domain, lab, vm, key, saved, lab_key, host_key, &partial,
            )
            .await;
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&partial);
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    async fn save_into(
        &self,
        virsh: &Virsh,
        domain: &str,
        lab: &LabContext,
        vm: &str,
        key: &str,
        saved: SavedPaths,
        lab_key: &KeyPair,
        host_key: &KeyPair,
        partial: &Path,
    ) -> LibvirtResult<SaveOutcome> {
        let memory = partial.join(entry::MEMORY);
        let paused_at = Instant::now();
        virsh.save(domain, &memory).await?;
        let save_ms = paused_at.elapsed().as_millis() as u64;
        // The guest is stopped from here on: take its disk and XML, then resume it whatever
        // happened.
        let taken = async {
            let xml = virsh.save_image_dumpxml(&memory).await?;
            write_private_atomic(
                &partial.join(entry::DOMAIN_XML),
                xml.as_bytes(),
                "write the saved domain XML",
            )?;
            let (from, to) = (saved.overlay.clone(), partial.join(entry::DISK));
            let action = "copy the VM's disk into the warm cache";
            off_the_workers(action, &saved.overlay, move || {
                std::fs::copy(&from, &to).map_err(|source| LibvirtError::Io {
                    action,
                    path: from.clone(),
                    source,
                })
            })
            .await?;
            Ok::<(), LibvirtError>(())
        }
        .await;
        if let Err(e) = virsh.restore(&memory, None).await {
            tracing::warn!(lab = %lab.name, workload = vm, error = %e, "the VM could not resume from its snapshot; starting it again");
            virsh.start(domain).await?;
            return Err(e);
        }
        let paused = paused_at.elapsed();
        taken?;
        let dir = partial.to_path_buf();
        let (lk, hk) = (lab_key.clone(), host_key.clone());
        let manifest_base = Manifest {
            format: key::FORMAT_VERSION,
            key: key.to_string(),
            lab: lab.name.clone(),
            vm: vm.to_string(),
            created: entry::now_secs(),
            files: Default::default(),
            saved,
            lab_key_public: lab_key.public_openssh.trim().to_string(),
            host_key_public: host_key.public_openssh.trim().to_string(),
            save_ms,
        };
        let manifest = off_the_workers("write the warm snapshot", partial, move || {
            use std::os::unix::fs::PermissionsExt;
            for (name, pair) in [(entry::LAB_KEY, &lk), (entry::HOST_KEY, &hk)] {
                write_private_atomic(
                    &dir.join(name),
                    pair.private_openssh.as_bytes(),
                    "write a key of the warm snapshot",
                )?;
                write_atomic(
                    &dir.join(format!("{name}.pub")),
                    format!("{}\n", pair.public_openssh.trim()).as_bytes(),
                    0o644,
                    "write a key of the warm snapshot",
                )?;
            }
            for name in [entry::MEMORY, entry::DISK] {
                let p = dir.join(name);
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).map_err(
                    |source| LibvirtError::Io {
                        action: "set the mode of",
                        path: p.clone(),
                        source,
                    },
                )?;
                entry::fsync(&p)?;
            }
            let mut m = manifest_base;
            m.files = entry::digests(
                &dir,
                &[
                    entry::MEMORY,
                    entry::DISK,
                    entry::DOMAIN_XML,
                    entry::LAB_KEY,
                    entry::HOST_KEY,
                ],
            )?;
            let text = serde_json::to_vec_pretty(&m).map_err(|e| LibvirtError::Io {
                action: "encode the manifest of",
                path: dir.clone(),
                source: std::io::Error::other(e),
            })?;
            write_private_atomic(&dir.join(entry::MANIFEST), &text, "write the manifest")?;
            entry::fsync(&dir)?;
            Ok::<Manifest, LibvirtError>(m)
        })
        .await?;
        self.discard(key)?;
        let target = self.entry_dir(key);
        std::fs::rename(partial, &target).map_err(|source| LibvirtError::Io {
            action: "put the warm snapshot in place at",
            path: target.clone(),
            source,
        })?;
        entry::fsync(&self.dir)?;
        Ok(SaveOutcome::Saved {
            size: manifest.size(),
            paused,
        })
    }

    /// The identity stored in entry `key`: the lab key and the host key pairs.
    pub(crate) fn identity(&self, key: &str) -> LibvirtResult<(KeyPair, KeyPair)> {
        let dir = self.entry_dir(key);
        let read = |name: &str| {
            let p = dir.join(name);
            std::fs::read_to_string(&p).map_err(|source| LibvirtError::Io {
                action: "read",
                path: p,
                source,
            })
        };
        let pair = |name: &str| -> LibvirtResult<KeyPair> {
            Ok(KeyPair {
                private_openssh: read(name)?,
                public_openssh: read(&format!("{name}.pub"))?.trim().to_string(),
            })
        };
        Ok((pair(entry::LAB_KEY)?, pair(entry::HOST_KEY)?))
    }

    /// The files of entry `key` a restore reads: the memory state, the disk, the saved XML.
    pub(crate) fn files(&self, key: &str) -> (PathBuf, PathBuf, PathBuf) {
        let d = self.entry_dir(key);
        (
            d.join(entry::MEMORY),
            d.join(entry::DISK),
            d.join(entry::DOMAIN_XML),
        )
    }
}

/// Runs blocking file work (copies, digests, fsync) off the async workers; a task that
/// panicked is an I/O error of `action` on `path`.
async fn off_the_workers<T: Send + 'static>(
    action: &'static str,
    path: &Path,
    work: impl FnOnce() -> LibvirtResult<T> + Send + 'static,
) -> LibvirtResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| LibvirtError::Io {
            action,
            path: path.to_path_buf(),
            source: std::io::Error::other(e),
        })?
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes a complete entry for `key` with files of `size` bytes, created `created` seconds
    /// after the epoch.
    fn fake_entry(cache: &WarmCache, key: &str, size: usize, created: u64) {
        let dir = cache.entry_dir(key);
        std::fs::create_dir_all(&dir).unwrap();
        for name in [
            entry::MEMORY,
            entry::DISK,
            entry::DOMAIN_XML,
            entry::LAB_KEY,
            entry::HOST_KEY,
        ] {
            std::fs::write(dir.join(name), vec![7u8; size]).unwrap();
        }
        let m = Manifest {
            format: key::FORMAT_VERSION,
            key: key.into(),
            lab: "lab".into(),
            vm: "vm1".into(),
            created,
            files: entry::digests(
                &dir,
                &[
                    entry::MEMORY,
                    entry::DISK,
                    entry::DOMAIN_XML,
                    entry::LAB_KEY,
                    entry::HOST_KEY,
                ],
            )
            .unwrap(),
            saved: SavedPaths::default(),
            lab_key_public: String::new(),
            host_key_public: String::new(),
            save_ms: 1,
        };
        std::fs::write(dir.join(entry::MANIFEST), serde_json::to_vec(&m).unwrap()).unwrap();
    }

    #[tokio::test]
    async fn a_checked_entry_is_found_and_a_truncated_one_is_refused_and_removed() {
        let d = tempfile::tempdir().unwrap();
        let cache = WarmCache::new(d.path());
        fake_entry(&cache, "k1", 1000, entry::now_secs());
        assert_eq!(cache.lookup("k1").await.unwrap().vm, "vm1");
        assert_eq!(cache.lookup("k2").await.unwrap_err(), "none saved yet");
        let mem = cache.entry_dir("k1").join(entry::MEMORY);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&mem)
            .unwrap()
            .set_len(10)
            .unwrap();
        let why = cache.lookup("k1").await.unwrap_err();
        assert!(why.contains("memory.save has 10 bytes"), "{why}");
        assert!(!cache.entry_dir("k1").exists(), "a bad entry is removed");
    }

    #[tokio::test]
    async fn a_rewritten_file_fails_its_digest() {
        let d = tempfile::tempdir().unwrap();
        let cache = WarmCache::new(d.path());
        fake_entry(&cache, "k1", 100, entry::now_secs());
        std::fs::write(cache.entry_dir("k1").join(entry::DISK), vec![8u8; 100]).unwrap();
        let why = cache.lookup("k1").await.unwrap_err();
        assert!(
            why.contains("disk.qcow2 does not match its digest"),
            "{why}"
        );
    }

    #[tokio::test]
    async fn an_entry_has_one_writer_at_a_time_and_the_lock_dies_with_its_holder() {
        let d = tempfile::tempdir().unwrap();
        let cache = WarmCache::new(d.path());
        let held = cache.lock("k", Duration::ZERO).await.unwrap();
        assert!(held.is_some());
        assert!(
            cache
                .lock("k", Duration::from_millis(300))
                .await
                .unwrap()
                .is_none()
        );
        assert!(cache.lock("other", Duration::ZERO).await.unwrap().is_some());
        drop(held);
        assert!(cache.lock("k", Duration::ZERO).await.unwrap().is_some());
    }

    #[test]
    fn prune_removes_old_entries_then_the_least_recently_used_and_partials() {
        let d = tempfile::tempdir().unwrap();
        let cache = WarmCache::new(d.path());
        let now = entry::now_secs();
        fake_entry(&cache, "old", 100, now - 30 * 86400);
        fake_entry(&cache, "mid", 100, now - 3600);
        fake_entry(&cache, "new", 100, now);
        std::fs::create_dir_all(d.path().join(".partial-x-1")).unwrap();
        assert_eq!(cache.list().unwrap().len(), 3, "partials are not listed");
        let gone = cache
            .prune(Some(Duration::from_secs(7 * 86400)), None)
            .unwrap();
        assert_eq!(
            gone.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(),
            ["old"]
        );
        assert!(!d.path().join(".partial-x-1").exists());
        // Each entry is 5 files of 100 bytes: room for one.
        let gone = cache.prune(None, Some(600)).unwrap();
        assert_eq!(
            gone.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(),
            ["mid"]
        );
        let left: Vec<String> = cache.list().unwrap().into_iter().map(|e| e.key).collect();
        assert_eq!(left, ["new"]);
    }
}
