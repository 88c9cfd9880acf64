//! The `hub` command-line tool of Virtual Hub, as a library so that its parts can be tested:
//! global options, one subcommand per file. The binary (`src/main.rs`) parses, sets up logging
//! and calls [`Cli::run`]. Install it with `cargo install --path hub-cli`.
//!
//! Adding a subcommand: a file here with its `Args` struct and a `run` function, one variant in
//! [`Command`], one arm in [`Cli::run`]. Subcommands must not define `-c/--config` or
//! `--log-level` themselves: those are global (`hub validate -c lab.yaml` and
//! `hub -c lab.yaml validate` both work).

pub mod attach;
pub mod cache;
pub mod check;
pub mod client;
pub mod docs;
pub mod down;
pub mod graph;
pub mod lab_args;
pub mod ls;
pub mod netd;
pub mod relay;
pub mod remote;
pub mod render;
pub mod serve;
pub mod status;
pub mod up;
pub mod validate;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit codes scripts can rely on.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// The operation failed (an invalid spec, a failed `up`...); the reason is on stderr.
    pub const FAILURE: u8 = 1;
    /// The command line was wrong (clap's own usage errors use it too).
    pub const USAGE: u8 = 2;
    /// Interrupted by Ctrl-C (SIGINT) after rolling back.
    pub const INTERRUPTED: u8 = 130;
}

/// Virtual Hub: a lab of containers, VMs and a WireGuard gateway from one spec.
#[derive(Debug, Parser)]
#[command(name = "hub", version, propagate_version = true)]
pub struct Cli {
    /// The lab spec (YAML).
    #[arg(
        short = 'c',
        long = "config",
        value_name = "FILE",
        global = true,
        env = "HUB_CONFIG"
    )]
    pub config: Option<PathBuf>,
    /// Log level or filter (`error`, `warn`, `info`, `debug`, `trace`, or a tracing filter
    /// like `hub_core=debug`); logs go to stderr.
    #[arg(
        long,
        value_name = "LEVEL",
        global = true,
        default_value = "warn",
        env = "HUB_LOG"
    )]
    pub log_level: String,
    /// Talk to `hub serve` at this address (`unix:///run/hub/hub.sock`, or
    /// `https://HOST:PORT` with --server-ca and --server-token-file) instead of running the lab
    /// here: `status`, `ls`, `up` and `down` go through it.
    #[arg(long, value_name = "URL", global = true, env = "HUB_SERVER")]
    pub server: Option<String>,
    /// For an https --server: the CA (or the server's certificate) to check it against, PEM.
    #[arg(long, value_name = "FILE", global = true, env = "HUB_SERVER_CA")]
    pub server_ca: Option<PathBuf>,
    /// For an https --server: the file holding its bearer token (mode 0600).
    #[arg(
        long,
        value_name = "FILE",
        global = true,
        env = "HUB_SERVER_TOKEN_FILE"
    )]
    pub server_token_file: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a lab spec and print its resolved plan (or every mistake, exit 1).
    Validate(validate::ValidateArgs),
    /// Run netd, the lab's DHCP and DNS server (what the `LAB-netd` container runs);
    /// `--config` names its JSON config.
    Netd(netd::NetdArgs),
    /// Carry stdin and stdout to an address of a lab's network through its primary host (what
    /// ssh's ProxyCommand runs to reach a VM when no host of the lab is this machine).
    #[command(hide = true)]
    Relay(relay::RelayArgs),
    /// Connect stdin and stdout to ADDR PORT (what `hub relay` runs in netd's container).
    #[command(hide = true)]
    Pipe(relay::PipeArgs),
    /// Bring the lab up, or in line with its spec (exit 0 ok, 1 failed and rolled back,
    /// 2 spec or usage error, 130 interrupted).
    Up(up::UpArgs),
    /// Remove the lab: everything carrying its name, even without the spec or state.
    Down(down::DownArgs),
    /// Show the lab's workloads, their state and addresses (`--json` for scripts).
    Status(status::StatusArgs),
    /// Check the lab as it runs: built-in checks (names, reachability, leases, the VPN) and
    /// the spec's `checks:` (exit 0 only if all pass; the failing ones are named).
    Check(check::CheckArgs),
    /// List the labs on this host with their state, found by their marks and state folders.
    Ls(ls::LsArgs),
    /// Log into a VM over SSH, or run a command there (`hub ssh VM -- CMD`).
    Ssh(attach::SshArgs),
    /// Attach to a VM's serial console.
    Console(attach::ConsoleArgs),
    /// Print a container's logs or a VM's console log.
    Logs(attach::LogsArgs),
    /// Run a command in a container or VM (`hub exec NAME -- CMD`).
    Exec(attach::ExecArgs),
    /// WireGuard client configs.
    Vpn(attach::VpnArgs),
    /// The warm VM snapshot cache: list or prune its entries.
    Cache(cache::CacheArgs),
    /// Print the lab as a picture: Mermaid (default) or Graphviz dot.
    Graph(graph::GraphArgs),
    /// Serve the hub API: many labs managed over HTTP (a unix socket, or TCP with TLS and a
    /// token).
    Serve(serve::ServeArgs),
    /// Print a shell completion script (`hub completions bash > /etc/bash_completion.d/hub`).
    Completions(docs::CompletionsArgs),
    /// Print the man page (`hub man > /usr/local/share/man/man1/hub.1`).
    Man,
}

