//! DNS: authoritative for the lab domain and its reverse zone, forwarding or refusing the rest.

mod fast;
mod forward;
mod server;
mod zone;

pub use fast::{AnswerCache, PlainQuery, plain_query};
pub(crate) use server::{ZoneCell, serve_tcp, spawn_udp};
pub use zone::{DnsAnswer, TTL, Zone, encode_udp, handle, handle_bytes};

#[cfg(test)]
mod tests;
