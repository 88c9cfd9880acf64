//! Running the host's tools (`ip`, `wg`, `iptables`) through the shared runner
//! ([`hub_runtime::process::Tool`]): secrets go through stdin and are redacted from what a
//! tool prints, and failures become errors that name the lab or interface, the command and its
//! stderr.

use hub_runtime::process::{Tool, ToolError};

use crate::error::WgError;

/// A command line to run, with the context errors name (`lab "x", interface hubwg-x`).
pub struct Cmd<'a> {
    context: &'a str,
    tool: Tool,
}

impl<'a> Cmd<'a> {
    /// `program` for `context`.
    pub fn new(context: &'a str, program: &'a str) -> Self {
        Self {
            context,
            tool: Tool::new(program),
        }
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tool = self.tool.args(args.into_iter().map(Into::<String>::into));
        self
    }

    /// Feeds `input` on stdin (how secrets reach `wg`).
    pub fn stdin(mut self, input: &'a [u8]) -> Self {
        self.tool = self.tool.stdin(input);
        self
    }

    /// Runs it and returns stdout, or an error naming the command with its stderr.
    pub fn run(self) -> Result<String, WgError> {
        let command = self.tool.command_line();
        tracing::debug!(%command, "running");
        let context = self.context.to_string();
        self.tool.run_blocking().map_err(|e| match e {
            ToolError::Failed {
                command,
                status,
                stderr,
            } => WgError::Command {
                context,
                command,
                status,
                stderr,
            },
            ToolError::Spawn { source, .. } => WgError::Spawn {
                context,
                command,
                source,
            },
            // No time limit is set here.
            ToolError::TimedOut { command, limit } => WgError::Command {
                context,
                command,
                status: format!("killed after {limit:?}"),
                stderr: String::new(),
            },
        })
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
    fn a_key_fed_on_stdin_is_redacted_from_the_error() {
        // The runner redacts (hub_runtime::process tests it); here: it reaches WgError so.
        let key = "YAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";
        let err = Cmd::new("x", "sh")
            .args(["-c", "cat >&2; exit 1"])
            .stdin(key.as_bytes())
            .run()
            .unwrap_err();
        assert!(
            matches!(&err, WgError::Command { stderr, .. } if stderr == "<redacted>"),
            "{err}"
        );
    }
}
