//! Outbound media is fetched before `sent` (63019 / 63021 on failure), and the sender-level
//! status callback is used when a send has none.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::Router;
use axum::http::header;
use axum::routing::get;
use common::*;
use serde_json::json;

/// A media host: a JPEG, a text file, a too-large PNG, and 404 for anything else.
async fn media_host() -> (String, tokio::task::JoinHandle<()>) {
    let app = Router::new()
        .route(
            "/a.jpg",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "image/jpeg")],
                    vec![0xffu8, 0xd8, 0xff, 0xe0],
                )
            }),
        )
        .route(
            "/notes.txt",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                    "hello",
                )
            }),
        )
        .route(
            "/huge.png",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "image/png")],
                    vec![0u8; 5 * 1024 * 1024 + 1],
                )
            }),
        );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(l, app).await.unwrap();
    });
    (base, task)
}

#[tokio::test]
async fn media_is_fetched_and_bad_media_fails_the_message() {
    let tw = emulator().await;
    let rx = Receiver::start().await;
    let (host, _task) = media_host().await;
    tw.customer_sends(twilio_emulator::InboundSpec {
        from: "+972501234567".into(),
        to: SENDER.into(),
        body: "hi".into(),
        profile_name: None,
        media: vec![],
        deliver: false,
    })
    .await
    .unwrap();
    let cb = format!("{}/ok/s", rx.base);
    let cases = [
        ("a.jpg", "read", None),
        ("notes.txt", "failed", Some("63021")),
        ("huge.png", "failed", Some("63021")),
        ("gone.jpg", "failed", Some("63019")),
    ];
    for (file, want_status, want_code) in cases {
        let url = format!("{host}/{file}");
        let (s, _, m) = create(
            &tw,
            &[
                ("To", CUSTOMER),
                ("From", SENDER),
                ("MediaUrl", &url),
                ("StatusCallback", &cb),
            ],
        )
        .await;
        assert_eq!(s, 201, "{m}");
        let sid = m["sid"].as_str().unwrap().to_owned();
        let last = wait_for(
            std::time::Duration::from_secs(10),
            "final callback",
            || async {
                rx.captured()
                    .into_iter()
                    .filter(|c| c.get("MessageSid") == Some(sid.as_str()))
                    .find(|c| matches!(c.get("MessageStatus"), Some("read" | "failed")))
            },
        )
        .await;
        assert_eq!(last.get("MessageStatus"), Some(want_status), "{file}");
        assert_eq!(last.get("ErrorCode"), want_code, "{file}");
    }
    let sent = tw.messages();
    let jpg = &sent[0].media_fetches[0];
    assert_eq!(
        (jpg.http_status, jpg.content_type.as_deref(), jpg.size),
        (Some(200), Some("image/jpeg"), 4)
    );
    assert_eq!(
        sent[1].media_fetches[0].content_type.as_deref(),
        Some("text/plain")
    );
    assert_eq!(sent[3].media_fetches[0].http_status, Some(404));
    // A failed fetch never reaches `sent`.
    assert!(!sent[3].history.contains(&twilio_emulator::Status::Sent));
}

#[tokio::test]
async fn fetching_can_be_switched_off_and_sender_level_callback_is_used() {
    let tw = emulator().await;
    let rx = Receiver::start().await;
    let (s, cfg) = admin_post(
        &tw,
        "/admin/config",
        json!({"fetch_media": false, "status_callback": format!("{}/ok/sender", rx.base), "stop_at": "sent"}),
    )
    .await;
    assert_eq!(s, 200, "{cfg}");
    tw.customer_sends(twilio_emulator::InboundSpec {
        from: "+972501234567".into(),
        to: SENDER.into(),
        body: "hi".into(),
        profile_name: None,
        media: vec![],
        deliver: false,
    })
    .await
    .unwrap();
    let (s, _, _) = create(
        &tw,
        &[
            ("To", CUSTOMER),
            ("From", SENDER),
            ("MediaUrl", "http://127.0.0.1:9/nothing.jpg"),
        ],
    )
    .await;
    assert_eq!(s, 201);
    let got = rx.wait_for(1).await;
    assert_eq!(got[0].path, "/ok/sender");
    assert_eq!(got[0].get("MessageStatus"), Some("sent"));
    assert!(tw.messages()[0].media_fetches.is_empty());
    // A per-message StatusCallback wins over the sender's.
    let own = format!("{}/ok/own", rx.base);
    create(
        &tw,
        &[
            ("To", CUSTOMER),
            ("From", SENDER),
            ("Body", "x"),
            ("StatusCallback", &own),
        ],
    )
    .await;
    let got = rx.wait_for(2).await;
    assert_eq!(got[1].path, "/ok/own");
}
