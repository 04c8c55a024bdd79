//! wa-sidecar ↔ UNMODIFIED Baileys (`tests/interop/baileys`) on the emulator: a text from
//! `POST /send` is decrypted by Baileys, and Baileys' reply reaches the sidecar's webhook.
//!
//! Needs `npm ci` in `tests/interop/baileys`. Without `node_modules` the test fails when `CI` is
//! set and otherwise prints a notice and passes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};
use tokio::time::Instant;
use wa_emulator::baileys_harness::{self, BaileysHarness, STEP};
use wa_sidecar::config::{Secret, WebhookConfig};
use wa_sidecar::{LinkState, Service, ServiceOptions, Store};

const SECRET: &str = "interop-secret";
const BAILEYS_PHONE: &str = "972500000012";

async fn record(State(seen): State<Arc<Mutex<Vec<Value>>>>, body: Bytes) -> StatusCode {
    seen.lock()
        .unwrap()
        .push(serde_json::from_slice(&body).unwrap());
    StatusCode::NO_CONTENT
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecar_and_baileys_exchange_texts() {
    if !baileys_harness::ready() {
        return;
    }
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let auth = tempfile::tempdir().unwrap();
    pair(&emu, dir.path()).await;

    let mut baileys = BaileysHarness::spawn(&emu.ws_url(), auth.path());
    let qr = baileys.expect("qr-data: ").await;
    let device = emu.scan(&qr, BAILEYS_PHONE).await.unwrap();
    assert_eq!(baileys.expect("open ").await, device.jid);

    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(record))
        .with_state(seen.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let svc = Service::start_with(
        driver_config(&emu.ws_url(), &emu),
        Store::open(dir.path()).unwrap(),
        SocketAddr::from(([127, 0, 0, 1], 0)),
        ServiceOptions {
            webhook: Some(WebhookConfig {
                target: hook.parse().unwrap(),
                secret: Secret::new(SECRET),
            }),
            send_rate_per_min: 20,
        },
    )
    .await
    .unwrap();
    let mut link = svc.link();
    wait_state(&mut link, DEADLINE, "connected", LinkState::is_connected).await;

    // sidecar → Baileys
    let resp = reqwest::Client::new()
        .post(format!("http://{}/send", svc.http_addr()))
        .header(shared::SECRET_HEADER, SECRET)
        .json(
            &json!({"to": BAILEYS_PHONE, "type": "text", "text": "hello Baileys",
                      "idempotencyKey": "i-1"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let sent: Value = resp.json().await.unwrap();
    let got: Value = serde_json::from_str(&baileys.expect("message ").await).unwrap();
    assert_eq!(got["text"], "hello Baileys");
    assert_eq!(got["id"], sent["messageId"]);

    // Baileys → sidecar
    baileys
        .command(&format!("send {PHONE}@s.whatsapp.net hi sidecar"))
        .await;
    let id = baileys.expect("sent ").await;
    let deadline = Instant::now() + STEP;
    let msg = loop {
        let found = seen
            .lock()
            .unwrap()
            .iter()
            .find(|m| m["text"] == "hi sidecar")
            .cloned();
        if let Some(m) = found {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "no webhook; saw {:?}",
            seen.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(msg["messageId"], id.as_str());
    assert_eq!(msg["type"], "text");
    svc.shutdown().await;
}
