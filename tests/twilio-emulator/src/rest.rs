//! The emulated REST API: `POST/GET /2010-04-01/Accounts/{AccountSid}/Messages.json`,
//! `GET …/Messages/{Sid}.json` and the media URLs, behind HTTP Basic auth (fact sheet A7).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, OriginalUri, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde_json::json;
use subtle::ConstantTimeEq;
use tokio::sync::Notify;

use crate::callbacks::{plan, spawn_lifecycle};
use crate::clock::{parse_iso, start_of_day};
use crate::model::{API_VERSION, Message, Status, new_sid};
use crate::state::{AppState, Shared};
use crate::twilio_error::TwilioError;
use crate::validate;

/// Closes the current connection without an answer when notified (set per connection by the
/// server loop).
#[derive(Clone, Debug)]
pub struct ConnKill(pub Arc<Notify>);

/// Length of the 24-hour customer-service window (fact sheet A10).
pub const WINDOW_SECS: i64 = 24 * 3600;

/// The REST routes (fault middleware is added by the caller).
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/2010-04-01/Accounts/{account}/Messages.json",
            post(create).get(list),
        )
        .route("/2010-04-01/Accounts/{account}/Messages/{file}", get(fetch))
        .route(
            "/2010-04-01/Accounts/{account}/Messages/{msg}/Media/{media}",
            get(crate::media::twilio_media),
        )
}

fn eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// Checks HTTP Basic credentials (AccountSid:AuthToken or ApiKeySid:ApiKeySecret) and that
/// `account` in the path is ours. Secrets compared in constant time, never logged.
pub fn authenticate(st: &Shared, headers: &HeaderMap, account: &str) -> Result<(), TwilioError> {
    let creds = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok())
        .ok_or_else(TwilioError::authenticate)?;
    let (user, pass) = creds
        .split_once(':')
        .ok_or_else(TwilioError::authenticate)?;
    let primary = eq(user, &st.account_sid) & eq(pass, &st.auth_token);
    let key = eq(user, &st.api_key_sid) & eq(pass, &st.api_key_secret);
    if !(primary | key) || account != st.account_sid {
        return Err(TwilioError::authenticate());
    }
    Ok(())
}

fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

async fn create(
    State(st): State<AppState>,
    Path(account): Path<String>,
    kill: Option<Extension<ConnKill>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(e) = authenticate(&st, &headers, &account) {
        return e.into_response();
    }
    let form = parse_form(&body);
    let (message, window_open, drop_conn) = {
        let mut guard = st.lock();
        let req = match validate::create(&form, &guard.settings.senders, &guard.templates) {
            Ok(r) => r,
            Err(e) => return e.into_response(),
        };
        let now = st.clock.now();
        let window_open = !req.is_free_form()
            || guard
                .windows
                .get(&(req.to.clone(), req.from.clone()))
                .is_some_and(|&last| now - last <= WINDOW_SECS);
        let initial = if req.messaging_service_sid.is_some() {
            Status::Accepted
        } else {
            Status::Queued
        };
        let (content_sid, content_variables) = req.content.clone().unzip();
        let message = Message {
            sid: new_sid(if req.media_urls.is_empty() {
                "SM"
            } else {
                "MM"
            }),
            account_sid: st.account_sid.clone(),
            messaging_service_sid: req.messaging_service_sid.clone(),
            from: req.from,
            to: req.to,
            body: req.body,
            direction: "outbound-api",
            status: initial,
            media_urls: req.media_urls,
            content_sid,
            content_variables: content_variables.flatten(),
            status_callback: req
                .status_callback
                .or_else(|| guard.settings.status_callback.clone()),
            error_code: None,
            error_message: None,
            date_created: now,
            date_updated: now,
            date_sent: None,
            history: vec![initial],
            media_fetches: Vec::new(),
        };
        guard.messages.push(message.clone());
        (message, window_open, guard.faults.take_drop())
    };
    let (steps, pause) = plan(
        &st,
        message.status,
        message.messaging_service_sid.is_some(),
        !message.media_urls.is_empty(),
        window_open,
    );
    spawn_lifecycle(st.clone(), message.sid.clone(), steps, pause);
    if drop_conn && let Some(Extension(ConnKill(notify))) = kill {
        tracing::info!(sid = %message.sid, "fault: message created, dropping the connection");
        notify.notify_one();
        std::future::pending::<()>().await;
    }
    (StatusCode::CREATED, axum::Json(message.to_json())).into_response()
}

