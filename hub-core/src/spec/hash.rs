//! Spec hashes and MAC addresses: both derived deterministically from the spec.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Writes `v` as JSON with every object's keys sorted, so equal values always give the same
/// text whatever order their maps were built in.
fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                if let Some(x) = map.get(k) {
                    canonical(x, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The canonical JSON text of `value` (sorted keys, no spaces).
pub fn canonical_json<T: Serialize>(value: &T) -> String {
    let v = serde_json::to_value(value).unwrap_or(Value::Null);
    let mut out = String::new();
    canonical(&v, &mut out);
    out
}

/// SHA-256 of the canonical JSON of `value`, as lowercase hex.
pub fn spec_hash<T: Serialize>(value: &T) -> String {
    hex(&Sha256::digest(canonical_json(value).as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The MAC of workload `name` in lab `lab`: `52:54:00` (QEMU's locally administered, unicast
/// prefix) followed by the first three bytes of SHA-256 of `LAB/NAME`, or of `LAB/NAME#N`
/// for the N-th retry when an earlier workload of the lab already has that MAC.
pub fn derive_mac(lab: &str, name: &str, attempt: u32) -> String {
    let input = if attempt == 0 {
        format!("{lab}/{name}")
    } else {
        format!("{lab}/{name}#{attempt}")
    };
    let d = Sha256::digest(input.as_bytes());
    format!("52:54:00:{:02x}:{:02x}:{:02x}", d[0], d[1], d[2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let a = serde_json::json!({"b": 1, "a": {"y": [1, {"q": 1, "p": 2}], "x": "s"}});
        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"x":"s","y":[1,{"p":2,"q":1}]},"b":1}"#
        );
    }

    #[test]
    fn macs_are_stable_local_unicast_and_differ_by_name() {
        let m = derive_mac("demo", "web", 0);
        assert_eq!(m, derive_mac("demo", "web", 0));
        assert!(m.starts_with("52:54:00:"));
        assert_eq!(m.len(), 17);
        assert_ne!(m, derive_mac("demo", "db", 0));
        assert_ne!(m, derive_mac("other", "web", 0));
        assert_ne!(m, derive_mac("demo", "web", 1));
        let first = u8::from_str_radix(&m[..2], 16).unwrap();
        assert_eq!(first & 0b11, 0b10, "locally administered, unicast");
    }
}
