//! A webhook target standing in for the gateway: records every request whose secret header and
//! HMAC signature check out, and can be switched down (503) to test retries.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

use super::DEADLINE;

/// The webhook secret the tests configure on both sides.
pub const SECRET: &str = "test-webhook-secret";

/// A webhook target that records every signed request it accepts.
#[derive(Clone)]
pub struct Recorder {
    pub bodies: Arc<Mutex<Vec<Value>>>,
    pub up: Arc<AtomicBool>,
    pub refused: Arc<Mutex<u64>>,
    pub url: String,
}

async fn record(State(r): State<Recorder>, headers: HeaderMap, body: Bytes) -> StatusCode {
    if !r.up.load(Ordering::SeqCst) {
        *r.refused.lock().unwrap() += 1;
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    assert_eq!(h(shared::SECRET_HEADER), SECRET, "secret header");
    let now = (wa_sidecar::driver::now_ms() / 1000) as i64;
    shared::signature::verify(
        SECRET.as_bytes(),
        h(shared::TIMESTAMP_HEADER),
        h(shared::SIGNATURE_HEADER),
        &body,
        now,
    )
    .expect("valid HMAC signature");
    r.bodies
        .lock()
        .unwrap()
        .push(serde_json::from_slice(&body).unwrap());
    StatusCode::NO_CONTENT
}

impl Recorder {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let r = Recorder {
            bodies: Arc::default(),
            up: Arc::new(AtomicBool::new(true)),
            refused: Arc::default(),
            url: format!("http://{addr}/api/whatsapp/baileys"),
        };
        let app = axum::Router::new()
            .route("/api/whatsapp/baileys", axum::routing::post(record))
            .with_state(r.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        r
    }

    pub fn messages(&self) -> Vec<Value> {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .filter(|b| b.get("event").is_none())
            .cloned()
            .collect()
    }

    pub fn receipts(&self) -> Vec<Value> {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .filter(|b| b["event"] == "receipt")
            .cloned()
            .collect()
    }

    /// Waits until a message with `text` arrived; returns it.
    pub async fn wait_text(&self, text: &str) -> Value {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            if let Some(m) = self.messages().into_iter().find(|m| m["text"] == text) {
                return m;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no webhook for {text:?}; got {:?}",
                self.bodies.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn wait_receipt(&self, message_id: &str) -> Value {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            if let Some(r) = self
                .receipts()
                .into_iter()
                .find(|r| r["messageId"] == message_id)
            {
                return r;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no receipt for {message_id}; got {:?}",
                self.bodies.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
