//! `run`: load the config, open the sockets, serve, reload on SIGHUP or a changed file.

use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Notify;
use tracing::{info, warn};

use super::dhcp::{DhcpConfig, DhcpIo, DhcpState, LeaseWriter, Prober, bind_dhcp, serve_dhcp};
use super::dns::{ClientLimits, Zone, ZoneCell, serve_tcp, spawn_udp};
use super::stats::{Counters, write_if_changed};
use super::{LeaseFile, NetdConfig, NetdError, NetdStats, stats_file};

/// How often the config file's modification time is checked.
const POLL: Duration = Duration::from_secs(1);

/// Runs netd with the config at `config_path` until SIGTERM or SIGINT, or a fatal socket
/// error. Records and reservations follow the file (SIGHUP or a new mtime).
pub async fn run(config_path: &Path) -> Result<(), NetdError> {
    let cfg = NetdConfig::load(config_path)?;
    let now = super::dhcp::now_secs();
    let segmented = !cfg.segments.is_empty();
    let names_changed = Arc::new(Notify::new());
    let (fatal_tx, mut fatal_rx) = tokio::sync::mpsc::channel::<NetdError>(4);
    let stats_path = stats_file(&cfg.lease_file);
    let mut written = NetdStats::read(&stats_path).unwrap_or_else(|e| {
        warn!(error = %e, "counts file unreadable, counting from zero");
        NetdStats::default()
    });
    let counters = Arc::new(Counters::from(written));
    let mut pools = Vec::new();
    for (i, (segment, view)) in dhcp_views(&cfg).into_iter().enumerate() {
        let mut state = DhcpState::new(DhcpConfig::from_config(&view));
        match LeaseFile::read(&view.lease_file) {
            Ok(file) => state.load(&file, now),
            Err(e) => warn!(error = %e, "lease file unreadable, starting with no leases"),
        }
        let state = Arc::new(Mutex::new(state));
        let writer = LeaseWriter::spawn(state.clone(), view.lease_file.clone());
        writer.changed(); // the file exists from the start
        // The lab network's socket is bound before netd says it serves (a bind error ends it
        // at once); another segment's interface may be connected a moment after netd starts,
        // so its thread waits for it.
        let first = if i == 0 {
            Some(dhcp_socket(&view, segmented, Duration::ZERO)?)
        } else {
            None
        };
        let io = DhcpParts {
            state: state.clone(),
            writer: writer.clone(),
            names: names_changed.clone(),
            counters: counters.clone(),
        };
        let fatal_tx = fatal_tx.clone();
        let thread = if segment.is_empty() {
            "netd-dhcp".to_string()
        } else {
            format!("netd-dhcp-{segment}")
        };
        let v = view.clone();
        std::thread::Builder::new()
            .name(thread)
            .spawn(move || {
                let sock = match first {
                    Some(sock) => sock,
                    None => match dhcp_socket(&v, segmented, IFACE_WAIT) {
                        Ok(sock) => sock,
                        Err(e) => {
                            let _ = fatal_tx.blocking_send(e);
                            return;
                        }
                    },
                };
                let io = Arc::new(io.with_socket(sock));
                let prober = Prober::start(io.clone(), v.server_ip);
                let err = serve_dhcp(io, prober);
                let _ = fatal_tx.blocking_send(err);
            })
            .map_err(|e| NetdError::Io {
                what: "start the DHCP thread".into(),
                source: e,
            })?;
        pools.push(Pool {
            segment,
            state,
            writer,
            lease_file: view.lease_file.clone(),
        });
    }

    let mut names = lease_names(&pools, now);
    let cell = Arc::new(ZoneCell::new(
        Zone::from_config(&cfg).with_leases(&cfg, &names),
        cfg.upstreams.clone(),
    ));
    let mut cfg = cfg;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let rt = tokio::runtime::Handle::current();
    let limits = Arc::new(ClientLimits::default());
    for addr in &cfg.dns_listen {
        spawn_udp(
            *addr,
            cell.clone(),
            limits.clone(),
            counters.clone(),
            threads,
            &rt,
        )?;
        let cell = cell.clone();
        let limits = limits.clone();
        let counters = counters.clone();
        let addr = *addr;
        let fatal_tx = fatal_tx.clone();
        // Bind before announcing readiness; errors end the server.
        tokio::spawn(async move {
            if let Err(e) = serve_tcp(addr, cell, limits, counters).await {
                let _ = fatal_tx.send(e).await;
            }
        });
    }
    let leases: usize = pools.iter().map(|p| lock(&p.state).len()).sum();
    info!(
        config = %config_path.display(),
        server = %cfg.server_ip,
        range = %cfg.dhcp_range,
        domain = %cfg.domain,
        segments = pools.len(),
        leases,
        "netd serving DHCP on {} and DNS on {:?}",
        cfg.dhcp_listen,
        cfg.dns_listen
    );

    let sig = |k| {
        signal(k).map_err(|e| NetdError::Io {
            what: "install a signal handler".into(),
            source: e,
        })
    };
    let mut hup = sig(SignalKind::hangup())?;
    let mut term = sig(SignalKind::terminate())?;
    let mut int = sig(SignalKind::interrupt())?;
    let mut tick = tokio::time::interval(POLL);
    let mut seen = mtime(config_path);
    loop {
        tokio::select! {
            _ = hup.recv() => {
                info!("SIGHUP: reloading");
                reload(config_path, &mut cfg, &pools, &cell, &names);
                seen = mtime(config_path);
            }
            _ = tick.tick() => {
                let m = mtime(config_path);
                if m != seen {
                    seen = m;
                    info!("config file changed: reloading");
                    reload(config_path, &mut cfg, &pools, &cell, &names);
                }
                expire(&pools, &names_changed);
                write_if_changed(&counters, &stats_path, &mut written);
            }
            _ = names_changed.notified() => {
                let now_names = lease_names(&pools, super::dhcp::now_secs());
                if now_names != names {
                    names = now_names;
                    info!(names = names.len(), "names of dynamic leases changed");
                    cell.set(Zone::from_config(&cfg).with_leases(&cfg, &names), cfg.upstreams.clone());
                }
            }
            _ = term.recv() => { info!("SIGTERM: stopping"); break; }
            _ = int.recv() => { info!("SIGINT: stopping"); break; }
            Some(e) = fatal_rx.recv() => return Err(e),
        }
    }
    // One last write so nothing acknowledged (nor counted) is lost.
    write_if_changed(&counters, &stats_path, &mut written);
    for p in &pools {
        let snapshot = lock(&p.state).snapshot();
        if let Ok(bytes) = serde_json::to_vec(&snapshot) {
            let _ = super::write_atomic(&p.lease_file, &bytes);
        }
    }
    Ok(())
}

