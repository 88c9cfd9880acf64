//! Readiness of a VM: its address is known, SSH answers with the pinned host key, cloud-init
//! finished. Bounded polling that honours cancellation; on timeout the error carries the
//! console's last lines.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use hub_runtime::process::{Tool, ToolError};
use hub_runtime::wait::{Deadline, Stop};
use hub_runtime::{LabContext, PhaseReporter, ReadyPhase, RuntimeError, RuntimeResult, VmSpec};

use crate::console::tail_console;
use crate::ssh::{SSH_CONNECT_TIMEOUT, SshTarget, pin_host_key, ssh_args};
use crate::virsh::{DomState, Virsh};

/// Console lines an error carries.
pub const CONSOLE_TAIL_LINES: usize = 25;

/// The remote check: exit 100 while cloud-init has not finished, else `cloud-init status`.
const READY_CHECK: &str = "test -f /var/lib/cloud/instance/boot-finished || exit 100; cloud-init status --long 2>&1 || true";

/// The check after a restore from a warm snapshot, in the same login: set the clock (frozen at
/// the save) from the RTC, which QEMU keeps on the host's time (else from `now`, the host's
/// time when the login began), flush the neighbour table (the new bridge has another MAC), then
/// report the clock and the addresses. cloud-init finished before the snapshot was taken.
fn restored_check(now: std::time::SystemTime) -> String {
    let now = now
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    format!(
        "t=$(cat /sys/class/rtc/rtc0/since_epoch 2>/dev/null || echo {now}); \
         sudo -n sh -c \"date -u -s @$t; ip neigh flush all\" >/dev/null 2>&1; \
         test -f /var/lib/cloud/instance/boot-finished || exit 100; \
         echo status: done; echo hub-clock: $(date +%s); ip -4 -o addr show"
    )
}

/// Console lines that mean the guest will never come up: the firmware found nothing to boot,
/// or the kernel panicked.
const FATAL_CONSOLE: [&str; 3] = [
    "No bootable device",
    "Kernel panic - not syncing",
    "Boot failed: could not read the boot disk",
];

/// The first line of a console tail that says the guest cannot boot.
fn fatal_console_line(tail: &str) -> Option<String> {
    tail.lines()
        .find(|l| FATAL_CONSOLE.iter().any(|m| l.contains(m)))
        .map(|l| l.trim().to_string())
}

/// Whether a console tail shows the guest's kernel (or what runs on it) at work: a kernel
/// timestamp (`[    1.234567] ...`), or systemd (its `[  OK  ]` lines), cloud-init or a login
/// prompt, which all run on it. The firmware's and the boot loader's lines have none of these.
fn kernel_seen(tail: &str) -> bool {
    tail.lines().any(|l| {
        let l = l.trim_start();
        let stamped = l
            .strip_prefix('[')
            .and_then(|r| r.split_once(']'))
            .is_some_and(|(t, _)| {
                let t = t.trim();
                !t.is_empty() && t.chars().all(|c| c.is_ascii_digit() || c == '.')
            });
        stamped
            || [
                "Linux version",
                "systemd",
                "[  OK  ]",
                "Welcome to",
                "cloud-init",
                "login:",
            ]
            .iter()
            .any(|m| l.contains(m))
    })
}

/// The phases a wait has reported: each is told once, and never one before a later one.
struct PhaseLog<'a> {
    reporter: &'a PhaseReporter,
    last: Option<ReadyPhase>,
}

impl PhaseLog<'_> {
    fn reached(&mut self, phase: ReadyPhase, after: Duration) {
        if self.last.is_none_or(|last| phase > last) {
            self.last = Some(phase);
            self.reporter.report(phase, after);
        }
    }
}

/// How often port 22 is tried before an SSH login is attempted: a closed or silent port is
/// seen in a quarter second instead of after ssh's connect timeout.
const PORT_POLL: Duration = Duration::from_millis(250);

/// What a TCP connection to the VM's SSH port found.
#[derive(Debug, PartialEq, Eq)]
enum Port {
    /// It accepts connections.
    Open,
    /// The guest answered, refusing: it holds the address, sshd is not up yet.
    Refused,
    /// Nothing answered within the limit (no one holds the address yet, or a firewall).
    Silent,
}

