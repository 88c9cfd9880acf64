//! libvirt through the `virsh` command line: no C bindings, every call a separate process.

use std::path::Path;

use hub_runtime::process::Tool;

use crate::error::{LibvirtError, LibvirtResult};

/// The default libvirt connection.
pub const DEFAULT_URI: &str = "qemu:///system";

/// The state of a domain, as `virsh domstate` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomState {
    /// `running`.
    Running,
    /// `shut off`.
    ShutOff,
    /// `paused`.
    Paused,
    /// `in shutdown`.
    InShutdown,
    /// `crashed`.
    Crashed,
    /// Anything else (`idle`, `pmsuspended`, ...).
    Other(String),
}

impl DomState {
    /// Parses the first line of `virsh domstate [--reason]`: the state and the reason (empty
    /// without `--reason`).
    pub fn parse(s: &str) -> (DomState, String) {
        let line = s
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("");
        let (state, reason) = match line.split_once(" (") {
            Some((st, r)) => (st, r.trim_end_matches(')')),
            None => (line, ""),
        };
        (DomState::parse_state(state), reason.to_string())
    }

    fn parse_state(s: &str) -> DomState {
        match s {
            "running" => DomState::Running,
            "shut off" => DomState::ShutOff,
            "paused" => DomState::Paused,
            "in shutdown" => DomState::InShutdown,
            "crashed" => DomState::Crashed,
            other => DomState::Other(other.to_string()),
        }
    }
}

/// A host's CPUs and memory, from `virsh nodeinfo` and `virsh nodememstats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeCapacity {
    /// `CPU(s)`.
    pub cpus: u32,
    /// `Memory size`, MiB.
    pub memory_total_mb: u64,
    /// `free` + `buffers` + `cached`, MiB.
    pub memory_available_mb: u64,
}

impl NodeCapacity {
    /// Parses `virsh nodeinfo` (`CPU(s):  4`, `Memory size:  24576 KiB`) and
    /// `virsh nodememstats` (`free  :  1234 KiB`).
    pub fn parse(nodeinfo: &str, nodememstats: &str) -> Option<NodeCapacity> {
        let field = |text: &str, name: &str| -> Option<u64> {
            text.lines()
                .find_map(|l| l.split_once(':').filter(|(k, _)| k.trim() == name))
                .and_then(|(_, v)| v.split_whitespace().next()?.parse().ok())
        };
        let kib = |name: &str| field(nodememstats, name);
        let available = kib("free")? + kib("buffers").unwrap_or(0) + kib("cached").unwrap_or(0);
        Some(NodeCapacity {
            cpus: u32::try_from(field(nodeinfo, "CPU(s)")?).ok()?,
            memory_total_mb: field(nodeinfo, "Memory size")? / 1024,
            memory_available_mb: available / 1024,
        })
    }
}

/// A `virsh -c URI` runner.
#[derive(Debug, Clone)]
pub struct Virsh {
    uri: String,
}

/// The output of one virsh call.
struct Output {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn is_no_domain(stderr: &str) -> bool {
    // VIR_ERR_NO_DOMAIN: "failed to get domain 'x'" / "Domain not found".
    stderr.contains("failed to get domain")
        || stderr.contains("Domain not found")
        || stderr.contains("no domain with matching name")
}

impl Virsh {
    /// A runner for `uri`.
    pub fn new(uri: impl Into<String>) -> Self {
        Virsh { uri: uri.into() }
    }

