//! `POST /api/whatsapp/baileys`: messages forwarded by wa-sidecar (or the Node Baileys service).
//!
//! Authentication: `X-BAILEYS-SECRET` compared in constant time (missing → 401, wrong → 403);
//! when `X-BAILEYS-TIMESTAMP` and `X-BAILEYS-SIGNATURE` are sent, the HMAC over timestamp and
//! body must verify too (→ 403). The body is [`shared::InboundMessage`], or — told apart by
//! `"event":"receipt"` — a [`shared::ReceiptEvent`] about one of our outbound messages, which
//! becomes a status update ([`to_status`]: provider Baileys, provider message id = `messageId`,
//! `delivered`/`read`; `played` counts as `read`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use crm_store::{
    Identity, IdentityKind, MessageStatus, Millis, NewInboundMessage, PendingMedia, Provider,
    RawWebhook, StatusOutcome, StatusUpdate,
};
use serde_json::{Map, Value, json};
use shared::{InboundMessage, Jid, JidServer};

use crate::app::AppState;
use crate::metrics::{Outcome, Route};
use crate::respond::{empty, media_type, now_millis, reason};

/// Route path.
pub const PATH: &str = "/api/whatsapp/baileys";
/// Business-number label of sidecar conversations (one linked device per gateway).
pub const SIDECAR_BUSINESS_NUMBER: &str = "baileys";

/// Why a sidecar payload is refused; names the field. Always the sender's fault.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PayloadError {
    /// A field is missing, empty or malformed.
    #[error("{field}: {why}")]
    Field {
        /// JSON field name.
        field: &'static str,
        /// What is wrong.
        why: String,
    },
}

fn bad(field: &'static str, why: impl Into<String>) -> PayloadError {
    PayloadError::Field {
        field,
        why: why.into(),
    }
}

/// Earliest plausible message time (2009-01-01), unix seconds.
const MIN_TIMESTAMP: i64 = 1_230_768_000;
/// Largest clock difference accepted for a message timestamp into the future.
const MAX_FUTURE_SECS: i64 = 24 * 3600;

fn parse_chat_jid(field: &'static str, s: &str) -> Result<Jid, PayloadError> {
    let jid = Jid::parse(s).map_err(|e| bad(field, e.to_string()))?;
    match jid.server {
        JidServer::User | JidServer::Lid => Ok(jid.to_non_ad()),
        _ => Err(bad(
            field,
            "only person chats (s.whatsapp.net, lid) are accepted",
        )),
    }
}

fn identities_of(jid: &Jid, out: &mut Vec<Identity>) {
    let mut push = |kind, value: String| {
        let id = Identity { kind, value };
        if !out.contains(&id) {
            out.push(id);
        }
    };
    match jid.server {
        JidServer::Lid => push(IdentityKind::WaLid, jid.to_string()),
        _ => {
            push(IdentityKind::WaJid, jid.to_string());
            if let Some(e164) = jid.e164() {
                push(IdentityKind::E164, e164);
            }
        }
    }
}

/// Validates a sidecar message and maps it to a store record.
pub fn to_inbound(
    msg: &InboundMessage,
    raw: RawWebhook,
    now: Millis,
) -> Result<NewInboundMessage, PayloadError> {
    let jid = parse_chat_jid("remoteJid", &msg.remote_jid)?;
    let message_id = msg.message_id.trim();
    if message_id.is_empty() {
        return Err(bad("messageId", "must not be empty"));
    }
    if message_id.len() > 128 || message_id.chars().any(char::is_control) {
        return Err(bad("messageId", "too long or has control characters"));
    }
    if msg.timestamp < MIN_TIMESTAMP || msg.timestamp > now / 1000 + MAX_FUTURE_SECS {
        return Err(bad("timestamp", "must be unix seconds near the present"));
    }
    let kind = msg.kind.trim();
    if kind.is_empty() || kind.len() > 64 {
        return Err(bad("type", "must be a short non-empty string"));
    }

    let mut identities = Vec::new();
    identities_of(&jid, &mut identities);
    let mut attributes = Map::new();
    attributes.insert("remote_jid".into(), Value::String(jid.to_string()));
    if let Some(alt) = msg
        .remote_jid_alt
        .as_deref()
        .filter(|s| !s.trim().is_empty())
    {
        let alt = parse_chat_jid("remoteJidAlt", alt)?;
        identities_of(&alt, &mut identities);
        attributes.insert("remote_jid_alt".into(), Value::String(alt.to_string()));
    }

    let mut media = Vec::new();
    if let Some(m) = &msg.media {
        attributes.insert(
            "media".into(),
            json!({"mimetype": m.mimetype, "size": m.size}),
        );
        if let Some(url) = m.url.as_deref().filter(|u| !u.trim().is_empty()) {
            let parsed = url::Url::parse(url).map_err(|_| bad("media.url", "not a URL"))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(bad("media.url", "must be http(s)"));
            }
            media.push(PendingMedia {
                index: 0,
                url: url.to_owned(),
                content_type: Some(m.mimetype.clone()).filter(|t| !t.trim().is_empty()),
            });
        }
    }

    Ok(NewInboundMessage {
        provider: Provider::Baileys,
        business_number: SIDECAR_BUSINESS_NUMBER.to_owned(),
        provider_message_id: format!("{jid}/{message_id}"),
        identities,
        display_name: msg
            .push_name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned),
        kind: kind.to_owned(),
        body: msg.text.clone().filter(|t| !t.is_empty()),
        attributes: Value::Object(attributes),
        provider_timestamp: msg.timestamp.checked_mul(1000),
        media,
        raw,
    })
}