/// Tries the VM's SSH port for at most `limit`.
async fn ssh_port(addr: Ipv4Addr, limit: Duration) -> Port {
    match tokio::time::timeout(limit, tokio::net::TcpStream::connect((addr, 22))).await {
        Ok(Ok(_)) => Port::Open,
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => Port::Refused,
        _ => Port::Silent,
    }
}

/// When each readiness step was reached, counted from the start of the wait.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadyPhases {
    /// The VM's address was known.
    pub address: Duration,
    /// SSH answered with the pinned host key.
    pub ssh: Duration,
    /// cloud-init had finished: the VM is ready.
    pub cloud_init: Duration,
}

/// What one SSH probe found.
enum Probe {
    /// SSH did not answer (or the host key did not match): ssh's last error line.
    NoSsh(String),
    /// SSH answered; cloud-init still runs.
    Booting,
    /// cloud-init finished, with this `cloud-init status --long` output.
    Finished(String),
}

async fn probe(lab_dir: &Path, target: &SshTarget, check: &str, limit: Duration) -> Probe {
    let out = Tool::new("ssh")
        .args(ssh_args(lab_dir, target, Some(check)))
        .timeout(limit)
        .output()
        .await;
    match out {
        Err(ToolError::TimedOut { limit, .. }) => {
            Probe::NoSsh(format!("ssh took longer than {limit:?}"))
        }
        Err(e) => Probe::NoSsh(e.to_string()),
        Ok(out) => match out.status.code() {
            Some(0) => Probe::Finished(out.stdout.trim().to_string()),
            Some(100) => Probe::Booting,
            _ => Probe::NoSsh(
                out.stderr
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("no output")
                    .trim()
                    .to_string(),
            ),
        },
    }
}

/// The `status:` value of `cloud-init status` output (`done`, `error`, `running`, ...).
pub fn cloud_init_status(output: &str) -> Option<&str> {
    output
        .lines()
        .find_map(|l| l.trim().strip_prefix("status:"))
        .map(str::trim)
}

/// The VM a readiness wait looks at.
pub(crate) struct Guest<'a> {
    /// Its lab.
    pub lab: &'a LabContext,
    /// Its spec.
    pub vm: &'a VmSpec,
    /// Its libvirt domain.
    pub domain: &'a str,
    /// The public host key to pin.
    pub host_key: &'a str,
    /// Its serial console log; `None` when it is not a file of this machine (a VM on a remote
    /// libvirt): the kernel phase and the console's last lines are then not shown.
    pub console_log: Option<&'a Path>,
    /// It was restored from a warm snapshot (see [`restored_check`]).
    pub restored: bool,
    /// The `ProxyCommand` SSH goes through when this machine is not on the lab network.
    pub ssh_proxy: Option<&'a str>,
}

