//! `POST /api/whatsapp/twilio`: Twilio inbound messages and status callbacks.

pub mod form;
pub mod inbound;
pub mod signature;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use crm_store::{Provider, RawWebhook, StatusOutcome};

use self::form::Form;
use self::inbound::TwilioEvent;
use self::signature::SignedBody;
use crate::app::AppState;
use crate::metrics::{Outcome, Route};
use crate::respond::{empty, media_type, now_millis, reason};

/// Route path.
pub const PATH: &str = "/api/whatsapp/twilio";
/// Twilio's replay-stable webhook id header.
pub const IDEMPOTENCY_HEADER: &str = "I-Twilio-Idempotency-Token";
/// Twilio's signature header.
pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";

/// Flattens a JSON object's scalar members into form-like pairs (JSON-body webhooks).
fn json_params(body: &[u8]) -> Option<Form> {
    let serde_json::Value::Object(map) = serde_json::from_slice(body).ok()? else {
        return None;
    };
    let pairs = map.into_iter().filter_map(|(k, v)| match v {
        serde_json::Value::String(s) => Some((k, s)),
        serde_json::Value::Number(n) => Some((k, n.to_string())),
        serde_json::Value::Bool(b) => Some((k, b.to_string())),
        _ => None,
    });
    Some(Form::from_pairs(pairs))
}

/// The webhook handler.
pub async fn webhook(
    State(st): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let m = &st.metrics;
    let reject = |why: &str| {
        tracing::warn!(route = PATH, "Twilio webhook refused (403): {why}");
        m.webhook(Route::Twilio, Outcome::RejectedAuth);
        m.signature_failure(Route::Twilio);
        empty(StatusCode::FORBIDDEN)
    };
    let Some(tw) = &st.config.twilio else {
        return reject("Twilio is not configured (PUBLIC_BASE_URL, TWILIO_AUTH_TOKEN)");
    };
    let Some(sig_header) = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()) else {
        return reject("no X-Twilio-Signature");
    };
    let content_type = media_type(&headers).unwrap_or_default();
    let (form, signed_json) = match content_type.as_str() {
        "application/x-www-form-urlencoded" => match Form::parse(&body) {
            Ok(f) => (f, false),
            Err(e) => {
                m.webhook(Route::Twilio, Outcome::BadRequest);
                return reason(StatusCode::BAD_REQUEST, e.to_string());
            }
        },
        "application/json" => match json_params(&body) {
            Some(f) => (f, true),
            None => {
                m.webhook(Route::Twilio, Outcome::BadRequest);
                return reason(StatusCode::BAD_REQUEST, "JSON body must be an object");
            }
        },
        _ => {
            m.webhook(Route::Twilio, Outcome::UnsupportedMediaType);
            return reason(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected application/x-www-form-urlencoded or application/json",
            );
        }
    };
    let url = match uri.query() {
        Some(q) => format!("{}{PATH}?{q}", tw.public_base_url),
        None => format!("{}{PATH}", tw.public_base_url),
    };
    let signed = if signed_json {
        SignedBody::Json(&body)
    } else {
        SignedBody::Form(form.pairs())
    };
    if let Err(e) = signature::validate(
        tw.auth_token.expose().as_bytes(),
        &url,
        signed,
        Some(sig_header),
    ) {
        return reject(&e.to_string());
    }
    if let (Some(ours), Some(theirs)) = (&tw.account_sid, form.non_empty("AccountSid"))
        && !shared::signature::secret_matches(theirs.trim().as_bytes(), ours.as_bytes())
    {
        return reject("AccountSid is not ours");
    }

    let now = now_millis();
    let raw = RawWebhook {
        provider: Provider::Twilio,
        route: PATH.to_owned(),
        content_type,
        body: body.to_vec(),
        idempotency_token: headers
            .get(IDEMPOTENCY_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned),
        received_at: now,
    };
    match inbound::interpret(&form, raw, now) {
        Err(e) => {
            m.webhook(Route::Twilio, Outcome::BadRequest);
            tracing::debug!(route = PATH, error = %e, "Twilio webhook refused (400)");
            reason(StatusCode::BAD_REQUEST, e.to_string())
        }
        Ok(TwilioEvent::Inbound(msg)) => crate::app::store_inbound(&st, Route::Twilio, &msg).await,
        Ok(TwilioEvent::Status(update)) => match st.store.apply_status(&update).await {
            Ok(outcome) => {
                let metric = if outcome == StatusOutcome::Duplicate {
                    Outcome::Duplicate
                } else {
                    Outcome::Stored
                };
                m.webhook(Route::Twilio, metric);
                tracing::debug!(route = PATH, sid = %update.provider_message_id, status = update.status.as_str(), ?outcome, "status callback");
                st.notify_events();
                empty(StatusCode::NO_CONTENT)
            }
            Err(e) => {
                m.webhook(Route::Twilio, Outcome::Unavailable);
                tracing::error!(route = PATH, error = %e, "store failed on a status callback; answering 503");
                empty(StatusCode::SERVICE_UNAVAILABLE)
            }
        },
    }
}
