//! netd's configuration file (JSON), written by the hub into the lab's netd directory.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

pub use hub_runtime::MacAddr;

use super::NetdError;
use crate::plan::AddrRange;

/// File name of the config inside the lab's netd directory.
pub const CONFIG_FILE: &str = "netd.json";
/// File name of the lease file inside the lab's netd directory.
pub const LEASE_FILE: &str = "leases.json";

/// A client that always gets the same address (a VM or a container with a fixed MAC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// The client's MAC.
    pub mac: MacAddr,
    /// Its address (outside the dynamic range).
    pub ip: Ipv4Addr,
    /// Its host name (DHCP option 12, and an A + PTR record in the lab domain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The router option it gets: its segment's (the default), none, or its own next hop.
    #[serde(default, skip_serializing_if = "ClientRouter::is_segment")]
    pub router: ClientRouter,
}

/// The router option a reserved client gets. A VM on several segments has one NIC per
/// segment, each a DHCP client: only the NIC that carries its default route gets a router,
/// so the route does not depend on which lease came first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientRouter {
    /// Its segment's router (`router`).
    #[default]
    Segment,
    /// No router option: its default route is on another of its interfaces.
    Off,
    /// This next hop on its segment instead (such as the bridge for the segment's own router).
    Via(Ipv4Addr),
}

impl ClientRouter {
    /// True for the default, [`ClientRouter::Segment`].
    pub fn is_segment(&self) -> bool {
        *self == ClientRouter::Segment
    }
}

/// A DNS name in the lab domain (an A record and its PTR).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsRecord {
    /// A short name (`web`, becomes `web.DOMAIN`) or a name already inside the domain.
    pub name: String,
    /// Its address.
    pub ip: Ipv4Addr,
}

fn default_dhcp_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 67))
}
fn default_dns_listen() -> Vec<SocketAddr> {
    vec![SocketAddr::from(([0, 0, 0, 0], 53))]
}
fn default_lease_secs() -> u32 {
    3600
}
fn default_lease_file() -> PathBuf {
    PathBuf::from("/netd").join(LEASE_FILE)
}

/// Everything netd serves. Records and reservations are reloaded on SIGHUP or when the file
/// changes; the listen addresses are read once at start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetdConfig {
    /// Where DHCP listens (`0.0.0.0:67`).
    #[serde(default = "default_dhcp_listen")]
    pub dhcp_listen: SocketAddr,
    /// Where DNS listens, UDP and TCP (`0.0.0.0:53`).
    #[serde(default = "default_dns_listen")]
    pub dns_listen: Vec<SocketAddr>,
    /// netd's own address (server identifier, DNS server handed out), `.2` by the plan.
    pub server_ip: Ipv4Addr,
    /// The lab subnet.
    pub subnet: Ipv4Net,
    /// The router handed out (the lab gateway, `.1`).
    pub router: Ipv4Addr,
    /// Addresses for unknown clients; never holds a reservation or a record.
    pub dhcp_range: AddrRange,
    /// Lease time in seconds.
    #[serde(default = "default_lease_secs")]
    pub lease_secs: u32,
    /// The lab's DNS domain (`demo.lab`).
    pub domain: String,
    /// Resolvers for names outside the domain; empty means REFUSED for them.
    #[serde(default)]
    pub upstreams: Vec<SocketAddr>,
    /// Clients by MAC.
    #[serde(default)]
    pub reservations: Vec<Reservation>,
    /// Names in the domain (containers, VMs, VPN peers).
    #[serde(default)]
    pub records: Vec<DnsRecord>,
    /// Where leases are kept (JSON, rewritten atomically on change).
    #[serde(default = "default_lease_file")]
    pub lease_file: PathBuf,
    /// The lab's other segments, when it has several: netd has an interface on each, and a
    /// name with an address on the asker's own segment answers with that address alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<SegmentConfig>,
    /// The interface MTU handed out (DHCP option 26) on every segment, when the lab's segment
    /// is smaller than Ethernet's 1500 (a lab over several hosts: VXLAN inside WireGuard).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u16>,
}

/// The smallest MTU netd hands out (RFC 2132: option 26's minimum).
const MIN_MTU: u16 = 68;
/// The largest (a jumbo frame).
const MAX_MTU: u16 = 9216;

