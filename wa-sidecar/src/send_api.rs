//! `POST /send` (ARCHITECTURE.md, "Sidecar HTTP"): authenticated, validated, idempotent,
//! paced text sending through the driver.
//!
//! Order of checks: secret (`X-BAILEYS-SECRET`, constant time; missing or wrong → 401), body
//! (400 naming the field), `type=media` → 501, idempotency replay (same key and body → the
//! recorded answer without sending; other body → 409), connected (503 + `Retry-After`),
//! pacing (429 + `Retry-After`), then the idempotency record is stored and flushed, and only
//! then is the message handed to the driver. 200 `{"ok":true,"messageId"}` once the server
//! acknowledged it; 502 with the reason otherwise.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::{mpsc, oneshot, watch};
use wa_binary::Jid;

use crate::config::Secret;
use crate::idempotency::{Idempotency, RateLimiter, Reservation, SendState, request_hash};
use crate::messaging::{SendCommand, SendResult};
use crate::state::LinkState;

/// Longest text accepted, in characters.
pub const MAX_TEXT_CHARS: usize = 65_536;
/// Longest idempotency key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 256;
/// How long `/send` waits for the server's answer before giving up (the record stays pending).
pub const SEND_WAIT: Duration = Duration::from_secs(60);

/// Everything `/send` needs. Cheap to clone.
#[derive(Clone)]
pub struct SendApi {
    secret: Option<Secret>,
    idempotency: Idempotency,
    limiter: Arc<Mutex<RateLimiter>>,
    driver: mpsc::Sender<SendCommand>,
    in_flight: Arc<Mutex<HashSet<String>>>,
}

impl SendApi {
    /// `/send` authenticated by `secret` (none configured: every request is refused with 401),
    /// paced at `rate_per_min` with a burst of [`crate::idempotency::BURST`].
    pub fn new(
        secret: Option<Secret>,
        idempotency: Idempotency,
        rate_per_min: u32,
        driver: mpsc::Sender<SendCommand>,
    ) -> Self {
        SendApi {
            secret,
            idempotency,
            limiter: Arc::new(Mutex::new(RateLimiter::new(
                rate_per_min,
                crate::idempotency::BURST,
            ))),
            driver,
            in_flight: Arc::default(),
        }
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = shared::SendResponse {
        ok: false,
        message_id: None,
        error: Some(message.into()),
    };
    (status, Json(body)).into_response()
}

fn retry_after(mut resp: Response, after: Duration) -> Response {
    let secs = after.as_secs_f64().ceil().max(1.0) as u64;
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

fn ok(message_id: &str) -> Response {
    let body = shared::SendResponse {
        ok: true,
        message_id: Some(message_id.to_owned()),
        error: None,
    };
    (StatusCode::OK, Json(body)).into_response()
}

/// Parses `to`: phone digits (normalized) or a user/LID JID without device.
pub fn parse_recipient(to: &str) -> Result<Jid, String> {
    let to = to.trim();
    if to.contains('@') {
        let jid = shared::Jid::parse(to).map_err(|e| format!("to: not a valid JID ({e})"))?;
        return match jid.server {
            shared::JidServer::User | shared::JidServer::Lid if jid.device == 0 => {
                Ok(Jid::new(&jid.user, jid.server.as_str()))
            }
            _ => Err("to: must be a phone number or a user JID (…@s.whatsapp.net or …@lid)".into()),
        };
    }
    let digits = shared::normalize_phone(to, None).map_err(|e| format!("to: {e}"))?;
    Ok(Jid::new(&digits, "s.whatsapp.net"))
}

fn bad(status: StatusCode, message: impl Into<String>) -> Box<Response> {
    Box::new(error(status, message))
}

struct Valid {
    to: Jid,
    text: String,
    key: String,
    hash: String,
}

fn validate(body: &[u8]) -> Result<Valid, Box<Response>> {
    let req: shared::SendRequest = serde_json::from_slice(body)
        .map_err(|e| bad(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))?;
    let key = req
        .idempotency_key
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| bad(StatusCode::BAD_REQUEST, "idempotencyKey is required"))?;
    if key.len() > MAX_KEY_LEN {
        return Err(bad(
            StatusCode::BAD_REQUEST,
            format!("idempotencyKey must be at most {MAX_KEY_LEN} bytes"),
        ));
    }
    let to = parse_recipient(&req.to).map_err(|m| bad(StatusCode::BAD_REQUEST, m))?;
    if req.kind == shared::SendType::Media {
        return Err(bad(
            StatusCode::NOT_IMPLEMENTED,
            "media sending is not implemented yet; send type=text",
        ));
    }
    let text = req.text.clone().unwrap_or_default();
    if text.trim().is_empty() {
        return Err(bad(
            StatusCode::BAD_REQUEST,
            "text is required for type=text",
        ));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(bad(
            StatusCode::BAD_REQUEST,
            format!("text is longer than {MAX_TEXT_CHARS} characters"),
        ));
    }
    Ok(Valid {
        to,
        text,
        key: key.to_owned(),
        hash: request_hash(&req),
    })
}

/// The `/send` handler.
pub async fn send(
    State(state): State<crate::http::HttpState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let link = state.link.clone();
    let Some(api) = state.send.clone() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "sending is not available in this mode",
        );
    };
    let presented = headers
        .get(shared::SECRET_HEADER)
        .map(HeaderValue::as_bytes)
        .unwrap_or_default();
    let authorized = api
        .secret
        .as_ref()
        .is_some_and(|s| shared::signature::secret_matches(presented, s.expose().as_bytes()));
    if !authorized {
        return error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong X-BAILEYS-SECRET",
        );
    }
    let v = match validate(&body) {
        Ok(v) => v,
        Err(resp) => return *resp,
    };
    match api.idempotency.get(&v.key) {
        Ok(Some(record)) => return replay(&api, &v, record),
        Ok(None) => {}
        Err(e) => return storage_failure(e),
    }
    if !link.borrow().is_connected() {
        return retry_after(
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "WhatsApp session is not connected",
            ),
            Duration::from_secs(5),
        );
    }
    let paced = api
        .limiter
        .lock()
        .map_err(|_| Duration::from_secs(1))
        .and_then(|mut l| l.try_take(Instant::now()));
    if let Err(wait) = paced {
        return retry_after(
            error(StatusCode::TOO_MANY_REQUESTS, "send rate limit reached"),
            wait,
        );
    }
    let message_id = wa_core::messaging::generate_message_id(
        crate::driver::now_ms(),
        &own_user(&link),
        &mut rand::rngs::OsRng,
    );
    match api.idempotency.reserve(&v.key, &v.hash, &message_id) {
        Ok(Reservation::New) => {}
        Ok(Reservation::Existing(record)) => return replay(&api, &v, record),
        Ok(Reservation::Conflict) => return conflict(),
        Err(e) => return storage_failure(e),
    }
    let guard = InFlight::enter(&api.in_flight, &v.key);
    let result = dispatch(&api, v.to, v.text, &message_id, &v.key).await;
    drop(guard);
    match result {
        SendResult::Sent => ok(&message_id),
        SendResult::NotConnected => {
            // nothing was sent: the record must not block a later retry with the same key
            if let Err(e) = api.idempotency.forget_unsent(&v.key, &message_id) {
                tracing::error!(error = %e, "cannot drop the record of an unsent message");
            }
            retry_after(
                error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "WhatsApp session is not connected",
                ),
                Duration::from_secs(5),
            )
        }
        SendResult::Failed(reason) => {
            error(StatusCode::BAD_GATEWAY, format!("send failed: {reason}"))
        }
    }
}

