//! The Docker backend's handle: the bollard client, the negotiated API version, and the pull
//! settings.

use std::sync::Arc;
use std::time::Duration;

use bollard::{API_DEFAULT_VERSION, BollardRequest, Docker};
use hub_runtime::{RuntimeError, RuntimeResult};

use crate::compat;
use crate::error::{self, BACKEND};
use crate::image::PullProgress;
use crate::ssh::SshTarget;

/// A callback receiving image pull progress, for the CLI to render.
pub type PullProgressFn = Arc<dyn Fn(PullProgress) + Send + Sync>;

/// How long a pull may go without any progress message before it is abandoned.
pub const DEFAULT_PULL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// What a failed version negotiation with the local engine was doing.
const NEGOTIATING: &str = "asking the Docker Engine for its API version";

/// Seconds bollard waits for an answer to one request.
const REQUEST_TIMEOUT_SECS: u64 = 120;

/// Containers and the lab network on a Docker Engine; implements
/// [`hub_runtime::Runtime`] (containers only) and [`hub_runtime::NetworkRuntime`].
///
/// Cloning is cheap and shares the connection settings.
#[derive(Clone)]
pub struct DockerRuntime {
    pub(crate) docker: Docker,
    pub(crate) pull_progress: Option<PullProgressFn>,
    pub(crate) pull_idle_timeout: Duration,
    /// Engines a missing image is copied from before it is pulled (the other hosts of a lab
    /// over several hosts).
    pub(crate) image_sources: Arc<Vec<DockerRuntime>>,
}

impl std::fmt::Debug for DockerRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = self.docker.client_version();
        f.debug_struct("DockerRuntime")
            .field(
                "api",
                &format_args!("{}.{}", v.major_version, v.minor_version),
            )
            .field("pull_progress", &self.pull_progress.is_some())
            .field("pull_idle_timeout", &self.pull_idle_timeout)
            .field("image_sources", &self.image_sources.len())
            .finish()
    }
}

/// A failure to reach the engine: a stopped daemon or a refused socket get their own
/// variants, anything else still means the engine cannot be used.
fn connect_error(e: bollard::errors::Error, doing: &str) -> RuntimeError {
    match error::transport_error(e, doing) {
        Ok(mapped) => mapped,
        Err(e) => RuntimeError::DaemonUnavailable {
            backend: BACKEND,
            // The cause travels as the source; the hint says what to do.
            hint: format!("{doing}; check dockerd (scripts/setup-host.sh starts it)"),
            source: Some(Box::new(e)),
        },
    }
}

fn with_compat(docker: Docker) -> Docker {
    docker.with_request_modifier(|req: BollardRequest| compat::legacy_mac_address(req))
}

impl DockerRuntime {
    /// Connects to the local engine (`DOCKER_HOST` or `/var/run/docker.sock`) and negotiates
    /// the API version (Debian 12's engine speaks 1.41).
    pub async fn connect() -> RuntimeResult<Self> {
        let docker = Docker::connect_with_local_defaults()
            .map_err(|e| connect_error(e, "connecting to the Docker Engine"))?;
        Self::negotiate(docker, NEGOTIATING).await
    }

    /// Connects to the engine at the Unix socket `path` and negotiates the API version.
    pub async fn connect_with_socket(path: &str) -> RuntimeResult<Self> {
        let docker = Docker::connect_with_unix(path, REQUEST_TIMEOUT_SECS, API_DEFAULT_VERSION)
            .map_err(|e| connect_error(e, &format!("connecting to the Docker Engine at {path}")))?;
        Self::negotiate(docker, NEGOTIATING).await
    }

    /// Connects to the engine at `tcp://ADDR` over TLS, showing the client certificate of
    /// `tls_dir` (`cert.pem`, `key.pem`) and trusting only its `ca.pem`, and negotiates the API
    /// version. A wrong CA or certificate fails here, naming the endpoint.
    pub async fn connect_tls(addr: &str, tls_dir: &std::path::Path) -> RuntimeResult<Self> {
        let doing = format!(
            "connecting to the Docker Engine at tcp://{addr} with the TLS files of {}",
            tls_dir.display()
        );
        let docker = Docker::connect_with_ssl(
            addr,
            &tls_dir.join("key.pem"),
            &tls_dir.join("cert.pem"),
            &tls_dir.join("ca.pem"),
            REQUEST_TIMEOUT_SECS,
            API_DEFAULT_VERSION,
        )
        .map_err(|e| connect_error(e, &doing))?;
        Self::negotiate(docker, &doing).await
    }

