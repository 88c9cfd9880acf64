//! DHCPv4: reservations by MAC, a dynamic range for unknown clients, leases in a file.

mod handler;
mod hostname;
mod leases;
mod server;

pub use handler::{Destination, Reply, handle, handle_bytes, sanitize};
pub use hostname::{fqdn_option_label, sanitize_label};
pub use leases::{DECLINE_SECS, DhcpConfig, DhcpState, Entry, OFFER_SECS};
pub(crate) use server::{LeaseWriter, bind_dhcp, now_secs, serve_dhcp};

#[cfg(test)]
mod tests;
