//! The marks every backend puts on what it creates, so `down` can find a lab's resources
//! without its state file.

/// Label (Docker) / metadata key (libvirt) holding the lab's name.
pub const LAB: &str = "io.hub.lab";
/// Label holding the workload's name inside its lab.
pub const WORKLOAD: &str = "io.hub.workload";
/// Label holding the hash of the workload's spec, compared by `up` to decide what changed.
pub const SPEC_HASH: &str = "io.hub.spec-hash";
/// Label holding the workload's kind (`container`, `vm`, `netd`).
pub const KIND: &str = "io.hub.kind";
/// The [`KIND`] of a lab's mesh agent (hub-mesh), which listings of workloads skip.
pub const KIND_MESH: &str = "mesh";
/// The [`KIND`] of a lab's VPN gateway container (hub-mesh, over several hosts), which
/// listings of workloads skip too.
pub const KIND_VPN: &str = "vpn";
/// Label on a lab network the hub created (absent on networks it only attached to).
pub const OWNED: &str = "io.hub.owned";
/// The XML namespace of the hub's libvirt domain metadata.
pub const LIBVIRT_NS: &str = "https://virtual-hub.invalid/xmlns/hub/1";
/// Label on a lab network that is one of its extra segments (`networks:` beyond the first),
/// holding the segment's name. The lab's first network has none.
pub const SEGMENT: &str = "io.hub.segment";
/// Label on a container joined to several segments: its attachments beyond the first, as
/// JSON, in order (the Docker backend connects them after start so that `eth1`, `eth2`...
/// follow the spec's order).
pub const ATTACHMENTS: &str = "io.hub.attachments";
