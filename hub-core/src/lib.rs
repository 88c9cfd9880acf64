//! Virtual Hub: bring up a lab of containers, VMs and a WireGuard gateway from one spec.
//!
//! A lab is a bridge network with its own DHCP and DNS (netd), containers and VMs at
//! reproducible addresses, and optionally a WireGuard gateway for remote clients. Build one in
//! Rust with [`Hub::builder`] or load a YAML spec with [`Hub::from_file`]; `up` returns a
//! [`Lab`] when every workload is ready, and dropping the `Lab` removes everything again.
//!
//! ```no_run
//! use hub_core::{Container, Hub, Vm, Vpn};
//!
//! # async fn run() -> Result<(), hub_core::HubError> {
//! let lab = Hub::builder()
//!     .name("agent-test")
//!     .network("10.77.0.0/24")
//!     .container(Container::new("db", "postgres:16").env("POSTGRES_PASSWORD", "x"))
//!     .vm(Vm::new("agent", "images/debian-12.qcow2").memory_mb(1024).packages(["curl"]))
//!     .vpn(Vpn::new("10.78.0.0/24").peer("laptop"))
//!     .up()
//!     .await?; // returns when every workload is ready
//! let out = lab.ssh("agent", "getent hosts db").await?;
//! assert!(out.stdout.contains(&lab.ip("db")?.to_string()));
//! println!("laptop's config: {}", lab.vpn_config("laptop")?.display());
//! # Ok(())
//! # } // dropping `lab` removes everything
//! ```
//!
//! The same lab from a file, kept running after the program ends:
//!
//! ```no_run
//! # async fn run() -> Result<(), hub_core::HubError> {
//! let lab = hub_core::Hub::from_file("examples/labs/demo.yaml")?.up().await?.keep();
//! for w in lab.workloads() {
//!     println!("{} {} {:?}", w.name, w.kind, w.ip);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! A lab may span several hosts, each reached through its own Docker Engine (and libvirt);
//! workloads pin a host or are placed by E-PVM (see [`hosts`]):
//!
//! ```no_run
//! use hub_core::{Container, Host, Hub, Placement};
//!
//! # async fn run() -> Result<(), hub_core::HubError> {
//! let lab = Hub::builder()
//!     .name("spread")
//!     .network("10.77.0.0/24")
//!     .host(Host::new("h1")) // the primary: this machine's engines, netd, the VPN
//!     .host(
//!         Host::new("h2")
//!             .docker("tcp://192.168.50.12:2376")
//!             .tls("/etc/hub/certs/h2") // ca.pem, cert.pem, key.pem
//!             .libvirt("qemu+tcp://192.168.50.12/system")
//!             .address("192.168.50.12"),
//!     )
//!     .host(
//!         Host::new("h3")
//!             .docker("ssh://hub@192.168.50.13") // docker system dial-stdio over ssh
//!             .ssh_key("/etc/hub/keys/h3")
//!             .known_hosts("/etc/hub/keys/known_hosts") // default: ~/.ssh/known_hosts
//!             .address("192.168.50.13"),
//!     )
//!     .placement(Placement::Epvm)
//!     .container(Container::new("web", "nginx:alpine").host("h2"))
//!     .container(Container::new("db", "postgres:16")) // placed by E-PVM
//!     .up()
//!     .await?;
//! for w in lab.workloads() {
//!     println!("{} on {}", w.name, w.host.as_deref().unwrap_or("-"));
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//! - `docker` (default): containers and the lab network on Docker, re-exported as [`docker`].
//! - `libvirt` (default): VMs on libvirt/QEMU, re-exported as [`libvirt`].
//! - `wireguard` (default): the WireGuard gateway, re-exported as [`wg`].
//! - `mock`: mockall mocks of every injectable trait (see [`testing`]).
//!
//! [`heal::Watcher`] keeps a lab that is up as planned (each workload's `restart:` policy,
//! backoff, restart counts, `failed`), telling each change as a [`heal::LabEvent`].
//!
//! Backends are injectable ([`HubBuilder::container_runtime`] and friends), so the logic runs
//! on [`runtime::FakeRuntime`] in tests: [`testing::TestHub`] wires them all in one call.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod spec;

mod backends;
pub mod check;
mod convert;
mod desired;
mod drop;
mod error;
pub mod graph;
pub mod heal;
pub mod host_ports;
pub mod hosts;
mod hub;
mod lab;
pub mod labs;
pub mod progress;
mod runtimes;
pub mod scheduler;
pub mod services;
pub mod status;
pub mod testing;
mod up;

pub use error::{BoxError, HubError, StepError, error_chain};
pub use hub::{DEFAULT_PARALLELISM, Hub, HubBuilder, default_state_root};
pub use lab::Lab;
pub use progress::{Progress, UploadStage};
pub use spec::{Check, Container, Host, LabSpec, Placement, Segment, Vm, Vpn};
pub use status::LabStatus;
pub use up::{DownReport, UpReport};

/// The hub's result type: `hub_core::Result<Lab>` is `Result<Lab, HubError>`.
pub type Result<T, E = HubError> = std::result::Result<T, E>;

/// What a lab leaves on disk: its state file and the lock that keeps two `up`s apart.
pub mod state {
    pub use crate::up::lock::LabLock;
    pub use crate::up::state::{LabState, STATE_VERSION, WorkloadRecord};
}

#[cfg(feature = "docker")]
#[cfg_attr(docsrs, doc(cfg(feature = "docker")))]
#[doc(inline)]
pub use hub_docker as docker;
#[cfg(feature = "libvirt")]
#[cfg_attr(docsrs, doc(cfg(feature = "libvirt")))]
#[doc(inline)]
pub use hub_libvirt as libvirt;
#[doc(inline)]
pub use hub_net as net;
#[doc(inline)]
pub use hub_runtime as runtime;
#[cfg(feature = "wireguard")]
#[cfg_attr(docsrs, doc(cfg(feature = "wireguard")))]
#[doc(inline)]
pub use hub_wg as wg;