    /// The connection URI.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    async fn raw(&self, args: &[&str]) -> LibvirtResult<Output> {
        let out = Tool::new("virsh")
            .args(["-q", "-c", &self.uri])
            .args(args)
            .output()
            .await?;
        Ok(Output {
            ok: out.success(),
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }

    fn fail(args: &[&str], stderr: String) -> LibvirtError {
        LibvirtError::Virsh {
            command: args.join(" "),
            stderr,
        }
    }

    /// Runs `virsh ARGS`; its stdout, or an error with its stderr.
    pub async fn run(&self, args: &[&str]) -> LibvirtResult<String> {
        let out = self.raw(args).await?;
        if out.ok {
            Ok(out.stdout)
        } else {
            Err(Self::fail(args, out.stderr))
        }
    }

    /// Runs `virsh ARGS` on one domain; `Ok(None)` when the domain does not exist.
    async fn run_domain(&self, args: &[&str]) -> LibvirtResult<Option<String>> {
        let out = self.raw(args).await?;
        if out.ok {
            Ok(Some(out.stdout))
        } else if is_no_domain(&out.stderr) {
            Ok(None)
        } else {
            Err(Self::fail(args, out.stderr))
        }
    }

    /// Checks that libvirt answers.
    pub async fn ping(&self) -> LibvirtResult<()> {
        self.run(&["list", "--all", "--name"]).await.map(|_| ())
    }

    /// The host's CPUs and memory as libvirt sees them (`virsh nodeinfo` and
    /// `virsh nodememstats`).
    pub async fn node_capacity(&self) -> LibvirtResult<NodeCapacity> {
        let info = self.run(&["nodeinfo"]).await?;
        let stats = self.run(&["nodememstats"]).await?;
        NodeCapacity::parse(&info, &stats).ok_or_else(|| LibvirtError::Virsh {
            command: "nodeinfo / nodememstats".into(),
            stderr: format!("unexpected output: {info:?} {stats:?}"),
        })
    }

    /// Names of every domain (running or not).
    pub async fn list_all(&self) -> LibvirtResult<Vec<String>> {
        Ok(self
            .run(&["list", "--all", "--name"])
            .await?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect())
    }

    /// The domain's XML, or `None` when it does not exist.
    pub async fn dumpxml(&self, domain: &str) -> LibvirtResult<Option<String>> {
        self.run_domain(&["dumpxml", "--", domain]).await
    }

    /// The domain's state and its reason (`shut off (unknown)` is a domain never started), or
    /// `None` when it does not exist.
    pub async fn domstate(&self, domain: &str) -> LibvirtResult<Option<(DomState, String)>> {
        Ok(self
            .run_domain(&["domstate", "--reason", "--", domain])
            .await?
            .map(|s| DomState::parse(&s)))
    }

    /// Defines a persistent domain from an XML file.
    pub async fn define(&self, xml_file: &Path) -> LibvirtResult<()> {
        let file = xml_file.to_string_lossy();
        self.run(&["define", "--validate", "--file", &file])
            .await
            .map(|_| ())
    }

    /// Starts a defined domain.
    pub async fn start(&self, domain: &str) -> LibvirtResult<()> {
        self.run(&["start", "--", domain]).await.map(|_| ())
    }

    /// Asks the guest to shut down (ACPI). `false` when the domain does not exist or does not
    /// run.
    pub async fn shutdown(&self, domain: &str) -> LibvirtResult<bool> {
        let args = ["shutdown", "--", domain];
        let out = self.raw(&args).await?;
        if out.ok {
            Ok(true)
        } else if is_no_domain(&out.stderr) || out.stderr.contains("domain is not running") {
            Ok(false)
        } else {
            Err(Self::fail(&args, out.stderr))
        }
    }

    /// Kills the domain's QEMU process. Not running or missing is fine.
    pub async fn destroy(&self, domain: &str) -> LibvirtResult<()> {
        let args = ["destroy", "--", domain];
        let out = self.raw(&args).await?;
        if out.ok || is_no_domain(&out.stderr) || out.stderr.contains("domain is not running") {
            Ok(())
        } else {
            Err(Self::fail(&args, out.stderr))
        }
    }

    /// Saves a running domain's memory and device state to `file` (`virsh save`); the domain
    /// is stopped afterwards (a persistent one stays defined).
    pub async fn save(&self, domain: &str, file: &Path) -> LibvirtResult<()> {
        let file = file.to_string_lossy();
        self.run(&["save", "--", domain, &file]).await.map(|_| ())
    }

    /// Restores a domain from a state file (`virsh restore`), with `xml` as its domain XML when
    /// given (host-side values such as paths and the bridge may differ from the saved ones).
    pub async fn restore(&self, file: &Path, xml: Option<&Path>) -> LibvirtResult<()> {
        let file = file.to_string_lossy();
        match xml {
            Some(x) => {
                let x = x.to_string_lossy();
                self.run(&["restore", "--xml", &x, "--running", "--", &file])
                    .await
            }
            None => self.run(&["restore", "--running", "--", &file]).await,
        }
        .map(|_| ())
    }

    /// The domain XML stored in a state file (`virsh save-image-dumpxml --security-info`).
    pub async fn save_image_dumpxml(&self, file: &Path) -> LibvirtResult<String> {
        let file = file.to_string_lossy();
        self.run(&["save-image-dumpxml", "--security-info", "--", &file])
            .await
    }

    /// Removes the domain's definition. Missing is fine.
    pub async fn undefine(&self, domain: &str) -> LibvirtResult<()> {
        self.run_domain(&["undefine", "--", domain])
            .await
            .map(|_| ())
    }

    /// The addresses libvirt sees for the domain's NICs in the host's ARP table
    /// (`domifaddr --source arp`), for a VM whose address was not planned.
    pub async fn arp_addresses(&self, domain: &str) -> LibvirtResult<Vec<std::net::Ipv4Addr>> {
        let out = self
            .run_domain(&["domifaddr", "--source", "arp", "--", domain])
            .await?
            .unwrap_or_default();
        Ok(parse_domifaddr(&out))
    }
}

/// Whether virsh's error says the storage pool does not exist.
fn is_no_pool(stderr: &str) -> bool {
    stderr.contains("Storage pool not found") || stderr.contains("failed to get pool")
}

/// Whether virsh's error says the storage volume does not exist.
fn is_no_volume(stderr: &str) -> bool {
    stderr.contains("Storage volume not found") || stderr.contains("failed to get vol")
}

impl Virsh {
    /// Makes the directory pool `name` at `target` on libvirt's host (`pool-define-as`,
    /// `pool-build`, `pool-start`, and `pool-autostart` when `autostart`), or starts it when it
    /// is defined but inactive. A pool that exists and runs is left as it is; another process
    /// defining it at the same moment is fine.
    pub async fn ensure_pool(
        &self,
        name: &str,
        target: &str,
        autostart: bool,
    ) -> LibvirtResult<()> {
        let info = self.raw(&["pool-info", "--", name]).await?;
        if info.ok {
            if !info.stdout.lines().any(|l| {
                l.split_once(':')
                    .is_some_and(|(k, v)| k.trim() == "State" && v.trim() == "running")
            }) {
                self.start_pool(name).await?;
            }
            return Ok(());
        }
        if !is_no_pool(&info.stderr) {
            return Err(Self::fail(&["pool-info", name], info.stderr));
        }
        let define = [
            "pool-define-as",
            "--name",
            name,
            "--type",
            "dir",
            "--target",
            target,
        ];
        let out = self.raw(&define).await?;
        if !out.ok && !out.stderr.contains("already exists") {
            return Err(Self::fail(&define, out.stderr));
        }
        self.run(&["pool-build", "--", name]).await?;
        self.start_pool(name).await?;
        if autostart {
            self.run(&["pool-autostart", "--", name]).await?;
        }
        Ok(())
    }

