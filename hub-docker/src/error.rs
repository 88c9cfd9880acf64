//! Turning bollard's errors into [`RuntimeError`]s that name the lab and the workload and say
//! what to do.

use std::net::Ipv4Addr;

use bollard::errors::Error as BollardError;
use hub_runtime::RuntimeError;

/// The backend name used in messages.
pub(crate) const BACKEND: &str = "docker";

/// What to do when dockerd does not answer.
const START_HINT: &str = "start dockerd, e.g. with scripts/setup-host.sh (as root)";

/// What to do when the socket refuses us.
const PERMISSION_HINT: &str = "run as root or add the user to the docker group, then log in again";

/// Conditions this backend finds itself; they travel as the `#[source]` of a
/// [`RuntimeError::Backend`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DockerError {
    /// The network to attach to does not have the lab's subnet.
    #[error(
        "network {network:?} has subnet {actual}, not the lab's {expected}; use the same subnet in the spec"
    )]
    SubnetMismatch {
        /// The network.
        network: String,
        /// Its subnet.
        actual: ipnet::Ipv4Net,
        /// The lab's subnet.
        expected: ipnet::Ipv4Net,
    },
    /// A network has no IPv4 subnet the hub could use.
    #[error("network {network:?} has no IPv4 subnet")]
    NoIpv4Subnet {
        /// The network.
        network: String,
    },
    /// The lab already owns a network with another subnet.
    #[error(
        "the lab already has network {network:?} with subnet {actual}, not {expected}; take the lab down first"
    )]
    LabNetworkDiffers {
        /// The existing network.
        network: String,
        /// Its subnet.
        actual: ipnet::Ipv4Net,
        /// The subnet asked for.
        expected: ipnet::Ipv4Net,
    },
    /// Docker answered without a field the hub needs.
    #[error("Docker's answer has no {what}")]
    Incomplete {
        /// The missing field.
        what: &'static str,
    },
    /// A workload handle of another kind was given to the Docker backend.
    #[error("{name:?} is a {kind}, not a container")]
    NotAContainer {
        /// The workload.
        name: String,
        /// Its kind.
        kind: hub_runtime::WorkloadKind,
    },
}

