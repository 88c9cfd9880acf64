//! `ssh://[USER@]HOST[:PORT]`, the form of a Docker endpoint reached over SSH (Docker's own
//! `DOCKER_HOST=ssh://...` form: no path, no query, no password).

/// The parts of an `ssh://` endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SshUrl {
    /// The login user; `None`: ssh's own choice (the local user, or `~/.ssh/config`).
    pub user: Option<String>,
    /// A host name, an IPv4 address, or an IPv6 address (written `[ADDR]` in the URL).
    pub host: String,
    /// The port; `None`: 22 (or `~/.ssh/config`).
    pub port: Option<u16>,
}

/// What a user name may hold (POSIX portable names): nothing ssh would read as an option or a
/// second destination.
fn user_ok(user: &str) -> bool {
    !user.is_empty()
        && !user.starts_with('-')
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// A host name or IPv4 address: DNS characters, never starting with `-` (ssh would take it
/// for an option).
fn host_ok(host: &str) -> bool {
    !host.is_empty()
        && !host.starts_with(['-', '.'])
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

impl SshUrl {
    /// Parses what follows `ssh://`; the message says what is wrong with `endpoint`.
    pub(crate) fn parse(endpoint: &str) -> Result<Self, String> {
        let usage = "write ssh://USER@HOST or ssh://USER@HOST:PORT";
        let bad = |why: &str| format!("\"{endpoint}\" is not an SSH endpoint: {why}; {usage}");
        let rest = endpoint
            .strip_prefix("ssh://")
            .ok_or_else(|| bad("it does not start with ssh://"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#']) {
            return Err(bad(
                "it has a path or a query (the engine is the host's default socket, reached by \
                 `docker system dial-stdio` there)",
            ));
        }
        let (user, hostport) = match rest.rsplit_once('@') {
            Some((user, hostport)) => {
                if user.contains(':') {
                    return Err(bad(
                        "it holds a password (give the key with `ssh_key` instead)",
                    ));
                }
                if !user_ok(user) {
                    return Err(bad(&format!("\"{user}\" is not a user name")));
                }
                (Some(user.to_string()), hostport)
            }
            None => (None, rest),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (addr, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("an IPv6 address lacks its closing ]"))?;
            if addr.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(bad(&format!("\"{addr}\" is not an IPv6 address")));
            }
            match after {
                "" => (addr, None),
                _ => match after.strip_prefix(':') {
                    Some(p) => (addr, Some(p)),
                    None => return Err(bad("text follows the IPv6 address")),
                },
            }
        } else {
            match hostport.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if !hostport.starts_with('[') && !host_ok(host) {
            return Err(bad(&format!("\"{host}\" is not a host name or address")));
        }
        let port = match port {
            None => None,
            Some(p) => match p.parse::<u16>() {
                Ok(p) if p > 0 => Some(p),
                _ => return Err(bad(&format!("\"{p}\" is not a port (1-65535)"))),
            },
        };
        Ok(SshUrl {
            user,
            host: host.to_string(),
            port,
        })
    }
}

/// `ssh://[USER@]HOST[:PORT]` (an IPv6 host in brackets).
pub(crate) fn format(user: Option<&str>, host: &str, port: Option<u16>) -> String {
    let mut s = String::from("ssh://");
    if let Some(u) = user {
        s.push_str(u);
        s.push('@');
    }
    if host.contains(':') {
        s.push('[');
        s.push_str(host);
        s.push(']');
    } else {
        s.push_str(host);
    }
    if let Some(p) = port {
        s.push(':');
        s.push_str(&p.to_string());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_style_ssh_endpoints_parse() {
        let u = SshUrl::parse("ssh://root@10.0.0.2:2222").unwrap();
        assert_eq!(u.user.as_deref(), Some("root"));
        assert_eq!((u.host.as_str(), u.port), ("10.0.0.2", Some(2222)));
        let u = SshUrl::parse("ssh://h2.example.org/").unwrap();
        assert_eq!(
            (u.user, u.host.as_str(), u.port),
            (None, "h2.example.org", None)
        );
        let u = SshUrl::parse("ssh://me@[fd00::2]:22").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("fd00::2", Some(22)));
        assert_eq!(
            format(Some("me"), "fd00::2", Some(22)),
            "ssh://me@[fd00::2]:22"
        );
        assert_eq!(format(None, "h2", None), "ssh://h2");
    }

    #[test]
    fn bad_ssh_endpoints_say_why() {
        for (bad, says) in [
            ("ssh://", "is not a host name"),
            ("ssh://me@", "is not a host name"),
            ("ssh://me:secret@h2", "holds a password"),
            ("ssh://me@h2:0", "is not a port"),
            ("ssh://me@h2:99999", "is not a port"),
            ("ssh://me@h2:x", "is not a port"),
            ("ssh://me@h2/var/run/docker.sock", "has a path"),
            ("ssh://me@h2?x=1", "has a path or a query"),
            ("ssh://-oProxyCommand=x", "is not a host name"),
            ("ssh://-l@h2", "is not a user name"),
            ("ssh://me@h 2", "is not a host name"),
            ("ssh://me@[fd00::2", "closing ]"),
            ("ssh://me@[nope]:22", "is not an IPv6 address"),
        ] {
            let e = SshUrl::parse(bad).unwrap_err();
            assert!(
                e.contains(says) && e.contains("ssh://USER@HOST"),
                "{bad}: {e}"
            );
        }
    }
}
