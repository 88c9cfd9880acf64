//! The bearer token of a TCP listener: read from a file only its owner can read, compared in
//! constant time, never logged. A request without it gets 401 and nothing else.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::error::ServerError;

/// A bearer token (its `Debug` never shows it).
pub(crate) struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

impl Token {
    /// Reads the token from `path`, which group and others must not be able to read.
    pub(crate) fn read(path: &Path) -> Result<Token, ServerError> {
        read_token_file(path).map(Token)
    }

    fn matches(&self, header: &[u8]) -> bool {
        header
            .strip_prefix(b"Bearer ")
            .is_some_and(|given| bool::from(given.ct_eq(self.0.as_bytes())))
    }
}

/// Reads a bearer token from `path`, a file group and others cannot read, holding at least
/// 16 printable characters: the server's (`--token-file`) and a client's
/// (`hub --server-token-file`) alike.
pub fn read_token_file(path: &Path) -> Result<String, ServerError> {
    let meta =
        std::fs::metadata(path).map_err(|e| ServerError::io("reading the token file", path, e))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(ServerError::Insecure(format!(
            "the token file {} has mode {mode:04o}: group and others can read it; \
             `chmod 600` it",
            path.display()
        )));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| ServerError::io("reading the token file", path, e))?;
    let token = text.trim();
    if token.len() < 16 || token.chars().any(|c| !c.is_ascii_graphic()) {
        return Err(ServerError::Insecure(format!(
            "the token in {} must be at least 16 printable characters without spaces",
            path.display()
        )));
    }
    Ok(token.to_string())
}

/// Lets a request through when it carries the token; 401 (empty body) otherwise.
pub(crate) async fn require_token(
    State(token): State<Arc<Token>>,
    request: Request,
    next: Next,
) -> Response {
    let ok = request
        .headers()
        .get(header::AUTHORIZATION)
        .is_some_and(|v| token.matches(v.as_bytes()));
    if ok {
        next.run(request).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "0123456789abcdef0123\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = Token::read(&path).unwrap_err().to_string();
        assert!(e.contains("0644") && e.contains("chmod 600"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let t = Token::read(&path).unwrap();
        assert!(t.matches(b"Bearer 0123456789abcdef0123"));
        assert!(!t.matches(b"Bearer 0123456789abcdef012"));
        assert!(!t.matches(b"0123456789abcdef0123"));
        assert_eq!(format!("{t:?}"), "Token(..)");
    }

    #[test]
    fn a_short_token_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "short").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(
            Token::read(&path)
                .unwrap_err()
                .to_string()
                .contains("at least 16")
        );
    }
}
