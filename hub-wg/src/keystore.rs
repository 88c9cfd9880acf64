//! The lab's WireGuard keys on disk: `<labdir>/identity/wg/gateway.key` and
//! `<labdir>/identity/wg/peers/<name>.key`, and each host's key of the lab's host mesh at
//! `<labdir>/identity/wg/mesh/<host>.key` (mode 0600, directories 0700), each holding the private key
//! in base64 as `wg genkey` writes it. Keys are made once and reused, so configs already handed
//! out keep working.

use std::collections::BTreeSet;
use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use crate::error::WgError;
use crate::key::{KeyPair, PrivateKey};
use crate::keygen::KeyGen;
use crate::names::check_name;
use crate::secret_file::{private_dir, write_secret};

/// The key files of one lab.
#[derive(Clone, Debug)]
pub struct KeyStore {
    wg_dir: PathBuf,
}

impl KeyStore {
    /// The store under `<lab_dir>/identity/wg`, part of the lab's identity that `down` keeps
    /// (so client configs handed out stay valid) and `down --purge` removes; creates
    /// `identity/`, `identity/wg/` and `identity/wg/peers/` with mode 0700.
    pub fn open(lab_dir: &Path) -> Result<Self, WgError> {
        let identity = lab_dir.join("identity");
        private_dir(&identity)?;
        let wg_dir = identity.join("wg");
        private_dir(&wg_dir)?;
        private_dir(&wg_dir.join("peers"))?;
        Ok(Self { wg_dir })
    }

    /// `<lab_dir>/identity/wg`.
    pub fn dir(&self) -> &Path {
        &self.wg_dir
    }

    /// The file of the gateway's key.
    pub fn gateway_path(&self) -> PathBuf {
        self.wg_dir.join("gateway.key")
    }

    /// The file of a peer's key.
    pub fn peer_path(&self, peer: &str) -> PathBuf {
        self.wg_dir.join("peers").join(format!("{peer}.key"))
    }

    /// The gateway's key pair, made with `keygen` and saved if there is none yet.
    pub fn gateway(&self, keygen: &dyn KeyGen) -> Result<KeyPair, WgError> {
        load_or_create(&self.gateway_path(), keygen)
    }

    /// A peer's key pair, made with `keygen` and saved if there is none yet.
    pub fn peer(&self, peer: &str, keygen: &dyn KeyGen) -> Result<KeyPair, WgError> {
        check_name("peer", peer)?;
        load_or_create(&self.peer_path(peer), keygen)
    }

    /// The file of a host's key in the WireGuard mesh that joins a lab's hosts.
    pub fn mesh_path(&self, host: &str) -> PathBuf {
        self.wg_dir.join("mesh").join(format!("{host}.key"))
    }

    /// A host's key pair in the lab's host mesh (`<labdir>/identity/wg/mesh/<host>.key`, 0600
    /// in a 0700 directory), made with `keygen` and saved if there is none yet.
    pub fn mesh(&self, host: &str, keygen: &dyn KeyGen) -> Result<KeyPair, WgError> {
        check_name("host", host)?;
        private_dir(&self.wg_dir.join("mesh"))?;
        load_or_create(&self.mesh_path(host), keygen)
    }

    /// The peers that have a key file.
    pub fn peers(&self) -> Result<BTreeSet<String>, WgError> {
        let dir = self.wg_dir.join("peers");
        let entries = fs::read_dir(&dir).map_err(|source| WgError::Io {
            action: "could not list",
            path: dir.clone(),
            source,
        })?;
        Ok(entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".key"))
                    .filter(|n| check_name("peer", n).is_ok())
                    .map(str::to_string)
            })
            .collect())
    }

    /// Deletes a peer's key file; returns whether there was one.
    pub fn delete_peer(&self, peer: &str) -> Result<bool, WgError> {
        check_name("peer", peer)?;
        remove_if_exists(&self.peer_path(peer))
    }
}

