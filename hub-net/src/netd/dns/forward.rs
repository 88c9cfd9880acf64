//! A small UDP relay to the upstream resolvers, for names outside the lab.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;
use tracing::debug;

/// How long one upstream gets to answer.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);

/// Sends the raw query to each upstream in turn and returns the first answer whose id
/// matches the query's.
pub(crate) async fn relay(upstreams: &[SocketAddr], query: &[u8]) -> Option<Vec<u8>> {
    let id = query.get(..2)?;
    for up in upstreams {
        let local: SocketAddr = if up.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            ([0u16; 8], 0).into()
        };
        let attempt = async {
            let sock = UdpSocket::bind(local).await.ok()?;
            sock.connect(up).await.ok()?;
            sock.send(query).await.ok()?;
            let mut buf = vec![0u8; 4096];
            loop {
                let n = sock.recv(&mut buf).await.ok()?;
                if buf.get(..2) == Some(id) {
                    buf.truncate(n);
                    return Some(buf);
                }
            }
        };
        match tokio::time::timeout(UPSTREAM_TIMEOUT, attempt).await {
            Ok(Some(answer)) => return Some(answer),
            _ => debug!(upstream = %up, "upstream did not answer"),
        }
    }
    None
}
