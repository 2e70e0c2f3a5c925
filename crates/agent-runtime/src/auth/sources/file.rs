//! [`FileJwks`]: a JWK Set in a local JSON file.

use std::io::Read as _;
use std::path::PathBuf;

use access_token::{AuthError, JwkSet, MAX_JWKS_BYTES, parse_jwk_set};
use futures::future::BoxFuture;

use super::JwksSource;

/// A JWK Set read from a local JSON file on every fetch (e.g. mounted by the
/// deployment). Configured as `file:///absolute/path.json`.
#[derive(Debug, Clone)]
pub struct FileJwks(pub PathBuf);

impl FileJwks {
    /// A source reading `path`.
    pub fn new(path: impl Into<PathBuf>) -> FileJwks {
        FileJwks(path.into())
    }
}

impl JwksSource for FileJwks {
    /// Reads and parses the file (blocking I/O on tokio's blocking pool).
    /// Missing/unreadable/too large/invalid → [`AuthError::JwksUnavailable`].
    fn fetch(&self) -> BoxFuture<'_, Result<JwkSet, AuthError>> {
        let path = self.0.clone();
        Box::pin(async move {
            let shown = path.display().to_string();
            let read = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
                let file = std::fs::File::open(&path)?;
                let mut bytes = Vec::new();
                // One byte more than the limit so an oversized file is detected.
                file.take(MAX_JWKS_BYTES as u64 + 1)
                    .read_to_end(&mut bytes)?;
                Ok(bytes)
            })
            .await
            .map_err(|e| AuthError::JwksUnavailable(format!("{shown}: read task failed: {e}")))?;
            let bytes = read.map_err(|e| AuthError::JwksUnavailable(format!("{shown}: {e}")))?;
            parse_jwk_set(&bytes).map_err(|e| e.with_origin(&shown))
        })
    }

    fn describe(&self) -> String {
        format!("file://{}", self.0.display())
    }
}
