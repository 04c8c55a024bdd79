//! Media: the webhook is answered before the copy, the worker copies with Twilio credentials,
//! and failures become `wa.error` events and retries.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use base64::Engine;
use common::*;
use tokio::sync::Semaphore;

const JPEG: &[u8] = b"\xff\xd8\xff\xe0fake-jpeg-bytes-for-the-test\xff\xd9";

struct MediaServer {
    base: String,
    hits: Arc<AtomicUsize>,
    gate: Arc<Semaphore>,
}

/// Serves `/media/1` (Basic auth required, held until the gate opens).
async fn media_server() -> MediaServer {
    let hits = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Semaphore::new(0));
    let (h, g) = (hits.clone(), gate.clone());
    let app = Router::new().route(
        "/media/1",
        get(move |headers: HeaderMap| {
            let (h, g) = (h.clone(), g.clone());
            async move {
                h.fetch_add(1, Ordering::SeqCst);
                let want = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD
                        .encode(format!("{ACCOUNT_SID}:{AUTH_TOKEN}"))
                );
                if headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    != Some(want.as_str())
                {
                    return StatusCode::UNAUTHORIZED.into_response();
                }
                let _permit = g.acquire().await.unwrap();
                ([(header::CONTENT_TYPE, "image/jpeg")], JPEG).into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    MediaServer { base, hits, gate }
}

#[tokio::test]
async fn media_is_copied_after_the_webhook_answered() {
    let server = media_server().await;
    let api_base = server.base.clone();
    let t = start_with(move |c| c.twilio_api_base = url::Url::parse(&api_base).unwrap()).await;
    let media_url = format!("{}/media/1", server.base);
    let status = t
        .twilio(&[
            ("MessageSid", "MMmedia1"),
            ("From", "whatsapp:+972501234567"),
            ("To", "whatsapp:+14155238886"),
            ("NumMedia", "1"),
            ("MediaUrl0", &media_url),
            ("MediaContentType0", "image/jpeg"),
        ])
        .await;
    assert_eq!(
        status, 204,
        "answered while the media server is still holding the file"
    );
    let contact = t.contacts().await[0]["id"].as_i64().unwrap();
    let msgs = t.messages(contact).await;
    assert!(msgs[0]["media"][0]["stored"].is_null(), "not copied yet");

    server.gate.add_permits(100);
    let stored = wait_for(Duration::from_secs(15), "media copied", || async {
        let msgs = t.messages(contact).await;
        let stored = msgs[0]["media"][0]["stored"].clone();
        (!stored.is_null()).then_some(stored)
    })
    .await;
    assert_eq!(stored["mime"], "image/jpeg");
    assert_eq!(stored["size"], JPEG.len());
    assert_eq!(stored["source"], "twilio");
    use sha2::Digest;
    assert_eq!(stored["sha256"], hex::encode(sha2::Sha256::digest(JPEG)));

    let message_id = msgs[0]["id"].as_i64().unwrap();
    let download = t.get(&format!("/api/messages/{message_id}/media/0")).await;
    assert_eq!(download.status(), 200);
    assert_eq!(download.headers()["content-type"], "image/jpeg");
    assert_eq!(download.bytes().await.unwrap().as_ref(), JPEG);
    assert!(t.events().await.iter().any(|e| e["kind"] == "wa.media"));
    assert!(server.hits.load(Ordering::SeqCst) >= 1);
    t.app.shutdown().await.unwrap();
}

#[tokio::test]
async fn unreachable_media_is_reported_and_retried() {
    // A port with nothing listening.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let t = start().await;
    let url = format!("http://127.0.0.1:{port}/gone.jpg");
    let b = serde_json::json!({
        "remoteJid": "972501234567@s.whatsapp.net", "messageId": "MEDIA404", "timestamp": unix_now(),
        "type": "media", "media": {"mimetype": "image/jpeg", "size": 10, "url": url}
    })
    .to_string();
    assert_eq!(t.baileys(&b).await, 204);
    let contact = t.contacts().await[0]["id"].as_i64().unwrap();
    assert_eq!(
        t.messages(contact).await.len(),
        1,
        "message stored without its media"
    );

    // First failure, then a retry one second later: two wa.error events, job still pending.
    let errors = wait_for(Duration::from_secs(15), "two wa.error events", || async {
        let errs: Vec<_> = t
            .events()
            .await
            .into_iter()
            .filter(|e| e["kind"] == "wa.error")
            .collect();
        (errs.len() >= 2).then_some(errs)
    })
    .await;
    assert_eq!(errors[0]["payload"]["retryable"], true);
    assert_eq!(errors[0]["payload"]["attempts"], 1);
    assert_eq!(errors[1]["payload"]["attempts"], 2);
    let backlog = t.store().job_backlog().await.unwrap();
    assert_eq!((backlog.pending, backlog.dead), (1, 0));
    let metrics = t
        .client
        .get(t.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !metrics.contains("gateway_media_copies_total{outcome=\"retry\"} 0"),
        "{metrics}"
    );
    t.app.shutdown().await.unwrap();
}
