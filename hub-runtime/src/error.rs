use std::time::Duration;

/// Result of a runtime operation.
pub type RuntimeResult<T> = Result<T, RuntimeError>;

/// What went wrong in a runtime. Messages name the lab and the workload and say what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The backend's daemon (dockerd, libvirtd) does not answer.
    #[error("{backend} is not running or does not answer ({hint})")]
    DaemonUnavailable {
        /// `docker` or `libvirt`.
        backend: &'static str,
        /// What to do about it.
        hint: String,
        /// The underlying error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The caller may not talk to the backend's socket.
    #[error("permission denied talking to {backend}: {hint}")]
    PermissionDenied {
        /// `docker` or `libvirt`.
        backend: &'static str,
        /// What to do about it.
        hint: String,
    },
    /// A resource with that name already exists and does not belong to this lab's plan.
    #[error("lab {lab:?}: {what} {name:?} already exists; remove it or choose another name")]
    NameTaken {
        /// The lab.
        lab: String,
        /// `container`, `network`, `domain`.
        what: &'static str,
        /// The name in use.
        name: String,
    },
    /// The static address is already held by something else on the network.
    #[error(
        "lab {lab:?}: {workload:?}: address {address} is already in use on the lab network; \
         choose another address or remove what holds it"
    )]
    AddressInUse {
        /// The lab.
        lab: String,
        /// The workload asking for the address.
        workload: String,
        /// The address.
        address: std::net::Ipv4Addr,
    },
    /// The subnet overlaps a network that is not this lab's.
    #[error("lab {lab:?}: subnet {subnet} overlaps {other} ({other_subnet}); choose a free subnet")]
    SubnetOverlap {
        /// The lab.
        lab: String,
        /// The lab's subnet.
        subnet: ipnet::Ipv4Net,
        /// The other network's name.
        other: String,
        /// The other network's subnet.
        other_subnet: ipnet::IpNet,
    },
    /// The image is neither local nor pullable.
    #[error("lab {lab:?}: {workload:?}: image {image:?} is not available: {reason}")]
    ImageUnavailable {
        /// The lab.
        lab: String,
        /// The workload.
        workload: String,
        /// The image reference or path.
        image: String,
        /// Why.
        reason: String,
    },
    /// The workload or network does not exist.
    #[error("lab {lab:?}: {what} {name:?} does not exist")]
    NotFound {
        /// The lab.
        lab: String,
        /// `container`, `vm`, `network`.
        what: &'static str,
        /// Its name.
        name: String,
    },
    /// The workload did not become ready in time.
    #[error("lab {lab:?}: {workload:?} was not ready after {waited:?}: {detail}")]
    Timeout {
        /// The lab.
        lab: String,
        /// The workload.
        workload: String,
        /// How long we waited.
        waited: Duration,
        /// What was last seen (state, health, console tail).
        detail: String,
    },
    /// The workload stopped or failed while we waited for it.
    #[error("lab {lab:?}: {workload:?} failed: {detail}")]
    WorkloadFailed {
        /// The lab.
        lab: String,
        /// The workload.
        workload: String,
        /// What happened (exit code, health log, console tail).
        detail: String,
    },
    /// The operation was cancelled (Ctrl-C, a sibling failure).
    #[error("lab {lab:?}: {workload:?}: cancelled")]
    Cancelled {
        /// The lab.
        lab: String,
        /// The workload.
        workload: String,
    },
    /// This runtime does not run that kind of workload or does not support the operation.
    #[error("{backend} does not support {what}")]
    Unsupported {
        /// The backend.
        backend: &'static str,
        /// What was asked.
        what: String,
    },
    /// Any other backend error, with the object it concerned.
    #[error("lab {lab:?}: {context}")]
    Backend {
        /// The lab.
        lab: String,
        /// What we were doing, naming the object (`creating container "web"`).
        context: String,
        /// The backend's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An operation injected to fail by the [`crate::FakeRuntime`].
    #[error("injected failure: {0}")]
    Injected(String),
}
