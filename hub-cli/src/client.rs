//! `hub --server unix:///run/hub/hub.sock ...`: the CLI as a client of `hub serve`, over its
//! unix socket, or over TCP with TLS and the bearer token (`https://HOST:PORT` with
//! `--server-ca FILE --server-token-file FILE`); HTTP/1.1, one connection per request.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;

use super::UsageError;

/// A `hub serve` reached through its unix socket, or over TLS with a token.
#[derive(Clone)]
pub struct Client {
    transport: Transport,
}

#[derive(Clone)]
enum Transport {
    Unix(PathBuf),
    Tls(Arc<TlsServer>),
}

/// A server over TCP: where, how its certificate is checked, and the token it wants.
struct TlsServer {
    host: String,
    port: u16,
    name: ServerName<'static>,
    connector: TlsConnector,
    token: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        match &self.transport {
            Transport::Unix(p) => write!(f, "Client(unix://{})", p.display()),
            Transport::Tls(s) => write!(f, "Client(https://{}:{})", s.host, s.port),
        }
    }
}

/// An answer: its status and body.
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body.
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON of type `T`.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> anyhow::Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            anyhow::anyhow!(
                "the server answered {} with a body that is not what was expected: {e}",
                self.status
            )
        })
    }

    /// The error messages of an error answer (`{"errors": [...]}`), else the body as text.
    pub fn errors(&self) -> Vec<String> {
        match serde_json::from_slice::<hub_server::ErrorBody>(&self.body) {
            Ok(b) => b.errors.into_iter().map(|e| e.message).collect(),
            Err(_) => {
                let text = String::from_utf8_lossy(&self.body);
                match text.trim() {
                    "" => vec![format!("the server answered {}", self.status)],
                    text => vec![format!("the server answered {}: {text}", self.status)],
                }
            }
        }
    }
}

impl Client {
    /// The server at `url`: `unix:///PATH` or `unix:PATH`.
    pub fn parse(url: &str) -> Result<Client, UsageError> {
        let path = url
            .strip_prefix("unix://")
            .or_else(|| url.strip_prefix("unix:"))
            .filter(|p| !p.is_empty())
            .ok_or_else(|| {
                UsageError(format!(
                    "--server {url:?}: expected unix:///PATH (the socket `hub serve` listens on) \
                     or https://HOST:PORT"
                ))
            })?;
        Ok(Client {
            transport: Transport::Unix(PathBuf::from(path)),
        })
    }

    /// The server at `url`: a unix socket (`unix:///PATH`), or `https://HOST:PORT`, whose
    /// certificate is checked against the CA (or certificate) in `ca` (PEM) and which is sent
    /// the bearer token of `token_file` (a file only its owner can read).
    pub fn connect(
        url: &str,
        ca: Option<&Path>,
        token_file: Option<&Path>,
    ) -> anyhow::Result<Client> {
        let Some(rest) = url.strip_prefix("https://") else {
            return Ok(Client::parse(url)?);
        };
        let usage = |what: &str| UsageError(format!("--server {url:?}: {what}"));
        let authority = rest.trim_end_matches('/');
        let (host, port) = authority
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
            .ok_or_else(|| usage("expected https://HOST:PORT"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(usage("expected https://HOST:PORT").into());
        }
        let ca = ca.ok_or_else(|| {
            usage("https needs --server-ca FILE (the server's CA or certificate, PEM)")
        })?;
        let token_file = token_file.ok_or_else(|| {
            usage("https needs --server-token-file FILE (the bearer token, mode 0600)")
        })?;
        let token = hub_server::read_token_file(token_file)?;
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| usage(&format!("{host:?} is no host name or address ({e})")))?;
        Ok(Client {
            transport: Transport::Tls(Arc::new(TlsServer {
                host: host.to_string(),
                port,
                name,
                connector: tls_connector(ca)?,
                token,
            })),
        })
    }

    /// Sends one request and reads the whole answer.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> anyhow::Result<Answer> {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::CONTENT_TYPE, "application/yaml");
        let body = Full::new(Bytes::from(body.unwrap_or_default()));
        match &self.transport {
            Transport::Unix(socket) => {
                let stream = tokio::net::UnixStream::connect(socket).await.map_err(|e| {
                    anyhow::anyhow!(
                        "cannot reach the hub server at {}: {e} (is `hub serve` running?)",
                        socket.display()
                    )
                })?;
                let request = request.header(hyper::header::HOST, "hub").body(body)?;
                exchange(stream, request).await
            }
            Transport::Tls(server) => {
                let at = format!("{}:{}", server.host, server.port);
                let tcp = tokio::net::TcpStream::connect((server.host.as_str(), server.port))
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "cannot reach the hub server at {at}: {e} (is `hub serve` running?)"
                        )
                    })?;
                let tls = server
                    .connector
                    .connect(server.name.clone(), tcp)
                    .await
                    .map_err(|e| anyhow::anyhow!("TLS with the hub server at {at}: {e}"))?;
                let request = request
                    .header(hyper::header::HOST, at)
                    .header(
                        hyper::header::AUTHORIZATION,
                        format!("Bearer {}", server.token),
                    )
                    .body(body)?;
                exchange(tls, request).await
            }
        }
    }
}

/// A TLS client trusting the certificates of the PEM file `ca` (and nothing else).
fn tls_connector(ca: &Path) -> anyhow::Result<TlsConnector> {
    let bad = |e: &dyn std::fmt::Display| anyhow::anyhow!("--server-ca {}: {e}", ca.display());
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca)
        .and_then(|i| i.collect::<Result<_, _>>())
        .map_err(|e| bad(&e))?;
    if certs.is_empty() {
        return Err(bad(&"no certificate in it"));
    }
    for cert in certs {
        roots.add(cert).map_err(|e| bad(&e))?;
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(&e))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

/// One HTTP/1.1 exchange on `io`: sends `request`, reads the whole answer.
async fn exchange<S>(io: S, request: Request<Full<Bytes>>) -> anyhow::Result<Answer>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| anyhow::anyhow!("talking to the hub server: {e}"))?;
    let driver = tokio::spawn(conn);
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| anyhow::anyhow!("talking to the hub server: {e}"))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("reading the hub server's answer: {e}"))?
        .to_bytes();
    driver.abort();
    Ok(Answer { status, body })
}
