//! The gateway's network interface: kernel WireGuard when the host has it, else Debian's
//! userspace `wireguard-go`; its addresses and link state through `ip`, its WireGuard state
//! read back through `wg show` (never its private key).

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::net::Ipv4Addr;
use std::os::unix::fs::OpenOptionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ipnet::Ipv4Net;

use crate::cmd::Cmd;
use crate::error::WgError;
use crate::key::PublicKey;

/// Set to `1` to use `wireguard-go` even where the kernel has WireGuard.
pub const FORCE_USERSPACE_ENV: &str = "HUB_WG_USERSPACE";
/// How long `wireguard-go` may take to create its interface.
const USERSPACE_START: Duration = Duration::from_secs(10);

/// Which WireGuard implementation runs an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WgMode {
    /// The kernel module (`ip link add X type wireguard`).
    Kernel,
    /// Debian's `wireguard-go`, a daemon per interface.
    Userspace,
    /// The interface already existed and was reused.
    Existing,
}

/// Whether a network interface of that name exists on the host.
pub fn exists(interface: &str) -> bool {
    Path::new("/sys/class/net").join(interface).exists()
}

/// Creates a WireGuard interface: the kernel's when possible, else `wireguard-go` started
/// detached (own process group, stdin /dev/null, output to `log`) so that it never holds the
/// caller's terminal or pipes.
pub fn create(context: &str, interface: &str, log: &Path) -> Result<WgMode, WgError> {
    let force_userspace = std::env::var(FORCE_USERSPACE_ENV).is_ok_and(|v| v == "1");
    if !force_userspace {
        match Cmd::new(context, "ip")
            .args(["link", "add", interface, "type", "wireguard"])
            .run()
        {
            Ok(_) => return Ok(WgMode::Kernel),
            Err(WgError::Command { stderr, .. }) => {
                tracing::info!(interface, %stderr, "no kernel WireGuard here; using wireguard-go");
            }
            Err(other) => return Err(other),
        }
    }
    start_userspace(context, interface, log)?;
    Ok(WgMode::Userspace)
}

fn start_userspace(context: &str, interface: &str, log: &Path) -> Result<(), WgError> {
    let io = |source| WgError::Io {
        action: "could not open the wireguard-go log",
        path: log.to_path_buf(),
        source,
    };
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(log)
        .map_err(io)?;
    let err = out.try_clone().map_err(io)?;
    let command = format!("wireguard-go {interface}");
    let spawn_err = |source| WgError::Spawn {
        context: context.to_string(),
        command: command.clone(),
        source,
    };
    // wireguard-go forks its daemon and exits; the daemon inherits these descriptors.
    let status = Command::new("wireguard-go")
        .arg(interface)
        .env("WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD", "1")
        .env("LOG_LEVEL", "error")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .status()
        .map_err(spawn_err)?;
    let socket = Path::new("/var/run/wireguard").join(format!("{interface}.sock"));
    let started = Instant::now();
    while status.success() && started.elapsed() < USERSPACE_START {
        if exists(interface) && socket.exists() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let tail = std::fs::read_to_string(log).unwrap_or_default();
    let tail: Vec<&str> = tail.lines().rev().take(5).collect();
    let detail = if status.success() {
        format!("it did not appear within {USERSPACE_START:?}")
    } else {
        format!("it exited with {status}")
    };
    Err(WgError::Userspace {
        context: context.to_string(),
        detail: format!(
            "{detail}; last log lines: {}",
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        ),
        interface: interface.to_string(),
        log: log.to_path_buf(),
    })
}

/// Deletes an interface (wireguard-go exits when its interface goes); `Ok(false)` if it was
/// not there.
pub fn delete(context: &str, interface: &str) -> Result<bool, WgError> {
    if !exists(interface) {
        return Ok(false);
    }
    Cmd::new(context, "ip")
        .args(["link", "del", "dev", interface])
        .run()?;
    Ok(true)
}

/// Gives the interface exactly `address` as its IPv4 address and sets it up.
pub fn set_address_up(context: &str, interface: &str, address: Ipv4Net) -> Result<(), WgError> {
    let shown = Cmd::new(context, "ip")
        .args(["-4", "-o", "addr", "show", "dev", interface])
        .run()?;
    let wanted = address.to_string();
    for current in shown.lines().filter_map(|l| {
        let mut words = l.split_whitespace();
        words.find(|w| *w == "inet")?;
        words.next()
    }) {
        if current != wanted {
            Cmd::new(context, "ip")
                .args(["addr", "del", current, "dev", interface])
                .run()?;
        }
    }
    Cmd::new(context, "ip")
        .args(["addr", "replace", &wanted, "dev", interface])
        .run()?;
    set_up(context, interface)
}

/// Sets the interface up. WireGuard (kernel and wireguard-go alike) binds its UDP port only
/// while the interface is up, so a port taken by someone else is refused by `wg setconf` /
/// `wg set` only on an interface that is already up; on a down one the failure would come
/// later, silently, when it goes up.
pub fn set_up(context: &str, interface: &str) -> Result<(), WgError> {
    Cmd::new(context, "ip")
        .args(["link", "set", "dev", interface, "up"])
        .run()
        .map(drop)
}

/// A peer as the interface has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerState {
    /// Its allowed IPs as `wg` prints them.
    pub allowed_ips: Vec<String>,
}

