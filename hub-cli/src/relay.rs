//! `hub relay` and `hub pipe`: how ssh reaches a VM when this machine is not on the lab network
//! (a lab whose hosts are all other machines). ssh's `ProxyCommand` runs `hub relay --lab-dir
//! DIR ADDR PORT` here, which runs `hub pipe ADDR PORT` in netd's container on the primary (an
//! image of this very executable) over the primary's Docker API; the pipe connects to the VM
//! and copies bytes both ways. Neither is meant to be typed; both are hidden from `--help`.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::exit;

/// How long `hub pipe` tries to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Arguments of `hub relay`.
#[derive(Debug, Clone, Args)]
pub struct RelayArgs {
    /// The lab's directory (its `hosts.json` names the primary).
    #[arg(long)]
    pub lab_dir: PathBuf,
    /// The address on the lab network.
    pub addr: Ipv4Addr,
    /// The port.
    pub port: u16,
}

/// Arguments of `hub pipe`.
#[derive(Debug, Clone, Args)]
pub struct PipeArgs {
    /// The address to connect to.
    pub addr: Ipv4Addr,
    /// The port.
    pub port: u16,
}

/// Carries stdin and stdout to `ADDR:PORT` on the lab network through the primary.
pub async fn relay(args: &RelayArgs) -> anyhow::Result<u8> {
    let code = hub_core::hosts::relay(&args.lab_dir, args.addr, args.port).await?;
    Ok(if code == 0 { exit::OK } else { exit::FAILURE })
}

/// Connects to `ADDR:PORT` and copies stdin to it and what it sends to stdout, until both
/// directions end.
pub async fn pipe(args: &PipeArgs) -> anyhow::Result<u8> {
    let to = (args.addr, args.port);
    let mut stream = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(to))
        .await
        .map_err(|_| anyhow::anyhow!("no answer within {CONNECT_TIMEOUT:?}"))
        .and_then(|r| r.map_err(anyhow::Error::from))
        .with_context(|| format!("connecting to {}:{}", args.addr, args.port))?;
    let mut stdio = tokio::io::join(tokio::io::stdin(), tokio::io::stdout());
    // An error here is the connection's end (either side gone).
    let _ = tokio::io::copy_bidirectional(&mut stdio, &mut stream).await;
    Ok(exit::OK)
}
