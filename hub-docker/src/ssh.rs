//! A Docker Engine on another machine reached over SSH, as the docker CLI reaches
//! `DOCKER_HOST=ssh://...`: each HTTP connection of the client is one child
//! `ssh HOST docker system dial-stdio`, whose stdin and stdout carry the connection. The host
//! needs sshd and the docker CLI (Debian's docker.io has it), nothing else.
//!
//! Why a child per connection rather than a tunnel (`ssh -L LOCAL.sock:/var/run/docker.sock`):
//! nothing is left on this machine, whatever happens to the hub. There is no socket file, and a
//! child's stdin is a pipe from the hub: when the hub exits, even by SIGKILL, ssh reads EOF,
//! the remote `dial-stdio` ends and ssh exits with it. A child is killed when its connection
//! is dropped (the client's pool closes idle ones after [`POOL_IDLE`]).
//!
//! Why not bollard's `ssh` feature: it starts an openssh master per connection and cannot be
//! told how to check host keys. Here ssh runs with `StrictHostKeyChecking=yes` (a host whose
//! key is unknown or changed is refused, never added), `BatchMode=yes` (never a prompt: CI has
//! no terminal), a bounded connect timeout, and none of the user's multiplexing or forwarding.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::task::JoinHandle;

/// How long ssh may take to reach the host (its `ConnectTimeout`).
pub const SSH_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection may take from starting ssh to the remote command running (the TCP
/// connection, the key exchange, authentication).
pub const SSH_READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an idle connection (and its ssh child) is kept for the next request.
pub const POOL_IDLE: Duration = Duration::from_secs(30);

/// What the remote command prints once ssh is through, before it becomes the connection.
const READY: &[u8] = b"hub-ssh-ready\n";
/// The remote command: the host's own docker CLI joins the connection to its engine.
const REMOTE_COMMAND: &str = "echo hub-ssh-ready; exec docker system dial-stdio";
/// The most a login shell may print before the marker (a chatty rc file).
const MAX_BEFORE_READY: usize = 64 * 1024;
/// The most of ssh's stderr kept for an error message.
const MAX_STDERR: usize = 4096;

/// A Docker Engine reached over SSH: `ssh://[USER@]HOST[:PORT]`, the identity and the
/// known_hosts file to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    /// The login user (`None`: ssh's choice: the local user or `~/.ssh/config`).
    pub user: Option<String>,
    /// The host name or address.
    pub host: String,
    /// The port (`None`: 22 or `~/.ssh/config`).
    pub port: Option<u16>,
    /// The identity (private key) file; `None`: ssh's own (the agent, `~/.ssh/id_*`).
    pub identity: Option<PathBuf>,
    /// The known_hosts file the host's key must be in; `None`: the user's
    /// (`~/.ssh/known_hosts`, `/etc/ssh/ssh_known_hosts`).
    pub known_hosts: Option<PathBuf>,
}

impl SshTarget {
    /// The engine of `host` (set the rest with the other methods).
    pub fn new(host: impl Into<String>) -> Self {
        SshTarget {
            user: None,
            host: host.into(),
            port: None,
            identity: None,
            known_hosts: None,
        }
    }
    /// Logs in as `user`.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }
    /// Connects to `port`.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }
    /// Authenticates with the private key `file` (and no other).
    pub fn identity(mut self, file: impl Into<PathBuf>) -> Self {
        self.identity = Some(file.into());
        self
    }
    /// Checks the host's key against `file` only.
    pub fn known_hosts(mut self, file: impl Into<PathBuf>) -> Self {
        self.known_hosts = Some(file.into());
        self
    }

    /// `ssh://[USER@]HOST[:PORT]`.
    pub fn url(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let user = self
            .user
            .as_ref()
            .map(|u| format!("{u}@"))
            .unwrap_or_default();
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        format!("ssh://{user}{host}{port}")
    }

    /// The ssh arguments, up to and including the remote command.
    pub fn args(&self) -> Vec<String> {
        let mut args: Vec<String> = ["-T", "-x", "-a"].map(String::from).to_vec();
        let mut opt = |o: String| {
            args.push("-o".into());
            args.push(o);
        };
        for o in [
            "BatchMode=yes",
            "StrictHostKeyChecking=yes",
            "UpdateHostKeys=no",
            "ServerAliveInterval=10",
            "ServerAliveCountMax=3",
            "ControlMaster=no",
            "ControlPath=none",
            "ClearAllForwardings=yes",
            "PermitLocalCommand=no",
            "LogLevel=ERROR",
        ] {
            opt(o.into());
        }
        opt(format!("ConnectTimeout={}", SSH_CONNECT_TIMEOUT.as_secs()));
        if let Some(file) = &self.known_hosts {
            opt(format!("UserKnownHostsFile={}", ssh_path(file)));
            opt("GlobalKnownHostsFile=/dev/null".into());
        }
        if let Some(key) = &self.identity {
            opt(format!("IdentityFile={}", ssh_path(key)));
            opt("IdentitiesOnly=yes".into());
        }
        if let Some(user) = &self.user {
            args.extend(["-l".into(), user.clone()]);
        }
        if let Some(port) = self.port {
            args.extend(["-p".into(), port.to_string()]);
        }
        args.extend(["--".into(), self.host.clone(), REMOTE_COMMAND.into()]);
        args
    }

