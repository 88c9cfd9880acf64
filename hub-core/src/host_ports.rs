//! Who holds a port on this host: the probe `up` asks before anything starts, so that a
//! port the lab wants (a container's published port, the VPN gateway's UDP port) that
//! something else holds is refused with the holder's name instead of failing half-way.

use std::collections::HashSet;
use std::fmt;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, UdpSocket};

use hub_runtime::Protocol;

/// What holds a port.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PortHolder {
    /// A WireGuard interface listens on it (a lab's gateway is `hubwg-LAB`).
    WireGuard {
        /// The interface.
        interface: String,
    },
    /// A process has a socket bound to it.
    Process {
        /// Its pid.
        pid: i32,
        /// Its name (`/proc/PID/comm`).
        name: String,
        /// When it is Docker's port proxy: the container address it forwards to.
        forwards_to: Option<Ipv4Addr>,
    },
    /// The port is taken, and what holds it could not be found (another network namespace,
    /// or no permission to read other processes' sockets).
    Unknown,
    /// The address cannot be bound on this host at all (it is not one of the host's).
    Unavailable {
        /// Why, as the system said it.
        reason: String,
    },
}

impl fmt::Display for PortHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortHolder::WireGuard { interface } => {
                write!(f, "the WireGuard interface {interface}")
            }
            PortHolder::Process {
                pid,
                name,
                forwards_to: Some(ip),
            } => write!(
                f,
                "process {name} (pid {pid}), publishing a port of the container at {ip}"
            ),
            PortHolder::Process { pid, name, .. } => write!(f, "process {name} (pid {pid})"),
            PortHolder::Unknown => f.write_str("a socket of another program"),
            PortHolder::Unavailable { reason } => write!(f, "nothing can bind it here: {reason}"),
        }
    }
}

/// Asks the host who holds a port. [`HostPorts`] asks the kernel; [`crate::testing`] has a
/// fake that says what a test tells it.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait PortProbe: Send + Sync {
    /// Who holds `port` (`proto`) on `ip` (`0.0.0.0`: any address), or `None` when it is free.
    fn holder(&self, proto: Protocol, ip: Ipv4Addr, port: u16) -> Option<PortHolder>;
}

/// The host's own answer: the port is free when a socket can be bound to it; when it cannot,
/// the holder is looked up among the WireGuard interfaces (`wg show all listen-port`) and the
/// processes' sockets (`/proc`).
#[derive(Debug, Clone, Copy, Default)]
pub struct HostPorts;

impl PortProbe for HostPorts {
    fn holder(&self, proto: Protocol, ip: Ipv4Addr, port: u16) -> Option<PortHolder> {
        let addr = SocketAddr::V4(SocketAddrV4::new(ip, port));
        let bound = match proto {
            Protocol::Tcp => TcpListener::bind(addr).map(drop),
            Protocol::Udp => UdpSocket::bind(addr).map(drop),
        };
        match bound {
            Ok(()) => None,
            Err(e) if e.kind() == ErrorKind::AddrInUse => Some(find_holder(proto, port)),
            Err(e) if e.kind() == ErrorKind::AddrNotAvailable => Some(PortHolder::Unavailable {
                reason: e.to_string(),
            }),
            // Not allowed to bind (a low port without root): the engine that binds it later
            // may be; say nothing.
            Err(_) => None,
        }
    }
}

fn find_holder(proto: Protocol, port: u16) -> PortHolder {
    if proto == Protocol::Udp
        && let Some(interface) = wireguard_on(port)
    {
        return PortHolder::WireGuard { interface };
    }
    process_on(proto, port).unwrap_or(PortHolder::Unknown)
}

/// The WireGuard interface listening on `port`, as `wg show all listen-port` says (none when
/// `wg` is not installed).
fn wireguard_on(port: u16) -> Option<String> {
    let out = hub_runtime::process::Tool::new("wg")
        .args(["show", "all", "listen-port"])
        .timeout(std::time::Duration::from_secs(10))
        .run_blocking()
        .ok()?;
    parse_wg_listen_ports(&out)
        .into_iter()
        .find_map(|(i, p)| (p == port).then_some(i))
}

