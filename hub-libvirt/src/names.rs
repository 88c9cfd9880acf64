//! Names and MAC addresses of VMs: the domain name `LAB-VM`, and the checks that keep a name
//! usable as a host name and a file name and a MAC usable by a NIC.

use hub_runtime::MacAddr;
use hub_runtime::names::{DNS_LABEL_RULE, is_dns_label};
use sha2::{Digest, Sha256};

use crate::error::{LibvirtError, LibvirtResult};

/// The libvirt domain name of a VM: `LAB-VM`.
pub fn domain_name(lab: &str, vm: &str) -> String {
    format!("{lab}-{vm}")
}

/// Checks that `name` (a lab or VM name) is a DNS label ([`hub_runtime::names::is_dns_label`],
/// the rule every crate of the hub shares). Such a name is safe as a host name, a domain name
/// and a file name.
pub fn check_name(vm: &str, what: &str, name: &str) -> LibvirtResult<()> {
    if is_dns_label(name) {
        return Ok(());
    }
    Err(LibvirtError::InvalidSpec {
        vm: vm.to_string(),
        reason: format!("{what} name {name:?} is not a DNS label: {DNS_LABEL_RULE}"),
    })
}

/// The UUID of a VM's domain, derived from its lab and name like its MAC, so that every `up`
/// of the same VM defines the same domain: a warm snapshot names the domain's UUID, and libvirt
/// restores it only onto a domain with that UUID.
pub fn domain_uuid(lab: &str, vm: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"hub-domain-uuid\0");
    h.update(lab.as_bytes());
    h.update([0u8]);
    h.update(vm.as_bytes());
    let mut b: [u8; 16] = h.finalize()[..16].try_into().unwrap_or([0; 16]);
    b[6] = (b[6] & 0x0f) | 0x80; // version 8: custom
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Checks that a VM's MAC can be a NIC's: refuses group (multicast) addresses and all zeros.
/// VMs get theirs from [`hub_runtime::derive_mac`], which always passes.
pub fn check_mac(vm: &str, mac: MacAddr) -> LibvirtResult<()> {
    let reason = if mac.is_multicast() {
        "is a multicast address"
    } else if mac.is_zero() {
        "is all zeros"
    } else {
        return Ok(());
    };
    Err(LibvirtError::InvalidSpec {
        vm: vm.to_string(),
        reason: format!("MAC {mac} {reason}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_and_zero_macs_are_refused() {
        let mac = |s: &str| s.parse::<MacAddr>().unwrap();
        assert!(check_mac("v", hub_runtime::derive_mac("demo", "vm1", 0)).is_ok());
        let err = check_mac("v", mac("01:00:5e:00:00:01")).unwrap_err();
        assert!(err.to_string().contains("multicast"), "{err}");
        assert!(check_mac("v", mac("00:00:00:00:00:00")).is_err());
    }

    #[test]
    fn names_must_be_dns_labels() {
        for good in ["a", "vm-1", "0abc", &"x".repeat(63)] {
            assert!(check_name("v", "VM", good).is_ok(), "{good:?} refused");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "A",
            "a_b",
            "a.b",
            "a/b",
            "a b",
            "a\"b",
            &"x".repeat(64),
        ] {
            let err = check_name("v", "VM", bad).unwrap_err();
            assert!(err.to_string().contains("VM name"), "{err}");
        }
        assert_eq!(domain_name("lab", "vm"), "lab-vm");
    }
}