/// Marks a key as being sent by this process until dropped (also when the caller goes away).
struct InFlight {
    set: Arc<Mutex<HashSet<String>>>,
    key: String,
}

impl InFlight {
    fn enter(set: &Arc<Mutex<HashSet<String>>>, key: &str) -> Self {
        if let Ok(mut f) = set.lock() {
            f.insert(key.to_owned());
        }
        InFlight {
            set: set.clone(),
            key: key.to_owned(),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Ok(mut f) = self.set.lock() {
            f.remove(&self.key);
        }
    }
}

async fn dispatch(api: &SendApi, to: Jid, text: String, id: &str, key: &str) -> SendResult {
    let (reply, rx) = oneshot::channel();
    let cmd = SendCommand {
        to,
        text,
        message_id: id.to_owned(),
        idempotency_key: key.to_owned(),
        reply,
    };
    if api.driver.send(cmd).await.is_err() {
        return SendResult::NotConnected;
    }
    match tokio::time::timeout(SEND_WAIT, rx).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => SendResult::Failed(
            "connection lost before the server acknowledged the message; not resent".into(),
        ),
        Err(_) => SendResult::Failed("no answer from the server in time; not resent".into()),
    }
}

fn own_user(link: &watch::Receiver<LinkState>) -> String {
    match &*link.borrow() {
        LinkState::Connected { jid, .. } => {
            jid.split(['@', ':']).next().unwrap_or_default().to_owned()
        }
        _ => String::new(),
    }
}

fn conflict() -> Response {
    error(
        StatusCode::CONFLICT,
        "idempotencyKey was already used for a different request",
    )
}

fn storage_failure(e: crate::StoreError) -> Response {
    tracing::error!(error = %e, "idempotency store failed");
    error(StatusCode::SERVICE_UNAVAILABLE, "state store failure")
}

fn replay(api: &SendApi, v: &Valid, record: crate::idempotency::Record) -> Response {
    if record.request_hash != v.hash {
        return conflict();
    }
    match record.state {
        SendState::Sent => ok(&record.message_id),
        SendState::Failed { reason } => {
            error(StatusCode::BAD_GATEWAY, format!("send failed: {reason}"))
        }
        SendState::Pending => {
            let running = api
                .in_flight
                .lock()
                .map(|f| f.contains(&v.key))
                .unwrap_or(false);
            if running {
                retry_after(
                    error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "a send with this idempotencyKey is in progress",
                    ),
                    Duration::from_secs(2),
                )
            } else {
                error(
                    StatusCode::BAD_GATEWAY,
                    "an earlier send with this idempotencyKey was interrupted; its outcome is \
                     unknown and it is not resent",
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_are_numbers_or_user_jids_without_device() {
        assert_eq!(
            parse_recipient("+972 50-123-4567").unwrap().to_string(),
            "972501234567@s.whatsapp.net"
        );
        assert_eq!(
            parse_recipient("123456789012345@lid").unwrap().to_string(),
            "123456789012345@lid"
        );
        for bad in [
            "",
            "abc",
            "972501234567:3@s.whatsapp.net",
            "1203@g.us",
            "x@nowhere",
        ] {
            let err = parse_recipient(bad).unwrap_err();
            assert!(err.starts_with("to:"), "{bad}: {err}");
        }
    }
}
