//! SSH for VMs: the lab's key pair, per-VM host keys the hub makes (so it can pin them), the
//! lab's `known_hosts`, and the `ssh` / `virsh console` commands.
//!
//! Files, under the lab directory:
//!
//! ```text
//! identity/ssh/                 0700  the lab's identity: kept by `down`, removed by `down --purge`
//! identity/ssh/id_ed25519       0600  the lab's private key (OpenSSH format)
//! identity/ssh/id_ed25519.pub         its public key, authorised in every VM
//! identity/ssh/host_keys/VM     0600  the VM's host private key (also in its seed, 0600)
//! identity/ssh/host_keys/VM.pub       the host public key
//! ssh/                          0700
//! ssh/known_hosts                     `ADDRESS ssh-ed25519 KEY` per VM
//! ```
//!
//! Every `ssh` the hub runs checks the host key against that `known_hosts` with
//! `StrictHostKeyChecking=yes`, ignores the user's own ssh configuration and never asks for a
//! password.

use std::ffi::OsString;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use ssh_key::rand_core::OsRng;
use ssh_key::{Algorithm, LineEnding, PrivateKey, PublicKey};

use crate::error::{LibvirtError, LibvirtResult};
use crate::fsutil::{ensure_dir, write_atomic, write_private_atomic};

/// How long one `ssh` waits for the TCP connection.
pub const SSH_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// An ed25519 key pair in OpenSSH format. `Debug` never shows the private half.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyPair {
    /// The private key (`-----BEGIN OPENSSH PRIVATE KEY-----`...).
    pub private_openssh: String,
    /// The public key (`ssh-ed25519 AAAA... comment`).
    pub public_openssh: String,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("private_openssh", &"<hidden>")
            .field("public_openssh", &self.public_openssh)
            .finish()
    }
}

/// The lab's own SSH key, as files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabKey {
    /// `<lab dir>/ssh/id_ed25519` (mode 0600).
    pub private_path: PathBuf,
    /// The public key in OpenSSH format, to authorise in VMs.
    pub public_openssh: String,
}

/// Where `ssh` reaches a VM: its login user and address, and how, when this machine is not on
/// the lab network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    /// The login user.
    pub user: String,
    /// The VM's address on the lab network.
    pub addr: Ipv4Addr,
    /// An ssh `ProxyCommand` (`%h`, `%p`: the VM's address and port) that carries the
    /// connection, when this machine is not on the lab network (a lab whose hosts are all other
    /// machines: `hub relay`); `None`: ssh connects itself.
    pub proxy: Option<String>,
}

/// `<lab dir>/ssh`.
pub fn ssh_dir(lab_dir: &Path) -> PathBuf {
    lab_dir.join("ssh")
}

/// `<lab dir>/ssh/known_hosts`.
pub fn known_hosts_path(lab_dir: &Path) -> PathBuf {
    ssh_dir(lab_dir).join("known_hosts")
}

/// `<lab dir>/ssh/id_ed25519`.
pub fn lab_key_path(lab_dir: &Path) -> PathBuf {
    identity_ssh_dir(lab_dir).join("id_ed25519")
}

/// `<lab dir>/identity/ssh`: the lab's SSH key and the VMs' host keys, which outlive `down`.
pub fn identity_ssh_dir(lab_dir: &Path) -> PathBuf {
    hub_runtime::identity_dir(lab_dir).join("ssh")
}

/// Where the host key pair of VM `vm` is kept (`<lab dir>/identity/ssh/host_keys/VM`).
pub fn host_key_path(lab_dir: &Path, vm: &str) -> PathBuf {
    identity_ssh_dir(lab_dir).join("host_keys").join(vm)
}

fn key_err(path: &Path, reason: &str) -> impl FnOnce(ssh_key::Error) -> LibvirtError {
    let path = path.to_path_buf();
    let reason = reason.to_string();
    move |e| LibvirtError::Key {
        path,
        reason,
        source: Some(e),
    }
}

