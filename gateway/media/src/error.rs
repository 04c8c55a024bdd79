//! The one error type of this crate, and the retry decision that goes with it.

use thiserror::Error;

/// Everything that can go wrong while copying or reading media.
///
/// Each variant says whose fault it is; [`MediaError::is_retryable`] tells the caller's worker
/// whether trying the same job again later can succeed.
#[derive(Debug, Error)]
pub enum MediaError {
    /// The media URL (or a redirect target) is not a valid absolute URL. Caller's input.
    #[error("invalid media URL: {0}")]
    InvalidUrl(String),
    /// Only `http` and `https` are fetched; anything else (`file:`, `ftp:`, ...) is refused.
    #[error("unsupported URL scheme {0:?} (only http and https are fetched)")]
    UnsupportedScheme(String),
    /// The media host could not be reached (DNS, refused connection, TLS, reset). Network's fault.
    #[error("could not reach media host {host}: {message}")]
    Connect {
        /// Host that failed.
        host: String,
        /// What the transport said.
        message: String,
    },
    /// The request or the body transfer took longer than the configured timeout.
    #[error("timed out fetching media from {host}")]
    Timeout {
        /// Host that was slow.
        host: String,
    },
    /// The media host answered with a non-success status.
    #[error("media host {host} answered HTTP {status}")]
    HttpStatus {
        /// The host that answered.
        host: String,
        /// HTTP status code.
        status: u16,
    },
    /// A redirect without a usable `Location`, or more redirects than allowed. Media host's fault.
    #[error("bad redirect from media host: {0}")]
    BadRedirect(String),
    /// The media is larger than the limit for its type (or the overall cap). Not stored.
    #[error("media too large: limit {limit} bytes for {mime}{}", match .announced { Some(n) => format!(", announced {n} bytes"), None => String::new() })]
    TooLarge {
        /// The limit that applied, in bytes.
        limit: u64,
        /// The MIME type the limit was picked for.
        mime: String,
        /// Content-Length, when the host announced one.
        announced: Option<u64>,
    },
    /// Configuration is missing or malformed (names the setting). Operator's fault.
    #[error("media store configuration: {0}")]
    Config(String),
    /// The storage backend could not be reached or failed on its side (I/O error, S3 5xx).
    #[error("media storage unavailable: {0}")]
    StorageUnavailable(String),
    /// The storage backend refused the request (S3 4xx such as access denied, no such bucket).
    #[error("media storage refused the request: HTTP {status}: {message}")]
    StorageRejected {
        /// HTTP status from the object store.
        status: u16,
        /// Short description (S3 error code when available).
        message: String,
    },
    /// A storage key that this crate never produces (path traversal, odd characters). Caller's input.
    #[error("invalid storage key {0:?}")]
    InvalidKey(String),
    /// No object under that storage key.
    #[error("no stored media under key {0:?}")]
    NotFound(String),
}

impl MediaError {
    /// Whether the same job may succeed if tried again later.
    ///
    /// Retryable: connection errors, timeouts, HTTP 5xx, 408 and 429 from the media host, an
    /// unavailable storage backend (and storage 408/429). Everything else is permanent.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Connect { .. } | Self::Timeout { .. } | Self::StorageUnavailable(_) => true,
            Self::HttpStatus { status, .. } | Self::StorageRejected { status, .. } => {
                *status >= 500 || *status == 408 || *status == 429
            }
            Self::InvalidUrl(_)
            | Self::UnsupportedScheme(_)
            | Self::BadRedirect(_)
            | Self::TooLarge { .. }
            | Self::Config(_)
            | Self::InvalidKey(_)
            | Self::NotFound(_) => false,
        }
    }

    /// Map a transport error from reqwest while talking to `host`.
    pub(crate) fn from_transport(host: &str, err: reqwest::Error) -> Self {
        if err.is_timeout() {
            return Self::Timeout {
                host: host.to_owned(),
            };
        }
        // Strip the URL from the message: it may carry a signed query string.
        let err = err.without_url();
        Self::Connect {
            host: host.to_owned(),
            message: error_chain(&err),
        }
    }
}

/// Render an error and its sources on one line.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(src) = cur {
        out.push_str(": ");
        out.push_str(&src.to_string());
        cur = src.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_classification() {
        let status = |s| MediaError::HttpStatus {
            host: "h".into(),
            status: s,
        };
        assert!(status(503).is_retryable());
        assert!(status(500).is_retryable());
        assert!(status(429).is_retryable());
        assert!(status(408).is_retryable());
        assert!(!status(404).is_retryable());
        assert!(!status(401).is_retryable());
        assert!(!status(403).is_retryable());
        assert!(MediaError::Timeout { host: "h".into() }.is_retryable());
        assert!(MediaError::StorageUnavailable("down".into()).is_retryable());
        let too_large = MediaError::TooLarge {
            limit: 1,
            mime: "image/png".into(),
            announced: None,
        };
        assert!(!too_large.is_retryable());
        assert!(!MediaError::UnsupportedScheme("file".into()).is_retryable());
    }
}
