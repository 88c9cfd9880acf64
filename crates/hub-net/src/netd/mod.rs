//! netd: the lab's own DHCP and DNS server, run as `hub netd --config FILE`.
//!
//! The config and lease types are always compiled (the hub writes the one and reads the
//! other); the server itself is behind the `netd` feature, so only the hub binary builds it.
//!
//! Packet handling is pure ([`dhcp::handle`], [`dns::handle`]): a request and the state in,
//! an answer or nothing out. The loops around them only do I/O.

mod config;
mod error;

#[cfg(feature = "netd")]
pub mod dhcp;
#[cfg(feature = "netd")]
pub mod dns;
#[cfg(feature = "netd")]
mod run;

pub use config::{
    CONFIG_FILE, DnsRecord, LEASE_FILE, Lease, LeaseFile, MacAddr, NetdConfig, Reservation,
    write_atomic,
};
pub use error::NetdError;
#[cfg(feature = "netd")]
pub use run::run;
