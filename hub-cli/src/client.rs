//! `hub --server unix:///run/hub/hub.sock ...`: the CLI as a client of `hub serve`, over its
//! unix socket (HTTP/1.1, one connection per request).

use std::path::PathBuf;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;

use super::UsageError;

/// A `hub serve` reached through its unix socket.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
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
            Err(_) => vec![format!(
                "the server answered {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body).trim()
            )],
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
                    "--server {url:?}: expected unix:///PATH (the socket `hub serve` listens on)"
                ))
            })?;
        Ok(Client {
            socket: PathBuf::from(path),
        })
    }

    /// Sends one request and reads the whole answer.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> anyhow::Result<Answer> {
        let stream = tokio::net::UnixStream::connect(&self.socket)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot reach the hub server at {}: {e} (is `hub serve` running?)",
                    self.socket.display()
                )
            })?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| anyhow::anyhow!("talking to the hub server: {e}"))?;
        let driver = tokio::spawn(conn);
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, "hub")
            .header(hyper::header::CONTENT_TYPE, "application/yaml")
            .body(Full::new(Bytes::from(body.unwrap_or_default())))?;
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
}