async fn fetch(
    State(st): State<AppState>,
    Path((account, file)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = authenticate(&st, &headers, &account) {
        return e.into_response();
    }
    let sid = file.strip_suffix(".json").unwrap_or(&file);
    let found = st.lock().messages.iter().find(|m| m.sid == sid).cloned();
    match found {
        Some(m) => axum::Json(m.to_json()).into_response(),
        None => TwilioError::not_found(uri.path()).into_response(),
    }
}

/// List filters: `To`, `From`, `DateSent`, `DateSent>`, `DateSent<` (dates or date-times),
/// `PageSize`.
#[derive(Debug, Default)]
struct Filter {
    to: Option<String>,
    from: Option<String>,
    after: Option<i64>,
    before: Option<i64>,
    page_size: usize,
}

fn parse_filter(query: &str) -> Result<Filter, TwilioError> {
    let mut f = Filter {
        page_size: 50,
        ..Filter::default()
    };
    let bad_date = |v: &str| TwilioError::bad_request(20001, format!("Invalid DateSent: {v}"));
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        let date_only = !v.contains('T');
        match k.as_ref() {
            "To" => f.to = Some(v.into_owned()),
            "From" => f.from = Some(v.into_owned()),
            "DateSent>" => f.after = Some(parse_iso(&v).ok_or_else(|| bad_date(&v))?),
            "DateSent<" => {
                let t = parse_iso(&v).ok_or_else(|| bad_date(&v))?;
                f.before = Some(if date_only { t + 86_399 } else { t });
            }
            "DateSent" => {
                let t = parse_iso(&v).ok_or_else(|| bad_date(&v))?;
                f.after = Some(start_of_day(t));
                f.before = Some(start_of_day(t) + 86_399);
            }
            "PageSize" => {
                f.page_size = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| TwilioError::bad_request(20001, "Invalid PageSize"))?;
            }
            _ => {}
        }
    }
    Ok(f)
}

async fn list(
    State(st): State<AppState>,
    Path(account): Path<String>,
    RawQuery(query): RawQuery,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = authenticate(&st, &headers, &account) {
        return e.into_response();
    }
    let f = match parse_filter(query.as_deref().unwrap_or("")) {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let messages: Vec<serde_json::Value> = st
        .lock()
        .messages
        .iter()
        .rev()
        .filter(|m| f.to.as_ref().is_none_or(|t| &m.to == t))
        .filter(|m| f.from.as_ref().is_none_or(|t| &m.from == t))
        .filter(|m| {
            let t = m.date_sent.unwrap_or(m.date_created);
            f.after.is_none_or(|a| t >= a) && f.before.is_none_or(|b| t <= b)
        })
        .take(f.page_size)
        .map(Message::to_json)
        .collect();
    let uri = uri.to_string();
    axum::Json(json!({
        "end": messages.len().saturating_sub(1),
        "first_page_uri": uri,
        "next_page_uri": null,
        "page": 0,
        "page_size": f.page_size,
        "previous_page_uri": null,
        "start": 0,
        "uri": uri,
        "messages": messages,
    }))
    .into_response()
}

/// Twilio-style 404 for REST paths the emulator does not serve.
pub async fn not_found(OriginalUri(uri): OriginalUri) -> Response {
    TwilioError::not_found(uri.path()).into_response()
}

/// The path prefix of the REST API.
pub fn api_prefix() -> String {
    format!("/{API_VERSION}/")
}