/// Makes a new random ed25519 key pair with `comment`.
pub fn generate_ed25519(comment: &str) -> LibvirtResult<KeyPair> {
    let what = Path::new(comment);
    let mut key = PrivateKey::random(&mut OsRng, Algorithm::Ed25519)
        .map_err(key_err(what, "could not generate an ed25519 key"))?;
    key.set_comment(comment);
    pair_of(&key, what)
}

fn pair_of(key: &PrivateKey, path: &Path) -> LibvirtResult<KeyPair> {
    let private = key
        .to_openssh(LineEnding::LF)
        .map_err(key_err(path, "could not encode the key"))?;
    let public = key
        .public_key()
        .to_openssh()
        .map_err(key_err(path, "could not encode the key"))?;
    Ok(KeyPair {
        private_openssh: private.as_str().to_string(),
        public_openssh: public,
    })
}

/// Loads the ed25519 key pair stored at `path` (private) or, when there is none, makes one and
/// stores it there (0600) with its public half at `path.pub`. A key file that exists but is not
/// an ed25519 OpenSSH private key is an error: it is never overwritten.
pub fn ensure_key_pair(path: &Path, comment: &str) -> LibvirtResult<KeyPair> {
    // VMs of a lab are created in parallel and all ask for the lab key: exactly one makes it.
    let _guard = KEY_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let key = PrivateKey::from_openssh(text.as_bytes())
                .map_err(key_err(path, "is not an OpenSSH private key"))?;
            if key.algorithm() != Algorithm::Ed25519 {
                return Err(LibvirtError::Key {
                    path: path.to_path_buf(),
                    reason: format!("is a {} key, not ed25519", key.algorithm()),
                    source: None,
                });
            }
            pair_of(&key, path)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                ensure_dir(dir, 0o700)?;
            }
            let pair = generate_ed25519(comment)?;
            let public = pub_path(path);
            write_atomic(
                &public,
                format!("{}\n", pair.public_openssh).as_bytes(),
                0o644,
                "write the public key",
            )?;
            write_private_atomic(
                path,
                pair.private_openssh.as_bytes(),
                "write the private key",
            )?;
            Ok(pair)
        }
        Err(source) => Err(LibvirtError::Io {
            action: "read the key",
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn pub_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".pub");
    PathBuf::from(p)
}

/// The lab's SSH key (`<lab dir>/identity/ssh/id_ed25519`), made on first use.
pub fn ensure_lab_key(lab_dir: &Path, lab: &str) -> LibvirtResult<LabKey> {
    let path = lab_key_path(lab_dir);
    let pair = ensure_key_pair(&path, &format!("hub-lab-{lab}"))?;
    Ok(LabKey {
        private_path: path,
        public_openssh: pair.public_openssh,
    })
}

/// The host key pair of VM `vm` (`<lab dir>/identity/ssh/host_keys/VM`), made on first use, so a
/// re-created VM keeps the key its known_hosts line pins.
pub fn ensure_host_key(lab_dir: &Path, vm: &str) -> LibvirtResult<KeyPair> {
    if vm.is_empty() || vm.contains('/') || vm.starts_with('.') {
        return Err(LibvirtError::InvalidSpec {
            vm: vm.to_string(),
            reason: "not usable as a key file name".into(),
        });
    }
    ensure_key_pair(&host_key_path(lab_dir, vm), &format!("root@{vm}"))
}

