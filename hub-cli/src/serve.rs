//! `hub serve`: runs the hub API server (see the `hub-server` crate) until SIGINT or SIGTERM.

use std::path::PathBuf;

use clap::Args;
use tokio_util::sync::CancellationToken;

use super::{Cli, UsageError, exit};

/// Arguments of `hub serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Where to listen: `unix:PATH` (mode 0660, group `hub` when it exists), or
    /// `tcp:ADDRESS:PORT` (with --tls-cert, --tls-key and --token-file).
    #[arg(long, value_name = "ADDR", default_value = "unix:/run/hub/hub.sock")]
    pub listen: String,
    /// The TLS certificate chain (PEM), for tcp.
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// The TLS private key (PEM), for tcp.
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// The bearer token clients must send, alone in a file of mode 0600, for tcp.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// The state root where labs and the server's records live (default `/var/lib/hub` for
    /// root, else `$XDG_STATE_HOME/hub`).
    #[arg(long, value_name = "DIR", env = "HUB_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// The largest request body accepted, in bytes (larger ones get 413).
    #[arg(long, value_name = "BYTES", default_value_t = hub_server::DEFAULT_MAX_BODY)]
    pub max_body: usize,
    /// The `hub` executable netd's image is built from (default: this one).
    #[arg(long, value_name = "PATH", env = "HUB_BIN")]
    pub hub_bin: Option<PathBuf>,
}

/// Runs `hub serve`.
pub async fn run(_cli: &Cli, args: &ServeArgs) -> anyhow::Result<u8> {
    let listen: hub_server::Listen = args
        .listen
        .parse()
        .map_err(|e: hub_server::ServerError| UsageError(e.to_string()))?;
    let tls = match (&args.tls_cert, &args.tls_key, &args.token_file) {
        (None, None, None) => None,
        (Some(cert), Some(key), Some(token_file)) => Some(hub_server::Tls {
            cert: cert.clone(),
            key: key.clone(),
            token_file: token_file.clone(),
        }),
        _ => {
            return Err(
                UsageError("--tls-cert, --tls-key and --token-file go together".into()).into(),
            );
        }
    };
    let mut config = hub_server::ServerConfig::new(listen);
    config.tls = tls;
    config.state_dir = args.state_dir.clone();
    config.max_body = args.max_body;
    config.hub_bin = args
        .hub_bin
        .clone()
        .or_else(|| std::env::current_exe().ok());
    let shutdown = CancellationToken::new();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot watch SIGTERM");
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        on_signal.cancel();
    });
    match hub_server::serve(config, shutdown).await {
        Ok(()) => Ok(exit::OK),
        Err(e) => {
            eprintln!("error: {}", hub_core::error_chain(&e));
            Ok(exit::FAILURE)
        }
    }
}
