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
    fn missing_domains_are_recognised() {
        assert!(is_no_domain("error: failed to get domain 'nope'"));
        assert!(!is_no_domain("error: internal error: process exited"));
    }
}
