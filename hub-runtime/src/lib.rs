//! The Runtime contract of Virtual Hub.
//!
//! A lab is made of workloads (containers and VMs) on one lab network. Each backend
//! (`hub-docker`, `hub-libvirt`, the in-memory [`FakeRuntime`]) implements [`Runtime`] for the
//! kinds of workload it runs; the Docker backend also implements [`NetworkRuntime`] for the
//! lab's bridge network. `hub-core` drives them through `Arc<dyn Runtime>` without knowing which
//! backend it talks to.
//!
//! Everything a runtime creates carries the lab's marks (see [`labels`]), so a lab can be found
//! and removed after a crash, without its state file.
//!
//! The crate also holds the vocabulary every crate above it shares, once: the name rule
//! ([`names`]), [`MacAddr`] and the one [`derive_mac`], the typed [`Role`] of a workload, the one
//! way the backends run the host's tools ([`process::Tool`]) and the one wait they poll with
//! ([`wait::Deadline`]).
//!
//! ```
//! use hub_runtime::{FakeRuntime, LabContext, Runtime, WorkloadSpec, ContainerSpec};
//! # tokio_test_block_on(async {
//! let rt = FakeRuntime::new();
//! let lab = LabContext::for_tests("demo");
//! let spec = WorkloadSpec::Container(ContainerSpec::new("web", "hub-test/busybox:latest"));
//! let handle = rt.create(&lab, &spec).await.unwrap();
//! rt.start(&handle).await.unwrap();
//! assert_eq!(rt.list(&lab.name).await.unwrap().len(), 1);
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
//! # }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod disk;
mod error;
mod fake;
pub mod files;
pub mod labels;
mod mac;
pub mod names;
mod network;
mod phase;
mod ports;
pub mod process;
mod role;
mod runtime;
mod spec;
mod status;
pub mod wait;

pub use error::{RuntimeError, RuntimeResult};
pub use fake::{FakeOp, FakeRuntime};
pub use mac::{MacAddr, MacParseError, derive_mac};
pub use network::{NetworkInfo, NetworkRuntime, NetworkSpec};
pub use phase::{PhaseReporter, ReadyPhase};
pub use ports::{PortMapping, Protocol};
pub use role::{Role, UnknownRole};
pub use runtime::{LogStream, Runtime};
#[cfg(feature = "mock")]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
pub use runtime::{MockNetworkRuntime, MockRuntime};
pub use spec::{
    Attachment, ContainerSpec, GuestFile, Healthcheck, LabContext, Mount, Resources, RestartPolicy,
    VirtType, VmSpec, VolumeMount, WorkloadKind, WorkloadSpec,
};
pub use spec::{IDENTITY_DIR, identity_dir, running_as_root};
pub use status::{ExecOutput, WorkloadHandle, WorkloadState, WorkloadStatus};
