//! Which libvirt domain type a VM runs under: `kvm` or `qemu` (TCG).
//!
//! `auto` picks QEMU. Checking that `/dev/kvm` exists (or even answers its ioctls) is not
//! enough: on the machines this project is tested on, `/dev/kvm` answers but every guest dies
//! under it (QEMU aborts on an MSR, or the guest stops in its bootloader). The only probe that
//! would tell is booting a guest, which costs as much as the VM itself. So the honest rule is:
//! KVM only when asked for, by the spec (`virt_type: kvm`) or by `HUB_VIRT_TYPE=kvm`, and then
//! `/dev/kvm` must open; everything else runs under TCG with a CPU model that has modern
//! features (`<cpu mode='maximum'/>`; QEMU's default `qemu64` crashes Debian's kernel).

use hub_runtime::VirtType;

use crate::error::{LibvirtError, LibvirtResult};

/// The environment variable that overrides every VM's `virt_type`: `auto`, `kvm` or `qemu`.
pub const VIRT_TYPE_ENV: &str = "HUB_VIRT_TYPE";

/// The libvirt domain type a VM runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DomainType {
    /// Hardware virtualisation (`<domain type='kvm'>`, CPU `host-passthrough`).
    Kvm,
    /// Software emulation, TCG (`<domain type='qemu'>`, CPU `maximum`).
    Qemu,
}

impl DomainType {
    /// The value of the domain's `type` attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            DomainType::Kvm => "kvm",
            DomainType::Qemu => "qemu",
        }
    }
}

impl std::fmt::Display for DomainType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses a `HUB_VIRT_TYPE` value (case-insensitive, surrounding blanks ignored).
/// An empty value counts as unset.
pub fn parse_virt_type(value: &str) -> LibvirtResult<Option<VirtType>> {
    match value.trim().to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "auto" => Ok(Some(VirtType::Auto)),
        "kvm" => Ok(Some(VirtType::Kvm)),
        "qemu" | "tcg" => Ok(Some(VirtType::Qemu)),
        _ => Err(LibvirtError::BadVirtType {
            value: value.to_string(),
        }),
    }
}

/// Decides the domain type from the spec's `virt_type` and the value of `HUB_VIRT_TYPE`
/// (`env`, which wins when set). Pure: the caller checks `/dev/kvm` when this says KVM.
pub fn resolve_virt_type(spec: VirtType, env: Option<&str>) -> LibvirtResult<DomainType> {
    let chosen = match env {
        Some(v) => parse_virt_type(v)?.unwrap_or(spec),
        None => spec,
    };
    Ok(match chosen {
        VirtType::Kvm => DomainType::Kvm,
        VirtType::Qemu | VirtType::Auto => DomainType::Qemu,
    })
}

/// [`resolve_virt_type`] with the process environment, and, when the answer is KVM, a check
/// that `/dev/kvm` opens for reading and writing.
pub fn virt_type_for(spec: VirtType) -> LibvirtResult<DomainType> {
    let env = std::env::var(VIRT_TYPE_ENV).ok();
    let t = resolve_virt_type(spec, env.as_deref())?;
    if t == DomainType::Kvm {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
            .map_err(|source| LibvirtError::KvmUnavailable { source })?;
    }
    Ok(t)
}

/// Whether SeaBIOS can mirror its screen to the serial console here (QEMU's `sga` device and
/// its ROM): then a disk that cannot boot says `No bootable device.` in the console log, where
/// the readiness wait sees it at once, instead of on a VGA screen nobody reads. Probed once.
pub fn firmware_console_available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        std::path::Path::new("/usr/share/qemu/sgabios.bin").exists()
            && hub_runtime::process::Tool::new("qemu-system-x86_64")
                .args(["-device", "help"])
                .output_blocking()
                .is_ok_and(|o| o.stdout.contains("\"sga\""))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_runs_under_qemu() {
        assert_eq!(
            resolve_virt_type(VirtType::Auto, None).unwrap(),
            DomainType::Qemu
        );
        assert_eq!(
            resolve_virt_type(VirtType::Auto, Some("")).unwrap(),
            DomainType::Qemu
        );
        assert_eq!(
            resolve_virt_type(VirtType::Auto, Some("auto")).unwrap(),
            DomainType::Qemu
        );
    }

    #[test]
    fn the_spec_chooses_when_the_environment_is_silent() {
        assert_eq!(
            resolve_virt_type(VirtType::Kvm, None).unwrap(),
            DomainType::Kvm
        );
        assert_eq!(
            resolve_virt_type(VirtType::Qemu, None).unwrap(),
            DomainType::Qemu
        );
        assert_eq!(
            resolve_virt_type(VirtType::Kvm, Some("  ")).unwrap(),
            DomainType::Kvm
        );
    }

    #[test]
    fn the_environment_overrides_the_spec() {
        assert_eq!(
            resolve_virt_type(VirtType::Kvm, Some("qemu")).unwrap(),
            DomainType::Qemu
        );
        assert_eq!(
            resolve_virt_type(VirtType::Qemu, Some(" KVM ")).unwrap(),
            DomainType::Kvm
        );
        assert_eq!(
            resolve_virt_type(VirtType::Auto, Some("tcg")).unwrap(),
            DomainType::Qemu
        );
        // `auto` in the environment still means auto, whatever the spec says.
        assert_eq!(
            resolve_virt_type(VirtType::Kvm, Some("auto")).unwrap(),
            DomainType::Qemu
        );
    }

    #[test]
    fn a_bad_environment_value_is_refused_by_name() {
        let err = resolve_virt_type(VirtType::Auto, Some("xen")).unwrap_err();
        assert!(matches!(err, LibvirtError::BadVirtType { ref value } if value == "xen"));
        assert!(err.to_string().contains("HUB_VIRT_TYPE=\"xen\""), "{err}");
    }
}
