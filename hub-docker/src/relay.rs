//! A command run in a container with this process's standard input and output as its own:
//! what `hub relay` carries an SSH connection through (see hub-core's `hosts::relay`).

use bollard::container::LogOutput;
use bollard::exec::StartExecResults;
use bollard::models::ExecConfig;
use futures::StreamExt;
use hub_runtime::RuntimeResult;
use tokio::io::{AsyncWriteExt, copy};

use crate::DockerRuntime;
use crate::error;

impl DockerRuntime {
    /// Runs `cmd` in container `container` (of lab `lab`, for errors) with this process's
    /// stdin copied to the command's and its stdout to this process's stdout (stderr to
    /// stderr), until the command's output ends; returns its exit code.
    pub async fn exec_stdio(
        &self,
        lab: &str,
        container: &str,
        cmd: &[String],
    ) -> RuntimeResult<i64> {
        let doing = format!("running {cmd:?} in container {container:?}");
        let config = ExecConfig {
            attach_stdin: Some(true),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            cmd: Some(cmd.to_vec()),
            ..Default::default()
        };
        let created = self
            .docker
            .create_exec(container, config)
            .await
            .map_err(|e| error::backend(lab, doing.clone(), e))?;
        let (mut output, mut input) = match self.docker.start_exec(&created.id, None).await {
            Ok(StartExecResults::Attached { output, input }) => (output, input),
            Ok(StartExecResults::Detached) => return Ok(0),
            Err(e) => return Err(error::backend(lab, doing, e)),
        };
        // This process's stdin into the command; its end is the command's end of input.
        let feed = tokio::spawn(async move {
            let mut stdin = tokio::io::stdin();
            let _ = copy(&mut stdin, &mut input).await;
            let _ = input.shutdown().await;
        });
        let mut stdout = tokio::io::stdout();
        let mut stderr = tokio::io::stderr();
        while let Some(item) = output.next().await {
            match item.map_err(|e| error::backend(lab, doing.clone(), e))? {
                LogOutput::StdOut { message } | LogOutput::Console { message } => {
                    // Whoever reads our stdout (ssh) is gone: so is the point of going on.
                    if stdout.write_all(&message).await.is_err() || stdout.flush().await.is_err() {
                        break;
                    }
                }
                LogOutput::StdErr { message } => {
                    let _ = stderr.write_all(&message).await;
                }
                LogOutput::StdIn { .. } => {}
            }
        }
        feed.abort();
        let inspected = self
            .docker
            .inspect_exec(&created.id)
            .await
            .map_err(|e| error::backend(lab, doing, e))?;
        Ok(inspected.exit_code.unwrap_or(-1))
    }
}
