//! The DHCP socket loop and the lease-file writer (threads: blocking I/O, no async needed).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use socket2::{Domain, Protocol, Socket, Type};
use tracing::{debug, warn};

use super::handler::{Destination, handle_bytes};
use super::leases::DhcpState;
use super::probe::Prober;
use crate::netd::stats::Counters;
use crate::netd::{MacAddr, NetdError, write_atomic};

/// Least time between two writes of the lease file: a burst of changes is written once.
const WRITE_GAP: Duration = Duration::from_millis(50);

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Binds the DHCP socket with SO_BROADCAST and SO_REUSEADDR; with `device`, to that
/// interface alone (SO_BINDTODEVICE): it then receives only that interface's requests, and
/// its broadcast replies leave by it instead of by the default route's interface.
pub(crate) fn bind_dhcp(addr: SocketAddr, device: Option<&str>) -> Result<UdpSocket, NetdError> {
    let bind = |e| NetdError::Bind {
        what: "DHCP",
        addr,
        source: e,
    };
    let sock = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(bind)?;
    sock.set_reuse_address(true).map_err(bind)?;
    sock.set_broadcast(true).map_err(bind)?;
    if let Some(dev) = device {
        sock.bind_device(Some(dev.as_bytes())).map_err(bind)?;
    }
    // Room for bursts (a DISCOVER flood, perfdhcp).
    let _ = sock.set_recv_buffer_size(4 << 20);
    let _ = sock.set_send_buffer_size(4 << 20);
    sock.bind(&addr.into()).map_err(bind)?;
    Ok(sock.into())
}

/// Wakes the lease writer after a change; changes that come while it writes are coalesced.
#[derive(Clone)]
pub(crate) struct LeaseWriter {
    tx: SyncSender<()>,
}

impl LeaseWriter {
    /// Starts the writer thread for `path`.
    pub(crate) fn spawn(state: Arc<Mutex<DhcpState>>, path: PathBuf) -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("netd-leases".into())
            .spawn(move || write_loop(&state, &path, &rx))
            .map(|_| ())
            .unwrap_or_else(|e| warn!(error = %e, "could not start the lease writer thread"));
        LeaseWriter { tx }
    }

    /// Asks for a write (never blocks).
    pub(crate) fn changed(&self) {
        match self.tx.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) => {}
            Err(TrySendError::Disconnected(())) => warn!("lease writer has stopped"),
        }
    }
}

fn write_loop(state: &Mutex<DhcpState>, path: &Path, rx: &Receiver<()>) {
    while rx.recv().is_ok() {
        let started = std::time::Instant::now();
        let snapshot = state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .snapshot();
        match serde_json::to_vec(&snapshot) {
            Ok(bytes) => {
                if let Err(e) = write_atomic(path, &bytes) {
                    warn!(file = %path.display(), error = %e, "could not write the lease file");
                }
            }
            Err(e) => warn!(error = %e, "could not serialize the leases"),
        }
        // A large table under a flood of changes must not keep a core busy writing: wait at
        // least three times as long as the write took.
        std::thread::sleep(WRITE_GAP.max(started.elapsed() * 3));
    }
}

/// What the DHCP loop and the ARP prober share: the socket to answer on, the state, and who
/// to wake after a change.
pub(crate) struct DhcpIo {
    /// The DHCP socket.
    pub(crate) sock: UdpSocket,
    /// The lease table.
    pub(crate) state: Arc<Mutex<DhcpState>>,
    /// Writes the lease file after a change.
    pub(crate) writer: LeaseWriter,
    /// Woken when a dynamic client's DNS name may have changed.
    pub(crate) names: Arc<tokio::sync::Notify>,
    /// netd's counts (every message received is one).
    pub(crate) counters: Arc<Counters>,
}

/// An answer to send, and the fresh offer in it that wants an ARP probe first.
pub(crate) struct Answer {
    pub(crate) bytes: Vec<u8>,
    pub(crate) dest: Destination,
    pub(crate) probe: Option<(MacAddr, Ipv4Addr)>,
}

impl DhcpIo {
    /// Handles one request under the state's lock.
    pub(crate) fn answer(&self, packet: &[u8]) -> Option<Answer> {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let answer = handle_bytes(&mut st, packet, now_secs());
        let probe = st.take_probe_wanted();
        if st.take_dirty() {
            self.writer.changed();
        }
        if st.take_names_dirty() {
            self.names.notify_one();
        }
        let (bytes, dest) = answer?;
        Some(Answer { bytes, dest, probe })
    }

    /// Sends an answer where it goes.
    pub(crate) fn send(&self, bytes: &[u8], dest: Destination) {
        let to = match dest {
            Destination::Broadcast => SocketAddrV4::new(Ipv4Addr::BROADCAST, 68),
            Destination::Unicast(ip) => SocketAddrV4::new(ip, 68),
            Destination::Relay(ip) => SocketAddrV4::new(ip, 67),
        };
        if let Err(e) = self.sock.send_to(bytes, to) {
            debug!(%to, error = %e, "could not send a DHCP reply");
        }
    }
}

/// Serves DHCP forever (returns only on a socket error that cannot be retried). A fresh
/// offer goes to `prober` first when there is one and it has room; else it is sent at once.
pub(crate) fn serve_dhcp(io: Arc<DhcpIo>, prober: Option<Prober>) -> NetdError {
    let mut buf = vec![0u8; 1500];
    loop {
        let (n, from) = match io.sock.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return NetdError::Io {
                    what: "receive a DHCP packet".into(),
                    source: e,
                };
            }
        };
        io.counters.dhcp();
        let Some(packet) = buf.get(..n) else { continue };
        let Some(answer) = io.answer(packet) else {
            debug!(%from, len = n, "DHCP packet ignored");
            continue;
        };
        let answer = match (&prober, answer.probe) {
            (Some(p), Some(_)) => match p.check_first(packet, answer) {
                Ok(()) => continue,
                Err(answer) => answer,
            },
            _ => answer,
        };
        io.send(&answer.bytes, answer.dest);
    }
}
