//! The checks of a spec against the host it is about to run on, made by `up` before anything
//! starts: the host ports the containers publish, and the VPN gateway's UDP port (checked
//! when the spec gives it, chosen when it does not). Mistakes are spec errors, with file,
//! line and column, like every other.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use hub_runtime::{PortMapping, Protocol};

use super::error::{SpecErrorKind, SpecErrors};
use super::resolve::ResolvedLab;
use super::types::{DEFAULT_LISTEN_PORT, LabSpec};
use super::validate::Ctx;
use crate::host_ports::{PortHolder, PortProbe};

/// How many ports from [`DEFAULT_LISTEN_PORT`] up are tried for a VPN gateway without a port.
pub const VPN_PORT_SEARCH: u16 = 1000;

/// What `up` knows of the host beside the spec.
pub struct HostView<'a> {
    /// Who holds a port.
    pub probe: &'a dyn PortProbe,
    /// The lab's own gateway interface (a port it holds is the lab's own).
    pub own_interface: Option<String>,
    /// The VPN port this lab chose before and keeps.
    pub kept_vpn_port: Option<u16>,
    /// The VPN ports other labs of the same state folder keep, with their lab's name: never
    /// chosen for this lab, so that their client configs stay valid while they are down.
    pub others_kept: BTreeMap<u16, String>,
    /// Labs by their gateway interface, to name the lab that holds a port.
    pub labs_by_interface: BTreeMap<String, String>,
}

/// What the host check decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostChoices {
    /// The VPN gateway's port (given by the spec, kept, or chosen), when the lab has a VPN.
    pub vpn_port: Option<u16>,
    /// True when the port was chosen by the hub (so the lab keeps it).
    pub vpn_port_chosen: bool,
}

impl LabSpec {
    /// Checks the spec against the host: every host port a container publishes must be free
    /// (or published by this lab's own container already), and the VPN port the spec gives
    /// must be free (or this lab's own gateway's). When the spec gives no VPN port, the one
    /// the lab kept is taken if free, else the first free one from 51820 that no other lab
    /// keeps. Every mistake is reported, with where it is written and what holds the port.
    pub fn check_host(
        &self,
        lab: &ResolvedLab,
        host: &HostView<'_>,
    ) -> Result<HostChoices, SpecErrors> {
        let mut cx = Ctx::new(self);
        check_container_ports(&mut cx, lab, host);
        let mut choices = HostChoices {
            vpn_port: None,
            vpn_port_chosen: false,
        };
        // A gateway on another machine holds no port of this one; its engine refuses a port
        // taken there when it publishes it, naming it.
        let remote_primary = self.hosts.first().is_some_and(|h| {
            h.endpoint(|p| self.resolve_path(p))
                .is_ok_and(|ep| !ep.is_local())
        });
        let own = Ipv4Addr::from(u32::from(lab.subnet.network()).saturating_add(3));
        let held = |port: u16| {
            (!remote_primary)
                .then(|| foreign(host, port, own))
                .flatten()
        };
        if let Some(vpn) = &lab.vpn {
            match vpn.listen_port {
                Some(port) => {
                    if let Some(h) = held(port) {
                        cx.err(
                            SpecErrorKind::PortInUse,
                            "wireguard.listen_port",
                            format!(
                                "UDP port {port} is taken by {}; choose another listen_port, or \
                                 leave it out and the lab gets a free one",
                                describe(host, &h)
                            ),
                        );
                    }
                    choices.vpn_port = Some(port);
                }
                None => match choose_vpn_port(host, &held) {
                    Some(port) => {
                        choices.vpn_port = Some(port);
                        choices.vpn_port_chosen = true;
                    }
                    None => cx.err(
                        SpecErrorKind::Exhausted,
                        "wireguard",
                        format!(
                            "no free UDP port is left from {DEFAULT_LISTEN_PORT} to {}; give \
                             wireguard.listen_port",
                            DEFAULT_LISTEN_PORT + VPN_PORT_SEARCH - 1
                        ),
                    ),
                },
            }
        }
        SpecErrors { errors: cx.errors }.into_result()?;
        Ok(choices)
    }
}

/// What holds UDP `port`, unless it is free or the lab's own gateway: its interface, or
/// Docker's proxy to its container at `own` (the lab subnet's `.3`, over several hosts).
fn foreign(host: &HostView<'_>, port: u16, own: Ipv4Addr) -> Option<PortHolder> {
    match host
        .probe
        .holder(Protocol::Udp, Ipv4Addr::UNSPECIFIED, port)?
    {
        PortHolder::WireGuard { interface } if Some(&interface) == host.own_interface.as_ref() => {
            None
        }
        PortHolder::Process {
            forwards_to: Some(ip),
            ..
        } if ip == own => None,
        h => Some(h),
    }
}

/// The port kept for the lab when it is free, else the first free one from 51820 that no
/// other lab keeps.
fn choose_vpn_port(host: &HostView<'_>, held: &dyn Fn(u16) -> Option<PortHolder>) -> Option<u16> {
    if let Some(kept) = host.kept_vpn_port {
        match held(kept) {
            None => return Some(kept),
            Some(h) => tracing::warn!(
                port = kept,
                holder = %describe(host, &h),
                "the lab's VPN port is taken now; choosing another (its client configs change)"
            ),
        }
    }
    (DEFAULT_LISTEN_PORT..DEFAULT_LISTEN_PORT + VPN_PORT_SEARCH)
        .filter(|p| !host.others_kept.contains_key(p))
        .find(|p| held(*p).is_none())
}

/// The holder, with the lab it belongs to when it is another lab's gateway.
fn describe(host: &HostView<'_>, h: &PortHolder) -> String {
    match h {
        PortHolder::WireGuard { interface } => match host.labs_by_interface.get(interface) {
            Some(lab) => format!("lab \"{lab}\"'s WireGuard gateway (interface {interface})"),
            None => format!("{h} (another lab's gateway, or another WireGuard tunnel)"),
        },
        h => h.to_string(),
    }
}

fn check_container_ports(cx: &mut Ctx<'_>, lab: &ResolvedLab, host: &HostView<'_>) {
    let mut seen: BTreeSet<(Protocol, u16)> = BTreeSet::new();
    let spec = cx.spec;
    for (i, c) in spec.containers.iter().enumerate() {
        let path = spec.origin.container_path(i);
        for (j, written) in c.ports.iter().enumerate() {
            let Ok(m) = written.parse::<PortMapping>() else {
                continue;
            };
            let Some(port) = m.host_port else { continue };
            // Two mappings of this spec on one port are validation's to report.
            if !seen.insert((m.protocol, port)) {
                continue;
            }
            let holder = match host.probe.holder(m.protocol, m.bind_ip(), port) {
                None => continue,
                Some(PortHolder::Process {
                    forwards_to: Some(ip),
                    ..
                }) if lab.subnet.contains(&ip) => continue, // this lab's container already
                Some(h) => h,
            };
            cx.err(
                SpecErrorKind::PortInUse,
                format!("{path}.ports[{j}]"),
                format!(
                    "host port {port}/{} on {} is taken by {}; publish the container on \
                     another host port",
                    m.protocol,
                    m.bind_ip(),
                    describe(host, &holder)
                ),
            );
        }
    }
}
