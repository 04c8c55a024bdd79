//! `GET /api/events` (JSON pages) and `GET /api/events/stream` (Server-Sent Events).
//!
//! The stream reads the store, so every gateway instance sees every event; an in-process signal
//! wakes it at once after local writes, and it also polls every second for other instances.
//! Resume with `Last-Event-ID` (the event cursor) or `?after=`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use crm_store::Event;
use futures_util::Stream;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::watch;

use super::{page_limit, store_failure};
use crate::app::AppState;

/// Poll interval of the stream (for events written by other instances).
const POLL: Duration = Duration::from_secs(1);
/// Keep-alive comment interval.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Events read per store query.
const PAGE: i64 = 100;

/// `?after=&limit=`.
#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    after: Option<i64>,
    limit: Option<i64>,
}

/// Events after a cursor, oldest first.
pub async fn list(State(st): State<Arc<AppState>>, Query(q): Query<EventsQuery>) -> Response {
    let after = q.after.unwrap_or(0);
    match st.store.events_after(after, page_limit(q.limit)).await {
        Ok(events) => {
            let next_after = events.last().map_or(after, |e| e.id);
            Json(json!({ "events": events, "next_after": next_after })).into_response()
        }
        Err(e) => store_failure(&e),
    }
}

struct Cursor {
    st: Arc<AppState>,
    after: i64,
    buf: VecDeque<Event>,
    changes: watch::Receiver<u64>,
    stop: watch::Receiver<bool>,
}

fn to_sse(ev: &Event) -> SseEvent {
    let data = serde_json::to_string(ev).unwrap_or_else(|_| "{}".to_owned());
    SseEvent::default()
        .id(ev.id.to_string())
        .event(ev.kind.clone())
        .data(data)
}

async fn next(mut c: Cursor) -> Option<(Result<SseEvent, Infallible>, Cursor)> {
    loop {
        if let Some(ev) = c.buf.pop_front() {
            c.after = ev.id;
            return Some((Ok(to_sse(&ev)), c));
        }
        if *c.stop.borrow() {
            return None;
        }
        // Mark the signal seen before reading, so a write after the read wakes us.
        c.changes.borrow_and_update();
        match c.st.store.events_after(c.after, PAGE).await {
            Ok(events) if !events.is_empty() => {
                c.buf.extend(events);
                continue;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "event stream: store failed; retrying"),
        }
        tokio::select! {
            res = c.changes.changed() => {
                if res.is_err() {
                    tokio::time::sleep(POLL).await;
                }
            }
            () = tokio::time::sleep(POLL) => {}
            _ = c.stop.changed() => {}
        }
    }
}

/// The live stream.
pub async fn stream(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let from_header = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let after = from_header.or(q.after).unwrap_or(0).max(0);
    let cursor = Cursor {
        changes: st.subscribe_events(),
        stop: st.shutdown_signal(),
        st,
        after,
        buf: VecDeque::new(),
    };
    Sse::new(futures_util::stream::unfold(cursor, next))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}
