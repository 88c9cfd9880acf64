//! Resolution: from a valid spec to the lab's concrete plan — every workload's address, MAC
//! and spec hash, the DHCP range, the domain, the VPN peers' addresses. The same spec always
//! resolves to the same plan.

use std::collections::HashSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hub_net::{AddrRange, AddressPlan, IpAllocator, IpPool, PoolError};
use hub_runtime::{
    Attachment, ContainerSpec, GuestFile, Healthcheck, MacAddr, Mount, Resources, VmSpec,
    VolumeMount, WorkloadKind, WorkloadSpec, derive_mac,
};
use ipnet::Ipv4Net;
use serde::Serialize;

use super::error::{SpecErrorKind, SpecErrors};
use super::hash::spec_hash;
use super::hosts::{HostSpec, Placement};
use super::types::{Container, LabSpec, Vm};
use super::validate::{
    Ctx, joins, parse_ip, parse_peer_addr, parse_subnet, peers, segment_refs, vpn_server, workloads,
};
use super::volumes::{MountSource, VolumeEntry, parse_volume};

/// A workload's user spec, as resolved (a VM's image path made absolute).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum WorkloadDef {
    /// A container.
    Container(Container),
    /// A VM.
    Vm(Vm),
}

/// One workload of a resolved lab.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolvedWorkload {
    /// Name inside the lab.
    pub name: String,
    /// Container or VM.
    pub kind: WorkloadKind,
    /// Its address on the lab network.
    pub ip: Ipv4Addr,
    /// True when the spec gave the address; false when it was allocated.
    pub static_ip: bool,
    /// Its MAC, derived from lab and workload name (see [`super::derive_mac`]).
    pub mac: MacAddr,
    /// Its DNS name, `NAME.DOMAIN`.
    pub fqdn: String,
    /// SHA-256 (hex) of the canonical JSON of its spec as written, its address and its MAC:
    /// changing one workload changes only its hash (and those whose allocated address moves).
    pub spec_hash: String,
    /// Workloads to start first.
    pub depends_on: Vec<String>,
    /// A VM's `files:`, read from the spec's folder (not in the JSON plan: the contents).
    #[serde(skip)]
    pub files: Vec<GuestFile>,
    /// Its interfaces, one per network it joins, in order (the first is `ip` and `mac`).
    /// Empty in a lab of one network.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<ResolvedInterface>,
    /// Its default route's next hop when one of its segments gives its default route to a
    /// workload (`gateway:`), else `None` (the bridge).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_route: Option<Ipv4Addr>,
    /// Its resolver: netd's address on its first segment (in a lab of several).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolver: Option<Ipv4Addr>,
    /// The bridge's address on its first segment (in a lab of several): a VM's default
    /// route when no segment gives it to a workload.
    #[serde(skip)]
    pub first_bridge: Option<Ipv4Addr>,
    /// The spec it was resolved from.
    pub spec: WorkloadDef,
}

/// One interface of a workload on one of the lab's segments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvedInterface {
    /// The segment's name.
    pub network: String,
    /// The segment's network in the backend (the Docker network's name).
    pub network_name: String,
    /// The address on it.
    pub ip: Ipv4Addr,
    /// The interface's MAC.
    pub mac: MacAddr,
    /// Its name on this segment, `NAME.SEGMENT.DOMAIN`.
    pub fqdn: String,
}

/// One segment of a lab, resolved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolvedSegment {
    /// Its name.
    pub name: String,
    /// Its network in the backend (the Docker network's name).
    pub network_name: String,
    /// Its subnet.
    pub subnet: Ipv4Net,
    /// The bridge's own address (`.1`).
    pub gateway: Ipv4Addr,
    /// netd's address on it (`.2`).
    pub netd: Ipv4Addr,
    /// The DHCP range for unknown clients.
    pub dhcp_range: AddrRange,
    /// The workload its default route goes to, if not the bridge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub router: Option<String>,
    /// The router's address on it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub router_ip: Option<Ipv4Addr>,
    /// Its address plan.
    #[serde(skip)]
    pub plan: AddressPlan,
}

