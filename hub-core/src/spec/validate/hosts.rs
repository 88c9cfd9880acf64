//! `hosts:` and the workloads' `host:` pins: names, addresses and endpoints of the hosts, pins
//! to unknown hosts, VMs pinned to a host without libvirt.

use std::collections::HashMap;

use super::{Ctx, parse_ip};
use crate::spec::error::SpecErrorKind;
use crate::spec::hosts::{
    DockerEndpoint, HostSpec, SEGMENT_OVERHEAD, TLS_FILES, check_libvirt_uri,
};

/// The smallest MTU a lab segment may have (IPv4's 576-byte datagram every host must take).
const MIN_LAB_MTU: u16 = 576;
/// The largest underlay MTU taken (a jumbo frame).
const MAX_UNDERLAY_MTU: u16 = 9216;
use crate::spec::names;

pub(super) fn check_hosts(cx: &mut Ctx<'_>) {
    let spec = cx.spec;
    let mut names_seen: HashMap<&str, usize> = HashMap::new();
    let mut addresses: HashMap<std::net::Ipv4Addr, usize> = HashMap::new();
    let mut endpoints: HashMap<String, usize> = HashMap::new();
    for (i, h) in spec.hosts.iter().enumerate() {
        let path = format!("hosts[{i}]");
        if !names::is_dns_label(&h.name) {
            cx.err(
                SpecErrorKind::BadName,
                format!("{path}.name"),
                format!(
                    "name \"{}\" is not valid: {}",
                    h.name,
                    names::DNS_LABEL_RULE
                ),
            );
        } else if let Some(first) = names_seen.get(h.name.as_str()) {
            cx.err(
                SpecErrorKind::DuplicateName,
                format!("{path}.name"),
                format!(
                    "host \"{}\" is already hosts[{first}]; host names must be unique",
                    h.name
                ),
            );
        } else {
            names_seen.insert(&h.name, i);
        }
        if let Some(a) = &h.address {
            match parse_ip(a) {
                Err(m) => cx.err(SpecErrorKind::Address, format!("{path}.address"), m),
                Ok(ip) => {
                    if let Some(first) = addresses.get(&ip) {
                        let msg = format!(
                            "address {ip} is already host \"{}\"'s (hosts[{first}]); each host \
                             has its own underlay address",
                            spec.hosts[*first].name
                        );
                        cx.err(SpecErrorKind::AddressInUse, format!("{path}.address"), msg);
                    } else {
                        addresses.insert(ip, i);
                    }
                }
            }
        }
        check_endpoint(cx, i, &mut endpoints);
        if let Some(uri) = &h.libvirt
            && let Err(m) = check_libvirt_uri(uri)
        {
            cx.err(SpecErrorKind::BadValue, format!("{path}.libvirt"), m);
        }
    }
    if spec.hosts.len() > 1 {
        let one_host_only = [
            (
                !spec.networks.is_empty(),
                "networks",
                "a lab of several segments",
            ),
            (
                spec.attach_to.is_some(),
                "attach_to",
                "a lab joining an existing network",
            ),
        ];
        for (set, field, what) in one_host_only {
            if set {
                cx.err(
                    SpecErrorKind::BadValue,
                    field,
                    format!("{what} runs on one host for now; give `hosts` one host or none"),
                );
            }
        }
    }
    check_mesh(cx);
    check_pins(cx);
    check_vpn_primary(cx);
}

/// A VPN on a lab whose primary is another machine: clients dial the primary's address, and
/// every host must route them to the gateway, which the mesh agents do (over two hosts or more).
fn check_vpn_primary(cx: &mut Ctx<'_>) {
    let spec = cx.spec;
    let Some(vpn) = spec.wireguard.as_ref().filter(|v| v.enabled) else {
        return;
    };
    let Some(primary) = spec.hosts.first() else {
        return;
    };
    let remote = primary
        .endpoint(|p| spec.resolve_path(p))
        .is_ok_and(|ep| !ep.is_local());
    if !remote {
        return;
    }
    if spec.hosts.len() == 1 {
        cx.err(
            SpecErrorKind::BadValue,
            "wireguard",
            format!(
                "the lab's only host \"{}\" is another machine, and nothing there would route \
                 the VPN's clients back to its gateway (the mesh agents do that over two hosts \
                 or more); add a second host, or run the lab on this machine",
                primary.name
            ),
        );
    } else if vpn.endpoint.is_none() && primary.address.is_none() {
        cx.err(
            SpecErrorKind::BadValue,
            "hosts[0].address",
            format!(
                "the VPN's clients dial the primary \"{}\", another machine: give its \
                 `address` (or `wireguard.endpoint`)",
                primary.name
            ),
        );
    }
}

/// `mesh:`: only over several hosts, a port that is one, an underlay that leaves the lab an MTU.
fn check_mesh(cx: &mut Ctx<'_>) {
    let spec = cx.spec;
    let Some(mesh) = &spec.mesh else { return };
    if spec.hosts.len() < 2 {
        cx.err(
            SpecErrorKind::BadValue,
            "mesh",
            "`mesh` joins the hosts of a lab over several hosts; this spec has fewer than two \
             `hosts`",
        );
    }
    if mesh.port == Some(0) {
        cx.err(
            SpecErrorKind::BadValue,
            "mesh.port",
            "port 0 is not a port the hosts can reach each other on; give 1-65535",
        );
    }
    if let Some(mtu) = mesh.underlay_mtu {
        let lab = mesh.lab_mtu();
        if !(MIN_LAB_MTU..=MAX_UNDERLAY_MTU).contains(&lab) || mtu > MAX_UNDERLAY_MTU {
            cx.err(
                SpecErrorKind::BadValue,
                "mesh.underlay_mtu",
                format!(
                    "underlay_mtu {mtu} leaves the lab {lab} bytes ({SEGMENT_OVERHEAD} go to \
                     WireGuard and VXLAN); give {}-{MAX_UNDERLAY_MTU}",
                    MIN_LAB_MTU + SEGMENT_OVERHEAD
                ),
            );
        }
    }
}

