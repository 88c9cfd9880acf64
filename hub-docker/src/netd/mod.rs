//! netd in Docker: an image made from the hub's own executable (no image pulled), run at `.2`
//! on the lab network as `LAB-netd`.
//!
//! The image is a root holding the `hub` binary at `/hub`, the shared libraries `ldd` lists
//! (with the dynamic loader) at their paths and an `/etc/nsswitch.conf`; it is imported
//! in-process (`docker import`) as `hub-netd:<12 hex of the binary's sha256>`, so it is
//! rebuilt only when the binary changes. The lab's netd directory (`LAB_DIR/netd`, holding
//! `netd.json` and `leases.json`) is bind-mounted at `/netd`.
//!
//! `image.rs` makes the image; `lifecycle.rs` runs the container and keeps its files.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use hub_runtime::{RuntimeError, WorkloadHandle};

mod image;
mod lifecycle;

pub use image::{
    content_tag, ensure_netd_image, find_hub_binary, linked_libraries, netd_image_ref,
    netd_root_tar,
};
pub use lifecycle::{
    ensure_netd, ensure_netd_on, netd_container_spec, netd_dir, read_leases, read_netd_stats,
    update_netd_config,
};

/// The environment variable naming the hub executable used for the netd image.
pub const HUB_BIN_ENV: &str = "HUB_BIN";
/// Repository of the netd image; the tag is the binary's hash.
pub const NETD_IMAGE_REPO: &str = "hub-netd";
/// The workload name (the container is `LAB-netd`; its role is [`hub_runtime::Role::Netd`]).
pub const NETD_NAME: &str = "netd";
/// Where the lab's netd directory is mounted in the container.
pub const NETD_MOUNT: &str = "/netd";
/// The running netd of a lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetdInfo {
    /// The container's handle.
    pub handle: WorkloadHandle,
    /// The image it runs (`hub-netd:0123456789ab`).
    pub image: String,
    /// Its address on the lab network.
    pub ip: Ipv4Addr,
    /// The host directory holding its config and leases.
    pub dir: PathBuf,
}

/// A backend error of lab `lab` (`-` when no lab is concerned) from an I/O error.
pub(crate) fn fail(
    lab: &str,
    context: String,
    source: impl std::error::Error + Send + Sync + 'static,
) -> RuntimeError {
    RuntimeError::Backend {
        lab: lab.to_string(),
        context,
        source: Box::new(source),
    }
}
