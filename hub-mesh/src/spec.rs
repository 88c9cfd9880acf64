//! What a lab's host mesh is made of: its hosts, the names, VNI, addresses and MTUs derived
//! from the lab, and the checks that refuse a spec before anything is made.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use hub_docker::DockerRuntime;
use ipnet::Ipv4Net;
use sha2::{Digest, Sha256};

use crate::error::{MeshError, MeshResult};

/// The UDP port of the VXLAN inside the mesh (IANA's); it is only ever used on the WireGuard
/// interfaces, never on the underlay.
pub const VXLAN_PORT: u16 = 4789;
/// WireGuard's overhead on an IPv6 underlay, the larger case: IPv6 40 + UDP 8 + WireGuard 32.
pub const WG_OVERHEAD: u16 = 80;
/// VXLAN's overhead over IPv4: IPv4 20 + UDP 8 + VXLAN 8 + the inner Ethernet header 14.
pub const VXLAN_OVERHEAD: u16 = 50;
/// The underlay MTU assumed unless the spec says otherwise.
pub const DEFAULT_UNDERLAY_MTU: u16 = 1500;
/// The smallest lab MTU accepted (IPv4's minimum datagram a host must take is 576).
const MIN_LAB_MTU: u16 = 576;
/// Prefix of the lab's WireGuard interface on every host.
pub const WG_PREFIX: &str = "hubmw-";
/// Prefix of the lab's VXLAN device on every host.
pub const VXLAN_PREFIX: &str = "hubmx-";

/// One host of the mesh.
#[derive(Clone, Debug)]
pub struct MeshHost {
    /// Its name in the lab (a DNS label; the key file and messages use it).
    pub name: String,
    /// Its Docker Engine, the only way the mesh reaches it.
    pub docker: DockerRuntime,
    /// The address the other hosts reach it on.
    pub underlay: Ipv4Addr,
    /// The Linux bridge of the lab's Docker network on this host (`br-<12 hex>`).
    pub bridge: String,
}

impl MeshHost {
    /// A host named `name`, reached through `docker`, at `underlay`, whose lab bridge is
    /// `bridge`.
    pub fn new(
        name: impl Into<String>,
        docker: DockerRuntime,
        underlay: Ipv4Addr,
        bridge: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            docker,
            underlay,
            bridge: bridge.into(),
        }
    }
}

/// The mesh of one lab: its hosts (the first is the primary), the lab directory holding the
/// hosts' keys, the WireGuard port, the mesh's own addresses and the underlay's MTU.
#[derive(Clone, Debug)]
pub struct MeshSpec {
    /// The lab.
    pub lab: String,
    /// The lab directory (keys go to `identity/wg/mesh/<host>.key`, 0600).
    pub lab_dir: PathBuf,
    /// The lab's subnet; the mesh's addresses must not overlap it.
    pub lab_subnet: Ipv4Net,
    /// The UDP port every host's WireGuard interface listens on, on its underlay address.
    pub port: u16,
    /// The mesh's own addresses: host `i` (from 0) takes the `i + 1`th address.
    pub subnet: Ipv4Net,
    /// The MTU of the underlay between the hosts.
    pub underlay_mtu: u16,
    /// The hosts, the primary first.
    pub hosts: Vec<MeshHost>,
    /// Networks behind a router on the lab network (the VPN's clients, behind the gateway
    /// container at `.3`), and that router's address: every host routes them there, so that a
    /// workload on any host answers a VPN client.
    pub routed: Option<(Ipv4Addr, Vec<Ipv4Net>)>,
}

impl MeshSpec {
    /// A mesh for `lab` (subnet `lab_subnet`, keys under `lab_dir`) whose WireGuard listens on
    /// UDP `port`, with the mesh addresses of [`default_subnet`] and a 1500-byte underlay.
    pub fn new(
        lab: impl Into<String>,
        lab_dir: impl Into<PathBuf>,
        lab_subnet: Ipv4Net,
        port: u16,
    ) -> Self {
        let lab = lab.into();
        Self {
            subnet: default_subnet(&lab),
            lab,
            lab_dir: lab_dir.into(),
            lab_subnet,
            port,
            underlay_mtu: DEFAULT_UNDERLAY_MTU,
            hosts: Vec::new(),
            routed: None,
        }
    }

    /// Adds a host (the first one added is the primary).
    pub fn host(mut self, host: MeshHost) -> Self {
        self.hosts.push(host);
        self
    }

    /// Uses `subnet` for the mesh's own addresses.
    pub fn subnet(mut self, subnet: Ipv4Net) -> Self {
        self.subnet = subnet;
        self
    }

    /// Sets the underlay's MTU.
    pub fn underlay_mtu(mut self, mtu: u16) -> Self {
        self.underlay_mtu = mtu;
        self
    }

    /// Routes `networks` on every host through `router`, an address on the lab network (none:
    /// nothing is routed).
    pub fn route_via(mut self, router: Ipv4Addr, networks: Vec<Ipv4Net>) -> Self {
        self.routed = (!networks.is_empty()).then_some((router, networks));
        self
    }

