//! The handle of a lab that is up.

use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Arc;

use hub_runtime::{ExecOutput, LabContext, MacAddr, NetworkInfo, WorkloadHandle, WorkloadKind};

use crate::drop::block_on_cleanup;
use crate::error::HubError;
use crate::hub::Hub;
use crate::up::state::{LabState, WorkloadRecord};
use crate::up::{DownReport, UpReport};

/// A lab that is up. Dropping it removes the lab (every workload, netd, the network, the VPN
/// gateway and the lab directory) unless [`Lab::keep`] was called; [`Lab::down`] removes it
/// explicitly and reports what it removed.
///
/// Removal on drop works on both tokio runtime flavours: on a multi-thread runtime it blocks
/// in place; on a current-thread runtime (the default of `#[tokio::test]`) it runs on a
/// dedicated thread with its own runtime. Failures are logged, never panicked.
pub struct Lab {
    hub: Arc<Hub>,
    state: LabState,
    report: UpReport,
    keep: bool,
    removed: bool,
}

impl std::fmt::Debug for Lab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lab")
            .field("name", &self.state.lab)
            .field("keep", &self.keep)
            .field("workloads", &self.state.workloads.len())
            .finish_non_exhaustive()
    }
}

impl Lab {
    pub(crate) fn new(hub: Arc<Hub>, state: LabState, report: UpReport, keep: bool) -> Self {
        Lab {
            hub,
            state,
            report,
            keep,
            removed: false,
        }
    }

    /// The lab's name.
    pub fn name(&self) -> &str {
        &self.state.lab
    }

    /// What the `up` that returned this lab changed.
    pub fn report(&self) -> &UpReport {
        &self.report
    }

    /// The lab's recorded state (the content of its state file).
    pub fn state(&self) -> &LabState {
        &self.state
    }

    /// The lab directory (state, keys, client configs, overlays, seeds, console logs).
    pub fn dir(&self) -> &Path {
        self.hub.lab_dir_path()
    }

    /// netd's file `file` (`leases.json`, `leases.SEGMENT.json`, `stats.json`), read where netd
    /// keeps it: this machine's lab folder, or its volume on a primary that is another machine.
    /// `None` when netd has written none yet.
    pub async fn netd_file(&self, file: &str) -> Result<Option<Vec<u8>>, HubError> {
        let rts = self.hub.runtimes().await?;
        let read = match &rts.netd {
            Some(netd) => netd.read_file(self.name(), self.dir(), file).await,
            None => crate::services::read_local_netd_file(self.dir(), file),
        };
        read.map_err(|source| HubError::Service {
            lab: self.name().to_string(),
            context: format!("reading netd's {file}"),
            source,
        })
    }

    /// The lab network.
    pub fn network(&self) -> &NetworkInfo {
        &self.state.network
    }

    /// Every workload, in spec order.
    pub fn workloads(&self) -> &[WorkloadRecord] {
        &self.state.workloads
    }

    /// One workload by name.
    pub fn workload(&self, name: &str) -> Option<&WorkloadRecord> {
        self.state.workload(name)
    }

    fn record(&self, name: &str) -> Result<&WorkloadRecord, HubError> {
        self.workload(name).ok_or_else(|| HubError::NoSuchWorkload {
            lab: self.name().to_string(),
            name: name.to_string(),
            known: self
                .state
                .workloads
                .iter()
                .map(|w| w.name.clone())
                .collect(),
        })
    }

    /// A workload's address on the lab network.
    pub fn ip(&self, name: &str) -> Result<Ipv4Addr, HubError> {
        let r = self.record(name)?;
        r.ip.ok_or_else(|| HubError::Invalid {
            what: format!("workload {name:?} of lab {:?}", self.name()),
            reason: "has no known address".into(),
        })
    }

    /// A workload's MAC address.
    pub fn mac(&self, name: &str) -> Result<Option<MacAddr>, HubError> {
        Ok(self.record(name)?.mac)
    }

