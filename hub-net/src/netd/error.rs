//! netd's errors.

use std::path::PathBuf;

/// Why netd's config cannot be used or the server cannot run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetdError {
    /// The config is not valid JSON of the expected shape.
    #[error("netd config is not valid JSON of the expected shape")]
    Parse {
        /// The JSON error (with line and column).
        #[source]
        source: serde_json::Error,
    },
    /// A file could not be read.
    #[error("netd file {path} could not be read")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file holds a bad config or lease set.
    #[error("netd file {path} is not usable")]
    InFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: Box<NetdError>,
    },
    /// The config is well-formed but cannot be served.
    #[error("netd config is invalid: {reason}")]
    Invalid {
        /// Why, naming the field and value.
        reason: String,
    },
    /// A socket could not be opened.
    #[error("netd could not listen on {what} {addr}")]
    Bind {
        /// `DHCP`, `DNS/UDP` or `DNS/TCP`.
        what: &'static str,
        /// The address.
        addr: std::net::SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Another I/O failure of the server.
    #[error("netd failed to {what}")]
    Io {
        /// What it was doing.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}
