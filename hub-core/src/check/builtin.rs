//! The checks every lab gets without a word in its spec: each workload resolves each other
//! one's name through netd and reaches its address; each VM holds its lease; the VPN gateway
//! is up and listens on the port its clients are given.

use std::net::Ipv4Addr;
use std::path::Path;

use hub_net::netd::LeaseFile;
use hub_runtime::wait::Deadline;
use hub_runtime::{Attachment, WorkloadKind};

use super::{CheckResult, CheckSource};
use crate::lab::Lab;
use crate::spec::{CheckRule, Endpoint, Expect, Probe};

/// One check to run.
pub(super) enum Task {
    /// A probe from one end to the other.
    Probe(CheckRule, CheckSource),
    /// The VM holds its lease from netd (on each of its segments).
    Lease {
        /// The VM.
        vm: String,
        /// Its NIC on one segment, when it has several.
        nic: Option<Attachment>,
    },
    /// The VPN gateway is up.
    Gateway {
        /// Its interface.
        interface: String,
    },
}

/// The built-in checks of `lab`.
pub(super) fn tasks(lab: &Lab) -> Vec<Task> {
    let state = lab.state();
    let mut out = Vec::new();
    for Pair {
        from,
        to,
        segment,
        ip,
        netd,
    } in pairs(lab)
    {
        let on = segment
            .as_ref()
            .map(|s| format!(" on {s}"))
            .unwrap_or_default();
        if let Some(netd) = netd {
            let fqdn = match &segment {
                Some(s) => format!("{}.{s}.{}", to, state.domain),
                None => format!("{}.{}", to, state.domain),
            };
            out.push(Task::Probe(
                CheckRule {
                    name: format!("{from} resolves {to}{on}"),
                    from: Endpoint::Workload(from.clone()),
                    to: Endpoint::Address(netd),
                    probe: Probe::UdpDns(fqdn),
                    expect: Expect::Answer(ip),
                },
                CheckSource::Builtin,
            ));
        }
        out.push(Task::Probe(
            CheckRule {
                name: format!("{from} reaches {to}{on}"),
                from: Endpoint::Workload(from),
                to: if segment.is_some() {
                    Endpoint::Address(ip)
                } else {
                    Endpoint::Workload(to)
                },
                probe: Probe::Ping,
                expect: Expect::Success,
            },
            CheckSource::Builtin,
        ));
    }
    if state.netd.is_some() {
        for w in state
            .workloads
            .iter()
            .filter(|w| w.kind == WorkloadKind::Vm)
        {
            if w.interfaces.is_empty() {
                out.push(Task::Lease {
                    vm: w.name.clone(),
                    nic: None,
                });
            }
            for nic in &w.interfaces {
                out.push(Task::Lease {
                    vm: w.name.clone(),
                    nic: Some(nic.clone()),
                });
            }
        }
    }
    if let Some(vpn) = &state.vpn {
        out.push(Task::Gateway {
            interface: vpn.interface.clone(),
        });
    }
    out
}

/// Two workloads on a common segment.
struct Pair {
    from: String,
    to: String,
    /// The segment, when the lab has several.
    segment: Option<String>,
    /// `to`'s address there.
    ip: Ipv4Addr,
    /// netd's address there.
    netd: Option<Ipv4Addr>,
}

/// Every ordered pair of workloads that share a segment. In a lab of several segments only
/// workloads on a common segment are paired: reaching another segment goes through a router,
/// which is for the spec's own checks to state.
fn pairs(lab: &Lab) -> Vec<Pair> {
    let state = lab.state();
    let segmented = state.workloads.iter().any(|w| !w.interfaces.is_empty());
    let mut out = Vec::new();
    for from in &state.workloads {
        for to in &state.workloads {
            if from.name == to.name {
                continue;
            }
            if !segmented {
                if let (Some(_), Some(ip)) = (from.ip, to.ip) {
                    out.push(Pair {
                        from: from.name.clone(),
                        to: to.name.clone(),
                        segment: None,
                        ip,
                        netd: state.netd,
                    });
                }
                continue;
            }
            for a in &from.interfaces {
                let Some(b) = to.interfaces.iter().find(|b| b.segment == a.segment) else {
                    continue;
                };
                let netd = state.netd.and_then(|_| netd_on(lab, &a.segment));
                out.push(Pair {
                    from: from.name.clone(),
                    to: to.name.clone(),
                    segment: Some(a.segment.clone()),
                    ip: b.ip,
                    netd,
                });
            }
        }
    }
    out
}

