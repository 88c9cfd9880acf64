//! The `checks:` section: what must and must not work in the lab, checked by `hub check`.

use serde::{Deserialize, Serialize};

/// The prefix that names a VPN peer in a check's `from` or `to` (`vpn:laptop`).
pub const VPN_PEER_PREFIX: &str = "vpn:";

/// The `expect` value of an isolation rule: the probe must not get through.
pub const EXPECT_BLOCKED: &str = "blocked";

/// One rule of the lab: from a workload (or a VPN peer the hub simulates), a probe to a
/// workload, an address or a VPN peer, and what must come of it.
///
/// Exactly one probe: `ping: true`, `tcp: PORT`, `udp_dns: NAME` or `http: URL`.
/// `expect` is `blocked` for isolation (the probe must fail), text the HTTP body must hold or
/// a status (`404`) for `http`, an address the answer must hold for `udp_dns`; left out, the
/// probe must simply succeed.
///
/// ```
/// use hub_core::spec::Check;
/// let c = Check::tcp("web", "db", 5432).name("dmz-not-db").expect("blocked");
/// assert_eq!(c.tcp, Some(5432));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// The rule's name in reports (default: `FROM -> TO PROBE`); unique in the lab.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where the probe runs: a workload, or `vpn:PEER` (a client in a namespace of the host,
    /// with the peer's real client config).
    pub from: String,
    /// What it probes: a workload, an IPv4 address, or `vpn:PEER`.
    pub to: String,
    /// An ICMP echo (`ping: true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ping: Option<bool>,
    /// A TCP connect to this port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<u16>,
    /// A DNS query over UDP for this name's A record, sent to `to` on port 53.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udp_dns: Option<String>,
    /// An HTTP GET of this URL (`http://HOST[:PORT]/PATH`, or a path `/PATH`) from `to`'s
    /// address: the URL's host goes in the `Host` header only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// What must come of it (see the type's docs); default: the probe succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<String>,
}

impl Check {
    fn new(from: impl Into<String>, to: impl Into<String>) -> Self {
        Check {
            name: None,
            from: from.into(),
            to: to.into(),
            ping: None,
            tcp: None,
            udp_dns: None,
            http: None,
            expect: None,
        }
    }
    /// `from` pings `to`.
    pub fn ping(from: impl Into<String>, to: impl Into<String>) -> Self {
        Check {
            ping: Some(true),
            ..Check::new(from, to)
        }
    }
    /// `from` connects to `to`'s TCP `port`.
    pub fn tcp(from: impl Into<String>, to: impl Into<String>, port: u16) -> Self {
        Check {
            tcp: Some(port),
            ..Check::new(from, to)
        }
    }
    /// `from` asks the DNS server `to` for `name`.
    pub fn udp_dns(
        from: impl Into<String>,
        to: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        Check {
            udp_dns: Some(name.into()),
            ..Check::new(from, to)
        }
    }
    /// `from` fetches `url` from `to`.
    pub fn http(from: impl Into<String>, to: impl Into<String>, url: impl Into<String>) -> Self {
        Check {
            http: Some(url.into()),
            ..Check::new(from, to)
        }
    }
    /// Names the rule.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    /// Sets what must come of it (`blocked`, body text, a status, an address).
    pub fn expect(mut self, expect: impl Into<String>) -> Self {
        self.expect = Some(expect.into());
        self
    }
}

/// One end of a check: a workload, a VPN peer, or (only as `to`) an address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// A container or VM of the lab.
    Workload(String),
    /// A VPN peer (`vpn:PEER`).
    Peer(String),
    /// An IPv4 address.
    Address(std::net::Ipv4Addr),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Workload(w) => f.write_str(w),
            Endpoint::Peer(p) => write!(f, "{VPN_PEER_PREFIX}{p}"),
            Endpoint::Address(a) => write!(f, "{a}"),
        }
    }
}

impl Endpoint {
    fn parse(s: &str) -> Endpoint {
        if let Some(peer) = s.strip_prefix(VPN_PEER_PREFIX) {
            Endpoint::Peer(peer.to_string())
        } else if let Ok(a) = s.parse() {
            Endpoint::Address(a)
        } else {
            Endpoint::Workload(s.to_string())
        }
    }
}

