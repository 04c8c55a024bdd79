//! A stand-in sidecar following the contract (ARCHITECTURE.md "Sidecar HTTP"): `POST /send`
//! with the secret check and persisted-per-run idempotency, `GET /health`; switchable to
//! disconnected (503 `connected:false`), busy (429 with `Retry-After`), or killed (the port
//! refuses connections), and restartable on the same port.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

/// One accepted send.
#[derive(Debug, Clone)]
pub struct StubSend {
    pub to: String,
    pub kind: String,
    pub text: Option<String>,
    pub media_url: Option<String>,
    pub idempotency_key: String,
    pub message_id: String,
}

#[derive(Default)]
pub struct StubState {
    pub secret: String,
    pub connected: bool,
    /// Answer this many sends with 429 first.
    pub busy: u32,
    /// Sends accepted (one per key).
    pub sends: Vec<StubSend>,
    /// Requests to /send, including repeats and refusals.
    pub requests: u32,
    pub health_checks: u32,
    by_key: HashMap<String, String>,
}

pub struct SidecarStub {
    pub state: Arc<Mutex<StubState>>,
    pub addr: SocketAddr,
    task: Option<tokio::task::JoinHandle<()>>,
}

async fn send(
    State(st): State<Arc<Mutex<StubState>>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let mut s = st.lock().unwrap();
    s.requests += 1;
    let presented = headers
        .get("X-BAILEYS-SECRET")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if presented != s.secret {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"ok": false, "error": "bad secret"})),
        )
            .into_response();
    }
    let Ok(v) = serde_json::from_str::<Value>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"ok": false, "error": "not JSON"})),
        )
            .into_response();
    };
    let Some(key) = v["idempotencyKey"].as_str().filter(|k| !k.is_empty()) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"ok": false, "error": "idempotencyKey is required"})),
        )
            .into_response();
    };
    if let Some(id) = s.by_key.get(key) {
        return Json(json!({"ok": true, "messageId": id})).into_response();
    }
    if !s.connected {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [("Retry-After", "1")],
            Json(json!({"ok": false, "error": "not connected"})),
        )
            .into_response();
    }
    if s.busy > 0 {
        s.busy -= 1;
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("Retry-After", "1")],
            Json(json!({"ok": false, "error": "slow down"})),
        )
            .into_response();
    }
    let id = format!("3EB0{:016X}", s.sends.len() as u64 + 1);
    s.by_key.insert(key.to_owned(), id.clone());
    s.sends.push(StubSend {
        to: v["to"].as_str().unwrap_or("").to_owned(),
        kind: v["type"].as_str().unwrap_or("").to_owned(),
        text: v["text"].as_str().map(str::to_owned),
        media_url: v["mediaUrl"].as_str().map(str::to_owned),
        idempotency_key: key.to_owned(),
        message_id: id.clone(),
    });
    Json(json!({"ok": true, "messageId": id})).into_response()
}

async fn health(State(st): State<Arc<Mutex<StubState>>>) -> Response {
    let mut s = st.lock().unwrap();
    s.health_checks += 1;
    if s.connected {
        Json(json!({"status": "ok", "device": "972500000000:1@s.whatsapp.net", "connected": true}))
            .into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "down", "connected": false, "reason": "connecting"})),
        )
            .into_response()
    }
}

/// No keep-alive: a killed stub must refuse the next request, not serve it on a pooled
/// connection that outlived the listener.
async fn close_connection(mut r: Response) -> Response {
    r.headers_mut().insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    r
}

impl SidecarStub {
    pub async fn start(secret: &str) -> SidecarStub {
        let state = Arc::new(Mutex::new(StubState {
            secret: secret.to_owned(),
            connected: true,
            ..StubState::default()
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut stub = SidecarStub {
            state,
            addr,
            task: None,
        };
        stub.serve(listener);
        stub
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let app = axum::Router::new()
            .route("/send", post(send))
            .route("/health", get(health))
            .layer(axum::middleware::map_response(close_connection))
            .with_state(self.state.clone());
        self.task = Some(tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        }));
    }

    pub fn send_url(&self) -> String {
        format!("http://{}/send", self.addr)
    }

    /// Stops listening: connections to the port are refused.
    pub async fn kill(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }

    /// Listens again on the same port (nothing to do while still listening).
    pub async fn restart(&mut self) {
        if self.task.is_some() {
            return;
        }
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }

    pub fn set_connected(&self, up: bool) {
        self.state.lock().unwrap().connected = up;
    }

    pub fn sends(&self) -> Vec<StubSend> {
        self.state.lock().unwrap().sends.clone()
    }

    pub fn health_checks(&self) -> u32 {
        self.state.lock().unwrap().health_checks
    }
}

impl Drop for SidecarStub {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}