    /// The MTU of the WireGuard interfaces: the underlay's less WireGuard's overhead.
    pub fn wg_mtu(&self) -> u16 {
        self.underlay_mtu.saturating_sub(WG_OVERHEAD)
    }

    /// The MTU the lab's segment gets (1370 on a 1500-byte underlay): the WireGuard MTU less
    /// VXLAN's overhead. Containers need it as their Docker network's MTU, VMs through DHCP
    /// option 26.
    pub fn lab_mtu(&self) -> u16 {
        self.wg_mtu().saturating_sub(VXLAN_OVERHEAD)
    }

    /// The mesh address of the host at `index`.
    pub fn mesh_address(&self, index: usize) -> Ipv4Addr {
        let base = u32::from(self.subnet.network());
        Ipv4Addr::from(base.saturating_add(index as u32 + 1))
    }

    /// Refuses a spec that cannot work, before anything is made: a bad lab or host name, fewer
    /// than two hosts, two hosts with one name or one underlay address, a bridge name Linux
    /// would refuse, a mesh subnet too small for the hosts or overlapping the lab's, port 0,
    /// or an underlay MTU that leaves the lab less than 576 bytes.
    pub fn validate(&self) -> MeshResult<()> {
        let bad = |reason: String| {
            Err(MeshError::InvalidSpec {
                lab: self.lab.clone(),
                reason,
            })
        };
        hub_wg::check_name("lab", &self.lab).or_else(|e| bad(e.to_string()))?;
        if self.hosts.len() < 2 {
            return bad(format!(
                "it joins hosts, and {} host(s) were given; a lab on one host needs no mesh",
                self.hosts.len()
            ));
        }
        let mut names = HashSet::new();
        let mut addresses = std::collections::HashMap::new();
        for h in &self.hosts {
            hub_wg::check_name("host", &h.name).or_else(|e| bad(e.to_string()))?;
            if !names.insert(h.name.as_str()) {
                return bad(format!("host {:?} is listed twice", h.name));
            }
            if let Some(other) = addresses.insert(h.underlay, h.name.as_str()) {
                return bad(format!(
                    "hosts {other:?} and {:?} have the same underlay address {}; give each host its own",
                    h.name, h.underlay
                ));
            }
            if h.bridge.is_empty() || h.bridge.len() > 15 || h.bridge.contains(['/', ' ']) {
                return bad(format!(
                    "host {:?}: {:?} is not a Linux interface name (1 to 15 characters, no '/' or space)",
                    h.name, h.bridge
                ));
            }
        }
        let room = (1u64 << (32 - self.subnet.prefix_len())).saturating_sub(2);
        if room < self.hosts.len() as u64 {
            return bad(format!(
                "the mesh subnet {} has {room} addresses for {} hosts; give a larger one",
                self.subnet,
                self.hosts.len()
            ));
        }
        if self.subnet.contains(&self.lab_subnet.network())
            || self.lab_subnet.contains(&self.subnet.network())
        {
            return bad(format!(
                "the mesh subnet {} overlaps the lab's subnet {}; choose another",
                self.subnet, self.lab_subnet
            ));
        }
        if self.port == 0 {
            return bad("the WireGuard port is 0; give a UDP port".into());
        }
        if let Some((router, networks)) = &self.routed {
            if !self.lab_subnet.contains(router) {
                return bad(format!(
                    "the router {router} is not in the lab's subnet {}",
                    self.lab_subnet
                ));
            }
            if let Some(n) = networks.iter().find(|n| {
                n.contains(&self.lab_subnet.network()) || self.lab_subnet.contains(&n.network())
            }) {
                return bad(format!(
                    "{n}, routed through the primary, overlaps the lab's subnet {}",
                    self.lab_subnet
                ));
            }
        }
        if self.lab_mtu() < MIN_LAB_MTU {
            return bad(format!(
                "an underlay MTU of {} leaves the lab {} bytes after WireGuard ({WG_OVERHEAD}) and VXLAN ({VXLAN_OVERHEAD}); at least {} is needed",
                self.underlay_mtu,
                self.lab_mtu(),
                MIN_LAB_MTU + WG_OVERHEAD + VXLAN_OVERHEAD
            ));
        }
        Ok(())
    }
}

fn lab_digest(lab: &str) -> [u8; 32] {
    Sha256::digest(format!("hub-mesh:{lab}").as_bytes()).into()
}

/// The lab's VXLAN network identifier: 24 bits of its name's hash, never 0. The same lab
/// always gets the same VNI on every host.
pub fn vni(lab: &str) -> u32 {
    let d = lab_digest(lab);
    let v = u32::from_be_bytes([0, d[0], d[1], d[2]]);
    if v == 0 { 1 } else { v }
}