impl ResolvedWorkload {
    /// The runtime's view of this workload. For a VM the SSH fields
    /// (`ssh_authorized_key`, `ssh_host_key_private`, `ssh_host_key_public`) are left empty
    /// for the caller, which owns the lab's keys, to fill in.
    pub fn to_workload_spec(&self) -> WorkloadSpec {
        match &self.spec {
            WorkloadDef::Container(c) => {
                let mut s = ContainerSpec::new(&self.name, &c.image);
                s.cmd = c.cmd.clone();
                s.env = c.env.clone();
                s.labels = c.labels.clone();
                s.ip = Some(self.ip);
                s.mac = Some(self.mac);
                s.healthcheck = c.healthcheck.as_ref().map(|h| Healthcheck {
                    test: h.test.clone(),
                    interval: h.interval.map_or(DEFAULT_HC_INTERVAL, |d| d.0),
                    timeout: h.timeout.map_or(DEFAULT_HC_INTERVAL, |d| d.0),
                    retries: h.retries.unwrap_or(DEFAULT_HC_RETRIES),
                    start_period: h.start_period.map_or(std::time::Duration::ZERO, |d| d.0),
                });
                s.resources = Resources {
                    cpus: c.cpus,
                    memory_mb: c.memory_mb,
                };
                s.restart = c.restart;
                // Both were validated; a value that does not parse cannot reach here.
                s.ports = c.ports.iter().filter_map(|p| p.parse().ok()).collect();
                for v in c.volumes.iter().filter_map(|v| parse_volume(v).ok()) {
                    match v.source {
                        MountSource::Bind(source) => s.mounts.push(Mount {
                            source,
                            target: v.target,
                            read_only: v.read_only,
                        }),
                        MountSource::Named(name) => s.volumes.push(VolumeMount {
                            name,
                            target: v.target,
                            read_only: v.read_only,
                        }),
                    }
                }
                s.spec_hash = self.spec_hash.clone();
                s.networks = self.attachments();
                s.ip_forward = c.ip_forward;
                s.default_route = self.default_route;
                s.dns = self.resolver.into_iter().collect();
                WorkloadSpec::Container(s)
            }
            WorkloadDef::Vm(v) => WorkloadSpec::Vm(VmSpec {
                name: self.name.clone(),
                image: v.image.clone(),
                memory_mb: v.memory_mb,
                vcpus: v.vcpus,
                packages: v.packages.clone(),
                user: v.user.clone(),
                ip: Some(self.ip),
                static_ip: false,
                mac: self.mac,
                cloud_init: v.cloud_init.clone(),
                runcmd: v.runcmd.clone(),
                files: self.files.clone(),
                virt_type: v.virt_type,
                ssh_authorized_key: String::new(),
                ssh_host_key_private: String::new(),
                ssh_host_key_public: String::new(),
                spec_hash: self.spec_hash.clone(),
                warm: v.warm,
                networks: self.attachments(),
                ip_forward: v.ip_forward,
                default_route: self.vm_default_route(),
            }),
        }
    }

    /// Its interfaces as the runtime receives them (empty in a lab of one network).
    fn attachments(&self) -> Vec<Attachment> {
        self.interfaces
            .iter()
            .map(|i| Attachment {
                network: i.network_name.clone(),
                segment: i.network.clone(),
                ip: i.ip,
                mac: i.mac,
            })
            .collect()
    }

    /// A VM's default route in a lab of several segments: the `gateway:` workload of the
    /// first of its segments that gives its route to another workload, else the bridge of its
    /// first segment (as a container's is). `None` in a lab of one network.
    fn vm_default_route(&self) -> Option<Ipv4Addr> {
        self.default_route.or(self.first_bridge)
    }
}

/// Docker's default healthcheck interval and timeout.
pub const DEFAULT_HC_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);
/// Docker's default healthcheck retries.
pub const DEFAULT_HC_RETRIES: u32 = 3;

