//! The crate's error type. Crossing the [`hub_runtime::Runtime`] boundary, it becomes a
//! [`hub_runtime::RuntimeError`] naming the lab and the VM.

use std::path::PathBuf;

use hub_runtime::process::ToolError;

/// Result of a libvirt backend operation.
pub type LibvirtResult<T> = Result<T, LibvirtError>;

/// What went wrong in the libvirt backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LibvirtError {
    /// A helper program (`virsh`, `qemu-img`, `ssh`) could not be started.
    #[error("could not run {program} (is it installed?)")]
    Spawn {
        /// The program.
        program: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// `virsh` answered with an error.
    #[error("virsh {command} failed: {stderr}")]
    Virsh {
        /// The virsh sub-command and its arguments.
        command: String,
        /// What virsh printed on stderr.
        stderr: String,
    },
    /// `qemu-img` answered with an error.
    #[error("qemu-img {command} failed: {stderr}")]
    QemuImg {
        /// The qemu-img sub-command and its arguments.
        command: String,
        /// What qemu-img printed on stderr.
        stderr: String,
    },
    /// A helper program ran out of time or failed (see [`ToolError`]).
    #[error(transparent)]
    Tool(ToolError),
    /// Reading or writing a file failed.
    #[error("could not {action} {path}")]
    Io {
        /// What was being done (`write the seed`).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The domain XML could not be written.
    #[error("could not write the domain XML of {domain:?}")]
    XmlWrite {
        /// The domain.
        domain: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A domain XML from libvirt could not be parsed.
    #[error("the domain XML of {domain:?} could not be parsed")]
    XmlParse {
        /// The domain.
        domain: String,
        /// The cause.
        #[source]
        source: quick_xml::Error,
    },
    /// The NoCloud seed image could not be built.
    #[error("could not build the cloud-init seed of VM {vm:?}")]
    Seed {
        /// The VM.
        vm: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An SSH key could not be made, read or written.
    #[error("SSH key {path}: {reason}")]
    Key {
        /// The key file (or what the key is for).
        path: PathBuf,
        /// What failed.
        reason: String,
        /// The cause.
        #[source]
        source: Option<ssh_key::Error>,
    },
    /// The VM's spec cannot be turned into a domain.
    #[error("VM {vm:?}: {reason}")]
    InvalidSpec {
        /// The VM.
        vm: String,
        /// Why.
        reason: String,
    },
    /// `HUB_VIRT_TYPE` holds something else than `auto`, `kvm` or `qemu`.
    #[error("HUB_VIRT_TYPE={value:?} is not one of auto, kvm, qemu")]
    BadVirtType {
        /// The value found.
        value: String,
    },
    /// KVM was asked for but `/dev/kvm` cannot be opened.
    #[error(
        "KVM was asked for (spec or HUB_VIRT_TYPE) but /dev/kvm cannot be used; use virt_type qemu"
    )]
    KvmUnavailable {
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl From<ToolError> for LibvirtError {
    fn from(e: ToolError) -> Self {
        match e {
            ToolError::Spawn { program, source } => LibvirtError::Spawn { program, source },
            other => LibvirtError::Tool(other),
        }
    }
}