/// The status code of a Docker API error, if it is one.
pub(crate) fn status_of(e: &BollardError) -> Option<u16> {
    match e {
        BollardError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// The message of a Docker API error (empty for transport errors).
pub(crate) fn message_of(e: &BollardError) -> &str {
    match e {
        BollardError::DockerResponseServerError { message, .. } => message,
        BollardError::DockerStreamError { error } => error,
        _ => "",
    }
}

/// Whether Docker said the object does not exist.
pub(crate) fn is_not_found(e: &BollardError) -> bool {
    status_of(e) == Some(404)
}

/// Whether Docker said a name is already in use.
pub(crate) fn is_conflict(e: &BollardError) -> bool {
    status_of(e) == Some(409)
}

/// Whether Docker refused a static address because it is taken.
pub(crate) fn is_address_in_use(e: &BollardError) -> bool {
    message_of(e)
        .to_ascii_lowercase()
        .contains("address already in use")
}

/// Whether Docker refused a subnet because it overlaps one it already has.
pub(crate) fn is_pool_overlap(e: &BollardError) -> bool {
    let m = message_of(e).to_ascii_lowercase();
    m.contains("pool overlaps") || m.contains("overlaps with other")
}

/// Whether Docker said the image is not there.
pub(crate) fn is_no_such_image(e: &BollardError) -> bool {
    is_not_found(e) && message_of(e).to_ascii_lowercase().contains("no such image")
}

/// The kind of the first I/O error in the chain of `e`, which tells a stopped daemon from a
/// socket we may not use.
fn io_kind(e: &BollardError) -> Option<std::io::ErrorKind> {
    // `IOError` is transparent: its own source is the io error's source, not the io error.
    if let BollardError::IOError { err } = e {
        return Some(err.kind());
    }
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        cur = err.source();
    }
    None
}

/// Maps a transport failure (daemon down, socket refused) to its variant; gives the error
/// back unchanged for API errors and everything else.
pub(crate) fn transport_error(e: BollardError, doing: &str) -> Result<RuntimeError, BollardError> {
    if let BollardError::SocketNotFoundError(path) = &e {
        let hint = format!("{doing}: no socket at {path}; {START_HINT}");
        return Ok(RuntimeError::DaemonUnavailable {
            backend: BACKEND,
            hint,
            source: Some(Box::new(e)),
        });
    }
    match io_kind(&e) {
        Some(std::io::ErrorKind::PermissionDenied) => Ok(RuntimeError::PermissionDenied {
            backend: BACKEND,
            hint: format!("{doing}: {PERMISSION_HINT}"),
        }),
        Some(
            std::io::ErrorKind::NotFound
            | std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::BrokenPipe
            | std::io::ErrorKind::UnexpectedEof,
        ) => Ok(RuntimeError::DaemonUnavailable {
            backend: BACKEND,
            hint: format!("{doing}: {START_HINT}"),
            source: Some(Box::new(e)),
        }),
        _ if matches!(e, BollardError::RequestTimeoutError) => {
            Ok(RuntimeError::DaemonUnavailable {
                backend: BACKEND,
                hint: format!("{doing}: the request timed out; check that dockerd is healthy"),
                source: Some(Box::new(e)),
            })
        }
        _ => Err(e),
    }
}

/// The general mapping: transport failures get their own variant, the rest becomes
/// [`RuntimeError::Backend`] naming what we were doing.
pub(crate) fn backend(lab: &str, doing: impl Into<String>, e: BollardError) -> RuntimeError {
    let doing = doing.into();
    match transport_error(e, &format!("lab {lab:?}: {doing}")) {
        Ok(mapped) => mapped,
        Err(e) => RuntimeError::Backend {
            lab: lab.to_string(),
            context: doing,
            source: Box::new(e),
        },
    }
}

/// A [`RuntimeError::Backend`] for a condition found by this crate.
pub(crate) fn own(lab: &str, doing: impl Into<String>, e: DockerError) -> RuntimeError {
    RuntimeError::Backend {
        lab: lab.to_string(),
        context: doing.into(),
        source: Box::new(e),
    }
}

/// The error for a static address Docker refused.
pub(crate) fn address_in_use(lab: &str, workload: &str, address: Ipv4Addr) -> RuntimeError {
    RuntimeError::AddressInUse {
        lab: lab.to_string(),
        workload: workload.to_string(),
        address,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status_code: u16, message: &str) -> BollardError {
        BollardError::DockerResponseServerError {
            status_code,
            message: message.to_string(),
        }
    }

    #[test]
    fn refused_socket_says_start_dockerd() {
        let e = BollardError::IOError {
            err: std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        };
        let mapped = backend("demo", "creating container \"demo-web\"", e);
        let text = mapped.to_string();
        assert!(
            matches!(mapped, RuntimeError::DaemonUnavailable { .. }),
            "{mapped:?}"
        );
        assert!(text.contains("setup-host.sh"), "{text}");
        assert!(
            text.contains("demo-web") && text.contains("\"demo\""),
            "{text}"
        );
    }

    #[test]
    fn missing_socket_says_start_dockerd() {
        let e = BollardError::SocketNotFoundError("/var/run/docker.sock".into());
        let mapped = backend("demo", "connecting", e);
        assert!(
            matches!(mapped, RuntimeError::DaemonUnavailable { .. }),
            "{mapped:?}"
        );
        assert!(mapped.to_string().contains("/var/run/docker.sock"));
    }

    #[test]
    fn permission_denied_says_what_to_do() {
        let e = BollardError::IOError {
            err: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        };
        let mapped = backend("demo", "listing containers", e);
        let text = mapped.to_string();
        assert!(
            matches!(mapped, RuntimeError::PermissionDenied { .. }),
            "{mapped:?}"
        );
        assert!(text.contains("docker group"), "{text}");
    }

    #[test]
    fn api_errors_are_classified() {
        assert!(is_conflict(&api(
            409,
            "Conflict. The container name \"/x\" is already in use"
        )));
        assert!(is_address_in_use(&api(500, "Address already in use")));
        assert!(is_pool_overlap(&api(
            403,
            "Pool overlaps with other one on this address space"
        )));
        assert!(is_no_such_image(&api(404, "No such image: nope:latest")));
        assert!(!is_no_such_image(&api(404, "No such container: x")));
        assert!(!is_conflict(&api(500, "boom")));
    }

    #[test]
    fn other_api_errors_keep_their_source_and_context() {
        let mapped = backend("demo", "starting container \"demo-web\"", api(500, "boom"));
        assert!(matches!(mapped, RuntimeError::Backend { .. }));
        assert!(
            mapped
                .to_string()
                .contains("starting container \"demo-web\"")
        );
        let source = std::error::Error::source(&mapped)
            .map(|s| s.to_string())
            .unwrap_or_default();
        assert!(source.contains("boom"), "{source}");
    }
}
