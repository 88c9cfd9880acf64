//! Where the server listens: a unix socket (0660, group `hub` when it exists), or TCP with
//! TLS (rustls) and a bearer token read from a 0600 file. TCP without them is refused.

use std::fmt;
use std::net::SocketAddr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream, UnixListener};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

use crate::auth::Token;
use crate::error::ServerError;

/// How long a client has to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the server listens: `unix:PATH` or `tcp:ADDR:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// A unix socket at this path.
    Unix(PathBuf),
    /// A TCP address (TLS and a token required).
    Tcp(SocketAddr),
}

impl Listen {
    /// The default: `unix:/run/hub/hub.sock`.
    pub fn default_unix() -> Listen {
        Listen::Unix(PathBuf::from("/run/hub/hub.sock"))
    }
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Listen::Unix(p) => write!(f, "unix:{}", p.display()),
            Listen::Tcp(a) => write!(f, "tcp:{a}"),
        }
    }
}

impl FromStr for Listen {
    type Err = ServerError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| ServerError::BadListen {
            value: s.to_string(),
            reason: reason.to_string(),
        };
        if let Some(path) = s.strip_prefix("unix:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(bad("the socket path is empty"));
            }
            return Ok(Listen::Unix(PathBuf::from(path)));
        }
        if let Some(addr) = s.strip_prefix("tcp:") {
            return addr
                .parse()
                .map(Listen::Tcp)
                .map_err(|e| bad(&format!("not an ADDRESS:PORT ({e})")));
        }
        Err(bad("expected unix:PATH or tcp:ADDRESS:PORT"))
    }
}

/// The TLS certificate and key, and the file holding the bearer token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    /// The certificate chain (PEM).
    pub cert: PathBuf,
    /// The private key (PEM).
    pub key: PathBuf,
    /// The bearer token, alone in a file of mode 0600 (or stricter).
    pub token_file: PathBuf,
}

/// A bound listener and the token requests must carry (none on a unix socket).
pub(crate) struct Bound {
    kind: BoundKind,
    pub(crate) token: Option<Arc<Token>>,
}

enum BoundKind {
    Unix(UnixListener, PathBuf),
    Tls(TlsListener),
}

/// Binds where `listen` says, with `tls` for TCP (refused without it).
pub(crate) async fn bind(listen: &Listen, tls: Option<&Tls>) -> Result<Bound, ServerError> {
    match (listen, tls) {
        (Listen::Unix(path), None) => Ok(Bound {
            kind: BoundKind::Unix(bind_unix(path)?, path.clone()),
            token: None,
        }),
        (Listen::Unix(_), Some(_)) => Err(ServerError::Insecure(
            "--tls-cert, --tls-key and --token-file are for --listen tcp:ADDR; a unix socket is \
             guarded by its file mode and group"
                .into(),
        )),
        (Listen::Tcp(addr), None) => Err(ServerError::Insecure(format!(
            "refusing to listen on tcp:{addr} without TLS and a token: pass --tls-cert FILE \
             --tls-key FILE --token-file FILE"
        ))),
        (Listen::Tcp(addr), Some(tls)) => {
            let token = Arc::new(Token::read(&tls.token_file)?);
            let acceptor = acceptor(tls)?;
            let tcp = TcpListener::bind(addr)
                .await
                .map_err(|e| ServerError::io("listening on", addr.to_string(), e))?;
            Ok(Bound {
                kind: BoundKind::Tls(TlsListener::start(tcp, acceptor)?),
                token: Some(token),
            })
        }
    }
}

impl Bound {
    /// Serves `app` until `shutdown` fires; removes the unix socket afterwards.
    pub(crate) async fn serve(
        self,
        app: Router,
        shutdown: CancellationToken,
    ) -> Result<(), ServerError> {
        let stop = shutdown.clone().cancelled_owned();
        match self.kind {
            BoundKind::Unix(l, path) => {
                let r = axum::serve(l, app).with_graceful_shutdown(stop).await;
                let _ = std::fs::remove_file(&path);
                r.map_err(|e| ServerError::io("serving on", path, e))
            }
            BoundKind::Tls(l) => {
                let addr = l.addr;
                axum::serve(l, app)
                    .with_graceful_shutdown(stop)
                    .await
                    .map_err(|e| ServerError::io("serving on", addr.to_string(), e))
            }
        }
    }
}