    pub(crate) fn context(&self) -> LabContext {
        LabContext {
            name: self.state.lab.clone(),
            dir: self.dir().to_path_buf(),
            network: self.state.network.clone(),
            dns: self.state.netd.into_iter().collect(),
            domain: self.state.domain.clone(),
            segments: Vec::new(),
        }
    }

    /// The workload's handle and the runtime that runs it.
    async fn runtime_of(
        &self,
        name: &str,
    ) -> Result<(WorkloadHandle, Arc<dyn hub_runtime::Runtime>), HubError> {
        let h = self.handle(name)?;
        let rt = self
            .hub
            .runtimes()
            .await?
            .for_kind(self.name(), h.kind)?
            .clone();
        Ok((h, rt))
    }

    fn handle(&self, name: &str) -> Result<WorkloadHandle, HubError> {
        let r = self.record(name)?;
        Ok(WorkloadHandle {
            lab: self.name().to_string(),
            name: r.name.clone(),
            kind: r.kind,
            id: r.id.clone(),
        })
    }

    /// Runs a command in a workload (in a container, or over SSH in a VM).
    pub async fn exec<I, S>(&self, name: &str, cmd: I) -> Result<ExecOutput, HubError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let cmd: Vec<String> = cmd.into_iter().map(Into::into).collect();
        let (h, rt) = self.runtime_of(name).await?;
        rt.exec(&self.context(), &h, &cmd)
            .await
            .map_err(|source| HubError::Runtime {
                lab: self.name().to_string(),
                context: format!("running {cmd:?} in {} {name:?}", h.kind),
                source: Box::new(source),
            })
    }

    /// Restarts a workload: stops it (a VM gets `grace` to shut down), starts it again and
    /// waits until it is ready, as `up` does. Needs the lab's spec (the hub was built from it):
    /// readiness is checked against the workload's resolved spec.
    pub async fn restart(&self, name: &str, grace: std::time::Duration) -> Result<(), HubError> {
        let resolved = self.hub.lab_spec().resolve()?;
        let desired = crate::convert::from_resolved(&resolved);
        let w = desired
            .workloads
            .iter()
            .find(|w| w.name() == name)
            .ok_or_else(|| HubError::Invalid {
                what: format!("workload {name:?} of lab {:?}", self.name()),
                reason: "is not in the lab's spec".into(),
            })?;
        let (h, rt) = self.runtime_of(name).await?;
        let err = |doing: &str| {
            let context = format!("{doing} {} {name:?}", h.kind);
            let lab = self.name().to_string();
            move |source| HubError::Runtime {
                lab,
                context,
                source: Box::new(source),
            }
        };
        rt.stop(&h, grace).await.map_err(err("stopping"))?;
        rt.start(&h).await.map_err(err("starting"))?;
        rt.wait_ready(
            &self.context(),
            &w.spec,
            &h,
            w.ready_timeout,
            tokio_util::sync::CancellationToken::new(),
        )
        .await
        .map_err(err("waiting for"))
    }

    /// The last `tail` lines of a workload's logs (a VM's serial console).
    pub async fn logs(&self, name: &str, tail: usize) -> Result<String, HubError> {
        let (h, rt) = self.runtime_of(name).await?;
        rt.logs(&self.context(), &h, tail)
            .await
            .map_err(|source| HubError::Runtime {
                lab: self.name().to_string(),
                context: format!("reading the logs of {} {name:?}", h.kind),
                source: Box::new(source),
            })
    }

    /// The last `tail` lines of a workload's logs, then what it writes from now on (`hub logs
    /// -f`): read the stream until it ends (the workload stopped) or drop it.
    pub async fn follow_logs(
        &self,
        name: &str,
        tail: usize,
    ) -> Result<hub_runtime::LogStream, HubError> {
        let (h, rt) = self.runtime_of(name).await?;
        rt.follow_logs(&self.context(), &h, tail)
            .await
            .map_err(|source| HubError::Runtime {
                lab: self.name().to_string(),
                context: format!("following the logs of {} {name:?}", h.kind),
                source: Box::new(source),
            })
    }

    /// Runs a shell command in a VM over SSH (the lab's key, its pinned host key).
    pub async fn ssh(&self, vm: &str, cmd: &str) -> Result<ExecOutput, HubError> {
        let r = self.record(vm)?;
        if r.kind != WorkloadKind::Vm {
            return Err(HubError::Invalid {
                what: format!("workload {vm:?} of lab {:?}", self.name()),
                reason: "is a container, not a VM; use exec".into(),
            });
        }
        self.exec(vm, ["sh", "-c", cmd]).await
    }

    /// The `ssh` command line that logs into a VM (the lab's key, StrictHostKeyChecking=yes
    /// with the lab's known_hosts).
    pub fn ssh_command(&self, vm: &str) -> Result<Vec<String>, HubError> {
        let r = self.record(vm)?;
        let ip = self.ip(vm)?;
        crate::backends::ssh_command(self.dir(), self.name(), r, ip)
    }

    /// The WireGuard client config of each peer, `(peer, path)`.
    pub fn vpn_configs(&self) -> Vec<(&str, &Path)> {
        self.state
            .vpn
            .iter()
            .flat_map(|v| {
                v.peers
                    .iter()
                    .map(|p| (p.name.as_str(), p.config.as_path()))
            })
            .collect()
    }

    /// The client config of one peer.
    pub fn vpn_config(&self, peer: &str) -> Result<&Path, HubError> {
        self.vpn_configs()
            .into_iter()
            .find(|(n, _)| *n == peer)
            .map(|(_, p)| p)
            .ok_or_else(|| HubError::NoSuchPeer {
                lab: self.name().to_string(),
                peer: peer.to_string(),
            })
    }

    /// Runs the lab's checks (the built-in ones and the spec's `checks:`) with the default
    /// options; see [`crate::check`]. `Ok` holds the report whether or not every check passed:
    /// assert on [`crate::check::CheckReport::passed`].
    pub async fn check(&self) -> Result<crate::check::CheckReport, HubError> {
        self.check_with(&crate::check::CheckOptions::default())
            .await
    }

    /// [`Lab::check`] with a timeout per check, a bound on how many run at once, and the
    /// built-in checks on or off. The hub's cancel token ([`crate::HubBuilder::cancel_token`])
    /// stops it.
    pub async fn check_with(
        &self,
        opts: &crate::check::CheckOptions,
    ) -> Result<crate::check::CheckReport, HubError> {
        crate::check::run(self, opts, self.hub.cancel_token()).await
    }

    /// The hub this lab runs from.
    pub(crate) fn hub(&self) -> &Hub {
        &self.hub
    }

    /// The network namespace of a workload's processes (`None` for a VM).
    pub(crate) async fn net_namespace(
        &self,
        name: &str,
    ) -> Result<Option<std::path::PathBuf>, HubError> {
        let (h, rt) = self.runtime_of(name).await?;
        rt.net_namespace(&h)
            .await
            .map_err(|source| HubError::Runtime {
                lab: self.name().to_string(),
                context: format!("finding the network namespace of {} {name:?}", h.kind),
                source: Box::new(source),
            })
    }

    /// Keeps the lab when this handle is dropped.
    pub fn keep(mut self) -> Self {
        self.keep = true;
        self
    }

    /// Whether the lab is kept when this handle is dropped.
    pub fn is_kept(&self) -> bool {
        self.keep
    }

    /// Removes the lab now and reports what was removed.
    pub async fn down(mut self) -> Result<DownReport, HubError> {
        self.removed = true;
        self.hub.down().await
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.keep || self.removed {
            return;
        }
        self.removed = true;
        let hub = self.hub.clone();
        let lab = self.state.lab.clone();
        tracing::info!(lab = %lab, "removing the lab as its handle is dropped");
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        block_on_cleanup(async move {
            // Off the caller's runtime, connections made there cannot be used: make new ones.
            let result = if multi_thread {
                hub.down().await
            } else {
                hub.down_with_fresh_runtimes().await
            };
            match result {
                Ok(report) => tracing::info!(lab = %lab, %report, "lab removed"),
                Err(e) => {
                    tracing::error!(lab = %lab, error = %e, "removing the lab on drop failed")
                }
            }
        });
    }
}
