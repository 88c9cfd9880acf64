//! Following a container's logs (`hub logs -f`): Docker's log stream with `follow`, handed
//! over a channel as it comes.

use bollard::query_parameters::LogsOptionsBuilder;
use futures::StreamExt;
use hub_runtime::{LogStream, RuntimeResult, WorkloadHandle};

use crate::DockerRuntime;
use crate::container::target;
use crate::error;

/// Chunks in flight between Docker and the reader.
const BUFFERED_CHUNKS: usize = 64;

impl DockerRuntime {
    /// The last `tail` lines, then every new chunk until the container stops or the receiver
    /// is dropped.
    pub(crate) fn follow(&self, h: &WorkloadHandle, tail: usize) -> RuntimeResult<LogStream> {
        let opts = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .follow(true)
            .tail(&tail.to_string())
            .build();
        let mut stream = self.docker.logs(&target(h), Some(opts));
        let (tx, rx) = tokio::sync::mpsc::channel(BUFFERED_CHUNKS);
        let (lab, name) = (h.lab.clone(), h.name.clone());
        tokio::spawn(async move {
            while let Some(item) = stream.next().await {
                let chunk = item
                    .map(|c| String::from_utf8_lossy(c.as_ref()).into_owned())
                    .map_err(|e| {
                        error::backend(&lab, format!("following the logs of {name:?}"), e)
                    });
                let failed = chunk.is_err();
                if tx.send(chunk).await.is_err() || failed {
                    break; // the reader left, or the stream broke
                }
            }
        });
        Ok(rx)
    }
}