/// Waits until the guest is ready, polling every `poll` within `wait`, and tells `reporter`
/// each boot phase as it passes (firmware, kernel, lease, SSH, cloud-init). Returns when each
/// step was reached and what the final check printed.
pub(crate) async fn wait_vm_ready(
    virsh: &Virsh,
    guest: &Guest<'_>,
    wait: &Deadline,
    poll: Duration,
    reporter: &PhaseReporter,
) -> RuntimeResult<(ReadyPhases, String)> {
    let Guest {
        lab,
        vm,
        domain,
        host_key,
        console_log,
        restored,
        ssh_proxy,
    } = *guest;
    let mut told = PhaseLog {
        reporter,
        last: None,
    };
    let mut phases = ReadyPhases::default();
    let mut addr: Option<Ipv4Addr> = vm.ip;
    let mut pinned = false;
    let mut ssh_seen = false;
    let mut last = "waiting for the VM's address".to_string();
    let mut pause = poll;
    let failed = |detail: String| RuntimeError::WorkloadFailed {
        lab: lab.name.clone(),
        workload: vm.name.clone(),
        detail: format!(
            "{detail}\n--- console (last lines) ---\n{}",
            tail(console_log)
        ),
    };
    let backend = |context: &str, e: crate::LibvirtError| {
        crate::runtime::to_runtime_error(&lab.name, context.to_string(), e)
    };
    let stopped = |stop: Stop, last: &str| match stop {
        Stop::Cancelled => RuntimeError::Cancelled {
            lab: lab.name.clone(),
            workload: vm.name.clone(),
        },
        Stop::Expired => RuntimeError::Timeout {
            lab: lab.name.clone(),
            workload: vm.name.clone(),
            waited: wait.limit(),
            detail: format!(
                "{last}\n--- console (last lines) ---\n{}",
                tail(console_log)
            ),
        },
    };
    loop {
        if wait.check() == Err(Stop::Cancelled) {
            return Err(stopped(Stop::Cancelled, &last));
        }
        match virsh
            .domstate(domain)
            .await
            .map_err(|e| backend("reading the VM's state", e))?
        {
            None => return Err(failed(format!("domain {domain:?} disappeared"))),
            Some((DomState::Running, _)) if !restored => {
                told.reached(ReadyPhase::Firmware, wait.elapsed());
            }
            Some((DomState::Running, _)) => {}
            Some((state, reason)) => {
                return Err(failed(format!(
                    "domain {domain:?} is {state:?} ({reason}), not running"
                )));
            }
        }
        if let (false, Some(console_log)) = (ssh_seen, console_log) {
            let tail = tail_console(console_log, CONSOLE_TAIL_LINES).unwrap_or_default();
            if let Some(line) = fatal_console_line(&tail) {
                return Err(failed(format!("the guest cannot boot: {line}")));
            }
            if !restored && kernel_seen(&tail) {
                told.reached(ReadyPhase::Kernel, wait.elapsed());
            }
        }
        if addr.is_none() {
            let found = virsh
                .arp_addresses(domain)
                .await
                .map_err(|e| backend("looking up the VM's address", e))?;
            addr = found.into_iter().find(|a| lab.network.subnet.contains(a));
            if let Some(a) = addr {
                told.reached(ReadyPhase::Lease(a), wait.elapsed());
            }
        }
        if let Some(a) = addr {
            if !pinned {
                pin_host_key(&lab.dir, a, host_key)
                    .map_err(|e| backend("pinning the VM's host key", e))?;
                pinned = true;
                phases.address = wait.elapsed();
                tracing::debug!(lab = %lab.name, workload = %vm.name, address = %a, "VM address known");
            }
            let target = SshTarget {
                user: vm.user.clone(),
                addr: a,
                proxy: ssh_proxy.map(str::to_string),
            };
            let limit = (SSH_CONNECT_TIMEOUT * 4).min(wait.remaining().max(Duration::from_secs(1)));
            // Until SSH first answers, a login is tried only once port 22 accepts connections,
            // and the port is tried often.
            pause = poll;
            // Through a relay the port cannot be tried from here: ssh tries it.
            let port = if ssh_seen || ssh_proxy.is_some() {
                Port::Open
            } else {
                ssh_port(a, PORT_POLL.max(poll.min(SSH_CONNECT_TIMEOUT))).await
            };
            // Through a relay the guest's answer on its port is not seen from here.
            if port != Port::Silent && ssh_proxy.is_none() {
                told.reached(ReadyPhase::Lease(a), wait.elapsed());
            }
            let result = if port != Port::Open {
                pause = PORT_POLL;
                Probe::NoSsh("port 22 does not accept connections yet".into())
            } else {
                let check = if restored {
                    restored_check(std::time::SystemTime::now())
                } else {
                    READY_CHECK.to_string()
                };
                match wait.run(probe(&lab.dir, &target, &check, limit)).await {
                    Ok(r) => r,
                    Err(stop) => return Err(stopped(stop, &last)),
                }
            };
            match result {
                Probe::NoSsh(why) => {
                    tracing::debug!(lab = %lab.name, workload = %vm.name, after = ?wait.elapsed(), %why, "SSH probe: no answer");
                    last = format!("SSH to {a} does not answer yet: {why}");
                }

                Probe::Booting | Probe::Finished(_) if !ssh_seen => {
                    ssh_seen = true;
                    phases.ssh = wait.elapsed();
                    told.reached(ReadyPhase::Ssh, phases.ssh);
                    tracing::debug!(lab = %lab.name, workload = %vm.name, "VM answers SSH");
                    last = format!("SSH to {a} answers; cloud-init has not finished");
                    match result {
                        Probe::Finished(out) => {
                            return finish(phases, wait.elapsed(), out, &failed);
                        }
                        _ => told.reached(ReadyPhase::CloudInit, wait.elapsed()),
                    }
                }
                Probe::Booting => {
                    tracing::debug!(lab = %lab.name, workload = %vm.name, after = ?wait.elapsed(), "SSH probe: cloud-init still runs");
                    told.reached(ReadyPhase::CloudInit, wait.elapsed());
                }
                Probe::Finished(out) => return finish(phases, wait.elapsed(), out, &failed),
            }
        }
        if let Err(stop) = wait.pause(pause).await {
            return Err(stopped(stop, &last));
        }
    }
}