impl Cli {
    /// The spec file, or a usage error naming the subcommand that needs it.
    pub fn require_config(&self, subcommand: &str) -> Result<&Path, UsageError> {
        self.config.as_deref().ok_or_else(|| {
            UsageError(format!(
                "`hub {subcommand}` needs a lab spec: pass -c FILE (or set HUB_CONFIG)"
            ))
        })
    }

    /// True for `hub serve`, which runs on the API's runtime (`hub_server::api_runtime`).
    pub fn serves(&self) -> bool {
        matches!(self.command, Command::Serve(_))
    }

    /// Runs the subcommand and returns the process exit code.
    pub async fn run(&self) -> ExitCode {
        let result = match &self.command {
            Command::Validate(args) => validate::run(self, args),
            Command::Netd(args) => netd::run(self, args).await,
            Command::Relay(args) => relay::relay(args).await,
            Command::Pipe(args) => relay::pipe(args).await,
            Command::Up(args) => match &self.server {
                Some(url) => remote::up(self, url, &args.lab).await,
                None => up::run(self, args).await,
            },
            Command::Down(args) => match &self.server {
                Some(url) => remote::down(self, url, &args.lab).await,
                None => down::run(self, args).await,
            },
            Command::Status(args) => match &self.server {
                Some(url) => remote::status(self, url, &args.lab, args.json).await,
                None => status::run(self, args).await,
            },
            Command::Ls(args) => match &self.server {
                Some(url) => remote::ls(self, url, args.json).await,
                None => ls::run(self, args).await,
            },
            Command::Serve(args) => serve::run(self, args).await,
            Command::Check(args) => check::run(self, args).await,
            Command::Ssh(args) => attach::ssh(self, args).await,
            Command::Console(args) => attach::console(self, args).await,
            Command::Logs(args) => attach::logs(self, args).await,
            Command::Exec(args) => attach::exec(self, args).await,
            Command::Vpn(args) => attach::vpn(self, args).await,
            Command::Cache(args) => cache::run(args),
            Command::Graph(args) => graph::run(self, args),
            Command::Completions(args) => docs::completions(args),
            Command::Man => docs::man(),
        };
        match result {
            Ok(code) => ExitCode::from(code),
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(lab_args::code_of(&e))
            }
        }
    }
}

/// A command-line mistake clap cannot see (a missing `-c FILE`); exits with [`exit::USAGE`].
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Sends `tracing` logs to stderr at `level` (a level or an `EnvFilter` directive).
pub fn init_logging(level: &str) -> Result<(), UsageError> {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_new(level).map_err(|e| {
        UsageError(format!(
            "--log-level \"{level}\" is not a level or filter: {e}"
        ))
    })?;
    // Progress bars (spans of target `hub_progress`) and log lines share stderr without
    // tearing each other.
    let bars = tracing_indicatif::IndicatifLayer::new();
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(bars.get_stderr_writer())
        .with_target(false)
        .with_filter(filter);
    let only_progress = tracing_subscriber::filter::filter_fn(|m| m.target() == render::TARGET);
    tracing_subscriber::registry()
        .with(logs)
        .with(bars.with_filter(only_progress))
        .try_init()
        .map_err(|e| UsageError(format!("logging could not be set up: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn config_is_global() {
        let a = Cli::try_parse_from(["hub", "validate", "-c", "x.yaml"]).unwrap();
        let b = Cli::try_parse_from(["hub", "-c", "x.yaml", "validate"]).unwrap();
        assert_eq!(a.config, b.config);
        assert_eq!(a.config.as_deref(), Some(Path::new("x.yaml")));
    }
}
