//! Names: which lab and peer names are usable, and the interface name derived from a lab.

use hub_runtime::names::{DNS_LABEL_RULE, is_dns_label};
use sha2::{Digest, Sha256};

use crate::error::WgError;

/// The prefix of every gateway interface.
pub const INTERFACE_PREFIX: &str = "hubwg-";
/// Linux's limit on interface names (IFNAMSIZ - 1).
const MAX_INTERFACE: usize = 15;

/// Checks a lab or peer name against the rule every crate of the hub shares: a DNS label
/// ([`hub_runtime::names::is_dns_label`]), which is also safe as a file name and in an iptables
/// comment.
pub fn check_name(what: &'static str, name: &str) -> Result<(), WgError> {
    if is_dns_label(name) {
        return Ok(());
    }
    Err(WgError::InvalidName {
        what,
        name: name.to_string(),
        reason: format!("it is not a DNS label: {DNS_LABEL_RULE}"),
    })
}

/// The gateway interface of a lab: `hubwg-` and the lab name when it is at most 9 characters
/// of `a-z 0-9 -`; otherwise `hubwg-`, the first 4 characters of the sanitised name and 5 hex
/// digits of the name's SHA-256, so that it stays unique and within 15 characters. The same
/// lab always gives the same name, so `down` finds it without any state.
pub fn interface_name(lab: &str) -> String {
    prefixed_interface_name(INTERFACE_PREFIX, lab)
}

/// An interface name for a lab under another `prefix` (at most 9 characters, so that a hash
/// still fits), by the rule of [`interface_name`]: the prefix and the lab name when it fits
/// and is clean, else the prefix, the head of the sanitised name and 5 hex digits of its hash.
pub fn prefixed_interface_name(prefix: &str, lab: &str) -> String {
    let room = MAX_INTERFACE.saturating_sub(prefix.len()).max(5);
    let sanitised: String = lab
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '-') => c,
            _ => '-',
        })
        .collect();
    if sanitised == lab && lab.len() <= room {
        return format!("{prefix}{lab}");
    }
    let digest = Sha256::digest(lab.as_bytes());
    let hash: String = digest.iter().take(3).map(|b| format!("{b:02x}")).collect();
    let head: String = sanitised.chars().take(room - 5).collect();
    format!("{prefix}{head}{}", &hash[..5])
}

/// The comment that marks a lab's iptables rules.
pub fn rule_comment(lab: &str) -> String {
    format!("hub:{lab}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_prefixes_follow_the_same_rule() {
        assert_eq!(prefixed_interface_name("hubmx-", "demo"), "hubmx-demo");
        let long = prefixed_interface_name("hubmx-", "a-very-long-lab-name");
        assert_eq!(long.len(), 15);
        assert_eq!(&long[6..], &interface_name("a-very-long-lab-name")[6..]);
    }

    #[test]
    fn short_clean_names_are_kept() {
        assert_eq!(interface_name("demo"), "hubwg-demo");
        assert_eq!(interface_name("t-wg-e2e1"), "hubwg-t-wg-e2e1");
    }

    #[test]
    fn long_or_unclean_names_are_truncated_with_a_hash() {
        let long = interface_name("a-very-long-lab-name");
        assert_eq!(long.len(), 15);
        assert!(long.starts_with("hubwg-a-ve"), "{long}");
        assert_eq!(
            long,
            interface_name("a-very-long-lab-name"),
            "deterministic"
        );
        assert_ne!(long, interface_name("a-very-long-lab-name2"));
        let upper = interface_name("Demo");
        assert!(
            upper.starts_with("hubwg-demo") && upper.len() == 15,
            "{upper}"
        );
        assert_ne!(upper, interface_name("demo"));
        assert!(
            interface_name("x.y_z")
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        );
    }

    #[test]
    fn every_valid_name_fits_the_kernel_limit() {
        for len in 1..=63 {
            let name = "ab-9".chars().cycle().take(len).collect::<String>();
            let name = format!("{}z", &name[..len - 1]);
            check_name("lab", &name).unwrap();
            assert!(interface_name(&name).len() <= 15);
        }
    }

    #[test]
    fn bad_names_are_refused_with_the_reason() {
        // The same rule as every other crate's: no upper case, '_' or '.' either.
        for name in [
            "",
            "-x",
            "x-",
            "a/b",
            "a b",
            "A",
            "a_b",
            "a.b",
            &"x".repeat(64),
        ] {
            let err = check_name("peer", name).unwrap_err().to_string();
            assert!(err.starts_with("peer name"), "{err}");
            assert!(err.contains("not a DNS label"), "{err}");
        }
    }
}
