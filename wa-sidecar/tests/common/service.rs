//! An in-process wa-sidecar service on the emulator, and `POST /send` against it.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use axum::http::HeaderMap;
use serde_json::{Value, json};
use wa_emulator::EmulatorHandle;
use wa_sidecar::config::{Secret, WebhookConfig};
use wa_sidecar::{LinkState, Service, ServiceOptions, Store};

use super::recorder::SECRET;
use super::{DEADLINE, driver_config, wait_state};

/// Starts the service for the device stored in `dir`, forwarding to `target` (signed with
/// [`SECRET`]), allowing `rate` sends a minute; returns once connected.
pub async fn start_service(emu: &EmulatorHandle, dir: &Path, target: &str, rate: u32) -> Service {
    let options = ServiceOptions {
        webhook: Some(WebhookConfig {
            target: target.parse().unwrap(),
            secret: Secret::new(SECRET),
        }),
        send_rate_per_min: rate,
    };
    let svc = Service::start_with(
        driver_config(&emu.ws_url(), emu),
        Store::open(dir).unwrap(),
        SocketAddr::from(([127, 0, 0, 1], 0)),
        options,
    )
    .await
    .unwrap();
    let mut link = svc.link();
    wait_state(&mut link, DEADLINE, "connected", LinkState::is_connected).await;
    svc
}

/// `POST /send` with `secret` (none when `None`): status, headers and JSON body.
pub async fn post_send(
    svc: &Service,
    secret: Option<&str>,
    body: Value,
) -> (u16, HeaderMap, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("http://{}/send", svc.http_addr()))
        .timeout(Duration::from_secs(70))
        .json(&body);
    if let Some(s) = secret {
        req = req.header(shared::SECRET_HEADER, s);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let json = resp.json().await.unwrap_or(Value::Null);
    (status, headers, json)
}

/// Sends `text` to `to` with idempotency key `key`; asserts 200 and returns the message id.
pub async fn send_text(svc: &Service, to: &str, text: &str, key: &str) -> String {
    let (status, _, body) = post_send(
        svc,
        Some(SECRET),
        json!({"to": to, "type": "text", "text": text, "idempotencyKey": key}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ok"], true);
    body["messageId"].as_str().unwrap().to_owned()
}
