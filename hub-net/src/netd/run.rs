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
use super::{LeaseFile, NetdConfig, NetdError};

/// How often the config file's modification time is checked.
const POLL: Duration = Duration::from_secs(1);

/// Runs netd with the config at `config_path` until SIGTERM or SIGINT, or a fatal socket
/// error. Records and reservations follow the file (SIGHUP or a new mtime).
pub async fn run(config_path: &Path) -> Result<(), NetdError> {
    let cfg = NetdConfig::load(config_path)?;
    let now = super::dhcp::now_secs();
    let mut dhcp = DhcpState::new(DhcpConfig::from_config(&cfg));
    match LeaseFile::read(&cfg.lease_file) {
        Ok(file) => dhcp.load(&file, now),
        Err(e) => warn!(error = %e, "lease file unreadable, starting with no leases"),
    }
    let leases = dhcp.len();
    let dhcp = Arc::new(Mutex::new(dhcp));
    let writer = LeaseWriter::spawn(dhcp.clone(), cfg.lease_file.clone());
    writer.changed(); // the file exists from the start

    let sock = bind_dhcp(cfg.dhcp_listen)?;
    let (fatal_tx, mut fatal_rx) = tokio::sync::mpsc::channel::<NetdError>(4);
    let names_changed = Arc::new(Notify::new());
    let io = Arc::new(DhcpIo {
        sock,
        state: dhcp.clone(),
        writer: writer.clone(),
        names: names_changed.clone(),
    });
    let prober = Prober::start(io.clone(), cfg.server_ip);
    {
        let fatal_tx = fatal_tx.clone();
        std::thread::Builder::new()
            .name("netd-dhcp".into())
            .spawn(move || {
                let err = serve_dhcp(io, prober);
                let _ = fatal_tx.blocking_send(err);
            })
            .map_err(|e| NetdError::Io {
                what: "start the DHCP thread".into(),
                source: e,
            })?;
    }

    let mut names = lease_names(&dhcp, now);
    let cell = Arc::new(ZoneCell::new(
        Zone::from_config(&cfg).with_leases(&cfg, &names),
        cfg.upstreams.clone(),
    ));
    let mut cfg = cfg;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let rt = tokio::runtime::Handle::current();
    let limits = Arc::new(ClientLimits::default());
    for addr in &cfg.dns_listen {
        spawn_udp(*addr, cell.clone(), limits.clone(), threads, &rt)?;
        let cell = cell.clone();
        let limits = limits.clone();
        let addr = *addr;
        let fatal_tx = fatal_tx.clone();
        // Bind before announcing readiness; errors end the server.
        tokio::spawn(async move {
            if let Err(e) = serve_tcp(addr, cell, limits).await {
                let _ = fatal_tx.send(e).await;
            }
        });
    }
    info!(
        config = %config_path.display(),
        server = %cfg.server_ip,
        range = %cfg.dhcp_range,
        domain = %cfg.domain,
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
                reload(config_path, &mut cfg, &dhcp, &cell, &writer, &names);
                seen = mtime(config_path);
            }
            _ = tick.tick() => {
                let m = mtime(config_path);
                if m != seen {
                    seen = m;
                    info!("config file changed: reloading");
                    reload(config_path, &mut cfg, &dhcp, &cell, &writer, &names);
                }
                expire(&dhcp, &writer, &names_changed);
            }
            _ = names_changed.notified() => {
                let now_names = lease_names(&dhcp, super::dhcp::now_secs());
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
    // One last write so nothing acknowledged is lost.
    let snapshot = dhcp
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .snapshot();
    if let Ok(bytes) = serde_json::to_vec(&snapshot) {
        let _ = super::write_atomic(&cfg.lease_file, &bytes);
    }
    Ok(())
}

fn mtime(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// The names of the live dynamic leases.
fn lease_names(dhcp: &Mutex<DhcpState>, now: u64) -> Vec<(String, Ipv4Addr)> {
    dhcp.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .dynamic_names(now)
}

/// Drops run-out offers and leases; wakes the name publisher when names may have changed.
fn expire(dhcp: &Mutex<DhcpState>, writer: &LeaseWriter, names_changed: &Notify) {
    let mut st = dhcp.lock().unwrap_or_else(PoisonError::into_inner);
    st.expire(super::dhcp::now_secs());
    if st.take_dirty() {
        writer.changed();
    }
    if st.take_names_dirty() {
        names_changed.notify_one();
    }
}

/// Applies a new config's records and reservations; an invalid file is logged and ignored.
fn reload(
    path: &Path,
    current: &mut NetdConfig,
    dhcp: &Mutex<DhcpState>,
    cell: &ZoneCell,
    writer: &LeaseWriter,
    names: &[(String, Ipv4Addr)],
) {
    let cfg = match NetdConfig::load(path) {
        Ok(c) => c,
        Err(e) => {
            warn!(error = %e, "new config refused, keeping the old one");
            return;
        }
    };
    {
        let mut st = dhcp.lock().unwrap_or_else(PoisonError::into_inner);
        st.set_config(DhcpConfig::from_config(&cfg));
        if st.take_dirty() {
            writer.changed();
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
