//! The hub's one error type.

use std::fmt;
use std::path::PathBuf;

use hub_runtime::{RuntimeError, WorkloadKind};

use crate::spec::SpecErrors;

/// A boxed error from a service (netd, VPN gateway) or a backend.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One failed step of an `up` or a `down`: what it concerned and why it failed.
#[derive(Debug)]
pub struct StepError {
    /// What failed: `container "web"`, `network`, `netd`, `vpn gateway`.
    pub subject: String,
    /// Why.
    pub source: BoxError,
}

impl StepError {
    /// A step error about `subject`.
    pub fn new(subject: impl Into<String>, source: impl Into<BoxError>) -> Self {
        StepError {
            subject: subject.into(),
            source: source.into(),
        }
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.subject, self.source)?;
        let mut cause = self.source.source();
        while let Some(c) = cause {
            write!(f, ": {c}")?;
            cause = c.source();
        }
        Ok(())
    }
}

impl std::error::Error for StepError {}

fn list(errors: &[StepError]) -> String {
    errors.iter().map(|e| format!("\n  - {e}")).collect()
}

/// What went wrong in the hub. Messages name the lab and the object concerned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HubError {
    /// The lab spec is invalid (file, line and column when it came from a file).
    #[error("the lab spec is invalid")]
    Spec(#[from] SpecErrors),
    /// A builder value or a command argument is unusable.
    #[error("{what}: {reason}")]
    Invalid {
        /// The value concerned (`network "10.0.0.0/33"`).
        what: String,
        /// Why it is unusable.
        reason: String,
    },
    /// The lab does not fit the host (admission control), naming the shortfall.
    #[error("lab {lab:?} does not fit this host: {shortfall}")]
    Admission {
        /// The lab.
        lab: String,
        /// What is short (`lab needs 48 GiB of memory for its VMs, the host has 23 GiB available`).
        shortfall: String,
    },
    /// The lab's hosts cannot take it: a host that cannot be reached (its endpoint, a refused
    /// TLS certificate), a VM for a host without libvirt, or a shortfall per host. Nothing
    /// was created.
    #[error("lab {lab:?} cannot be placed on its hosts; nothing was created:{}", problems.iter().map(|p| format!("\n  - {p}")).collect::<String>())]
    Hosts {
        /// The lab.
        lab: String,
        /// Each problem, naming its host (`host "h2": ...`).
        problems: Vec<String>,
    },
    /// Another process holds the lab's lock.
    #[error("lab {lab:?} is locked by {}; wait for it (hub up --wait) or stop it (lock file {})",
        .pid.map(|p| format!("process {p}")).unwrap_or_else(|| "another process".into()), .path.display())]
    Locked {
        /// The lab.
        lab: String,
        /// The holder's pid, as written in the lock file.
        pid: Option<u32>,
        /// The lock file.
        path: PathBuf,
    },
    /// A file of the lab could not be read or written.
    #[error("lab {lab:?}: {context} {}", .path.display())]
    Io {
        /// The lab.
        lab: String,
        /// What we were doing (`writing the state file`).
        context: String,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The state file is unreadable.
    #[error("lab {lab:?}: the state file {} is corrupt", .path.display())]
    State {
        /// The lab.
        lab: String,
        /// The state file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A runtime call failed.
    #[error("lab {lab:?}: {context}")]
    Runtime {
        /// The lab.
        lab: String,
        /// What we were doing (`listing containers`).
        context: String,
        /// The runtime's error.
        #[source]
        source: Box<RuntimeError>,
    },
    /// A service (netd, the VPN gateway) failed.
    #[error("lab {lab:?}: {context}")]
    Service {
        /// The lab.
        lab: String,
        /// What we were doing.
        context: String,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// No runtime is configured for a kind of workload the lab has.
    #[error("lab {lab:?}: no runtime for {kind}s; {hint}")]
    NoRuntime {
        /// The lab.
        lab: String,
        /// The kind.
        kind: WorkloadKind,
        /// What to do.
        hint: String,
    },
    /// `up` failed; every error of every branch is listed.
    #[error("lab {lab:?}: up failed ({} error{}){}{}", .errors.len(), if .errors.len() == 1 { "" } else { "s" },
        if *.rolled_back { ", rolled back what it had created" } else { "" }, list(.errors))]
    Up {
        /// The lab.
        lab: String,
        /// Every failure.
        errors: Vec<StepError>,
        /// Whether what the failed `up` created was removed again.
        rolled_back: bool,
    },
    /// `down` could not remove everything; every error is listed.
    #[error("lab {lab:?}: down left something behind ({} error{}){}", .errors.len(),
        if .errors.len() == 1 { "" } else { "s" }, list(.errors))]
    Down {
        /// The lab.
        lab: String,
        /// Every failure.
        errors: Vec<StepError>,
    },
    /// `up` was interrupted (Ctrl-C or cancellation); what it created was rolled back.
    #[error("lab {lab:?}: up was interrupted{}", if .errors.is_empty() { ", rolled back".to_string() } else { format!("; the rollback failed:{}", list(.errors)) })]
    Interrupted {
        /// The lab.
        lab: String,
        /// Failures of the rollback, if any.
        errors: Vec<StepError>,
    },
    /// `check` was interrupted (Ctrl-C or cancellation); the VPN clients it made are removed.
    #[error("lab {lab:?}: the checks were interrupted; the VPN clients they made are removed")]
    ChecksInterrupted {
        /// The lab.
        lab: String,
    },
    /// The lab has no workload by that name.
    #[error("lab {lab:?} has no workload {name:?}{}", if .known.is_empty() { String::new() } else { format!(" (it has: {})", .known.join(", ")) })]
    NoSuchWorkload {
        /// The lab.
        lab: String,
        /// The name asked for.
        name: String,
        /// The names it has.
        known: Vec<String>,
    },
    /// The lab has no VPN, or no peer by that name.
    #[error("lab {lab:?} has no VPN peer {peer:?}")]
    NoSuchPeer {
        /// The lab.
        lab: String,
        /// The peer asked for.
        peer: String,
    },
}

impl HubError {
    /// Exit code of the `hub` CLI for this error: 2 for spec and usage errors, 130 when
    /// interrupted, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            HubError::Spec(_) | HubError::Invalid { .. } => 2,
            HubError::Interrupted { .. } | HubError::ChecksInterrupted { .. } => 130,
            _ => 1,
        }
    }
}

/// An error and its causes, `a: b: c` (a cause whose text is already in the message is not
/// repeated): one line for a terminal or an API answer.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cause = c.source();
    }
    s
}
