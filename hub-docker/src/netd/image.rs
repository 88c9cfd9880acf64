//! The netd image: a root holding the hub executable and the libraries it links, imported
//! as `hub-netd:<12 hex of the binary's sha256>`, so it is rebuilt only when the binary changes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bollard::query_parameters::{ListImagesOptionsBuilder, RemoveImageOptions};
use bytes::Bytes;
use hub_net::netd::CONFIG_FILE;
use hub_runtime::RuntimeResult;
use hub_runtime::process::Tool;
use sha2::{Digest, Sha256};
use tracing::{debug, info};

use super::{HUB_BIN_ENV, NETD_HUB_PATH, NETD_IMAGE_REPO, NETD_MOUNT, fail};
use crate::DockerRuntime;

/// What to do when there is no hub executable.
const BUILD_HINT: &str = "build it with `cargo install --path hub-cli` (or `cargo build -p hub-cli`) or set HUB_BIN to its path";

/// Finds the hub executable: `explicit` (the builder's), else `$HUB_BIN`, else `hub` on PATH.
/// The error says how to get one.
pub fn find_hub_binary(explicit: Option<&Path>) -> RuntimeResult<PathBuf> {
    let not_found = |what: String| {
        fail(
            "-",
            format!("no hub executable for the netd image: {what}; {BUILD_HINT}"),
            std::io::Error::from(std::io::ErrorKind::NotFound),
        )
    };
    if let Some(p) = explicit {
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else {
            Err(not_found(format!(
                "{} (given explicitly) is not a file",
                p.display()
            )))
        };
    }
    if let Some(v) = std::env::var_os(HUB_BIN_ENV).filter(|v| !v.is_empty()) {
        let p = PathBuf::from(v);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(not_found(format!(
                "{HUB_BIN_ENV}={} is not a file",
                p.display()
            )))
        };
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("hub"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            not_found(format!(
                "{HUB_BIN_ENV} is not set and there is no `hub` on PATH"
            ))
        })
}

/// The image reference for a hub binary: `hub-netd:` and the first 12 hex digits of its
/// sha256.
pub fn netd_image_ref(hub_bin: &Path) -> RuntimeResult<String> {
    let ctx = || format!("hashing the hub executable {}", hub_bin.display());
    let mut h = Sha256::new();
    std::fs::File::open(hub_bin)
        .and_then(|mut f| std::io::copy(&mut f, &mut h))
        .map_err(|e| fail("-", ctx(), e))?;
    Ok(content_tag(NETD_IMAGE_REPO, h))
}

/// `REPO:` and the first 12 hex digits of `digest`, the sha256 of an image's contents: the
/// reference of an image the hub builds itself (netd's, hub-mesh's), so that it is rebuilt
/// only when its contents change.
pub fn content_tag(repo: &str, digest: Sha256) -> String {
    let hex: String = digest
        .finalize()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{repo}:{hex}")
}

/// The shared libraries (and the loader) `ldd` lists for `bin`, as absolute paths.
pub fn linked_libraries(bin: &Path) -> RuntimeResult<Vec<PathBuf>> {
    let ctx = || format!("listing the libraries of {} with ldd", bin.display());
    let out = Tool::new("ldd")
        .arg(bin)
        .output_blocking()
        .map_err(|e| fail("-", ctx(), e))?;
    let text = &out.stdout;
    if !out.success() {
        // A static executable: ldd says so and fails; it needs no libraries.
        if text.contains("not a dynamic executable") || out.stderr.contains("not a dynamic") {
            return Ok(Vec::new());
        }
        return Err(fail("-", ctx(), std::io::Error::other(out.stderr)));
    }
    let mut libs = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.contains("=> not found") {
            return Err(fail(
                "-",
                ctx(),
                std::io::Error::other(format!("missing library: {line}")),
            ));
        }
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.trim(),
            None => line,
        };
        let path = path.split_whitespace().next().unwrap_or("");
        if path.starts_with('/') {
            libs.push(PathBuf::from(path));
        }
    }
    Ok(libs)
}