/// One more segment netd serves (beyond `subnet`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentConfig {
    /// The segment's name (a DNS label; also names its lease file, `leases.NAME.json`).
    pub name: String,
    /// Its subnet.
    pub subnet: Ipv4Net,
    /// netd's address on it.
    pub server_ip: Ipv4Addr,
    /// The router handed out on it (its `gateway:` workload, else the bridge at `.1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router: Option<Ipv4Addr>,
    /// Addresses for unknown clients on it; none means no DHCP on this segment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dhcp_range: Option<AddrRange>,
    /// Its clients by MAC.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reservations: Vec<Reservation>,
}

/// The lease file of segment `name` next to the lab network's `lease_file`
/// (`/netd/leases.json` gives `/netd/leases.NAME.json`).
pub fn segment_lease_file(lease_file: &Path, name: &str) -> PathBuf {
    lease_file.with_file_name(format!("leases.{name}.json"))
}

impl NetdConfig {
    /// A config for `subnet` with the gateway at `.1`, netd at `.2`, the given dynamic range and
    /// domain, no records and the lease file `/netd/leases.json` (the container's mount).
    pub fn new(subnet: Ipv4Net, dhcp_range: AddrRange, domain: impl Into<String>) -> Self {
        let base = u32::from(subnet.network());
        NetdConfig {
            dhcp_listen: default_dhcp_listen(),
            dns_listen: default_dns_listen(),
            server_ip: Ipv4Addr::from(base + 2),
            subnet,
            router: Ipv4Addr::from(base + 1),
            dhcp_range,
            lease_secs: default_lease_secs(),
            domain: domain.into(),
            upstreams: Vec::new(),
            reservations: Vec::new(),
            records: Vec::new(),
            lease_file: default_lease_file(),
            segments: Vec::new(),
            mtu: None,
        }
    }

    /// What netd's DHCP serves on segment `seg` (one of `segments`, with a `dhcp_range`): this
    /// config with the segment's subnet, address, router, range, reservations and lease file,
    /// and no other segments. `None` when the segment has no DHCP range.
    pub fn segment_view(&self, seg: &SegmentConfig) -> Option<NetdConfig> {
        let range = seg.dhcp_range?;
        let mut view = self.clone();
        view.subnet = seg.subnet;
        view.server_ip = seg.server_ip;
        view.router = seg
            .router
            .unwrap_or_else(|| Ipv4Addr::from(u32::from(seg.subnet.network()) + 1));
        view.dhcp_range = range;
        view.reservations = seg.reservations.clone();
        view.lease_file = segment_lease_file(&self.lease_file, &seg.name);
        view.segments = Vec::new();
        Some(view)
    }

