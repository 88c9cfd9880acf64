//! The cache key of a warm snapshot: everything the saved state depends on, hashed.
//!
//! A snapshot is only valid for the VM it was taken of: the same base image (by content and by
//! path, since the cached disk names its backing file by path), the same resolved VM (name, lab,
//! MAC, address, memory, vCPUs, user, packages, runcmd, extra cloud-config), the same QEMU and
//! the same device model (the domain XML the hub writes, with every per-run path replaced by a
//! placeholder). Anything different gives another key, so a stale state is never restored.
//!
//! The keys the guest holds (its SSH host key, the lab key it authorises) are not part of the
//! key: they are part of the entry, and a restore adopts them (see `super::identity`).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use hub_runtime::process::Tool;
use hub_runtime::{LabContext, VmSpec};
use serde_json::json;

use crate::domain::{BootRecord, DomainConfig, Nic, domain_xml};
use crate::error::{LibvirtError, LibvirtResult};
use crate::fsutil::{ensure_dir, write_atomic};
use crate::seed::render_seed;
use crate::virt::DomainType;

/// Bumped when the entry layout or what the key covers changes.
pub(crate) const FORMAT_VERSION: u32 = 1;

/// The device model of `vm`: the domain XML with placeholders for every per-run value.
pub(crate) fn device_model(
    lab: &str,
    vm: &VmSpec,
    domain_type: DomainType,
) -> LibvirtResult<String> {
    let p = |s: &str| PathBuf::from(format!("/hub-warm/{s}"));
    domain_xml(&DomainConfig {
        name: crate::names::domain_name(lab, &vm.name),
        uuid: crate::names::domain_uuid(lab, &vm.name),
        lab: lab.to_string(),
        workload: vm.name.clone(),
        lab_dir: p("lab"),
        spec_hash: String::new(),
        domain_type,
        memory_mib: vm.memory_mb,
        vcpus: vm.vcpus,
        overlay: p("disk"),
        seed: p("seed"),
        console_log: p("console"),
        nics: nic_macs(vm)
            .enumerate()
            .map(|(i, mac)| Nic {
                // The first keeps the placeholder of one-NIC entries, so their keys hold.
                bridge: match i {
                    0 => "hub-warm".into(),
                    _ => format!("hub-warm{i}"),
                },
                mac,
            })
            .collect(),
        user: vm.user.clone(),
        ip: vm.ip,
        static_ip: vm.static_ip,
        boot: BootRecord::default(),
        firmware_console: crate::virt::firmware_console_available(),
        pool: None,
    })
}

/// The MAC of each NIC of `vm`, in order.
fn nic_macs(vm: &VmSpec) -> impl Iterator<Item = String> + '_ {
    let one = vm.networks.is_empty().then(|| vm.mac.to_string());
    one.into_iter()
        .chain(vm.networks.iter().map(|a| a.mac.to_string()))
}

/// The cache key (64 hex digits) of `vm` in `lab`, booted from `base` (canonical path) whose
/// content digest is `base_digest`, under QEMU `qemu_version`.
pub(crate) fn cache_key(
    lab: &LabContext,
    vm: &VmSpec,
    base: &Path,
    base_digest: &str,
    qemu_version: &str,
    device_model: &str,
) -> String {
    // serde_json's maps are sorted: the document is canonical.
    let mut doc = json!({
        "format": FORMAT_VERSION,
        "lab": lab.name,
        "domain": lab.domain,
        "subnet": lab.network.subnet.to_string(),
        "gateway": lab.network.gateway.to_string(),
        "dns": lab.dns,
        "base": {"path": base.to_string_lossy(), "blake3": base_digest},
        "qemu": qemu_version,
        "devices": device_model,
        "vm": {
            "name": vm.name,
            "mac": vm.mac.to_string(),
            "ip": vm.ip,
            "static_ip": vm.static_ip,
            "memory_mb": vm.memory_mb,
            "vcpus": vm.vcpus,
            "user": vm.user,
            "packages": vm.packages,
            "runcmd": vm.runcmd,
            "cloud_init": vm.cloud_init,
        },
    });
    // The guest's files are part of its saved state; left out when there are none, so the
    // keys of entries saved before `files:` existed stay valid.
    if !vm.files.is_empty() {
        doc["vm"]["files"] = serde_json::to_value(&vm.files).unwrap_or_default();
    }
    // A VM on several segments: each NIC (segment, address, MAC) and each segment's network
    // (subnet, gateway), and whether it routes. Left out for one NIC, so the keys of entries
    // saved before segments stay valid.
    if !vm.networks.is_empty() {
        doc["vm"]["networks"] = serde_json::to_value(&vm.networks).unwrap_or_default();
        doc["vm"]["ip_forward"] = json!(vm.ip_forward);
        doc["vm"]["default_route"] = json!(vm.default_route);
        doc["segments"] = lab
            .segments
            .iter()
            .map(|n| json!({"name": n.name, "subnet": n.subnet.to_string(), "gateway": n.gateway.to_string()}))
            .collect();
    }
    doc["seed"] = json!(seed_digest(lab, vm));
    blake3::hash(doc.to_string().as_bytes())
        .to_hex()
        .to_string()
}