/// Makes the allocator of a lab's automatic addresses from its address plan. A factory, not
/// an allocator: each resolve starts from an empty allocator, so resolving the same spec twice
/// gives the same addresses.
pub type AllocatorFactory = dyn Fn(&AddressPlan) -> Box<dyn IpAllocator> + Send + Sync;

/// The default allocator: a lowest-free [`IpPool`] over the plan's static range.
pub fn default_allocator(plan: &AddressPlan) -> Box<dyn IpAllocator> {
    Box::new(IpPool::for_plan(plan))
}

/// One VPN client, with its address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvedPeer {
    /// The peer's name.
    pub name: String,
    /// Its address in the VPN subnet.
    pub address: Ipv4Addr,
}

/// The WireGuard gateway, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvedVpn {
    /// The VPN subnet.
    pub subnet: Ipv4Net,
    /// The gateway's address in it (`.1`).
    pub server: Ipv4Addr,
    /// The endpoint clients connect to, if the spec gave one.
    pub endpoint: Option<String>,
    /// The UDP port the spec gives; `None`: `up` takes the first free one from
    /// [`super::DEFAULT_LISTEN_PORT`] and keeps it for the lab.
    pub listen_port: Option<u16>,
    /// The peers, `peer_name` first, then `peers` in order.
    pub peers: Vec<ResolvedPeer>,
}

/// A lab's concrete plan: what `up` creates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolvedLab {
    /// The lab's name (`name`, else `network_name`).
    pub name: String,
    /// The lab network's name (`network_name`, else the lab's name).
    pub network_name: String,
    /// The network type (`bridge`).
    pub network_type: String,
    /// The existing Docker network the lab joins instead of creating one, if any.
    pub attach_to: Option<String>,
    /// The lab subnet.
    pub subnet: Ipv4Net,
    /// The gateway (`.1`, the bridge).
    pub gateway: Ipv4Addr,
    /// netd's address (`.2`).
    pub netd: Ipv4Addr,
    /// The DHCP range for unknown clients.
    pub dhcp_range: AddrRange,
    /// The static range automatic addresses come from.
    pub static_range: AddrRange,
    /// The DNS domain.
    pub domain: String,
    /// The address plan.
    #[serde(skip)]
    pub plan: AddressPlan,
    /// The segments, when the lab has `networks` (the first is the lab network above).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<ResolvedSegment>,
    /// Containers then VMs, in spec order.
    pub workloads: Vec<ResolvedWorkload>,
    /// The WireGuard gateway, when enabled.
    pub vpn: Option<ResolvedVpn>,
    /// The spec file, when loaded from one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// The hosts the lab spans, the primary first (empty: the one local host).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<HostSpec>,
    /// How the workloads without `host:` are placed.
    #[serde(skip_serializing_if = "Placement::is_default")]
    pub placement: Placement,
}

impl ResolvedLab {
    /// The workload called `name`.
    pub fn workload(&self, name: &str) -> Option<&ResolvedWorkload> {
        self.workloads.iter().find(|w| w.name == name)
    }
}

impl LabSpec {
    /// Validates the spec and resolves it: addresses (static ones first, then the others
    /// allocated lowest-free from the static range in spec order, containers then VMs),
    /// MACs, spec hashes, the domain and the VPN peers' addresses (allocated from `.2` up).
    pub fn resolve(&self) -> Result<ResolvedLab, SpecErrors> {
        self.resolve_with(&default_allocator)
    }

