//! DHCPv4: reservations by MAC, a dynamic range for unknown clients, leases in a file.

mod handler;
mod hostname;
mod leases;
mod probe;
mod server;

pub use handler::{Destination, Reply, handle, handle_bytes, sanitize};
pub use hostname::{fqdn_option_label, sanitize_label};
pub use leases::{DECLINE_SECS, DhcpConfig, DhcpState, Entry, OFFER_SECS, PROBED_SECS};
pub(crate) use probe::Prober;
pub use probe::{MAX_PROBES, PROBE_WAIT, arp_request, arp_sender};
pub(crate) use server::{DhcpIo, LeaseWriter, bind_dhcp, now_secs, serve_dhcp};

#[cfg(test)]
mod tests;
