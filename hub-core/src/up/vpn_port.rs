//! The VPN port a lab keeps: chosen once (the first free from 51820 when the spec gives
//! none) and written into the lab's identity folder, which `down` keeps, so the next `up`
//! takes the same port and the client configs handed out stay valid. `down --purge` forgets
//! it with the keys.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use hub_runtime::identity_dir;

use crate::host_ports::PortProbe;
use crate::spec::HostView;

/// The file under the identity folder holding the kept port.
const KEPT_PORT_FILE: &str = "vpn-listen-port";

fn kept_path(lab_dir: &Path) -> PathBuf {
    identity_dir(lab_dir).join(KEPT_PORT_FILE)
}

/// The port the lab at `lab_dir` keeps, if it chose one before.
pub(crate) fn kept(lab_dir: &Path) -> Option<u16> {
    std::fs::read_to_string(kept_path(lab_dir))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Keeps `port` for the lab at `lab_dir` (the identity folder is made 0700 if missing).
pub(crate) fn keep(lab_dir: &Path, port: u16) -> io::Result<()> {
    if kept(lab_dir) == Some(port) {
        return Ok(());
    }
    let dir = identity_dir(lab_dir);
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(&dir)?;
    hub_runtime::files::write_atomic(&kept_path(lab_dir), format!("{port}\n").as_bytes(), 0o644)
}

/// The labs of the state folder `root` other than `lab`: (name, lab directory).
fn other_labs<'a>(root: &Path, lab: &'a str) -> impl Iterator<Item = (String, PathBuf)> + 'a {
    std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
        .filter(move |(name, _)| name != lab)
}

/// What `up` of `lab` knows of the host beside the spec: the probe, its own gateway's
/// interface (as `interface_of` names a lab's), the port it keeps, and the ports and gateways
/// of the other labs of `root`.
pub(crate) fn host_view<'a>(
    probe: &'a dyn PortProbe,
    interface_of: &dyn Fn(&str) -> Option<String>,
    root: &Path,
    lab: &str,
    lab_dir: &Path,
) -> HostView<'a> {
    let mut others_kept = BTreeMap::new();
    let mut labs_by_interface = BTreeMap::new();
    for (name, dir) in other_labs(root, lab) {
        if let Some(port) = kept(&dir) {
            others_kept.insert(port, name.clone());
        }
        if let Some(i) = interface_of(&name) {
            labs_by_interface.insert(i, name);
        }
    }
    HostView {
        probe,
        own_interface: interface_of(lab),
        kept_vpn_port: kept(lab_dir),
        others_kept,
        labs_by_interface,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_port_survives_and_is_seen_by_the_other_labs() {
        let root = tempfile::tempdir().unwrap();
        let a = root.path().join("a");
        assert_eq!(kept(&a), None);
        keep(&a, 51821).unwrap();
        assert_eq!(kept(&a), Some(51821));
        let b = root.path().join("b");
        std::fs::create_dir(&b).unwrap();
        struct Free;
        impl PortProbe for Free {
            fn holder(
                &self,
                _: hub_runtime::Protocol,
                _: std::net::Ipv4Addr,
                _: u16,
            ) -> Option<crate::host_ports::PortHolder> {
                None
            }
        }
        let none = |_: &str| None;
        let view = host_view(&Free, &none, root.path(), "b", &b);
        assert_eq!(view.kept_vpn_port, None);
        assert_eq!(view.others_kept.get(&51821).map(String::as_str), Some("a"));
        let view = host_view(&Free, &none, root.path(), "a", &a);
        assert_eq!(view.kept_vpn_port, Some(51821));
        assert!(view.others_kept.is_empty());
    }
}