    /// [`LabSpec::resolve`] with the workloads' automatic addresses taken from the allocator
    /// `allocator` makes for the lab's address plan, instead of a lowest-free [`IpPool`].
    pub fn resolve_with(&self, allocator: &AllocatorFactory) -> Result<ResolvedLab, SpecErrors> {
        self.validate()?;
        let mut cx = Ctx::new(self);
        let segs = segment_refs(self);
        let Some(plans) = segs.iter().map(|s| s.plan()).collect::<Option<Vec<_>>>() else {
            cx.err(
                SpecErrorKind::Address,
                "subnet",
                "the address plan cannot be made",
            );
            return Err(SpecErrors { errors: cx.errors });
        };
        let plan = plans[0];
        let name = self.lab_name().unwrap_or_default().to_string();
        let domain = self.domain.clone().unwrap_or_else(|| format!("{name}.lab"));
        let segmented = !self.networks.is_empty();
        let network_names: Vec<String> = segs
            .iter()
            .enumerate()
            .map(|(i, s)| match (&self.network_name, i, segmented) {
                (Some(n), 0, _) => n.clone(),
                (None, 0, false) => name.clone(),
                _ => format!("{name}-{}", s.name),
            })
            .collect();

        let refs = workloads(self);
        let pools: Vec<Box<dyn IpAllocator>> = plans.iter().map(allocator).collect();
        let all_joins: Vec<_> = refs
            .iter()
            .map(|w| joins(self, &segs, &w.path, w.ip, w.networks))
            .collect();
        let mut addrs: Vec<Vec<Option<Ipv4Addr>>> = Vec::with_capacity(refs.len());
        for js in &all_joins {
            let mut row = Vec::with_capacity(js.len());
            for j in js {
                let ip = j.ip.and_then(|s| parse_ip(s).ok());
                if let (Some(ip), Some(seg)) = (ip, j.segment) {
                    // Statics in the infrastructure block lie outside the pool: nothing to
                    // reserve.
                    match pools[seg].reserve(ip) {
                        Ok(()) | Err(PoolError::OutOfRange { .. }) => {}
                        Err(e) => cx.err(SpecErrorKind::AddressInUse, &j.ip_path, e.to_string()),
                    }
                }
                row.push(ip);
            }
            addrs.push(row);
        }
        for ((w, js), row) in refs.iter().zip(&all_joins).zip(addrs.iter_mut()) {
            for (j, slot) in js.iter().zip(row.iter_mut()) {
                let Some(seg) = j.segment else { continue };
                if slot.is_none() {
                    match pools[seg].allocate() {
                        Ok(ip) => *slot = Some(ip),
                        Err(_) => cx.err(
                            SpecErrorKind::Exhausted,
                            w.path.clone(),
                            format!(
                                "no free address is left in the static range {} for \"{}\"; give it an address or use a larger subnet",
                                plans[seg].static_range(),
                                w.name
                            ),
                        ),
                    }
                }
            }
        }
        // Each segment's router address, for the default routes of the others on it.
        let router_ip = |seg: usize| -> Option<Ipv4Addr> {
            let g = segs[seg].gateway?;
            let w = refs.iter().position(|w| w.name == g)?;
            let k = all_joins[w].iter().position(|j| j.segment == Some(seg))?;
            addrs[w][k]
        };

        let mut macs = HashSet::new();
        let mut out = Vec::with_capacity(refs.len());
        let defs = self
            .containers
            .iter()
            .map(|c| WorkloadDef::Container(c.clone()))
            .chain(self.vms.iter().map(|v| WorkloadDef::Vm(v.clone())));
        for (((w, js), row), written) in refs.iter().zip(&all_joins).zip(&addrs).zip(defs) {
            let Some(Some(ip)) = row.first().copied() else {
                continue;
            };
            let mut interfaces = Vec::new();
            let mut first_mac = None;
            for (k, (j, addr)) in js.iter().zip(row).enumerate() {
                let (Some(seg), Some(addr)) = (j.segment, *addr) else {
                    continue;
                };
                // The first interface keeps the MAC of a one-network lab; the others are
                // derived from the workload and segment names.
                let key = match k {
                    0 => w.name.to_string(),
                    _ => format!("{}@{}", w.name, segs[seg].name),
                };
                let mut attempt = 0;
                let mut m = derive_mac(&name, &key, attempt);
                while !macs.insert(m) {
                    attempt += 1;
                    m = derive_mac(&name, &key, attempt);
                }
                if k == 0 {
                    first_mac = Some(m);
                }
                interfaces.push(ResolvedInterface {
                    network: segs[seg].name.clone(),
                    network_name: network_names[seg].clone(),
                    ip: addr,
                    mac: m,
                    fqdn: format!("{}.{}.{domain}", w.name, segs[seg].name),
                });
            }
            let Some(mac) = first_mac else { continue };
            let default_route = js.iter().find_map(|j| {
                let seg = j.segment?;
                (segs[seg].gateway? != w.name)
                    .then(|| router_ip(seg))
                    .flatten()
            });
            let first_segment = js.first().and_then(|j| j.segment).filter(|_| segmented);
            let resolver = first_segment.map(|seg| plans[seg].netd());
            let first_bridge = first_segment.map(|seg| plans[seg].gateway());
            if !segmented {
                interfaces.clear();
            }
            let files = match &written {
                WorkloadDef::Vm(v) => self.guest_files(&mut cx, &w.path, v),
                WorkloadDef::Container(_) => Vec::new(),
            };
            let hash = spec_hash(&HashInput {
                spec: &written,
                ip,
                mac,
                files: files.iter().map(content_digest).collect(),
                interfaces: interfaces
                    .iter()
                    .map(|i| (i.network.as_str(), i.ip, i.mac))
                    .collect(),
                default_route,
            });
            let (kind, spec) = match written {
                WorkloadDef::Container(mut c) => {
                    c.volumes = c.volumes.iter().map(|v| self.absolute_bind(v)).collect();
                    (WorkloadKind::Container, WorkloadDef::Container(c))
                }
                WorkloadDef::Vm(mut v) => {
                    v.image = self.resolve_path(&v.image);
                    (WorkloadKind::Vm, WorkloadDef::Vm(v))
                }
            };
            out.push(ResolvedWorkload {
                name: w.name.to_string(),
                kind,
                ip,
                static_ip: js.first().is_some_and(|j| j.ip.is_some()),
                mac,
                fqdn: format!("{}.{domain}", w.name),
                spec_hash: hash,
                depends_on: w.depends_on.to_vec(),
                files,
                interfaces,
                default_route,
                resolver,
                first_bridge,
                spec,
            });
        }
        let segments = if segmented {
            segs.iter()
                .zip(&plans)
                .enumerate()
                .map(|(i, (s, p))| ResolvedSegment {
                    name: s.name.clone(),
                    network_name: network_names[i].clone(),
                    subnet: p.subnet(),
                    gateway: p.gateway(),
                    netd: p.netd(),
                    dhcp_range: p.dhcp_range(),
                    router: s.gateway.map(str::to_string),
                    router_ip: router_ip(i),
                    plan: *p,
                })
                .collect()
        } else {
            Vec::new()
        };

        let vpn = self.resolve_vpn(&mut cx);
        if !cx.errors.is_empty() {
            return Err(SpecErrors { errors: cx.errors });
        }
        Ok(ResolvedLab {
            network_name: network_names[0].clone(),
            name,
            network_type: self.network_type.clone(),
            attach_to: self.attach_to.clone(),
            subnet: plan.subnet(),
            gateway: plan.gateway(),
            netd: plan.netd(),
            dhcp_range: plan.dhcp_range(),
            static_range: plan.static_range(),
            domain,
            plan,
            segments,
            workloads: out,
            vpn,
            file: self.origin.file.clone(),
            hosts: self
                .hosts
                .iter()
                .filter_map(|h| HostSpec::from_host(h, |p| self.resolve_path(p)).ok())
                .collect(),
            placement: self.placement.unwrap_or_default(),
        })
    }

