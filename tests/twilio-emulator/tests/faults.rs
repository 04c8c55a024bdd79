//! Fault injection: 429 with Retry-After, 5xx, delays, and the ambiguous drop-after-create.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

const FORM: [(&str, &str); 3] = [("To", CUSTOMER), ("From", SENDER), ("Body", "x")];

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after_then_recovers() {
    let tw = emulator().await;
    let (s, _) = admin_post(
        &tw,
        "/admin/fault",
        json!({"kind": "rate_limit", "count": 2, "retry_after_secs": 3}),
    )
    .await;
    assert_eq!(s, 200);
    for _ in 0..2 {
        let (status, headers, b) = create(&tw, &FORM).await;
        assert_eq!(status, 429);
        assert_eq!(headers.get("retry-after").unwrap(), "3");
        assert_eq!(b["code"], 20429);
        assert_eq!(b["status"], 429);
        assert_eq!(b["more_info"], "https://www.twilio.com/docs/errors/20429");
    }
    assert!(tw.messages().is_empty(), "a 429 is never processed");
    let (status, _, _) = create(&tw, &FORM).await;
    assert_eq!(status, 201);
    assert_eq!(tw.messages().len(), 1);
}

#[tokio::test]
async fn server_errors_500_and_503() {
    let tw = emulator().await;
    admin_post(
        &tw,
        "/admin/fault",
        json!({"kind": "server_error", "count": 1, "status": 503}),
    )
    .await;
    let (status, _, b) = create(&tw, &FORM).await;
    assert_eq!((status, b["code"].as_u64()), (503, Some(20503)));
    admin_post(
        &tw,
        "/admin/fault",
        json!({"kind": "server_error", "count": 1}),
    )
    .await;
    let (status, _, b) = create(&tw, &FORM).await;
    assert_eq!((status, b["code"].as_u64()), (500, Some(20500)));
    let (s, _) = admin_post(
        &tw,
        "/admin/fault",
        json!({"kind": "server_error", "count": 1, "status": 418}),
    )
    .await;
    assert_eq!(s, 400);
    let (status, _, _) = create(&tw, &FORM).await;
    assert_eq!(status, 201);
    assert_eq!(tw.messages().len(), 1);
}

#[tokio::test]
async fn delay_holds_the_response() {
    let tw = emulator().await;
    admin_post(
        &tw,
        "/admin/fault",
        json!({"kind": "delay", "delay_ms": 300, "count": 1}),
    )
    .await;
    let t = Instant::now();
    let (status, _, _) = create(&tw, &FORM).await;
    assert_eq!(status, 201);
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "response came early"
    );
    // A client with a shorter timeout sees a timeout (an ambiguous failure).
    admin_post(
        &tw,
        "/admin/fault",
        json!({"kind": "delay", "delay_ms": 2000}),
    )
    .await;
    let r = reqwest::Client::new()
        .post(messages_url(&tw))
        .basic_auth(tw.account_sid(), Some(tw.auth_token()))
        .timeout(Duration::from_millis(200))
        .form(&FORM)
        .send()
        .await;
    assert!(r.unwrap_err().is_timeout());
    let r = reqwest::Client::new()
        .delete(format!("{}/admin/fault", tw.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
}

#[tokio::test]
async fn drop_after_create_leaves_no_answer_but_the_message_exists() {
    let tw = emulator().await;
    admin_post(
        &tw,
        "/admin/fault",
        json!({"kind": "drop_after_create", "count": 1}),
    )
    .await;
    let r = reqwest::Client::new()
        .post(messages_url(&tw))
        .basic_auth(tw.account_sid(), Some(tw.auth_token()))
        .timeout(Duration::from_secs(10))
        .form(&FORM)
        .send()
        .await;
    let err = r.expect_err("the connection must close without an answer");
    assert!(!err.is_timeout(), "closed, not hung: {err}");
    // The message was created: the client finds it by recipient, then by SID.
    let sent = tw.messages();
    assert_eq!(sent.len(), 1);
    let q: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("To", CUSTOMER)
        .append_pair("DateSent>", "2000-01-01")
        .finish();
    let (s, list) = get_json(
        &tw,
        &format!(
            "/2010-04-01/Accounts/{}/Messages.json?{q}",
            tw.account_sid()
        ),
    )
    .await;
    assert_eq!(s, 200);
    let found = list["messages"].as_array().unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["sid"], sent[0].sid.as_str());
    let (s, one) = get_json(
        &tw,
        &format!(
            "/2010-04-01/Accounts/{}/Messages/{}.json",
            tw.account_sid(),
            sent[0].sid
        ),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(one["body"], "x");
    // Only one create is dropped.
    let (status, _, _) = create(&tw, &FORM).await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn admin_refuses_malformed_fault_and_config() {
    let tw = emulator().await;
    let (s, _) = admin_post(&tw, "/admin/fault", json!({"kind": "meteor"})).await;
    assert_eq!(s, 400);
    let (s, _) = admin_post(&tw, "/admin/config", json!({"senders": ["+1555"]})).await;
    assert_eq!(s, 400);
    let (s, _) = admin_post(&tw, "/admin/config", json!({"nonsense": 1})).await;
    assert_eq!(s, 400);
    let (s, _) = admin_post(&tw, "/admin/clock", json!({"offset_secs": "soon"})).await;
    assert_eq!(s, 400);
    let (s, _) = admin_post(
        &tw,
        "/admin/inbound",
        json!({"from": "+972501234567", "to": "whatsapp:+15550009999", "body": "x"}),
    )
    .await;
    assert_eq!(s, 400, "inbound to a number the account does not own");
    let (s, _) = admin_post(
        &tw,
        "/admin/inbound",
        json!({"from": "0501234567", "to": SENDER}),
    )
    .await;
    assert_eq!(s, 400, "customer number must be E.164");
}
