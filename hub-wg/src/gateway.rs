//! The lab's WireGuard gateway on the host: bring-up, live peer changes, and `down`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;

use crate::cmd::Cmd;
use crate::config::{ClientParams, client_config, gateway_config};
use crate::error::WgError;
use crate::firewall;
use crate::key::{KeyPair, PublicKey};
use crate::keygen::KeyGen;
use crate::keystore::{KeyStore, remove_if_exists};
use crate::link::{self, Dump, WgMode};
use crate::names::{check_name, interface_name};
use crate::secret_file::{private_dir, write_secret_if_changed};

/// WireGuard's usual port, the default listen port of a gateway.
pub const DEFAULT_LISTEN_PORT: u16 = 51820;

/// A VPN client of the lab.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerSpec {
    /// Its name (key and config files are named after it).
    pub name: String,
    /// Its address in the VPN subnet.
    pub address: Ipv4Addr,
}

impl PeerSpec {
    /// A peer named `name` at `address`.
    pub fn new(name: impl Into<String>, address: Ipv4Addr) -> Self {
        Self {
            name: name.into(),
            address,
        }
    }
}

/// Everything the gateway of one lab is made from.
#[derive(Clone, Debug)]
pub struct GatewaySpec {
    /// The lab name (names the interface and marks the iptables rules).
    pub lab: String,
    /// The lab directory; keys and client configs go under `<dir>/wg`.
    pub dir: PathBuf,
    /// The VPN subnet; the gateway takes its `.1`.
    pub vpn_subnet: Ipv4Net,
    /// The lab's subnet, routed to clients through the tunnel.
    pub lab_subnet: Ipv4Net,
    /// The lab's bridge on the host (`br-<12 hex of the Docker network id>`).
    pub bridge: String,
    /// The lab's other segments (a lab of several): each routed to clients and forwarded
    /// to, like the lab subnet.
    pub segments: Vec<SegmentRoute>,
    /// The UDP port the gateway listens on.
    pub listen_port: u16,
    /// The endpoint clients dial (`host` or `host:port`); `None` means the host's first
    /// non-loopback IPv4 address. Without a port, `listen_port` is used.
    pub endpoint: Option<String>,
    /// The DNS server clients use (the lab's netd).
    pub dns: Ipv4Addr,
    /// The search domain clients use (the lab's domain), if any.
    pub dns_search: Option<String>,
    /// The clients.
    pub peers: Vec<PeerSpec>,
}

/// One more segment of the lab the VPN reaches: its subnet and its bridge on the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentRoute {
    /// The segment's subnet.
    pub subnet: Ipv4Net,
    /// Its bridge on the host.
    pub bridge: String,
}

impl GatewaySpec {
    /// The interface name derived from the lab name.
    pub fn interface(&self) -> String {
        interface_name(&self.lab)
    }

    /// The lab's bridges: its network's, then its other segments'.
    pub fn bridges(&self) -> Vec<&str> {
        std::iter::once(self.bridge.as_str())
            .chain(self.segments.iter().map(|s| s.bridge.as_str()))
            .collect()
    }