    /// A VM's `files:`, read from the spec's folder (validation checked them; a file that
    /// went away since is reported here).
    fn guest_files(&self, cx: &mut Ctx<'_>, path: &str, vm: &Vm) -> Vec<GuestFile> {
        let mut out = Vec::with_capacity(vm.files.len());
        for (j, f) in vm.files.iter().enumerate() {
            let full = self.resolve_path(&f.source);
            match std::fs::read(&full) {
                Ok(bytes) => out.push(GuestFile {
                    path: f.path.clone(),
                    content_base64: BASE64.encode(bytes),
                    permissions: f.mode.clone().unwrap_or_else(|| "0644".into()),
                    owner: f.owner.clone().unwrap_or_else(|| "root:root".into()),
                }),
                Err(e) => cx.err(
                    SpecErrorKind::MissingFile,
                    format!("{path}.files[{j}].source"),
                    format!("the file {} cannot be read: {e}", full.display()),
                ),
            }
        }
        out
    }

    /// A `volumes:` entry with its bind source made absolute (named volumes unchanged).
    fn absolute_bind(&self, written: &str) -> String {
        match parse_volume(written) {
            Ok(VolumeEntry {
                source: MountSource::Bind(src),
                target,
                read_only,
            }) => {
                let mode = if read_only { ":ro" } else { "" };
                format!("{}:{target}{mode}", self.resolve_path(&src).display())
            }
            _ => written.to_string(),
        }
    }

