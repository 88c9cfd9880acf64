//! Progress events of `up` and `down`, for the CLI's progress bars or a test's log.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hub_runtime::WorkloadKind;

/// One step of an `up` or a `down`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Progress {
    /// The plan: how many workloads will be created, recreated, removed, left alone.
    Planned {
        /// To create.
        create: usize,
        /// To recreate (their spec changed).
        recreate: usize,
        /// To remove (they left the spec).
        remove: usize,
        /// Already as specified.
        unchanged: usize,
    },
    /// The lab network exists.
    NetworkReady {
        /// Its name.
        name: String,
        /// Its subnet.
        subnet: ipnet::Ipv4Net,
        /// Time taken.
        took: Duration,
    },
    /// netd runs at this address.
    NetdReady {
        /// netd's address.
        ip: Ipv4Addr,
        /// The DHCP range.
        dhcp: (Ipv4Addr, Ipv4Addr),
        /// The DNS domain.
        domain: String,
        /// Time taken.
        took: Duration,
    },
    /// A workload is being created and started.
    WorkloadStarting {
        /// Its name.
        name: String,
        /// Its kind.
        kind: WorkloadKind,
    },
    /// A workload runs; the hub waits for it to be ready.
    WorkloadWaiting {
        /// Its name.
        name: String,
        /// Its kind.
        kind: WorkloadKind,
    },
    /// A workload passed a phase of its readiness (a VM: `firmware`, `kernel`, `lease ADDR`,
    /// `SSH`, `cloud-init`), so that a long boot is visibly alive.
    WorkloadPhase {
        /// Its name.
        name: String,
        /// Its kind.
        kind: WorkloadKind,
        /// The phase, in words.
        phase: String,
        /// Time since the wait for readiness began.
        after: Duration,
    },
    /// A workload is ready.
    WorkloadReady {
        /// Its name.
        name: String,
        /// Its kind.
        kind: WorkloadKind,
        /// Its address.
        ip: Option<Ipv4Addr>,
        /// Time from its creation to ready.
        took: Duration,
        /// How a VM started (`restored from warm snapshot`, `cold boot (no warm snapshot:
        /// REASON)`); `None` for containers.
        boot: Option<String>,
    },
    /// A workload failed.
    WorkloadFailed {
        /// Its name.
        name: String,
        /// The error, as a sentence.
        error: String,
    },
    /// A workload was already as specified.
    WorkloadUnchanged {
        /// Its name.
        name: String,
    },
    /// Something was removed (a workload that left the spec, or during `down`/rollback).
    Removed {
        /// What (`container "web"`, `network`, `netd`).
        what: String,
    },
    /// The VPN gateway is up and a client config was written.
    VpnPeer {
        /// The peer.
        name: String,
        /// Its config file.
        config: PathBuf,
    },
    /// A failed or interrupted `up` is removing what it created.
    RollingBack,
    /// A VM's base image is being uploaded to a remote host's libvirt (a storage volume named
    /// by its content: a host that already holds it gets nothing sent).
    ImageUpload {
        /// The host.
        host: String,
        /// The image on this machine.
        image: PathBuf,
        /// The volume on the host, `POOL/NAME`.
        volume: String,
        /// Bytes sent and in total.
        bytes: (u64, u64),
        /// Where it stands.
        stage: UploadStage,
    },
    /// An image is being pulled.
    Pulling {
        /// The image.
        image: String,
        /// The engine's status text (`Downloading`), with the layer when known.
        status: String,
        /// Bytes done and in total, when known.
        bytes: Option<(u64, u64)>,
    },
}

/// Where the upload of a VM's base image to a remote host stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadStage {
    /// Bytes are being sent.
    Sending,
    /// Every byte was sent, in this time.
    Uploaded(Duration),
    /// The host already held the image: nothing was sent.
    Cached,
}

/// A progress callback.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

pub(crate) fn emit(cb: &Option<ProgressFn>, p: Progress) {
    if let Some(cb) = cb {
        cb(&p);
    }
}
