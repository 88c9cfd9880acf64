//! One entry of the warm cache on disk, `<cache>/<key>/`:
//!
//! ```text
//! manifest.json   0600  what the entry is, the digest and size of every file below
//! memory.save     0600  `virsh save` of the running guest (its memory and device state)
//! disk.qcow2      0600  the guest's disk at that moment (backed by the base image)
//! domain.xml      0600  the saved domain's XML (`virsh save-image-dumpxml`)
//! lab_key         0600  the lab's SSH private key the guest authorises (and lab_key.pub)
//! host_key        0600  the guest's SSH host private key (and host_key.pub)
//! used                  touched at every restore (its time is the entry's "last used")
//! ```
//!
//! An entry is written in `<cache>/.partial-<key>-<pid>/` and renamed into place only once every
//! file and the manifest are on disk (fsync'd), so a crash leaves at most a partial folder,
//! which is never restored and is cleaned up by the next save or prune.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::key::{FORMAT_VERSION, file_digest};
use crate::error::{LibvirtError, LibvirtResult};

/// The saved memory and device state.
pub(crate) const MEMORY: &str = "memory.save";
/// The guest's disk.
pub(crate) const DISK: &str = "disk.qcow2";
/// The saved domain XML.
pub(crate) const DOMAIN_XML: &str = "domain.xml";
/// The lab's SSH private key the guest authorises.
pub(crate) const LAB_KEY: &str = "lab_key";
/// The guest's SSH host private key.
pub(crate) const HOST_KEY: &str = "host_key";
/// The manifest.
pub(crate) const MANIFEST: &str = "manifest.json";
/// Touched at every restore.
pub(crate) const USED: &str = "used";

/// A file of an entry: its size and BLAKE3 digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FileDigest {
    pub size: u64,
    pub blake3: String,
}

/// The host-side values the saved XML names, replaced on restore.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SavedPaths {
    pub overlay: PathBuf,
    pub seed: PathBuf,
    pub console: PathBuf,
    /// The first NIC's bridge.
    pub bridge: String,
    /// The other NICs' bridges, in order (a VM on several segments).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_bridges: Vec<String>,
    pub lab_dir: PathBuf,
}

impl SavedPaths {
    /// Every NIC's bridge, in order.
    pub(crate) fn bridges(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.bridge.as_str()).chain(self.more_bridges.iter().map(String::as_str))
    }
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub format: u32,
    pub key: String,
    pub lab: String,
    pub vm: String,
    /// Seconds since the epoch.
    pub created: u64,
    pub files: BTreeMap<String, FileDigest>,
    pub saved: SavedPaths,
    pub lab_key_public: String,
    pub host_key_public: String,
    /// How long `virsh save` took, in milliseconds (for `hub cache list`).
    pub save_ms: u64,
}

impl Manifest {
    /// Reads `<dir>/manifest.json`.
    pub fn read(dir: &Path) -> Result<Manifest, String> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).map_err(|e| format!("no manifest ({e})"))?;
        serde_json::from_str(&text).map_err(|e| format!("unreadable manifest ({e})"))
    }

    /// The total size of the entry's files.
    pub fn size(&self) -> u64 {
        self.files.values().map(|f| f.size).sum()
    }
}

/// Digests of the files `names` in `dir`.
pub(crate) fn digests(dir: &Path, names: &[&str]) -> LibvirtResult<BTreeMap<String, FileDigest>> {
    let mut out = BTreeMap::new();
    for name in names {
        let path = dir.join(name);
        let size = std::fs::metadata(&path)
            .map_err(|source| LibvirtError::Io {
                action: "read the size of",
                path: path.clone(),
                source,
            })?
            .len();
        out.insert(
            name.to_string(),
            FileDigest {
                size,
                blake3: file_digest(&path)?,
            },
        );
    }
    Ok(out)
}

/// Checks an entry before use: the manifest is of this format and key, and every file it lists
/// has its size and digest. `Err` says what is wrong, for the warning.
pub(crate) fn verify(dir: &Path, key: &str) -> Result<Manifest, String> {
    let m = Manifest::read(dir)?;
    if m.format != FORMAT_VERSION {
        return Err(format!("entry format {} is not {FORMAT_VERSION}", m.format));
    }
    if m.key != key {
        return Err("its manifest names another key".into());
    }
    for name in [MEMORY, DISK, DOMAIN_XML, LAB_KEY, HOST_KEY] {
        let Some(want) = m.files.get(name) else {
            return Err(format!("its manifest does not list {name}"));
        };
        let path = dir.join(name);
        let size = std::fs::metadata(&path)
            .map_err(|e| format!("{name} is missing ({e})"))?
            .len();
        if size != want.size {
            return Err(format!(
                "{name} has {size} bytes, not the {} it was saved with (truncated or rewritten)",
                want.size
            ));
        }
        let got = file_digest(&path).map_err(|e| e.to_string())?;
        if got != want.blake3 {
            return Err(format!("{name} does not match its digest (corrupt)"));
        }
    }
    Ok(m)
}

/// Seconds since the epoch, now.
pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Flushes a file (or directory) to disk.
pub(crate) fn fsync(path: &Path) -> LibvirtResult<()> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|source| LibvirtError::Io {
            action: "flush",
            path: path.to_path_buf(),
            source,
        })
}