    /// Connects to the engine of another machine over SSH (`docker system dial-stdio` there,
    /// one ssh child per connection; see [`SshTarget`]) and negotiates the API version. An
    /// unknown or changed host key, a refused login or a host without the docker CLI fails
    /// here, with ssh's own message and what to do.
    pub async fn connect_ssh(target: SshTarget) -> RuntimeResult<Self> {
        let doing = format!(
            "connecting to the Docker Engine at {} over SSH",
            target.url()
        );
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .pool_idle_timeout(crate::ssh::POOL_IDLE)
                .pool_timer(hyper_util::rt::TokioTimer::new())
                .build(crate::ssh::SshConnector::new(target));
        let client = Arc::new(client);
        let docker = Docker::connect_with_custom_transport(
            move |req: BollardRequest| {
                let client = Arc::clone(&client);
                async move {
                    client
                        .request(req)
                        .await
                        .map_err(bollard::errors::Error::from)
                }
            },
            // bollard's requests go to this placeholder: the connector ignores it.
            Some("http://docker.invalid"),
            REQUEST_TIMEOUT_SECS,
            API_DEFAULT_VERSION,
        )
        .map_err(|e| connect_error(e, &doing))?;
        Self::negotiate(docker, &doing).await
    }

    /// The engine's host: its CPUs and total memory in MiB (Docker's `/info`: `NCPU`,
    /// `MemTotal`).
    pub async fn host_capacity(&self) -> RuntimeResult<(u32, u64)> {
        let info = self
            .docker
            .info()
            .await
            .map_err(|e| connect_error(e, "asking the Docker Engine for /info"))?;
        let cpus = info.ncpu.and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
        let mem = info
            .mem_total
            .and_then(|m| u64::try_from(m).ok())
            .unwrap_or(0);
        Ok((cpus, mem / (1024 * 1024)))
    }

    /// Negotiates the API version of a client just made; `doing` says what failed.
    async fn negotiate(docker: Docker, doing: &str) -> RuntimeResult<Self> {
        let docker = with_compat(docker)
            .negotiate_version()
            .await
            .map_err(|e| connect_error(e, doing))?;
        Ok(Self::from_client(docker))
    }

    /// Wraps a client that is already connected (and negotiated, if it should be).
    pub fn from_client(docker: Docker) -> Self {
        DockerRuntime {
            docker,
            pull_progress: None,
            pull_idle_timeout: DEFAULT_PULL_IDLE_TIMEOUT,
            image_sources: Arc::default(),
        }
    }

    /// Reports image pull progress to `f`.
    pub fn with_pull_progress(mut self, f: PullProgressFn) -> Self {
        self.pull_progress = Some(f);
        self
    }

    /// Copies a missing image from the first of `sources` that has it (save streamed into
    /// load, with progress) before trying to pull it: a lab over several hosts gets the images
    /// built on one host onto the others. The sources' own sources are not consulted.
    pub fn with_image_sources(mut self, sources: Vec<DockerRuntime>) -> Self {
        self.image_sources = Arc::new(sources);
        self
    }

    /// Abandons a pull that makes no progress for `idle` (default 30 s), so an unreachable
    /// registry fails the workload instead of hanging it.
    pub fn with_pull_idle_timeout(mut self, idle: Duration) -> Self {
        self.pull_idle_timeout = idle;
        self
    }

    /// The bollard client, for what this crate does not wrap.
    pub fn client(&self) -> &Docker {
        &self.docker
    }

    /// The negotiated API version as `(major, minor)`.
    pub fn api_version(&self) -> (usize, usize) {
        let v = self.docker.client_version();
        (v.major_version, v.minor_version)
    }
}