/// What a check sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Probe {
    /// ICMP echo.
    Ping,
    /// A TCP connect to the port.
    Tcp(u16),
    /// A DNS query over UDP for the name's A record.
    UdpDns(String),
    /// An HTTP GET.
    Http(HttpGet),
}

/// The request of an `http` check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpGet {
    /// The `Host` header (the URL's host; default: the target's name or address).
    pub host: Option<String>,
    /// The TCP port (default 80).
    pub port: u16,
    /// The path and query (`/` at least).
    pub path: String,
}

impl std::fmt::Display for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Probe::Ping => f.write_str("ping"),
            Probe::Tcp(p) => write!(f, "tcp/{p}"),
            Probe::UdpDns(n) => write!(f, "dns {n}"),
            Probe::Http(h) => write!(f, "http :{}{}", h.port, h.path),
        }
    }
}

/// What must come of a probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    /// It gets through (an echo reply, a connection, an answer with an address, a 2xx or 3xx).
    Success,
    /// It does not get through (no reply, refused or timed out, no answer).
    Blocked,
    /// The HTTP body holds this text (any status).
    Body(String),
    /// The HTTP status is this one.
    Status(u16),
    /// The DNS answer holds this address.
    Answer(std::net::Ipv4Addr),
}

impl std::fmt::Display for Expect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expect::Success => f.write_str("ok"),
            Expect::Blocked => f.write_str(EXPECT_BLOCKED),
            Expect::Body(t) => write!(f, "body has {t:?}"),
            Expect::Status(s) => write!(f, "status {s}"),
            Expect::Answer(a) => write!(f, "answer {a}"),
        }
    }
}

/// A check as the runner takes it: parsed, with its name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRule {
    /// Its name in reports.
    pub name: String,
    /// Where the probe runs.
    pub from: Endpoint,
    /// What it probes.
    pub to: Endpoint,
    /// What it sends.
    pub probe: Probe,
    /// What must come of it.
    pub expect: Expect,
}