/// Whether `addr` is netd's, on the lab network or on any segment: one server with one zone,
/// so the guest's resolver (netd on one of its segments) answers as netd at `addr` would.
pub(super) fn is_netd(lab: &Lab, addr: Ipv4Addr) -> bool {
    lab.state().netd.is_some()
        && (lab.state().netd == Some(addr)
            || lab
                .hub()
                .lab_spec()
                .networks
                .iter()
                .any(|s| netd_on(lab, &s.name) == Some(addr)))
}

/// netd's address on a segment: `.2` of its subnet.
fn netd_on(lab: &Lab, segment: &str) -> Option<Ipv4Addr> {
    let seg = lab
        .hub()
        .lab_spec()
        .networks
        .iter()
        .find(|s| s.name == segment)?;
    let net: ipnet::Ipv4Net = seg.subnet.trim().parse().ok()?;
    Some(Ipv4Addr::from(u32::from(net.network()) + 2))
}

/// Runs a check that is not a probe.
pub(super) async fn run_special(lab: &Lab, task: Task, wait: &Deadline) -> CheckResult {
    let blank = |name: String, from: &str, to: String, probe: &str| CheckResult {
        name,
        source: CheckSource::Builtin,
        from: from.to_string(),
        to,
        probe: probe.to_string(),
        expect: "ok".to_string(),
        passed: false,
        detail: String::new(),
        elapsed_ms: 0,
    };
    match task {
        Task::Probe(rule, _) => {
            let mut r = blank(rule.name, "", String::new(), "");
            r.detail = "a probe reached the wrong runner".into();
            r
        }
        Task::Lease { vm, nic } => {
            let on = nic
                .as_ref()
                .map(|n| format!(" on {}", n.segment))
                .unwrap_or_default();
            let mut r = blank(
                format!("{vm} holds its lease{on}"),
                "netd",
                vm.clone(),
                "lease",
            );
            (r.passed, r.detail) = lease(lab, &vm, nic.as_ref()).await;
            r
        }
        Task::Gateway { interface } => {
            let mut r = blank(
                "the VPN gateway is up".to_string(),
                "host",
                interface.clone(),
                "wireguard",
            );
            (r.passed, r.detail) = match gateway_elsewhere(lab, &interface).await {
                Some(found) => found,
                None => match wait.run(gateway(lab, &interface)).await {
                    Ok(out) => out,
                    Err(_) => (false, "no answer from wg in time".to_string()),
                },
            };
            r
        }
    }
}

