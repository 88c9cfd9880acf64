//! `hub serve`: Virtual Hub's labs behind an HTTP API.
//!
//! One process manages any number of labs: `PUT /labs/{name}` with a spec (YAML or JSON)
//! creates or converges a lab in the background (202, then poll `GET /labs/{name}`), `DELETE`
//! removes it, and the API lists labs, restarts and execs in workloads, hands out VPN client
//! configs, streams events (SSE at `/events`), serves Prometheus metrics at `/metrics` and its
//! own OpenAPI document at `/openapi.json`.
//!
//! It listens on a unix socket by default (mode 0660, group `hub` when it exists); TCP only
//! with TLS and a bearer token ([`Listen`]). Every lab operation takes the lab lock of
//! `hub_core::state::LabLock`, so the server and a direct `hub up` of the same lab never run at
//! once. The server keeps what it manages in the state root (`<root>/<lab>/serve.json`) and,
//! started again after a crash, finishes or rolls back what was in flight ([`Server::recover`]).
//!
//! ```no_run
//! # async fn run() -> Result<(), hub_server::ServerError> {
//! let config = hub_server::ServerConfig::new("unix:/run/hub/hub.sock".parse()?);
//! hub_server::serve(config, tokio_util::sync::CancellationToken::new()).await
//! # }
//! ```

mod auth;
mod error;
mod events;
mod listen;
mod manager;
mod metrics;
mod observed;
mod openapi;
mod priority;
mod record;
mod routes;
mod view;

use std::path::PathBuf;
use std::sync::Arc;

pub use auth::read_token_file;
pub use error::ServerError;
pub use events::{Event, EventKind};
pub use listen::{Listen, Tls};
pub use manager::{LabPhase, Server};
pub use priority::{api_runtime, api_thread};
pub use view::{
    ApiError, DownDone, ErrorBody, ExecRequest, ExecResult, LabSummary, LabView, WorkloadView,
};

use tokio_util::sync::CancellationToken;

/// The largest request body accepted by default (a spec is at most 1 MiB).
pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where it listens.
    pub listen: Listen,
    /// TLS and the bearer token: required for TCP, refused for a unix socket.
    pub tls: Option<Tls>,
    /// The state root (lab directories are `<root>/<lab>`); `None`: the hub's default.
    pub state_dir: Option<PathBuf>,
    /// The `hub` executable netd's image is built from.
    pub hub_bin: Option<PathBuf>,
    /// The largest request body accepted; larger ones get 413.
    pub max_body: usize,
}

impl ServerConfig {
    /// A config listening at `listen`, with the defaults for the rest.
    pub fn new(listen: Listen) -> Self {
        ServerConfig {
            listen,
            tls: None,
            state_dir: None,
            hub_bin: None,
            max_body: DEFAULT_MAX_BODY,
        }
    }
}

/// Runs the server until `shutdown` fires: picks up the labs of the state root (finishing or
/// rolling back what a previous run left in flight), then serves the API.
pub async fn serve(config: ServerConfig, shutdown: CancellationToken) -> Result<(), ServerError> {
    let root = config
        .state_dir
        .clone()
        .unwrap_or_else(hub_core::default_state_root);
    let server = Arc::new(Server::new(root, config.hub_bin.clone())?);
    server.recover()?;
    let listener = listen::bind(&config.listen, config.tls.as_ref()).await?;
    let app = routes::router(server.clone(), &config, listener.token.clone());
    tracing::info!(listen = %config.listen, "serving the hub API");
    let stopping = server.stopping.clone();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        stop.cancelled().await;
        stopping.cancel();
    });
    listener.serve(app, shutdown).await
}