/// A sidecar receipt as a status update of our outbound message `messageId`.
pub fn to_status(ev: &shared::ReceiptEvent, raw: RawWebhook) -> Result<StatusUpdate, PayloadError> {
    parse_chat_jid("remoteJid", &ev.remote_jid)?;
    let id = ev.message_id.trim();
    if id.is_empty() || id.len() > 128 || id.chars().any(char::is_control) {
        return Err(bad("messageId", "must be a short non-empty id"));
    }
    let status = match ev.status.as_str() {
        "delivered" => MessageStatus::Delivered,
        "read" | "played" => MessageStatus::Read,
        other => {
            return Err(bad(
                "status",
                format!("`{other}` is not delivered, read or played"),
            ));
        }
    };
    let at = ev
        .timestamp
        .checked_mul(1000)
        .filter(|t| *t > 0)
        .unwrap_or(raw.received_at);
    Ok(StatusUpdate {
        provider: Provider::Baileys,
        provider_message_id: id.to_owned(),
        status,
        error_code: None,
        at,
        raw,
    })
}

/// The `event` of a body, when it has one (receipts); `None` for a message.
fn event_of(body: &[u8]) -> Result<Option<String>, String> {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(default)]
        event: Option<String>,
    }
    serde_json::from_slice::<Probe>(body)
        .map(|p| p.event)
        .map_err(|e| format!("invalid JSON body: {e}"))
}

