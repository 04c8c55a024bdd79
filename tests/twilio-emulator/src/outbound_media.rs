//! Twilio fetches every outbound `MediaUrl` before sending (fact sheet A8: it issues `GET` to the
//! URL and refuses files whose `Content-Type` is not a supported WhatsApp type). The emulator does
//! the same just before `sent`: a fetch that fails fails the message with 63019 ("Media failed to
//! download"), an unsupported type or a file over WhatsApp's limit (16 MB, images 5 MB) with 63021.

use std::time::Duration;

use serde::Serialize;

use crate::state::Shared;

/// WhatsApp's total media size limit (fact sheet A8).
pub const MAX_BYTES: usize = 16 * 1024 * 1024;
/// WhatsApp's image size limit (fact sheet A8).
pub const MAX_IMAGE_BYTES: usize = 5 * 1024 * 1024;

/// Supported MIME types (fact sheet A8, Twilio's accepted-mime-types page).
const SUPPORTED: &[&str] = &[
    "image/jpeg",
    "image/jpg",
    "image/png",
    "image/webp",
    "audio/ogg",
    "audio/amr",
    "audio/3gpp",
    "audio/aac",
    "audio/mpeg",
    "audio/mp4",
    "video/mp4",
    "video/3gpp",
    "application/pdf",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "text/vcard",
    "text/x-vcard",
];

/// One fetch of an outbound media URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MediaFetch {
    /// The `MediaUrl` as sent.
    pub url: String,
    /// HTTP status, if the server answered.
    pub http_status: Option<u16>,
    /// `Content-Type` without parameters.
    pub content_type: Option<String>,
    /// Bytes read.
    pub size: usize,
    /// Error code this fetch caused, if any.
    pub error: Option<u32>,
}

async fn fetch_one(client: &reqwest::Client, url: &str, target: &str) -> MediaFetch {
    let mut out = MediaFetch {
        url: url.to_owned(),
        http_status: None,
        content_type: None,
        size: 0,
        error: Some(63019),
    };
    let Ok(mut resp) = client.get(target).send().await else {
        return out;
    };
    out.http_status = Some(resp.status().as_u16());
    out.content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    if !resp.status().is_success() {
        return out;
    }
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => {
                out.size += c.len();
                if out.size > MAX_BYTES {
                    out.error = Some(63021);
                    return out;
                }
            }
            Ok(None) => break,
            Err(_) => return out,
        }
    }
    let ct = out.content_type.as_deref().unwrap_or("");
    out.error =
        if !SUPPORTED.contains(&ct) || (ct.starts_with("image/") && out.size > MAX_IMAGE_BYTES) {
            Some(63021)
        } else {
            None
        };
    out
}

/// Fetches every media URL of message `sid`, records the fetches on it, and returns the first
/// error code.
pub async fn fetch_all(st: &Shared, sid: &str) -> Result<(), u32> {
    let urls = st
        .lock()
        .messages
        .iter()
        .find(|m| m.sid == sid)
        .map(|m| m.media_urls.clone())
        .unwrap_or_default();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::limited(5))
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|_| 63019u32)?;
    let mut fetches = Vec::with_capacity(urls.len());
    for url in &urls {
        let target = st.delivery_target(url);
        fetches.push(fetch_one(&client, url, &target).await);
    }
    let first_error = fetches.iter().find_map(|f| f.error);
    if let Some(m) = st.lock().messages.iter_mut().find(|m| m.sid == sid) {
        m.media_fetches = fetches;
    }
    first_error.map_or(Ok(()), Err)
}
