//! Storage backends behind one small trait: a local folder and S3-compatible object storage.

use std::path::Path;

use futures_util::future::BoxFuture;

use crate::error::MediaError;
use crate::pipeline::MediaBody;

pub(crate) mod local;
pub(crate) mod s3;
mod sigv4;

/// What a backend needs to know about an object it is asked to store.
#[derive(Debug, Clone)]
pub(crate) struct ObjectMeta {
    /// Size in bytes of the staged file.
    pub(crate) size: u64,
    /// Lower-case hex SHA-256 of the staged file.
    pub(crate) sha256_hex: String,
    /// Normalised MIME type (S3 stores it as the object's Content-Type).
    pub(crate) mime: String,
}

/// A place objects are stored under content-derived keys.
///
/// `key` is always one produced by [`crate::storage_key`] and checked by [`validate_key`].
pub(crate) trait Backend: Send + Sync {
    /// Whether an object exists under `key`.
    fn exists<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, MediaError>>;
    /// Store the complete, already fsynced file at `staged` under `key`. The backend may move
    /// the file away (the folder backend renames it); the caller removes whatever is left.
    fn put_file<'a>(
        &'a self,
        key: &'a str,
        staged: &'a Path,
        meta: &'a ObjectMeta,
    ) -> BoxFuture<'a, Result<(), MediaError>>;
    /// Open the object under `key` for streaming.
    fn open<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<MediaBody, MediaError>>;
}

/// Accept only keys of the shape this crate produces: lower-case ASCII letters, digits, `.`, `_`,
/// `-` and `/`, relative, no empty segments and none starting with `.`. Stops path traversal through `get`.
pub(crate) fn validate_key(key: &str) -> Result<(), MediaError> {
    let chars_ok = key
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/".contains(&b));
    // No segment may start with a dot: rules out `.`, `..` and the staging folder.
    let segments_ok = key.split('/').all(|s| !s.is_empty() && !s.starts_with('.'));
    if key.is_empty() || key.len() > 512 || !chars_ok || !segments_ok {
        return Err(MediaError::InvalidKey(key.chars().take(80).collect()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate_key;

    #[test]
    fn keys_are_checked() {
        assert!(validate_key("sha256/ab/cd/abcd.jpg").is_ok());
        assert!(validate_key("../etc/passwd").is_err());
        assert!(validate_key("/etc/passwd").is_err());
        assert!(validate_key("sha256//x").is_err());
        assert!(validate_key("sha256/./x").is_err());
        assert!(validate_key("sha256/AB").is_err());
        assert!(validate_key("sha256\\x").is_err());
        assert!(validate_key("").is_err());
        assert!(validate_key(".staging/abc.part").is_err());
    }
}
