//! What the server keeps of each lab it manages: `<state root>/<lab>/serve.json` (0600: a
//! spec may carry environment values), written atomically. `down` removes the lab directory
//! (but its identity) last, so a record that says `deleting` outlives every resource.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::ServerError;
use crate::view::{ApiError, LabPhase};

/// The record's format version.
const VERSION: u32 = 1;

/// One managed lab, as kept on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Record {
    /// Format version.
    pub version: u32,
    /// The lab.
    pub lab: String,
    /// The spec as sent (YAML or JSON); none for a lab deleted without one.
    pub spec: Option<String>,
    /// Where the last operation stands.
    pub phase: LabPhase,
    /// Why it failed.
    #[serde(default)]
    pub errors: Vec<ApiError>,
    /// What the last finished `up` changed, in words.
    #[serde(default)]
    pub report: Option<String>,
    /// Restarts per workload.
    #[serde(default)]
    pub restarts: BTreeMap<String, u32>,
    /// Bumped by every accepted operation: a finished one only records its outcome while it
    /// is still the latest.
    #[serde(default)]
    pub generation: u64,
}

impl Record {
    pub(crate) fn new(lab: &str) -> Record {
        Record {
            version: VERSION,
            lab: lab.to_string(),
            spec: None,
            phase: LabPhase::Converging,
            errors: Vec::new(),
            report: None,
            restarts: BTreeMap::new(),
            generation: 0,
        }
    }

    pub(crate) fn path(root: &Path, lab: &str) -> PathBuf {
        root.join(lab).join("serve.json")
    }

    /// Writes the record atomically (creating the lab directory).
    pub(crate) fn save(&self, root: &Path) -> Result<(), ServerError> {
        let path = Self::path(root, &self.lab);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| ServerError::io("creating the lab directory", dir, e))?;
        }
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| ServerError::Record {
            lab: self.lab.clone(),
            path: path.clone(),
            reason: e.to_string(),
        })?;
        hub_runtime::files::write_atomic(&path, &bytes, 0o600)
            .map_err(|e| ServerError::io("writing", path, e))
    }

    /// Forgets the lab (its record only).
    pub(crate) fn remove(root: &Path, lab: &str) {
        let path = Self::path(root, lab);
        if let Err(e) = std::fs::remove_file(&path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(lab, path = %path.display(), error = %e, "could not remove the server's record");
            }
        }
    }

    /// Every record under the state root.
    pub(crate) fn load_all(root: &Path) -> Result<Vec<Record>, ServerError> {
        let entries = match std::fs::read_dir(root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(ServerError::io("reading the state root", root, e)),
        };
        let mut records = Vec::new();
        for entry in entries.flatten() {
            // Lab folders only (the lab locks `LAB.lock` sit beside them).
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let path = entry.path().join("serve.json");
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(ServerError::io("reading", path, e)),
            };
            let lab = entry.file_name().to_string_lossy().into_owned();
            let record: Record =
                serde_json::from_slice(&bytes).map_err(|e| ServerError::Record {
                    lab: lab.clone(),
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            if record.lab != lab {
                return Err(ServerError::Record {
                    lab,
                    path,
                    reason: format!("it names lab {:?}", record.lab),
                });
            }
            records.push(record);
        }
        records.sort_by(|a, b| a.lab.cmp(&b.lab));
        Ok(records)
    }
}