    /// The gateway's own VPN address: `.1` of the VPN subnet.
    pub fn gateway_address(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.vpn_subnet.network()).saturating_add(1))
    }

    /// Checks names, subnets and addresses; every problem is reported in one error.
    pub fn validate(&self) -> Result<(), WgError> {
        check_name("lab", &self.lab)?;
        let mut problems = Vec::new();
        let (vpn, lab) = (self.vpn_subnet.trunc(), self.lab_subnet.trunc());
        if vpn.prefix_len() > 30 {
            problems.push(format!(
                "the VPN subnet {vpn} is too small (at most /30: it holds the gateway and peers)"
            ));
        }
        for lab in std::iter::once(lab).chain(self.segments.iter().map(|s| s.subnet.trunc())) {
            if vpn.contains(&lab.network()) || lab.contains(&vpn.network()) {
                problems.push(format!(
                    "the VPN subnet {vpn} overlaps the lab subnet {lab}"
                ));
            }
        }
        if self.listen_port == 0 {
            problems.push("the listen port must not be 0".into());
        }
        for bridge in self.bridges() {
            if bridge.is_empty()
                || bridge.len() > 15
                || bridge.contains(|c: char| c == '/' || c.is_whitespace())
            {
                problems.push(format!("{bridge:?} is not a valid bridge name"));
            }
        }
        let gateway = self.gateway_address();
        let mut names = BTreeSet::new();
        let mut addresses = BTreeMap::new();
        for peer in &self.peers {
            if let Err(e) = check_name("peer", &peer.name) {
                problems.push(e.to_string());
            }
            if !names.insert(peer.name.as_str()) {
                problems.push(format!("peer {:?} is listed twice", peer.name));
            }
            let a = peer.address;
            if !vpn.contains(&a) {
                problems.push(format!(
                    "peer {:?}: address {a} is outside the VPN subnet {vpn}",
                    peer.name
                ));
            } else if a == vpn.network() || a == vpn.broadcast() || a == gateway {
                problems.push(format!(
                    "peer {:?}: address {a} is the VPN subnet's network, broadcast or gateway \
                     address",
                    peer.name
                ));
            }
            if let Some(other) = addresses.insert(a, peer.name.as_str()) {
                problems.push(format!(
                    "peers {other:?} and {:?} both have address {a}",
                    peer.name
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(WgError::InvalidSpec {
                lab: self.lab.clone(),
                reason: problems.join("; "),
            })
        }
    }
}

/// What `up` or `sync_peers` produced.
#[derive(Clone, Debug)]
pub struct GatewayInfo {
    /// The interface name.
    pub interface: String,
    /// How the interface runs (or `Existing` when it was reused).
    pub mode: WgMode,
    /// The gateway's public key.
    pub public_key: PublicKey,
    /// The UDP port it listens on.
    pub listen_port: u16,
    /// Its VPN address with the VPN prefix.
    pub address: Ipv4Net,
    /// The endpoint written into client configs (`host:port`).
    pub endpoint: String,
    /// Each peer's public key.
    pub peers: BTreeMap<String, PublicKey>,
    /// Each peer's client config file.
    pub client_configs: BTreeMap<String, PathBuf>,
    /// Peers added to the interface by this call.
    pub added: Vec<String>,
    /// Public keys removed from the interface by this call (revoked peers).
    pub revoked: Vec<PublicKey>,
    /// Peers no longer in the spec whose key and config files were deleted by this call.
    pub forgotten: Vec<String>,
}

/// What [`Gateway::configs`] made: the gateway's config for a gateway that runs elsewhere,
/// and the clients' configs, written.
#[derive(Clone, Debug)]
pub struct GatewayConfigs {
    /// The gateway's wg-quick config (its private key, address, port and peers); `strip()`
    /// gives what `wg setconf` takes. Secret: never log it.
    pub server: crate::config::WgConfig,
    /// The gateway's public key.
    pub public_key: PublicKey,
    /// The endpoint written into client configs (`host:port`).
    pub endpoint: String,
    /// Each peer's public key.
    pub peers: BTreeMap<String, PublicKey>,
    /// Each peer's client config file.
    pub client_configs: BTreeMap<String, PathBuf>,
    /// Peers no longer in the spec whose key and config files were deleted by this call.
    pub forgotten: Vec<String>,
}

/// What `down` removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DownReport {
    /// The lab's interface name.
    pub interface: String,
    /// Whether the interface existed and was deleted.
    pub interface_removed: bool,
    /// How many `DOCKER-USER` rules of the lab were deleted.
    pub rules_removed: usize,
}

/// The WireGuard gateway of a lab. All operations are blocking (they run `ip`, `wg` and
/// `iptables`) and need root; call them from `spawn_blocking` in async code.
#[derive(Debug)]
pub struct Gateway;

impl Gateway {
    /// The interface name of a lab.
    pub fn interface_name(lab: &str) -> String {
        interface_name(lab)
    }

    /// Where the client config of `peer` is written under the lab directory `dir`.
    pub fn client_config_path(dir: &Path, peer: &str) -> PathBuf {
        dir.join("wg").join("clients").join(format!("{peer}.conf"))
    }

    /// Brings the gateway up, or brings a running one in line with `spec` (idempotent): keys
    /// are loaded from the lab directory or made with `keygen`, the interface is created if
    /// missing (kernel, else wireguard-go), peers are synced without disturbing the others,
    /// forwarding rules are ensured, and client configs are written. If it fails after
    /// creating the interface, the interface and the lab's rules are removed again.
    pub fn up(spec: &GatewaySpec, keygen: &dyn KeyGen) -> Result<GatewayInfo, WgError> {
        Self::apply(spec, keygen, true)
    }

    /// Adds new peers and revokes removed ones on the running interface with `wg set`,
    /// without recreating it; also refreshes key files, client configs and rules. Fails
    /// with [`WgError::NoInterface`] if the gateway is not up.
    pub fn sync_peers(spec: &GatewaySpec, keygen: &dyn KeyGen) -> Result<GatewayInfo, WgError> {
        Self::apply(spec, keygen, false)
    }

    /// The gateway's keys and configs without touching this machine's network: keys are
    /// loaded from the lab directory or made with `keygen`, client configs are written (0600),
    /// peers no longer in the spec are forgotten, and the gateway's own config (with its
    /// private key: give it only to `wg setconf`) is returned, for a gateway that runs
    /// elsewhere (a container on another host). `spec.endpoint` should be given: without it
    /// clients are told this machine's first IPv4 address.
    pub fn configs(spec: &GatewaySpec, keygen: &dyn KeyGen) -> Result<GatewayConfigs, WgError> {
        spec.validate()?;
        let context = format!("lab {:?}", spec.lab);
        let endpoint = resolve_endpoint(spec, &context)?;
        let (store, gateway, peers) = load_keys(spec, keygen)?;
        let server = server_config(spec, &gateway, &peers);
        let client_configs = write_client_configs(spec, &gateway, &peers, &endpoint)?;
        let forgotten = forget_removed_peers(spec, &store)?;
        Ok(GatewayConfigs {
            server,
            public_key: gateway.public,
            endpoint,
            peers: peers
                .iter()
                .map(|(p, k)| (p.name.clone(), k.public))
                .collect(),
            client_configs,
            forgotten,
        })
    }

    /// Whether the lab's gateway interface exists on the host.
    pub fn is_up(lab: &str) -> bool {
        link::exists(&interface_name(lab))
    }

    /// Removes the lab's interface and exactly the lab's `DOCKER-USER` rules, found by the
    /// derived interface name and the `hub:LAB` comment, so it needs no state. Idempotent.
    /// Key files and client configs stay, so a later `up` reuses them.
    pub fn down(lab: &str) -> Result<DownReport, WgError> {
        check_name("lab", lab)?;
        let interface = interface_name(lab);
        let context = format!("lab {lab:?}, interface {interface}");
        let _span = tracing::info_span!("wg_down", lab, interface).entered();
        let interface_removed = link::delete(&context, &interface)?;
        let rules_removed = firewall::remove_rules(&context, lab)?;
        tracing::info!(interface_removed, rules_removed, "WireGuard gateway down");
        Ok(DownReport {
            interface,
            interface_removed,
            rules_removed,
        })
    }

    fn apply(
        spec: &GatewaySpec,
        keygen: &dyn KeyGen,
        create: bool,
    ) -> Result<GatewayInfo, WgError> {
        spec.validate()?;
        let interface = spec.interface();
        let context = format!("lab {:?}, interface {interface}", spec.lab);
        let _span = tracing::info_span!("wg_up", lab = %spec.lab, interface).entered();

        // Everything that can be checked is checked before anything is created.
        if let Some(missing) = spec.bridges().into_iter().find(|b| !link::exists(b)) {
            return Err(WgError::NoBridge {
                lab: spec.lab.clone(),
                bridge: missing.to_string(),
            });
        }
        firewall::require_chain(&context, &spec.lab)?;
        let exists = link::exists(&interface);
        if !exists && !create {
            return Err(WgError::NoInterface {
                lab: spec.lab.clone(),
                interface,
            });
        }
        let endpoint = resolve_endpoint(spec, &context)?;
        let (store, gateway, peers) = load_keys(spec, keygen)?;

        let mode = if exists {
            WgMode::Existing
        } else {
            // The log is the run's, not the identity's: beside the client configs.
            let run_dir = spec.dir.join("wg");
            private_dir(&run_dir)?;
            link::create(&context, &interface, &run_dir.join("wireguard-go.log"))?
        };
        let applied = configure(spec, &context, &interface, &gateway, &peers, !exists);
        let (added, revoked) = match applied {
            Ok(changes) => changes,
            Err(e) => {
                if !exists {
                    if let Err(cleanup) = Self::down(&spec.lab) {
                        tracing::warn!(error = %cleanup, "could not undo a failed gateway bring-up");
                    }
                }
                return Err(e);
            }
        };

        let client_configs = write_client_configs(spec, &gateway, &peers, &endpoint)?;
        let forgotten = forget_removed_peers(spec, &store)?;
        tracing::info!(
            ?mode,
            ?added,
            revoked = revoked.len(),
            ?forgotten,
            "WireGuard gateway up"
        );
        Ok(GatewayInfo {
            interface,
            mode,
            public_key: gateway.public,
            listen_port: spec.listen_port,
            address: gateway_net(spec),
            endpoint,
            peers: peers
                .iter()
                .map(|(p, k)| (p.name.clone(), k.public))
                .collect(),
            client_configs,
            added,
            revoked,
            forgotten,
        })
    }
}

/// The key store of the lab, the gateway's keys and each peer's (made when missing).
type Keys<'a> = (KeyStore, KeyPair, Vec<(&'a PeerSpec, KeyPair)>);

