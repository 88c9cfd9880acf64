//! The WireGuard section: its subnet against the lab's, port, endpoint and peers.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::{Ctx, VPN_PREFIXES, parse_peer_addr, parse_subnet, peers, workloads};
use crate::spec::error::SpecErrorKind;
use crate::spec::names;

pub(super) fn check_vpn(cx: &mut Ctx<'_>, lab_subnet: Option<Ipv4Net>) {
    let Some(vpn) = &cx.spec.wireguard else {
        return;
    };
    let subnet = match parse_subnet(&vpn.subnet) {
        Err(m) => {
            cx.err(SpecErrorKind::Address, "wireguard.subnet", m);
            None
        }
        Ok(s) if !VPN_PREFIXES.contains(&s.prefix_len()) => {
            cx.err(
                SpecErrorKind::Address,
                "wireguard.subnet",
                format!(
                    "VPN subnet {s}: prefix /{} is out of range; use /{} to /{}",
                    s.prefix_len(),
                    VPN_PREFIXES.start(),
                    VPN_PREFIXES.end()
                ),
            );
            None
        }
        Ok(s) if s.trunc() != s => {
            cx.err(
                SpecErrorKind::Address,
                "wireguard.subnet",
                format!(
                    "VPN subnet {s} has host bits set; did you mean {}?",
                    s.trunc()
                ),
            );
            None
        }
        Ok(s) => Some(s),
    };
    if let (Some(v), Some(l)) = (subnet, lab_subnet) {
        if v.contains(&l.network()) || l.contains(&v.network()) {
            cx.err(
                SpecErrorKind::Overlap,
                "wireguard.subnet",
                format!("VPN subnet {v} overlaps the lab subnet {l}"),
            );
        }
    }
    if vpn.listen_port == Some(0) {
        cx.err(
            SpecErrorKind::BadValue,
            "wireguard.listen_port",
            "listen_port must be 1 to 65535",
        );
    }
    if let Some(e) = &vpn.endpoint {
        if e.trim().is_empty() || e.chars().any(char::is_whitespace) {
            cx.err(
                SpecErrorKind::BadValue,
                "wireguard.endpoint",
                format!("endpoint \"{e}\" must be a host or host:port"),
            );
        }
    }
    if vpn.peer_name.is_none() && vpn.address.is_some() {
        cx.err(
            SpecErrorKind::MissingField,
            "wireguard.address",
            "`address` is given without `peer_name`",
        );
    }
    let mut workload_names: BTreeMap<&str, String> = BTreeMap::new();
    for w in workloads(cx.spec) {
        workload_names.entry(w.name).or_insert(w.path);
    }
    let mut seen_names: HashMap<&str, String> = HashMap::new();
    let mut seen_addrs: HashMap<Ipv4Addr, String> = HashMap::new();
    for p in peers(vpn) {
        if !names::is_dns_label(p.name) {
            cx.err(
                SpecErrorKind::BadName,
                &p.name_path,
                format!(
                    "peer name \"{}\" is not valid: {}",
                    p.name,
                    names::DNS_LABEL_RULE
                ),
            );
        } else if let Some(first) = seen_names.get(p.name) {
            cx.err(
                SpecErrorKind::DuplicateName,
                &p.name_path,
                format!("peer name \"{}\" is already used by {first}", p.name),
            );
        } else if let Some(w) = workload_names.get(p.name) {
            cx.err(
                SpecErrorKind::DuplicateName,
                &p.name_path,
                format!("peer name \"{}\" is already the name of {w}; DNS names in a lab must be unique", p.name),
            );
        } else {
            seen_names.insert(p.name, p.name_path.clone());
        }
        let (Some(addr), Some(subnet)) = (p.address, subnet) else {
            continue;
        };
        match parse_peer_addr(addr) {
            Err(m) => cx.err(SpecErrorKind::Address, &p.addr_path, m),
            Ok((ip, prefix)) => {
                if let Some(reason) = bad_peer_addr(ip, prefix, subnet) {
                    cx.err(
                        SpecErrorKind::Address,
                        &p.addr_path,
                        format!("peer address {ip} {reason}"),
                    );
                } else if let Some(first) = seen_addrs.get(&ip) {
                    cx.err(
                        SpecErrorKind::AddressInUse,
                        &p.addr_path,
                        format!("peer address {ip} is already used by {first}"),
                    );
                } else {
                    seen_addrs.insert(ip, p.name_path.clone());
                }
            }
        }
    }
}

/// Why `ip` cannot be a peer's address in `subnet`, if it cannot.
pub(crate) fn bad_peer_addr(ip: Ipv4Addr, prefix: Option<u8>, subnet: Ipv4Net) -> Option<String> {
    if !subnet.contains(&ip) {
        return Some(format!("is outside the VPN subnet {subnet}"));
    }
    if let Some(len) = prefix {
        if len != subnet.prefix_len() {
            return Some(format!("has prefix /{len} but the VPN subnet is {subnet}"));
        }
    }
    if ip == subnet.network() {
        return Some(format!("is the network address of {subnet}"));
    }
    if ip == subnet.broadcast() {
        return Some(format!("is the broadcast address of {subnet}"));
    }
    if ip == vpn_server(subnet) {
        return Some("is the VPN gateway's own address (.1)".to_string());
    }
    None
}

/// The gateway's address in the VPN subnet: `.1`.
pub(crate) fn vpn_server(subnet: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(subnet.network()).wrapping_add(1))
}
