//! JSON bodies of the sidecar's HTTP contract. Field names are the Node service's (camelCase).

use serde::{Deserialize, Serialize};

/// Kind of an outbound message on `POST /send`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SendType {
    /// Plain text in `text`.
    Text,
    /// A file at `mediaUrl`, with an optional `caption`.
    Media,
}

/// Body of `POST /send`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendRequest {
    /// Digits of the recipient's number, or a JID.
    pub to: String,
    /// `text` or `media`.
    #[serde(rename = "type")]
    pub kind: SendType,
    /// Text for `type=text`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// http(s) URL of the media for `type=media`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_url: Option<String>,
    /// Caption for `type=media`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    /// Required. The same key returns the same `messageId` and never sends twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

/// `200` body of `POST /send`; errors use `ok:false` and `error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendResponse {
    /// True on success.
    pub ok: bool,
    /// WhatsApp message id (`key.id`) on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// A short reason on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Body of `GET /health` (200 when connected, 503 otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthResponse {
    /// `ok` or `down`.
    pub status: String,
    /// Our device JID once paired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Whether the WhatsApp session is up right now.
    pub connected: bool,
    /// Why not connected (`connecting`, `logged_out`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Inbound messages written to the outbox and not yet accepted by the gateway.
    #[serde(default)]
    pub outbox_backlog: u64,
}

/// Media metadata of an inbound message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InboundMedia {
    /// MIME type as sent by the peer.
    pub mimetype: String,
    /// Size in bytes.
    #[serde(default)]
    pub size: u64,
    /// Where the gateway can fetch the decrypted file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// Body the sidecar POSTs to `BAILEYS_WEBHOOK_TARGET` for each message it receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InboundMessage {
    /// Chat JID of the sender (`9725...@s.whatsapp.net`, or `...@lid`).
    pub remote_jid: String,
    /// WhatsApp message id (`key.id`).
    pub message_id: String,
    /// Sender's timestamp, unix seconds.
    pub timestamp: i64,
    /// `text`, `media`, or another WhatsApp message kind.
    #[serde(rename = "type")]
    pub kind: String,
    /// Text or caption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Media metadata, for media messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<InboundMedia>,
    /// The sender's WhatsApp display name (push name), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_name: Option<String>,
    /// The other address of the same sender: the phone JID when `remoteJid` is a LID and the
    /// reverse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_jid_alt: Option<String>,
}

/// Body the sidecar POSTs to `BAILEYS_WEBHOOK_TARGET` when a peer's device acknowledges one of
/// our outbound messages: `{"event":"receipt","remoteJid":...,"messageId":...,"status":...,
/// "timestamp":...}` (same headers as an inbound message). Told apart from an
/// [`InboundMessage`] by `event`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptEvent {
    /// Always [`ReceiptEvent::EVENT`].
    pub event: String,
    /// The chat the message went to (`9725...@s.whatsapp.net` or `...@lid`).
    pub remote_jid: String,
    /// The id `/send` returned for the message.
    pub message_id: String,
    /// `delivered`, `read` or `played`.
    pub status: String,
    /// When the receipt was issued, unix seconds.
    pub timestamp: i64,
}

impl ReceiptEvent {
    /// The `event` value of a receipt body.
    pub const EVENT: &'static str = "receipt";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_event_round_trips_with_contract_names() {
        let body = r#"{"event":"receipt","remoteJid":"972501234567@s.whatsapp.net","messageId":"3EB0AB","status":"read","timestamp":1700000000}"#;
        let ev: ReceiptEvent = serde_json::from_str(body).unwrap();
        assert_eq!(ev.event, ReceiptEvent::EVENT);
        assert_eq!(ev.remote_jid, "972501234567@s.whatsapp.net");
        assert_eq!(ev.message_id, "3EB0AB");
        assert_eq!(ev.status, "read");
        assert_eq!(ev.timestamp, 1_700_000_000);
        let back = serde_json::to_value(&ev).unwrap();
        assert_eq!(
            back,
            serde_json::from_str::<serde_json::Value>(body).unwrap()
        );
    }

    #[test]
    fn send_request_uses_node_field_names() {
        let body = r#"{"to":"972501234567","type":"media","mediaUrl":"https://x/y.jpg","caption":"שלום","idempotencyKey":"k1"}"#;
        let req: SendRequest = serde_json::from_str(body).unwrap();
        assert_eq!(req.kind, SendType::Media);
        assert_eq!(req.media_url.as_deref(), Some("https://x/y.jpg"));
        assert_eq!(req.caption.as_deref(), Some("שלום"));
        assert_eq!(req.idempotency_key.as_deref(), Some("k1"));
        let back = serde_json::to_value(&req).unwrap();
        assert_eq!(back["idempotencyKey"], "k1");
        assert_eq!(back["type"], "media");
    }

    #[test]
    fn inbound_message_contract_shape() {
        let body = r#"{"remoteJid":"972501234567@s.whatsapp.net","messageId":"3EB0ABC","timestamp":1690000000,"type":"media","text":"caption","media":{"mimetype":"image/jpeg","size":12345,"url":"https://h/m"}}"#;
        let m: InboundMessage = serde_json::from_str(body).unwrap();
        assert_eq!(m.kind, "media");
        assert_eq!(m.media.as_ref().unwrap().size, 12345);
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["remoteJid"], "972501234567@s.whatsapp.net");
        assert!(v.get("pushName").is_none());
    }

    #[test]
    fn health_shape() {
        let h = HealthResponse {
            status: "down".into(),
            device: None,
            connected: false,
            reason: Some("logged_out".into()),
            outbox_backlog: 3,
        };
        let v = serde_json::to_value(&h).unwrap();
        assert_eq!(v["connected"], false);
        assert_eq!(v["reason"], "logged_out");
        assert_eq!(v["outboxBacklog"], 3);
    }
}