fn load_keys<'a>(spec: &'a GatewaySpec, keygen: &dyn KeyGen) -> Result<Keys<'a>, WgError> {
    let store = KeyStore::open(&spec.dir)?;
    let gateway = store.gateway(keygen)?;
    let peers = spec
        .peers
        .iter()
        .map(|p| Ok((p, store.peer(&p.name, keygen)?)))
        .collect::<Result<Vec<_>, WgError>>()?;
    Ok((store, gateway, peers))
}

/// The gateway's own config: its key, address and port, a peer per client.
fn server_config(
    spec: &GatewaySpec,
    gateway: &KeyPair,
    peers: &[(&PeerSpec, KeyPair)],
) -> crate::config::WgConfig {
    let clients: Vec<_> = peers.iter().map(|(p, k)| (k.public, p.address)).collect();
    gateway_config(
        &gateway.private,
        gateway_net(spec),
        spec.listen_port,
        &clients,
    )
}

fn gateway_net(spec: &GatewaySpec) -> Ipv4Net {
    // The prefix was validated (at most /30), so this cannot fail; fall back to a /32.
    Ipv4Net::new(spec.gateway_address(), spec.vpn_subnet.prefix_len())
        .unwrap_or_else(|_| Ipv4Net::from(spec.gateway_address()))
}

