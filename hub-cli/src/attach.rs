//! `hub ssh`, `console`, `logs`, `exec` and `vpn config`: commands on a lab that is up,
//! found through its state file.

use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use hub_core::Lab;

use super::lab_args::{LabArgs, code_of, report_error};
use super::{Cli, exit};

/// Arguments of `hub ssh`.
#[derive(Debug, Clone, Args)]
pub struct SshArgs {
    /// Which lab and where its state lives.
    #[command(flatten)]
    pub lab: LabArgs,
    /// The VM.
    pub vm: String,
    /// A command to run instead of an interactive shell.
    #[arg(last = true)]
    pub cmd: Vec<String>,
}

/// Arguments of `hub console`.
#[derive(Debug, Clone, Args)]
pub struct ConsoleArgs {
    /// Which lab and where its state lives.
    #[command(flatten)]
    pub lab: LabArgs,
    /// The VM.
    pub vm: String,
}

/// Arguments of `hub logs`.
#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    /// Which lab and where its state lives.
    #[command(flatten)]
    pub lab: LabArgs,
    /// The container or VM (a VM's serial console log).
    pub name: String,
    /// How many lines from the end.
    #[arg(long, default_value_t = 200)]
    pub tail: usize,
    /// Keep printing what it writes, until it stops or Ctrl-C.
    #[arg(short, long)]
    pub follow: bool,
}

/// Arguments of `hub exec`.
#[derive(Debug, Clone, Args)]
pub struct ExecArgs {
    /// Which lab and where its state lives.
    #[command(flatten)]
    pub lab: LabArgs,
    /// The container or VM.
    pub name: String,
    /// The command.
    #[arg(last = true, required = true)]
    pub cmd: Vec<String>,
}

/// `hub vpn ...`.
#[derive(Debug, Clone, Args)]
pub struct VpnArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: VpnCommand,
}

/// The `hub vpn` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum VpnCommand {
    /// Print a peer's WireGuard client config (or a QR code of it, for phones).
    Config(VpnConfigArgs),
}

/// Arguments of `hub vpn config`.
#[derive(Debug, Clone, Args)]
pub struct VpnConfigArgs {
    /// Which lab and where its state lives.
    #[command(flatten)]
    pub lab: LabArgs,
    /// The peer.
    pub peer: String,
    /// Print a QR code instead of the text.
    #[arg(long)]
    pub qr: bool,
}

async fn attach(cli: &Cli, lab: &LabArgs, subcommand: &str) -> Result<Lab, u8> {
    let hub = match lab.builder(cli, subcommand).and_then(|b| Ok(b.build()?)) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Err(code_of(&e));
        }
    };
    Arc::new(hub).attach().await.map_err(|e| report_error(&e))
}

fn exit_code_of_status(s: std::process::ExitStatus) -> u8 {
    s.code()
        .and_then(|c| u8::try_from(c).ok())
        .unwrap_or(exit::FAILURE)
}

/// Runs `hub ssh`: execs ssh with the lab's key and pinned host key; its exit code is ssh's.
pub async fn ssh(cli: &Cli, args: &SshArgs) -> anyhow::Result<u8> {
    let lab = match attach(cli, &args.lab, "ssh").await {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let mut argv = match lab.ssh_command(&args.vm) {
        Ok(a) => a,
        Err(e) => return Ok(report_error(&e)),
    };
    argv.extend(args.cmd.iter().cloned());
    let Some((prog, rest)) = argv.split_first() else {
        return Ok(exit::FAILURE);
    };
    let status = tokio::process::Command::new(prog)
        .args(rest)
        .status()
        .await?;
    Ok(exit_code_of_status(status))
}

/// Runs `hub console`: the VM's serial console through hub-libvirt (leave with Ctrl-]).
pub async fn console(cli: &Cli, args: &ConsoleArgs) -> anyhow::Result<u8> {
    let lab = match attach(cli, &args.lab, "console").await {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let Some(w) = lab
        .workload(&args.vm)
        .filter(|w| w.kind == hub_core::runtime::WorkloadKind::Vm)
    else {
        eprintln!("error: lab {:?} has no VM {:?}", lab.name(), args.vm);
        return Ok(exit::FAILURE);
    };
    let domain = if w.id.is_empty() {
        hub_core::libvirt::domain_name(lab.name(), &w.name)
    } else {
        w.id.clone()
    };
    // A VM of a lab over several hosts is on its host's libvirt (another machine's too).
    let uri = w
        .host
        .as_ref()
        .and_then(|h| {
            hub_core::hosts::load_hosts(lab.name(), lab.dir())
                .ok()?
                .into_iter()
                .find(|s| &s.name == h)?
                .libvirt
        })
        .unwrap_or_else(|| hub_core::libvirt::DEFAULT_URI.to_string());
    let status = hub_core::libvirt::attach_console(&uri, &domain)
        .await
        .context("the console needs virsh (package libvirt-clients)")?;
    Ok(exit_code_of_status(status))
}

/// Runs `hub logs`.
pub async fn logs(cli: &Cli, args: &LogsArgs) -> anyhow::Result<u8> {
    let lab = match attach(cli, &args.lab, "logs").await {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    if args.follow {
        return follow(&lab, args).await;
    }
    match lab.logs(&args.name, args.tail).await {
        Ok(text) => {
            print!("{text}");
            Ok(exit::OK)
        }
        Err(e) => Ok(report_error(&e)),
    }
}

/// `hub logs -f`: prints the stream as it comes, flushing each chunk, until it ends or Ctrl-C.
async fn follow(lab: &hub_core::Lab, args: &LogsArgs) -> anyhow::Result<u8> {
    use std::io::Write;
    let mut stream = match lab.follow_logs(&args.name, args.tail).await {
        Ok(s) => s,
        Err(e) => return Ok(report_error(&e)),
    };
    let mut out = std::io::stdout();
    loop {
        tokio::select! {
            chunk = stream.recv() => match chunk {
                None => return Ok(exit::OK),
                Some(Ok(text)) => {
                    if out.write_all(text.as_bytes()).and_then(|()| out.flush()).is_err() {
                        return Ok(exit::OK); // the reader went away (a closed pipe)
                    }
                }
                Some(Err(e)) => {
                    eprintln!("error: {e}");
                    return Ok(exit::FAILURE);
                }
            },
            _ = tokio::signal::ctrl_c() => return Ok(exit::OK),
        }
    }
}

/// Runs `hub exec`; exits with the command's exit code.
pub async fn exec(cli: &Cli, args: &ExecArgs) -> anyhow::Result<u8> {
    let lab = match attach(cli, &args.lab, "exec").await {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    match lab.exec(&args.name, args.cmd.iter().cloned()).await {
        Ok(out) => {
            print!("{}", out.stdout);
            eprint!("{}", out.stderr);
            Ok(u8::try_from(out.exit_code).unwrap_or(exit::FAILURE))
        }
        Err(e) => Ok(report_error(&e)),
    }
}

/// Runs `hub vpn config PEER [--qr]`.
pub async fn vpn(cli: &Cli, args: &VpnArgs) -> anyhow::Result<u8> {
    let VpnCommand::Config(args) = &args.command;
    let lab = match attach(cli, &args.lab, "vpn config").await {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let path = match lab.vpn_config(&args.peer) {
        Ok(p) => p,
        Err(e) => return Ok(report_error(&e)),
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    if args.qr {
        print!("{}", render_qr(&text)?);
    } else {
        print!("{text}");
    }
    Ok(exit::OK)
}

fn render_qr(text: &str) -> anyhow::Result<String> {
    Ok(hub_core::wg::qr(text)?)
}