/// What the hub's own cloud-init rendering makes of the VM (user-data and network-config), with
/// the keys left out (they travel with the entry, so a lab whose directory was deleted still
/// restores): a change in how the hub renders the seed, such as a new `bootcmd`, changes what
/// the saved guest ran at its first boot, so it is a new key.
fn seed_digest(lab: &LabContext, vm: &VmSpec) -> String {
    let mut keyless = vm.clone();
    keyless.ssh_authorized_key = "ssh-ed25519 AUTHORIZED".into();
    keyless.ssh_host_key_private = "HOST PRIVATE".into();
    keyless.ssh_host_key_public = "ssh-ed25519 HOST".into();
    match render_seed(lab, &keyless) {
        Ok(f) => {
            let mut h = blake3::Hasher::new();
            h.update(f.user_data.as_bytes());
            h.update(b"\0");
            h.update(f.network_config.as_bytes());
            h.finalize().to_hex().to_string()
        }
        // Such a VM is refused when its seed is written; the key only has to differ.
        Err(e) => format!("unrenderable: {e}"),
    }
}

/// The BLAKE3 digest of a file, in hex.
pub(crate) fn file_digest(path: &Path) -> LibvirtResult<String> {
    let io = |source| LibvirtError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    };
    let f = std::fs::File::open(path).map_err(io)?;
    let mut h = blake3::Hasher::new();
    h.update_reader(std::io::BufReader::with_capacity(1 << 20, f))
        .map_err(io)?;
    Ok(h.finalize().to_hex().to_string())
}

/// The content digest of the base image, computed once per version of the file: remembered in
/// `<cache>/.bases/` under the file's identity (path, device, inode, size, modification time).
pub(crate) fn base_digest(cache_dir: &Path, base: &Path) -> LibvirtResult<String> {
    let meta = std::fs::metadata(base).map_err(|source| LibvirtError::Io {
        action: "read the metadata of",
        path: base.to_path_buf(),
        source,
    })?;
    let identity = format!(
        "{}\n{}\n{}\n{}\n{}.{}",
        base.display(),
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec()
    );
    let memo_dir = cache_dir.join(".bases");
    let memo = memo_dir.join(blake3::hash(identity.as_bytes()).to_hex().as_str());
    if let Ok(d) = std::fs::read_to_string(&memo) {
        let d = d.trim();
        if d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(d.to_string());
        }
    }
    let digest = file_digest(base)?;
    ensure_dir(&memo_dir, 0o700)?;
    write_atomic(
        &memo,
        digest.as_bytes(),
        0o600,
        "remember the base image digest",
    )?;
    Ok(digest)
}

