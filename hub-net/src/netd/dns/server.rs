//! The DNS UDP socket: blocking threads (the hot path), a relay task for forwarded queries.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::fast::{AnswerCache, plain_query};
use super::forward::relay;
use super::limits::ClientLimits;
use super::zone::{Zone, handle_bytes_from};
use crate::netd::NetdError;
use crate::netd::stats::Counters;

/// The current zone, swapped on reload; readers keep a cached copy and look at the
/// generation counter only.
pub(crate) struct ZoneCell {
    generation: AtomicU64,
    zone: RwLock<Arc<Zone>>,
    upstreams: RwLock<Arc<Vec<SocketAddr>>>,
}

impl ZoneCell {
    pub(crate) fn new(zone: Zone, upstreams: Vec<SocketAddr>) -> Self {
        ZoneCell {
            generation: AtomicU64::new(1),
            zone: RwLock::new(Arc::new(zone)),
            upstreams: RwLock::new(Arc::new(upstreams)),
        }
    }

    pub(crate) fn set(&self, zone: Zone, upstreams: Vec<SocketAddr>) {
        *self.zone.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(zone);
        *self
            .upstreams
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(upstreams);
        self.generation.fetch_add(1, Ordering::Release);
    }

    pub(crate) fn current(&self) -> Arc<Zone> {
        self.zone
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn upstreams(&self) -> Arc<Vec<SocketAddr>> {
        self.upstreams
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Refreshes `cached` when the zone changed; returns the generation.
    fn refresh(&self, cached: &mut (u64, Arc<Zone>)) -> u64 {
        let g = self.generation.load(Ordering::Acquire);
        if g != cached.0 {
            *cached = (g, self.current());
        }
        g
    }
}

/// A query to relay upstream, and where its answer goes.
struct Forwarded {
    query: Vec<u8>,
    client: SocketAddr,
    sock: Arc<UdpSocket>,
}

/// Binds the DNS UDP socket and starts `threads` threads answering on it. Queries to
/// forward go to a relay task on the tokio runtime. Work past the answer cache is bounded
/// per client by `limits`. Every packet received is counted in `counters`.
pub(crate) fn spawn_udp(
    addr: SocketAddr,
    cell: Arc<ZoneCell>,
    limits: Arc<ClientLimits>,
    counters: Arc<Counters>,
    threads: usize,
    rt: &tokio::runtime::Handle,
) -> Result<(), NetdError> {
    let bind = |e| NetdError::Bind {
        what: "DNS/UDP",
        addr,
        source: e,
    };
    let domain = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let sock = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP)).map_err(bind)?;
    sock.set_reuse_address(true).map_err(bind)?;
    let _ = sock.set_recv_buffer_size(8 << 20);
    let _ = sock.set_send_buffer_size(8 << 20);
    sock.bind(&addr.into()).map_err(bind)?;
    let sock: Arc<UdpSocket> = Arc::new(sock.into());

    let (tx, mut rx) = mpsc::channel::<Forwarded>(1024);
    let relay_cell = cell.clone();
    let relay_limits = limits.clone();
    // Relays in flight are bounded, per client and in all: a flood of outside names towards
    // a dead upstream must not pile up sockets and tasks, nor crowd out other clients.
    rt.spawn(async move {
        while let Some(f) = rx.recv().await {
            let Some(permit) = relay_limits.forward(f.client.ip()) else {
                debug!(client = %f.client, "too many queries being forwarded, query dropped");
                continue;
            };
            let upstreams = relay_cell.upstreams();
            tokio::spawn(async move {
                if let Some(answer) = relay(&upstreams, &f.query).await
                    && let Err(e) = f.sock.send_to(&answer, f.client)
                {
                    debug!(client = %f.client, error = %e, "could not send a forwarded answer");
                }
                drop(permit);
            });
        }
    });

    for i in 0..threads.max(1) {
        let sock = sock.clone();
        let cell = cell.clone();
        let tx = tx.clone();
        let limits = limits.clone();
        let counters = counters.clone();
        std::thread::Builder::new()
            .name(format!("netd-dns-{i}"))
            .spawn(move || udp_loop(&sock, &cell, &limits, &counters, &tx))
            .map_err(|e| NetdError::Io {
                what: "start a DNS thread".into(),
                source: e,
            })?;
    }
    Ok(())
}

fn udp_loop(
    sock: &Arc<UdpSocket>,
    cell: &ZoneCell,
    limits: &ClientLimits,
    counters: &Counters,
    tx: &mpsc::Sender<Forwarded>,
) {
    let mut buf = vec![0u8; 4096];
    let mut out = Vec::with_capacity(512);
    let mut cached = (0, cell.current());
    let mut answers = AnswerCache::default();
    loop {
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e) => {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    warn!(error = %e, "DNS receive failed");
                    std::thread::sleep(Duration::from_millis(10));
                }
                continue;
            }
        };
        counters.dns_udp();
        let Some(packet) = buf.get(..n) else { continue };
        answers.check_generation(cell.refresh(&mut cached));
        // Answers that depend on the asker's segment are not cached.
        let plain = plain_query(packet).filter(|_| !cached.1.is_split());
        if let Some(q) = &plain
            && answers.answer(q, packet, &mut out)
        {
            if let Err(e) = sock.send_to(&out, from) {
                debug!(%from, error = %e, "could not send a DNS answer");
            }
            continue;
        }
        if !limits.allow_slow(from.ip(), Instant::now()) {
            debug!(%from, "client over its query budget, query dropped");
            continue;
        }
        match handle_bytes_from(&cached.1, packet, Some(from.ip())) {
            Ok(Some(answer)) => {
                if let Some(q) = &plain {
                    answers.store(q, packet, &answer);
                }
                if let Err(e) = sock.send_to(&answer, from) {
                    debug!(%from, error = %e, "could not send a DNS answer");
                }
            }
            Ok(None) => debug!(%from, len = n, "DNS packet ignored"),
            Err(()) => {
                let f = Forwarded {
                    query: packet.to_vec(),
                    client: from,
                    sock: sock.clone(),
                };
                if tx.try_send(f).is_err() {
                    debug!(%from, "forwarding queue full, query dropped");
                }
            }
        }
    }
}
