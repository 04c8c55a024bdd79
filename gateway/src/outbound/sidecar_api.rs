//! The sidecar's `POST /send` (ARCHITECTURE.md "Sidecar HTTP"): works against wa-sidecar and
//! the Node Baileys service alike (same route, header and body).

use std::time::Duration;

use shared::{SendRequest, SendResponse, SendType};

use super::health::without_url;
use super::twilio_api::retry_after;

/// Longest wait for a send (the sidecar answers once WhatsApp acknowledged the message).
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for the TCP connection: a dead sidecar must fail fast so failover is quick.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// Header carrying the shared secret.
pub const SECRET_HEADER: &str = "X-BAILEYS-SECRET";

/// What happened to one send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SidecarOutcome {
    /// Accepted; WhatsApp message id.
    Sent(String),
    /// 429/503: temporary trouble, try again after the delay.
    Busy {
        /// `Retry-After`, when given.
        retry_after: Option<Duration>,
        /// Description.
        reason: String,
    },
    /// Unreachable, timed out, 5xx, or refusing our secret: mark DOWN and fail over.
    Down {
        /// Description.
        reason: String,
        /// The request may have reached the sidecar (timeout or 5xx after sending).
        ambiguous: bool,
    },
    /// 400: the sidecar refuses this message for good.
    Rejected(String),
}

/// A client for one sidecar.
#[derive(Clone)]
pub struct SidecarApi {
    client: reqwest::Client,
    url: url::Url,
    secret: Option<crate::Secret>,
}

impl SidecarApi {
    /// A client for `BAILEYS_OUTBOUND_URL`, authenticating with `BAILEYS_WEBHOOK_SECRET`.
    pub fn new(client: reqwest::Client, url: url::Url, secret: Option<crate::Secret>) -> Self {
        SidecarApi {
            client,
            url,
            secret,
        }
    }

    /// Sends one message. `to` is digits or a JID; the key makes retries safe.
    pub async fn send(
        &self,
        to: &str,
        text: Option<&str>,
        media: Option<(&str, Option<&str>)>,
        idempotency_key: &str,
    ) -> SidecarOutcome {
        let body = match media {
            Some((url, caption)) => SendRequest {
                to: to.to_owned(),
                kind: SendType::Media,
                text: None,
                media_url: Some(url.to_owned()),
                caption: caption.map(str::to_owned),
                idempotency_key: Some(idempotency_key.to_owned()),
            },
            None => SendRequest {
                to: to.to_owned(),
                kind: SendType::Text,
                text: text.map(str::to_owned),
                media_url: None,
                caption: None,
                idempotency_key: Some(idempotency_key.to_owned()),
            },
        };
        let mut req = self
            .client
            .post(self.url.clone())
            .timeout(TIMEOUT)
            .json(&body);
        if let Some(s) = &self.secret {
            req = req.header(SECRET_HEADER, s.expose());
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                return SidecarOutcome::Down {
                    reason: format!("sidecar send: {}", without_url(&e)),
                    ambiguous: !e.is_connect(),
                };
            }
        };
        let status = resp.status().as_u16();
        let after = retry_after(resp.headers());
        let parsed: Option<SendResponse> = resp.json().await.ok();
        let error = parsed
            .as_ref()
            .and_then(|p| p.error.clone())
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect::<String>();
        match status {
            200..=299 => match parsed.and_then(|p| p.message_id.filter(|_| p.ok)) {
                Some(id) if !id.trim().is_empty() && id.len() <= 128 => SidecarOutcome::Sent(id),
                _ => SidecarOutcome::Down {
                    reason: "sidecar answered 2xx without a messageId".into(),
                    ambiguous: true,
                },
            },
            429 | 503 => SidecarOutcome::Busy {
                retry_after: after,
                reason: format!("sidecar answered {status}: {error}"),
            },
            400 | 413 | 422 => SidecarOutcome::Rejected(format!("sidecar refused: {error}")),
            401 | 403 => SidecarOutcome::Down {
                reason: format!("sidecar refused our secret ({status})"),
                ambiguous: false,
            },
            _ => SidecarOutcome::Down {
                reason: format!("sidecar answered {status}"),
                ambiguous: status >= 500,
            },
        }
    }
}
