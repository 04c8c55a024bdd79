//! The sidecar's HTTP API (axum): `GET /health` and `POST /send` ([`crate::send_api`]).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::sync::watch;

use crate::state::LinkState;
use crate::store::Store;

/// What the HTTP handlers read.
#[derive(Clone)]
pub struct HttpState {
    pub(crate) link: watch::Receiver<LinkState>,
    store: Option<Store>,
    device: Arc<std::sync::Mutex<Option<String>>>,
    pub(crate) send: Option<crate::send_api::SendApi>,
}

impl HttpState {
    /// Handlers read the session state from `link` and the outbox backlog from `store`.
    pub fn new(link: watch::Receiver<LinkState>, store: Option<Store>) -> Self {
        HttpState {
            link,
            store,
            device: Arc::default(),
            send: None,
        }
    }

    /// Serves `POST /send` through `api`.
    pub fn with_send(mut self, api: crate::send_api::SendApi) -> Self {
        self.send = Some(api);
        self
    }

    /// Remembers our JID so `/health` names the device in every state.
    pub fn set_device(&self, jid: Option<String>) {
        if let Ok(mut d) = self.device.lock() {
            *d = jid;
        }
    }
}

/// The router: `GET /health`, `POST /send`.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/send", post(crate::send_api::send))
        .with_state(state)
}

async fn health(State(state): State<HttpState>) -> impl IntoResponse {
    let link = state.link.borrow().clone();
    let backlog = state.store.as_ref().map_or(0, Store::outbox_len);
    let device = state.device.lock().ok().and_then(|d| d.clone());
    let body = link.health(device, backlog);
    let status = if body.connected {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    async fn get_health(state: LinkState) -> (StatusCode, serde_json::Value) {
        let (_tx, rx) = watch::channel(state);
        let resp = router(HttpState::new(rx, None))
            .oneshot(Request::get("/health").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn connected_is_200_with_device() {
        let (status, body) = get_health(LinkState::Connected {
            jid: "972500000001:3@s.whatsapp.net".into(),
            lid: None,
        })
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["status"], "ok");
        assert_eq!(body["connected"], true);
        assert_eq!(body["device"], "972500000001:3@s.whatsapp.net");
        assert!(body.get("reason").is_none());
    }

    #[tokio::test]
    async fn every_other_state_is_503_with_its_reason() {
        for (state, reason) in [
            (LinkState::NotPaired, "not_paired"),
            (
                LinkState::Connecting {
                    jid: None,
                    last_error: None,
                },
                "connecting",
            ),
            (
                LinkState::LoggedOut {
                    reason: "device_removed".into(),
                },
                "logged_out",
            ),
            (LinkState::Replaced, "replaced"),
            (
                LinkState::QrPending {
                    qr: "secret-qr".into(),
                    expires_at: 0,
                },
                "qr_pending",
            ),
        ] {
            let (status, body) = get_health(state).await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(body["status"], "down");
            assert_eq!(body["connected"], false);
            assert_eq!(body["reason"], reason);
            assert!(!body.to_string().contains("secret-qr"));
        }
    }
}
