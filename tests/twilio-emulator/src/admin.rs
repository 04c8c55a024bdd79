//! The admin API under `/admin`. It has NO authentication: the emulator is a test tool and must
//! only ever listen on a loopback or otherwise private address.
//!
//! | route | does |
//! |---|---|
//! | `POST /admin/templates {"sid","body","variables"?}` | registers a content template |
//! | `GET /admin/templates` | lists them |
//! | `POST /admin/inbound {"from","to","body"?,"profile_name"?,"media"?:[{"content_type","data_base64"}],"deliver"?}` | a customer sends: opens the window, and (if configured) POSTs a signed inbound webhook |
//! | `GET /admin/inbound` | inbound messages |
//! | `GET /admin/messages` | messages sent through the API, oldest first |
//! | `GET /admin/deliveries` | every status-callback / webhook attempt |
//! | `GET/POST /admin/config` | run-time settings (partial update), see [`ConfigPatch`] |
//! | `GET/POST /admin/clock {"offset_secs"}` | shifts the emulator clock |
//! | `GET/POST/DELETE /admin/fault` | fault injection, see [`crate::fault::FaultSpec`] |
//! | `POST /admin/media` (raw body, `Content-Type`) | hosts bytes, returns their URLs |
//! | `GET /admin/media/{ME…}` | Basic auth, redirect to the CDN URL |

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, extract::rejection::JsonRejection};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::fault::FaultSpec;
use crate::state::{AppState, FailWith, StopAt, Template};
use crate::{inbound, media};

/// Admin routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/templates", post(add_template).get(list_templates))
        .route("/admin/inbound", post(inbound_post).get(list_inbound))
        .route("/admin/messages", get(list_messages))
        .route("/admin/deliveries", get(list_deliveries))
        .route("/admin/config", post(set_config).get(get_config))
        .route("/admin/clock", post(set_clock).get(get_clock))
        .route(
            "/admin/fault",
            post(add_fault).get(get_fault).delete(clear_fault),
        )
        .route("/admin/media", post(upload_media))
        .route("/admin/media/{sid}", get(media::admin_media))
        .route("/cdn/{token}", get(media::cdn))
}

fn bad(msg: impl std::fmt::Display) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": msg.to_string() })),
    )
        .into_response()
}

fn parse<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, String> {
    body.map(|Json(v)| v).map_err(|e| e.body_text())
}

async fn add_template(
    State(st): State<AppState>,
    body: Result<Json<Template>, JsonRejection>,
) -> Response {
    let t = match parse(body) {
        Ok(t) => t,
        Err(e) => return bad(e),
    };
    match crate::TwilioEmulator::add_template_to(&st, t.clone()) {
        Ok(()) => (StatusCode::CREATED, Json(json!(t))).into_response(),
        Err(e) => bad(e),
    }
}

async fn list_templates(State(st): State<AppState>) -> Response {
    let mut all: Vec<Template> = st.lock().templates.values().cloned().collect();
    all.sort_by(|a, b| a.sid.cmp(&b.sid));
    Json(json!({ "templates": all })).into_response()
}

async fn inbound_post(
    State(st): State<AppState>,
    body: Result<Json<inbound::InboundSpec>, JsonRejection>,
) -> Response {
    let spec = match parse(body) {
        Ok(s) => s,
        Err(e) => return bad(e),
    };
    match inbound::customer_sends(&st, spec).await {
        Ok(out) => (StatusCode::CREATED, Json(out)).into_response(),
        Err(e) => bad(e),
    }
}

async fn list_inbound(State(st): State<AppState>) -> Response {
    let msgs: Vec<Value> = st
        .lock()
        .messages
        .iter()
        .filter(|m| m.direction == "inbound")
        .map(|m| m.to_json())
        .collect();
    Json(json!({ "messages": msgs })).into_response()
}

async fn list_messages(State(st): State<AppState>) -> Response {
    let msgs: Vec<Value> = st
        .lock()
        .messages
        .iter()
        .filter(|m| m.direction == "outbound-api")
        .map(|m| {
            let mut j = m.to_json();
            j["media_urls"] = json!(m.media_urls);
            j["content_sid"] = json!(m.content_sid);
            j["content_variables"] = json!(m.content_variables);
            j["status_callback"] = json!(m.status_callback);
            j["history"] = json!(m.history);
            j["media_fetches"] = json!(m.media_fetches);
            j
        })
        .collect();
    Json(json!({ "messages": msgs })).into_response()
}

async fn list_deliveries(State(st): State<AppState>) -> Response {
    Json(json!({ "deliveries": st.lock().deliveries })).into_response()
}

