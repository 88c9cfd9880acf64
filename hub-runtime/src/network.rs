use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::RuntimeResult;

/// The lab network to create or attach to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkSpec {
    /// The lab.
    pub lab: String,
    /// The network's name (Docker network name).
    pub name: String,
    /// Its subnet.
    pub subnet: ipnet::Ipv4Net,
    /// The gateway (the bridge's own address), `.1` by the address plan.
    pub gateway: Ipv4Addr,
    /// Attach to this existing network instead of creating one; it is never removed by the hub.
    pub attach_to: Option<String>,
    /// Extra labels (the hub adds its own).
    pub labels: BTreeMap<String, String>,
    /// The MTU of its interfaces; `None`: the backend's default (1500). A lab over several
    /// hosts gets the lab segment's (1370 on a 1500-byte underlay).
    pub mtu: Option<u16>,
}

/// A lab network as it exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkInfo {
    /// Backend id (Docker network id).
    pub id: String,
    /// Its name.
    pub name: String,
    /// The Linux bridge interface VMs attach to (`br-<12 hex of the id>` for Docker).
    pub bridge: String,
    /// Its subnet.
    pub subnet: ipnet::Ipv4Net,
    /// Its gateway.
    pub gateway: Ipv4Addr,
    /// True when the hub created it (and so removes it on `down`).
    pub owned: bool,
}

/// What the lab network needs from a backend (Docker implements it).
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait NetworkRuntime: Send + Sync {
    /// Creates the lab network, or returns it when it already exists with the lab's labels, or
    /// attaches to `attach_to`. Refuses a subnet overlapping another network, naming it.
    async fn ensure_network(&self, spec: &NetworkSpec) -> RuntimeResult<NetworkInfo>;
    /// The lab's network, if one exists (found by label).
    async fn find_network(&self, lab: &str) -> RuntimeResult<Option<NetworkInfo>>;
    /// Removes the lab's own network (found by label). Returns whether one was removed.
    /// Attached (foreign) networks are never removed.
    async fn remove_network(&self, lab: &str) -> RuntimeResult<bool>;
    /// The segments (beyond the first) that have a network of the lab, by their segment name
    /// (found by the lab's and the segment's labels).
    async fn list_segments(&self, lab: &str) -> RuntimeResult<Vec<String>>;
    /// Removes the lab's own networks of the segments named in `segments` (found by label).
    /// A network a container is still joined to is left alone unless `force`, which first
    /// disconnects every container from it (a rollback: what is on a network the `up` made was
    /// put there by it). Returns the segments whose network was removed.
    async fn remove_segments(
        &self,
        lab: &str,
        segments: &[String],
        force: bool,
    ) -> RuntimeResult<Vec<String>>;
    /// Removes the lab's named volumes (found by label; containers mounting them must be gone).
    /// Returns the names of those removed.
    async fn remove_volumes(&self, lab: &str) -> RuntimeResult<Vec<String>>;
}
