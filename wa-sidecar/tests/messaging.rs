//! Two paired wa-sidecars on one in-process emulator exchanging texts through `POST /send`,
//! with each side's inbound forwarding going to a small recording webhook that checks the
//! HMAC signature. Deadlines, never sleeps, decide failures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::recorder::{Recorder, SECRET};
use common::service::{post_send, send_text, start_service};
use common::*;
use serde_json::json;
use wa_emulator::EmulatorHandle;
use wa_sidecar::config::{Secret, WebhookConfig};
use wa_sidecar::{Service, ServiceOptions, Store};

const PHONE_B: &str = "972509999888";

struct Pair {
    emu: EmulatorHandle,
    dir_a: tempfile::TempDir,
    dir_b: tempfile::TempDir,
    hook_a: Recorder,
    hook_b: Recorder,
}

async fn setup() -> Pair {
    let emu = emulator().await;
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    pair_as(&emu, dir_a.path(), PHONE).await;
    pair_as(&emu, dir_b.path(), PHONE_B).await;
    Pair {
        emu,
        dir_a,
        dir_b,
        hook_a: Recorder::start().await,
        hook_b: Recorder::start().await,
    }
}

#[tokio::test]
async fn texts_both_ways_are_forwarded_once_with_receipts_and_idempotent_replay() {
    let p = setup().await;
    let a = start_service(&p.emu, p.dir_a.path(), &p.hook_a.url, 20).await;
    let b = start_service(&p.emu, p.dir_b.path(), &p.hook_b.url, 20).await;

    let id = send_text(&a, PHONE_B, "hello from A", "k-1").await;
    let got = p.hook_b.wait_text("hello from A").await;
    assert_eq!(got["messageId"], id.as_str());
    assert_eq!(got["type"], "text");
    let remote = got["remoteJid"].as_str().unwrap();
    let alt = got["remoteJidAlt"].as_str().unwrap_or_default();
    assert!(
        remote == format!("{PHONE}@s.whatsapp.net") || alt == format!("{PHONE}@s.whatsapp.net"),
        "sender not named by phone or alt: {got}"
    );
    assert!(got["timestamp"].as_i64().unwrap() > 1_600_000_000);

    // B's device acknowledged it: A forwards a delivered receipt for its message
    let receipt = p.hook_a.wait_receipt(&id).await;
    assert_eq!(receipt["status"], "delivered");

    // replay: same key and body → same id, nothing sent again
    let again = send_text(&a, PHONE_B, "hello from A", "k-1").await;
    assert_eq!(again, id);
    // same key, other body → 409
    let (status, _, body) = post_send(
        &a,
        Some(SECRET),
        json!({"to": PHONE_B, "type": "text", "text": "different", "idempotencyKey": "k-1"}),
    )
    .await;
    assert_eq!(status, 409, "{body}");

    // B replies by JID; A receives it
    let reply = send_text(
        &b,
        &format!("{PHONE}@s.whatsapp.net"),
        "hi A, B here",
        "r-1",
    )
    .await;
    let got = p.hook_a.wait_text("hi A, B here").await;
    assert_eq!(got["messageId"], reply.as_str());

    // a later message from A arrives after the replay, and the first one exactly once
    send_text(&a, PHONE_B, "second from A", "k-2").await;
    p.hook_b.wait_text("second from A").await;
    let firsts = p
        .hook_b
        .messages()
        .iter()
        .filter(|m| m["messageId"] == id.as_str())
        .count();
    assert_eq!(firsts, 1, "{:?}", p.hook_b.messages());
    let texts: Vec<_> = p
        .hook_b
        .messages()
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(texts, vec![json!("hello from A"), json!("second from A")]);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn offline_peer_gets_the_message_after_reconnecting_and_restart_keeps_the_session() {
    let p = setup().await;
    let a = start_service(&p.emu, p.dir_a.path(), &p.hook_a.url, 20).await;
    let b = start_service(&p.emu, p.dir_b.path(), &p.hook_b.url, 20).await;
    send_text(&a, PHONE_B, "warm-up", "w-1").await;
    p.hook_b.wait_text("warm-up").await;

    // B goes offline; A's message waits in the server's offline queue
    b.shutdown().await;
    send_text(&a, PHONE_B, "while you were away", "w-2").await;
    let b = start_service(&p.emu, p.dir_b.path(), &p.hook_b.url, 20).await;
    p.hook_b.wait_text("while you were away").await;

    // A restarts on the same state directory: no QR, the Signal session continues
    a.shutdown().await;
    let devices_before = p.emu.devices().len();
    let b_prekeys = |emu: &EmulatorHandle| {
        emu.devices()
            .iter()
            .find(|d| d.jid.starts_with(PHONE_B))
            .map(|d| d.prekeys)
            .unwrap()
    };
    let b_prekeys_before = b_prekeys(&p.emu);
    let a = start_service(&p.emu, p.dir_a.path(), &p.hook_a.url, 20).await;
    assert_eq!(
        p.emu.devices().len(),
        devices_before,
        "no new device paired"
    );
    // the idempotency record survived the restart
    let (status, _, body) = post_send(
        &a,
        Some(SECRET),
        json!({"to": PHONE_B, "type": "text", "text": "while you were away", "idempotencyKey": "w-2"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    send_text(&a, PHONE_B, "after restart", "w-3").await;
    p.hook_b.wait_text("after restart").await;
    // the stored session was used: no new session, so none of B's one-time prekeys was taken
    assert_eq!(
        b_prekeys(&p.emu),
        b_prekeys_before,
        "A fetched a new bundle for B"
    );
    send_text(&b, PHONE, "B answers after A's restart", "rb-1").await;
    p.hook_a.wait_text("B answers after A's restart").await;
    let count = p
        .hook_b
        .messages()
        .iter()
        .filter(|m| m["text"] == "while you were away")
        .count();
    assert_eq!(count, 1);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn target_down_entries_survive_a_restart_and_are_delivered_once_each_in_order() {
    let p = setup().await;
    p.hook_b.up.store(false, Ordering::SeqCst);
    let a = start_service(&p.emu, p.dir_a.path(), &p.hook_a.url, 60).await;
    let b = start_service(&p.emu, p.dir_b.path(), &p.hook_b.url, 60).await;
    for i in 1..=3 {
        send_text(&a, PHONE_B, &format!("queued {i}"), &format!("q-{i}")).await;
    }
    // B has them in its outbox and keeps being refused
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let (_, h) = health(b.http_addr()).await;
        if h["outboxBacklog"].as_u64() == Some(3) && *p.hook_b.refused.lock().unwrap() >= 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "backlog never reached 3: {h}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // B restarts with the backlog on disk (the server was acknowledged long ago)
    b.shutdown().await;
    assert_eq!(Store::open(p.dir_b.path()).unwrap().outbox_len(), 3);
    p.hook_b.up.store(true, Ordering::SeqCst);
    let b = start_service(&p.emu, p.dir_b.path(), &p.hook_b.url, 60).await;
    p.hook_b.wait_text("queued 3").await;
    // one more message after the backlog: it comes last, and nothing was delivered twice
    send_text(&a, PHONE_B, "queued 4", "q-4").await;
    p.hook_b.wait_text("queued 4").await;
    let texts: Vec<_> = p
        .hook_b
        .messages()
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(
        texts,
        vec![
            json!("queued 1"),
            json!("queued 2"),
            json!("queued 3"),
            json!("queued 4")
        ]
    );
    let (_, h) = health(b.http_addr()).await;
    assert_eq!(h["outboxBacklog"], 0);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn send_validation_auth_pacing_and_not_connected() {
    let p = setup().await;
    let a = start_service(&p.emu, p.dir_a.path(), &p.hook_a.url, 1).await;
    let ok_body = json!({"to": PHONE_B, "type": "text", "text": "x", "idempotencyKey": "v-1"});

    let (s, _, _) = post_send(&a, None, ok_body.clone()).await;
    assert_eq!(s, 401);
    let (s, _, _) = post_send(&a, Some("wrong-secret-value"), ok_body.clone()).await;
    assert_eq!(s, 401);

    for (body, field) in [
        (
            json!({"to": "abc", "type": "text", "text": "x", "idempotencyKey": "v"}),
            "to",
        ),
        (
            json!({"to": "123@g.us", "type": "text", "text": "x", "idempotencyKey": "v"}),
            "to",
        ),
        (
            json!({"to": PHONE_B, "type": "text", "text": "x"}),
            "idempotencyKey",
        ),
        (
            json!({"to": PHONE_B, "type": "text", "text": "", "idempotencyKey": "v"}),
            "text",
        ),
        (
            json!({"to": PHONE_B, "type": "text", "text": "é".repeat(65_537), "idempotencyKey": "v"}),
            "text",
        ),
    ] {
        let (s, _, b) = post_send(&a, Some(SECRET), body).await;
        assert_eq!(s, 400, "{b}");
        assert!(
            b["error"].as_str().unwrap().contains(field),
            "{b} should name {field}"
        );
    }
    let (s, _, b) = post_send(
        &a,
        Some(SECRET),
        json!({"to": PHONE_B, "type": "media", "mediaUrl": "https://x/y.jpg", "idempotencyKey": "m"}),
    )
    .await;
    assert_eq!(s, 501);
    assert!(b["error"].as_str().unwrap().contains("not implemented"));

    // a number nobody uses: the send fails (502 with the reason), and a replay reports the same
    // failure without trying again
    let unknown =
        json!({"to": "972500000999", "type": "text", "text": "anyone?", "idempotencyKey": "u-1"});
    let (s, _, b) = post_send(&a, Some(SECRET), unknown.clone()).await;
    assert_eq!(s, 502, "{b}");
    let reason = b["error"].as_str().unwrap().to_owned();
    assert!(reason.starts_with("send failed"), "{reason}");
    let (s, _, b) = post_send(&a, Some(SECRET), unknown).await;
    assert_eq!(s, 502);
    assert_eq!(b["error"].as_str().unwrap(), reason);

    // pacing at 1/min with a burst of 5 (the failed send above took one token): the sixth new message is refused with Retry-After
    for i in 0..4 {
        send_text(&a, PHONE_B, &format!("burst {i}"), &format!("b-{i}")).await;
    }
    let (s, h, _) = post_send(
        &a,
        Some(SECRET),
        json!({"to": PHONE_B, "type": "text", "text": "one too many", "idempotencyKey": "b-6"}),
    )
    .await;
    assert_eq!(s, 429);
    let after: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(after >= 1);
    // a replay is not paced: it sends nothing
    let (s, _, _) = post_send(
        &a,
        Some(SECRET),
        json!({"to": PHONE_B, "type": "text", "text": "burst 0", "idempotencyKey": "b-0"}),
    )
    .await;
    assert_eq!(s, 200);

    // not connected (the server is unreachable) → 503 with Retry-After
    a.shutdown().await;
    let store = Store::open(p.dir_a.path()).unwrap();
    let a = Service::start_with(
        driver_config("ws://127.0.0.1:9/ws/chat", &p.emu),
        store,
        SocketAddr::from(([127, 0, 0, 1], 0)),
        ServiceOptions {
            webhook: Some(WebhookConfig {
                target: p.hook_a.url.parse().unwrap(),
                secret: Secret::new(SECRET),
            }),
            send_rate_per_min: 20,
        },
    )
    .await
    .unwrap();
    let (s, h, b) = post_send(
        &a,
        Some(SECRET),
        json!({"to": PHONE_B, "type": "text", "text": "offline", "idempotencyKey": "o-1"}),
    )
    .await;
    assert_eq!(s, 503, "{b}");
    assert!(h.contains_key("retry-after"));
    a.shutdown().await;
}
