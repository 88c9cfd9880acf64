//! wg-quick configs: the model, rendering, `strip` (what `wg setconf` takes), and the two
//! configs the gateway makes (its own and one per client). Parsing is in `parse.rs`.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};

use crate::key::{PrivateKey, PublicKey};

/// The keepalive interval (seconds) clients send, so that a client behind NAT stays reachable.
pub const PERSISTENT_KEEPALIVE: u16 = 25;

/// A wg-quick config: one `[Interface]` and any number of `[Peer]`s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WgConfig {
    /// The `[Interface]` section.
    pub interface: InterfaceSection,
    /// The `[Peer]` sections, in file order.
    pub peers: Vec<PeerSection>,
}

/// The `[Interface]` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceSection {
    /// `PrivateKey`.
    pub private_key: PrivateKey,
    /// `Address` (wg-quick only).
    pub addresses: Vec<IpNet>,
    /// `ListenPort`.
    pub listen_port: Option<u16>,
    /// `DNS` servers (wg-quick only).
    pub dns: Vec<IpAddr>,
    /// `DNS` search domains (wg-quick only): the entries of `DNS` that are not addresses.
    pub dns_search: Vec<String>,
    /// `MTU` (wg-quick only).
    pub mtu: Option<u16>,
    /// `FwMark`.
    pub fwmark: Option<u32>,
    /// Other wg-quick-only keys kept as written (`Table`, `PreUp`, `PostUp`, `PreDown`,
    /// `PostDown`, `SaveConfig`), in file order, with the key's canonical spelling.
    pub wg_quick_extra: Vec<(String, String)>,
}

impl InterfaceSection {
    /// A section with only a private key.
    pub fn new(private_key: PrivateKey) -> Self {
        Self {
            private_key,
            addresses: Vec::new(),
            listen_port: None,
            dns: Vec::new(),
            dns_search: Vec::new(),
            mtu: None,
            fwmark: None,
            wg_quick_extra: Vec::new(),
        }
    }
}

/// A `[Peer]` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerSection {
    /// `PublicKey`.
    pub public_key: PublicKey,
    /// `AllowedIPs`.
    pub allowed_ips: Vec<IpNet>,
    /// `Endpoint`, `host:port` (IPv6 hosts in brackets).
    pub endpoint: Option<String>,
    /// `PersistentKeepalive` in seconds.
    pub persistent_keepalive: Option<u16>,
}

impl PeerSection {
    /// A peer with only a public key.
    pub fn new(public_key: PublicKey) -> Self {
        Self {
            public_key,
            allowed_ips: Vec::new(),
            endpoint: None,
            persistent_keepalive: None,
        }
    }
}

fn join<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl WgConfig {
    /// The config as wg-quick reads it. Contains the private key: write it only to a 0600 file.
    pub fn render(&self) -> String {
        self.render_with(true)
    }

    /// What `wg setconf` accepts, like `wg-quick strip`: the wg-quick-only keys (`Address`,
    /// `DNS`, `MTU`, `Table`, hooks, `SaveConfig`) are left out. Contains the private key.
    pub fn strip(&self) -> String {
        self.render_with(false)
    }

    fn render_with(&self, wg_quick: bool) -> String {
        let mut out = String::from("[Interface]\n");
        let i = &self.interface;
        // Writing to a String cannot fail.
        if wg_quick && !i.addresses.is_empty() {
            let _ = writeln!(out, "Address = {}", join(&i.addresses));
        }
        if let Some(port) = i.listen_port {
            let _ = writeln!(out, "ListenPort = {port}");
        }
        let _ = writeln!(out, "PrivateKey = {}", i.private_key.to_base64());
        if let Some(mark) = i.fwmark {
            let _ = writeln!(out, "FwMark = {mark}");
        }
        if wg_quick {
            if !i.dns.is_empty() || !i.dns_search.is_empty() {
                let entries: Vec<String> = i
                    .dns
                    .iter()
                    .map(ToString::to_string)
                    .chain(i.dns_search.iter().cloned())
                    .collect();
                let _ = writeln!(out, "DNS = {}", entries.join(", "));
            }
            if let Some(mtu) = i.mtu {
                let _ = writeln!(out, "MTU = {mtu}");
            }
            for (key, value) in &i.wg_quick_extra {
                let _ = writeln!(out, "{key} = {value}");
            }
        }
        for peer in &self.peers {
            out.push_str("\n[Peer]\n");
            let _ = writeln!(out, "PublicKey = {}", peer.public_key);
            if !peer.allowed_ips.is_empty() {
                let _ = writeln!(out, "AllowedIPs = {}", join(&peer.allowed_ips));
            }
            if let Some(endpoint) = &peer.endpoint {
                let _ = writeln!(out, "Endpoint = {endpoint}");
            }
            if let Some(keepalive) = peer.persistent_keepalive {
                let _ = writeln!(out, "PersistentKeepalive = {keepalive}");
            }
        }
        out
    }
}

/// The gateway's config: `Address` = its VPN address with the VPN prefix, `ListenPort`, its
/// key, and one peer per client allowed only its own /32.
pub fn gateway_config(
    private_key: &PrivateKey,
    address: Ipv4Net,
    listen_port: u16,
    clients: &[(PublicKey, Ipv4Addr)],
) -> WgConfig {
    let mut interface = InterfaceSection::new(private_key.clone());
    interface.addresses = vec![IpNet::V4(address)];
    interface.listen_port = Some(listen_port);
    let peers = clients
        .iter()
        .map(|(public_key, ip)| {
            let mut peer = PeerSection::new(*public_key);
            peer.allowed_ips = vec![IpNet::V4(Ipv4Net::from(*ip))];
            peer
        })
        .collect();
    WgConfig { interface, peers }
}

