//! Running the host's tools (`ip`, `wg`, `iptables`): secrets go through stdin, failures
//! become errors that name the command and carry its stderr.

use std::io::Write as _;
use std::process::{Command, Stdio};

use crate::error::WgError;

/// A command line to run, with the context errors name (`lab "x", interface hubwg-x`).
pub struct Cmd<'a> {
    context: &'a str,
    program: &'a str,
    args: Vec<String>,
    stdin: Option<&'a [u8]>,
}

impl<'a> Cmd<'a> {
    /// `program` for `context`.
    pub fn new(context: &'a str, program: &'a str) -> Self {
        Self {
            context,
            program,
            args: Vec::new(),
            stdin: None,
        }
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Feeds `input` on stdin (how secrets reach `wg`).
    pub fn stdin(mut self, input: &'a [u8]) -> Self {
        self.stdin = Some(input);
        self
    }

    fn line(&self) -> String {
        std::iter::once(self.program)
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Runs it and returns stdout, or an error naming the command with its stderr.
    pub fn run(self) -> Result<String, WgError> {
        let line = self.line();
        tracing::debug!(command = %line, "running");
        let mut child = Command::new(self.program)
            .args(&self.args)
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| WgError::Spawn {
                context: self.context.to_string(),
                command: line.clone(),
                source,
            })?;
        if let (Some(input), Some(mut pipe)) = (self.stdin, child.stdin.take()) {
            // A child that exits early closes the pipe; its exit status tells what happened.
            let _ = pipe.write_all(input);
        }
        let out = child.wait_with_output().map_err(|source| WgError::Spawn {
            context: self.context.to_string(),
            command: line.clone(),
            source,
        })?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(WgError::Command {
                context: self.context.to_string(),
                command: line,
                status: out.status.to_string(),
                stderr: redact(String::from_utf8_lossy(&out.stderr).trim(), self.stdin),
            })
        }
    }

    /// Runs it and says whether it succeeded (for probes such as `iptables -C`); only a
    /// failure to start it at all is an error.
    pub fn succeeds(self) -> Result<bool, WgError> {
        match self.run() {
            Ok(_) => Ok(true),
            Err(WgError::Command { .. }) => Ok(false),
            Err(other) => Err(other),
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

    #[test]
    fn failures_name_the_command_and_its_stderr() {
        let err = Cmd::new("lab \"t\"", "sh")
            .args(["-c", "echo oops >&2; exit 3"])
            .run()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("lab \"t\": `sh -c echo oops >&2; exit 3` failed"),
            "{err}"
        );
        assert!(err.ends_with("oops"), "{err}");
        assert!(matches!(
            Cmd::new("x", "/nonexistent/tool").run(),
            Err(WgError::Spawn { .. })
        ));
        assert_eq!(
            Cmd::new("x", "cat").stdin(b"secret").run().unwrap(),
            "secret"
        );
        assert!(!Cmd::new("x", "false").succeeds().unwrap());
    }

    #[test]
    fn stderr_never_carries_what_went_in_on_stdin() {
        let secret = "YAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";
        let input = format!("PrivateKey = {secret}\n");
        let err = Cmd::new("x", "sh")
            .args([
                "-c",
                "read line; echo \"Line unrecognized: [$line]\" >&2; exit 1",
            ])
            .stdin(input.as_bytes())
            .run()
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