async fn receipt(st: &AppState, body: &[u8], raw: RawWebhook) -> Response {
    let m = &st.metrics;
    let update = match serde_json::from_slice::<shared::ReceiptEvent>(body)
        .map_err(|e| format!("invalid JSON body: {e}"))
        .and_then(|ev| to_status(&ev, raw).map_err(|e| e.to_string()))
    {
        Ok(u) => u,
        Err(e) => {
            m.webhook(Route::Baileys, Outcome::BadRequest);
            return reason(StatusCode::BAD_REQUEST, e);
        }
    };
    match st.store.apply_status(&update).await {
        Ok(outcome) => {
            let metric = if outcome == StatusOutcome::Duplicate {
                Outcome::Duplicate
            } else {
                Outcome::Stored
            };
            m.webhook(Route::Baileys, metric);
            tracing::debug!(route = PATH, id = %update.provider_message_id, status = update.status.as_str(), ?outcome, "sidecar receipt");
            st.notify_events();
            empty(StatusCode::NO_CONTENT)
        }
        Err(e) => {
            m.webhook(Route::Baileys, Outcome::Unavailable);
            tracing::error!(route = PATH, error = %e, "store failed on a sidecar receipt; answering 503");
            empty(StatusCode::SERVICE_UNAVAILABLE)
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The webhook handler.
pub async fn webhook(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let m = &st.metrics;
    let reject = |status: StatusCode, why: &str| {
        tracing::warn!(
            route = PATH,
            status = status.as_u16(),
            "sidecar webhook refused: {why}"
        );
        m.webhook(Route::Baileys, Outcome::RejectedAuth);
        m.signature_failure(Route::Baileys);
        empty(status)
    };
    let Some(secret) = &st.config.baileys_webhook_secret else {
        return reject(
            StatusCode::UNAUTHORIZED,
            "BAILEYS_WEBHOOK_SECRET is not configured",
        );
    };
    match headers.get(shared::SECRET_HEADER) {
        None => return reject(StatusCode::UNAUTHORIZED, "no secret header"),
        Some(v) if !secret.matches(v.as_bytes()) => {
            return reject(StatusCode::FORBIDDEN, "wrong secret");
        }
        Some(_) => {}
    }
    let ts = header(&headers, shared::TIMESTAMP_HEADER);
    let sig = header(&headers, shared::SIGNATURE_HEADER);
    let now = now_millis();
    match (ts, sig) {
        (None, None) => {}
        (Some(ts), Some(sig)) => {
            if let Err(e) =
                shared::signature::verify(secret.expose().as_bytes(), ts, sig, &body, now / 1000)
            {
                return reject(StatusCode::FORBIDDEN, &e.to_string());
            }
        }
        _ => {
            return reject(
                StatusCode::FORBIDDEN,
                "timestamp and signature must come together",
            );
        }
    }

    let content_type = media_type(&headers).unwrap_or_default();
    if content_type != "application/json" {
        m.webhook(Route::Baileys, Outcome::UnsupportedMediaType);
        return reason(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected application/json",
        );
    }
    match event_of(&body) {
        Ok(None) => {}
        Ok(Some(event)) if event == shared::ReceiptEvent::EVENT => {
            let raw = RawWebhook {
                provider: Provider::Baileys,
                route: PATH.to_owned(),
                content_type,
                body: body.to_vec(),
                idempotency_token: None,
                received_at: now,
            };
            return receipt(&st, &body, raw).await;
        }
        Ok(Some(other)) => {
            m.webhook(Route::Baileys, Outcome::BadRequest);
            return reason(
                StatusCode::BAD_REQUEST,
                format!("event: `{other}` is not a known event (receipt)"),
            );
        }
        Err(e) => {
            m.webhook(Route::Baileys, Outcome::BadRequest);
            return reason(StatusCode::BAD_REQUEST, e);
        }
    }
    let msg: InboundMessage = match serde_json::from_slice(&body) {
        Ok(msg) => msg,
        Err(e) => {
            m.webhook(Route::Baileys, Outcome::BadRequest);
            return reason(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}"));
        }
    };
    let raw = RawWebhook {
        provider: Provider::Baileys,
        route: PATH.to_owned(),
        content_type,
        body: body.to_vec(),
        idempotency_token: None,
        received_at: now,
    };
    let record = match to_inbound(&msg, raw, now) {
        Ok(r) => r,
        Err(e) => {
            m.webhook(Route::Baileys, Outcome::BadRequest);
            tracing::debug!(route = PATH, error = %e, "sidecar webhook refused (400)");
            return reason(StatusCode::BAD_REQUEST, e.to_string());
        }
    };
    crate::app::store_inbound(&st, Route::Baileys, &record).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawWebhook {
        RawWebhook {
            provider: Provider::Baileys,
            route: PATH.into(),
            content_type: "application/json".into(),
            body: Vec::new(),
            idempotency_token: None,
            received_at: 0,
        }
    }

    const NOW: Millis = 1_700_000_100_000;

    fn msg(json: &str) -> InboundMessage {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn maps_phone_jid_with_lid_alt_and_media() {
        let m = msg(
            r#"{"remoteJid":"972501234567:3@s.whatsapp.net","messageId":"3EB0A","timestamp":1700000000,
            "type":"media","text":"caption","pushName":"Dana","remoteJidAlt":"123456789@lid",
            "media":{"mimetype":"image/jpeg","size":10,"url":"http://127.0.0.1:9/m"}}"#,
        );
        let r = to_inbound(&m, raw(), NOW).unwrap();
        assert_eq!(r.provider_message_id, "972501234567@s.whatsapp.net/3EB0A");
        assert_eq!(r.identities.len(), 3);
        assert!(r.identities.contains(&Identity {
            kind: IdentityKind::E164,
            value: "+972501234567".into()
        }));
        assert!(r.identities.contains(&Identity {
            kind: IdentityKind::WaLid,
            value: "123456789@lid".into()
        }));
        assert_eq!(r.display_name.as_deref(), Some("Dana"));
        assert_eq!(r.provider_timestamp, Some(1_700_000_000_000));
        assert_eq!(r.media.len(), 1);
        assert_eq!(r.media[0].content_type.as_deref(), Some("image/jpeg"));
        assert_eq!(r.attributes["media"]["size"], 10);
    }

    #[test]
    fn refusals_name_the_field() {
        let cases = [
            (
                r#"{"remoteJid":"nope","messageId":"a","timestamp":1700000000,"type":"text"}"#,
                "remoteJid",
            ),
            (
                r#"{"remoteJid":"1203630@g.us","messageId":"a","timestamp":1700000000,"type":"text"}"#,
                "remoteJid",
            ),
            (
                r#"{"remoteJid":"972501234567@s.whatsapp.net","messageId":" ","timestamp":1700000000,"type":"text"}"#,
                "messageId",
            ),
            (
                r#"{"remoteJid":"972501234567@s.whatsapp.net","messageId":"a","timestamp":5,"type":"text"}"#,
                "timestamp",
            ),
            (
                r#"{"remoteJid":"972501234567@s.whatsapp.net","messageId":"a","timestamp":1700000000000,"type":"text"}"#,
                "timestamp",
            ),
            (
                r#"{"remoteJid":"972501234567@s.whatsapp.net","messageId":"a","timestamp":1700000000,"type":""}"#,
                "type",
            ),
            (
                r#"{"remoteJid":"972501234567@s.whatsapp.net","messageId":"a","timestamp":1700000000,"type":"media","media":{"mimetype":"x","url":"file:///etc/passwd"}}"#,
                "media.url",
            ),
        ];
        for (json, field) in cases {
            let e = to_inbound(&msg(json), raw(), NOW).unwrap_err();
            assert!(e.to_string().starts_with(field), "{json}: {e}");
        }
    }
}