fn finish(
    mut phases: ReadyPhases,
    elapsed: Duration,
    status: String,
    failed: &dyn Fn(String) -> RuntimeError,
) -> RuntimeResult<(ReadyPhases, String)> {
    match cloud_init_status(&status) {
        Some("error") | Some("degraded error") => Err(failed(format!(
            "cloud-init finished with errors:\n{status}"
        ))),
        _ => {
            phases.cloud_init = elapsed;
            Ok((phases, status))
        }
    }
}

fn tail(console_log: Option<&Path>) -> String {
    match console_log {
        Some(path) => tail_console(path, CONSOLE_TAIL_LINES)
            .unwrap_or_else(|e| format!("(console log unreadable: {e})\n")),
        None => format!(
            "(not shown: the VM runs on a remote libvirt and {}; `hub console VM` attaches to it)\n",
            crate::domain::REMOTE_CONSOLE_NOTE
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_is_seen_on_the_console_and_the_firmware_is_not() {
        let firmware = "SeaBIOS (version 1.16.2-debian-1.16.2-1)\nBooting from Hard Disk...\n\
                        SYSLINUX 6.04 EDD Copyright (C) 1994-2015 H. Peter Anvin et al\n\
                        Loading vmlinuz... ok\n";
        assert!(!kernel_seen(firmware));
        assert!(!kernel_seen(""));
        assert!(kernel_seen(&format!(
            "{firmware}[    0.000000] Linux version 6.1.0-28-amd64\n"
        )));
        // Later in the boot the kernel's first lines have scrolled out of the tail.
        assert!(kernel_seen("[  OK  ] Started ssh.service\n"));
        assert!(kernel_seen("vm1 login: \n"));
        assert!(!kernel_seen("[] x\n[abc] y\n"));
        assert_eq!(
            fatal_console_line("ok\nNo bootable device.\n").as_deref(),
            Some("No bootable device.")
        );
    }

    #[test]
    fn each_phase_is_told_once_and_never_backwards() {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = seen.clone();
        let reporter = PhaseReporter::new(move |p, _| sink.lock().unwrap().push(p));
        let mut log = PhaseLog {
            reporter: &reporter,
            last: None,
        };
        let ip = Ipv4Addr::new(10, 0, 0, 5);
        for p in [
            ReadyPhase::Firmware,
            ReadyPhase::Firmware,
            ReadyPhase::Lease(ip),
            ReadyPhase::Kernel,
            ReadyPhase::Lease(ip),
            ReadyPhase::Ssh,
        ] {
            log.reached(p, Duration::ZERO);
        }
        assert_eq!(
            *seen.lock().unwrap(),
            [ReadyPhase::Firmware, ReadyPhase::Lease(ip), ReadyPhase::Ssh]
        );
    }

    #[test]
    fn cloud_init_status_is_read() {
        assert_eq!(
            cloud_init_status("status: done\nboot_status_code: enabled"),
            Some("done")
        );
        assert_eq!(
            cloud_init_status("\nstatus: error\ndetail: x"),
            Some("error")
        );
        assert_eq!(cloud_init_status("nothing"), None);
    }
}
