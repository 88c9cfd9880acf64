//! MAC addresses: the type every crate passes around, and the one way a workload's MAC is
//! derived from its lab and name.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// An Ethernet MAC address, written `aa:bb:cc:dd:ee:ff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

/// A text that is not a MAC address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("MAC address {mac:?} is not of the form aa:bb:cc:dd:ee:ff")]
pub struct MacParseError {
    /// The text given.
    pub mac: String,
}

impl MacAddr {
    /// Whether this is a group (multicast or broadcast) address, which no NIC can have.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }

    /// Whether every byte is zero.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 6]
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

/// Parses `aa:bb:cc:dd:ee:ff` in any case, with `:` or `-` between the bytes.
impl FromStr for MacAddr {
    type Err = MacParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || MacParseError { mac: s.to_string() };
        let mut out = [0u8; 6];
        let mut parts = s.trim().split([':', '-']);
        for byte in &mut out {
            let part = parts.next().ok_or_else(bad)?;
            if part.len() != 2 {
                return Err(bad());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(MacAddr(out))
    }
}

impl Serialize for MacAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The MAC of workload `name` in lab `lab`: `52:54:00` (QEMU's locally administered, unicast
/// prefix) followed by the first three bytes of SHA-256 of `LAB/NAME`, or of `LAB/NAME#N`
/// for the N-th retry when an earlier workload of the lab already has that MAC. The same names
/// always give the same MAC, so netd's reservation matches across re-creations.
pub fn derive_mac(lab: &str, name: &str, attempt: u32) -> MacAddr {
    let input = if attempt == 0 {
        format!("{lab}/{name}")
    } else {
        format!("{lab}/{name}#{attempt}")
    };
    let d = Sha256::digest(input.as_bytes());
    MacAddr([0x52, 0x54, 0x00, d[0], d[1], d[2]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_are_stable_local_unicast_and_differ_by_name() {
        let m = derive_mac("demo", "web", 0).to_string();
        assert_eq!(m, derive_mac("demo", "web", 0).to_string());
        assert!(m.starts_with("52:54:00:"));
        assert_eq!(m.len(), 17);
        assert_ne!(m, derive_mac("demo", "db", 0).to_string());
        assert_ne!(m, derive_mac("other", "web", 0).to_string());
        assert_ne!(m, derive_mac("demo", "web", 1).to_string());
        let first = u8::from_str_radix(&m[..2], 16).unwrap();
        assert_eq!(first & 0b11, 0b10, "locally administered, unicast");
    }

    #[test]
    fn derived_macs_keep_their_values() {
        // The MAC a workload gets must never change between releases: netd's reservations and
        // the leases of running VMs depend on it.
        assert_eq!(derive_mac("demo", "vm1", 0).to_string(), DEMO_VM1);
        // The separator keeps ("ab", "c") apart from ("a", "bc").
        assert_ne!(derive_mac("ab", "c", 0), derive_mac("a", "bc", 0));
    }

    /// What `derive_mac` gave for `demo`/`vm1` before it moved here from hub-core.
    const DEMO_VM1: &str = "52:54:00:48:6d:1a";

    #[test]
    fn macs_are_normalised_or_refused() {
        assert_eq!(
            "52-54-00-AB-cd-EF".parse::<MacAddr>().unwrap().to_string(),
            "52:54:00:ab:cd:ef"
        );
        for bad in [
            "",
            "52:54:00:ab:cd",
            "52:54:00:ab:cd:ef:01",
            "52:54:00:ab:cd:zz",
            "5:54:00:ab:cd:eff",
        ] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad:?} accepted");
        }
        let group: MacAddr = "01:00:5e:00:00:01".parse().unwrap();
        assert!(group.is_multicast() && !group.is_zero());
        assert!(MacAddr([0; 6]).is_zero());
    }
}
