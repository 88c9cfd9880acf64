//! The NoCloud seed of a VM, made in-process: `meta-data`, `user-data` and `network-config` in
//! a vfat image labelled `CIDATA` (cloud-init finds it by that label), attached as a virtio
//! disk.
//!
//! The three files are written as JSON: JSON is YAML, so cloud-init reads it as it reads any
//! cloud-config (`user-data` keeps its `#cloud-config` first line), and serde_json escapes every
//! value, so nothing a user puts in a spec can break the document's structure.
//!
//! The seed holds the VM's SSH host private key: its file is mode 0600.

use std::io::{Cursor, Write};
use std::net::Ipv4Addr;
use std::path::Path;

use hub_runtime::{LabContext, VmSpec};
use serde_json::{Map, Value, json};

use crate::error::{LibvirtError, LibvirtResult};
use crate::fsutil::write_private_atomic;

/// The volume label cloud-init's NoCloud source looks for (vfat labels are upper case).
pub const SEED_LABEL: &str = "CIDATA";

/// The three files of a NoCloud seed.
#[derive(Clone, PartialEq, Eq)]
pub struct SeedFiles {
    /// `meta-data`: instance id and host name.
    pub meta_data: String,
    /// `user-data`: `#cloud-config` then the document (holds the host private key).
    pub user_data: String,
    /// `network-config`: netplan v2, static or DHCP on the NIC matched by MAC.
    pub network_config: String,
}

impl std::fmt::Debug for SeedFiles {
    // user-data holds a private key: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeedFiles")
            .field("meta_data", &self.meta_data)
            .field(
                "user_data",
                &format_args!("<{} bytes, holds a private key>", self.user_data.len()),
            )
            .field("network_config", &self.network_config)
            .finish()
    }
}

/// The cloud-init instance id of a VM: changes when its spec changes, so cloud-init runs again
/// on a re-created VM with a new spec.
pub fn instance_id(lab: &str, vm: &VmSpec) -> String {
    let hash: String = vm.spec_hash.chars().take(16).collect();
    if hash.is_empty() {
        format!("{lab}-{}", vm.name)
    } else {
        format!("{lab}-{}-{hash}", vm.name)
    }
}

/// Turns off Debian's dynamic motd for SSH logins: sshd's `pam_motd.so motd=/run/motd.dynamic`
/// runs `/etc/update-motd.d` (uname) on every login, commands included, which under TCG is
/// 0.6 s of each SSH call (the readiness probe, `hub exec`, `hub ssh`). The static `/etc/motd`
/// still shows. A no-op on a guest without that line.
const DYNAMIC_MOTD_OFF: &str = "sed -i 's|^session[[:space:]]*optional[[:space:]]*pam_motd.so[[:space:]]*motd=/run/motd.dynamic|#&|' /etc/pam.d/sshd || true";

/// Turns on IPv4 forwarding, for a VM with `ip_forward`.
const IP_FORWARD_ON: &str = "echo 1 > /proc/sys/net/ipv4/ip_forward";
/// Where a VM with `ip_forward` keeps the setting.
const IP_FORWARD_SYSCTL: &str = "/etc/sysctl.d/90-hub-ip-forward.conf";