    /// Where the host's key is looked up, for messages.
    fn known_hosts_shown(&self) -> String {
        match &self.known_hosts {
            Some(f) => f.display().to_string(),
            None => "~/.ssh/known_hosts".into(),
        }
    }

    /// What to do about a failure ssh described as `stderr`, if there is something to say.
    fn advice(&self, stderr: &str) -> Option<String> {
        let file = self.known_hosts_shown();
        let host = match self.port {
            Some(p) if p != 22 => format!("[{}]:{p}", self.host),
            _ => self.host.clone(),
        };
        let scan = match self.port {
            Some(p) => format!("ssh-keyscan -p {p} {}", self.host),
            None => format!("ssh-keyscan {}", self.host),
        };
        if stderr.contains("Host key verification failed")
            || stderr.contains("host key is known")
            || stderr.contains("HOST IDENTIFICATION HAS CHANGED")
        {
            let changed = stderr.contains("HAS CHANGED") || stderr.contains("has changed");
            let what = if changed {
                format!("the host's SSH key is not the one {file} holds for {host}")
            } else {
                format!("{file} holds no key for {host}")
            };
            let fix = if changed {
                format!(
                    "if the host was really re-keyed, remove the old entry \
                     (`ssh-keygen -R {host} -f {file}`) and add the new one"
                )
            } else {
                "add its key".into()
            };
            return Some(format!(
                "{what}; the hub never accepts a host key by itself: compare the key's \
                 fingerprint with the one the host shows (`ssh-keygen -lf \
                 /etc/ssh/ssh_host_ed25519_key.pub` there), then {fix} (`{scan} >> {file}`)"
            ));
        }
        if stderr.contains("Permission denied") && stderr.contains("publickey") {
            return Some(match &self.identity {
                Some(k) => format!(
                    "the host did not accept the key {}: add its .pub to the user's \
                     ~/.ssh/authorized_keys there",
                    k.display()
                ),
                None => "the host accepted none of the user's keys: give the host entry \
                         `ssh_key`, or add a key to ~/.ssh/authorized_keys there"
                    .into(),
            });
        }
        if stderr.contains("docker: not found") || stderr.contains("docker: command not found") {
            return Some(
                "the host has no docker CLI on the user's PATH (`docker system dial-stdio` \
                 runs there; Debian's docker.io has it)"
                    .into(),
            );
        }
        if stderr.contains("permission denied") && stderr.contains("docker") {
            return Some(
                "the user may not use the host's Docker socket: log in as root or as a member \
                 of the host's docker group"
                    .into(),
            );
        }
        None
    }
}

/// A path as an ssh option's value: quoted (it may hold spaces), with ssh's `%` tokens and
/// quoting escaped.
fn ssh_path(p: &Path) -> String {
    let s = p.display().to_string();
    let escaped = s
        .replace('%', "%%")
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    format!("\"{escaped}\"")
}

/// Why an SSH connection to an engine failed.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// There is no `ssh` on this machine.
    #[error("ssh (OpenSSH's client) is not installed on this machine; install openssh-client")]
    NoClient,
    /// ssh could not be started.
    #[error("starting ssh for {url}: {source}")]
    Spawn {
        /// The endpoint.
        url: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// ssh ended before the remote command ran (cannot connect, unknown or changed host key,
    /// refused login): ssh's own words, and what to do.
    #[error("ssh to {url} failed ({status}): {message}{advice}")]
    Failed {
        /// The endpoint.
        url: String,
        /// ssh's exit status.
        status: String,
        /// What ssh printed.
        message: String,
        /// `; ` and what to do, or nothing.
        advice: String,
    },
    /// ssh did not get through in time.
    #[error("ssh to {url} did not get through within {}s", SSH_READY_TIMEOUT.as_secs())]
    Timeout {
        /// The endpoint.
        url: String,
    },
    /// The remote command ended before the engine answered (no docker CLI, no access to the
    /// engine's socket).
    #[error("the Docker Engine at {url} closed the connection before answering: {message}{advice}")]
    Closed {
        /// The endpoint.
        url: String,
        /// What the remote side printed.
        message: String,
        /// `; ` and what to do, or nothing.
        advice: String,
    },
}