/// A mistake in one check: the field (`from`, `tcp`...) and what is wrong.
pub(crate) type RuleError = (&'static str, String);

impl Check {
    /// The check parsed into a [`CheckRule`], or every mistake of its own fields (names of
    /// workloads and peers are checked against the lab by validation, not here).
    pub(crate) fn rule(&self) -> Result<CheckRule, Vec<RuleError>> {
        let mut errors = Vec::new();
        let from = Endpoint::parse(self.from.trim());
        let to = Endpoint::parse(self.to.trim());
        if let Endpoint::Address(a) = from {
            errors.push((
                "from",
                format!(
                    "a check runs from a workload or a VPN peer (vpn:PEER), not from an address ({a})"
                ),
            ));
        }
        if from == to {
            errors.push(("to", format!("`to` is `from` itself ({from})")));
        }
        let mut probes: Vec<(&'static str, Probe)> = Vec::new();
        match self.ping {
            Some(true) => probes.push(("ping", Probe::Ping)),
            Some(false) => errors.push((
                "ping",
                "`ping: false` asks for nothing; leave it out or write `ping: true`".into(),
            )),
            None => {}
        }
        if let Some(port) = self.tcp {
            if port == 0 {
                errors.push(("tcp", "the TCP port must be 1 to 65535".into()));
            }
            probes.push(("tcp", Probe::Tcp(port)));
        }
        if let Some(name) = &self.udp_dns {
            if !is_dns_name(name) {
                errors.push((
                    "udp_dns",
                    format!("\"{name}\" is not a DNS name (labels of letters, digits and `-`, joined by dots)"),
                ));
            }
            probes.push((
                "udp_dns",
                Probe::UdpDns(name.trim_end_matches('.').to_string()),
            ));
        }
        if let Some(url) = &self.http {
            match parse_http(url) {
                Ok(get) => probes.push(("http", Probe::Http(get))),
                Err(m) => {
                    errors.push(("http", m));
                    probes.push((
                        "http",
                        Probe::Http(HttpGet {
                            host: None,
                            port: 80,
                            path: "/".into(),
                        }),
                    ));
                }
            }
        }
        let probe = match probes.len() {
            0 => {
                errors.push((
                    "from",
                    "the check has no probe: give one of `ping: true`, `tcp: PORT`, \
                     `udp_dns: NAME`, `http: URL`"
                        .into(),
                ));
                None
            }
            1 => probes.pop().map(|(_, p)| p),
            _ => {
                let names: Vec<&str> = probes.iter().map(|(f, _)| *f).collect();
                errors.push((
                    probes[1].0,
                    format!(
                        "one check has one probe, this one has {}: {}; write one check for each",
                        names.len(),
                        names.join(", ")
                    ),
                ));
                None
            }
        };
        let expect = match (&probe, self.expect.as_deref().map(str::trim)) {
            (_, None) => Some(Expect::Success),
            (_, Some(EXPECT_BLOCKED)) => Some(Expect::Blocked),
            (Some(Probe::Http(_)), Some(e)) => Some(match e.parse::<u16>() {
                Ok(s) if (100..=599).contains(&s) => Expect::Status(s),
                _ => Expect::Body(e.to_string()),
            }),
            (Some(Probe::UdpDns(_)), Some(e)) => match e.parse() {
                Ok(a) => Some(Expect::Answer(a)),
                Err(_) => {
                    errors.push((
                        "expect",
                        format!("a DNS check expects `blocked` or an IPv4 address the answer holds, not \"{e}\""),
                    ));
                    None
                }
            },
            (Some(p), Some(e)) => {
                errors.push((
                    "expect",
                    format!("a {p} check expects `blocked` or nothing, not \"{e}\""),
                ));
                None
            }
            (None, Some(_)) => None,
        };
        match (probe, expect) {
            (Some(probe), Some(expect)) if errors.is_empty() => Ok(CheckRule {
                name: self
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("{from} -> {to} {probe}")),
                from,
                to,
                probe,
                expect,
            }),
            _ => Err(errors),
        }
    }
}

fn is_dns_name(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// `http://HOST[:PORT]/PATH` or `/PATH`.
fn parse_http(url: &str) -> Result<HttpGet, String> {
    let url = url.trim();
    if url.starts_with('/') {
        return Ok(HttpGet {
            host: None,
            port: 80,
            path: url.to_string(),
        });
    }
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        if url.starts_with("https://") {
            format!("\"{url}\": only plain http is probed; https is not supported")
        } else {
            format!("\"{url}\" is not an http URL (http://HOST[:PORT]/PATH) or a path (/PATH)")
        }
    })?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
                format!("\"{url}\": port \"{p}\" is not a number from 1 to 65535")
            })?,
        ),
        None => (authority, 80),
    };
    if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '@') {
        return Err(format!("\"{url}\": the host is empty or not a host name"));
    }
    if path.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "\"{url}\": the path has spaces or control characters"
        ));
    }
    Ok(HttpGet {
        host: Some(host.to_string()),
        port,
        path: path.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_name_themselves() {
        let r = Check::http("c", "web", "http://web.lab:8080/x?y")
            .expect("200")
            .rule()
            .unwrap();
        assert_eq!(r.name, "c -> web http :8080/x?y");
        assert_eq!(r.expect, Expect::Status(200));
        assert_eq!(
            r.probe,
            Probe::Http(HttpGet {
                host: Some("web.lab".into()),
                port: 8080,
                path: "/x?y".into()
            })
        );
        let r = Check::tcp("vpn:laptop", "10.0.0.9", 22)
            .expect("blocked")
            .rule()
            .unwrap();
        assert_eq!(r.from, Endpoint::Peer("laptop".into()));
        assert_eq!(r.to, Endpoint::Address("10.0.0.9".parse().unwrap()));
        assert_eq!(r.expect, Expect::Blocked);
        let r = Check::http("a", "b", "/").expect("hello").rule().unwrap();
        assert_eq!(r.expect, Expect::Body("hello".into()));
    }

    #[test]
    fn mistakes_are_all_reported() {
        let mut c = Check::tcp("10.0.0.1", "10.0.0.1", 0).expect("open");
        c.ping = Some(true);
        let errs = c.rule().unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.0).collect();
        assert!(fields.contains(&"from"), "{errs:?}");
        assert!(fields.contains(&"to"), "{errs:?}");
        assert!(fields.contains(&"tcp"), "{errs:?}");
        assert!(errs.iter().any(|e| e.1.contains("ping, tcp")), "{errs:?}");
        let errs = Check::http("a", "b", "https://x/").rule().unwrap_err();
        assert!(errs[0].1.contains("https is not supported"), "{errs:?}");
        let errs = Check::udp_dns("a", "b", "x y")
            .expect("nope")
            .rule()
            .unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:?}");
    }
}