/// Sets key, port and peers on the interface, its address, and the forwarding rules.
/// Returns the peers added and the keys revoked.
fn configure(
    spec: &GatewaySpec,
    context: &str,
    interface: &str,
    gateway: &KeyPair,
    peers: &[(&PeerSpec, KeyPair)],
    fresh: bool,
) -> Result<(Vec<String>, Vec<PublicKey>), WgError> {
    let mut added = Vec::new();
    let mut revoked = Vec::new();
    if fresh {
        // Up first, so that a listen port in use fails `wg setconf` here (see `link::set_up`).
        link::set_up(context, interface)?;
        let config = server_config(spec, gateway, peers);
        Cmd::new(context, "wg")
            .args(["setconf", interface, "/dev/stdin"])
            .stdin(config.strip().as_bytes())
            .run()?;
        added = peers.iter().map(|(p, _)| p.name.clone()).collect();
    } else {
        let dump = link::dump(context, interface)?;
        if dump.public_key != Some(gateway.public) || dump.listen_port != spec.listen_port {
            let port = spec.listen_port.to_string();
            Cmd::new(context, "wg")
                .args([
                    "set",
                    interface,
                    "listen-port",
                    &port,
                    "private-key",
                    "/dev/stdin",
                ])
                .stdin(format!("{}\n", gateway.private.to_base64()).as_bytes())
                .run()?;
        }
        let mut args = vec!["set".to_string(), interface.to_string()];
        let wanted: BTreeMap<PublicKey, String> = peers
            .iter()
            .map(|(p, k)| (k.public, Ipv4Net::from(p.address).to_string()))
            .collect();
        revoked = stale_peers(&dump, &wanted);
        for key in &revoked {
            args.extend(["peer".into(), key.to_base64(), "remove".into()]);
        }
        for (peer, key) in peers {
            let allowed = Ipv4Net::from(peer.address).to_string();
            match dump.peers.get(&key.public) {
                Some(state) if state.allowed_ips == [allowed.clone()] => {}
                current => {
                    if current.is_none() {
                        added.push(peer.name.clone());
                    }
                    args.extend([
                        "peer".into(),
                        key.public.to_base64(),
                        "allowed-ips".into(),
                        allowed,
                    ]);
                }
            }
        }
        if args.len() > 2 {
            Cmd::new(context, "wg").args(args).run()?;
        }
    }
    link::set_address_up(context, interface, gateway_net(spec))?;
    firewall::enable_forwarding()?;
    firewall::ensure_rules(context, &spec.lab, interface, &spec.bridges())?;
    Ok((added, revoked))
}