/// The interface's WireGuard state, as far as the gateway compares it with the spec.
#[derive(Clone, Debug, Default)]
pub struct Dump {
    /// The interface's public key, if it has a private key.
    pub public_key: Option<PublicKey>,
    /// Its listen port.
    pub listen_port: u16,
    /// Its peers.
    pub peers: BTreeMap<PublicKey, PeerState>,
}

/// Reads the interface's public key, listen port and peers with `wg show IF public-key`,
/// `listen-port` and `allowed-ips`, not `wg show IF dump`: the dump's first field is the
/// private key, which thus never passes through the hub's memory or pipes.
pub fn dump(context: &str, interface: &str) -> Result<Dump, WgError> {
    let show = |what: &str| {
        Cmd::new(context, "wg")
            .args(["show", interface, what])
            .run()
    };
    Ok(Dump {
        // `(none)` when the interface has no key yet.
        public_key: show("public-key")?.trim().parse().ok(),
        listen_port: show("listen-port")?.trim().parse().unwrap_or(0),
        peers: parse_allowed_ips(&show("allowed-ips")?),
    })
}

/// Parses `wg show IF allowed-ips`: a line per peer, its public key, a tab, and its allowed
/// IPs separated by spaces (`(none)` when it has none). Lines that do not parse are skipped.
fn parse_allowed_ips(text: &str) -> BTreeMap<PublicKey, PeerState> {
    text.lines()
        .filter_map(|line| {
            let (key, ips) = line.split_once('\t').unwrap_or((line, ""));
            let key = key.trim().parse::<PublicKey>().ok()?;
            let allowed_ips = ips
                .split_whitespace()
                .filter(|ip| *ip != "(none)")
                .map(str::to_string)
                .collect();
            Some((key, PeerState { allowed_ips }))
        })
        .collect()
}

/// The host's first global IPv4 address that is not on a bridge, veth, Docker, libvirt or
/// hub interface (`ip -4 -o addr show scope global`), for clients' `Endpoint`.
pub fn host_ipv4(context: &str) -> Result<Option<Ipv4Addr>, WgError> {
    let text = Cmd::new(context, "ip")
        .args(["-4", "-o", "addr", "show", "scope", "global"])
        .run()?;
    Ok(first_host_ipv4(&text))
}

fn first_host_ipv4(text: &str) -> Option<Ipv4Addr> {
    const SKIP: [&str; 6] = ["docker", "br-", "veth", "virbr", "hubwg-", "lo"];
    text.lines().find_map(|line| {
        let words: Vec<&str> = line.split_whitespace().collect();
        let name = words.get(1)?;
        if SKIP.iter().any(|p| name.starts_with(p)) {
            return None;
        }
        let inet = words.iter().position(|w| *w == "inet")?;
        let net: Ipv4Net = words.get(inet + 1)?.parse().ok()?;
        (!net.addr().is_loopback()).then_some(net.addr())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_wg_show_allowed_ips() {
        let a = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";
        let b = "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=";
        let text = format!(
            "{b}\t10.214.0.2/32 10.214.0.9/32\n{a}\t(none)\nnot a key\tx\n\n{a}x\t1.2.3.4/32\n"
        );
        let peers = parse_allowed_ips(&text);
        assert_eq!(peers.len(), 2, "{peers:?}");
        let pb = &peers[&b.parse().unwrap()];
        assert_eq!(pb.allowed_ips, ["10.214.0.2/32", "10.214.0.9/32"]);
        assert!(peers[&a.parse().unwrap()].allowed_ips.is_empty());
        assert!(parse_allowed_ips("").is_empty());
    }

    #[test]
    fn picks_the_first_real_host_address() {
        let text = "5: docker0    inet 172.17.0.1/16 brd 172.17.255.255 scope global docker0\\ x\n\
                    6: br-0123456789ab    inet 10.1.0.1/24 scope global br-0123456789ab\\ x\n\
                    4: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\\ x\n";
        assert_eq!(first_host_ipv4(text), Some(Ipv4Addr::new(192, 0, 2, 2)));
        assert_eq!(
            first_host_ipv4("5: docker0 inet 172.17.0.1/16 scope global\n"),
            None
        );
    }
}
