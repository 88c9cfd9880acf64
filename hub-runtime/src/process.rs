//! The one way the backends run the host's tools (`virsh`, `qemu-img`, `ssh`, `ip`, `wg`, ...):
//! a [`Tool`] names its program and arguments, may feed secrets on stdin and may have a time
//! limit, and its failures become a [`ToolError`] that names the command line and carries what
//! the tool printed on stderr, with every secret that went in on stdin redacted.
//!
//! ```
//! use hub_runtime::process::{Tool, ToolError};
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let out = Tool::new("sh").args(["-c", "echo hello"]).run().await.unwrap();
//! assert_eq!(out, "hello\n");
//! let err = Tool::new("sh").args(["-c", "echo oops >&2; exit 3"]).run().await.unwrap_err();
//! assert!(matches!(err, ToolError::Failed { ref stderr, .. } if stderr == "oops"));
//! # });
//! ```

use std::ffi::{OsStr, OsString};
use std::io::Write as _;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::AsyncWriteExt as _;

/// A command line to run.
#[derive(Debug, Clone)]
pub struct Tool {
    program: OsString,
    args: Vec<OsString>,
    stdin: Option<Vec<u8>>,
    timeout: Option<Duration>,
}

/// What a finished tool left: its exit status and its output (lossy UTF-8; stderr trimmed and
/// redacted).
#[derive(Debug, Clone)]
pub struct Finished {
    /// The exit status.
    pub status: ExitStatus,
    /// Everything it wrote on stdout.
    pub stdout: String,
    /// What it wrote on stderr, trimmed, secrets from stdin redacted.
    pub stderr: String,
}

impl Finished {
    /// Whether it exited with status 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }
}

/// Why a tool did not do its job.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// It could not be started (not installed, not executable).
    #[error("cannot run `{program}`: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// It ran longer than its time limit and was killed.
    #[error("`{command}` did not finish within {limit:?}")]
    TimedOut {
        /// The command line.
        command: String,
        /// The limit it had.
        limit: Duration,
    },
    /// It exited with a failure status.
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// What it printed on stderr (trimmed; secrets from stdin redacted).
        stderr: String,
    },
}

impl Tool {
    /// Runs `program` (looked up on `PATH`).
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Tool {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            stdin: None,
            timeout: None,
        }
    }

    /// Adds one argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Feeds `input` on stdin: how secrets reach a tool, never on its command line. Every
    /// word of it of 16 characters or more (a key) is redacted from the stderr it reports.
    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(input.into());
        self
    }

    /// Kills the tool, and fails with [`ToolError::TimedOut`], when it runs longer than `limit`.
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }

    /// The command line, for messages: the program and its arguments, space-separated.
    pub fn command_line(&self) -> String {
        std::iter::once(&self.program)
            .chain(&self.args)
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Runs it and returns how it finished, whatever its exit status; only a tool that cannot
    /// start or runs out of time is an error.
    pub async fn output(self) -> Result<Finished, ToolError> {
        let command = self.command_line();
        tracing::trace!(%command, "running");
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(&self.args)
            .stdin(self.stdin_mode())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|source| self.spawn_error(source))?;
        if let (Some(input), Some(mut pipe)) = (&self.stdin, child.stdin.take()) {
            // A child that exits early closes the pipe; its exit status tells what happened.
            let _ = pipe.write_all(input).await;
        }
        let done = child.wait_with_output();
        let out = match self.timeout {
            None => done.await,
            // Dropping the unfinished future kills the child (kill_on_drop).
            Some(limit) => tokio::time::timeout(limit, done)
                .await
                .map_err(|_| ToolError::TimedOut { command, limit })?,
        }
        .map_err(|source| self.spawn_error(source))?;
        Ok(self.finished(out))
    }

    /// Runs it; its stdout, or [`ToolError::Failed`] with its stderr.
    pub async fn run(self) -> Result<String, ToolError> {
        let line = self.command_line();
        Self::stdout_of(line, self.output().await?)
    }

    /// [`Tool::output`] for callers outside an async runtime (no time limit there).
    pub fn output_blocking(self) -> Result<Finished, ToolError> {
        tracing::trace!(command = %self.command_line(), "running");
        let mut child = std::process::Command::new(&self.program)
            .args(&self.args)
            .stdin(self.stdin_mode())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| self.spawn_error(source))?;
        if let (Some(input), Some(mut pipe)) = (&self.stdin, child.stdin.take()) {
            let _ = pipe.write_all(input);
        }
        let out = child
            .wait_with_output()
            .map_err(|source| self.spawn_error(source))?;
        Ok(self.finished(out))
    }

    /// [`Tool::run`] for callers outside an async runtime.
    pub fn run_blocking(self) -> Result<String, ToolError> {
        let line = self.command_line();
        Self::stdout_of(line, self.output_blocking()?)
    }

    fn stdin_mode(&self) -> Stdio {
        if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        }
    }

    fn spawn_error(&self, source: std::io::Error) -> ToolError {
        ToolError::Spawn {
            program: self.program.to_string_lossy().into_owned(),
            source,
        }
    }

    fn finished(&self, out: std::process::Output) -> Finished {
        Finished {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: redact(
                String::from_utf8_lossy(&out.stderr).trim(),
                self.stdin.as_deref(),
            ),
        }
    }

    fn stdout_of(command: String, out: Finished) -> Result<String, ToolError> {
        if out.success() {
            Ok(out.stdout)
        } else {
            Err(ToolError::Failed {
                command,
                status: out.status.to_string(),
                stderr: out.stderr,
            })
        }
    }
}

