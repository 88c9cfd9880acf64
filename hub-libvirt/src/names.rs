//! Names and MAC addresses of VMs: the domain name `LAB-VM`, the checks that keep a name usable
//! as a host name and a file name, and the MAC derived from the lab and VM names.

use sha2::{Digest, Sha256};

use crate::error::{LibvirtError, LibvirtResult};

/// The libvirt domain name of a VM: `LAB-VM`.
pub fn domain_name(lab: &str, vm: &str) -> String {
    format!("{lab}-{vm}")
}

/// Checks that `name` (a lab or VM name) is a DNS label: 1 to 63 characters from `a-z`, `0-9`
/// and `-`, not starting or ending with `-`. Such a name is safe as a host name, a domain name
/// and a file name.
pub fn check_name(vm: &str, what: &str, name: &str) -> LibvirtResult<()> {
    let bad = |reason: String| {
        Err(LibvirtError::InvalidSpec {
            vm: vm.to_string(),
            reason,
        })
    };
    if name.is_empty() || name.len() > 63 {
        return bad(format!("{what} name {name:?} must have 1 to 63 characters"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return bad(format!(
            "{what} name {name:?} may only hold a-z, 0-9 and '-'"
        ));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return bad(format!(
            "{what} name {name:?} must not start or end with '-'"
        ));
    }
    Ok(())
}

/// The MAC of a VM, derived from its lab and name: QEMU's locally administered prefix
/// `52:54:00` and three bytes of SHA-256 of `lab`, NUL, `vm`. The same names always give the
/// same MAC, so netd's reservation matches across re-creations.
pub fn derive_mac(lab: &str, vm: &str) -> String {
    let mut h = Sha256::new();
    h.update(lab.as_bytes());
    h.update([0u8]);
    h.update(vm.as_bytes());
    let d = h.finalize();
    format!("52:54:00:{:02x}:{:02x}:{:02x}", d[0], d[1], d[2])
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

/// Checks and normalises a MAC (`aa:bb:cc:dd:ee:ff`, any case, `-` also accepted) to lower case
/// with colons. Refuses multicast addresses (a NIC cannot have one) and all zeros.
pub fn normalize_mac(vm: &str, mac: &str) -> LibvirtResult<String> {
    let bad = |reason: &str| {
        Err(LibvirtError::InvalidSpec {
            vm: vm.to_string(),
            reason: format!("MAC {mac:?} {reason}"),
        })
    };
    let parts: Vec<&str> = mac.trim().split([':', '-']).collect();
    if parts.len() != 6 || parts.iter().any(|p| p.len() != 2) {
        return bad("is not of the form aa:bb:cc:dd:ee:ff");
    }
    let mut bytes = [0u8; 6];
    for (b, p) in bytes.iter_mut().zip(&parts) {
        match u8::from_str_radix(p, 16) {
            Ok(v) => *b = v,
            Err(_) => return bad("is not of the form aa:bb:cc:dd:ee:ff"),
        }
    }
    if bytes[0] & 1 == 1 {
        return bad("is a multicast address");
    }
    if bytes == [0; 6] {
        return bad("is all zeros");
    }
    Ok(bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_macs_are_stable_local_unicast_and_distinct() {
        let a = derive_mac("demo", "vm1");
        assert_eq!(a, derive_mac("demo", "vm1"));
        assert!(a.starts_with("52:54:00:"), "{a}");
        assert_eq!(normalize_mac("vm1", &a).unwrap(), a);
        assert_ne!(a, derive_mac("demo", "vm2"));
        assert_ne!(a, derive_mac("demo2", "vm1"));
        // The separator keeps ("ab", "c") apart from ("a", "bc").
        assert_ne!(derive_mac("ab", "c"), derive_mac("a", "bc"));
    }

    #[test]
    fn macs_are_normalised_or_refused() {
        assert_eq!(
            normalize_mac("v", "52-54-00-AB-cd-EF").unwrap(),
            "52:54:00:ab:cd:ef"
        );
        for bad in [
            "",
            "52:54:00:ab:cd",
            "52:54:00:ab:cd:ef:01",
            "52:54:00:ab:cd:zz",
            "5:54:00:ab:cd:eff",
        ] {
            assert!(normalize_mac("v", bad).is_err(), "{bad:?} accepted");
        }
        let err = normalize_mac("v", "01:00:5e:00:00:01").unwrap_err();
        assert!(err.to_string().contains("multicast"), "{err}");
        assert!(normalize_mac("v", "00:00:00:00:00:00").is_err());
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