    async fn start_pool(&self, name: &str) -> LibvirtResult<()> {
        let args = ["pool-start", "--", name];
        let out = self.raw(&args).await?;
        if out.ok || out.stderr.contains("already active") {
            Ok(())
        } else {
            Err(Self::fail(&args, out.stderr))
        }
    }

    /// Re-reads the volumes of pool `name` from its directory. `false` when the pool does not
    /// exist.
    pub async fn refresh_pool(&self, name: &str) -> LibvirtResult<bool> {
        let args = ["pool-refresh", "--", name];
        let out = self.raw(&args).await?;
        if out.ok {
            Ok(true)
        } else if is_no_pool(&out.stderr) {
            Ok(false)
        } else {
            Err(Self::fail(&args, out.stderr))
        }
    }

    /// The names of the volumes of pool `name` (none when the pool does not exist).
    pub async fn volumes(&self, pool: &str) -> LibvirtResult<Vec<String>> {
        let args = ["vol-list", "--pool", pool];
        let out = self.raw(&args).await?;
        if !out.ok {
            return if is_no_pool(&out.stderr) {
                Ok(Vec::new())
            } else {
                Err(Self::fail(&args, out.stderr))
            };
        }
        Ok(parse_vol_list(&out.stdout))
    }

    /// The path of volume `name` of `pool` on libvirt's host, or `None` when it does not exist.
    pub async fn vol_path(&self, pool: &str, name: &str) -> LibvirtResult<Option<String>> {
        let args = ["vol-path", "--pool", pool, "--", name];
        let out = self.raw(&args).await?;
        if out.ok {
            Ok(Some(out.stdout.trim().to_string()))
        } else if is_no_volume(&out.stderr) || is_no_pool(&out.stderr) {
            Ok(None)
        } else {
            Err(Self::fail(&args, out.stderr))
        }
    }