/// How long a segment's DHCP thread waits for netd's interface on it to appear (the hub
/// connects it right after start; past this netd stops with an error and Docker restarts it,
/// with every network attached from the start).
const IFACE_WAIT: Duration = Duration::from_secs(60);
/// How often the interfaces are listed while waiting.
const IFACE_POLL: Duration = Duration::from_millis(100);

/// One segment's DHCP: its lease table and the writer of its lease file.
struct Pool {
    /// The segment's name; empty for the lab network.
    segment: String,
    state: Arc<Mutex<DhcpState>>,
    writer: LeaseWriter,
    lease_file: std::path::PathBuf,
}

/// A pool's parts before its socket is open.
struct DhcpParts {
    state: Arc<Mutex<DhcpState>>,
    writer: LeaseWriter,
    names: Arc<Notify>,
    counters: Arc<Counters>,
}

impl DhcpParts {
    fn with_socket(self, sock: std::net::UdpSocket) -> DhcpIo {
        DhcpIo {
            sock,
            state: self.state,
            writer: self.writer,
            names: self.names,
            counters: self.counters,
        }
    }
}

fn lock(state: &Mutex<DhcpState>) -> std::sync::MutexGuard<'_, DhcpState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What DHCP serves, segment by segment: the lab network (name empty) first, then every
/// other segment that has a DHCP range, each as a config of its own (its subnet, address,
/// router, range, reservations and lease file).
fn dhcp_views(cfg: &NetdConfig) -> Vec<(String, NetdConfig)> {
    std::iter::once((String::new(), cfg.clone()))
        .chain(
            cfg.segments
                .iter()
                .filter_map(|s| cfg.segment_view(s).map(|v| (s.name.clone(), v))),
        )
        .collect()
}

