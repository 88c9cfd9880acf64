//! Parsing wg-quick configs, with the line number of the first problem. Never panics.

use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

use crate::config::{InterfaceSection, PeerSection, WgConfig};
use crate::error::WgError;
use crate::key::{PrivateKey, PublicKey};

/// wg-quick keys that `wg` itself does not know; kept as text.
const WG_QUICK_EXTRA: [&str; 6] = [
    "Table",
    "PreUp",
    "PostUp",
    "PreDown",
    "PostDown",
    "SaveConfig",
];

#[derive(Default)]
struct InterfaceDraft {
    line: usize,
    private_key: Option<PrivateKey>,
    addresses: Vec<IpNet>,
    listen_port: Option<u16>,
    dns: Vec<IpAddr>,
    dns_search: Vec<String>,
    mtu: Option<u16>,
    fwmark: Option<u32>,
    extra: Vec<(String, String)>,
}

struct PeerDraft {
    line: usize,
    public_key: Option<PublicKey>,
    allowed_ips: Vec<IpNet>,
    endpoint: Option<String>,
    persistent_keepalive: Option<u16>,
}

enum Section {
    Interface,
    Peer,
}

/// How an unknown key is named in an error: as written when it looks like a key name, else
/// only by its length, since a malformed line may hold a secret (a private key pasted without
/// `PrivateKey =` splits at its trailing `=` into a "key" that is the secret itself).
fn shown_key(key: &str) -> String {
    if key.len() <= 24 && key.chars().all(|c| c.is_ascii_alphabetic()) {
        format!("{key:?}")
    } else {
        format!(
            "of {} characters (not shown: it may be a secret)",
            key.chars().count()
        )
    }
}

fn err(line: usize, reason: impl Into<String>) -> WgError {
    WgError::Parse {
        line,
        reason: reason.into(),
    }
}

fn set_once<T>(slot: &mut Option<T>, value: T, key: &str, line: usize) -> Result<(), WgError> {
    if slot.is_some() {
        return Err(err(line, format!("{key} is given twice in this section")));
    }
    *slot = Some(value);
    Ok(())
}

fn number<T: FromStr>(value: &str, key: &str, line: usize) -> Result<T, WgError> {
    value
        .parse()
        .map_err(|_| err(line, format!("{key} = {value:?} is not a valid number")))
}

/// Whether `s` is a domain name: dot-separated labels of letters, digits and `-`, each 1 to
/// 63 characters, not starting or ending with `-`, 253 characters at most.
fn is_domain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|l| {
            (1..=63).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// An address with a prefix; a bare address means a /32 (or /128), as wg does.
fn prefixed(item: &str) -> Result<IpNet, ()> {
    if let Ok(net) = item.parse::<IpNet>() {
        return Ok(net);
    }
    item.parse::<IpAddr>().map(IpNet::from).map_err(|_| ())
}

fn nets(value: &str, key: &str, line: usize) -> Result<Vec<IpNet>, WgError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            prefixed(item)
                .map_err(|_| err(line, format!("{key}: {item:?} is not an IP address/prefix")))
        })
        .collect()
}

/// Checks `host:port` (IPv6 hosts in brackets).
fn endpoint(value: &str, line: usize) -> Result<String, WgError> {
    let bad = |why: &str| err(line, format!("Endpoint = {value:?}: {why}"));
    let (host, port) = value
        .rsplit_once(':')
        .ok_or_else(|| bad("expected host:port"))?;
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(bad("the host is empty or contains spaces"));
    }
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err(bad("an IPv6 host must be in brackets"));
    }
    port.parse::<u16>()
        .map_err(|_| bad("the port is not a number from 0 to 65535"))?;
    Ok(value.to_string())
}

impl WgConfig {
    /// Parses a wg-quick config. Section and key names are case-insensitive; `#` starts a
    /// comment; list values may be split over repeated keys. Errors give the line number.
    pub fn parse(text: &str) -> Result<Self, WgError> {
        let mut interface: Option<InterfaceDraft> = None;
        let mut peers: Vec<PeerDraft> = Vec::new();
        let mut section: Option<Section> = None;
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let content = raw.split('#').next().unwrap_or_default().trim();
            if content.is_empty() {
                continue;
            }
            if content.starts_with('[') {
                let name = content
                    .strip_prefix('[')
                    .and_then(|rest| rest.strip_suffix(']'))
                    .map(str::trim)
                    .ok_or_else(|| err(line, format!("malformed section header {content:?}")))?;
                if name.eq_ignore_ascii_case("Interface") {
                    if interface.is_some() {
                        return Err(err(line, "a second [Interface] section"));
                    }
                    interface = Some(InterfaceDraft {
                        line,
                        ..InterfaceDraft::default()
                    });
                    section = Some(Section::Interface);
                } else if name.eq_ignore_ascii_case("Peer") {
                    peers.push(PeerDraft {
                        line,
                        public_key: None,
                        allowed_ips: Vec::new(),
                        endpoint: None,
                        persistent_keepalive: None,
                    });
                    section = Some(Section::Peer);
                } else {
                    return Err(err(
                        line,
                        format!("unknown section [{name}] (expected [Interface] or [Peer])"),
                    ));
                }
                continue;
            }
            let (key, value) = content
                .split_once('=')
                .map(|(k, v)| (k.trim(), v.trim()))
                .ok_or_else(|| {
                    // The line is not echoed: it may be a bare private key.
                    err(
                        line,
                        "expected `Key = value` (the line is not shown: it may hold a secret)",
                    )
                })?;
            match section {
                None => {
                    return Err(err(
                        line,
                        format!("key {} appears before any section", shown_key(key)),
                    ));
                }
                Some(Section::Interface) => {
                    if let Some(draft) = interface.as_mut() {
                        interface_key(draft, key, value, line)?;
                    }
                }
                Some(Section::Peer) => {
                    if let Some(draft) = peers.last_mut() {
                        peer_key(draft, key, value, line)?;
                    }
                }
            }
        }
        finish(interface, peers)
    }
}

