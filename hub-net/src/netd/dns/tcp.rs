//! DNS over TCP (RFC 7766 framing: a two-byte length before each message), answered from the
//! same handler as UDP, with connections bounded per client.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tracing::debug;

use super::forward::relay;
use super::limits::ClientLimits;
use super::server::ZoneCell;
use super::zone::{DnsAnswer, handle_from, server_failure};
use crate::netd::NetdError;
use crate::netd::stats::Counters;

/// How long a connection may sit idle, or take to send one message.
const IDLE: Duration = Duration::from_secs(10);
/// Most queries answered on one connection before it is closed.
const QUERIES_PER_CONNECTION: usize = 1_000;

/// Serves DNS over TCP on `addr` until the listener fails; every query is counted in
/// `counters`.
pub(crate) async fn serve_tcp(
    addr: SocketAddr,
    cell: Arc<ZoneCell>,
    limits: Arc<ClientLimits>,
    counters: Arc<Counters>,
) -> Result<(), NetdError> {
    let listener = TcpListener::bind(addr).await.map_err(|e| NetdError::Bind {
        what: "DNS/TCP",
        addr,
        source: e,
    })?;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and the like: wait a little, keep serving.
                debug!(error = %e, "DNS/TCP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(slot) = limits.tcp(peer.ip()) else {
            debug!(%peer, "too many DNS/TCP connections from this client (or in all), closed");
            continue;
        };
        let cell = cell.clone();
        let limits = limits.clone();
        let counters = counters.clone();
        tokio::spawn(async move {
            connection(stream, peer, &cell, &limits, &counters).await;
            drop(slot);
        });
    }
}

/// Answers the queries of one connection, in order, until it closes, idles or misbehaves.
async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    cell: &ZoneCell,
    limits: &Arc<ClientLimits>,
    counters: &Counters,
) {
    let mut buf = vec![0u8; usize::from(u16::MAX)];
    for _ in 0..QUERIES_PER_CONNECTION {
        let mut len = [0u8; 2];
        if !matches!(timeout(IDLE, stream.read_exact(&mut len)).await, Ok(Ok(_))) {
            return;
        }
        let Some(query) = buf.get_mut(..usize::from(u16::from_be_bytes(len))) else {
            return;
        };
        if query.is_empty() || !matches!(timeout(IDLE, stream.read_exact(query)).await, Ok(Ok(_))) {
            return;
        }
        counters.dns_tcp();
        let Some(answer) = answer(query, peer, cell, limits).await else {
            debug!(%peer, "DNS/TCP query not answered, connection closed");
            return;
        };
        let Ok(n) = u16::try_from(answer.len()) else {
            return;
        };
        let mut out = Vec::with_capacity(answer.len() + 2);
        out.extend_from_slice(&n.to_be_bytes());
        out.extend_from_slice(&answer);
        if !matches!(timeout(IDLE, stream.write_all(&out)).await, Ok(Ok(()))) {
            return;
        }
    }
}

/// The answer to one query, or `None` (garbage, a client over its budget: the connection
/// is closed).
async fn answer(
    query: &[u8],
    peer: SocketAddr,
    cell: &ZoneCell,
    limits: &Arc<ClientLimits>,
) -> Option<Vec<u8>> {
    if !limits.allow_slow(peer.ip(), Instant::now()) {
        return None;
    }
    let req = Message::from_vec(query).ok()?;
    let zone = cell.current();
    match handle_from(&zone, &req, Some(peer.ip())) {
        DnsAnswer::Reply(m) => m.to_vec().ok(),
        DnsAnswer::Drop => None,
        DnsAnswer::Forward => {
            let relayed = match limits.forward(peer.ip()) {
                Some(_slot) => relay(&cell.upstreams(), query).await,
                None => None,
            };
            relayed.or_else(|| server_failure(&zone, &req).to_vec().ok())
        }
    }
}
