//! The lab as the hub wants it: fully resolved (addresses, MACs, spec hashes), ready to be
//! compared with what runs.

use std::net::Ipv4Addr;
use std::time::Duration;

use hub_net::AddressPlan;
use hub_net::netd::ClientRouter;
use hub_runtime::{MacAddr, NetworkSpec, RestartPolicy, WorkloadKind, WorkloadSpec};
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// Default time a workload may take to become ready (VMs under TCG need minutes).
pub const DEFAULT_CONTAINER_TIMEOUT: Duration = Duration::from_secs(120);
/// Default time a VM may take to become ready.
pub const DEFAULT_VM_TIMEOUT: Duration = Duration::from_secs(600);

/// One workload the lab should run.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredWorkload {
    /// The resolved spec handed to the runtime.
    pub spec: WorkloadSpec,
    /// Workloads that must be ready before this one starts.
    pub depends_on: Vec<String>,
    /// How long readiness may take.
    pub ready_timeout: Duration,
    /// What the reconciler does when the workload stops or disappears (see [`crate::heal`]).
    pub restart: RestartPolicy,
    /// The host it is pinned to (`host:`), in a lab of several hosts.
    pub host: Option<String>,
}

impl DesiredWorkload {
    /// A workload with no dependencies and the default timeout of its kind.
    pub fn new(spec: WorkloadSpec) -> Self {
        let ready_timeout = match spec.kind() {
            WorkloadKind::Container => DEFAULT_CONTAINER_TIMEOUT,
            WorkloadKind::Vm => DEFAULT_VM_TIMEOUT,
        };
        let restart = match &spec {
            WorkloadSpec::Container(c) => c.restart,
            WorkloadSpec::Vm(_) => RestartPolicy::No,
        };
        DesiredWorkload {
            spec,
            depends_on: Vec::new(),
            ready_timeout,
            restart,
            host: None,
        }
    }

    /// The workload's name.
    pub fn name(&self) -> &str {
        self.spec.name()
    }
}

/// One VPN client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpnPeerPlan {
    /// The peer's name (its config file is `NAME.conf` in the lab directory).
    pub name: String,
    /// Its address in the VPN subnet.
    pub address: Ipv4Addr,
}

/// The lab's WireGuard gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpnPlan {
    /// The VPN subnet (the gateway is its `.1`).
    pub subnet: Ipv4Net,
    /// UDP port the gateway listens on.
    pub listen_port: u16,
    /// The endpoint written into client configs (`host:port`); the host's first non-loopback
    /// address when absent.
    pub endpoint: Option<String>,
    /// The clients.
    pub peers: Vec<VpnPeerPlan>,
    /// The lab's other segments the clients reach (a lab of several), with their networks'
    /// bridges once `up` has them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<VpnSegmentPlan>,
}

/// One more segment VPN clients reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpnSegmentPlan {
    /// Its subnet.
    pub subnet: Ipv4Net,
    /// Its bridge on the host (empty until the network exists).
    pub bridge: String,
}

/// A name netd answers for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsRecord {
    /// Host name inside the lab domain (`web`).
    pub name: String,
    /// Its address.
    pub ip: Ipv4Addr,
}

/// A DHCP reservation netd keeps for a MAC (VMs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DhcpReservation {
    /// The client's MAC (`52:54:00:..`).
    pub mac: MacAddr,
    /// The address it gets.
    pub ip: Ipv4Addr,
    /// Its host name.
    pub hostname: String,
    /// Its router option (a VM on several segments: the next hop on the NIC that carries its
    /// default route, none on the others).
    #[serde(default, skip_serializing_if = "ClientRouter::is_segment")]
    pub router: ClientRouter,
}

/// One more segment netd serves, in a lab of several (beyond the lab network).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetdSegmentPlan {
    /// The segment's name.
    pub name: String,
    /// Its network in the backend (the Docker network netd joins).
    pub network: String,
    /// Its subnet.
    pub subnet: Ipv4Net,
    /// netd's address on it (`.2`).
    pub ip: Ipv4Addr,
    /// netd's MAC on it.
    pub mac: MacAddr,
    /// The DHCP router on it: its `gateway:` workload's address there, else the bridge.
    pub router: Ipv4Addr,
    /// First and last address of its DHCP range for unknown clients.
    pub dhcp_range: (Ipv4Addr, Ipv4Addr),
    /// Its reservations by MAC (the VMs that join it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reservations: Vec<DhcpReservation>,
}

