//! The mesh agent's image, built on this machine from what it already has (nothing is pulled,
//! nothing is installed on the hosts): busybox for the shell, `ip` and `bridge` (iproute2),
//! `wg` (wireguard-tools) and `wireguard-go`, with the libraries they link, the agent
//! script and the VPN gateway's script. Tagged `hub-mesh:<12 hex>` of the script and the binaries, so it is rebuilt only
//! when one of them changes; hosts that lack it get it copied from this machine's engine.

use std::path::PathBuf;

use bytes::Bytes;
use hub_docker::DockerRuntime;
use sha2::{Digest, Sha256};

use crate::error::{MeshError, MeshResult};

/// The agent script, run as the image's entrypoint.
pub(crate) const AGENT_SCRIPT: &str = include_str!("agent.sh");
/// Where the script sits in the image.
pub(crate) const AGENT_PATH: &str = "/mesh-agent.sh";
/// The VPN gateway's script, run by the gateway container (see `gateway.rs`).
pub(crate) const GATEWAY_SCRIPT: &str = include_str!("gateway.sh");
/// Where the gateway's script sits in the image.
pub(crate) const GATEWAY_PATH: &str = "/vpn-gateway.sh";
/// The WireGuard functions both scripts source.
const WG_LINK_SCRIPT: &str = include_str!("wg-link.sh");
/// Where they sit in the image.
const WG_LINK_PATH: &str = "/wg-link.sh";
/// Repository of the mesh image; the tag is the hash of its contents.
pub const MESH_IMAGE_REPO: &str = "hub-mesh";

/// The programs of the image: (name on PATH, path in the image, Debian package).
const TOOLS: [(&str, &str, &str); 5] = [
    ("busybox", "bin/busybox", "busybox-static"),
    ("ip", "usr/sbin/ip", "iproute2"),
    ("bridge", "usr/sbin/bridge", "iproute2"),
    ("wg", "usr/bin/wg", "wireguard-tools"),
    ("wireguard-go", "usr/bin/wireguard-go", "wireguard-go"),
];
/// busybox applets the script runs by name.
const APPLETS: [&str; 5] = ["sh", "sleep", "mkdir", "kill", "cat"];

fn image_error(reason: String) -> MeshError {
    MeshError::Image { reason }
}

/// Finds `name` on PATH (and in the sbin directories a non-root PATH may lack).
fn find_tool(name: &str, package: &str) -> MeshResult<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            image_error(format!(
                "`{name}` is not on PATH; install Debian's {package} (scripts/setup-host.sh does)"
            ))
        })
}

/// The image's files: (source on this machine, path in the image).
fn image_files() -> MeshResult<Vec<(PathBuf, String)>> {
    let mut files = Vec::new();
    for (name, dst, package) in TOOLS {
        let src = find_tool(name, package)?;
        for lib in hub_docker::netd::linked_libraries(&src)
            .map_err(|e| image_error(format!("listing the libraries of {}: {e}", src.display())))?
        {
            let dst = lib.to_string_lossy().trim_start_matches('/').to_string();
            if !files.iter().any(|(_, d)| *d == dst) {
                files.push((lib, dst));
            }
        }
        files.push((src, dst.to_string()));
    }
    Ok(files)
}

/// `hub-mesh:` and 12 hex digits of the sha256 of the script and every file of the image.
fn image_ref(files: &[(PathBuf, String)]) -> MeshResult<String> {
    let mut h = Sha256::new();
    h.update(AGENT_SCRIPT.as_bytes());
    h.update(GATEWAY_SCRIPT.as_bytes());
    h.update(WG_LINK_SCRIPT.as_bytes());
    for (src, dst) in files {
        h.update(dst.as_bytes());
        std::fs::File::open(src)
            .and_then(|mut f| std::io::copy(&mut f, &mut h))
            .map_err(|e| image_error(format!("reading {}: {e}", src.display())))?;
    }
    Ok(hub_docker::netd::content_tag(MESH_IMAGE_REPO, h))
}

