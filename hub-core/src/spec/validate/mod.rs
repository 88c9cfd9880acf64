//! Semantic checks of a spec: addresses against the address plan, names, sizes, images,
//! dependencies and the VPN. Every mistake is collected; nothing stops at the first.
//!
//! One file per section of the spec: `header.rs` (the lab's own fields), `workloads.rs`
//! (containers and VMs), `vpn.rs` (WireGuard), `checks.rs` (the lab's own checks); this file
//! holds what they share.

mod checks;
mod header;
mod hosts;
mod ports_volumes;
mod segments;
mod vm_files;
mod vpn;
mod workloads;

use checks::check_checks;
use header::check_header;
use hosts::check_hosts;
use ports_volumes::{check_ports, check_volumes};
use segments::{check_joins, check_segments};
pub(crate) use segments::{joins, segment_refs};
use vm_files::check_vm_files;
use vpn::check_vpn;
pub(crate) use vpn::vpn_server;
use workloads::{
    check_containers, check_dependencies, check_static_addresses, check_vms, check_workload_names,
};

use std::net::Ipv4Addr;

use hub_net::{AddrRange, AddressPlan, PlanOverrides};
use ipnet::Ipv4Net;

use super::error::{SpecError, SpecErrorKind, SpecErrors};
use super::types::LabSpec;

/// Which parts of a spec parsed, when some did not (then checks that need the missing parts
/// are skipped rather than reporting follow-on mistakes).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Partial {
    pub(crate) header_ok: bool,
    pub(crate) workloads_ok: bool,
    pub(crate) vpn_ok: bool,
}

impl Partial {
    const COMPLETE: Partial = Partial {
        header_ok: true,
        workloads_ok: true,
        vpn_ok: true,
    };
}

/// Parses a CIDR subnet.
pub(crate) fn parse_subnet(s: &str) -> Result<Ipv4Net, String> {
    s.trim()
        .parse::<Ipv4Net>()
        .map_err(|_| format!("\"{s}\" is not a subnet in CIDR form (like 172.19.5.0/24)"))
}

/// Parses an IPv4 address.
pub(crate) fn parse_ip(s: &str) -> Result<Ipv4Addr, String> {
    s.trim()
        .parse::<Ipv4Addr>()
        .map_err(|_| format!("\"{s}\" is not an IPv4 address"))
}

/// Parses `FIRST-LAST`.
pub(crate) fn parse_range(s: &str) -> Result<AddrRange, String> {
    let bad = || {
        format!(
            "\"{s}\" is not an address range; write it as FIRST-LAST, like 172.19.5.200-172.19.5.254"
        )
    };
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let a = a.trim().parse::<Ipv4Addr>().map_err(|_| bad())?;
    let b = b.trim().parse::<Ipv4Addr>().map_err(|_| bad())?;
    Ok(AddrRange::new(a, b))
}

/// Parses a peer address, `10.10.0.2` or `10.10.0.2/24`.
pub(crate) fn parse_peer_addr(s: &str) -> Result<(Ipv4Addr, Option<u8>), String> {
    let bad = || format!("\"{s}\" is not an IPv4 address (like 10.10.0.2 or 10.10.0.2/24)");
    match s.split_once('/') {
        None => Ok((s.trim().parse().map_err(|_| bad())?, None)),
        Some((ip, len)) => {
            let ip = ip.trim().parse().map_err(|_| bad())?;
            let len: u8 = len.trim().parse().map_err(|_| bad())?;
            if len > 32 {
                return Err(bad());
            }
            Ok((ip, Some(len)))
        }
    }
}

/// The address plan of a subnet and an optional DHCP range, if both are right.
pub(crate) fn plan_for(subnet: &str, dhcp_range: Option<&str>) -> Option<AddressPlan> {
    let subnet = parse_subnet(subnet).ok()?;
    let dhcp_range = match dhcp_range {
        Some(r) => Some(parse_range(r).ok()?),
        None => None,
    };
    AddressPlan::with_overrides(
        subnet,
        PlanOverrides {
            dhcp_range,
            static_range: None,
        },
    )
    .ok()
}

/// The VPN subnet's smallest and largest prefix.
pub(crate) const VPN_PREFIXES: std::ops::RangeInclusive<u8> = 8..=30;

/// One workload seen by the checks: where it is written and what it asks for.
pub(crate) struct WorkloadRef<'a> {
    pub(crate) path: String,
    pub(crate) name: &'a str,
    pub(crate) ip: Option<&'a str>,
    pub(crate) depends_on: &'a [String],
    /// The networks it joins as written (empty: the first segment only).
    pub(crate) networks: &'a [super::segments::NetworkJoin],
}

