//! `hub netd --config FILE`: the lab's DHCP and DNS server. The hub runs it as the `LAB-netd`
//! container (an image made from this very executable, see `hub_docker::netd`); here
//! `--config` names netd's JSON config, which the hub writes into the lab's netd directory.

use anyhow::Context;
use clap::Args;

use super::{Cli, UsageError, exit};

/// Arguments of `hub netd` (the config file is the global `-c/--config`).
#[derive(Debug, Clone, Args)]
pub struct NetdArgs {}

/// Serves DHCP and DNS until SIGTERM or SIGINT.
pub async fn run(cli: &Cli, _args: &NetdArgs) -> anyhow::Result<u8> {
    let config = cli.config.as_deref().ok_or_else(|| {
        UsageError(
            "`hub netd` needs its config: pass --config FILE (the JSON the hub writes into the \
             lab's netd directory)"
                .into(),
        )
    })?;
    hub_net::netd::run(config)
        .await
        .with_context(|| format!("netd with config {}", config.display()))?;
    Ok(exit::OK)
}
