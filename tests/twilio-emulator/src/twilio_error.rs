//! Twilio's REST error responses: HTTP status plus the JSON body
//! `{"code":…,"message":…,"more_info":"https://www.twilio.com/docs/errors/<code>","status":…}`.
//!
//! Codes and their meaning come from Twilio's error dictionary (https://www.twilio.com/docs/api/errors/<code>):
//! 20003 Authenticate, 20404 resource not found, 20429 Too Many Requests (safe to retry; cited in
//! the team's fact sheet A7), 21211 invalid `To`, 21212 invalid `From`, 21603/21604 `From`/`To`
//! required, 21609 invalid `StatusCallback`, 21617 body over 1,600 characters, 21619 body or media
//! required, 21620 invalid media URL, 21623 too many media files, 21655 invalid `ContentSid`,
//! 21656 invalid `ContentVariables`, 21701 invalid Messaging Service SID, 21910 `From`/`To` of
//! different channels, 63007 no WhatsApp channel for the `From` address. Codes not in the fact
//! sheet are from the dictionary pages (21609, 21655, 21656 re-read this session; the rest [mem]).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A Twilio API error: what the client did wrong (4xx) or what the emulated service pretends went
/// wrong (5xx, fault injection).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Twilio error {code} (HTTP {status}): {message}")]
pub struct TwilioError {
    /// HTTP status.
    pub status: u16,
    /// Twilio error code.
    pub code: u32,
    /// Human-readable message, in Twilio's wording where known.
    pub message: String,
    /// `Retry-After` seconds (429 only).
    pub retry_after: Option<u64>,
}

impl TwilioError {
    /// A 400 with `code`.
    pub fn bad_request(code: u32, message: impl Into<String>) -> Self {
        TwilioError {
            status: 400,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 401 / 20003, Twilio's answer to missing or wrong credentials.
    pub fn authenticate() -> Self {
        TwilioError {
            status: 401,
            code: 20003,
            message: "Authenticate".into(),
            retry_after: None,
        }
    }

    /// 404 / 20404 for `path`.
    pub fn not_found(path: &str) -> Self {
        TwilioError {
            status: 404,
            code: 20404,
            message: format!("The requested resource {path} was not found"),
            retry_after: None,
        }
    }

    /// 429 / 20429 with `Retry-After`.
    pub fn too_many_requests(retry_after: u64) -> Self {
        TwilioError {
            status: 429,
            code: 20429,
            message: "Too Many Requests".into(),
            retry_after: Some(retry_after),
        }
    }

    /// 500 (20500) or 503 (20503).
    pub fn server(status: u16) -> Self {
        let (code, message) = if status == 503 {
            (20503, "Service Unavailable")
        } else {
            (20500, "Internal Server Error")
        };
        TwilioError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// The JSON body Twilio sends.
    pub fn body(&self) -> serde_json::Value {
        json!({
            "code": self.code,
            "message": self.message,
            "more_info": format!("https://www.twilio.com/docs/errors/{}", self.code),
            "status": self.status,
        })
    }
}

impl IntoResponse for TwilioError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, Json(self.body())).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == 401 {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Twilio API\""),
            );
        }
        resp
    }
}

/// Human text for asynchronous delivery failures reported in callbacks and on the resource.
pub fn async_error_message(code: u32) -> &'static str {
    match code {
        63016 => {
            "Failed to send freeform message because you are outside the allowed window. If you are using WhatsApp, please use a Message Template."
        }
        63003 => "Channel could not find To address",
        63024 => "Invalid message recipient",
        63032 => "User's number is part of an experiment",
        63018 => "Rate limit exceeded for Channel",
        63019 => "Media failed to download",
        63021 => "Channel invalid content error",
        30008 => "Unknown error",
        _ => "Message delivery failed",
    }
}
