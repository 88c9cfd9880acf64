//! `down`: find everything by the lab's marks (not the state file) and remove it in
//! dependency order: VPN, workloads, netd, network, then the lab directory.

use std::fmt;
use std::path::Path;
use std::time::Instant;

use tracing::Instrument;

use super::lock::LabLock;
use super::plan::list_actual;
use super::{UpOptions, timing};
use crate::error::{HubError, StepError};
use crate::progress::{Progress, emit};
use crate::runtimes::Runtimes;
use hub_runtime::Role;

/// What a `down` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DownReport {
    /// Each thing removed, in order (`vpn gateway`, `container "web"`, `netd`, `network`,
    /// `lab directory`).
    pub removed: Vec<String>,
}

impl fmt::Display for DownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.removed.is_empty() {
            f.write_str("nothing to remove")
        } else {
            write!(f, "removed {}", self.removed.join(", "))
        }
    }
}

/// Removes the lab `lab`. Idempotent: a second call removes nothing and succeeds. The lab's
/// identity (`<lab dir>/identity`: SSH and WireGuard keys) is kept for the next `up` unless
/// `purge`.
pub async fn down(
    lab: &str,
    runtimes: &Runtimes,
    opts: &UpOptions,
    purge: bool,
) -> Result<DownReport, HubError> {
    let span = tracing::info_span!("down", lab = %lab);
    async {
        let t = Instant::now();
        let _lock = LabLock::acquire(&opts.state_root, lab, opts.wait_for_lock).await?;
        timing("down.lock", t);
        let r = down_unlocked(lab, runtimes, &opts.lab_dir, opts, purge).await;
        timing("down.total", t);
        r
    }
    .instrument(span)
    .await
}

async fn down_unlocked(
    lab: &str,
    runtimes: &Runtimes,
    lab_dir: &Path,
    opts: &UpOptions,
    purge: bool,
) -> Result<DownReport, HubError> {
    let mut report = DownReport::default();
    let mut errors = Vec::new();
    let removed = |what: String, report: &mut DownReport| {
        emit(&opts.progress, Progress::Removed { what: what.clone() });
        report.removed.push(what);
    };

    if let Some(vpn) = &runtimes.vpn {
        let t = Instant::now();
        match vpn.down(lab).await {
            Ok(true) => removed("vpn gateway".into(), &mut report),
            Ok(false) => {}
            Err(e) => errors.push(StepError::new("vpn gateway", e)),
        }
        timing("down.vpn", t);
        // The road-warrior clients of a `hub check` that was killed before it removed them.
        #[cfg(feature = "wireguard")]
        for ns in crate::check::vpn_client::remove_leftovers(lab).await {
            removed(format!("check namespace {ns}"), &mut report);
        }
    }

    if let Some(set) = &runtimes.hosts {
        // What the lab left on a host that cannot be reached stays: so does its record.
        for u in set.unreachable() {
            errors.push(StepError::new(
                format!("host {:?}", u.host),
                format!(
                    "cannot be reached, so the lab's things there are left: {}",
                    u.reason
                ),
            ));
        }
    }
    let t = Instant::now();
    let actual = match list_actual(runtimes, lab, &[]).await {
        Ok(a) => a,
        Err(e) => {
            errors.push(StepError::new("listing the lab's workloads", e));
            Vec::new()
        }
    };
    let (netd_containers, workloads): (Vec<_>, Vec<_>) =
        actual.into_iter().partition(|s| s.role == Some(Role::Netd));
    timing("down.list", t);
    // The workloads and netd go at the same time (removal is forced, no stop grace: the
    // equivalent of `down -t 0`); only the network waits for all of them.
    let t = Instant::now();
    let removals = workloads.iter().map(|s| async move {
        let what = format!("{} {:?}", s.handle.kind, s.handle.name);
        let rt = runtimes
            .for_kind(lab, s.handle.kind)
            .map_err(|e| StepError::new(&what, e))?;
        rt.remove(&s.handle)
            .await
            .map(|()| what.clone())
            .map_err(|e| StepError::new(what, e))
    });
    let netd_removal = async {
        match &runtimes.netd {
            Some(netd) => Some(netd.remove(lab).await),
            None => None,
        }
    };
    let (results, netd_result) = tokio::join!(futures::future::join_all(removals), netd_removal);
    for r in results {
        match r {
            Ok(what) => removed(what, &mut report),
            Err(e) => errors.push(e),
        }
    }

    let mut netd_gone = false;
    if let Some(netd_result) = netd_result {
        match netd_result {
            Ok(true) => {
                netd_gone = true;
                removed("netd".into(), &mut report);
            }
            Ok(false) => netd_gone = true,
            Err(e) => errors.push(StepError::new("netd", e)),
        }
    }
    if !netd_gone || runtimes.netd.is_none() {
        // Without the netd service, its container is still a container with the lab's marks.
        for s in &netd_containers {
            if let Ok(rt) = runtimes.for_kind(lab, s.handle.kind) {
                match rt.remove(&s.handle).await {
                    Ok(()) => removed("netd".into(), &mut report),
                    Err(e) => errors.push(StepError::new("netd", e)),
                }
            }
        }
    }

    timing("down.workloads+netd", t);

    if let Some(set) = &runtimes.hosts {
        // The lab's VM volumes on remote hosts, also those no domain records (a crash in the
        // middle of a VM's creation).
        let (hosts, failed) = set.remove_storage(lab).await;
        for host in hosts {
            removed(format!("VM storage on host {host:?}"), &mut report);
        }
        errors.extend(failed);
    }

    let t = Instant::now();
    if let Some(net) = &runtimes.network {
        match net.remove_network(lab).await {
            Ok(true) => removed("network".into(), &mut report),
            Ok(false) => {}
            Err(e) => errors.push(StepError::new("network", e)),
        }
        if !opts.keep_volumes {
            match net.remove_volumes(lab).await {
                Ok(names) => {
                    for name in names {
                        removed(format!("volume {name}"), &mut report);
                    }
                }
                Err(e) => errors.push(StepError::new("volumes", e)),
            }
        }
    }
    timing("down.network", t);

    if errors.is_empty() {
        // Client configs, overlays, seeds, known_hosts, state; the identity only on purge.
        match remove_lab_dir(lab_dir, purge) {
            Ok(LabDirRemoval::Nothing) => {}
            Ok(LabDirRemoval::KeptIdentity) => removed(
                "lab directory (its identity kept for the next `up`; `down --purge` removes it)"
                    .into(),
                &mut report,
            ),
            Ok(LabDirRemoval::All) => removed(
                if purge {
                    "lab directory and its identity (keys)"
                } else {
                    "lab directory"
                }
                .into(),
                &mut report,
            ),
            Err(e) => errors.push(StepError::new(
                format!("lab directory {}", lab_dir.display()),
                e,
            )),
        }
    }
    if errors.is_empty() {
        tracing::info!(%report, "down done");
        Ok(report)
    } else {
        Err(HubError::Down {
            lab: lab.to_string(),
            errors,
        })
    }
}

