//! `GET /api/contacts`, `GET /api/contacts/{id}/messages`, `GET /api/messages/{id}/media/{index}`.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{page_limit, store_failure};
use crate::app::AppState;

/// `?after=&limit=`.
#[derive(Debug, Deserialize)]
pub struct ContactsQuery {
    after: Option<i64>,
    limit: Option<i64>,
}

/// Contacts with their identities, ordered by id.
pub async fn list(State(st): State<Arc<AppState>>, Query(q): Query<ContactsQuery>) -> Response {
    match st.store.list_contacts(q.after, page_limit(q.limit)).await {
        Ok(contacts) => {
            let next_after = contacts.last().map(|c| c.id);
            Json(json!({ "contacts": contacts, "next_after": next_after })).into_response()
        }
        Err(e) => store_failure(&e),
    }
}

/// `?before=&limit=`.
#[derive(Debug, Deserialize)]
pub struct MessagesQuery {
    before: Option<i64>,
    limit: Option<i64>,
}

/// A contact's timeline, newest first.
pub async fn messages(
    State(st): State<Arc<AppState>>,
    Path(id): Path<i64>,
    Query(q): Query<MessagesQuery>,
) -> Response {
    let contact = match st.store.contact(id).await {
        Ok(Some(c)) => c,
        Ok(None) => return (StatusCode::NOT_FOUND, "no such contact").into_response(),
        Err(e) => return store_failure(&e),
    };
    match st
        .store
        .messages_for_contact(id, q.before, page_limit(q.limit))
        .await
    {
        Ok(messages) => {
            let next_before = messages.last().map(|m| m.id);
            Json(json!({ "contact": contact, "messages": messages, "next_before": next_before }))
                .into_response()
        }
        Err(e) => store_failure(&e),
    }
}

/// The stored copy of a message's attachment.
pub async fn media(
    State(st): State<Arc<AppState>>,
    Path((id, index)): Path<(i64, i32)>,
) -> Response {
    let message = match st.store.message(id).await {
        Ok(Some(m)) => m,
        Ok(None) => return (StatusCode::NOT_FOUND, "no such message").into_response(),
        Err(e) => return store_failure(&e),
    };
    let Some(meta) = message
        .media
        .iter()
        .find(|m| m.index == index)
        .and_then(|m| m.stored.clone())
    else {
        return (StatusCode::NOT_FOUND, "no stored media at that index").into_response();
    };
    match st.media.read(&meta.storage_key).await {
        Ok(Some(body)) => {
            let mut r = Body::from_stream(body.stream).into_response();
            let h = r.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&meta.mime) {
                h.insert(header::CONTENT_TYPE, v);
            }
            if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", meta.sha256)) {
                h.insert(header::ETAG, v);
            }
            if let Some(size) = body.size {
                h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
            }
            r
        }
        Ok(None) => (StatusCode::NOT_FOUND, "media file missing from the store").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "API: media store failed");
            (StatusCode::SERVICE_UNAVAILABLE, "media store unavailable").into_response()
        }
    }
}
