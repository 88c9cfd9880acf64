//! Names: which lab and peer names are usable, and the interface name derived from a lab.

use sha2::{Digest, Sha256};

use crate::error::WgError;

/// Longest lab or peer name accepted.
const MAX_NAME: usize = 63;
/// The prefix of every gateway interface.
pub const INTERFACE_PREFIX: &str = "hubwg-";
/// Linux's limit on interface names (IFNAMSIZ - 1).
const MAX_INTERFACE: usize = 15;

/// Checks a lab or peer name: 1 to 63 characters of `A-Z a-z 0-9 _ . -`, starting with a
/// letter or digit (what Docker accepts; safe as a file name and in an iptables comment).
pub fn check_name(what: &'static str, name: &str) -> Result<(), WgError> {
    let invalid = |reason: String| WgError::InvalidName {
        what,
        name: name.to_string(),
        reason,
    };
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(invalid(format!("it must have 1 to {MAX_NAME} characters")));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(invalid("it must start with a letter or a digit".into()));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(invalid(format!(
            "{bad:?} is not allowed (use letters, digits, '_', '.', '-')"
        )));
    }
    Ok(())
}

/// The gateway interface of a lab: `hubwg-` and the lab name when it is at most 9 characters
/// of `a-z 0-9 -`; otherwise `hubwg-`, the first 4 characters of the sanitised name and 5 hex
/// digits of the name's SHA-256, so that it stays unique and within 15 characters. The same
/// lab always gives the same name, so `down` finds it without any state.
pub fn interface_name(lab: &str) -> String {
    let room = MAX_INTERFACE - INTERFACE_PREFIX.len();
    let sanitised: String = lab
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '-') => c,
            _ => '-',
        })
        .collect();
    if sanitised == lab && lab.len() <= room {
        return format!("{INTERFACE_PREFIX}{lab}");
    }
    let digest = Sha256::digest(lab.as_bytes());
    let hash: String = digest.iter().take(3).map(|b| format!("{b:02x}")).collect();
    let head: String = sanitised.chars().take(room - 5).collect();
    format!("{INTERFACE_PREFIX}{head}{}", &hash[..5])
}

/// The comment that marks a lab's iptables rules.
pub fn rule_comment(lab: &str) -> String {
    format!("hub:{lab}")
}

#[cfg(test)]
mod tests {
    use super::*;

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
        for len in 1..=MAX_NAME {
            let name = "Ab_.-9".chars().cycle().take(len).collect::<String>();
            let name = format!("a{}", &name[1..]);
            check_name("lab", &name).unwrap();
            assert!(interface_name(&name).len() <= 15);
        }
    }

    #[test]
    fn bad_names_are_refused_with_the_reason() {
        for (name, reason) in [
            ("", "1 to 63"),
            ("-x", "start with"),
            ("a/b", "'/'"),
            ("a b", "' '"),
            (&"x".repeat(64), "1 to 63"),
        ] {
            let err = check_name("peer", name).unwrap_err().to_string();
            assert!(err.starts_with("peer name"), "{err}");
            assert!(err.contains(reason), "{err}");
        }
    }
}
