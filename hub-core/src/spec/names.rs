//! Which names Docker, libvirt, DNS and Linux accept (the DNS label rule is
//! [`hub_runtime::names`]'s, shared by every crate).

pub(crate) use hub_runtime::names::{DNS_LABEL_RULE, is_dns_domain, is_dns_label};

/// A Docker network name: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 64 characters.
pub(crate) fn is_docker_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// A Linux user name as Debian's `adduser` accepts it: `[a-z_][a-z0-9_-]*`, at most 32.
pub(crate) fn is_linux_user(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 32
        && (b[0].is_ascii_lowercase() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'-'))
}

/// A Linux interface name: 1 to 15 bytes, no `/`, `:` or whitespace.
pub(crate) fn is_iface_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s.bytes()
            .all(|c| c.is_ascii_graphic() && c != b'/' && c != b':')
}

/// A Debian package name (with an optional `=version`): no whitespace, not empty.
pub(crate) fn is_package(s: &str) -> bool {
    !s.is_empty() && !s.starts_with('-') && s.bytes().all(|c| c.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_names_domains_users_ifaces() {
        assert!(is_docker_name("demo-net") && is_docker_name("Demo_net.1"));
        assert!(!is_docker_name("-x") && !is_docker_name("a/b") && !is_docker_name(""));
        assert!(is_dns_domain("demo.lab") && !is_dns_domain("demo..lab") && !is_dns_domain(""));
        assert!(is_linux_user("hub") && is_linux_user("_x1") && !is_linux_user("Hub"));
        assert!(!is_linux_user("1a") && !is_linux_user(""));
        assert!(is_iface_name("eth0") && !is_iface_name("a/b") && !is_iface_name(&"e".repeat(16)));
        assert!(is_package("curl") && is_package("vim=2:9.0") && !is_package("a b"));
    }
}