/// The mesh addresses a lab gets unless its spec says otherwise: a /24 of the link-local
/// 169.254.0.0/16 chosen by the lab name's hash (never 169.254.0.0/24, 169.254.169.0/24
/// where clouds answer metadata, nor 169.254.255.0/24). Link-local addresses are never routed
/// beyond a link, which is what the mesh's point-to-point tunnels are.
pub fn default_subnet(lab: &str) -> Ipv4Net {
    let d = lab_digest(lab);
    let mut third = d[3];
    while matches!(third, 0 | 169 | 255) {
        third = third.wrapping_add(1);
    }
    Ipv4Net::new(Ipv4Addr::new(169, 254, third, 0), 24).unwrap_or_default()
}

/// The lab's WireGuard interface on every host (`hubmw-` and the lab, or its hash).
pub fn wg_interface(lab: &str) -> String {
    hub_wg::prefixed_interface_name(WG_PREFIX, lab)
}

/// The lab's VXLAN device on every host (`hubmx-` and the lab, or its hash).
pub fn vxlan_interface(lab: &str) -> String {
    hub_wg::prefixed_interface_name(VXLAN_PREFIX, lab)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(hosts: &[(&str, [u8; 4])]) -> MeshSpec {
        let docker = DockerRuntime::from_client(
            bollard::Docker::connect_with_http(
                "http://127.0.0.1:1",
                1,
                bollard::API_DEFAULT_VERSION,
            )
            .unwrap(),
        );
        let mut s = MeshSpec::new("demo", "/tmp/x", "10.203.10.0/24".parse().unwrap(), 52200);
        for (name, ip) in hosts {
            s = s.host(MeshHost::new(
                *name,
                docker.clone(),
                Ipv4Addr::from(*ip),
                "br-0123456789ab",
            ));
        }
        s
    }

    #[test]
    fn derived_values_are_stable_and_in_range() {
        assert_eq!(vni("demo"), vni("demo"));
        assert_ne!(vni("demo"), vni("demo2"));
        assert!(vni("demo") > 0 && vni("demo") < 1 << 24);
        let net = default_subnet("demo");
        assert_eq!(net.prefix_len(), 24);
        assert!("169.254.0.0/16".parse::<Ipv4Net>().unwrap().contains(&net));
        assert_eq!(wg_interface("demo"), "hubmw-demo");
        assert_eq!(vxlan_interface("a-very-long-lab").len(), 15);
    }

    #[test]
    fn mtu_budget_takes_both_headers() {
        let s = spec(&[("h1", [10, 0, 0, 1]), ("h2", [10, 0, 0, 2])]);
        assert_eq!((s.wg_mtu(), s.lab_mtu()), (1420, 1370));
        assert!(s.validate().is_ok());
        let small = s.underlay_mtu(600).validate().unwrap_err().to_string();
        assert!(small.contains("at least 706"), "{small}");
    }

    #[test]
    fn bad_specs_name_the_host_and_the_reason() {
        let same = spec(&[("h1", [10, 0, 0, 1]), ("h2", [10, 0, 0, 1])])
            .validate()
            .unwrap_err()
            .to_string();
        assert!(
            same.contains("\"h1\" and \"h2\" have the same underlay address 10.0.0.1"),
            "{same}"
        );
        let one = spec(&[("h1", [10, 0, 0, 1])])
            .validate()
            .unwrap_err()
            .to_string();
        assert!(one.contains("1 host(s)"), "{one}");
        let twice = spec(&[("h1", [10, 0, 0, 1]), ("h1", [10, 0, 0, 2])])
            .validate()
            .unwrap_err()
            .to_string();
        assert!(twice.contains("\"h1\" is listed twice"), "{twice}");
        let overlap = spec(&[("h1", [10, 0, 0, 1]), ("h2", [10, 0, 0, 2])])
            .subnet("10.203.0.0/16".parse().unwrap())
            .validate()
            .unwrap_err()
            .to_string();
        assert!(overlap.contains("overlaps the lab's subnet"), "{overlap}");
        let tiny = spec(&[
            ("h1", [10, 0, 0, 1]),
            ("h2", [10, 0, 0, 2]),
            ("h3", [10, 0, 0, 3]),
        ])
        .subnet("169.254.7.0/30".parse().unwrap())
        .validate()
        .unwrap_err()
        .to_string();
        assert!(tiny.contains("2 addresses for 3 hosts"), "{tiny}");
        let two = [("h1", [10, 0, 0, 1]), ("h2", [10, 0, 0, 2])];
        let inside = spec(&two)
            .route_via(
                "10.203.10.1".parse().unwrap(),
                vec!["10.203.10.128/25".parse().unwrap()],
            )
            .validate()
            .unwrap_err()
            .to_string();
        assert!(inside.contains("overlaps the lab's subnet"), "{inside}");
        let outside = spec(&two)
            .route_via(
                "10.9.9.1".parse().unwrap(),
                vec!["10.10.0.0/24".parse().unwrap()],
            )
            .validate()
            .unwrap_err()
            .to_string();
        assert!(
            outside.contains("router 10.9.9.1 is not in the lab's subnet"),
            "{outside}"
        );
    }
}