impl FromStr for WgConfig {
    type Err = WgError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

fn interface_key(
    d: &mut InterfaceDraft,
    key: &str,
    value: &str,
    line: usize,
) -> Result<(), WgError> {
    let k = key.to_ascii_lowercase();
    match k.as_str() {
        "privatekey" => {
            let private = PrivateKey::from_base64(value).map_err(|e| err(line, e.to_string()))?;
            set_once(&mut d.private_key, private, "PrivateKey", line)
        }
        "address" => {
            d.addresses.extend(nets(value, "Address", line)?);
            Ok(())
        }
        "listenport" => {
            let port = number(value, "ListenPort", line)?;
            set_once(&mut d.listen_port, port, "ListenPort", line)
        }
        "dns" => {
            // wg-quick's rule: an entry that is an address is a server, any other a search
            // domain.
            for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                match item.parse::<IpAddr>() {
                    Ok(ip) => d.dns.push(ip),
                    Err(_) if is_domain(item) => d.dns_search.push(item.to_string()),
                    Err(_) => {
                        return Err(err(
                            line,
                            format!("DNS: {item:?} is neither an IP address nor a search domain"),
                        ));
                    }
                }
            }
            Ok(())
        }
        "mtu" => {
            let mtu = number(value, "MTU", line)?;
            set_once(&mut d.mtu, mtu, "MTU", line)
        }
        "fwmark" => {
            let mark = if value.eq_ignore_ascii_case("off") {
                0
            } else if let Some(hex) = value.strip_prefix("0x") {
                u32::from_str_radix(hex, 16)
                    .map_err(|_| err(line, format!("FwMark = {value:?} is not a valid number")))?
            } else {
                number(value, "FwMark", line)?
            };
            set_once(&mut d.fwmark, mark, "FwMark", line)
        }
        _ => match WG_QUICK_EXTRA
            .iter()
            .find(|known| known.eq_ignore_ascii_case(key))
        {
            Some(known) => {
                d.extra.push(((*known).to_string(), value.to_string()));
                Ok(())
            }
            None => Err(err(
                line,
                format!("unknown key {} in [Interface]", shown_key(key)),
            )),
        },
    }
}

fn peer_key(d: &mut PeerDraft, key: &str, value: &str, line: usize) -> Result<(), WgError> {
    match key.to_ascii_lowercase().as_str() {
        "publickey" => {
            let public = PublicKey::from_base64(value).map_err(|e| err(line, e.to_string()))?;
            set_once(&mut d.public_key, public, "PublicKey", line)
        }
        "allowedips" => {
            d.allowed_ips.extend(nets(value, "AllowedIPs", line)?);
            Ok(())
        }
        "endpoint" => {
            let endpoint = endpoint(value, line)?;
            set_once(&mut d.endpoint, endpoint, "Endpoint", line)
        }
        "persistentkeepalive" => {
            let seconds = if value.eq_ignore_ascii_case("off") {
                0
            } else {
                number(value, "PersistentKeepalive", line)?
            };
            set_once(
                &mut d.persistent_keepalive,
                seconds,
                "PersistentKeepalive",
                line,
            )
        }
        _ => Err(err(
            line,
            format!("unknown key {} in [Peer]", shown_key(key)),
        )),
    }
}

