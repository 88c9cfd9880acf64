//! Virtual Hub's Docker backend: the lab network and containers, on bollard.
//!
//! [`DockerRuntime`] implements [`hub_runtime::NetworkRuntime`] (the lab's bridge network) and
//! [`hub_runtime::Runtime`] for containers. It negotiates the API version with the engine
//! (Debian 12's speaks 1.41), puts every container on the lab network only, marks everything
//! with the lab's labels so a lab can be found and removed without its state file, and maps
//! Docker's errors to [`hub_runtime::RuntimeError`]s that name the lab and the workload.
//!
//! ```no_run
//! use hub_docker::DockerRuntime;
//! use hub_runtime::{NetworkRuntime, NetworkSpec};
//! # async fn demo() -> Result<(), hub_runtime::RuntimeError> {
//! let docker = DockerRuntime::connect().await?;
//! let net = docker
//!     .ensure_network(&NetworkSpec {
//!         lab: "demo".into(),
//!         name: "demo-net".into(),
//!         subnet: "10.77.0.0/24".parse().unwrap(),
//!         gateway: "10.77.0.1".parse().unwrap(),
//!         attach_to: None,
//!         labels: Default::default(),
//!         mtu: None,
//!     })
//!     .await?;
//! println!("VMs attach to {}", net.bridge);
//! docker.remove_lab("demo").await?;
//! # Ok(())
//! # }
//! ```

mod client;
mod compat;
mod container;
mod error;
mod follow;
mod image;
mod labs;
pub mod mapping;
pub mod netd;
mod network;
mod ready;
mod relay;
mod ssh;
mod transfer;
mod volume;
mod wiring;

/// bollard, re-exported so users reach the same version as this crate.
pub use bollard;
pub use client::{DEFAULT_PULL_IDLE_TIMEOUT, DockerRuntime, PullProgressFn};
pub use error::DockerError;
pub use image::PullProgress;
pub use ssh::{POOL_IDLE, SSH_CONNECT_TIMEOUT, SSH_READY_TIMEOUT, SshError, SshTarget};
pub use transfer::{COPIED_STATUS, TRANSFER_STATUS};
