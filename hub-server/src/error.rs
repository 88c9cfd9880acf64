//! The server's errors: what stops it from starting or serving.

use std::path::PathBuf;

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// `--listen` is not `unix:PATH` or `tcp:ADDR:PORT`.
    #[error("--listen {value:?}: {reason}")]
    BadListen {
        /// What was given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// TCP without TLS or a token, or a token file others can read.
    #[error("{0}")]
    Insecure(String),
    /// A file the server needs (certificate, key, token, socket, state) could not be used.
    #[error("{context} {path}: {source}")]
    Io {
        /// What the server was doing.
        context: String,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The TLS certificate or key is unusable.
    #[error("TLS: {0}")]
    Tls(String),
    /// The state root holds a record the server cannot read.
    #[error("lab {lab:?}: the server's record {path} is unreadable: {reason}")]
    Record {
        /// The lab.
        lab: String,
        /// The record file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl ServerError {
    pub(crate) fn io(
        context: impl Into<String>,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        ServerError::Io {
            context: context.into(),
            path: path.into(),
            source,
        }
    }
}
