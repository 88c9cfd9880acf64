//! Host names that dynamic clients send (option 12, or the FQDN of option 81), made into one
//! DNS label of the lab domain.

/// The longest DNS label.
const MAX_LABEL: usize = 63;

/// Makes a client's host name into a DNS label (the project's one rule,
/// [`hub_runtime::names::is_dns_label`]): the part before the first dot, lowercase, every
/// byte other than a letter, digit or `-` turned into `-`, no `-` at either end, at most 63
/// bytes. `None` when nothing is left.
pub fn sanitize_label(raw: &[u8]) -> Option<String> {
    let first = raw.split(|b| *b == b'.').next().unwrap_or_default();
    let mapped: String = first
        .iter()
        .take_while(|b| **b != 0)
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b.to_ascii_lowercase())
            } else {
                '-'
            }
        })
        .collect();
    let mut label = mapped.trim_matches('-').to_string();
    label.truncate(MAX_LABEL);
    let label = label.trim_end_matches('-');
    hub_runtime::names::is_dns_label(label).then(|| label.to_string())
}

/// The host name in a Client FQDN option's data (RFC 4702): flags, two rcodes, then the
/// name, in DNS wire format when the E flag is set, else ASCII. Only the first label is
/// read. `None` when the option is malformed or the name empty.
pub fn fqdn_option_label(data: &[u8]) -> Option<String> {
    const ENCODED: u8 = 0x04;
    let flags = *data.first()?;
    let name = data.get(3..)?;
    if flags & ENCODED == 0 {
        return sanitize_label(name);
    }
    let len = usize::from(*name.first()?);
    if len == 0 || len > MAX_LABEL {
        return None;
    }
    sanitize_label(name.get(1..1 + len)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_sanitised() {
        assert_eq!(sanitize_label(b"Laptop").as_deref(), Some("laptop"));
        assert_eq!(sanitize_label(b"my_pc.home.arpa").as_deref(), Some("my-pc"));
        assert_eq!(sanitize_label(b"--x y--").as_deref(), Some("x-y"));
        assert_eq!(sanitize_label(b"caf\xc3\xa9").as_deref(), Some("caf"));
        assert_eq!(sanitize_label(b"name\0junk").as_deref(), Some("name"));
        assert_eq!(sanitize_label(b"..."), None);
        assert_eq!(sanitize_label(b"-_-"), None);
        assert_eq!(sanitize_label(&[b'a'; 100]).map(|l| l.len()), Some(63));
        let mut long = vec![b'a'; 62];
        long.extend_from_slice(b"-b");
        assert_eq!(sanitize_label(&long).as_deref(), Some(&"a".repeat(62)[..]));
    }

    #[test]
    fn fqdn_option_in_both_encodings() {
        assert_eq!(
            fqdn_option_label(b"\x01\0\0Host.example.org").as_deref(),
            Some("host")
        );
        assert_eq!(
            fqdn_option_label(b"\x05\0\0\x04Host\x07example\x00").as_deref(),
            Some("host")
        );
        assert_eq!(fqdn_option_label(b"\x05\0\0\x09Host"), None);
        assert_eq!(fqdn_option_label(b"\x05\0"), None);
        assert_eq!(fqdn_option_label(b"\x05\0\0\0"), None);
    }
}
