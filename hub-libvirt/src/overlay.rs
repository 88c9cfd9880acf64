//! The VM's disk: a qcow2 overlay over the user's base image, made with `qemu-img`. The base
//! image is only ever read (it is the overlay's backing file).

use std::io::Read;
use std::path::Path;

use hub_runtime::process::Tool;
use sha2::{Digest, Sha256};

use crate::error::{LibvirtError, LibvirtResult};

async fn qemu_img(args: &[&std::ffi::OsStr]) -> LibvirtResult<String> {
    let out = Tool::new("qemu-img").args(args).output().await?;
    if !out.success() {
        return Err(LibvirtError::QemuImg {
            command: args
                .iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" "),
            stderr: out.stderr,
        });
    }
    Ok(out.stdout)
}

/// The format of a disk image (`qcow2`, `raw`, ...) as `qemu-img info` reports it.
pub async fn image_format(image: &Path) -> LibvirtResult<String> {
    Ok(image_info(image).await?.format)
}

/// What `qemu-img info` says of an image: its format, its virtual size (bytes) and its backing
/// file, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// `qcow2`, `raw`, ...
    pub format: String,
    /// The disk's size as the guest sees it.
    pub virtual_size: u64,
    /// The image it is an overlay of.
    pub backing_file: Option<String>,
}

/// [`ImageInfo`] of `image` (`qemu-img info --output=json`).
pub async fn image_info(image: &Path) -> LibvirtResult<ImageInfo> {
    let out = qemu_img(&[
        "info".as_ref(),
        "--output=json".as_ref(),
        "-U".as_ref(),
        image.as_os_str(),
    ])
    .await?;
    let bad = |what: &str| LibvirtError::QemuImg {
        command: format!("info {}", image.display()),
        stderr: what.to_string(),
    };
    let v: serde_json::Value =
        serde_json::from_str(&out).map_err(|e| bad(&format!("unreadable output: {e}")))?;
    Ok(ImageInfo {
        format: v["format"]
            .as_str()
            .ok_or_else(|| bad("no format in its output"))?
            .to_string(),
        virtual_size: v["virtual-size"]
            .as_u64()
            .ok_or_else(|| bad("no virtual size in its output"))?,
        backing_file: v["backing-filename"].as_str().map(str::to_string),
    })
}

/// Checks that `image` can be a VM's base image before anything is made from it: `qemu-img`
/// reads it as a `qcow2` or `raw` disk of at least [`hub_runtime::disk::MIN_DISK_IMAGE_BYTES`], and its whole
/// backing chain resolves. `Err` says why not, in words for the user.
pub async fn check_base_image(image: &Path) -> Result<(), String> {
    let out = qemu_img(&[
        "info".as_ref(),
        "--output=json".as_ref(),
        "--backing-chain".as_ref(),
        "-U".as_ref(),
        image.as_os_str(),
    ])
    .await
    .map_err(|e| match e {
        LibvirtError::QemuImg { stderr, .. } => {
            format!(
                "is not a disk image qemu-img can read (or a backing file is missing): {stderr}"
            )
        }
        other => other.to_string(),
    })?;
    let chain: Vec<serde_json::Value> =
        serde_json::from_str(&out).map_err(|e| format!("qemu-img's answer is unreadable: {e}"))?;
    let top = chain
        .first()
        .ok_or_else(|| "qemu-img described no image".to_string())?;
    let format = top["format"].as_str().unwrap_or_default();
    let size = top["virtual-size"].as_u64().unwrap_or(0);
    if format != "qcow2" && format != "raw" {
        return Err(format!(
            "is a {format} image; VMs boot from qcow2 or raw disks"
        ));
    }
    if size < hub_runtime::disk::MIN_DISK_IMAGE_BYTES {
        return Err(format!(
            "is a {format} file of {size} bytes, too small to be a bootable disk (a disk image \
             holds at least {} MiB)",
            hub_runtime::disk::MIN_DISK_IMAGE_BYTES >> 20
        ));
    }
    Ok(())
}

/// Creates `overlay`, a qcow2 image backed by `base` (whose format is `base_format`). An
/// existing file at `overlay` is replaced.
pub async fn create_overlay(base: &Path, base_format: &str, overlay: &Path) -> LibvirtResult<()> {
    crate::fsutil::remove_file_if_exists(overlay)?;
    qemu_img(&[
        "create".as_ref(),
        "-q".as_ref(),
        "-f".as_ref(),
        "qcow2".as_ref(),
        "-F".as_ref(),
        base_format.as_ref(),
        "-b".as_ref(),
        base.as_os_str(),
        overlay.as_os_str(),
    ])
    .await?;
    Ok(())
}

/// The SHA-256 of a file, in hex (to check that a base image was not written to).
pub fn file_sha256(path: &Path) -> LibvirtResult<String> {
    let io = |source| LibvirtError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_overlay_reads_through_to_its_base_and_leaves_it_alone() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base.raw");
        std::fs::write(&base, vec![7u8; 1 << 20]).unwrap();
        let before = file_sha256(&base).unwrap();
        assert_eq!(image_format(&base).await.unwrap(), "raw");
        let overlay = dir.path().join("disk.qcow2");
        create_overlay(&base, "raw", &overlay).await.unwrap();
        assert_eq!(image_format(&overlay).await.unwrap(), "qcow2");
        let info = qemu_img(&[
            "info".as_ref(),
            "--output=json".as_ref(),
            overlay.as_os_str(),
        ])
        .await
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&info).unwrap();
        assert_eq!(v["backing-filename"], base.to_string_lossy().as_ref());
        assert_eq!(v["virtual-size"], 1 << 20);
        assert_eq!(file_sha256(&base).unwrap(), before);
        let info = image_info(&overlay).await.unwrap();
        assert_eq!(info.format, "qcow2");
        assert_eq!(info.virtual_size, 1 << 20);
        assert_eq!(
            info.backing_file.as_deref(),
            Some(base.to_string_lossy().as_ref())
        );
        assert_eq!(image_info(&base).await.unwrap().backing_file, None);
    }

    #[tokio::test]
    async fn base_images_are_checked_before_use() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("not-a-disk.qcow2");
        std::fs::write(&text, "hello, I am a text file\n").unwrap();
        let why = check_base_image(&text).await.unwrap_err();
        assert!(why.contains("too small to be a bootable disk"), "{why}");
        let raw = dir.path().join("disk.raw");
        std::fs::File::create(&raw)
            .unwrap()
            .set_len(hub_runtime::disk::MIN_DISK_IMAGE_BYTES)
            .unwrap();
        check_base_image(&raw).await.unwrap();
        // An overlay whose backing file is gone.
        let overlay = dir.path().join("o.qcow2");
        create_overlay(&raw, "raw", &overlay).await.unwrap();
        check_base_image(&overlay).await.unwrap();
        std::fs::remove_file(&raw).unwrap();
        let why = check_base_image(&overlay).await.unwrap_err();
        assert!(why.contains("backing file is missing"), "{why}");
        let why = check_base_image(Path::new("/nonexistent/x.qcow2"))
            .await
            .unwrap_err();
        assert!(why.contains("not a disk image"), "{why}");
    }

    #[tokio::test]
    async fn a_missing_base_is_an_error_naming_it() {
        let err = image_format(Path::new("/nonexistent/base.qcow2"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/base.qcow2"), "{err}");
    }
}