/// ssh's stderr as one line: its lines joined, the banner's rows of `@` left out.
fn one_line(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.chars().all(|c| c == '@'))
        .collect();
    if lines.is_empty() {
        "(ssh printed nothing)".into()
    } else {
        lines.join(" ")
    }
}

fn advice(target: &SshTarget, stderr: &str) -> String {
    target
        .advice(stderr)
        .map(|a| format!("; {a}"))
        .unwrap_or_default()
}

/// Reads `stderr` to its end, keeping the last [`MAX_STDERR`] bytes.
fn collect_stderr(mut stderr: tokio::process::ChildStderr) -> JoinHandle<String> {
    tokio::spawn(async move {
        let mut kept = Vec::new();
        let mut chunk = [0u8; 1024];
        while let Ok(n) = stderr.read(&mut chunk).await {
            if n == 0 {
                break;
            }
            kept.extend_from_slice(&chunk[..n]);
            if kept.len() > MAX_STDERR {
                kept.drain(..kept.len() - MAX_STDERR);
            }
        }
        String::from_utf8_lossy(&kept).into_owned()
    })
}

/// What ssh said once it has ended (bounded: its stderr closes when it exits).
async fn said(stderr: JoinHandle<String>) -> String {
    match tokio::time::timeout(Duration::from_secs(5), stderr).await {
        Ok(Ok(s)) => s,
        _ => String::new(),
    }
}

/// One connection: an ssh child running `docker system dial-stdio` on the host.
pub(crate) struct SshStream {
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    /// Killed when the stream is dropped.
    _child: Child,
    target: Arc<SshTarget>,
    /// Whether the engine has sent anything: an end before that is explained from stderr.
    answered: bool,
    stderr: Option<JoinHandle<String>>,
    /// Explaining an early end: ssh's stderr, read to its end.
    explaining: Option<Pin<Box<dyn Future<Output = String> + Send>>>,
    /// ssh's stderr once read, for every later call.
    explained: Option<String>,
}

impl SshStream {
    /// Starts ssh and waits until the remote command runs.
    async fn open(target: Arc<SshTarget>) -> Result<SshStream, SshError> {
        let url = target.url();
        let mut child = Command::new("ssh")
            .args(target.args())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            // Its own process group: a Ctrl-C meant for the hub does not cut its connections
            // mid-request; it still ends with the hub (stdin closes).
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| match source.kind() {
                io::ErrorKind::NotFound => SshError::NoClient,
                _ => SshError::Spawn {
                    url: url.clone(),
                    source,
                },
            })?;
        let (Some(stdin), Some(mut stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(SshError::Spawn {
                url,
                source: io::Error::other("ssh's pipes were not made"),
            });
        };
        let stderr = collect_stderr(stderr);
        match tokio::time::timeout(SSH_READY_TIMEOUT, wait_ready(&mut stdout)).await {
            Ok(Ok(())) => Ok(SshStream {
                stdin: Some(stdin),
                stdout,
                _child: child,
                target,
                answered: false,
                stderr: Some(stderr),
                explaining: None,
                explained: None,
            }),
            Ok(Err(_)) => {
                drop(stdin);
                let status = match tokio::time::timeout(Duration::from_secs(5), child.wait()).await
                {
                    Ok(Ok(s)) => s.to_string(),
                    _ => "still running".into(),
                };
                let stderr = said(stderr).await;
                Err(SshError::Failed {
                    url,
                    status,
                    message: one_line(&stderr),
                    advice: advice(&target, &stderr),
                })
            }
            Err(_) => Err(SshError::Timeout { url }),
        }
    }

    /// The error for an end before the engine answered (a failed write or an early EOF),
    /// once ssh's stderr is read.
    fn poll_explain(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        if self.explained.is_none() {
            let stderr = self.stderr.take();
            let fut = self.explaining.get_or_insert_with(|| {
                Box::pin(async move {
                    match stderr {
                        Some(s) => said(s).await,
                        None => String::new(),
                    }
                })
            });
            self.explained = Some(ready!(fut.as_mut().poll(cx)));
            self.explaining = None;
        }
        let stderr = self.explained.as_deref().unwrap_or_default();
        Poll::Ready(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            SshError::Closed {
                url: self.target.url(),
                message: one_line(stderr),
                advice: advice(&self.target, stderr),
            },
        ))
    }

    /// Whether an early end is being (or has been) explained.
    fn ending(&self) -> bool {
        self.explaining.is_some() || self.explained.is_some()
    }
}