/// The root file system of the netd image as a tar: `/hub`, the linked libraries at their
/// paths (contents of what the links point to), `/etc/nsswitch.conf`, `/netd`, `/tmp`.
pub fn netd_root_tar(hub_bin: &Path) -> RuntimeResult<Vec<u8>> {
    let ctx = |what: &str| format!("building the netd image root: {what}");
    let mut tar = tar::Builder::new(Vec::new());
    tar.follow_symlinks(true);
    // dockerd's importer rejects GNU sparse entries (a linked binary can be sparse).
    tar.sparse(false);
    let add_file = |tar: &mut tar::Builder<Vec<u8>>, src: &Path, dst: &str| {
        tar.append_path_with_name(src, dst)
            .map_err(|e| fail("-", ctx(&format!("adding {}", src.display())), e))
    };
    add_file(&mut tar, hub_bin, NETD_HUB_PATH.trim_start_matches('/'))?;
    for lib in linked_libraries(hub_bin)? {
        let dst = lib.to_string_lossy().trim_start_matches('/').to_string();
        add_file(&mut tar, &lib, &dst)?;
    }
    let add_bytes =
        |tar: &mut tar::Builder<Vec<u8>>, dst: &str, data: &[u8], mode: u32, dir: bool| {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(mode);
            h.set_entry_type(if dir {
                tar::EntryType::Directory
            } else {
                tar::EntryType::Regular
            });
            h.set_cksum();
            tar.append_data(&mut h, dst, data)
                .map_err(|e| fail("-", ctx(&format!("adding {dst}")), e))
        };
    add_bytes(
        &mut tar,
        "etc/nsswitch.conf",
        b"hosts: files dns\n",
        0o644,
        false,
    )?;
    add_bytes(
        &mut tar,
        "etc/hosts",
        b"127.0.0.1 localhost\n",
        0o644,
        false,
    )?;
    add_bytes(&mut tar, "netd/", b"", 0o755, true)?;
    add_bytes(&mut tar, "tmp/", b"", 0o1777, true)?;
    tar.into_inner()
        .map_err(|e| fail("-", ctx("finishing the tar"), e))
}

/// Makes sure the netd image of `hub_bin` exists (imported only when its hash is new);
/// returns its reference.
pub async fn ensure_netd_image(docker: &DockerRuntime, hub_bin: &Path) -> RuntimeResult<String> {
    let reference = netd_image_ref(hub_bin)?;
    if docker.image_exists(&reference).await? {
        return Ok(reference);
    }
    let bin = hub_bin.to_path_buf();
    let tar = tokio::task::spawn_blocking(move || netd_root_tar(&bin))
        .await
        .map_err(|e| {
            fail(
                "-",
                "building the netd image root".into(),
                std::io::Error::other(e),
            )
        })??;
    let changes = vec![format!(
        "ENTRYPOINT [\"{NETD_HUB_PATH}\", \"netd\", \"--config\", \"{NETD_MOUNT}/{CONFIG_FILE}\", \"--log-level\", \"info\"]"
    )];
    docker
        .import_image_from_tar(Bytes::from(tar), &reference, &changes)
        .await?;
    info!(image = %reference, "netd image built");
    prune_old_netd_images(docker, &reference).await;
    Ok(reference)
}

/// Removes `hub-netd` images of other binaries made over an hour ago (best effort: Docker
/// keeps the ones a container still uses, and failures are only logged), so rebuilds do not
/// pile up.
async fn prune_old_netd_images(docker: &DockerRuntime, keep: &str) {
    let filters = HashMap::from([("reference", vec![NETD_IMAGE_REPO])]);
    let opts = ListImagesOptionsBuilder::new().filters(&filters).build();
    let Ok(images) = docker.client().list_images(Some(opts)).await else {
        return;
    };
    // Only images an hour old: another hub binary (a parallel test run) may have just made
    // one and not yet started its container.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let old = images.iter().filter(|i| i.created < now - 3600);
    for tag in old.flat_map(|i| i.repo_tags.iter()) {
        if tag != keep && tag.starts_with(&format!("{NETD_IMAGE_REPO}:")) {
            match docker
                .client()
                .remove_image(tag, None::<RemoveImageOptions>, None)
                .await
            {
                Ok(_) => debug!(image = %tag, "old netd image removed"),
                Err(e) => debug!(image = %tag, error = %e, "old netd image kept"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binary_says_what_to_do() {
        let err = find_hub_binary(Some(Path::new("/nonexistent/hub")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cargo install --path hub-cli"), "{err}");
        assert!(err.contains("HUB_BIN"), "{err}");
    }

    #[test]
    fn image_ref_is_the_hash_and_root_holds_the_loader() {
        let sh = Path::new("/bin/sh");
        let r = netd_image_ref(sh).unwrap();
        assert!(
            r.starts_with("hub-netd:") && r.len() == "hub-netd:".len() + 12,
            "{r}"
        );
        assert_eq!(r, netd_image_ref(sh).unwrap());
        let libs = linked_libraries(sh).unwrap();
        assert!(
            libs.iter()
                .any(|l| l.to_string_lossy().contains("ld-linux")),
            "{libs:?}"
        );
        let tar = netd_root_tar(sh).unwrap();
        let mut ar = tar::Archive::new(&tar[..]);
        let names: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert!(names.contains(&"hub".to_string()), "{names:?}");
        assert!(names.iter().any(|n| n.contains("libc.so")), "{names:?}");
        assert!(
            names.contains(&"etc/nsswitch.conf".to_string()),
            "{names:?}"
        );
    }
}