    fn resolve_vpn(&self, cx: &mut Ctx<'_>) -> Option<ResolvedVpn> {
        let vpn = self.wireguard.as_ref().filter(|v| v.enabled)?;
        let subnet = parse_subnet(&vpn.subnet).ok()?;
        let server = vpn_server(subnet);
        let list = peers(vpn);
        let fixed: Vec<Option<Ipv4Addr>> = list
            .iter()
            .map(|p| {
                p.address
                    .and_then(|a| parse_peer_addr(a).ok())
                    .map(|(ip, _)| ip)
            })
            .collect();
        let mut used: HashSet<Ipv4Addr> = fixed.iter().flatten().copied().collect();
        let mut next = u32::from(server).saturating_add(1);
        let last = u32::from(subnet.broadcast()).saturating_sub(1);
        let mut out = Vec::with_capacity(list.len());
        for (p, ip) in list.iter().zip(fixed) {
            let ip = match ip {
                Some(ip) => ip,
                None => {
                    while next <= last && used.contains(&Ipv4Addr::from(next)) {
                        next += 1;
                    }
                    if next > last {
                        cx.err(
                            SpecErrorKind::Exhausted,
                            &p.name_path,
                            format!("no free address is left in the VPN subnet {subnet} for peer \"{}\"", p.name),
                        );
                        continue;
                    }
                    let ip = Ipv4Addr::from(next);
                    used.insert(ip);
                    ip
                }
            };
            out.push(ResolvedPeer {
                name: p.name.to_string(),
                address: ip,
            });
        }
        Some(ResolvedVpn {
            subnet,
            server,
            endpoint: vpn.endpoint.clone(),
            listen_port: vpn.listen_port,
            peers: out,
        })
    }
}

#[derive(Serialize)]
struct HashInput<'a> {
    spec: &'a WorkloadDef,
    ip: Ipv4Addr,
    mac: MacAddr,
    /// The SHA-256 of each of a VM's files: a changed file re-creates the VM. Left out when
    /// empty, so hashes of labs without files are what they were.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    files: Vec<String>,
    /// Each interface of a workload of a lab with `networks`: segment, address, MAC. Left
    /// out in a lab of one network, so those hashes are what they were.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    interfaces: Vec<(&'a str, Ipv4Addr, MacAddr)>,
    /// The default route a segment's `gateway:` gives it.
    #[serde(skip_serializing_if = "Option::is_none")]
    default_route: Option<Ipv4Addr>,
}

fn content_digest(f: &GuestFile) -> String {
    spec_hash(&f.content_base64)
}

