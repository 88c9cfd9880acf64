//! Readiness of a VM: its address is known, SSH answers with the pinned host key, cloud-init
//! finished. Bounded polling that honours cancellation; on timeout the error carries the
//! console's last lines.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

use hub_runtime::{LabContext, RuntimeError, RuntimeResult, VmSpec};
use tokio_util::sync::CancellationToken;

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
         sudo -n date -u -s @$t >/dev/null 2>&1; sudo -n ip neigh flush all >/dev/null 2>&1; \
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

/// The first line of the console log's tail that says the guest cannot boot.
fn fatal_console_line(console_log: &Path) -> Option<String> {
    let tail = tail_console(console_log, CONSOLE_TAIL_LINES).ok()?;
    tail.lines()
        .find(|l| FATAL_CONSOLE.iter().any(|m| l.contains(m)))
        .map(|l| l.trim().to_string())
}

/// How often port 22 is tried before an SSH login is attempted: a closed or silent port is
/// seen in a quarter second instead of after ssh's connect timeout.
const PORT_POLL: Duration = Duration::from_millis(250);

/// Whether the VM's SSH port accepts a TCP connection within `limit`.
async fn port_open(addr: Ipv4Addr, limit: Duration) -> bool {
    matches!(
        tokio::time::timeout(limit, tokio::net::TcpStream::connect((addr, 22))).await,
        Ok(Ok(_))
    )
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
    let mut cmd = tokio::process::Command::new("ssh");
    cmd.args(ssh_args(lab_dir, target, Some(check)))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    match tokio::time::timeout(limit, cmd.output()).await {
        Err(_) => Probe::NoSsh(format!("ssh took longer than {limit:?}")),
        Ok(Err(e)) => Probe::NoSsh(format!("could not run ssh: {e}")),
        Ok(Ok(out)) => match out.status.code() {
            Some(0) => Probe::Finished(String::from_utf8_lossy(&out.stdout).trim().to_string()),
            Some(100) => Probe::Booting,
            _ => {
                let err = String::from_utf8_lossy(&out.stderr);
                Probe::NoSsh(
                    err.lines()
                        .rev()
                        .find(|l| !l.trim().is_empty())
                        .unwrap_or("no output")
                        .trim()
                        .to_string(),
                )
            }
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

/// Waits until `vm` (domain `domain`) is ready. `host_key` is the public host key to pin.
/// `restored`: the VM was restored from a warm snapshot (see [`restored_check`]). Returns the
/// phases and what the final check printed.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn wait_vm_ready(
    virsh: &Virsh,
    lab: &LabContext,
    vm: &VmSpec,
    host_key: &str,
    domain: &str,
    console_log: &Path,
    timeout: Duration,
    poll: Duration,
    cancel: &CancellationToken,
    restored: bool,
) -> RuntimeResult<(ReadyPhases, String)> {
    let start = Instant::now();
    // Capped, so a huge timeout cannot overflow the clock.
    let deadline = start + timeout.min(crate::MAX_WAIT);
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
    loop {
        if cancel.is_cancelled() {
            return Err(RuntimeError::Cancelled {
                lab: lab.name.clone(),
                workload: vm.name.clone(),
            });
        }
        match virsh
            .domstate(domain)
            .await
            .map_err(|e| backend("reading the VM's state", e))?
        {
            None => return Err(failed(format!("domain {domain:?} disappeared"))),
            Some((DomState::Running, _)) => {}
            Some((state, reason)) => {
                return Err(failed(format!(
                    "domain {domain:?} is {state:?} ({reason}), not running"
                )));
            }
        }
        if !ssh_seen {
            if let Some(line) = fatal_console_line(console_log) {
                return Err(failed(format!("the guest cannot boot: {line}")));
            }
        }
        if addr.is_none() {
            let found = virsh
                .arp_addresses(domain)
                .await
                .map_err(|e| backend("looking up the VM's address", e))?;
            addr = found.into_iter().find(|a| lab.network.subnet.contains(a));
        }
        if let Some(a) = addr {
            if !pinned {
                pin_host_key(&lab.dir, a, host_key)
                    .map_err(|e| backend("pinning the VM's host key", e))?;
                pinned = true;
                phases.address = start.elapsed();
                tracing::debug!(lab = %lab.name, workload = %vm.name, address = %a, "VM address known");
            }
            let target = SshTarget {
                user: vm.user.clone(),
                addr: a,
            };
            let limit = (SSH_CONNECT_TIMEOUT * 4).min(
                deadline
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_secs(1)),
            );
            // Until SSH first answers, a login is tried only once port 22 accepts connections,
            // and the port is tried often.
            pause = poll;
            let result = if !ssh_seen
                && !port_open(a, PORT_POLL.max(poll.min(SSH_CONNECT_TIMEOUT))).await
            {
                pause = PORT_POLL;
                Probe::NoSsh("port 22 does not accept connections yet".into())
            } else {
                let check = if restored {
                    restored_check(std::time::SystemTime::now())
                } else {
                    READY_CHECK.to_string()
                };
                tokio::select! {
                    r = probe(&lab.dir, &target, &check, limit) => r,
                    () = cancel.cancelled() => {
                        return Err(RuntimeError::Cancelled { lab: lab.name.clone(), workload: vm.name.clone() });
                    }
                }
            };
            match result {
                Probe::NoSsh(why) => last = format!("SSH to {a} does not answer yet: {why}"),
                Probe::Booting | Probe::Finished(_) if !ssh_seen => {
                    ssh_seen = true;
                    phases.ssh = start.elapsed();
                    tracing::debug!(lab = %lab.name, workload = %vm.name, "VM answers SSH");
                    last = format!("SSH to {a} answers; cloud-init has not finished");
                    if let Probe::Finished(out) = result {
                        return finish(phases, start, out, &failed);
                    }
                }
                Probe::Booting => {}
                Probe::Finished(out) => return finish(phases, start, out, &failed),
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(RuntimeError::Timeout {
                lab: lab.name.clone(),
                workload: vm.name.clone(),
                waited: timeout,
                detail: format!(
                    "{last}\n--- console (last lines) ---\n{}",
                    tail(console_log)
                ),
            });
        }
        tokio::select! {
            () = tokio::time::sleep(pause.min(deadline - now)) => {}
            () = cancel.cancelled() => {}
        }
    }
}

fn finish(
    mut phases: ReadyPhases,
    start: Instant,
    status: String,
    failed: &dyn Fn(String) -> RuntimeError,
) -> RuntimeResult<(ReadyPhases, String)> {
    match cloud_init_status(&status) {
        Some("error") | Some("degraded error") => Err(failed(format!(
            "cloud-init finished with errors:\n{status}"
        ))),
        _ => {
            phases.cloud_init = start.elapsed();
            Ok((phases, status))
        }
    }
}

fn tail(console_log: &Path) -> String {
    tail_console(console_log, CONSOLE_TAIL_LINES)
        .unwrap_or_else(|e| format!("(console log unreadable: {e})\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

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
