//! Semantic checks of a spec: addresses against the address plan, names, sizes, images,
//! dependencies and the VPN. Every mistake is collected; nothing stops at the first.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use hub_net::{AddrRange, AddressPlan, PlanError, PlanOverrides};
use ipnet::Ipv4Net;

use super::error::{SpecError, SpecErrorKind, SpecErrors};
use super::names;
use super::types::{LabSpec, NETWORK_TYPE_BRIDGE};

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

/// The lab's address plan, if its subnet and DHCP range are right.
pub(crate) fn plan_of(spec: &LabSpec) -> Option<AddressPlan> {
    let subnet = parse_subnet(&spec.subnet).ok()?;
    let dhcp_range = match &spec.dhcp_range {
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
        });
    let v = spec.vms.iter().enumerate().map(|(i, v)| WorkloadRef {
        path: spec.origin.vm_path(i),
        name: &v.name,
        ip: v.ip.as_deref(),
        depends_on: &v.depends_on,
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
    check_vms(&mut cx);
    if let Some(plan) = plan {
        check_static_addresses(&mut cx, &plan);
    }
    if partial.workloads_ok {
        check_dependencies(&mut cx);
    }
    if partial.vpn_ok {
        check_vpn(&mut cx, plan.map(|p| p.subnet()));
    }
    cx.errors
}

fn check_header(cx: &mut Ctx<'_>) -> Option<AddressPlan> {
    let spec = cx.spec;
    match (&spec.name, &spec.network_name) {
        (None, None) => cx.err(
            SpecErrorKind::MissingField,
            "",
            "the lab has no name: set `name` (or `network_name`)",
        ),
        (Some(n), _) if !names::is_dns_label(n) => cx.err(
            SpecErrorKind::BadName,
            "name",
            format!("lab name \"{n}\" is not valid: {}", names::DNS_LABEL_RULE),
        ),
        (None, Some(n)) if !names::is_dns_label(n) => cx.err(
            SpecErrorKind::BadName,
            "network_name",
            format!(
                "\"{n}\" is also the lab's name (there is no `name`), and is not valid: {}; \
                 set `name` or rename the network",
                names::DNS_LABEL_RULE
            ),
        ),
        _ => {}
    }
    if let Some(n) = &spec.network_name {
        if !names::is_docker_name(n) {
            cx.err(
                SpecErrorKind::BadName,
                "network_name",
                format!("network name \"{n}\" is not valid for Docker: use letters, digits, '_', '.' or '-', starting with a letter or digit, at most 64"),
            );
        }
    }
    if spec.network_type != NETWORK_TYPE_BRIDGE {
        cx.err(
            SpecErrorKind::BadValue,
            "network_type",
            format!(
                "network type \"{}\" is not supported; only \"bridge\" is, for now",
                spec.network_type
            ),
        );
    }
    if let Some(a) = &spec.attach_to {
        if !names::is_iface_name(a) {
            cx.err(
                SpecErrorKind::BadName,
                "attach_to",
                format!(
                    "\"{a}\" is not an interface name (1 to 15 characters, no '/', ':' or spaces)"
                ),
            );
        }
    }
    if let Some(d) = &spec.domain {
        if !names::is_dns_domain(d) {
            cx.err(
                SpecErrorKind::BadName,
                "domain",
                format!("domain \"{d}\" is not a DNS name: dot-separated labels of lowercase letters, digits or '-'"),
            );
        }
    }
    let subnet = match parse_subnet(&spec.subnet) {
        Ok(s) => s,
        Err(m) => {
            cx.err(SpecErrorKind::Address, "subnet", m);
            return None;
        }
    };
    let dhcp_range = match &spec.dhcp_range {
        None => None,
        Some(r) => match parse_range(r) {
            Ok(r) => Some(r),
            Err(m) => {
                cx.err(SpecErrorKind::Address, "dhcp_range", m);
                return AddressPlan::new(subnet)
                    .map_err(|e| cx.err(SpecErrorKind::Address, "subnet", e.to_string()))
                    .ok();
            }
        },
    };
    match AddressPlan::with_overrides(
        subnet,
        PlanOverrides {
            dhcp_range,
            static_range: None,
        },
    ) {
        Ok(p) => Some(p),
        Err(e @ PlanError::RangeDoesNotFit { .. }) => {
            cx.err(SpecErrorKind::Address, "dhcp_range", e.to_string());
            None
        }
        Err(e) => {
            cx.err(SpecErrorKind::Address, "subnet", e.to_string());
            None
        }
    }
}

fn check_workload_names(cx: &mut Ctx<'_>) {
    let mut seen: HashMap<&str, String> = HashMap::new();
    for w in workloads(cx.spec) {
        let path = format!("{}.name", w.path);
        if !names::is_dns_label(w.name) {
            cx.err(
                SpecErrorKind::BadName,
                path,
                format!(
                    "name \"{}\" is not valid: {}",
                    w.name,
                    names::DNS_LABEL_RULE
                ),
            );
        } else if let Some(first) = seen.get(w.name) {
            cx.err(
                SpecErrorKind::DuplicateName,
                path,
                format!(
                    "name \"{}\" is already used by {first}; container and VM names must be unique",
                    w.name
                ),
            );
        } else {
            seen.insert(w.name, w.path.clone());
        }
    }
}

fn check_containers(cx: &mut Ctx<'_>) {
    for (i, c) in cx.spec.containers.iter().enumerate() {
        let p = cx.spec.origin.container_path(i);
        if c.image.trim().is_empty() || c.image.chars().any(char::is_whitespace) {
            cx.err(
                SpecErrorKind::BadValue,
                format!("{p}.image"),
                format!(
                    "image \"{}\" is not an image reference (like nginx:alpine)",
                    c.image
                ),
            );
        }
        if let Some(cpus) = c.cpus {
            if !(cpus.is_finite() && cpus > 0.0) {
                cx.err(
                    SpecErrorKind::BadValue,
                    format!("{p}.cpus"),
                    format!("cpus must be more than 0, not {cpus}"),
                );
            }
        }
        if c.memory_mb == Some(0) {
            cx.err(
                SpecErrorKind::BadValue,
                format!("{p}.memory_mb"),
                "memory_mb must be more than 0",
            );
        }
        for key in c.env.keys() {
            if key.is_empty() || key.contains('=') {
                cx.err(
                    SpecErrorKind::BadName,
                    format!("{p}.env.{key}"),
                    format!(
                        "environment variable name \"{key}\" must be non-empty and hold no '='"
                    ),
                );
            }
        }
        if let Some(hc) = &c.healthcheck {
            if hc.test.is_empty() || hc.test.iter().all(|s| s.trim().is_empty()) {
                cx.err(
                    SpecErrorKind::BadValue,
                    format!("{p}.healthcheck.test"),
                    "the healthcheck needs a command (exec form, like [\"wget\", \"-q\", \"-O-\", \"http://localhost/\"])",
                );
            }
        }
    }
}

fn check_vms(cx: &mut Ctx<'_>) {
    for (i, vm) in cx.spec.vms.iter().enumerate() {
        let p = cx.spec.origin.vm_path(i);
        if vm.memory_mb == 0 {
            cx.err(
                SpecErrorKind::BadValue,
                format!("{p}.memory_mb"),
                "memory_mb must be more than 0",
            );
        }
        if vm.vcpus == 0 {
            cx.err(
                SpecErrorKind::BadValue,
                format!("{p}.vcpus"),
                "vcpus must be at least 1",
            );
        }
        if !names::is_linux_user(&vm.user) {
            cx.err(
                SpecErrorKind::BadName,
                format!("{p}.user"),
                format!(
                    "user \"{}\" is not a Linux user name ([a-z_][a-z0-9_-]*, at most 32)",
                    vm.user
                ),
            );
        }
        for (j, pkg) in vm.packages.iter().enumerate() {
            if !names::is_package(pkg) {
                cx.err(
                    SpecErrorKind::BadName,
                    format!("{p}.packages[{j}]"),
                    format!("\"{pkg}\" is not a package name"),
                );
            }
        }
        if let Some(ci) = &vm.cloud_init {
            if !ci.is_object() {
                cx.err(
                    SpecErrorKind::Type,
                    format!("{p}.cloud_init"),
                    "cloud_init must be a mapping of cloud-config keys",
                );
            }
        }
        if vm.image.as_os_str().is_empty() {
            cx.err(
                SpecErrorKind::MissingImage,
                format!("{p}.image"),
                "the VM needs an image (a qcow2 file)",
            );
        } else {
            let abs = cx.spec.resolve_path(&vm.image);
            if !abs.is_file() {
                let what = if abs.exists() {
                    "is not a file"
                } else {
                    "does not exist"
                };
                let rel = if vm.image.is_relative() {
                    " (a relative path is relative to the spec file's folder)"
                } else {
                    ""
                };
                cx.err(
                    SpecErrorKind::MissingImage,
                    format!("{p}.image"),
                    format!("VM image {} {what}{rel}", abs.display()),
                );
            }
        }
    }
}

fn check_static_addresses(cx: &mut Ctx<'_>, plan: &AddressPlan) {
    let mut used: HashMap<Ipv4Addr, String> = HashMap::new();
    for w in workloads(cx.spec) {
        let Some(ip) = w.ip else { continue };
        let path = format!("{}.ip", w.path);
        match parse_ip(ip) {
            Err(m) => cx.err(SpecErrorKind::Address, path, m),
            Ok(addr) => {
                if let Err(e) = plan.check_static(addr) {
                    cx.err(SpecErrorKind::Address, path, e.to_string());
                } else if let Some(first) = used.get(&addr) {
                    cx.err(
                        SpecErrorKind::AddressInUse,
                        path,
                        format!("address {addr} is already used by {first}"),
                    );
                } else {
                    used.insert(addr, format!("{} ({})", w.path, w.name));
                }
            }
        }
    }
}

fn check_dependencies(cx: &mut Ctx<'_>) {
    let ws = workloads(cx.spec);
    let index: HashMap<&str, usize> = ws.iter().enumerate().map(|(i, w)| (w.name, i)).collect();
    let mut edges: Vec<Vec<(usize, usize)>> = vec![Vec::new(); ws.len()];
    for (i, w) in ws.iter().enumerate() {
        for (j, dep) in w.depends_on.iter().enumerate() {
            match index.get(dep.as_str()) {
                Some(&t) => edges[i].push((t, j)),
                None => cx.err(
                    SpecErrorKind::UnknownDependency,
                    format!("{}.depends_on[{j}]", w.path),
                    format!("\"{dep}\" is not a container or VM of this lab"),
                ),
            }
        }
    }
    // Iterative DFS; each back edge closes a cycle, reported once at that edge.
    let mut state = vec![0u8; ws.len()]; // 0 new, 1 on stack, 2 done
    for start in 0..ws.len() {
        if state[start] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        state[start] = 1;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if *next < edges[node].len() {
                let (to, j) = edges[node][*next];
                *next += 1;
                match state[to] {
                    0 => {
                        state[to] = 1;
                        stack.push((to, 0));
                    }
                    1 => {
                        let pos = stack.iter().position(|(n, _)| *n == to).unwrap_or(0);
                        let mut names: Vec<&str> =
                            stack[pos..].iter().map(|(n, _)| ws[*n].name).collect();
                        names.push(ws[to].name);
                        cx.err(
                            SpecErrorKind::DependencyCycle,
                            format!("{}.depends_on[{j}]", ws[node].path),
                            format!("depends_on forms a cycle: {}", names.join(" -> ")),
                        );
                    }
                    _ => {}
                }
            } else {
                state[node] = 2;
                stack.pop();
            }
        }
    }
}

fn check_vpn(cx: &mut Ctx<'_>, lab_subnet: Option<Ipv4Net>) {
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
    if vpn.listen_port == 0 {
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
