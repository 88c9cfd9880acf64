//! The mesh's errors: each names the lab and, where one is concerned, the host.

use hub_runtime::RuntimeError;
use hub_wg::WgError;

/// Why the mesh of a lab could not be made or removed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MeshError {
    /// The mesh spec cannot work (two hosts with one address, a mesh subnet too small...).
    #[error("lab {lab:?}: the host mesh cannot be made: {reason}")]
    InvalidSpec {
        /// The lab.
        lab: String,
        /// What is wrong and what to do.
        reason: String,
    },
    /// A host's Docker Engine refused or failed a step.
    #[error("lab {lab:?}, host {host:?}: {doing} failed")]
    Host {
        /// The lab.
        lab: String,
        /// The host.
        host: String,
        /// The step.
        doing: String,
        /// Docker's error.
        #[source]
        source: Box<RuntimeError>,
    },
    /// The mesh agent (or the VPN gateway) on a host stopped or did not report ready; its
    /// log says why.
    #[error("lab {lab:?}, host {host:?}: the {what} {reason}; its log:\n{log}")]
    Agent {
        /// The lab.
        lab: String,
        /// The host.
        host: String,
        /// What runs there: "mesh agent" or "VPN gateway".
        what: &'static str,
        /// What happened.
        reason: String,
        /// The agent's output (never holds keys: the agent does not print them).
        log: String,
    },
    /// The mesh image could not be built on this machine.
    #[error("the mesh image could not be built: {reason}")]
    Image {
        /// What is missing or failed, and what to do.
        reason: String,
    },
    /// A host's mesh key could not be read or made.
    #[error("lab {lab:?}, host {host:?}: its mesh key")]
    Key {
        /// The lab.
        lab: String,
        /// The host.
        host: String,
        /// The key store's error.
        #[source]
        source: Box<WgError>,
    },
}

/// Results of this crate.
pub type MeshResult<T, E = MeshError> = Result<T, E>;
