//! netd: the lab's own DHCP and DNS server, run as `hub netd --config FILE`.
//!
//! The config and lease types are always compiled (the hub writes the one and reads the
//! other); the server itself is behind the `netd` feature, so only the hub binary builds it.
//!
//! ```
//! use hub_net::AddrRange;
//! use hub_net::netd::{DnsRecord, NetdConfig, Reservation};
//!
//! let mut cfg = NetdConfig::new(
//!     "10.77.0.0/24".parse().unwrap(),
//!     AddrRange::new("10.77.0.200".parse().unwrap(), "10.77.0.254".parse().unwrap()),
//!     "demo.lab",
//! );
//! cfg.records.push(DnsRecord { name: "web".into(), ip: "10.77.0.30".parse().unwrap() });
//! cfg.reservations.push(Reservation {
//!     mac: "52:54:00:00:00:31".parse().unwrap(),
//!     ip: "10.77.0.31".parse().unwrap(),
//!     hostname: Some("vm1".into()),
//!     router: Default::default(),
//! });
//! assert!(cfg.validate().is_ok());
//! // A dynamic range that holds a reservation is refused.
//! cfg.reservations[0].ip = "10.77.0.210".parse().unwrap();
//! assert!(cfg.validate().is_err());
//! ```
//!
//! Packet handling is pure ([`dhcp::handle`], [`dns::handle`]): a request and the state in,
//! an answer or nothing out. The loops around them only do I/O.

mod config;
mod error;
mod stats;

#[cfg(feature = "netd")]
#[cfg_attr(docsrs, doc(cfg(feature = "netd")))]
pub mod dhcp;
#[cfg(feature = "netd")]
#[cfg_attr(docsrs, doc(cfg(feature = "netd")))]
pub mod dns;
#[cfg(feature = "netd")]
#[cfg_attr(docsrs, doc(cfg(feature = "netd")))]
mod run;

pub use config::{
    CONFIG_FILE, ClientRouter, DnsRecord, LEASE_FILE, Lease, LeaseFile, MacAddr, NetdConfig,
    Reservation, SegmentConfig, segment_lease_file, write_atomic,
};
pub use error::NetdError;
#[cfg(feature = "netd")]
#[cfg_attr(docsrs, doc(cfg(feature = "netd")))]
pub use run::run;
pub use stats::{NetdStats, STATS_FILE, stats_file};
