//! Read API, event stream, health, metrics and store outages.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::flaky::FlakyStore;
use common::*;
use crm_store::sqlite::SqliteStore;
use futures_util::StreamExt;

#[tokio::test]
async fn bearer_required() {
    let t = start().await;
    for path in [
        "/api/contacts",
        "/api/events",
        "/api/events/stream",
        "/api/contacts/1/messages",
    ] {
        let none = t.client.get(t.url(path)).send().await.unwrap();
        assert_eq!(none.status(), 401, "{path}");
        let wrong = t
            .client
            .get(t.url(path))
            .bearer_auth("api-token-for-tests-0123456780")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401, "{path}");
    }
    assert_eq!(t.get("/api/contacts").await.status(), 200);
    assert_eq!(t.get("/api/contacts/999/messages").await.status(), 404);
    t.app.shutdown().await.unwrap();
}

#[tokio::test]
async fn sse_stream_delivers_inbound_and_resumes() {
    let t = start().await;
    let resp = t.get("/api/events/stream").await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut stream = resp.bytes_stream();
    assert_eq!(
        t.twilio(&[
            ("MessageSid", "SMsse1"),
            ("From", "whatsapp:+972501234567"),
            ("To", "whatsapp:+14155238886"),
            ("Body", "live")
        ])
        .await,
        204
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = String::new();
    while !seen.contains("event: wa.inbound") {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, stream.next())
            .await
            .expect("wa.inbound within 10 s");
        seen.push_str(&String::from_utf8_lossy(&chunk.unwrap().unwrap()));
    }
    let id_line = seen.lines().find(|l| l.starts_with("id: ")).unwrap();
    let cursor: i64 = id_line[4..].trim().parse().unwrap();
    drop(stream);

    // Resuming after that cursor skips it; the next message arrives.
    let resp = t
        .client
        .get(t.url("/api/events/stream"))
        .bearer_auth(API_TOKEN)
        .header("Last-Event-ID", cursor.to_string())
        .send()
        .await
        .unwrap();
    let mut stream = resp.bytes_stream();
    assert_eq!(
        t.twilio(&[
            ("MessageSid", "SMsse2"),
            ("From", "whatsapp:+972501234567"),
            ("To", "whatsapp:+14155238886"),
            ("Body", "again")
        ])
        .await,
        204
    );
    let mut seen = String::new();
    while !seen.contains("event: wa.inbound") {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, stream.next())
            .await
            .expect("second wa.inbound");
        seen.push_str(&String::from_utf8_lossy(&chunk.unwrap().unwrap()));
    }
    let ids: Vec<i64> = seen
        .lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .map(|v| v.trim().parse().unwrap())
        .collect();
    assert!(
        !ids.is_empty() && ids.iter().all(|&id| id > cursor),
        "resume skips seen events: {seen}"
    );

    let events = t.get_json(&format!("/api/events?after={cursor}")).await;
    assert!(
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["id"].as_i64().unwrap() > cursor)
    );
    // Shutdown completes although a stream is open.
    tokio::time::timeout(Duration::from_secs(10), t.app.shutdown())
        .await
        .expect("graceful shutdown")
        .unwrap();
}

#[tokio::test]
async fn health_ready_metrics_and_store_outage() {
    let dir = tempfile::tempdir().unwrap();
    let inner = SqliteStore::open(&format!("sqlite:{}", dir.path().join("s.db").display()))
        .await
        .unwrap();
    let flaky = Arc::new(FlakyStore::new(Arc::new(inner)));
    let t = start_on_store(flaky.clone()).await;
    assert_eq!(
        t.client
            .get(t.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        t.client
            .get(t.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    flaky.set_down(true);
    assert_eq!(
        t.client
            .get(t.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        503
    );
    assert_eq!(
        t.client
            .get(t.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let twilio = [
        ("MessageSid", "SMdown"),
        ("From", "whatsapp:+972501234567"),
        ("To", "whatsapp:+14155238886"),
        ("Body", "x"),
    ];
    assert_eq!(t.twilio(&twilio).await, 503);
    let b = serde_json::json!({"remoteJid": "972501234567@s.whatsapp.net", "messageId": "DOWN1", "timestamp": unix_now(), "type": "text", "text": "x"}).to_string();
    assert_eq!(t.baileys(&b).await, 503);
    assert_eq!(t.get("/api/contacts").await.status(), 503);
    let metrics = t
        .client
        .get(t.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("gateway_store_up 0"));

    flaky.set_down(false);
    assert_eq!(
        t.twilio(&twilio).await,
        204,
        "provider retry after the outage is stored"
    );
    assert_eq!(t.baileys(&b).await, 204);
    let metrics = t.client.get(t.url("/metrics")).send().await.unwrap();
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let metrics = metrics.text().await.unwrap();
    for needle in [
        "gateway_webhooks_total{route=\"twilio\",outcome=\"unavailable\"} 1",
        "gateway_webhooks_total{route=\"baileys\",outcome=\"unavailable\"} 1",
        "gateway_webhooks_total{route=\"twilio\",outcome=\"stored\"} 1",
        "gateway_webhooks_total{route=\"baileys\",outcome=\"stored\"} 1",
        "gateway_store_up 1",
        "gateway_jobs_pending 0",
        "gateway_job_lag_seconds",
        "gateway_media_copies_total{outcome=\"stored\"} 0",
    ] {
        assert!(metrics.contains(needle), "{needle} in\n{metrics}");
    }
    t.app.shutdown().await.unwrap();
}

#[tokio::test]
async fn contacts_paginate() {
    let t = start().await;
    for i in 0..3 {
        let from = format!("whatsapp:+97250123456{i}");
        let sid = format!("SMpage{i}");
        assert_eq!(
            t.twilio(&[
                ("MessageSid", &sid),
                ("From", &from),
                ("To", "whatsapp:+14155238886"),
                ("Body", "x")
            ])
            .await,
            204
        );
    }
    let first = t.get_json("/api/contacts?limit=2").await;
    assert_eq!(first["contacts"].as_array().unwrap().len(), 2);
    let after = first["next_after"].as_i64().unwrap();
    let rest = t
        .get_json(&format!("/api/contacts?after={after}&limit=2"))
        .await;
    assert_eq!(rest["contacts"].as_array().unwrap().len(), 1);
    assert_eq!(t.get("/api/contacts?limit=abc").await.status(), 400);
    t.app.shutdown().await.unwrap();
}
