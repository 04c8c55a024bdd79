//! The Message resource as the emulator keeps it, and its JSON in Twilio's shape (fact sheet A7:
//! twilio-go `ApiV2010Message.md`; `num_segments`/`num_media` are strings in Twilio's JSON).

use rand::Rng;
use serde::Serialize;
use serde_json::{Value, json};

use crate::clock::rfc2822;

/// Twilio's API version path segment.
pub const API_VERSION: &str = "2010-04-01";

/// A Twilio-style SID: two-letter prefix and 32 lowercase hex digits.
pub fn new_sid(prefix: &str) -> String {
    let bytes: [u8; 16] = rand::thread_rng().r#gen();
    format!("{prefix}{}", hex::encode(bytes))
}

/// True for `prefix` followed by exactly 32 hex digits.
pub fn is_sid(s: &str, prefix: &str) -> bool {
    s.len() == prefix.len() + 32
        && s.starts_with(prefix)
        && s[prefix.len()..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// Message status values (fact sheet A6, Twilio's `MessageEnumStatus`) the emulator uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Initial status with a Messaging Service.
    Accepted,
    /// Initial status without one.
    Queued,
    /// Handed to WhatsApp.
    Sent,
    /// On the handset.
    Delivered,
    /// Opened by the user.
    Read,
    /// WhatsApp could not deliver it.
    Undelivered,
    /// Twilio could not send it (e.g. 63016).
    Failed,
    /// An inbound message.
    Received,
}

impl Status {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Accepted => "accepted",
            Status::Queued => "queued",
            Status::Sent => "sent",
            Status::Delivered => "delivered",
            Status::Read => "read",
            Status::Undelivered => "undelivered",
            Status::Failed => "failed",
            Status::Received => "received",
        }
    }

    /// Parses a wire string.
    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "accepted" => Status::Accepted,
            "queued" => Status::Queued,
            "sent" => Status::Sent,
            "delivered" => Status::Delivered,
            "read" => Status::Read,
            "undelivered" => Status::Undelivered,
            "failed" => Status::Failed,
            "received" => Status::Received,
            _ => return None,
        })
    }
}

/// One message the emulator knows (sent through the API, or a customer's inbound).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    /// `SM…` (text) or `MM…` (with media).
    pub sid: String,
    /// Owning account.
    pub account_sid: String,
    /// `MG…` when sent through a Messaging Service.
    pub messaging_service_sid: Option<String>,
    /// `whatsapp:+…` sender.
    pub from: String,
    /// `whatsapp:+…` recipient.
    pub to: String,
    /// Text as delivered (a template rendered with its variables).
    pub body: String,
    /// `outbound-api` or `inbound`.
    pub direction: &'static str,
    /// Current status.
    pub status: Status,
    /// `MediaUrl` values of the request (outbound) or hosted media URLs (inbound).
    pub media_urls: Vec<String>,
    /// `ContentSid` of a template send.
    pub content_sid: Option<String>,
    /// `ContentVariables` as sent.
    pub content_variables: Option<String>,
    /// `StatusCallback` of the request.
    pub status_callback: Option<String>,
    /// Error code once failed/undelivered.
    pub error_code: Option<u32>,
    /// Error text once failed/undelivered.
    pub error_message: Option<String>,
    /// Creation time (emulator clock, Unix seconds).
    pub date_created: i64,
    /// Last change.
    pub date_updated: i64,
    /// When it reached `sent`.
    pub date_sent: Option<i64>,
    /// Every status the message went through, in order.
    pub history: Vec<Status>,
    /// Fetches of outbound media (see [`crate::outbound_media`]).
    pub media_fetches: Vec<crate::outbound_media::MediaFetch>,
}

impl Message {
    /// Resource path without `.json`.
    fn path(&self) -> String {
        format!(
            "/{API_VERSION}/Accounts/{}/Messages/{}",
            self.account_sid, self.sid
        )
    }

    /// Twilio's JSON for this message.
    pub fn to_json(&self) -> Value {
        let path = self.path();
        json!({
            "sid": self.sid,
            "account_sid": self.account_sid,
            "messaging_service_sid": self.messaging_service_sid,
            "from": self.from,
            "to": self.to,
            "body": self.body,
            "status": self.status.as_str(),
            "direction": self.direction,
            "num_segments": "1",
            "num_media": self.media_urls.len().to_string(),
            "price": null,
            "price_unit": "USD",
            "error_code": self.error_code,
            "error_message": self.error_message,
            "api_version": API_VERSION,
            "date_created": rfc2822(self.date_created),
            "date_updated": rfc2822(self.date_updated),
            "date_sent": self.date_sent.map(rfc2822),
            "uri": format!("{path}.json"),
            "subresource_uris": {
                "media": format!("{path}/Media.json"),
                "feedback": format!("{path}/Feedback.json"),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sids_have_twilio_shape() {
        let s = new_sid("SM");
        assert!(is_sid(&s, "SM"), "{s}");
        assert!(!is_sid(&s, "MM"));
        assert!(!is_sid("SM123", "SM"));
        assert!(!is_sid(&format!("HX{}", "g".repeat(32)), "HX"));
        assert_ne!(new_sid("SM"), new_sid("SM"));
    }

    #[test]
    fn status_round_trips() {
        for s in [
            "accepted",
            "queued",
            "sent",
            "delivered",
            "read",
            "undelivered",
            "failed",
        ] {
            assert_eq!(Status::parse(s).map(Status::as_str), Some(s));
        }
        assert_eq!(Status::parse("lost"), None);
    }
}
