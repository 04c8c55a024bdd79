//! The sidecar's HTTP API (axum): `GET /health`, `GET /metrics` (Prometheus text) and
//! `POST /send` ([`crate::send_api`]).

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

/// The router: `GET /health`, `GET /metrics`, `POST /send`.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
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

/// Prometheus text: whether the WhatsApp session works (and why not), and the inbound outbox.
async fn metrics(State(state): State<HttpState>) -> impl IntoResponse {
    let link = state.link.borrow().clone();
    let (backlog, dead) = state
        .store
        .as_ref()
        .map_or((0, 0), |s| (s.outbox_len(), s.dead_letter_len()));
    let health = link.health(None, backlog);
    let reason = health.reason.as_deref().unwrap_or("connected");
    let body = format!(
        "# HELP wa_sidecar_connected 1 when the WhatsApp session is connected.\n\
         # TYPE wa_sidecar_connected gauge\n\
         wa_sidecar_connected {}\n\
         # HELP wa_sidecar_state The session state (1 for the current one).\n\
         # TYPE wa_sidecar_state gauge\n\
         wa_sidecar_state{{state=\"{reason}\"}} 1\n\
         # HELP wa_sidecar_outbox_backlog Received messages not yet accepted by the webhook target.\n\
         # TYPE wa_sidecar_outbox_backlog gauge\n\
         wa_sidecar_outbox_backlog {backlog}\n\
         # HELP wa_sidecar_dead_letters Messages the webhook target refused for good.\n\
         # TYPE wa_sidecar_dead_letters gauge\n\
         wa_sidecar_dead_letters {dead}\n",
        u8::from(health.connected),
    );
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        body,
    )
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

    #[tokio::test]
    async fn metrics_report_state_backlog_and_dead_letters() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let outbox = store.tree(crate::store::OUTBOX_TREE).unwrap();
        outbox.insert(1u64.to_be_bytes(), b"{}".as_slice()).unwrap();
        outbox.insert(2u64.to_be_bytes(), b"{}".as_slice()).unwrap();
        let dead = store.tree(crate::store::DEAD_LETTER_TREE).unwrap();
        dead.insert(3u64.to_be_bytes(), b"{}".as_slice()).unwrap();

        let (_tx, rx) = watch::channel(LinkState::NotPaired);
        let resp = router(HttpState::new(rx, Some(store)))
            .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(text.contains("\nwa_sidecar_connected 0\n"), "{text}");
        assert!(
            text.contains("wa_sidecar_state{state=\"not_paired\"} 1"),
            "{text}"
        );
        assert!(text.contains("\nwa_sidecar_outbox_backlog 2\n"), "{text}");
        assert!(text.contains("\nwa_sidecar_dead_letters 1\n"), "{text}");
    }
}
