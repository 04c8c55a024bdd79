//! Small response helpers shared by the handlers.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use crm_store::Millis;

/// A response with no body.
pub fn empty(status: StatusCode) -> Response {
    status.into_response()
}

/// A `400` (or other client error) with a short plain-text reason.
pub fn reason(status: StatusCode, text: impl Into<String>) -> Response {
    let mut r = (status, text.into()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Unix time now in milliseconds.
pub fn now_millis() -> Millis {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The media type of a `Content-Type` header value, lower-cased, parameters dropped.
pub fn media_type(headers: &axum::http::HeaderMap) -> Option<String> {
    let v = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = v.split(';').next().unwrap_or(v).trim().to_ascii_lowercase();
    (!essence.is_empty()).then_some(essence)
}
