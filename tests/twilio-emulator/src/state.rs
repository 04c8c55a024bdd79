//! Everything the emulator remembers, behind one lock that is never held across an `.await`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::fault::Faults;
use crate::model::{Message, Status};

/// A content template registered through the admin API.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Template {
    /// `HX` + 32 hex.
    pub sid: String,
    /// Text with `{{1}}`-style placeholders.
    pub body: String,
    /// Default values for placeholders (Content API `variables`).
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
}

/// How accepted messages end, set through `POST /admin/config`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct FailWith {
    /// `failed` or `undelivered`.
    pub status: FailStatus,
    /// Twilio error code reported with it.
    pub code: u32,
}

/// Terminal failure status.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FailStatus {
    /// Twilio could not send it.
    Failed,
    /// Sent, but WhatsApp could not deliver it.
    Undelivered,
}

impl FailStatus {
    /// As a message status.
    pub fn status(self) -> Status {
        match self {
            FailStatus::Failed => Status::Failed,
            FailStatus::Undelivered => Status::Undelivered,
        }
    }
}

/// Where a successful message stops.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StopAt {
    /// `… → sent`.
    Sent,
    /// `… → sent → delivered`.
    Delivered,
    /// `… → sent → delivered → read` (default).
    Read,
}

/// Settings tests change at run time.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Settings {
    /// Where customer inbound messages are POSTed (the gateway's Twilio webhook).
    pub inbound_webhook: Option<String>,
    /// The URL Twilio "has configured" for the webhook: the signature is computed over it.
    /// Status callbacks whose URL equals it are delivered to `inbound_webhook`.
    pub public_url: Option<String>,
    /// URL prefix rewrites for delivery (signed URL unchanged), e.g.
    /// `{"https://gw.example.com": "http://127.0.0.1:8080"}`.
    pub url_rewrites: BTreeMap<String, String>,
    /// Last status of a successful message.
    pub stop_at: StopAt,
    /// When set, every accepted message ends with this failure instead.
    pub fail_with: Option<FailWith>,
    /// Pause before each status step, in milliseconds.
    pub callback_step_ms: u64,
    /// Also send a callback for the initial status (`queued`/`accepted`). Twilio does not (fact
    /// sheet A6, "no callback is sent for the initial status"), so this is off by default.
    pub callback_initial: bool,
    /// WhatsApp senders (`whatsapp:+…`) this account owns; others are refused with 63007.
    pub senders: Vec<String>,
    /// Sender-level status callback URL, used when a send has no `StatusCallback` (fact sheet
    /// A6: the per-request parameter takes precedence).
    pub status_callback: Option<String>,
    /// Fetch every outbound `MediaUrl` before `sent`, as Twilio does (fact sheet A8); a failed
    /// fetch fails the message with 63019, an unsupported type or size with 63021.
    pub fetch_media: bool,
}

/// One attempt to deliver a status callback or inbound webhook.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Delivery {
    /// `status` or `inbound`.
    pub kind: &'static str,
    /// URL the signature covers.
    pub url: String,
    /// Where it was actually sent.
    pub target: String,
    /// Form parameters in sending order.
    pub params: Vec<(String, String)>,
    /// `X-Twilio-Signature` sent.
    pub signature: String,
    /// `I-Twilio-Idempotency-Token` sent (the same on a retry).
    pub idempotency_token: String,
    /// 1 for the first try, 2 for the retry after a connect failure.
    pub attempt: u32,
    /// HTTP status answered, if any.
    pub http_status: Option<u16>,
    /// Transport error, if any.
    pub error: Option<String>,
}

/// Media hosted for inbound messages.
#[derive(Debug, Clone)]
pub struct Media {
    /// MIME type served.
    pub content_type: String,
    /// The bytes.
    pub bytes: bytes::Bytes,
    /// Token of its unauthenticated "CDN" URL.
    pub cdn_token: String,
}

/// The mutable part.
#[derive(Debug)]
pub struct Inner {
    /// Every message, oldest first.
    pub messages: Vec<Message>,
    /// Templates by SID.
    pub templates: HashMap<String, Template>,
    /// Last inbound time per (customer address, sender address), Unix seconds.
    pub windows: HashMap<(String, String), i64>,
    /// Pending faults.
    pub faults: Faults,
    /// Run-time settings.
    pub settings: Settings,
    /// Callback/webhook delivery log.
    pub deliveries: Vec<Delivery>,
    /// Hosted media by `ME…` SID.
    pub media: HashMap<String, Media>,
}

/// Shared, immutable identity plus the locked state.
#[derive(Debug)]
pub struct Shared {
    /// `AC…`.
    pub account_sid: String,
    /// Primary auth token.
    pub auth_token: String,
    /// `SK…` API key.
    pub api_key_sid: String,
    /// Its secret.
    pub api_key_secret: String,
    /// `http://127.0.0.1:port`.
    pub base_url: String,
    /// Origin of the "CDN" media redirects (a different origin from `base_url`).
    pub cdn_base_url: String,
    /// `XE…` channel install SID reported in callbacks.
    pub channel_install_sid: String,
    /// Emulator clock.
    pub clock: Clock,
    /// HTTP client for callbacks (no redirects, short timeouts).
    pub http: reqwest::Client,
    inner: Mutex<Inner>,
}

/// Handle type used by the handlers.
pub type AppState = Arc<Shared>;

impl Shared {
    /// Builds the shared state.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        account_sid: String,
        auth_token: String,
        api_key_sid: String,
        api_key_secret: String,
        base_url: String,
        cdn_base_url: String,
        settings: Settings,
        http: reqwest::Client,
    ) -> Shared {
        Shared {
            account_sid,
            auth_token,
            api_key_sid,
            api_key_secret,
            base_url,
            cdn_base_url,
            channel_install_sid: crate::model::new_sid("XE"),
            clock: Clock::default(),
            http,
            inner: Mutex::new(Inner {
                messages: Vec::new(),
                templates: HashMap::new(),
                windows: HashMap::new(),
                faults: Faults::default(),
                settings,
                deliveries: Vec::new(),
                media: HashMap::new(),
            }),
        }
    }

    /// Locks the state (a poisoned lock is taken over: the data stays usable for a test tool).
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Where to deliver a request signed for `url`.
    pub fn delivery_target(&self, url: &str) -> String {
        let st = self.lock();
        let s = &st.settings;
        if let (Some(public), Some(actual)) = (&s.public_url, &s.inbound_webhook)
            && public == url
        {
            return actual.clone();
        }
        for (from, to) in s.url_rewrites.iter().rev() {
            if let Some(rest) = url.strip_prefix(from.as_str()) {
                return format!("{to}{rest}");
            }
        }
        url.to_owned()
    }
}