    /// The size of volume `name`'s file on libvirt's host (`vol-info --physical`), or `None`
    /// when it does not exist.
    pub async fn vol_physical(&self, pool: &str, name: &str) -> LibvirtResult<Option<u64>> {
        let args = [
            "vol-info",
            "--bytes",
            "--physical",
            "--pool",
            pool,
            "--",
            name,
        ];
        let out = self.raw(&args).await?;
        if !out.ok {
            return if is_no_volume(&out.stderr) || is_no_pool(&out.stderr) {
                Ok(None)
            } else {
                Err(Self::fail(&args, out.stderr))
            };
        }
        Ok(out.stdout.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == "Physical").then(|| v.split_whitespace().next()?.parse().ok())?
        }))
    }

    /// Creates volume `name` in `pool`: `capacity` bytes of `format`, over `backing` (the path
    /// of a volume and its format) when given (`vol-create-as`).
    pub async fn vol_create(
        &self,
        pool: &str,
        name: &str,
        capacity: u64,
        format: &str,
        backing: Option<(&str, &str)>,
    ) -> LibvirtResult<()> {
        let capacity = capacity.to_string();
        let mut args = vec![
            "vol-create-as",
            "--pool",
            pool,
            "--name",
            name,
            "--capacity",
            &capacity,
            "--format",
            format,
        ];
        if let Some((path, fmt)) = backing {
            args.extend(["--backing-vol", path, "--backing-vol-format", fmt]);
        }
        self.run(&args).await.map(|_| ())
    }

    /// Deletes volume `name` of `pool`; a volume or pool that does not exist is fine.
    pub async fn vol_delete(&self, pool: &str, name: &str) -> LibvirtResult<()> {
        let args = ["vol-delete", "--pool", pool, "--", name];
        let out = self.raw(&args).await?;
        if out.ok || is_no_volume(&out.stderr) || is_no_pool(&out.stderr) {
            Ok(())
        } else {
            Err(Self::fail(&args, out.stderr))
        }
    }

    /// Writes `file` of this machine into volume `name` of `pool` on libvirt's host
    /// (`vol-upload` reading its standard input, which this process feeds), telling
    /// `progress` the bytes sent so far after each chunk. Returns the bytes sent.
    pub async fn vol_upload(
        &self,
        pool: &str,
        name: &str,
        file: &Path,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> LibvirtResult<u64> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let args = ["vol-upload", "--pool", pool, "--", name, "/dev/stdin"];
        let spawn = |source| LibvirtError::Spawn {
            program: "virsh".into(),
            source,
        };
        let read = |source| LibvirtError::Io {
            action: "read",
            path: file.to_path_buf(),
            source,
        };
        let mut src = tokio::fs::File::open(file).await.map_err(read)?;
        let mut child = tokio::process::Command::new("virsh")
            .args(["-q", "-c", &self.uri])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(spawn)?;
        let mut stdin = child.stdin.take().ok_or_else(|| {
            spawn(std::io::Error::other(
                "virsh's standard input is not a pipe",
            ))
        })?;
        let mut buf = vec![0u8; 1 << 20];
        let mut sent = 0u64;
        let mut broken = None;
        loop {
            let n = src.read(&mut buf).await.map_err(read)?;
            if n == 0 {
                break;
            }
            // virsh stops reading when the upload fails: its exit says why.
            if let Err(e) = stdin.write_all(&buf[..n]).await {
                broken = Some(e);
                break;
            }
            sent += n as u64;
            progress(sent);
        }
        drop(stdin);
        let out = child.wait_with_output().await.map_err(spawn)?;
        if !out.status.success() || broken.is_some() {
            let mut stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
            if let Some(e) = broken {
                stderr.push_str(&format!(" (after {sent} bytes: {e})"));
            }
            return Err(Self::fail(&args, stderr));
        }
        Ok(sent)
    }

    /// Removes pool `name` with every volume in it (`vol-delete` each, `pool-destroy`,
    /// `pool-delete`, `pool-undefine`): its directory on libvirt's host goes too. `false` when
    /// there was no such pool.
    pub async fn remove_pool(&self, name: &str) -> LibvirtResult<bool> {
        // Files the hub did not make as volumes (a console log) are volumes once re-read.
        if !self.refresh_pool(name).await? {
            let info = self.raw(&["pool-info", "--", name]).await?;
            if !info.ok && is_no_pool(&info.stderr) {
                return Ok(false);
            }
        }
        for vol in self.volumes(name).await? {
            self.vol_delete(name, &vol).await?;
        }
        let tolerate = |args: &[&str], out: Output, ok: &[&str]| {
            if out.ok || is_no_pool(&out.stderr) || ok.iter().any(|m| out.stderr.contains(m)) {
                Ok(())
            } else {
                Err(Self::fail(args, out.stderr))
            }
        };
        let destroy = ["pool-destroy", "--", name];
        tolerate(&destroy, self.raw(&destroy).await?, &["is not active"])?;
        let delete = ["pool-delete", "--", name];
        tolerate(&delete, self.raw(&delete).await?, &["No such file"])?;
        let undefine = ["pool-undefine", "--", name];
        tolerate(&undefine, self.raw(&undefine).await?, &[])?;
        Ok(true)
    }
}