/// Keys on the interface that the spec no longer has.
fn stale_peers(dump: &Dump, wanted: &BTreeMap<PublicKey, String>) -> Vec<PublicKey> {
    dump.peers
        .keys()
        .filter(|k| !wanted.contains_key(k))
        .copied()
        .collect()
}

/// The endpoint clients dial: the spec's (with the listen port added when it has none) or
/// the host's first non-loopback IPv4 address.
fn resolve_endpoint(spec: &GatewaySpec, context: &str) -> Result<String, WgError> {
    let port = spec.listen_port;
    let Some(given) = spec.endpoint.as_deref().map(str::trim) else {
        return link::host_ipv4(context)?
            .map(|ip| format!("{ip}:{port}"))
            .ok_or_else(|| WgError::NoEndpoint {
                lab: spec.lab.clone(),
            });
    };
    let invalid = |reason: &str| WgError::InvalidSpec {
        lab: spec.lab.clone(),
        reason: format!("endpoint {given:?}: {reason}"),
    };
    if given.is_empty() || given.contains(char::is_whitespace) || given.contains(['/', ',', '#']) {
        return Err(invalid("expected host, host:port, IP or [IPv6]:port"));
    }
    if given.parse::<SocketAddr>().is_ok() {
        return Ok(given.to_string());
    }
    match given.parse::<IpAddr>() {
        Ok(IpAddr::V6(ip)) => return Ok(format!("[{ip}]:{port}")),
        Ok(IpAddr::V4(ip)) => return Ok(format!("{ip}:{port}")),
        Err(_) => {}
    }
    match given.rsplit_once(':') {
        None => Ok(format!("{given}:{port}")),
        Some((host, p)) if !host.is_empty() && !host.contains(':') && p.parse::<u16>().is_ok() => {
            Ok(given.to_string())
        }
        Some(_) => Err(invalid("expected host, host:port, IP or [IPv6]:port")),
    }
}

fn write_client_configs(
    spec: &GatewaySpec,
    gateway: &KeyPair,
    peers: &[(&PeerSpec, KeyPair)],
    endpoint: &str,
) -> Result<BTreeMap<String, PathBuf>, WgError> {
    let dir = spec.dir.join("wg").join("clients");
    private_dir(&dir)?;
    let mut written = BTreeMap::new();
    for (peer, key) in peers {
        let config = client_config(&ClientParams {
            private_key: &key.private,
            address: peer.address,
            dns: spec.dns,
            dns_search: spec.dns_search.as_deref(),
            gateway_key: gateway.public,
            endpoint: endpoint.to_string(),
            lab_subnet: spec.lab_subnet,
            segments: spec.segments.iter().map(|s| s.subnet).collect(),
            vpn_subnet: spec.vpn_subnet,
        });
        let path = Gateway::client_config_path(&spec.dir, &peer.name);
        write_secret_if_changed(&path, config.render().as_bytes())?;
        written.insert(peer.name.clone(), path);
    }
    Ok(written)
}

