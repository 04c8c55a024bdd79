//! The read API for the CRM and the dashboard, behind a bearer token (`GATEWAY_API_TOKEN`).

pub mod contacts;
pub mod events;
pub mod messages;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::app::AppState;

/// Default page size.
pub const DEFAULT_LIMIT: i64 = 50;
/// Largest page size.
pub const MAX_LIMIT: i64 = 500;

/// Clamps a requested page size.
pub fn page_limit(requested: Option<i64>) -> i64 {
    requested.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
}

/// Routes under `/api` except the webhooks.
pub fn router(state: Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/contacts", get(contacts::list))
        .route("/api/contacts/{id}/messages", get(contacts::messages))
        .route("/api/messages/{id}/media/{index}", get(contacts::media))
        .route("/api/events", get(events::list))
        .route("/api/events/stream", get(events::stream))
        .route("/api/messages", axum::routing::post(messages::send))
        .route("/api/providers", get(messages::providers))
        .route_layer(middleware::from_fn_with_state(state, require_bearer))
}

/// Refuses requests without `Authorization: Bearer <GATEWAY_API_TOKEN>` (constant-time compare).
async fn require_bearer(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    match presented {
        Some(token) if st.api_token.matches(token.as_bytes()) => next.run(req).await,
        _ => {
            tracing::warn!(path = %req.uri().path(), "API request without a valid bearer token");
            let mut r = StatusCode::UNAUTHORIZED.into_response();
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            r
        }
    }
}

/// Maps a store failure to a 503 for API callers.
pub(crate) fn store_failure(e: &crm_store::StoreError) -> Response {
    tracing::warn!(error = %e, "API: store failed");
    (StatusCode::SERVICE_UNAVAILABLE, "store unavailable").into_response()
}