/// Removes a file; `Ok(false)` when it was not there.
pub fn remove_if_exists(path: &Path) -> Result<bool, WgError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(source) => Err(WgError::Io {
            action: "could not delete",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Makes a key file that others may read (copied in by hand, restored from a backup) mode
/// 0600 again, with a warning: a key file is never left readable by others.
fn tighten_mode(path: &Path) -> Result<(), WgError> {
    let mode = fs::metadata(path)
        .map_err(|source| WgError::Io {
            action: "could not read the mode of",
            path: path.to_path_buf(),
            source,
        })?
        .permissions()
        .mode();
    if mode & 0o077 == 0 {
        return Ok(());
    }
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(|source| WgError::Io {
        action: "could not set mode 0600 on",
        path: path.to_path_buf(),
        source,
    })?;
    tracing::warn!(
        file = %path.display(),
        mode = format_args!("{:o}", mode & 0o777),
        "a WireGuard key file was readable by others; its mode is now 0600"
    );
    Ok(())
}

fn load_or_create(path: &Path, keygen: &dyn KeyGen) -> Result<KeyPair, WgError> {
    match fs::read_to_string(path) {
        Ok(text) => {
            let private = PrivateKey::from_base64(&text).map_err(|e| match e {
                WgError::InvalidKey { reason, .. } => WgError::InvalidKey {
                    what: format!("key file {}", path.display()),
                    reason: format!("{reason}; delete the file to make a new key"),
                },
                other => other,
            })?;
            tighten_mode(path)?;
            Ok(KeyPair::from_private(private))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let pair = keygen.generate()?;
            write_secret(path, format!("{}\n", pair.private.to_base64()).as_bytes())?;
            tracing::info!(file = %path.display(), public_key = %pair.public, "new WireGuard key");
            Ok(pair)
        }
        Err(source) => Err(WgError::Io {
            action: "could not read",
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;
    use crate::keygen::SeededKeyGen;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn keys_are_made_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::open(dir.path()).unwrap();
        let gw = store.gateway(&SeededKeyGen::new(1)).unwrap();
        let laptop = store.peer("laptop", &SeededKeyGen::new(2)).unwrap();
        // A different generator later does not replace the saved keys.
        let again = KeyStore::open(dir.path()).unwrap();
        assert_eq!(again.gateway(&SeededKeyGen::new(9)).unwrap(), gw);
        assert_eq!(again.peer("laptop", &SeededKeyGen::new(9)).unwrap(), laptop);
        assert_eq!(mode(&store.gateway_path()), 0o600);
        assert_eq!(mode(&store.peer_path("laptop")), 0o600);
        assert_eq!(mode(store.dir()), 0o700);
        assert_eq!(mode(&store.dir().join("peers")), 0o700);
        let text = fs::read_to_string(store.gateway_path()).unwrap();
        assert_eq!(text, format!("{}\n", gw.private.to_base64()));
        assert_eq!(
            store.peers().unwrap().into_iter().collect::<Vec<_>>(),
            ["laptop"]
        );
        assert!(store.delete_peer("laptop").unwrap());
        assert!(!store.delete_peer("laptop").unwrap());
        assert!(store.peers().unwrap().is_empty());
    }

    #[test]
    fn a_key_file_readable_by_others_is_made_0600_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::open(dir.path()).unwrap();
        let gw = store.gateway(&SeededKeyGen::new(1)).unwrap();
        fs::set_permissions(store.gateway_path(), fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(store.gateway(&SeededKeyGen::new(9)).unwrap(), gw);
        assert_eq!(mode(&store.gateway_path()), 0o600);
    }

    /// A `MakeWriter` that collects everything logged into one buffer.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn private_keys_never_reach_the_log() {
        let logs = Captured::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        // The global default, not a scoped one: tracing caches per call site whether anyone
        // listens, and other tests of this binary reach the same call sites without one.
        // No other test of this binary sets a subscriber; their events only add lines.
        tracing::subscriber::set_global_default(subscriber).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (pair, peer) = {
            let store = KeyStore::open(dir.path()).unwrap();
            let pair = store.gateway(&SeededKeyGen::new(3)).unwrap();
            let peer = store.peer("laptop", &SeededKeyGen::new(4)).unwrap();
            // How keys reach `wg`: on stdin, the command line logged.
            let echoed = crate::cmd::Cmd::new("lab \"t\"", "cat")
                .stdin(pair.private.to_base64().as_bytes())
                .run()
                .unwrap();
            assert_eq!(echoed, pair.private.to_base64());
            tracing::info!(?pair, "a key pair in a Debug field");
            (pair, peer)
        };
        let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        // The log did capture the events (public keys and the command are in it)...
        assert!(text.contains(&pair.public.to_base64()), "{text}");
        assert!(text.contains(&peer.public.to_base64()), "{text}");
        assert!(text.contains("running") && text.contains("cat"), "{text}");
        // ...and no private key.
        for secret in [pair.private.to_base64(), peer.private.to_base64()] {
            assert!(!text.contains(&secret), "a private key was logged: {text}");
        }
    }

    #[test]
    fn a_corrupt_key_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::open(dir.path()).unwrap();
        fs::write(store.gateway_path(), "garbage").unwrap();
        let err = store
            .gateway(&SeededKeyGen::new(1))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("gateway.key") && err.contains("delete the file"),
            "{err}"
        );
        assert!(store.peer("../x", &SeededKeyGen::new(1)).is_err());
    }
}