/// Renders the seed's files for `vm` in `lab`.
pub fn render_seed(lab: &LabContext, vm: &VmSpec) -> LibvirtResult<SeedFiles> {
    let invalid = |reason: String| LibvirtError::InvalidSpec {
        vm: vm.name.clone(),
        reason,
    };
    let meta = json!({
        "instance-id": instance_id(&lab.name, vm),
        "local-hostname": vm.name,
    });

    let fqdn = if lab.domain.is_empty() {
        vm.name.clone()
    } else {
        format!("{}.{}", vm.name, lab.domain)
    };
    let mut user = Map::new();
    user.insert("hostname".into(), json!(vm.name));
    user.insert("fqdn".into(), json!(fqdn));
    // Puts the host name in /etc/hosts, so sudo and friends resolve it without DNS.
    user.insert("manage_etc_hosts".into(), json!(true));
    user.insert(
        "users".into(),
        json!([{
            "name": vm.user,
            "lock_passwd": true,
            "shell": "/bin/bash",
            "sudo": "ALL=(ALL) NOPASSWD:ALL",
            "ssh_authorized_keys": [vm.ssh_authorized_key.trim()],
        }]),
    );
    user.insert("disable_root".into(), json!(true));
    user.insert("ssh_pwauth".into(), json!(false));
    // The host key the hub made and pinned in the lab's known_hosts; no other host key.
    user.insert("ssh_deletekeys".into(), json!(true));
    user.insert("ssh_genkeytypes".into(), json!([]));
    user.insert(
        "ssh_keys".into(),
        json!({
            "ed25519_private": vm.ssh_host_key_private.trim_end().to_string() + "\n",
            "ed25519_public": vm.ssh_host_key_public.trim(),
        }),
    );
    let mut bootcmd = vec![json!(DYNAMIC_MOTD_OFF)];
    if vm.ip_forward {
        // On every boot, before the network is up (no procps needed); the sysctl.d file keeps
        // it for anything that re-applies sysctls.
        bootcmd.push(json!(IP_FORWARD_ON));
    }
    user.insert("bootcmd".into(), Value::Array(bootcmd));
    if !vm.packages.is_empty() {
        user.insert("packages".into(), json!(vm.packages));
    }
    if !vm.runcmd.is_empty() {
        user.insert("runcmd".into(), json!(vm.runcmd));
    }
    let mut write_files = Vec::new();
    if vm.static_ip && !lab.dns.is_empty() {
        // No resolvconf in a minimal image: ifupdown cannot apply dns-nameservers, so the
        // resolver is written directly. DHCP clients get it from netd instead.
        let mut conf: String = lab
            .dns
            .iter()
            .map(|d| format!("nameserver {d}\n"))
            .collect();
        if !lab.domain.is_empty() {
            conf.push_str(&format!("search {}\n", lab.domain));
        }
        write_files
            .push(json!({ "path": "/etc/resolv.conf", "permissions": "0644", "content": conf }));
    }
    if vm.ip_forward {
        write_files.push(json!({
            "path": IP_FORWARD_SYSCTL,
            "permissions": "0644",
            "content": "net.ipv4.ip_forward = 1\n",
        }));
    }
    // The spec's files: deferred to the final stage, after the users exist (so any owner
    // works) and before runcmd.
    write_files.extend(vm.files.iter().map(|f| {
        json!({
            "path": f.path,
            "encoding": "b64",
            "content": f.content_base64,
            "permissions": f.permissions,
            "owner": f.owner,
            "defer": true,
        })
    }));
    if !write_files.is_empty() {
        user.insert("write_files".into(), Value::Array(write_files));
    }
    let mut user = Value::Object(user);
    if let Some(extra) = &vm.cloud_init {
        if !extra.is_object() {
            return Err(invalid(
                "cloud_init must be a mapping of cloud-config keys".into(),
            ));
        }
        merge(&mut user, extra.clone());
    }

    let network = network_config(lab, vm).map_err(invalid)?;
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default() + "\n";
    Ok(SeedFiles {
        meta_data: pretty(&meta),
        user_data: format!("#cloud-config\n{}", pretty(&user)),
        network_config: pretty(&network),
    })
}