/// A host's Docker endpoint and the files it names (`tls`, `ssh_key`, `known_hosts`).
fn check_endpoint(cx: &mut Ctx<'_>, i: usize, seen: &mut HashMap<String, usize>) {
    let spec = cx.spec;
    let h = &spec.hosts[i];
    let field = format!("hosts[{i}].docker");
    let ep = match h.endpoint(|p| spec.resolve_path(p)) {
        Ok(ep) => ep,
        Err(e) => {
            cx.err(
                SpecErrorKind::BadValue,
                format!("hosts[{i}].{}", e.field),
                e.message,
            );
            return;
        }
    };
    for (name, kind, problem) in endpoint_file_problems(&ep) {
        cx.err(kind, format!("hosts[{i}].{name}"), problem);
    }
    if let Some(first) = seen.get(&ep.url()) {
        let msg = format!(
            "Docker endpoint {ep} is already host \"{}\"'s (hosts[{first}])",
            spec.hosts[*first].name
        );
        cx.err(SpecErrorKind::DuplicateName, field, msg);
    } else {
        seen.insert(ep.url(), i);
    }
}

/// The files an endpoint names that are missing or unusable, by field: a TLS folder without
/// one of its files, an SSH key or known_hosts file that is not there, a key others may read
/// (ssh refuses to use it).
fn endpoint_file_problems(ep: &DockerEndpoint) -> Vec<(&'static str, SpecErrorKind, String)> {
    let mut problems = Vec::new();
    match ep {
        DockerEndpoint::Unix { .. } => {}
        DockerEndpoint::Tcp { tls, .. } => {
            let missing: Vec<&str> = TLS_FILES
                .into_iter()
                .filter(|f| !tls.join(f).is_file())
                .collect();
            if !missing.is_empty() {
                problems.push((
                    "tls",
                    SpecErrorKind::MissingFile,
                    format!("{} has no {}", tls.display(), missing.join(", ")),
                ));
            }
        }
        DockerEndpoint::Ssh {
            key, known_hosts, ..
        } => {
            if let Some(key) = key {
                match std::fs::metadata(key) {
                    Ok(m) if m.is_file() => {
                        let mode = std::os::unix::fs::PermissionsExt::mode(&m.permissions());
                        if mode & 0o077 != 0 {
                            problems.push((
                                "ssh_key",
                                SpecErrorKind::BadValue,
                                format!(
                                    "{} may be read by others (mode {:04o}) and ssh refuses such \
                                     a key; chmod 600 it",
                                    key.display(),
                                    mode & 0o7777
                                ),
                            ));
                        }
                    }
                    _ => problems.push((
                        "ssh_key",
                        SpecErrorKind::MissingFile,
                        format!("{} is not a file (the SSH private key)", key.display()),
                    )),
                }
            }
            if let Some(file) = known_hosts
                && !file.is_file()
            {
                problems.push((
                    "known_hosts",
                    SpecErrorKind::MissingFile,
                    format!(
                        "{} is not a file; write the host's key there (check its fingerprint \
                         first: `ssh-keyscan HOST`, `ssh-keygen -lf`)",
                        file.display()
                    ),
                ));
            }
        }
    }
    problems
}

/// `host:` on containers and VMs.
fn check_pins(cx: &mut Ctx<'_>) {
    let spec = cx.spec;
    let known: Vec<&str> = spec.hosts.iter().map(|h| h.name.as_str()).collect();
    let pins = spec
        .containers
        .iter()
        .enumerate()
        .map(|(i, c)| (spec.origin.container_path(i), c.host.as_deref(), false))
        .chain(
            spec.vms
                .iter()
                .enumerate()
                .map(|(i, v)| (spec.origin.vm_path(i), v.host.as_deref(), true)),
        );
    for (path, pin, vm) in pins {
        let Some(pin) = pin else { continue };
        let field = format!("{path}.host");
        let Some(host) = spec.hosts.iter().find(|h| h.name == pin) else {
            let msg = if known.is_empty() {
                format!("host \"{pin}\" is not in the spec: it has no `hosts`")
            } else {
                format!("host \"{pin}\" is not in `hosts` ({})", known.join(", "))
            };
            cx.err(SpecErrorKind::UnknownName, field, msg);
            continue;
        };
        // A host whose endpoints are wrong is reported above; here only its libvirt counts.
        if vm
            && let Ok(h) = HostSpec::from_host(host, |p| spec.resolve_path(p))
            && h.libvirt.is_none()
        {
            cx.err(
                SpecErrorKind::BadValue,
                field,
                format!(
                    "host \"{pin}\" has no libvirt to run a VM; give it `libvirt:` (like \
                     qemu+tcp://HOST/system) or pin the VM elsewhere"
                ),
            );
        }
    }
}