/// Binds the unix socket: a stale socket (nobody answers) is replaced, a live one is an error;
/// the socket is 0660 and of group `hub` when that group exists.
fn bind_unix(path: &Path) -> Result<UnixListener, ServerError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            std::fs::create_dir_all(dir)
                .map_err(|e| ServerError::io("creating the socket's folder", dir, e))?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o750))
                .map_err(|e| ServerError::io("setting the mode of", dir, e))?;
            set_hub_group(dir)?;
        }
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(ServerError::io(
                "listening on",
                path,
                std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    "another server answers on this socket",
                ),
            ));
        }
        std::fs::remove_file(path)
            .map_err(|e| ServerError::io("removing the stale socket", path, e))?;
    }
    let l = UnixListener::bind(path).map_err(|e| ServerError::io("listening on", path, e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .map_err(|e| ServerError::io("setting the mode of", path, e))?;
    set_hub_group(path)?;
    Ok(l)
}

/// Gives `path` the group `hub` when the host has one (`/etc/group`).
fn set_hub_group(path: &Path) -> Result<(), ServerError> {
    let Some(gid) = group_id("hub") else {
        return Ok(());
    };
    let uid = std::fs::metadata(path)
        .map_err(|e| ServerError::io("reading", path, e))?
        .uid();
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .map_err(|e| ServerError::io("giving group hub to", path, e))
}

/// The id of a group, from `/etc/group`.
fn group_id(name: &str) -> Option<u32> {
    let text = std::fs::read_to_string("/etc/group").ok()?;
    text.lines().find_map(|line| {
        let mut f = line.split(':');
        (f.next()? == name).then_some(())?;
        f.nth(1)?.parse().ok()
    })
}

fn acceptor(tls: &Tls) -> Result<TlsAcceptor, ServerError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&tls.cert)
        .and_then(|i| i.collect::<Result<_, _>>())
        .map_err(|e| ServerError::Tls(format!("certificate {}: {e}", tls.cert.display())))?;
    if certs.is_empty() {
        return Err(ServerError::Tls(format!(
            "certificate {}: no certificate in it",
            tls.cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(&tls.key)
        .map_err(|e| ServerError::Tls(format!("key {}: {e}", tls.key.display())))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            ServerError::Tls(format!(
                "{} and {}: {e}",
                tls.cert.display(),
                tls.key.display()
            ))
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A TCP listener whose connections come out TLS-terminated. Handshakes run in their own
/// tasks (with a time limit), so a slow client does not hold up the others.
struct TlsListener {
    addr: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    fn start(tcp: TcpListener, acceptor: TlsAcceptor) -> Result<TlsListener, ServerError> {
        let addr = tcp
            .local_addr()
            .map_err(|e| ServerError::io("listening on", "tcp", e))?;
        let (tx, ready) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "accepting a TCP connection");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if tx.is_closed() {
                    return;
                }
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { addr, ready })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(c) => c,
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_parse() {
        assert_eq!(
            "unix:/run/hub/hub.sock".parse::<Listen>().unwrap(),
            Listen::Unix("/run/hub/hub.sock".into())
        );
        assert_eq!(
            "unix:///run/hub.sock".parse::<Listen>().unwrap(),
            Listen::Unix("/run/hub.sock".into())
        );
        assert_eq!(
            "tcp:127.0.0.1:8443".parse::<Listen>().unwrap(),
            Listen::Tcp("127.0.0.1:8443".parse().unwrap())
        );
        assert!("http://x".parse::<Listen>().is_err());
        assert!("tcp:nowhere".parse::<Listen>().is_err());
        assert!("unix:".parse::<Listen>().is_err());
    }
}
