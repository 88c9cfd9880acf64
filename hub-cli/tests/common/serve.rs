//! A `hub serve` for tests: started on a unix socket (or TCP with TLS) in a temporary state
//! root, reached with curl, the plain HTTP client; killed and its labs removed when dropped.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use super::{HUB, hub, wait_for};

/// A running `hub serve`.
pub struct Serve {
    /// The server process.
    pub child: Option<Child>,
    /// Its socket (unix) or `None` (TCP).
    pub socket: Option<PathBuf>,
    /// Its state root.
    pub state: PathBuf,
    /// Labs removed (with `hub down --lab`) when dropped.
    pub labs: Vec<String>,
}

impl Serve {
    /// Starts `hub serve --listen unix:DIR/hub.sock --state-dir STATE EXTRA...` and waits until
    /// it answers.
    pub fn unix(dir: &Path, state: &Path, extra: &[&str]) -> Serve {
        Serve::unix_at(&dir.join("hub.sock"), state, extra)
    }

    /// A server on `DIR/hub.sock` with its state root `DIR/state`, in a new temporary folder
    /// DIR, that removes `lab` when dropped; (DIR, the state root, the server).
    pub fn for_lab(lab: &str) -> (tempfile::TempDir, PathBuf, Serve) {
        let dir = super::tempdir();
        let state = dir.path().join("state");
        let mut server = Serve::unix(dir.path(), &state, &[]);
        server.labs.push(lab.into());
        (dir, state, server)
    }

    /// Starts `hub serve --listen unix:SOCKET --state-dir STATE EXTRA...` and waits until it
    /// answers.
    pub fn unix_at(socket: &Path, state: &Path, extra: &[&str]) -> Serve {
        let socket = socket.to_path_buf();
        let child = spawn(
            state,
            &[&["--listen", &format!("unix:{}", socket.display())], extra].concat(),
        );
        let s = Serve {
            child: Some(child),
            socket: Some(socket.clone()),
            state: state.to_path_buf(),
            labs: Vec::new(),
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while s.curl(&["http://hub/labs"]).0 != 200 {
            assert!(
                std::time::Instant::now() < deadline,
                "hub serve does not answer on its socket within 30 s; its log:\n{}",
                std::fs::read_to_string(state.with_extension("serve.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        s
    }

    /// Sends `curl ARGS` to the server's socket; (status, body).
    pub fn curl(&self, args: &[&str]) -> (u16, String) {
        let socket = self.socket.as_ref().expect("a unix server");
        curl(&[&["--unix-socket", &socket.display().to_string()], args].concat())
    }

    /// `PUT /labs/LAB` with `spec`; (status, body).
    pub fn put(&self, lab: &str, spec: &str) -> (u16, String) {
        self.curl(&[
            "-X",
            "PUT",
            "--data-binary",
            spec,
            &format!("http://hub/labs/{lab}"),
        ])
    }

    /// `POST /labs/LAB/workloads/WORKLOAD/exec` with `body` (JSON); (status, body).
    pub fn exec(&self, lab: &str, workload: &str, body: &str) -> (u16, String) {
        self.curl(&[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "--data",
            body,
            &format!("http://hub/labs/{lab}/workloads/{workload}/exec"),
        ])
    }

    /// `curl -N` on the event stream, returned once the server says the subscription is in
    /// place (its `: subscribed` line), so no later change is missed; read the rest with
    /// [`Events::finish`] after the server stopped.
    pub fn events(&self) -> Events {
        let socket = self.socket.as_ref().expect("a unix server");
        let mut child = Command::new("curl")
            .args(["-sSN", "--max-time", "300", "--unix-socket"])
            .arg(socket)
            .arg("http://hub/events")
            .stdout(Stdio::piped())
            .spawn()
            .expect("curl runs");
        let mut reader = BufReader::new(child.stdout.take().expect("curl's stdout"));
        let mut seen = String::new();
        // Bounded: curl gives up after --max-time, which ends the stream.
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => panic!("the event stream ended before it opened: {seen}"),
                Ok(_) if line.trim_end() == ": subscribed" => break,
                Ok(_) => seen.push_str(&line),
            }
        }
        Events { child, reader }
    }

    /// `DELETE /labs/LAB?wait=true`; (status, body).
    pub fn delete_and_wait(&self, lab: &str) -> (u16, String) {
        self.curl(&["-X", "DELETE", &format!("http://hub/labs/{lab}?wait=true")])
    }

    /// The lab's JSON from `GET /labs/LAB` (404 gives `None`).
    pub fn lab(&self, lab: &str) -> Option<serde_json::Value> {
        let (code, body) = self.curl(&[&format!("http://hub/labs/{lab}")]);
        match code {
            200 => Some(serde_json::from_str(&body).expect("a lab's JSON")),
            404 => None,
            _ => panic!("GET /labs/{lab}: {code} {body}"),
        }
    }

    /// Polls the lab until its phase is no longer `converging` (or `deleting`); the final JSON.
    pub fn settle(&self, lab: &str, limit: Duration) -> Option<serde_json::Value> {
        let mut last = None;
        wait_for(&format!("lab {lab} settles"), limit, || {
            last = self.lab(lab);
            !matches!(
                last.as_ref().and_then(|v| v["phase"].as_str()),
                Some("converging" | "deleting")
            )
        });
        last
    }

    /// Kills the server with SIGKILL and reaps it.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let _ = c.wait();
        }
        for lab in &self.labs {
            let _ = hub(&self.state, &["down", "--lab", lab]);
        }
    }
}

/// Starts `hub serve --state-dir STATE ARGS` (its log in STATE/../serve.log).
pub fn spawn(state: &Path, args: &[&str]) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(state.with_extension("serve.log"))
        .expect("the server's log");
    Command::new(HUB)
        .arg("serve")
        .args(args)
        .arg("--state-dir")
        .arg(state)
        .args(["--log-level", "info"])
        .env("HUB_BIN", HUB)
        .env_remove("HUB_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("hub serve starts")
}

/// `curl -sS ARGS`, with the status on a last line of its own; (status, body).
pub fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "120", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    let code = code.trim().parse().unwrap_or_else(|_| {
        panic!(
            "curl {args:?} gave no status: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (code, body.to_string())
}

/// A spec of `n` busybox containers (`c1`...), the first serving HTTP.
pub fn containers_spec(lab: &str, subnet: &str, n: usize) -> String {
    let mut s = format!("name: {lab}\nsubnet: {subnet}\ncontainers:\n");
    for i in 1..=n {
        let cmd = if i == 1 {
            r#"[httpd, -f, -p, "80", -h, /]"#
        } else {
            r#"[sleep, "3600"]"#
        };
        s.push_str(&format!(
            "  - name: c{i}\n    image: hub-test/busybox:latest\n    cmd: {cmd}\n"
        ));
    }
    s
}

/// An open event stream (`curl -N` on `/events`).
pub struct Events {
    child: Child,
    reader: BufReader<ChildStdout>,
}

impl Events {
    /// What the stream said after it opened, read to its end (the server stopped, or curl's
    /// time limit passed).
    pub fn finish(mut self) -> String {
        let mut text = String::new();
        self.reader
            .read_to_string(&mut text)
            .expect("the event stream reads");
        let _ = self.child.wait();
        text
    }
}