/// Deletes the key and config files of peers that are no longer in the spec (they were
/// revoked from the interface first).
fn forget_removed_peers(spec: &GatewaySpec, store: &KeyStore) -> Result<Vec<String>, WgError> {
    let keep: BTreeSet<&str> = spec.peers.iter().map(|p| p.name.as_str()).collect();
    let mut forgotten = Vec::new();
    for name in store.peers()? {
        if !keep.contains(name.as_str()) {
            store.delete_peer(&name)?;
            remove_if_exists(&Gateway::client_config_path(&spec.dir, &name))?;
            forgotten.push(name);
        }
    }
    Ok(forgotten)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> GatewaySpec {
        GatewaySpec {
            lab: "demo".into(),
            dir: "/nonexistent".into(),
            vpn_subnet: "10.214.9.0/24".parse().unwrap(),
            lab_subnet: "10.204.9.0/24".parse().unwrap(),
            bridge: "br-0123456789ab".into(),
            segments: Vec::new(),
            listen_port: DEFAULT_LISTEN_PORT,
            endpoint: None,
            dns: "10.204.9.2".parse().unwrap(),
            dns_search: Some("demo.lab".into()),
            peers: vec![PeerSpec::new("laptop", "10.214.9.2".parse().unwrap())],
        }
    }

    #[test]
    fn a_good_spec_passes() {
        spec().validate().unwrap();
        assert_eq!(spec().gateway_address(), Ipv4Addr::new(10, 214, 9, 1));
        assert_eq!(spec().interface(), "hubwg-demo");
    }

    #[test]
    fn every_problem_is_reported_together() {
        let mut s = spec();
        s.lab_subnet = "10.214.0.0/16".parse().unwrap();
        s.listen_port = 0;
        s.peers = vec![
            PeerSpec::new("a", "10.214.9.1".parse().unwrap()),
            PeerSpec::new("a", "10.99.0.1".parse().unwrap()),
            PeerSpec::new("b/c", "10.214.9.5".parse().unwrap()),
            PeerSpec::new("d", "10.214.9.5".parse().unwrap()),
        ];
        let err = s.validate().unwrap_err().to_string();
        for part in [
            "lab \"demo\"",
            "overlaps the lab subnet",
            "listen port",
            "\"a\" is listed twice",
            "10.214.9.1 is the VPN subnet's network, broadcast or gateway",
            "10.99.0.1 is outside the VPN subnet",
            "peer name \"b/c\"",
            "peers \"b/c\" and \"d\" both have address 10.214.9.5",
        ] {
            assert!(err.contains(part), "missing {part:?} in {err}");
        }
        let mut s = spec();
        s.vpn_subnet = "10.214.9.0/31".parse().unwrap();
        assert!(s.validate().unwrap_err().to_string().contains("too small"));
    }

    #[test]
    fn endpoints_get_the_listen_port_when_they_have_none() {
        let with = |endpoint: &str| {
            let mut s = spec();
            s.endpoint = Some(endpoint.into());
            resolve_endpoint(&s, "test")
        };
        assert_eq!(with("198.18.4.1").unwrap(), "198.18.4.1:51820");
        assert_eq!(with("198.18.4.1:4000").unwrap(), "198.18.4.1:4000");
        assert_eq!(with("vpn.example.org").unwrap(), "vpn.example.org:51820");
        assert_eq!(with("vpn.example.org:1").unwrap(), "vpn.example.org:1");
        assert_eq!(with("2001:db8::1").unwrap(), "[2001:db8::1]:51820");
        assert_eq!(with("[2001:db8::1]:7").unwrap(), "[2001:db8::1]:7");
        for bad in ["", "a b", "host:port", "host:99999", "x/y"] {
            let err = with(bad).unwrap_err().to_string();
            assert!(err.contains("endpoint"), "{err}");
        }
    }
}
