//! Where a VM's files live in the lab directory, and a check that QEMU can reach them.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{LibvirtError, LibvirtResult};

/// The files the hub makes for one VM: `<lab dir>/vms/<vm>/...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmPaths {
    /// `<lab dir>/vms/<vm>`.
    pub dir: PathBuf,
    /// The qcow2 overlay, the VM's disk.
    pub overlay: PathBuf,
    /// The NoCloud seed (mode 0600).
    pub seed: PathBuf,
    /// The serial console log.
    pub console_log: PathBuf,
    /// The domain XML while it is being defined.
    pub domain_xml: PathBuf,
    /// The domain XML a warm snapshot is restored with, while it is restored.
    pub restore_xml: PathBuf,
}

impl VmPaths {
    /// The paths of VM `vm` in `lab_dir`.
    pub fn new(lab_dir: &Path, vm: &str) -> Self {
        let dir = lab_dir.join("vms").join(vm);
        VmPaths {
            overlay: dir.join("disk.qcow2"),
            seed: dir.join("seed.img"),
            console_log: dir.join("console.log"),
            domain_xml: dir.join("domain.xml"),
            restore_xml: dir.join("restore.xml"),
            dir,
        }
    }
}

/// Whether libvirt runs QEMU as root here (`user = "root"` in qemu.conf). Otherwise QEMU runs
/// as an unprivileged user (`libvirt-qemu` on Debian) that libvirt hands the disk files to, but
/// which must still be able to traverse every directory above them.
fn qemu_runs_as_root() -> bool {
    std::fs::read_to_string("/etc/libvirt/qemu.conf").is_ok_and(|conf| {
        conf.lines().any(|l| {
            let l = l.trim();
            l.starts_with("user")
                && l.split_once('=')
                    .is_some_and(|(k, v)| k.trim() == "user" && v.trim() == "\"root\"")
        })
    })
}

/// Lets QEMU's unprivileged user search (not list) the lab directory: adds `o+x` (0700 becomes
/// 0711). Nothing inside becomes readable: keys are 0600 in a 0700 `ssh/`, seeds are 0600.
pub fn open_lab_dir_for_qemu(lab_dir: &Path) -> LibvirtResult<()> {
    use std::os::unix::fs::PermissionsExt;
    let io = |action, source| LibvirtError::Io {
        action,
        path: lab_dir.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(lab_dir).map_err(|e| io("read the mode of", e))?;
    let mode = meta.mode() & 0o7777;
    if mode & 0o001 == 0 {
        std::fs::set_permissions(lab_dir, std::fs::Permissions::from_mode(mode | 0o001))
            .map_err(|e| io("set the mode of", e))?;
    }
    Ok(())
}

/// The first directory from `/` down to `dir` that others cannot search (no `o+x`), with its
/// mode. Directories that do not exist yet are skipped.
pub fn first_closed_dir(dir: &Path) -> Option<(PathBuf, u32)> {
    let mut closed = None;
    for d in dir.ancestors() {
        if let Ok(meta) = std::fs::metadata(d) {
            if meta.is_dir() && meta.mode() & 0o001 == 0 {
                closed = Some((d.to_path_buf(), meta.mode() & 0o7777));
            }
        }
    }
    closed
}

/// Checks that QEMU's unprivileged user can reach files in `dir`, naming the first directory
/// above them that it cannot enter.
pub fn check_qemu_can_reach(vm: &str, dir: &Path) -> LibvirtResult<()> {
    if qemu_runs_as_root() {
        return Ok(());
    }
    match first_closed_dir(dir) {
        None => Ok(()),
        Some((d, mode)) => Err(LibvirtError::InvalidSpec {
            vm: vm.to_string(),
            reason: format!(
                "libvirt's QEMU user cannot enter {} (mode {mode:o}); put the lab directory where \
                 every parent is searchable (chmod o+x) or set user = \"root\" in \
                 /etc/libvirt/qemu.conf",
                d.display()
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn paths_are_under_the_lab_directory() {
        let p = VmPaths::new(Path::new("/labs/demo"), "vm1");
        assert_eq!(p.dir, Path::new("/labs/demo/vms/vm1"));
        assert_eq!(p.overlay, Path::new("/labs/demo/vms/vm1/disk.qcow2"));
        assert_eq!(p.seed, Path::new("/labs/demo/vms/vm1/seed.img"));
        assert_eq!(p.console_log, Path::new("/labs/demo/vms/vm1/console.log"));
    }

    #[test]
    fn the_outermost_closed_directory_is_named() {
        let base = tempfile::Builder::new().tempdir_in("/var/tmp").unwrap();
        let mode =
            |p: &Path, m| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
        let outer = base.path().join("outer");
        let inner = outer.join("inner");
        std::fs::create_dir_all(&inner).unwrap();
        mode(base.path(), 0o711);
        mode(&outer, 0o700);
        mode(&inner, 0o700);
        assert_eq!(
            first_closed_dir(&inner.join("vms/vm1")),
            Some((outer.clone(), 0o700))
        );
        mode(&outer, 0o755);
        assert_eq!(first_closed_dir(&inner), Some((inner.clone(), 0o700)));
        mode(&inner, 0o711);
        assert_eq!(first_closed_dir(&inner), None);
        mode(&inner, 0o700);
        open_lab_dir_for_qemu(&inner).unwrap();
        assert_eq!(std::fs::metadata(&inner).unwrap().mode() & 0o777, 0o701);
        assert_eq!(first_closed_dir(&inner), None);
    }
}
