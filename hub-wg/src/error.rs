//! The crate's one error type.

use std::path::PathBuf;

/// Result of a hub-wg operation.
pub type WgResult<T> = Result<T, WgError>;

/// What went wrong with a key, a config or the gateway. Messages name the lab, peer,
/// interface, file or command concerned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WgError {
    /// A key is not 32 bytes of standard base64 (44 characters ending in `=`).
    #[error("{what} is not a valid WireGuard key: {reason}")]
    InvalidKey {
        /// Which key (`public key`, `private key of peer "x"`, a file name).
        what: String,
        /// Why it was refused.
        reason: String,
    },
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed")]
    Randomness(#[source] rand::rand_core::OsError),
    /// A wg-quick config could not be parsed.
    #[error("WireGuard config, line {line}: {reason}")]
    Parse {
        /// 1-based line number.
        line: usize,
        /// What is wrong on that line.
        reason: String,
    },
    /// A config is complete syntactically but misses something required.
    #[error("WireGuard config: {0}")]
    Incomplete(String),
    /// A name (lab or peer) cannot be used.
    #[error("{what} name {name:?} is not usable: {reason}")]
    InvalidName {
        /// `lab` or `peer`.
        what: &'static str,
        /// The name.
        name: String,
        /// Why.
        reason: String,
    },
    /// The gateway spec is inconsistent (addresses, subnets, duplicates).
    #[error("lab {lab:?}: WireGuard gateway: {reason}")]
    InvalidSpec {
        /// The lab.
        lab: String,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("{action} {path}")]
    Io {
        /// What was being done (`could not write`, `could not read`...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A program could not be started at all.
    #[error("{context}: could not run `{command}` (is it installed?)")]
    Spawn {
        /// The lab, interface or peer concerned.
        context: String,
        /// The command line.
        command: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A program ran and failed.
    #[error("{context}: `{command}` failed ({status}): {stderr}")]
    Command {
        /// The lab, interface or peer concerned.
        context: String,
        /// The command line (secrets are never on it; they go through stdin).
        command: String,
        /// Its exit status.
        status: String,
        /// What it printed on stderr, trimmed.
        stderr: String,
    },
    /// Docker's `DOCKER-USER` chain is missing, so forwarding cannot be allowed.
    #[error(
        "lab {lab:?}: the iptables chain DOCKER-USER does not exist; is Docker running? \
         (the gateway forwards into the lab's Docker bridge through it)"
    )]
    NoDockerUserChain {
        /// The lab.
        lab: String,
    },
    /// The lab bridge does not exist on the host.
    #[error("lab {lab:?}: bridge {bridge:?} does not exist on this host")]
    NoBridge {
        /// The lab.
        lab: String,
        /// The bridge named in the spec.
        bridge: String,
    },
    /// No endpoint was given and the host has no non-loopback IPv4 address to offer.
    #[error(
        "lab {lab:?}: no VPN endpoint in the spec and no non-loopback IPv4 address on this host; \
         set the endpoint explicitly"
    )]
    NoEndpoint {
        /// The lab.
        lab: String,
    },
    /// The gateway interface does not exist (for operations that need it up).
    #[error("lab {lab:?}: WireGuard interface {interface} does not exist; run up first")]
    NoInterface {
        /// The lab.
        lab: String,
        /// The derived interface name.
        interface: String,
    },
    /// wireguard-go did not bring the interface up.
    #[error("{context}: wireguard-go did not create interface {interface}: {detail} (log: {log})")]
    Userspace {
        /// The lab and interface concerned.
        context: String,
        /// What went wrong, with the end of the log.
        detail: String,
        /// The interface.
        interface: String,
        /// wireguard-go's log file.
        log: PathBuf,
    },
    /// The QR code could not be made (the config is too long for a QR code).
    #[error("the config does not fit in a QR code")]
    Qr(#[source] qrcode::types::QrError),
}