/// Reads up to the ready marker (skipping what a login shell printed before it); `Err` when
/// ssh ends first.
async fn wait_ready(stdout: &mut ChildStdout) -> io::Result<()> {
    let mut seen = Vec::with_capacity(READY.len());
    let mut byte = [0u8; 1];
    while seen.len() < MAX_BEFORE_READY {
        if stdout.read(&mut byte).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        seen.push(byte[0]);
        if seen.ends_with(READY) {
            return Ok(());
        }
    }
    Err(io::Error::other("no ready line from the remote command"))
}

impl AsyncRead for SshStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.ending() {
            return this.poll_explain(cx).map(Err);
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.stdout).poll_read(cx, buf))?;
        if buf.filled().len() > before {
            this.answered = true;
        } else if !this.answered {
            return this.poll_explain(cx).map(Err);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for SshStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.ending() {
            return this.poll_explain(cx).map(Err);
        }
        let Some(stdin) = this.stdin.as_mut() else {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        };
        match ready!(Pin::new(stdin).poll_write(cx, buf)) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe && !this.answered => {
                this.poll_explain(cx).map(Err)
            }
            r => Poll::Ready(r),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().stdin.as_mut() {
            Some(stdin) => Pin::new(stdin).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Closing ssh's stdin is the end of our half: the remote dial-stdio passes it on.
        self.get_mut().stdin = None;
        Poll::Ready(Ok(()))
    }
}

impl Connection for SshStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

/// Opens an [`SshStream`] per connection the client's pool asks for.
#[derive(Clone)]
pub(crate) struct SshConnector {
    target: Arc<SshTarget>,
}

impl SshConnector {
    pub(crate) fn new(target: SshTarget) -> Self {
        SshConnector {
            target: Arc::new(target),
        }
    }
}

impl tower_service::Service<hyper::Uri> for SshConnector {
    type Response = TokioIo<SshStream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: hyper::Uri) -> Self::Future {
        let target = Arc::clone(&self.target);
        Box::pin(async move {
            SshStream::open(target)
                .await
                .map(TokioIo::new)
                .map_err(|e| io::Error::new(io::ErrorKind::ConnectionRefused, e))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_checks_host_keys_never_prompts_and_uses_only_the_given_files() {
        let t = SshTarget::new("10.0.0.3")
            .user("hub")
            .port(2222)
            .identity("/k/my key")
            .known_hosts("/k/known%hosts");
        assert_eq!(t.url(), "ssh://hub@10.0.0.3:2222");
        let args = t.args().join(" ");
        for want in [
            "-o BatchMode=yes",
            "-o StrictHostKeyChecking=yes",
            "-o UpdateHostKeys=no",
            "-o ConnectTimeout=10",
            "-o ControlPath=none",
            "-o UserKnownHostsFile=\"/k/known%%hosts\" -o GlobalKnownHostsFile=/dev/null",
            "-o IdentityFile=\"/k/my key\" -o IdentitiesOnly=yes",
            "-l hub -p 2222 -- 10.0.0.3 echo hub-ssh-ready; exec docker system dial-stdio",
        ] {
            assert!(args.contains(want), "{want} in {args}");
        }
        let plain = SshTarget::new("fd00::3").args().join(" ");
        assert!(
            !plain.contains("KnownHostsFile") && !plain.contains("IdentityFile"),
            "{plain}"
        );
        assert_eq!(SshTarget::new("fd00::3").url(), "ssh://[fd00::3]");
    }

    #[test]
    fn host_key_failures_say_what_to_do() {
        let t = SshTarget::new("10.0.0.3").known_hosts("/k/known");
        let unknown = "No ED25519 host key is known for 10.0.0.3 and you have requested strict \
                       checking.\r\nHost key verification failed.\r\n";
        let a = t.advice(unknown).unwrap();
        assert!(
            a.contains("/k/known holds no key for 10.0.0.3")
                && a.contains("never accepts a host key")
                && a.contains("ssh-keyscan 10.0.0.3 >> /k/known"),
            "{a}"
        );
        let changed = "@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n\
                       @@@@@@@@\nHost key for 10.0.0.3 has changed and you have requested \
                       strict checking.\nHost key verification failed.\n";
        let a = t.advice(changed).unwrap();
        assert!(a.contains("ssh-keygen -R 10.0.0.3 -f /k/known"), "{a}");
        assert!(!one_line(changed).contains("@@@@@@@@"));
        assert!(one_line(changed).starts_with("@    WARNING: REMOTE HOST IDENTIFICATION"));
        let t = SshTarget::new("h3").port(2222);
        let a = t
            .advice("No ED25519 host key is known for [h3]:2222")
            .unwrap();
        assert!(
            a.contains("~/.ssh/known_hosts holds no key for [h3]:2222")
                && a.contains("ssh-keyscan -p 2222 h3"),
            "{a}"
        );
        assert!(
            t.advice("ssh: connect to host h3 port 2222: Connection refused")
                .is_none()
        );
    }
}
