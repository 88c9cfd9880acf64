//! VMs' `files:`: each source exists, is a file of at most 4 MiB, and lands at an absolute
//! path with an octal mode and an owner cloud-init understands.

use super::Ctx;
use crate::spec::error::SpecErrorKind;
use crate::spec::names;
use crate::spec::types::MAX_VM_FILE_BYTES;

/// Whether `mode` is an octal mode cloud-init takes: 3 or 4 octal digits (`644`, `0600`).
fn is_octal_mode(mode: &str) -> bool {
    (3..=4).contains(&mode.len()) && mode.bytes().all(|b| (b'0'..=b'7').contains(&b))
}

/// Whether `owner` is `user` or `user:group`, each a Linux name.
fn is_owner(owner: &str) -> bool {
    match owner.split_once(':') {
        Some((u, g)) => names::is_linux_user(u) && names::is_linux_user(g),
        None => names::is_linux_user(owner),
    }
}

pub(super) fn check_vm_files(cx: &mut Ctx<'_>) {
    let spec = cx.spec;
    for (i, vm) in spec.vms.iter().enumerate() {
        let p = spec.origin.vm_path(i);
        for (j, f) in vm.files.iter().enumerate() {
            let at = format!("{p}.files[{j}]");
            let full = spec.resolve_path(&f.source);
            match std::fs::metadata(&full) {
                Err(e) => cx.err(
                    SpecErrorKind::MissingFile,
                    format!("{at}.source"),
                    format!(
                        "the file {} cannot be read: {e} (relative paths are from the spec's \
                         folder)",
                        full.display()
                    ),
                ),
                Ok(m) if !m.is_file() => cx.err(
                    SpecErrorKind::MissingFile,
                    format!("{at}.source"),
                    format!("{} is not a file", full.display()),
                ),
                Ok(m) if m.len() > MAX_VM_FILE_BYTES => cx.err(
                    SpecErrorKind::BadValue,
                    format!("{at}.source"),
                    format!(
                        "{} has {} bytes; files: carries at most {MAX_VM_FILE_BYTES} (4 MiB) \
                         per file in the cloud-init seed",
                        full.display(),
                        m.len()
                    ),
                ),
                Ok(_) => {}
            }
            if !f.path.starts_with('/') || f.path.ends_with('/') {
                cx.err(
                    SpecErrorKind::BadValue,
                    format!("{at}.path"),
                    format!(
                        "path \"{}\" must be an absolute file path in the guest",
                        f.path
                    ),
                );
            }
            if let Some(mode) = f.mode.as_deref().filter(|m| !is_octal_mode(m)) {
                cx.err(
                    SpecErrorKind::BadValue,
                    format!("{at}.mode"),
                    format!("mode \"{mode}\" is not an octal mode (like \"0644\" or \"0600\")"),
                );
            }
            if let Some(owner) = f.owner.as_deref().filter(|o| !is_owner(o)) {
                cx.err(
                    SpecErrorKind::BadName,
                    format!("{at}.owner"),
                    format!("owner \"{owner}\" is not user or user:group (Linux names)"),
                );
            }
        }
    }
}
