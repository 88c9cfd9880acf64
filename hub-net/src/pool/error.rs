//! The pool's error type.

use std::net::Ipv4Addr;

use crate::AddrRange;

/// Why a pool operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// The address is already reserved or allocated.
    #[error("address {ip} is already in use in pool {range}")]
    AlreadyUsed {
        /// The address.
        ip: Ipv4Addr,
        /// The pool's range.
        range: AddrRange,
    },
    /// The address lies outside the pool's range.
    #[error("address {ip} is outside pool {range}")]
    OutOfRange {
        /// The address.
        ip: Ipv4Addr,
        /// The pool's range.
        range: AddrRange,
    },
    /// Every address of the range is in use.
    #[error("pool {range} is exhausted: all {size} addresses are in use")]
    Exhausted {
        /// The pool's range.
        range: AddrRange,
        /// Number of addresses in the range.
        size: u64,
    },
    /// A snapshot does not describe a valid pool.
    #[error("snapshot of pool {range} cannot be restored: {reason}")]
    BadSnapshot {
        /// The range the snapshot names.
        range: AddrRange,
        /// What is wrong with it.
        reason: String,
    },
}