/// QEMU's version line (`QEMU emulator version 7.2.x ...`).
pub(crate) async fn qemu_version() -> LibvirtResult<String> {
    let out = Tool::new("qemu-system-x86_64")
        .arg("--version")
        .output()
        .await?;
    Ok(out
        .stdout
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vm() -> VmSpec {
        VmSpec {
            name: "v".into(),
            image: "/img.qcow2".into(),
            memory_mb: 512,
            vcpus: 1,
            packages: vec![],
            user: "hub".into(),
            ip: Some("10.99.0.30".parse().unwrap()),
            static_ip: false,
            mac: "52:54:00:00:00:01".parse().unwrap(),
            cloud_init: None,
            runcmd: vec!["true".into()],
            files: Vec::new(),
            virt_type: hub_runtime::VirtType::Qemu,
            ssh_authorized_key: "k1".into(),
            ssh_host_key_private: String::new(),
            ssh_host_key_public: "h1".into(),
            spec_hash: "s".into(),
            warm: true,
            networks: Vec::new(),
            ip_forward: false,
            default_route: None,
        }
    }

    fn key_of(vm: &VmSpec) -> String {
        let lab = LabContext::for_tests("lab");
        let model = device_model(&lab.name, vm, DomainType::Qemu).unwrap();
        cache_key(&lab, vm, Path::new("/img.qcow2"), "d", "QEMU 7.2", &model)
    }

    #[test]
    fn the_key_follows_what_the_state_depends_on_and_not_the_keys() {
        let base = vm();
        let k = key_of(&base);
        assert_eq!(k.len(), 64);
        let seed = seed_digest(&LabContext::for_tests("lab"), &base);
        assert_eq!(seed.len(), 64, "the seed renders: {seed}");
        assert_eq!(k, key_of(&base), "deterministic");
        let mut other = base.clone();
        other.ssh_authorized_key = "k2".into();
        other.ssh_host_key_public = "h2".into();
        other.spec_hash = "t".into();
        assert_eq!(
            k,
            key_of(&other),
            "keys are carried by the entry, not the key"
        );
        for change in [
            |v: &mut VmSpec| v.memory_mb = 1024,
            |v: &mut VmSpec| v.vcpus = 2,
            |v: &mut VmSpec| v.runcmd = vec!["false".into()],
            |v: &mut VmSpec| v.packages = vec!["curl".into()],
            |v: &mut VmSpec| {
                v.files = vec![hub_runtime::GuestFile {
                    path: "/etc/motd".into(),
                    content_base64: "aGkK".into(),
                    permissions: "0644".into(),
                    owner: "root:root".into(),
                }]
            },
            |v: &mut VmSpec| v.mac = "52:54:00:00:00:02".parse().unwrap(),
            |v: &mut VmSpec| v.ip = Some("10.99.0.31".parse().unwrap()),
            |v: &mut VmSpec| v.user = "alice".into(),
            // Anything the hub puts in the seed, such as an extra cloud-config key.
            |v: &mut VmSpec| v.cloud_init = Some(serde_json::json!({"timezone": "UTC"})),
        ] {
            let mut v = base.clone();
            change(&mut v);
            assert_ne!(k, key_of(&v), "{v:?}");
        }
    }

    /// The key of [`vm`] with a fixed device model, as every release since `files:` made it:
    /// a one-NIC VM's entries saved before segments still hit.
    const ONE_NIC_KEY: &str = "b83cbd73741d85001a7154092311a5b1ac85d4620d4c65eecc5534a73bc1094d";

    #[test]
    fn a_one_nic_vm_keeps_its_key() {
        let lab = LabContext::for_tests("lab");
        let k = cache_key(
            &lab,
            &vm(),
            Path::new("/img.qcow2"),
            "d",
            "QEMU 7.2",
            "MODEL",
        );
        assert_eq!(k, ONE_NIC_KEY);
        let model = device_model(&lab.name, &vm(), DomainType::Qemu).unwrap();
        assert_eq!(model.matches("<interface").count(), 1, "{model}");
        assert!(model.contains(r#"<source bridge="hub-warm"/>"#), "{model}");
    }

    #[test]
    fn the_key_covers_every_nic() {
        let seg = |name: &str, third: u8| hub_runtime::NetworkInfo {
            id: name.into(),
            name: name.into(),
            bridge: format!("br-{name}"),
            subnet: format!("10.99.{third}.0/24").parse().unwrap(),
            gateway: format!("10.99.{third}.1").parse().unwrap(),
            owned: true,
        };
        let mut lab = LabContext::for_tests("lab");
        lab.network.name = "lab-dmz".into();
        lab.segments = vec![seg("lab-internal", 1)];
        let nic = |network: &str, segment: &str, ip: &str, mac: &str| hub_runtime::Attachment {
            network: network.into(),
            segment: segment.into(),
            ip: ip.parse().unwrap(),
            mac: mac.parse().unwrap(),
        };
        let mut two = vm();
        two.networks = vec![
            nic("lab-dmz", "dmz", "10.99.0.30", "52:54:00:00:00:01"),
            nic(
                "lab-internal",
                "internal",
                "10.99.1.30",
                "52:54:00:00:00:09",
            ),
        ];
        two.ip_forward = true;
        two.default_route = Some("10.99.0.1".parse().unwrap());
        let key = |v: &VmSpec, lab: &LabContext| {
            let model = device_model(&lab.name, v, DomainType::Qemu).unwrap();
            cache_key(lab, v, Path::new("/img.qcow2"), "d", "QEMU 7.2", &model)
        };
        let model = device_model(&lab.name, &two, DomainType::Qemu).unwrap();
        assert_eq!(model.matches("<interface").count(), 2, "{model}");
        assert!(
            model.contains(r#"<mac address="52:54:00:00:00:09"/>"#),
            "{model}"
        );
        let k = key(&two, &lab);
        assert_ne!(k, key(&vm(), &lab));
        for change in [
            |v: &mut VmSpec| v.networks[1].mac = "52:54:00:00:00:0a".parse().unwrap(),
            |v: &mut VmSpec| v.networks[1].ip = "10.99.1.31".parse().unwrap(),
            |v: &mut VmSpec| v.ip_forward = false,
            |v: &mut VmSpec| {
                v.networks.pop();
            },
        ] {
            let mut v = two.clone();
            change(&mut v);
            assert_ne!(k, key(&v, &lab), "{v:?}");
        }
        // Another subnet behind the second NIC is another saved state too.
        let mut moved = lab.clone();
        moved.segments = vec![seg("lab-internal", 2)];
        assert_ne!(k, key(&two, &moved));
        // The bridges are this run's: not part of the key.
        let mut rebridged = lab.clone();
        rebridged.segments[0].bridge = "br-other".into();
        assert_eq!(k, key(&two, &rebridged));
    }

    #[test]
    fn the_base_digest_is_remembered_per_file_version() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base");
        std::fs::write(&base, b"one").unwrap();
        let cache = dir.path().join("cache");
        let d1 = base_digest(&cache, &base).unwrap();
        assert_eq!(d1, blake3::hash(b"one").to_hex().to_string());
        assert_eq!(base_digest(&cache, &base).unwrap(), d1);
        std::fs::write(&base, b"two, longer").unwrap();
        assert_eq!(
            base_digest(&cache, &base).unwrap(),
            blake3::hash(b"two, longer").to_hex().to_string()
        );
    }
}