/// The DHCP socket of one segment. A lab of one network listens on `dhcp_listen` as it is;
/// a lab of several binds each segment's socket to netd's interface on it (the one holding
/// its `server_ip`, waited for up to `wait`): a socket on `0.0.0.0` would get every
/// segment's broadcasts and send its broadcast replies out of the default route's interface.
fn dhcp_socket(
    view: &NetdConfig,
    segmented: bool,
    wait: Duration,
) -> Result<std::net::UdpSocket, NetdError> {
    if !segmented {
        return bind_dhcp(view.dhcp_listen, None);
    }
    let started = std::time::Instant::now();
    let device = loop {
        if let Some(name) = interface_holding(view.server_ip) {
            break name;
        }
        if started.elapsed() >= wait {
            return Err(NetdError::Io {
                what: format!("find the interface holding {}", view.server_ip),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            });
        }
        std::thread::sleep(IFACE_POLL);
    };
    info!(interface = %device, server = %view.server_ip, range = %view.dhcp_range, "DHCP on this interface");
    bind_dhcp(view.dhcp_listen, Some(&device))
}

/// The name of the interface that holds `ip`, if any.
fn interface_holding(ip: Ipv4Addr) -> Option<String> {
    pnet_datalink::interfaces()
        .into_iter()
        .find(|i| i.ips.iter().any(|n| n.ip() == std::net::IpAddr::V4(ip)))
        .map(|i| i.name)
}

fn mtime(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// The names of the live dynamic leases, on every segment.
fn lease_names(pools: &[Pool], now: u64) -> Vec<(String, Ipv4Addr)> {
    pools
        .iter()
        .flat_map(|p| lock(&p.state).dynamic_names(now))
        .collect()
}

/// Drops run-out offers and leases; wakes the name publisher when names may have changed.
fn expire(pools: &[Pool], names_changed: &Notify) {
    for p in pools {
        let mut st = lock(&p.state);
        st.expire(super::dhcp::now_secs());
        if st.take_dirty() {
            p.writer.changed();
        }
        if st.take_names_dirty() {
            names_changed.notify_one();
        }
    }
}

/// Applies a new config's records and reservations; an invalid file is logged and ignored.
/// Segments are fixed at start (netd is replaced when its networks change): a segment the
/// new file adds gets no DHCP until then, and is logged.
fn reload(
    path: &Path,
    current: &mut NetdConfig,
    pools: &[Pool],
    cell: &ZoneCell,
    names: &[(String, Ipv4Addr)],
) {
    let cfg = match NetdConfig::load(path) {
        Ok(c) => c,
        Err(e) => {
            warn!(error = %e, "new config refused, keeping the old one");
            return;
        }
    };
    for (segment, view) in dhcp_views(&cfg) {
        let Some(pool) = pools.iter().find(|p| p.segment == segment) else {
            warn!(%segment, "a segment netd did not start with: no DHCP on it until netd restarts");
            continue;
        };
        let mut st = lock(&pool.state);
        st.set_config(DhcpConfig::from_config(&view));
        if st.take_dirty() {
            pool.writer.changed();
        }
    }
    let zone = Zone::from_config(&cfg).with_leases(&cfg, names);
    info!(
        names = zone.len(),
        reservations = cfg.reservations.len(),
        "reloaded"
    );
    cell.set(zone, cfg.upstreams.clone());
    *current = cfg;
}
