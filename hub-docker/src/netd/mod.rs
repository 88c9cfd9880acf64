//! netd in Docker: an image made from the hub's own executable (no image pulled), run at `.2`
//! on the lab network as `LAB-netd`.
//!
//! The image is a root holding the `hub` binary at `/hub`, the shared libraries `ldd` lists
//! (with the dynamic loader) at their paths and an `/etc/nsswitch.conf`; it is imported
//! in-process (`docker import`) as `hub-netd:<12 hex of the binary's sha256>`, so it is
//! rebuilt only when the binary changes. Where netd's folder `/netd` (`netd.json`,
//! `leases.json`, `stats.json`) lives is its [`NetdStorage`]: on this machine's engine the lab's
//! netd directory (`LAB_DIR/netd`) is bind-mounted there; on another machine's engine (a remote
//! primary host) it is the lab's named volume `LAB-netd.state`, and the config is copied in and
//! the leases read back through Docker's archive API.
//!
//! `image.rs` makes the image; `lifecycle.rs` runs the container and keeps its files;
//! `archive.rs` moves the files of a netd on another machine.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use hub_runtime::{RuntimeError, WorkloadHandle};

mod archive;
mod image;
mod lifecycle;

pub use archive::{
    copy_config_into, pack_file, read_leases_from, read_netd_file_from, read_netd_stats_from,
    unpack_file,
};

pub use image::{
    content_tag, ensure_netd_image, find_hub_binary, linked_libraries, netd_image_ref,
    netd_root_tar,
};
pub use lifecycle::{
    ensure_netd, ensure_netd_on, ensure_netd_with, netd_config_json, netd_container_spec,
    netd_container_spec_in, netd_dir, netd_volume_name, read_leases, read_netd_stats, remove_netd,
    update_netd_config,
};

/// The environment variable naming the hub executable used for the netd image.
pub const HUB_BIN_ENV: &str = "HUB_BIN";
/// Repository of the netd image; the tag is the binary's hash.
pub const NETD_IMAGE_REPO: &str = "hub-netd";
/// The workload name (the container is `LAB-netd`; its role is [`hub_runtime::Role::Netd`]).
pub const NETD_NAME: &str = "netd";
/// Where the hub executable sits in the netd image (what its entrypoint and `hub relay` run).
pub const NETD_HUB_PATH: &str = "/hub";
/// Where the lab's netd directory is mounted in the container.
pub const NETD_MOUNT: &str = "/netd";
/// The name (as a spec's `volumes:` would give it) of the volume holding netd's folder on
/// another machine's engine; the engine's volume is `LAB-netd.state` (see
/// [`netd_volume_name`]). A user's volume name is a DNS label, which has no `.`, so no
/// `LAB-NAME` volume of any lab can be it.
pub const NETD_VOLUME: &str = "netd.state";

/// Where netd's folder (`/netd`: its config, leases and counts) is kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NetdStorage {
    /// The lab's netd directory of this machine (`LAB_DIR/netd`) bind-mounted: the engine runs
    /// here. The hub writes the config there and reads the leases there.
    #[default]
    Bind,
    /// The lab's volume `LAB-netd.state` on the engine of host `host`, another machine (a
    /// bind mount would name a folder of *that* machine, which the hub cannot write). The
    /// config is still written to `LAB_DIR/netd/netd.json` here (the record `up` compares
    /// with) and copied into the container with the archive API; the leases and counts are
    /// read back the same way ([`read_leases_from`], [`read_netd_stats_from`]). Removing netd
    /// removes the volume too.
    Volume {
        /// The host's name in the lab's spec (for errors).
        host: String,
    },
}

impl NetdStorage {
    /// The host name to put in errors: the remote host's, or `this machine`.
    pub fn host(&self) -> &str {
        match self {
            NetdStorage::Bind => "this machine",
            NetdStorage::Volume { host } => host,
        }
    }
}

/// The running netd of a lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetdInfo {
    /// The container's handle.
    pub handle: WorkloadHandle,
    /// The image it runs (`hub-netd:0123456789ab`).
    pub image: String,
    /// Its address on the lab network.
    pub ip: Ipv4Addr,
    /// The directory of this machine holding its config (and, with [`NetdStorage::Bind`], its
    /// leases and counts).
    pub dir: PathBuf,
    /// The engine's volume holding its folder, with [`NetdStorage::Volume`].
    pub volume: Option<String>,
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