/// What a client's config is made of.
#[derive(Clone, Debug)]
pub struct ClientParams<'a> {
    /// The client's private key.
    pub private_key: &'a PrivateKey,
    /// The client's VPN address (rendered as a /32).
    pub address: Ipv4Addr,
    /// The DNS server the client uses (the lab's netd).
    pub dns: Ipv4Addr,
    /// The search domain the client uses (the lab's domain), so `web` resolves as
    /// `web.LAB.lab`.
    pub dns_search: Option<&'a str>,
    /// The gateway's public key.
    pub gateway_key: PublicKey,
    /// The gateway's endpoint, `host:port`.
    pub endpoint: String,
    /// The lab subnet, routed through the tunnel.
    pub lab_subnet: Ipv4Net,
    /// The lab's other segments, routed through the tunnel too.
    pub segments: Vec<Ipv4Net>,
    /// The VPN subnet, routed through the tunnel.
    pub vpn_subnet: Ipv4Net,
}

/// A client's config: its address and key, the lab's DNS, and the gateway as its one peer
/// with `AllowedIPs` = lab subnet, its other segments, VPN subnet and a persistent keepalive.
pub fn client_config(params: &ClientParams<'_>) -> WgConfig {
    let mut interface = InterfaceSection::new(params.private_key.clone());
    interface.addresses = vec![IpNet::V4(Ipv4Net::from(params.address))];
    interface.dns = vec![IpAddr::V4(params.dns)];
    interface.dns_search = params.dns_search.map(String::from).into_iter().collect();
    let mut peer = PeerSection::new(params.gateway_key);
    peer.allowed_ips = std::iter::once(params.lab_subnet)
        .chain(params.segments.iter().copied())
        .chain(std::iter::once(params.vpn_subnet))
        .map(|n| IpNet::V4(n.trunc()))
        .collect();
    peer.endpoint = Some(params.endpoint.clone());
    peer.persistent_keepalive = Some(PERSISTENT_KEEPALIVE);
    WgConfig {
        interface,
        peers: vec![peer],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keygen::{KeyGen, SeededKeyGen};

    #[test]
    fn renders_gateway_and_client_as_wg_quick_writes_them() {
        let keys = SeededKeyGen::new(1);
        let (gw, client) = (keys.generate().unwrap(), keys.generate().unwrap());
        let gateway = gateway_config(
            &gw.private,
            "10.214.0.1/24".parse().unwrap(),
            51820,
            &[(client.public, "10.214.0.2".parse().unwrap())],
        );
        let expected = format!(
            "[Interface]\nAddress = 10.214.0.1/24\nListenPort = 51820\nPrivateKey = {}\n\n\
             [Peer]\nPublicKey = {}\nAllowedIPs = 10.214.0.2/32\n",
            gw.private.to_base64(),
            client.public
        );
        assert_eq!(gateway.render(), expected);
        assert!(!gateway.strip().contains("Address"));

        let config = client_config(&ClientParams {
            private_key: &client.private,
            address: "10.214.0.2".parse().unwrap(),
            dns: "10.204.0.2".parse().unwrap(),
            dns_search: Some("demo.lab"),
            gateway_key: gw.public,
            endpoint: "192.0.2.2:51820".into(),
            lab_subnet: "10.204.0.0/24".parse().unwrap(),
            segments: Vec::new(),
            vpn_subnet: "10.214.0.0/24".parse().unwrap(),
        });
        let expected = format!(
            "[Interface]\nAddress = 10.214.0.2/32\nPrivateKey = {}\nDNS = 10.204.0.2, demo.lab\n\n\
             [Peer]\nPublicKey = {}\nAllowedIPs = 10.204.0.0/24, 10.214.0.0/24\n\
             Endpoint = 192.0.2.2:51820\nPersistentKeepalive = 25\n",
            client.private.to_base64(),
            gw.public
        );
        assert_eq!(config.render(), expected);
        let stripped = config.strip();
        assert!(!stripped.contains("Address") && !stripped.contains("DNS"));
        assert!(stripped.contains("Endpoint = 192.0.2.2:51820"));
    }

    #[test]
    fn every_segment_of_the_lab_is_in_allowed_ips() {
        let keys = SeededKeyGen::new(2);
        let (gw, client) = (keys.generate().unwrap(), keys.generate().unwrap());
        let config = client_config(&ClientParams {
            private_key: &client.private,
            address: "10.214.0.2".parse().unwrap(),
            dns: "10.231.1.2".parse().unwrap(),
            dns_search: None,
            gateway_key: gw.public,
            endpoint: "192.0.2.2:51820".into(),
            lab_subnet: "10.231.1.0/24".parse().unwrap(),
            segments: vec![
                "10.231.2.0/24".parse().unwrap(),
                "10.231.3.7/24".parse().unwrap(),
            ],
            vpn_subnet: "10.214.0.0/24".parse().unwrap(),
        });
        assert!(
            config.render().contains(
                "AllowedIPs = 10.231.1.0/24, 10.231.2.0/24, 10.231.3.0/24, 10.214.0.0/24\n"
            ),
            "{}",
            config.render()
        );
    }
}