/// Containers then VMs, in spec order.
pub(crate) fn workloads(spec: &LabSpec) -> Vec<WorkloadRef<'_>> {
    let c = spec
        .containers
        .iter()
        .enumerate()
        .map(|(i, c)| WorkloadRef {
            path: spec.origin.container_path(i),
            name: &c.name,
            ip: c.ip.as_deref(),
            depends_on: &c.depends_on,
            networks: &c.networks.0,
        });
    let v = spec.vms.iter().enumerate().map(|(i, v)| WorkloadRef {
        path: spec.origin.vm_path(i),
        name: &v.name,
        ip: v.ip.as_deref(),
        depends_on: &v.depends_on,
        networks: &v.networks.0,
    });
    c.chain(v).collect()
}

/// One VPN peer seen by the checks.
pub(crate) struct PeerRef<'a> {
    pub(crate) name_path: String,
    pub(crate) addr_path: String,
    pub(crate) name: &'a str,
    pub(crate) address: Option<&'a str>,
}

/// The seed's `peer_name` peer first, then `peers`.
pub(crate) fn peers(vpn: &super::types::Vpn) -> Vec<PeerRef<'_>> {
    let mut out = Vec::new();
    if let Some(name) = &vpn.peer_name {
        out.push(PeerRef {
            name_path: "wireguard.peer_name".into(),
            addr_path: "wireguard.address".into(),
            name,
            address: vpn.address.as_deref(),
        });
    }
    for (i, p) in vpn.peers.iter().enumerate() {
        out.push(PeerRef {
            name_path: format!("wireguard.peers[{i}].name"),
            addr_path: format!("wireguard.peers[{i}].address"),
            name: &p.name,
            address: p.address.as_deref(),
        });
    }
    out
}

pub(crate) struct Ctx<'a> {
    pub(crate) spec: &'a LabSpec,
    pub(crate) errors: Vec<SpecError>,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(spec: &'a LabSpec) -> Self {
        Ctx {
            spec,
            errors: Vec::new(),
        }
    }
    pub(crate) fn err(
        &mut self,
        kind: SpecErrorKind,
        path: impl Into<String>,
        message: impl Into<String>,
    ) {
        let field = path.into();
        let (line, column) = match &self.spec.origin.file {
            Some(_) => {
                let loc = self.spec.origin.locations.find(&field);
                (loc.line, loc.column)
            }
            None => (0, 0),
        };
        self.errors.push(SpecError {
            kind,
            file: self.spec.origin.file.clone(),
            line,
            column,
            field,
            message: message.into(),
        });
    }
}

impl LabSpec {
    /// Checks the whole spec and returns every mistake: addresses (CIDR, prefix /8 to /28,
    /// static addresses outside the subnet, on the network, broadcast, gateway, netd or `.3`
    /// address, inside the DHCP range or used twice), names (duplicates, names Docker, libvirt
    /// or DNS would reject), zero memory or vCPUs, missing VM images, a VPN subnet overlapping
    /// the lab's, bad peer addresses, and `depends_on` naming an unknown workload or forming
    /// a cycle.
    pub fn validate(&self) -> Result<(), SpecErrors> {
        let mut errors = check(self, Partial::COMPLETE);
        errors.sort_by_key(|e| (e.line, e.column));
        SpecErrors { errors }.into_result()
    }
}

/// Every semantic mistake of `spec` (skipping what depends on parts that did not parse).
pub(crate) fn check(spec: &LabSpec, partial: Partial) -> Vec<SpecError> {
    let mut cx = Ctx::new(spec);
    let plan = if partial.header_ok {
        check_header(&mut cx)
    } else {
        None
    };
    check_workload_names(&mut cx);
    check_containers(&mut cx);
    check_ports(&mut cx);
    check_volumes(&mut cx);
    check_vms(&mut cx);
    check_vm_files(&mut cx);
    if let Some(plan) = &plan {
        if spec.networks.is_empty() {
            check_static_addresses(&mut cx, plan);
        }
    }
    if partial.header_ok && !spec.networks.is_empty() {
        let plans = check_segments(&mut cx);
        if partial.workloads_ok {
            check_joins(&mut cx, &plans, true);
        }
    } else if partial.header_ok && partial.workloads_ok {
        // A lab of one network: a workload may still name it (its addresses are checked
        // above, against the one plan).
        check_joins(&mut cx, &[plan], false);
    }
    if partial.workloads_ok {
        check_dependencies(&mut cx);
    }
    if partial.vpn_ok {
        check_vpn(&mut cx, plan.map(|p| p.subnet()));
    }
    check_checks(&mut cx, partial.workloads_ok, partial.vpn_ok);
    check_hosts(&mut cx);
    cx.errors
}