    /// Parses and checks a config.
    pub fn from_json(text: &str) -> Result<Self, NetdError> {
        let cfg: NetdConfig =
            serde_json::from_str(text).map_err(|source| NetdError::Parse { source })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads, parses and checks the config file at `path`.
    pub fn load(path: &Path) -> Result<Self, NetdError> {
        let text = std::fs::read_to_string(path).map_err(|source| NetdError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&text).map_err(|e| NetdError::InFile {
            path: path.to_path_buf(),
            source: Box::new(e),
        })
    }

    /// The config as pretty JSON.
    pub fn to_json(&self) -> String {
        // A struct of strings, numbers and addresses always serializes.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The fully qualified name of a record name (`web` becomes `web.demo.lab`), lowercase,
    /// without the trailing dot.
    pub fn fqdn(&self, name: &str) -> String {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let domain = self.domain_lower();
        if name == domain || name.ends_with(&format!(".{domain}")) {
            name
        } else {
            format!("{name}.{domain}")
        }
    }

    /// The domain, lowercase, without a trailing dot.
    pub fn domain_lower(&self) -> String {
        self.domain.trim_end_matches('.').to_ascii_lowercase()
    }

    /// Checks the config: addresses inside the subnet, a dynamic range that holds no
    /// reservation, record, gateway or netd address, sane names.
    pub fn validate(&self) -> Result<(), NetdError> {
        let bad = |reason: String| Err(NetdError::Invalid { reason });
        let net = self.subnet;
        if net.trunc() != net {
            return bad(format!("subnet {net} has host bits set"));
        }
        if net.prefix_len() > 30 {
            return bad(format!("subnet {net} is too small for a lab"));
        }
        if let Some(mtu) = self.mtu.filter(|m| !(MIN_MTU..=MAX_MTU).contains(m)) {
            return bad(format!("mtu {mtu} is outside {MIN_MTU}..={MAX_MTU}"));
        }
        let inside =
            |ip: Ipv4Addr| net.contains(&ip) && ip != net.network() && ip != net.broadcast();
        if !inside(self.server_ip) {
            return bad(format!(
                "server_ip {} is not a host address of {net}",
                self.server_ip
            ));
        }
        if !inside(self.router) {
            return bad(format!(
                "router {} is not a host address of {net}",
                self.router
            ));
        }
        let r = self.dhcp_range;
        if r.is_empty() || !inside(r.start) || !inside(r.end) {
            return bad(format!(
                "dhcp_range {r} is empty or not inside the hosts of {net}"
            ));
        }
        for (what, ip) in [("router", self.router), ("server_ip", self.server_ip)] {
            if r.contains(ip) {
                return bad(format!("dhcp_range {r} contains the {what} {ip}"));
            }
        }
        let domain = self.domain_lower();
        if domain.is_empty() || domain.len() > 200 || !valid_dns_name(&domain) {
            return bad(format!("domain {:?} is not a valid DNS name", self.domain));
        }
        if self.lease_secs < 60 {
            return bad(format!(
                "lease_secs {} is below 60 seconds",
                self.lease_secs
            ));
        }
        let mut macs = std::collections::HashSet::new();
        let mut ips = std::collections::HashSet::new();
        for res in &self.reservations {
            let why = if !inside(res.ip) {
                Some(format!("is not a host address of {net}"))
            } else if r.contains(res.ip) {
                Some(format!("lies inside the dhcp_range {r}"))
            } else if res.ip == self.router && res.router.is_segment() {
                // The segment's own router may be a reserved client (a router VM), when it
                // gets another router than itself.
                Some("is the router's address".to_string())
            } else if res.ip == self.server_ip {
                Some("is netd's own address".to_string())
            } else {
                None
            };
            if let Some(why) = why {
                return bad(format!("reservation {} -> {} {why}", res.mac, res.ip));
            }
            if let ClientRouter::Via(hop) = res.router
                && (!inside(hop) || hop == res.ip)
            {
                return bad(format!(
                    "reservation {} -> {}: router {hop} is not another host address of {net}",
                    res.mac, res.ip
                ));
            }
            if !macs.insert(res.mac) {
                return bad(format!("reservation for {} appears twice", res.mac));
            }
            if !ips.insert(res.ip) {
                return bad(format!("address {} is reserved twice", res.ip));
            }
            if let Some(h) = &res.hostname
                && !valid_dns_name(&h.to_ascii_lowercase())
            {
                return bad(format!(
                    "reservation {}: host name {h:?} is not a valid DNS name",
                    res.mac
                ));
            }
        }
        for rec in &self.records {
            if !valid_dns_name(&rec.name.trim_end_matches('.').to_ascii_lowercase()) {
                return bad(format!("record {:?} is not a valid DNS name", rec.name));
            }
            if net.contains(&rec.ip) && r.contains(rec.ip) {
                return bad(format!(
                    "record {} -> {} lies inside the dhcp_range {r}",
                    rec.name, rec.ip
                ));
            }
        }
        let mut names = std::collections::HashSet::new();
        for seg in &self.segments {
            // The name becomes a file name: one DNS label, nothing else.
            if !valid_dns_name(&seg.name) || seg.name.contains('.') {
                return bad(format!("segment name {:?} is not a DNS label", seg.name));
            }
            if !names.insert(seg.name.as_str()) {
                return bad(format!("segment {} appears twice", seg.name));
            }
            if let Some(view) = self.segment_view(seg) {
                if let Err(NetdError::Invalid { reason }) = view.validate() {
                    return bad(format!("segment {}: {reason}", seg.name));
                }
            } else if !seg.reservations.is_empty() {
                return bad(format!(
                    "segment {} has reservations but no dhcp_range",
                    seg.name
                ));
            }
        }
        Ok(())
    }
}

/// Whether `name` (lowercase, no trailing dot) is a plausible DNS name: labels of 1-63
/// letters, digits, `-` or `_`.
pub(crate) fn valid_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// One lease as netd keeps it in the lease file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The client's MAC.
    pub mac: MacAddr,
    /// The address it holds.
    pub ip: Ipv4Addr,
    /// Its reservation's host name, or the DNS label a dynamic client holds in the lab domain
    /// (sent as option 12 or 81, sanitised; none when a workload or another lease had it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// When the lease ends, seconds since the Unix epoch.
    pub expires: u64,
}

/// The lease file's content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseFile {
    /// Every bound lease.
    pub leases: Vec<Lease>,
}