/// What [`remove_lab_dir`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LabDirRemoval {
    /// There was no lab directory.
    Nothing,
    /// Everything but the identity folder is gone.
    KeptIdentity,
    /// The whole lab directory is gone.
    All,
}

/// Removes the lab directory; without `purge`, keeps its identity folder (and the directory
/// holding it).
fn remove_lab_dir(lab_dir: &Path, purge: bool) -> std::io::Result<LabDirRemoval> {
    let entries = match std::fs::read_dir(lab_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(LabDirRemoval::Nothing),
        Err(e) => return Err(e),
    };
    let (mut keep, mut removed_any) = (false, false);
    for entry in entries {
        let entry = entry?;
        if !purge && entry.file_name() == hub_runtime::IDENTITY_DIR {
            keep = true;
            continue;
        }
        removed_any = true;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
    }
    if keep {
        Ok(if removed_any {
            LabDirRemoval::KeptIdentity
        } else {
            LabDirRemoval::Nothing
        })
    } else {
        std::fs::remove_dir(lab_dir)?;
        Ok(LabDirRemoval::All)
    }
}

#[cfg(test)]
mod lab_dir_tests {
    use super::*;

    #[test]
    fn down_keeps_the_identity_and_purge_removes_it() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("lab");
        std::fs::create_dir_all(dir.join("identity/ssh")).unwrap();
        std::fs::write(dir.join("identity/ssh/id_ed25519"), "k").unwrap();
        std::fs::create_dir_all(dir.join("vms/vm1")).unwrap();
        std::fs::write(dir.join("state.json"), "{}").unwrap();
        assert_eq!(
            remove_lab_dir(&dir, false).unwrap(),
            LabDirRemoval::KeptIdentity
        );
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("identity")]);
        assert_eq!(remove_lab_dir(&dir, false).unwrap(), LabDirRemoval::Nothing);
        assert!(dir.join("identity/ssh/id_ed25519").exists());
        assert_eq!(remove_lab_dir(&dir, true).unwrap(), LabDirRemoval::All);
        assert!(!dir.exists());
        assert_eq!(remove_lab_dir(&dir, true).unwrap(), LabDirRemoval::Nothing);
    }
}