/// Stores `pair` at `path` (private, 0600) and `path.pub`. With `replace`, an existing pair is
/// overwritten; without, an existing pair is kept and returned. Returns the pair now stored.
pub fn install_key_pair(path: &Path, pair: &KeyPair, replace: bool) -> LibvirtResult<KeyPair> {
    let _guard = KEY_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if !replace {
        if let Ok(text) = std::fs::read_to_string(path) {
            let key = PrivateKey::from_openssh(text.as_bytes())
                .map_err(key_err(path, "is not an OpenSSH private key"))?;
            return pair_of(&key, path);
        }
    }
    // The pair must be a real key: checked before anything is written.
    let key = PrivateKey::from_openssh(pair.private_openssh.as_bytes()).map_err(key_err(
        path,
        "the key to install is not an OpenSSH private key",
    ))?;
    let checked = pair_of(&key, path)?;
    if let Some(dir) = path.parent() {
        ensure_dir(dir, 0o700)?;
    }
    write_atomic(
        &pub_path(path),
        format!("{}\n", checked.public_openssh).as_bytes(),
        0o644,
        "write the public key",
    )?;
    write_private_atomic(
        path,
        checked.private_openssh.as_bytes(),
        "write the private key",
    )?;
    Ok(checked)
}

// Key files are made once, even when several tasks ask at the same time.
static KEY_LOCK: Mutex<()> = Mutex::new(());

// known_hosts is shared by every VM of a lab and updated from parallel tasks.
static KNOWN_HOSTS_LOCK: Mutex<()> = Mutex::new(());