/// `wg show all listen-port` output: one `INTERFACE<TAB>PORT` line per interface.
pub(crate) fn parse_wg_listen_ports(out: &str) -> Vec<(String, u16)> {
    out.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let i = f.next()?;
            let p = f.next()?.parse().ok()?;
            Some((i.to_string(), p))
        })
        .collect()
}

/// The process with a socket bound to `port`, found through `/proc/net` and the processes'
/// file descriptors.
fn process_on(proto: Protocol, port: u16) -> Option<PortHolder> {
    let inodes: HashSet<u64> = match proto {
        Protocol::Tcp => procfs::net::tcp()
            .into_iter()
            .chain(procfs::net::tcp6())
            .flatten()
            .filter(|e| e.local_address.port() == port && e.state == procfs::net::TcpState::Listen)
            .map(|e| e.inode)
            .collect(),
        Protocol::Udp => procfs::net::udp()
            .into_iter()
            .chain(procfs::net::udp6())
            .flatten()
            .filter(|e| e.local_address.port() == port)
            .map(|e| e.inode)
            .collect(),
    };
    if inodes.is_empty() {
        return None;
    }
    for p in procfs::process::all_processes().ok()?.flatten() {
        let Ok(fds) = p.fd() else { continue };
        let holds = fds.flatten().any(
            |fd| matches!(fd.target, procfs::process::FDTarget::Socket(i) if inodes.contains(&i)),
        );
        if !holds {
            continue;
        }
        let name = p.stat().map(|s| s.comm).unwrap_or_default();
        let forwards_to = p.cmdline().ok().and_then(|c| docker_proxy_target(&c));
        return Some(PortHolder::Process {
            pid: p.pid,
            name,
            forwards_to,
        });
    }
    None
}

/// The container address a `docker-proxy` command line forwards to (`-container-ip IP`).
pub(crate) fn docker_proxy_target(cmdline: &[String]) -> Option<Ipv4Addr> {
    let is_proxy = cmdline
        .first()
        .is_some_and(|a| a.rsplit('/').next() == Some("docker-proxy"));
    if !is_proxy {
        return None;
    }
    cmdline
        .windows(2)
        .find(|w| w[0] == "-container-ip")
        .and_then(|w| w[1].parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wg_listen_ports_are_read_per_interface() {
        let out = "hubwg-a\t51820\nhubwg-b\t51821\nbroken\n";
        assert_eq!(
            parse_wg_listen_ports(out),
            vec![("hubwg-a".into(), 51820), ("hubwg-b".into(), 51821)]
        );
    }

    #[test]
    fn docker_proxy_names_its_container() {
        let args = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(
            docker_proxy_target(&args(
                "/usr/sbin/docker-proxy -proto tcp -host-ip 0.0.0.0 -host-port 8080 \
                 -container-ip 172.19.9.10 -container-port 80"
            )),
            Some(Ipv4Addr::new(172, 19, 9, 10))
        );
        assert_eq!(docker_proxy_target(&args("nc -container-ip 1.2.3.4")), None);
    }

    #[test]
    fn a_bound_port_is_found_with_its_process_and_a_free_one_is_free() {
        let socket = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = socket.local_addr().unwrap().port();
        let holder = HostPorts.holder(Protocol::Tcp, Ipv4Addr::LOCALHOST, port);
        match holder {
            Some(PortHolder::Process { pid, .. }) => {
                assert_eq!(pid, i32::try_from(std::process::id()).unwrap())
            }
            other => panic!("expected this process, got {other:?}"),
        }
        drop(socket);
        assert_eq!(
            HostPorts.holder(Protocol::Tcp, Ipv4Addr::LOCALHOST, port),
            None
        );
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        assert!(matches!(
            HostPorts.holder(Protocol::Udp, Ipv4Addr::UNSPECIFIED, port),
            Some(PortHolder::Process { .. })
        ));
    }
}
