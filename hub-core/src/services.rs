//! The lab services beside the workloads: netd (DHCP + DNS) and the WireGuard gateway.
//!
//! Traits so the hub can drive the real ones (hub-docker's netd, hub-wg's gateway) and the
//! in-memory stand-ins of [`crate::testing`] alike.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use hub_runtime::LabContext;
use serde::{Deserialize, Serialize};

pub use crate::desired::{
    DhcpReservation, DnsRecord, NetdPlan, NetdSegmentPlan, VpnPeerPlan, VpnPlan, VpnSegmentPlan,
};
use crate::error::BoxError;

/// What [`NetdService::ensure`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetdOutcome {
    /// netd was started by this call.
    Created,
    /// netd ran already; its configuration was updated.
    Updated,
    /// netd ran already with this configuration.
    Unchanged,
}

/// The lab's DHCP and DNS server.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait NetdService: Send + Sync {
    /// Starts netd at `plan.ip` on the lab network, or updates its records and reservations.
    async fn ensure(&self, lab: &LabContext, plan: &NetdPlan) -> Result<NetdOutcome, BoxError>;
    /// Whether the lab's netd exists (found by its marks).
    async fn exists(&self, lab: &str) -> Result<bool, BoxError>;
    /// Removes the lab's netd. Returns whether there was one.
    async fn remove(&self, lab: &str) -> Result<bool, BoxError>;
    /// netd's file `file` (its leases, `leases.json` or `leases.SEGMENT.json`, its counts) of
    /// lab `lab` whose directory is `lab_dir`, wherever netd keeps it; `None` when netd has
    /// written none yet. By default the lab directory's `netd/FILE` on this machine.
    async fn read_file(
        &self,
        lab: &str,
        lab_dir: &Path,
        file: &str,
    ) -> Result<Option<Vec<u8>>, BoxError> {
        let _ = lab;
        read_local_netd_file(lab_dir, file)
    }
}

/// netd's file `file` in the lab directory `lab_dir` of this machine (`netd/FILE`); `None`
/// when there is none.
pub(crate) fn read_local_netd_file(
    lab_dir: &Path,
    file: &str,
) -> Result<Option<Vec<u8>>, BoxError> {
    match std::fs::read(lab_dir.join("netd").join(file)) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A VPN client as the gateway set it up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpnPeerInfo {
    /// The peer's name.
    pub name: String,
    /// Its address in the VPN subnet.
    pub address: Ipv4Addr,
    /// Its wg-quick client config (mode 0600).
    pub config: PathBuf,
}

/// The WireGuard gateway as it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpnInfo {
    /// The gateway's interface.
    pub interface: String,
    /// Whether this call created it (false: it ran already and was brought in line).
    #[serde(skip)]
    pub created: bool,
    /// The clients.
    pub peers: Vec<VpnPeerInfo>,
}

/// The lab's WireGuard gateway.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait VpnService: Send + Sync {
    /// Brings the gateway up (or in line with `plan`) and writes the client configs into the
    /// lab directory.
    async fn up(&self, lab: &LabContext, plan: &VpnPlan) -> Result<VpnInfo, BoxError>;
    /// Removes the lab's gateway (interface, forwarding rules), found by the lab's name.
    /// Returns whether there was one.
    async fn down(&self, lab: &str) -> Result<bool, BoxError>;
    /// The name of the lab's gateway interface, so that `up` knows a port held by it as the
    /// lab's own (and names the lab holding another's). `None`: the gateway has no interface
    /// of its own name.
    fn interface_name(&self, lab: &str) -> Option<String> {
        let _ = lab;
        None
    }
    /// Whether the lab's gateway runs (its interface exists), for the reconciler. `None`: this
    /// gateway cannot tell, and the reconciler leaves it alone.
    async fn is_up(&self, lab: &str) -> Result<Option<bool>, BoxError> {
        let _ = lab;
        Ok(None)
    }
}