fn table(f: &mut fmt::Formatter<'_>, rows: &[Vec<String>]) -> fmt::Result {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in rows {
        let mut line = String::from("  ");
        for (c, cell) in r.iter().enumerate() {
            line.push_str(cell);
            if c + 1 < r.len() {
                let pad = widths[c].saturating_sub(cell.chars().count()) + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        writeln!(f, "{}", line.trim_end())?;
    }
    Ok(())
}

impl fmt::Display for ResolvedLab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "lab {}: network {} ({}) {}, domain {}",
            self.name, self.network_name, self.network_type, self.subnet, self.domain
        )?;
        let mut infra = vec![
            vec!["gateway".to_string(), self.gateway.to_string()],
            vec!["netd".to_string(), format!("{} (DHCP + DNS)", self.netd)],
            vec!["DHCP range".to_string(), self.dhcp_range.to_string()],
            vec!["static range".to_string(), self.static_range.to_string()],
        ];
        if let Some(a) = &self.attach_to {
            infra.push(vec!["attached to".to_string(), a.clone()]);
        }
        table(f, &infra)?;
        writeln!(f)?;
        if !self.segments.is_empty() {
            let mut rows = vec![vec![
                "SEGMENT".to_string(),
                "SUBNET".to_string(),
                "NETD".to_string(),
                "DHCP RANGE".to_string(),
                "DEFAULT ROUTE".to_string(),
            ]];
            for s in &self.segments {
                let route = match (&s.router, s.router_ip) {
                    (Some(r), Some(ip)) => format!("{r} {ip}"),
                    _ => format!("bridge {}", s.gateway),
                };
                rows.push(vec![
                    s.name.clone(),
                    s.subnet.to_string(),
                    s.netd.to_string(),
                    s.dhcp_range.to_string(),
                    route,
                ]);
            }
            table(f, &rows)?;
            writeln!(f)?;
        }
        if !self.hosts.is_empty() {
            let mut rows = vec![
                ["HOST", "DOCKER", "LIBVIRT", "ADDRESS"]
                    .map(String::from)
                    .to_vec(),
            ];
            for h in &self.hosts {
                rows.push(vec![
                    h.name.clone(),
                    h.docker.url(),
                    h.libvirt.clone().unwrap_or_else(|| "none".into()),
                    h.address.map_or_else(|| "-".into(), |a| a.to_string()),
                ]);
            }
            table(f, &rows)?;
            writeln!(f, "placement: {}", self.placement)?;
            writeln!(f)?;
        }
        if self.workloads.is_empty() {
            writeln!(f, "no workloads")?;
        } else {
            let mut rows = vec![vec![
                "NAME".to_string(),
                "KIND".to_string(),
                "ADDRESS".to_string(),
                "MAC".to_string(),
                "DEPENDS ON".to_string(),
            ]];
            for w in &self.workloads {
                let addr = if !w.interfaces.is_empty() {
                    let parts: Vec<String> = w
                        .interfaces
                        .iter()
                        .map(|i| format!("{} {}", i.network, i.ip))
                        .collect();
                    parts.join(", ")
                } else if w.static_ip {
                    w.ip.to_string()
                } else {
                    format!("{} (auto)", w.ip)
                };
                let deps = if w.depends_on.is_empty() {
                    "-".to_string()
                } else {
                    w.depends_on.join(",")
                };
                rows.push(vec![
                    w.name.clone(),
                    w.kind.to_string(),
                    addr,
                    w.mac.to_string(),
                    deps,
                ]);
            }
            table(f, &rows)?;
        }
        if let Some(v) = &self.vpn {
            writeln!(f)?;
            let endpoint = v.endpoint.as_deref().unwrap_or("the host's address");
            let port = match v.listen_port {
                Some(p) => p.to_string(),
                None => format!(
                    "the lab's own (first free from {})",
                    super::DEFAULT_LISTEN_PORT
                ),
            };
            writeln!(
                f,
                "vpn {}: gateway {}, port {port}, endpoint {endpoint}",
                v.subnet, v.server
            )?;
            let mut rows = vec![vec!["PEER".to_string(), "ADDRESS".to_string()]];
            for p in &v.peers {
                rows.push(vec![p.name.clone(), p.address.to_string()]);
            }
            table(f, &rows)?;
        }
        Ok(())
    }
}
