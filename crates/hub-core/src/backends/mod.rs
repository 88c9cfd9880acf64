//! The default backends of the enabled features, and glue to their helpers.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::error::HubError;
use crate::runtimes::Runtimes;
use crate::up::state::WorkloadRecord;

/// What the default backends need from the builder.
#[derive(Clone, Default)]
pub(crate) struct DefaultsConfig {
    /// The `hub` executable netd's image is built from.
    #[allow(dead_code)]
    pub hub_bin: Option<PathBuf>,
    /// The WireGuard key generator.
    #[cfg(feature = "wireguard")]
    #[allow(dead_code)]
    pub key_gen: Option<std::sync::Arc<dyn hub_wg::KeyGen>>,
}

/// Fills every backend the caller did not inject with the default of its feature.
pub(crate) async fn fill_defaults(
    _lab: &str,
    injected: Runtimes,
    _cfg: &DefaultsConfig,
) -> Result<Runtimes, HubError> {
    Ok(injected)
}

/// The `ssh` command line into a VM of the lab.
pub(crate) fn ssh_command(
    lab_dir: &Path,
    lab: &str,
    vm: &WorkloadRecord,
    ip: Ipv4Addr,
) -> Result<Vec<String>, HubError> {
    let _ = (lab_dir, ip);
    Err(HubError::Invalid {
        what: format!("VM {:?} of lab {lab:?}", vm.name),
        reason: "this hub was built without the libvirt backend".into(),
    })
}