/// The root file system as a tar: the files, busybox's applet links, the script, `/mesh`.
fn root_tar(files: &[(PathBuf, String)]) -> MeshResult<Vec<u8>> {
    let err =
        |what: &str, e: std::io::Error| image_error(format!("building the root: {what}: {e}"));
    let mut tar = tar::Builder::new(Vec::new());
    tar.follow_symlinks(true);
    // dockerd's importer rejects GNU sparse entries.
    tar.sparse(false);
    for (src, dst) in files {
        tar.append_path_with_name(src, dst)
            .map_err(|e| err(&src.display().to_string(), e))?;
    }
    for applet in APPLETS {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        tar.append_link(&mut h, format!("bin/{applet}"), "/bin/busybox")
            .map_err(|e| err(applet, e))?;
    }
    let mut entry = |dst: &str, data: &[u8], mode: u32, kind: tar::EntryType| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_cksum();
        tar.append_data(&mut h, dst, data).map_err(|e| err(dst, e))
    };
    entry(
        AGENT_PATH.trim_start_matches('/'),
        AGENT_SCRIPT.as_bytes(),
        0o755,
        tar::EntryType::Regular,
    )?;
    for (path, script) in [
        (GATEWAY_PATH, GATEWAY_SCRIPT),
        (WG_LINK_PATH, WG_LINK_SCRIPT),
    ] {
        entry(
            path.trim_start_matches('/'),
            script.as_bytes(),
            0o755,
            tar::EntryType::Regular,
        )?;
    }
    entry("mesh/", b"", 0o700, tar::EntryType::Directory)?;
    entry("vpn/", b"", 0o700, tar::EntryType::Directory)?;
    entry("tmp/", b"", 0o1777, tar::EntryType::Directory)?;
    entry("var/run/", b"", 0o755, tar::EntryType::Directory)?;
    tar.into_inner().map_err(|e| err("finishing", e))
}

/// Makes sure the mesh image exists on `docker` (this machine's engine), building it when its
/// hash is new; returns its reference.
pub async fn ensure_mesh_image(docker: &DockerRuntime) -> MeshResult<String> {
    let (reference, files) = tokio::task::spawn_blocking(|| {
        let files = image_files()?;
        Ok::<_, MeshError>((image_ref(&files)?, files))
    })
    .await
    .map_err(|e| image_error(format!("the build task failed: {e}")))??;
    let exists = docker
        .image_exists(&reference)
        .await
        .map_err(|e| image_error(format!("asking the local engine for {reference}: {e}")))?;
    if exists {
        return Ok(reference);
    }
    let tar = tokio::task::spawn_blocking(move || root_tar(&files))
        .await
        .map_err(|e| image_error(format!("the build task failed: {e}")))??;
    let changes = vec![format!("ENTRYPOINT [\"/bin/sh\", \"{AGENT_PATH}\"]")];
    docker
        .import_image_from_tar(Bytes::from(tar), &reference, &changes)
        .await
        .map_err(|e| image_error(format!("importing {reference}: {e}")))?;
    tracing::info!(image = %reference, "mesh image built");
    Ok(reference)
}

/// Copies `image` from `local` to `host`'s engine `docker` when it lacks it; the bytes copied
/// (`None`: it had the image).
pub(crate) async fn copy_to(
    lab: &str,
    host: &str,
    docker: &DockerRuntime,
    image: &str,
    local: &DockerRuntime,
) -> MeshResult<Option<u64>> {
    docker
        .ensure_image_from(image, &[local])
        .await
        .map_err(|e| MeshError::Host {
            lab: lab.to_string(),
            host: host.to_string(),
            doing: format!("copying the mesh image {image}"),
            source: Box::new(e),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_names(tar: &[u8]) -> Vec<String> {
        let mut ar = tar::Archive::new(tar);
        ar.entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn root_holds_the_tools_their_loader_and_the_script() {
        let files = image_files().unwrap();
        let names = tar_names(&root_tar(&files).unwrap());
        for want in [
            "bin/busybox",
            "bin/sh",
            "usr/sbin/ip",
            "usr/bin/wg",
            "usr/bin/wireguard-go",
            "mesh-agent.sh",
            "vpn-gateway.sh",
            "wg-link.sh",
            "mesh/",
            "vpn/",
        ] {
            assert!(
                names.iter().any(|n| n == want),
                "{want} missing from {names:?}"
            );
        }
        assert!(names.iter().any(|n| n.contains("ld-linux")), "{names:?}");
        let r = image_ref(&files).unwrap();
        assert!(r.starts_with("hub-mesh:") && r.len() == 21, "{r}");
        assert_eq!(r, image_ref(&files).unwrap());
    }

    #[test]
    fn a_missing_tool_names_its_package() {
        let e = find_tool("no-such-tool-here", "some-package")
            .unwrap_err()
            .to_string();
        assert!(e.contains("install Debian's some-package"), "{e}");
    }
}