impl LeaseFile {
    /// Reads a lease file; a missing file is an empty set of leases.
    pub fn read(path: &Path) -> Result<Self, NetdError> {
        read_json_or_default(path)
    }
}

/// Reads a JSON file netd writes; a missing file is `T::default()` (not written yet).
pub(crate) fn read_json_or_default<T>(path: &Path) -> Result<T, NetdError>
where
    T: serde::de::DeserializeOwned + Default,
{
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| NetdError::InFile {
            path: path.to_path_buf(),
            source: Box::new(NetdError::Parse { source: e }),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(source) => Err(NetdError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes `contents` to `path` atomically (a temporary file in the same directory, renamed).
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.tmp{}-{seq}", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(contents)?;
        f.sync_data()?;
    }
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn cfg() -> NetdConfig {
        let mut c = NetdConfig::new(
            "10.9.0.0/24".parse().unwrap(),
            AddrRange::new(Ipv4Addr::new(10, 9, 0, 200), Ipv4Addr::new(10, 9, 0, 254)),
            "demo.lab",
        );
        c.reservations.push(Reservation {
            mac: "02:00:00:00:00:01".parse().unwrap(),
            ip: Ipv4Addr::new(10, 9, 0, 30),
            hostname: Some("vm1".into()),
            router: ClientRouter::Segment,
        });
        c
    }

    #[test]
    fn round_trips_and_validates() {
        let c = cfg();
        let back = NetdConfig::from_json(&c.to_json()).unwrap();
        assert_eq!(back, c);
        assert_eq!(c.fqdn("Web"), "web.demo.lab");
        assert_eq!(c.fqdn("web.demo.lab."), "web.demo.lab");
    }

    #[test]
    fn an_mtu_round_trips_and_one_out_of_range_is_refused() {
        let mut c = cfg();
        assert!(!c.to_json().contains("mtu"), "no mtu, no key");
        c.mtu = Some(1370);
        assert_eq!(NetdConfig::from_json(&c.to_json()).unwrap().mtu, Some(1370));
        c.mtu = Some(40);
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("mtu 40 is outside 68..=9216"), "{err}");
    }

    #[test]
    fn refuses_range_holding_a_reservation() {
        let mut c = cfg();
        c.reservations[0].ip = Ipv4Addr::new(10, 9, 0, 210);
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("lies inside the dhcp_range"), "{err}");
    }

    #[test]
    fn refuses_range_holding_a_record_or_gateway() {
        let mut c = cfg();
        c.records.push(DnsRecord {
            name: "web".into(),
            ip: Ipv4Addr::new(10, 9, 0, 220),
        });
        assert!(c.validate().unwrap_err().to_string().contains("record web"));
        let mut c = cfg();
        c.dhcp_range.start = Ipv4Addr::new(10, 9, 0, 1);
        assert!(c.validate().unwrap_err().to_string().contains("router"));
    }

    #[test]
    fn a_reservation_routes_by_its_segment_by_itself_or_not_at_all() {
        // The segment's router may be a reserved client only when it routes elsewhere.
        let mut c = cfg();
        c.router = Ipv4Addr::new(10, 9, 0, 30);
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("is the router's address"), "{err}");
        c.reservations[0].router = ClientRouter::Via(Ipv4Addr::new(10, 9, 0, 1));
        c.validate().unwrap();
        c.reservations[0].router = ClientRouter::Off;
        c.validate().unwrap();
        // Its own next hop is on its segment and is not itself.
        for hop in [Ipv4Addr::new(10, 9, 1, 1), Ipv4Addr::new(10, 9, 0, 30)] {
            c.reservations[0].router = ClientRouter::Via(hop);
            let err = c.validate().unwrap_err().to_string();
            assert!(
                err.contains(&format!("router {hop} is not another host address")),
                "{err}"
            );
        }
        // The file form: `"router": "off"` or `{"via": "10.9.0.1"}`; absent is the segment's.
        c.reservations[0].router = ClientRouter::Via(Ipv4Addr::new(10, 9, 0, 1));
        let json = c.to_json();
        assert!(json.contains("\"via\": \"10.9.0.1\""), "{json}");
        assert_eq!(NetdConfig::from_json(&json).unwrap(), c);
        assert!(!cfg().to_json().contains("router\": {"));
    }

    /// A segment `internal` (10.9.1.0/24, router .30, range .200-.254) with one reservation:
    /// 02:00:00:00:00:02 at .31.
    pub(crate) fn segment() -> SegmentConfig {
        SegmentConfig {
            name: "internal".into(),
            subnet: "10.9.1.0/24".parse().unwrap(),
            server_ip: Ipv4Addr::new(10, 9, 1, 2),
            router: Some(Ipv4Addr::new(10, 9, 1, 30)),
            dhcp_range: Some(AddrRange::new(
                Ipv4Addr::new(10, 9, 1, 200),
                Ipv4Addr::new(10, 9, 1, 254),
            )),
            reservations: vec![Reservation {
                mac: "02:00:00:00:00:02".parse().unwrap(),
                ip: Ipv4Addr::new(10, 9, 1, 31),
                hostname: Some("vm1".into()),
                router: ClientRouter::Segment,
            }],
        }
    }

    #[test]
    fn a_segment_view_serves_the_segments_own_plan() {
        let mut c = cfg();
        c.segments.push(segment());
        let back = NetdConfig::from_json(&c.to_json()).unwrap();
        assert_eq!(back, c);
        let v = c.segment_view(&c.segments[0]).unwrap();
        assert_eq!(v.server_ip, Ipv4Addr::new(10, 9, 1, 2));
        assert_eq!(v.router, Ipv4Addr::new(10, 9, 1, 30));
        assert_eq!(v.dhcp_range.start, Ipv4Addr::new(10, 9, 1, 200));
        assert_eq!(v.reservations, c.segments[0].reservations);
        assert_eq!(v.lease_file, PathBuf::from("/netd/leases.internal.json"));
        assert!(v.segments.is_empty());
        // No router: the bridge; no range: no DHCP on the segment.
        let mut s = segment();
        s.router = None;
        assert_eq!(
            c.segment_view(&s).unwrap().router,
            Ipv4Addr::new(10, 9, 1, 1)
        );
        s.dhcp_range = None;
        assert!(c.segment_view(&s).is_none());
    }

    #[test]
    fn refuses_a_bad_segment() {
        let check = |f: &dyn Fn(&mut SegmentConfig), want: &str| {
            let mut c = cfg();
            let mut s = segment();
            f(&mut s);
            c.segments.push(s);
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains(want), "{want}: {err}");
        };
        check(
            &|s| s.reservations[0].ip = Ipv4Addr::new(10, 9, 0, 31),
            "segment internal: reservation",
        );
        check(
            &|s| s.reservations[0].ip = Ipv4Addr::new(10, 9, 1, 210),
            "lies inside the dhcp_range",
        );
        check(&|s| s.name = "../x".into(), "is not a DNS label");
        check(&|s| s.name = "a.b".into(), "is not a DNS label");
        check(&|s| s.dhcp_range = None, "reservations but no dhcp_range");
        check(
            &|s| s.router = Some(Ipv4Addr::new(10, 9, 0, 30)),
            "segment internal: router",
        );
    }

    #[test]
    fn mac_parsing() {
        assert!("02:00:00:00:00".parse::<MacAddr>().is_err());
        assert!("02:00:00:00:00:0g".parse::<MacAddr>().is_err());
        assert!("02:00:00:00:00:01:02".parse::<MacAddr>().is_err());
        assert_eq!(
            "AA-bb-cc-dd-ee-ff".parse::<MacAddr>().unwrap().to_string(),
            "aa:bb:cc:dd:ee:ff"
        );
    }
}
