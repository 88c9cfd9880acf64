//! DHCPv4: reservations by MAC, a dynamic range for unknown clients, leases in a file.

mod handler;
mod leases;
mod server;

pub use handler::{Destination, Reply, handle, handle_bytes, sanitize};
pub use leases::{DECLINE_SECS, DhcpConfig, DhcpState, Entry, OFFER_SECS};
pub(crate) use server::{LeaseWriter, bind_dhcp, now_secs, serve_dhcp};

#[cfg(test)]
mod tests;