/// `text` with every word of the secret `input` (16 characters or more, such as a key) replaced
/// by `<redacted>`: `wg` quotes the line it could not parse in its error, and that line may
/// hold a private key.
fn redact(text: &str, input: Option<&[u8]>) -> String {
    let Some(input) = input else {
        return text.to_string();
    };
    let input = String::from_utf8_lossy(input);
    input
        .split(|c: char| c.is_whitespace() || c == '`' || c == '\'')
        .filter(|word| word.len() >= 16)
        .fold(text.to_string(), |out, word| {
            out.replace(word, "<redacted>")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn failures_name_the_command_and_its_stderr() {
        let err = Tool::new("sh")
            .args(["-c", "echo oops >&2; exit 3"])
            .run()
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("`sh -c echo oops >&2; exit 3` failed (exit status: 3)"),
            "{text}"
        );
        assert!(text.ends_with("oops"), "{text}");
        assert!(matches!(
            Tool::new("/nonexistent/tool").run().await,
            Err(ToolError::Spawn { .. })
        ));
        assert_eq!(Tool::new("cat").stdin("in").run().await.unwrap(), "in");
        let out = Tool::new("false").output().await.unwrap();
        assert!(!out.success());
    }

    #[tokio::test]
    async fn a_tool_past_its_limit_is_killed() {
        let err = Tool::new("sleep")
            .arg("30")
            .timeout(Duration::from_millis(200))
            .run()
            .await
            .unwrap_err();
        assert!(
            matches!(err, ToolError::TimedOut { ref command, .. } if command == "sleep 30"),
            "{err}"
        );
    }

    #[test]
    fn blocking_runs_report_the_same() {
        assert_eq!(
            Tool::new("sh")
                .args(["-c", "echo hi"])
                .run_blocking()
                .unwrap(),
            "hi\n"
        );
        assert!(matches!(
            Tool::new("false").run_blocking(),
            Err(ToolError::Failed { .. })
        ));
        assert!(matches!(
            Tool::new("/nonexistent/tool").output_blocking(),
            Err(ToolError::Spawn { .. })
        ));
    }

    #[test]
    fn stderr_never_carries_what_went_in_on_stdin() {
        let secret = "YAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";
        let input = format!("PrivateKey = {secret}\n");
        let err = Tool::new("sh")
            .args([
                "-c",
                "read line; echo \"Line unrecognized: [$line]\" >&2; exit 1",
            ])
            .stdin(input)
            .run_blocking()
            .unwrap_err()
            .to_string();
        assert!(!err.contains(secret), "{err}");
        assert!(
            err.contains("Line unrecognized: [PrivateKey = <redacted>]"),
            "{err}"
        );
        // Without stdin nothing is redacted.
        assert_eq!(redact("a long word here", None), "a long word here");
    }
}