/// What netd serves for a lab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetdPlan {
    /// netd's own address (`.2`).
    pub ip: Ipv4Addr,
    /// The lab's DNS domain.
    pub domain: String,
    /// The lab subnet.
    pub subnet: Ipv4Net,
    /// The gateway (router option).
    pub gateway: Ipv4Addr,
    /// First and last address of the DHCP range for unknown clients.
    pub dhcp_range: (Ipv4Addr, Ipv4Addr),
    /// A and PTR records: gateway, netd, every workload and VPN peer.
    pub records: Vec<DnsRecord>,
    /// Reservations by MAC.
    pub reservations: Vec<DhcpReservation>,
    /// Upstream resolvers for other names (none: answer REFUSED).
    pub upstreams: Vec<Ipv4Addr>,
    /// The lab's other segments (empty in a lab of one network).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<NetdSegmentPlan>,
    /// The interface MTU netd hands out (DHCP option 26): the segment's over several hosts,
    /// none on one host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u16>,
}

/// The lab as the hub wants it.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredLab {
    /// The lab's name.
    pub name: String,
    /// The lab network (its first segment).
    pub network: NetworkSpec,
    /// The lab's other segments' networks, in order (labelled with their segment's name).
    pub segments: Vec<NetworkSpec>,
    /// The router netd hands out by DHCP on the lab network: its `gateway:` workload's
    /// address when the spec gives it one (else the bridge).
    pub dhcp_router: Option<Ipv4Addr>,
    /// netd on the other segments (empty in a lab of one network).
    pub netd_segments: Vec<NetdSegmentPlan>,
    /// In a lab of several segments, the names netd answers beyond each workload's first
    /// address: `NAME.SEGMENT` for every interface, and `NAME` for its other interfaces (the
    /// asker's own segment's address is answered first).
    pub segment_records: Vec<DnsRecord>,
    /// Its address plan.
    pub plan: AddressPlan,
    /// Its DNS domain.
    pub domain: String,
    /// Whether the lab runs netd (its own DHCP and DNS).
    pub netd: bool,
    /// Upstream resolvers netd forwards to.
    pub upstreams: Vec<Ipv4Addr>,
    /// The workloads, in spec order.
    pub workloads: Vec<DesiredWorkload>,
    /// The WireGuard gateway, when enabled.
    pub vpn: Option<VpnPlan>,
    /// The hosts the lab spans, the primary first (empty: the one local host).
    pub hosts: Vec<crate::spec::HostSpec>,
    /// How the workloads without a pin are placed on the hosts.
    pub placement: crate::spec::Placement,
}

impl DesiredLab {
    /// What netd serves for this lab, or `None` when the lab runs no netd.
    pub fn netd_plan(&self) -> Option<NetdPlan> {
        if !self.netd {
            return None;
        }
        let subnet = self.network.subnet;
        let ip = self.plan.netd();
        let mut records = vec![
            DnsRecord {
                name: "gateway".into(),
                ip: self.network.gateway,
            },
            DnsRecord {
                name: "netd".into(),
                ip,
            },
        ];
        let mut reservations = Vec::new();
        let mut segments = self.netd_segments.clone();
        for w in &self.workloads {
            if let Some(addr) = w.spec.ip() {
                records.push(DnsRecord {
                    name: w.name().to_string(),
                    ip: addr,
                });
            }
            let WorkloadSpec::Vm(vm) = &w.spec else {
                continue;
            };
            if vm.networks.is_empty() {
                if let Some(addr) = vm.ip {
                    reservations.push(DhcpReservation {
                        mac: vm.mac,
                        ip: addr,
                        hostname: vm.name.clone(),
                        router: ClientRouter::Segment,
                    });
                }
                continue;
            }
            for nic in &vm.networks {
                let (list, subnet) = match segments.iter_mut().find(|s| s.name == nic.segment) {
                    Some(s) => (&mut s.reservations, s.subnet),
                    None => (&mut reservations, subnet),
                };
                list.push(DhcpReservation {
                    mac: nic.mac,
                    ip: nic.ip,
                    hostname: vm.name.clone(),
                    router: nic_router(vm.default_route, subnet),
                });
            }
        }
        records.extend(self.segment_records.iter().cloned());
        if let Some(vpn) = &self.vpn {
            for p in &vpn.peers {
                records.push(DnsRecord {
                    name: p.name.clone(),
                    ip: p.address,
                });
            }
        }
        let dhcp = self.plan.dhcp_range();
        Some(NetdPlan {
            ip,
            domain: self.domain.clone(),
            subnet,
            gateway: self.dhcp_router.unwrap_or(self.network.gateway),
            dhcp_range: (dhcp.start, dhcp.end),
            records,
            reservations,
            upstreams: self.upstreams.clone(),
            segments,
            mtu: None,
        })
    }
}

/// The router a VM's NIC on `subnet` gets: its default route's next hop on the NIC of the
/// segment that holds it, none on the others (one default route, whichever lease comes
/// first).
fn nic_router(default_route: Option<Ipv4Addr>, subnet: Ipv4Net) -> ClientRouter {
    match default_route {
        Some(hop) if subnet.contains(&hop) => ClientRouter::Via(hop),
        _ => ClientRouter::Off,
    }
}
