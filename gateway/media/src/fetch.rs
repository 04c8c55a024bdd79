//! Download one media URL into a staging file: manual redirects (credentials only to the
//! provider's own hosts), size limit enforced while streaming, SHA-256 computed on the way.

use futures_util::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use url::Url;

use crate::config::ProviderAuth;
use crate::error::MediaError;
use crate::limits::{DEFAULT_MIME, SizeLimits, normalize_mime};

/// What one download produced (the bytes are in the staging file).
#[derive(Debug)]
pub(crate) struct Downloaded {
    /// Normalised MIME type.
    pub(crate) mime: String,
    /// Number of bytes written.
    pub(crate) size: u64,
    /// SHA-256 of the bytes.
    pub(crate) sha256: [u8; 32],
}

/// Settings for one download.
pub(crate) struct FetchSettings<'a> {
    pub(crate) client: &'a reqwest::Client,
    pub(crate) auth: Option<&'a ProviderAuth>,
    pub(crate) limits: &'a SizeLimits,
    pub(crate) max_redirects: usize,
}

/// Parse and check a URL: absolute, `http`/`https`, with a host.
pub(crate) fn check_url(raw: &str) -> Result<Url, MediaError> {
    let url = Url::parse(raw.trim()).map_err(|e| MediaError::InvalidUrl(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(MediaError::UnsupportedScheme(url.scheme().to_owned()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(MediaError::InvalidUrl("URL has no host".into()));
    }
    Ok(url)
}

/// Download `url` into `out`, following up to `max_redirects` redirects by hand.
pub(crate) async fn download(
    settings: &FetchSettings<'_>,
    url: &str,
    announced_mime: Option<&str>,
    out: &mut tokio::fs::File,
) -> Result<Downloaded, MediaError> {
    let mut url = check_url(url)?;
    let mut redirects = 0usize;
    // Set once a redirect has gone from https to plain http: no credentials after that.
    let mut downgraded = false;
    let resp = loop {
        let host = url.host_str().unwrap_or_default().to_owned();
        let mut req = settings.client.get(url.clone());
        let auth = settings
            .auth
            .filter(|_| !downgraded)
            .filter(|a| a.applies_to(&host, url.port_or_known_default()));
        if let Some(auth) = auth {
            req = req.basic_auth(&auth.username, Some(&auth.password));
        }
        let resp = req
            .send()
            .await
            .map_err(|e| MediaError::from_transport(&host, e))?;
        let status = resp.status();
        if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
            redirects += 1;
            if redirects > settings.max_redirects {
                return Err(MediaError::BadRedirect(format!(
                    "more than {} redirects",
                    settings.max_redirects
                )));
            }
            let location = resp
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| {
                    MediaError::BadRedirect(format!("HTTP {status} without Location"))
                })?;
            let next = url
                .join(location)
                .map_err(|e| MediaError::BadRedirect(format!("unusable Location: {e}")))?;
            let next = check_url(next.as_str())?;
            downgraded |= url.scheme() == "https" && next.scheme() == "http";
            url = next;
            tracing::debug!(from = %host, to = url.host_str().unwrap_or_default(), "media redirect");
            continue;
        }
        if !status.is_success() {
            return Err(MediaError::HttpStatus {
                host,
                status: status.as_u16(),
            });
        }
        break resp;
    };
    let host = url.host_str().unwrap_or_default().to_owned();

    let mime = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(normalize_mime)
        .or_else(|| announced_mime.and_then(normalize_mime))
        .unwrap_or_else(|| DEFAULT_MIME.to_owned());
    let limit = settings.limits.for_mime(&mime);
    let announced = resp
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit) {
        return Err(MediaError::TooLarge {
            limit,
            mime,
            announced,
        });
    }

    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| MediaError::from_transport(&host, e))?;
        size = size.saturating_add(chunk.len() as u64);
        if size > limit {
            return Err(MediaError::TooLarge {
                limit,
                mime,
                announced,
            });
        }
        hasher.update(&chunk);
        out.write_all(&chunk)
            .await
            .map_err(|e| MediaError::StorageUnavailable(format!("writing staged media: {e}")))?;
    }
    Ok(Downloaded {
        mime,
        size,
        sha256: hasher.finalize().into(),
    })
}