/// netd's lease table (or, for a guest restored from a warm snapshot that has not renewed
/// yet, netd's reservation) gives the VM its address: on the lab network, or on the segment
/// of `nic` (each segment has its own lease file).
async fn lease(lab: &Lab, vm: &str, nic: Option<&Attachment>) -> (bool, String) {
    let Some(w) = lab.workload(vm) else {
        return (false, format!("the lab has no VM {vm:?}"));
    };
    let (Some(mac), Some(ip)) = (nic.map(|n| n.mac).or(w.mac), nic.map(|n| n.ip).or(w.ip)) else {
        return (false, format!("{vm} has no recorded MAC and address"));
    };
    // The first segment is the lab network: its leases are netd's own file.
    let segment = nic.map(|n| n.segment.as_str()).filter(|s| {
        lab.hub()
            .lab_spec()
            .networks
            .first()
            .is_some_and(|f| f.name != *s)
    });
    let dir = lab.dir().join("netd");
    let file = match segment {
        Some(s) => hub_net::netd::segment_lease_file(Path::new(hub_net::netd::LEASE_FILE), s),
        None => hub_net::netd::LEASE_FILE.into(),
    };
    // Read where netd keeps it: this machine's lab folder, or its volume on a remote primary.
    let file = file.to_string_lossy();
    let read = lab.netd_file(&file).await;
    let leases = match read.map(|b| b.map(|b| serde_json::from_slice::<LeaseFile>(&b))) {
        Ok(None) => Vec::new(),
        Ok(Some(Ok(f))) => f.leases,
        Ok(Some(Err(e))) => return (false, format!("netd's leases {file} are not JSON: {e}")),
        Err(e) => return (false, format!("cannot read netd's leases {file}: {e}")),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    if let Some(l) = leases.iter().find(|l| l.mac == mac) {
        return if l.ip != ip {
            (false, format!("netd leased {} to {mac}, not {ip}", l.ip))
        } else if l.expires <= now {
            (
                false,
                format!("its lease of {ip} ran out {} s ago", now - l.expires),
            )
        } else {
            (
                true,
                format!("lease {ip} to {mac}, {} s left", l.expires - now),
            )
        };
    }
    if w.boot.as_deref().is_some_and(|b| b.contains("restored")) {
        return match reservation(&dir, segment, mac) {
            Some(r) if r == ip => (
                true,
                format!(
                    "restored guest keeps its lease; netd reserves {ip} for {mac} and answers its renewal"
                ),
            ),
            Some(r) => (false, format!("netd reserves {r} for {mac}, not {ip}")),
            None => (
                false,
                format!("netd has neither a lease nor a reservation for {mac}"),
            ),
        };
    }
    (false, format!("netd has no lease for {mac} ({ip})"))
}

/// netd's reservation for `mac` on the lab network, or on `segment`.
fn reservation(
    netd_dir: &Path,
    segment: Option<&str>,
    mac: hub_runtime::MacAddr,
) -> Option<std::net::Ipv4Addr> {
    let config =
        hub_net::netd::NetdConfig::load(&netd_dir.join(hub_net::netd::CONFIG_FILE)).ok()?;
    let list = match segment {
        Some(s) => &config.segments.iter().find(|c| c.name == s)?.reservations,
        None => &config.reservations,
    };
    list.iter().find(|r| r.mac == mac).map(|r| r.ip)
}

/// A gateway that is no interface of this machine (a lab over several hosts: a container on
/// the primary) is up when its VPN service says it runs; `None` for a gateway of this machine.
async fn gateway_elsewhere(lab: &Lab, interface: &str) -> Option<(bool, String)> {
    let rts = lab.hub().runtimes().await.ok()?;
    let vpn = rts.vpn.as_ref()?;
    if vpn.interface_name(lab.name()).is_some() {
        return None;
    }
    Some(match vpn.is_up(lab.name()).await {
        Ok(Some(true)) => (true, format!("{interface} runs")),
        Ok(Some(false)) => (false, format!("{interface} does not run")),
        Ok(None) => (
            false,
            "the VPN service cannot tell whether its gateway runs".into(),
        ),
        Err(e) => (false, format!("cannot ask for the gateway: {e}")),
    })
}

/// The gateway's interface exists and WireGuard on it listens on the port the clients'
/// configs name.
async fn gateway(lab: &Lab, interface: &str) -> (bool, String) {
    let sys = Path::new("/sys/class/net").join(interface);
    let Ok(flags) = std::fs::read_to_string(sys.join("flags")) else {
        return (false, format!("interface {interface} does not exist"));
    };
    // IFF_UP: a WireGuard link reports operstate `unknown` even when up, so read its flags.
    let up =
        u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).is_ok_and(|f| f & 1 != 0);
    if !up {
        return (false, format!("interface {interface} is down"));
    }
    let port = match hub_runtime::process::Tool::new("wg")
        .args(["show", interface, "listen-port"])
        .run()
        .await
    {
        Ok(out) => out.trim().parse::<u16>().unwrap_or(0),
        Err(e) => return (false, format!("{interface} is no WireGuard interface: {e}")),
    };
    if port == 0 {
        return (false, format!("{interface} listens on no port"));
    }
    let told = lab
        .vpn_configs()
        .first()
        .and_then(|(_, path)| std::fs::read_to_string(path).ok())
        .and_then(|text| endpoint_port(&text));
    match told {
        Some(p) if p != port => (
            false,
            format!("{interface} listens on udp/{port}, but the client configs name port {p}"),
        ),
        Some(_) => (
            true,
            format!("{interface} up, listening on udp/{port}, as its clients are told"),
        ),
        None => (true, format!("{interface} up, listening on udp/{port}")),
    }
}

/// The port of the first `Endpoint = host:port` of a client config.
fn endpoint_port(config: &str) -> Option<u16> {
    config
        .lines()
        .filter_map(|l| l.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("Endpoint"))
        .and_then(|(_, v)| v.trim().rsplit_once(':'))
        .and_then(|(_, p)| p.parse().ok())
}
