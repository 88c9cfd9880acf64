//! DNS: authoritative for the lab domain and its reverse zone, forwarding or refusing the rest.

mod fast;
mod forward;
pub mod limits;
mod server;
mod tcp;
mod zone;

pub use fast::{AnswerCache, PlainQuery, plain_query};
pub use limits::ClientLimits;
pub(crate) use server::{ZoneCell, spawn_udp};
pub(crate) use tcp::serve_tcp;
pub use zone::{
    DnsAnswer, TTL, Zone, encode_udp, handle, handle_bytes, handle_bytes_from, handle_from,
    server_failure,
};

#[cfg(test)]
mod tests;
