//! `<lab dir>/hosts.json`: the hosts a lab has touched, written before anything is created
//! on them, so that `down` reaches every host after a crash or without the spec.

use std::path::{Path, PathBuf};

use crate::error::HubError;
use crate::spec::HostSpec;

/// The file's name in the lab directory.
pub const HOSTS_FILE: &str = "hosts.json";

fn path(lab_dir: &Path) -> PathBuf {
    lab_dir.join(HOSTS_FILE)
}

/// The hosts recorded for the lab (none when the file is absent).
pub fn load_hosts(lab: &str, lab_dir: &Path) -> Result<Vec<HostSpec>, HubError> {
    let path = path(lab_dir);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| HubError::State {
            lab: lab.to_string(),
            path,
            source,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(HubError::Io {
            lab: lab.to_string(),
            context: "reading the lab's hosts".into(),
            path,
            source,
        }),
    }
}

/// Records `hosts` with those already recorded that are not among them (a host that left the
/// spec may still hold the lab's workloads until they are removed), atomically. The hosts'
/// endpoints and TLS folders only: no key.
pub fn save_hosts(lab: &str, lab_dir: &Path, hosts: &[HostSpec]) -> Result<(), HubError> {
    let mut all = hosts.to_vec();
    for old in load_hosts(lab, lab_dir)? {
        if !all.iter().any(|h| h.name == old.name) {
            all.push(old);
        }
    }
    let path = path(lab_dir);
    let io = |source| HubError::Io {
        lab: lab.to_string(),
        context: "writing the lab's hosts".into(),
        path: path.clone(),
        source,
    };
    let bytes = serde_json::to_vec_pretty(&all).map_err(|e| io(e.into()))?;
    hub_runtime::files::write_atomic(&path, &bytes, 0o644).map_err(io)
}

/// Forgets the hosts that left the spec, once nothing of the lab is left on them.
pub(crate) fn keep_only(lab: &str, lab_dir: &Path, hosts: &[HostSpec]) -> Result<(), HubError> {
    if load_hosts(lab, lab_dir)? == hosts {
        return Ok(());
    }
    let _ = std::fs::remove_file(path(lab_dir));
    save_hosts(lab, lab_dir, hosts)
}