fn finish(interface: Option<InterfaceDraft>, peers: Vec<PeerDraft>) -> Result<WgConfig, WgError> {
    let d =
        interface.ok_or_else(|| WgError::Incomplete("there is no [Interface] section".into()))?;
    let private_key = d
        .private_key
        .ok_or_else(|| err(d.line, "the [Interface] section has no PrivateKey"))?;
    let interface = InterfaceSection {
        private_key,
        addresses: d.addresses,
        listen_port: d.listen_port,
        dns: d.dns,
        dns_search: d.dns_search,
        mtu: d.mtu,
        fwmark: d.fwmark,
        wg_quick_extra: d.extra,
    };
    let peers = peers
        .into_iter()
        .map(|p| {
            Ok(PeerSection {
                public_key: p
                    .public_key
                    .ok_or_else(|| err(p.line, "this [Peer] section has no PublicKey"))?,
                allowed_ips: p.allowed_ips,
                endpoint: p.endpoint,
                persistent_keepalive: p.persistent_keepalive,
            })
        })
        .collect::<Result<_, WgError>>()?;
    Ok(WgConfig { interface, peers })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "YAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";
    const PUB: &str = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";

    fn line_of(text: &str) -> (usize, String) {
        match WgConfig::parse(text) {
            Err(WgError::Parse { line, reason }) => (line, reason),
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn parses_a_hand_written_config() {
        let text = format!(
            "# client\n[interface]\nprivatekey = {KEY}\naddress = 10.0.0.2/32, fd00::2/128\n\
             DNS = 10.0.0.1\nPostUp = echo hi # a hook\n\n[Peer]\nPublicKey={PUB}\n\
             AllowedIPs = 0.0.0.0/0\nAllowedIPs = ::/0\nEndpoint = [2001:db8::1]:51820\n\
             PersistentKeepalive = off\n"
        );
        let config = WgConfig::parse(&text).unwrap();
        assert_eq!(config.interface.addresses.len(), 2);
        assert_eq!(
            config.interface.wg_quick_extra,
            vec![("PostUp".into(), "echo hi".into())]
        );
        assert_eq!(config.peers[0].allowed_ips.len(), 2);
        assert_eq!(config.peers[0].persistent_keepalive, Some(0));
        assert!(!config.strip().contains("PostUp"));
    }

    #[test]
    fn dns_entries_that_are_no_address_are_search_domains() {
        let text = format!("[Interface]\nPrivateKey = {KEY}\nDNS = 10.0.0.1, demo.lab,fd00::1\n");
        let config = WgConfig::parse(&text).unwrap();
        assert_eq!(config.interface.dns.len(), 2);
        assert_eq!(config.interface.dns_search, ["demo.lab"]);
        assert!(
            config
                .render()
                .contains("DNS = 10.0.0.1, fd00::1, demo.lab\n"),
            "{}",
            config.render()
        );
        assert_eq!(WgConfig::parse(&config.render()).unwrap(), config);
        let (line, reason) = line_of(&format!(
            "[Interface]\nPrivateKey = {KEY}\nDNS = 10.0.0.1, -bad-\n"
        ));
        assert_eq!(line, 3);
        assert!(
            reason.contains("neither an IP address nor a search domain"),
            "{reason}"
        );
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(line_of("Address = 1.2.3.4\n").0, 1);
        let (line, reason) = line_of(&format!("[Interface]\nPrivateKey = {KEY}\n\nBogus = 1\n"));
        assert_eq!(line, 4);
        assert!(reason.contains("Bogus"), "{reason}");
        let (line, reason) = line_of(&format!(
            "[Interface]\nPrivateKey = {KEY}\n[Peer]\nPublicKey = nope\n"
        ));
        assert_eq!(line, 4);
        assert!(reason.contains("public key"), "{reason}");
        assert_eq!(
            line_of(&format!(
                "[Interface]\nPrivateKey = {KEY}\n[Peer]\nAllowedIPs = 1.2.3.4\n"
            ))
            .0,
            3
        );
        assert_eq!(line_of("[Interface]\nListenPort = 70000\n").0, 2);
        assert_eq!(line_of("[Interface\n").0, 1);
        assert_eq!(line_of("[Interface]\njust words\n").0, 2);
        assert_eq!(
            line_of(&format!(
                "[Interface]\nPrivateKey = {KEY}\n[Peer]\nPublicKey = {PUB}\nEndpoint = ::1:5\n"
            ))
            .0,
            5
        );
        assert!(matches!(WgConfig::parse(""), Err(WgError::Incomplete(_))));
    }

    #[test]
    fn malformed_lines_never_echo_a_key() {
        // A private key pasted without `PrivateKey =` (its trailing `=` makes it look like a
        // key with an empty value), with a wrong separator, or alone on its line.
        for bad in [
            format!("[Interface]\n{KEY}\n"),
            format!("[Interface]\nPrivateKey: {KEY}\n"),
            format!("[Interface]\nPrivateKey {KEY}\n"),
            format!("{KEY}\n[Interface]\n"),
            format!("[Interface]\nPrivateKey = {KEY}\n[Peer]\n{KEY}\n"),
            format!("[Interface]\n{}\n", KEY.trim_end_matches('=')),
        ] {
            let (line, reason) = line_of(&bad);
            assert!(line >= 1, "{reason}");
            let secret = &KEY[..20];
            assert!(!reason.contains(secret), "the key leaked: {reason}");
        }
        // A plain misspelt key is still named.
        let (_, reason) = line_of(&format!("[Interface]\nPrivateKye = {KEY}\n"));
        assert!(reason.contains("\"PrivateKye\""), "{reason}");
    }
}
