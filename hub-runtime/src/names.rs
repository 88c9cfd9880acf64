//! The one name rule: lab, workload and peer names are DNS labels.

/// A DNS label (RFC 1123), lowercase only: `[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?`. Every name
/// that passes is also a valid Docker container name (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`), libvirt
/// domain name, host name and file name.
pub fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// What [`is_dns_label`] asks for, for error messages.
pub const DNS_LABEL_RULE: &str = "use 1 to 63 lowercase letters, digits or '-', starting and \
     ending with a letter or digit (Docker, libvirt and DNS must all accept it)";

/// A DNS domain: dot-separated DNS labels, at most 253 characters.
pub fn is_dns_domain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels() {
        for ok in ["web", "web-demo", "a", "0", "x1-2", &"a".repeat(63)] {
            assert!(is_dns_label(ok), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "Web",
            "a_b",
            "a.b",
            "a b",
            &"a".repeat(64),
            "é",
        ] {
            assert!(!is_dns_label(bad), "{bad}");
        }
    }

    #[test]
    fn dns_domains() {
        assert!(is_dns_domain("demo.lab") && !is_dns_domain("demo..lab") && !is_dns_domain(""));
    }
}