/// Partial update for `POST /admin/config`: absent fields are left alone; `null` clears the
/// optional ones.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigPatch {
    /// Gateway webhook URL to POST inbound messages to.
    #[serde(default, with = "patch")]
    pub inbound_webhook: Option<Option<String>>,
    /// URL the inbound signature is computed over.
    #[serde(default, with = "patch")]
    pub public_url: Option<Option<String>>,
    /// Replaces the URL rewrite table.
    pub url_rewrites: Option<BTreeMap<String, String>>,
    /// `sent`, `delivered` or `read`.
    pub stop_at: Option<StopAt>,
    /// `{"status":"failed|undelivered","code":N}` or `null`.
    #[serde(default, with = "patch")]
    pub fail_with: Option<Option<FailWith>>,
    /// Pause between status steps.
    pub callback_step_ms: Option<u64>,
    /// Also call back for the initial status.
    pub callback_initial: Option<bool>,
    /// Replaces the sender list.
    pub senders: Option<Vec<String>>,
    /// Sender-level status callback URL or `null`.
    #[serde(default, with = "patch")]
    pub status_callback: Option<Option<String>>,
    /// Fetch outbound media before `sent`.
    pub fetch_media: Option<bool>,
}

/// Distinguishes "absent" from "null" for optional settings.
mod patch {
    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(d).map(Some)
    }
}

async fn set_config(
    State(st): State<AppState>,
    body: Result<Json<ConfigPatch>, JsonRejection>,
) -> Response {
    let p = match parse(body) {
        Ok(p) => p,
        Err(e) => return bad(e),
    };
    for u in [&p.inbound_webhook, &p.public_url, &p.status_callback]
        .into_iter()
        .flatten()
        .flatten()
    {
        if url::Url::parse(u).is_err() {
            return bad(format!("not a URL: {u}"));
        }
    }
    if let Some(s) = p
        .senders
        .iter()
        .flatten()
        .find(|s| !crate::validate::is_whatsapp_address(s))
    {
        return bad(format!("sender must be whatsapp:+E164: {s}"));
    }
    let mut guard = st.lock();
    let s = &mut guard.settings;
    if let Some(v) = p.inbound_webhook {
        s.inbound_webhook = v;
    }
    if let Some(v) = p.public_url {
        s.public_url = v;
    }
    if let Some(v) = p.url_rewrites {
        s.url_rewrites = v;
    }
    if let Some(v) = p.stop_at {
        s.stop_at = v;
    }
    if let Some(v) = p.fail_with {
        s.fail_with = v;
    }
    if let Some(v) = p.callback_step_ms {
        s.callback_step_ms = v;
    }
    if let Some(v) = p.callback_initial {
        s.callback_initial = v;
    }
    if let Some(v) = p.senders {
        s.senders = v;
    }
    if let Some(v) = p.status_callback {
        s.status_callback = v;
    }
    if let Some(v) = p.fetch_media {
        s.fetch_media = v;
    }
    Json(json!(s)).into_response()
}

async fn get_config(State(st): State<AppState>) -> Response {
    Json(json!(st.lock().settings)).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockBody {
    offset_secs: i64,
}

async fn set_clock(
    State(st): State<AppState>,
    body: Result<Json<ClockBody>, JsonRejection>,
) -> Response {
    match parse(body) {
        Ok(b) => {
            st.clock.set_offset(b.offset_secs);
            get_clock(State(st)).await
        }
        Err(e) => bad(e),
    }
}

async fn get_clock(State(st): State<AppState>) -> Response {
    Json(json!({ "offset_secs": st.clock.offset(), "now": st.clock.now() })).into_response()
}

async fn add_fault(
    State(st): State<AppState>,
    body: Result<Json<FaultSpec>, JsonRejection>,
) -> Response {
    let spec = match parse(body) {
        Ok(s) => s,
        Err(e) => return bad(e),
    };
    let mut guard = st.lock();
    match guard.faults.apply(spec) {
        Ok(()) => Json(json!(guard.faults)).into_response(),
        Err(e) => bad(e),
    }
}

async fn get_fault(State(st): State<AppState>) -> Response {
    Json(json!(st.lock().faults)).into_response()
}

async fn clear_fault(State(st): State<AppState>) -> Response {
    st.lock().faults = Default::default();
    StatusCode::NO_CONTENT.into_response()
}

async fn upload_media(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let message_sid = crate::model::new_sid("MM");
    let sid = media::store(&st, &ct, body);
    let url = media::media_url(&st, &message_sid, &sid);
    Json(json!({ "sid": sid, "url": url, "content_type": ct })).into_response()
}

/// Decodes a base64 media payload of an inbound spec.
pub fn decode_b64(s: &str) -> Result<Bytes, String> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map(Bytes::from)
        .map_err(|e| format!("data_base64: {e}"))
}