/// Merges `extra` into `base`: mappings key by key, lists appended (the hub's entries first),
/// anything else replaced by `extra`'s value.
pub fn merge(base: &mut Value, extra: Value) {
    match (base, extra) {
        (Value::Object(b), Value::Object(e)) => {
            for (k, v) in e {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (Value::Array(b), Value::Array(e)) => b.extend(e),
        (slot, v) => *slot = v,
    }
}

fn network_config(lab: &LabContext, vm: &VmSpec) -> Result<Value, String> {
    if !vm.networks.is_empty() {
        return several_nics(vm);
    }
    let mut nic = Map::new();
    nic.insert("match".into(), json!({ "macaddress": vm.mac }));
    if vm.static_ip {
        let ip = vm.ip.ok_or("static_ip is set but the VM has no address")?;
        let subnet = lab.network.subnet;
        if !subnet.contains(&ip) || ip == subnet.network() || ip == subnet.broadcast() {
            return Err(format!(
                "address {ip} is not a host address of the lab subnet {subnet}"
            ));
        }
        nic.insert(
            "addresses".into(),
            json!([format!("{ip}/{}", subnet.prefix_len())]),
        );
        nic.insert("gateway4".into(), json!(lab.network.gateway.to_string()));
        if !lab.dns.is_empty() {
            let mut ns = Map::new();
            ns.insert(
                "addresses".into(),
                json!(lab.dns.iter().map(Ipv4Addr::to_string).collect::<Vec<_>>()),
            );
            if !lab.domain.is_empty() {
                ns.insert("search".into(), json!([lab.domain]));
            }
            nic.insert("nameservers".into(), Value::Object(ns));
        }
    } else {
        nic.insert("dhcp4".into(), json!(true));
    }
    Ok(json!({ "version": 2, "ethernets": { "lan": Value::Object(nic) } }))
}

/// A VM on several segments: every NIC, matched by its MAC and named `eth0`, `eth1`... in
/// the domain's order, takes its address by DHCP. netd holds each one's reservation and gives
/// the router only on the NIC that carries the VM's default route, so the route is the same
/// whichever lease comes first.
fn several_nics(vm: &VmSpec) -> Result<Value, String> {
    if vm.static_ip {
        return Err("a VM on several segments takes every address by DHCP; static_ip is for a VM on one network".into());
    }
    let ethernets: Map<String, Value> = vm
        .networks
        .iter()
        .enumerate()
        .map(|(k, a)| {
            (
                format!("eth{k}"),
                json!({ "match": { "macaddress": a.mac }, "dhcp4": true }),
            )
        })
        .collect();
    Ok(json!({ "version": 2, "ethernets": ethernets }))
}

/// Builds the vfat image holding the seed files, labelled [`SEED_LABEL`].
pub fn seed_image(vm: &str, files: &SeedFiles, volume_id: u32) -> LibvirtResult<Vec<u8>> {
    let err = |source| LibvirtError::Seed {
        vm: vm.to_string(),
        source,
    };
    let payload = files.meta_data.len() + files.user_data.len() + files.network_config.len();
    // FAT12 with room to spare: 1 MiB plus twice the payload, rounded up to whole MiB.
    let size = (1 + (2 * payload).div_ceil(1 << 20)) << 20;
    let mut disk = Cursor::new(vec![0u8; size]);
    let mut label = [b' '; 11];
    label[..SEED_LABEL.len()].copy_from_slice(SEED_LABEL.as_bytes());
    fatfs::format_volume(
        &mut disk,
        fatfs::FormatVolumeOptions::new()
            .volume_label(label)
            .volume_id(volume_id),
    )
    .map_err(err)?;
    disk.set_position(0);
    {
        let fs = fatfs::FileSystem::new(&mut disk, fatfs::FsOptions::new()).map_err(err)?;
        let root = fs.root_dir();
        for (name, body) in [
            ("meta-data", &files.meta_data),
            ("user-data", &files.user_data),
            ("network-config", &files.network_config),
        ] {
            let mut f = root.create_file(name).map_err(err)?;
            f.truncate().map_err(err)?;
            f.write_all(body.as_bytes()).map_err(err)?;
            f.flush().map_err(err)?;
        }
        drop(root);
        fs.unmount().map_err(err)?;
    }
    Ok(disk.into_inner())
}

/// Renders the seed of `vm` and writes its image to `path` (mode 0600, atomically).
pub fn write_seed(lab: &LabContext, vm: &VmSpec, path: &Path) -> LibvirtResult<()> {
    let files = render_seed(lab, vm)?;
    let id = instance_id(&lab.name, vm);
    let volume_id = id.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    let image = seed_image(&vm.name, &files, volume_id)?;
    write_private_atomic(path, &image, "write the cloud-init seed")
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn vm() -> VmSpec {
        VmSpec {
            name: "vm1".into(),
            image: "/base.qcow2".into(),
            memory_mb: 1024,
            vcpus: 2,
            packages: vec!["curl".into(), "jq".into()],
            user: "hub".into(),
            ip: Some(Ipv4Addr::new(10, 99, 0, 30)),
            static_ip: false,
            mac: "52:54:00:01:02:03".parse().unwrap(),
            cloud_init: None,
            runcmd: vec!["echo 'a \"quoted\" arg' > /var/tmp/m".into()],
            files: Vec::new(),
            virt_type: hub_runtime::VirtType::Auto,
            ssh_authorized_key: "ssh-ed25519 AAAAlab lab@hub".into(),
            ssh_host_key_private:
                "-----BEGIN OPENSSH PRIVATE KEY-----\nSECRET\n-----END OPENSSH PRIVATE KEY-----\n"
                    .into(),
            ssh_host_key_public: "ssh-ed25519 AAAAhost vm1".into(),
            spec_hash: "0123456789abcdef0123".into(),
            warm: false,
            networks: Vec::new(),
            ip_forward: false,
            default_route: None,
        }
    }

    fn user_data(files: &SeedFiles) -> Value {
        let body = files
            .user_data
            .strip_prefix("#cloud-config\n")
            .expect("cloud-config header");
        serde_json::from_str(body).unwrap()
    }

    #[test]
    fn the_dynamic_motd_goes_and_the_static_one_stays() {
        // Debian 12's /etc/pam.d/sshd, the lines that matter.
        let dir = tempfile::tempdir().unwrap();
        let pam = dir.path().join("sshd");
        let before = "session    optional     pam_motd.so  motd=/run/motd.dynamic\n\
                      session    optional     pam_motd.so noupdate\n";
        std::fs::write(&pam, before).unwrap();
        let cmd = DYNAMIC_MOTD_OFF.replace("/etc/pam.d/sshd", pam.to_str().unwrap());
        let ok = std::process::Command::new("sh")
            .args(["-c", &cmd])
            .status()
            .unwrap();
        assert!(ok.success());
        assert_eq!(
            std::fs::read_to_string(&pam).unwrap(),
            "#session    optional     pam_motd.so  motd=/run/motd.dynamic\n\
             session    optional     pam_motd.so noupdate\n"
        );
    }

    #[test]
    fn user_data_has_the_user_the_keys_and_no_password() {
        let lab = LabContext::for_tests("demo");
        let files = render_seed(&lab, &vm()).unwrap();
        let u = user_data(&files);
        assert_eq!(u["hostname"], "vm1");
        assert_eq!(u["fqdn"], "vm1.demo.lab");
        assert_eq!(u["users"][0]["name"], "hub");
        assert_eq!(u["users"][0]["lock_passwd"], true);
        assert!(
            u["users"][0].get("passwd").is_none()
                && u["users"][0].get("plain_text_passwd").is_none()
        );
        assert_eq!(
            u["users"][0]["ssh_authorized_keys"][0],
            "ssh-ed25519 AAAAlab lab@hub"
        );
        assert_eq!(u["ssh_pwauth"], false);
        assert_eq!(u["ssh_keys"]["ed25519_public"], "ssh-ed25519 AAAAhost vm1");
        assert!(
            u["ssh_keys"]["ed25519_private"]
                .as_str()
                .unwrap()
                .contains("SECRET")
        );
        assert_eq!(u["packages"], json!(["curl", "jq"]));
        assert_eq!(u["bootcmd"], json!([DYNAMIC_MOTD_OFF]));
        assert_eq!(u["runcmd"][0], "echo 'a \"quoted\" arg' > /var/tmp/m");
        assert!(
            !format!("{files:?}").contains("SECRET"),
            "Debug must hide the private key"
        );
        let meta: Value = serde_json::from_str(&files.meta_data).unwrap();
        assert_eq!(meta["instance-id"], "demo-vm1-0123456789abcdef");
        assert_eq!(meta["local-hostname"], "vm1");
    }

    #[test]
    fn dhcp_unless_static_and_static_has_address_gateway_and_dns() {
        let lab = LabContext::for_tests("demo");
        let dhcp: Value =
            serde_json::from_str(&render_seed(&lab, &vm()).unwrap().network_config).unwrap();
        assert_eq!(dhcp["version"], 2);
        assert_eq!(
            dhcp["ethernets"]["lan"]["match"]["macaddress"],
            "52:54:00:01:02:03"
        );
        assert_eq!(dhcp["ethernets"]["lan"]["dhcp4"], true);

        let mut v = vm();
        v.static_ip = true;
        let files = render_seed(&lab, &v).unwrap();
        let st: Value = serde_json::from_str(&files.network_config).unwrap();
        let nic = &st["ethernets"]["lan"];
        assert_eq!(nic["addresses"], json!(["10.99.0.30/24"]));
        assert_eq!(nic["gateway4"], "10.99.0.1");
        assert_eq!(nic["nameservers"]["addresses"], json!(["10.99.0.2"]));
        assert!(nic.get("dhcp4").is_none());
        let u = user_data(&files);
        assert_eq!(
            u["write_files"][0]["content"],
            "nameserver 10.99.0.2\nsearch demo.lab\n"
        );

        v.ip = Some(Ipv4Addr::new(10, 1, 2, 3));
        let err = render_seed(&lab, &v).unwrap_err();
        assert!(
            err.to_string().contains("10.1.2.3 is not a host address"),
            "{err}"
        );
        v.ip = None;
        assert!(render_seed(&lab, &v).is_err());
    }

    #[test]
    fn a_vm_on_two_segments_brings_both_nics_up_by_dhcp_and_may_route() {
        let lab = LabContext::for_tests("demo");
        let mut v = vm();
        let nic = |segment: &str, ip: &str, mac: &str| hub_runtime::Attachment {
            network: format!("demo-{segment}"),
            segment: segment.into(),
            ip: ip.parse().unwrap(),
            mac: mac.parse().unwrap(),
        };
        v.networks = vec![
            nic("dmz", "10.99.0.30", "52:54:00:01:02:03"),
            nic("internal", "10.99.1.30", "52:54:00:0a:0b:0c"),
        ];
        v.ip_forward = true;
        let files = render_seed(&lab, &v).unwrap();
        let net: Value = serde_json::from_str(&files.network_config).unwrap();
        assert_eq!(
            net,
            json!({"version": 2, "ethernets": {
                "eth0": {"match": {"macaddress": "52:54:00:01:02:03"}, "dhcp4": true},
                "eth1": {"match": {"macaddress": "52:54:00:0a:0b:0c"}, "dhcp4": true},
            }})
        );
        let u = user_data(&files);
        assert_eq!(u["bootcmd"], json!([DYNAMIC_MOTD_OFF, IP_FORWARD_ON]));
        assert_eq!(u["write_files"][0]["path"], IP_FORWARD_SYSCTL);
        assert_eq!(u["write_files"][0]["content"], "net.ipv4.ip_forward = 1\n");
        // Without ip_forward the guest keeps its kernel's default (off).
        v.ip_forward = false;
        let u = user_data(&render_seed(&lab, &v).unwrap());
        assert_eq!(u["bootcmd"], json!([DYNAMIC_MOTD_OFF]));
        assert!(u.get("write_files").is_none());
        // Static addressing is for one NIC.
        v.static_ip = true;
        let err = render_seed(&lab, &v).unwrap_err().to_string();
        assert!(err.contains("takes every address by DHCP"), "{err}");
    }

    #[test]
    fn extra_cloud_config_is_merged() {
        let lab = LabContext::for_tests("demo");
        let mut v = vm();
        v.cloud_init = Some(json!({
            "runcmd": ["touch /var/tmp/extra"],
            "packages": ["git"],
            "timezone": "Europe/Paris",
            "ssh_keys": { "rsa_public": "x" },
        }));
        let u = user_data(&render_seed(&lab, &v).unwrap());
        assert_eq!(u["runcmd"].as_array().unwrap().len(), 2);
        assert_eq!(u["runcmd"][1], "touch /var/tmp/extra");
        assert_eq!(u["packages"], json!(["curl", "jq", "git"]));
        assert_eq!(u["timezone"], "Europe/Paris");
        assert_eq!(u["ssh_keys"]["ed25519_public"], "ssh-ed25519 AAAAhost vm1");
        assert_eq!(u["ssh_keys"]["rsa_public"], "x");

        v.cloud_init = Some(json!(["not", "a", "mapping"]));
        assert!(
            render_seed(&lab, &v)
                .unwrap_err()
                .to_string()
                .contains("cloud_init must be a mapping")
        );
    }

    #[test]
    fn the_vfat_image_reads_back_with_its_label_and_files() {
        let lab = LabContext::for_tests("demo");
        let files = render_seed(&lab, &vm()).unwrap();
        let image = seed_image("vm1", &files, 0x1234_5678).unwrap();
        let fs = fatfs::FileSystem::new(Cursor::new(image), fatfs::FsOptions::new()).unwrap();
        assert_eq!(fs.volume_label(), "CIDATA");
        let mut names = Vec::new();
        for entry in fs.root_dir().iter() {
            let entry = entry.unwrap();
            let mut body = String::new();
            entry.to_file().read_to_string(&mut body).unwrap();
            let expected = match entry.file_name().as_str() {
                "meta-data" => &files.meta_data,
                "user-data" => &files.user_data,
                "network-config" => &files.network_config,
                other => panic!("unexpected file {other:?} in the seed"),
            };
            assert_eq!(&body, expected);
            names.push(entry.file_name());
        }
        names.sort();
        assert_eq!(names, ["meta-data", "network-config", "user-data"]);
    }

    #[test]
    fn the_spec_files_are_written_deferred_with_mode_and_owner() {
        let lab = LabContext::for_tests("demo");
        let mut v = vm();
        v.files = vec![hub_runtime::GuestFile {
            path: "/etc/motd".into(),
            content_base64: "aGVsbG8K".into(),
            permissions: "0640".into(),
            owner: "hub:hub".into(),
        }];
        let u = user_data(&render_seed(&lab, &v).unwrap());
        assert_eq!(
            u["write_files"],
            json!([{
                "path": "/etc/motd",
                "encoding": "b64",
                "content": "aGVsbG8K",
                "permissions": "0640",
                "owner": "hub:hub",
                "defer": true,
            }])
        );
        // Beside the resolver of a static VM, after it.
        v.static_ip = true;
        let u = user_data(&render_seed(&lab, &v).unwrap());
        assert_eq!(u["write_files"][0]["path"], "/etc/resolv.conf");
        assert_eq!(u["write_files"][1]["path"], "/etc/motd");
    }

    #[test]
    fn a_large_payload_gets_a_larger_image() {
        let lab = LabContext::for_tests("demo");
        let mut v = vm();
        v.cloud_init =
            Some(json!({ "write_files": [{ "path": "/big", "content": "x".repeat(3 << 20) }] }));
        let files = render_seed(&lab, &v).unwrap();
        let image = seed_image("vm1", &files, 1).unwrap();
        assert!(image.len() > 6 << 20);
        let fs = fatfs::FileSystem::new(Cursor::new(image), fatfs::FsOptions::new()).unwrap();
        let mut body = String::new();
        fs.root_dir()
            .open_file("user-data")
            .unwrap()
            .read_to_string(&mut body)
            .unwrap();
        assert_eq!(body, files.user_data);
    }

    #[test]
    fn the_seed_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seed.img");
        write_seed(&LabContext::for_tests("demo"), &vm(), &path).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