/// Parses `virsh -q vol-list` output: the volumes' names (the first column).
pub fn parse_vol_list(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| !n.starts_with("---") && *n != "Name")
        .map(str::to_string)
        .collect()
}

/// Parses `virsh domifaddr` output: the IPv4 addresses (prefix dropped).
pub fn parse_domifaddr(out: &str) -> Vec<std::net::Ipv4Addr> {
    out.lines()
        .flat_map(|l| l.split_whitespace())
        .filter_map(|w| w.split('/').next()?.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_capacity_reads_virsh_output() {
        let info = "CPU model:           x86_64\nCPU(s):              2\nMemory size:         24576000 KiB\n";
        let stats = "total  :             24576000 KiB\nfree   :              1024000 KiB\nbuffers:                10240 KiB\ncached :              2048000 KiB\n";
        let c = NodeCapacity::parse(info, stats).unwrap();
        assert_eq!(c.cpus, 2);
        assert_eq!(c.memory_total_mb, 24000);
        assert_eq!(c.memory_available_mb, (1024000 + 10240 + 2048000) / 1024);
        assert_eq!(NodeCapacity::parse("nonsense", stats), None);
    }

    #[test]
    fn states_parse() {
        assert_eq!(
            DomState::parse("running (booted)\n\n"),
            (DomState::Running, "booted".into())
        );
        assert_eq!(
            DomState::parse("\nshut off (unknown)\n"),
            (DomState::ShutOff, "unknown".into())
        );
        assert_eq!(
            DomState::parse("shut off\n"),
            (DomState::ShutOff, String::new())
        );
        assert_eq!(
            DomState::parse("in shutdown (user)").0,
            DomState::InShutdown
        );
        assert_eq!(
            DomState::parse("pmsuspended").0,
            DomState::Other("pmsuspended".into())
        );
    }

    #[test]
    fn domifaddr_output_parses() {
        let out = " Name       MAC address          Protocol     Address\n\
-------------------------------------------------------------------------------\n \
vnet0      52:54:00:aa:bb:cc    ipv4         10.203.1.30/0\n \
vnet0      52:54:00:aa:bb:cc    ipv6         fe80::1/64\n";
        assert_eq!(
            parse_domifaddr(out),
            vec![std::net::Ipv4Addr::new(10, 203, 1, 30)]
        );
        assert!(parse_domifaddr("").is_empty());
    }

    #[test]
    fn volume_lists_and_missing_pools_and_volumes_parse() {
        let out = " vm1-disk.qcow2   /var/lib/libvirt/images/hub-lab-x/vm1-disk.qcow2\n \
                   vm1-seed.img     /var/lib/libvirt/images/hub-lab-x/vm1-seed.img\n";
        assert_eq!(parse_vol_list(out), ["vm1-disk.qcow2", "vm1-seed.img"]);
        assert!(parse_vol_list("").is_empty());
        assert!(is_no_pool(
            "error: failed to get pool 'x'\nerror: Storage pool not found: no storage pool"
        ));
        assert!(is_no_volume(
            "error: failed to get vol 'v'\nerror: Storage volume not found: no storage vol"
        ));
        assert!(!is_no_volume("error: internal error"));
    }

    #[test]
    fn missing_domains_are_recognised() {
        assert!(is_no_domain("error: failed to get domain 'nope'"));
        assert!(!is_no_domain("error: internal error: process exited"));
    }
}