/// The known_hosts file as it is (empty when missing) and without the lines for `addr`.
/// Call with `KNOWN_HOSTS_LOCK` held.
fn known_hosts_without(path: &Path, addr: Ipv4Addr) -> LibvirtResult<(String, String)> {
    let old = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => {
            return Err(LibvirtError::Io {
                action: "read",
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let host = addr.to_string();
    let kept = old
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .next()
                .is_none_or(|h| h.split(',').all(|h| h != host))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    Ok((old, kept))
}

/// Pins `public_openssh` as the only host key of `addr` in the lab's known_hosts (replacing any
/// earlier line for that address).
pub fn pin_host_key(lab_dir: &Path, addr: Ipv4Addr, public_openssh: &str) -> LibvirtResult<()> {
    let path = known_hosts_path(lab_dir);
    let key = PublicKey::from_openssh(public_openssh.trim()).map_err(key_err(
        &path,
        "the host public key is not in OpenSSH format",
    ))?;
    let mut key = key;
    key.set_comment("");
    let key_text = key
        .to_openssh()
        .map_err(key_err(&path, "could not encode the host key"))?;
    let _guard = KNOWN_HOSTS_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    ensure_dir(&ssh_dir(lab_dir), 0o700)?;
    let (_, mut out) = known_hosts_without(&path, addr)?;
    out.push_str(&format!("{addr} {}\n", key_text.trim()));
    write_atomic(&path, out.as_bytes(), 0o644, "write the known hosts file")
}

/// Removes every known_hosts line for `addr`.
pub fn unpin_host(lab_dir: &Path, addr: Ipv4Addr) -> LibvirtResult<()> {
    let path = known_hosts_path(lab_dir);
    let _guard = KNOWN_HOSTS_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (old, out) = known_hosts_without(&path, addr)?;
    if out != old {
        write_atomic(&path, out.as_bytes(), 0o644, "write the known hosts file")?;
    }
    Ok(())
}

/// Quotes `arg` for a POSIX shell (the remote side of `ssh` runs its command through one).
pub fn shell_quote(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b))
    {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// Joins an argument vector into one shell command line, each argument quoted.
pub fn shell_join(args: &[String]) -> String {
    args.iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The arguments of `ssh` to reach `target` with the lab's key and known_hosts.
pub fn ssh_args(lab_dir: &Path, target: &SshTarget, remote_command: Option<&str>) -> Vec<OsString> {
    let opt = |args: &mut Vec<OsString>, o: String| {
        args.push("-o".into());
        args.push(o.into());
    };
    let mut args: Vec<OsString> = vec![
        "-F".into(),
        "/dev/null".into(),
        "-i".into(),
        lab_key_path(lab_dir).into(),
    ];
    let mut kh = OsString::from("UserKnownHostsFile=");
    kh.push(known_hosts_path(lab_dir));
    args.push("-o".into());
    args.push(kh);
    opt(&mut args, "GlobalKnownHostsFile=/dev/null".into());
    opt(&mut args, "StrictHostKeyChecking=yes".into());
    opt(&mut args, "HostKeyAlgorithms=ssh-ed25519".into());
    opt(&mut args, "IdentitiesOnly=yes".into());
    opt(&mut args, "BatchMode=yes".into());
    opt(&mut args, "PasswordAuthentication=no".into());
    opt(
        &mut args,
        format!("ConnectTimeout={}", SSH_CONNECT_TIMEOUT.as_secs()),
    );
    opt(&mut args, "ServerAliveInterval=15".into());
    opt(&mut args, "LogLevel=ERROR".into());
    if let Some(p) = &target.proxy {
        opt(&mut args, format!("ProxyCommand={p}"));
    }
    args.push(format!("{}@{}", target.user, target.addr).into());
    if let Some(cmd) = remote_command {
        args.push("--".into());
        args.push(cmd.into());
    }
    args
}

/// `ssh` to `target` with the lab's key and known_hosts (`StrictHostKeyChecking=yes`,
/// `BatchMode=yes`). `remote_command` is a shell command line run by the VM's shell (quote
/// arguments with [`shell_join`]); `None` opens an interactive session.
pub fn ssh_command(lab_dir: &Path, target: &SshTarget, remote_command: Option<&str>) -> Command {
    let mut c = Command::new("ssh");
    c.args(ssh_args(lab_dir, target, remote_command));
    c
}

/// `virsh -c URI console DOMAIN`: the VM's serial console, interactive.
pub fn console_command(uri: &str, domain: &str) -> Command {
    let mut c = Command::new("virsh");
    c.args(["-c", uri, "console", domain]);
    c
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn the_lab_key_is_made_once_private_and_loadable() {
        let dir = tempfile::tempdir().unwrap();
        let a = ensure_lab_key(dir.path(), "demo").unwrap();
        assert!(
            a.public_openssh.starts_with("ssh-ed25519 "),
            "{}",
            a.public_openssh
        );
        assert!(a.public_openssh.ends_with(" hub-lab-demo"));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&a.private_path), 0o600);
        assert_eq!(mode(&identity_ssh_dir(dir.path())), 0o700);
        assert_eq!(mode(&hub_runtime::identity_dir(dir.path())), 0o700);
        let text = std::fs::read_to_string(&a.private_path).unwrap();
        assert!(text.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
        // A second call loads the same key.
        assert_eq!(ensure_lab_key(dir.path(), "demo").unwrap(), a);
        // ssh-keygen agrees that the files form a pair.
        let out = std::process::Command::new("ssh-keygen")
            .arg("-y")
            .arg("-f")
            .arg(&a.private_path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let derived = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            derived.split_whitespace().nth(1),
            a.public_openssh.split_whitespace().nth(1)
        );
    }

    #[test]
    fn parallel_callers_get_the_same_lab_key() {
        let dir = tempfile::tempdir().unwrap();
        let keys: Vec<LabKey> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| ensure_lab_key(dir.path(), "demo").unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(keys.windows(2).all(|w| w[0] == w[1]));
        let on_disk = ensure_lab_key(dir.path(), "demo").unwrap();
        assert_eq!(on_disk, keys[0]);
    }

    #[test]
    fn a_garbage_key_file_is_refused_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = lab_key_path(dir.path());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "not a key").unwrap();
        let err = ensure_lab_key(dir.path(), "demo").unwrap_err();
        assert!(
            err.to_string().contains("is not an OpenSSH private key"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "not a key");
    }

    #[test]
    fn host_keys_are_per_vm_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let a = ensure_host_key(dir.path(), "vm1").unwrap();
        let b = ensure_host_key(dir.path(), "vm2").unwrap();
        assert_ne!(a.public_openssh, b.public_openssh);
        assert_eq!(ensure_host_key(dir.path(), "vm1").unwrap(), a);
        assert!(!format!("{a:?}").contains("PRIVATE"));
        assert!(ensure_host_key(dir.path(), "../x").is_err());
    }

    #[test]
    fn known_hosts_keeps_one_line_per_address() {
        let dir = tempfile::tempdir().unwrap();
        let a = generate_ed25519("a").unwrap();
        let b = generate_ed25519("b").unwrap();
        let ip1 = Ipv4Addr::new(10, 0, 0, 1);
        let ip10 = Ipv4Addr::new(10, 0, 0, 10);
        pin_host_key(dir.path(), ip1, &a.public_openssh).unwrap();
        pin_host_key(dir.path(), ip10, &a.public_openssh).unwrap();
        pin_host_key(dir.path(), ip1, &b.public_openssh).unwrap();
        let text = std::fs::read_to_string(known_hosts_path(dir.path())).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        let key_b = b.public_openssh.split_whitespace().nth(1).unwrap();
        assert_eq!(lines[1], format!("10.0.0.1 ssh-ed25519 {key_b}"));
        assert!(lines[0].starts_with("10.0.0.10 "));
        // ssh-keygen finds the address in it.
        let out = std::process::Command::new("ssh-keygen")
            .args(["-F", "10.0.0.1", "-f"])
            .arg(known_hosts_path(dir.path()))
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&out.stdout).contains(key_b));
        unpin_host(dir.path(), ip1).unwrap();
        let text = std::fs::read_to_string(known_hosts_path(dir.path())).unwrap();
        assert_eq!(text.lines().count(), 1);
        assert!(pin_host_key(dir.path(), ip1, "garbage").is_err());
    }

    #[test]
    fn shell_quoting_survives_the_remote_shell() {
        let args: Vec<String> = ["printf", "%s|", "a b", "it's", "$HOME", "", "x;y"]
            .map(String::from)
            .to_vec();
        let line = shell_join(&args);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&line)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "a b|it's|$HOME||x;y|");
    }

    #[test]
    fn ssh_checks_the_host_key_strictly() {
        let target = SshTarget {
            user: "hub".into(),
            addr: Ipv4Addr::new(10, 0, 0, 5),
            proxy: None,
        };
        let args: Vec<String> = ssh_args(Path::new("/lab"), &target, Some("cat /m"))
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let joined = args.join(" ");
        assert!(
            joined.contains("-i /lab/identity/ssh/id_ed25519"),
            "{joined}"
        );
        assert!(
            joined.contains("UserKnownHostsFile=/lab/ssh/known_hosts"),
            "{joined}"
        );
        assert!(joined.contains("StrictHostKeyChecking=yes"), "{joined}");
        assert!(joined.contains("BatchMode=yes"), "{joined}");
        assert!(joined.ends_with("hub@10.0.0.5 -- cat /m"), "{joined}");
        assert!(!joined.contains("ProxyCommand"), "{joined}");
        // Through a relay: ssh's own option, the host key still checked against the lab's file.
        let relayed = SshTarget {
            proxy: Some("/bin/hub relay --lab-dir /lab %h %p".into()),
            ..target
        };
        let args: Vec<String> = ssh_args(Path::new("/lab"), &relayed, None)
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let at = args
            .iter()
            .position(|a| a == "ProxyCommand=/bin/hub relay --lab-dir /lab %h %p")
            .unwrap_or_else(|| panic!("{args:?}"));
        assert_eq!(args[at - 1], "-o");
        assert!(args.iter().any(|a| a == "StrictHostKeyChecking=yes"));
        let console = console_command("qemu:///system", "demo-vm1");
        assert_eq!(
            console.get_args().collect::<Vec<_>>(),
            ["-c", "qemu:///system", "console", "demo-vm1"]
        );
    }
}
