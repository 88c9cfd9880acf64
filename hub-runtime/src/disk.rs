//! What a VM base image must look like before anything is made from it, checked from its
//! first bytes alone (no `qemu-img`), so `validate` can refuse a file that is no disk.

use std::io::Read;
use std::path::Path;

/// The smallest base image a VM can boot from: a partition table, a boot loader and a kernel
/// do not fit in less.
pub const MIN_DISK_IMAGE_BYTES: u64 = 16 << 20;

/// The first bytes of every qcow2 image.
const QCOW2_MAGIC: &[u8; 4] = b"QFI\xfb";

/// Why `path` cannot be a VM's base image, or `None` when it can be one: a qcow2 image (by its
/// magic), or a raw disk of at least [`MIN_DISK_IMAGE_BYTES`]. Whether it really boots is only
/// known by booting it.
pub fn disk_image_problem(path: &Path) -> Option<String> {
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return Some(format!("cannot be read: {e}")),
    };
    let len = match f.metadata() {
        Ok(m) => m.len(),
        Err(e) => return Some(format!("cannot be read: {e}")),
    };
    let mut magic = [0u8; 4];
    if f.read_exact(&mut magic).is_ok() && &magic == QCOW2_MAGIC {
        return None;
    }
    if len < MIN_DISK_IMAGE_BYTES {
        return Some(format!(
            "is not a disk image: not qcow2, and {len} bytes is too small to be a bootable raw \
             disk (at least {} MiB)",
            MIN_DISK_IMAGE_BYTES >> 20
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qcow2_and_large_raw_files_pass_and_small_others_do_not() {
        let d = tempfile::tempdir().unwrap();
        let text = d.path().join("debian.qcow2");
        std::fs::write(&text, "hello\n").unwrap();
        let why = disk_image_problem(&text).unwrap();
        assert!(why.contains("is not a disk image"), "{why}");
        let qcow = d.path().join("small.qcow2");
        std::fs::write(&qcow, b"QFI\xfb\x00\x00\x00\x03").unwrap();
        assert_eq!(disk_image_problem(&qcow), None);
        let raw = d.path().join("disk.raw");
        std::fs::File::create(&raw)
            .unwrap()
            .set_len(MIN_DISK_IMAGE_BYTES)
            .unwrap();
        assert_eq!(disk_image_problem(&raw), None);
        assert!(disk_image_problem(&d.path().join("missing")).is_some());
    }
}
