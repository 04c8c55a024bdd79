//! Status callbacks (order, parameters, signatures, retry policy) and the 24-hour window.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use gateway::twilio::signature::{SignedBody, validate};
use serde_json::json;
use twilio_emulator::{FailStatus, FailWith, InboundSpec, StopAt, TwilioEmulator};

fn statuses(c: &[Captured]) -> Vec<String> {
    c.iter()
        .map(|c| c.get("MessageStatus").unwrap().to_owned())
        .collect()
}

fn assert_signed(tw: &TwilioEmulator, url: &str, c: &Captured) {
    validate(
        tw.auth_token().as_bytes(),
        url,
        SignedBody::Form(&c.params),
        c.signature.as_deref(),
    )
    .unwrap_or_else(|e| panic!("callback {:?} not signed for {url}: {e}", c.params));
    assert!(
        validate(
            b"another-token",
            url,
            SignedBody::Form(&c.params),
            c.signature.as_deref()
        )
        .is_err()
    );
}

async fn open_window(tw: &TwilioEmulator) {
    tw.customer_sends(InboundSpec {
        from: "+972501234567".into(),
        to: SENDER.into(),
        body: "hi".into(),
        profile_name: None,
        media: vec![],
        deliver: false,
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn signed_callbacks_arrive_in_order_sent_delivered_read() {
    let tw = emulator().await;
    let rx = Receiver::start().await;
    open_window(&tw).await;
    let cb = format!("{}/ok/status?x=1", rx.base);
    let (s, _, m) = create(
        &tw,
        &[
            ("To", CUSTOMER),
            ("From", SENDER),
            ("Body", "hello"),
            ("StatusCallback", &cb),
        ],
    )
    .await;
    assert_eq!(s, 201);
    let sid = m["sid"].as_str().unwrap();
    let got = rx.wait_for(3).await;
    assert_eq!(
        statuses(&got),
        ["sent", "delivered", "read"],
        "no callback for the initial status"
    );
    let mut tokens = std::collections::HashSet::new();
    for c in &got {
        assert_signed(&tw, &cb, c);
        assert_eq!(c.get("MessageSid"), Some(sid));
        assert_eq!(c.get("SmsSid"), Some(sid));
        assert_eq!(c.get("SmsStatus"), c.get("MessageStatus"));
        assert_eq!(c.get("AccountSid"), Some(tw.account_sid()));
        assert_eq!(c.get("From"), Some(SENDER));
        assert_eq!(c.get("To"), Some(CUSTOMER));
        assert_eq!(c.get("ApiVersion"), Some("2010-04-01"));
        assert_eq!(c.get("ChannelToAddress"), Some("+972501234567"));
        assert_eq!(c.get("ChannelPrefix"), Some("whatsapp"));
        assert_eq!(c.get("ErrorCode"), None);
        assert!(
            tokens.insert(c.idempotency.clone().unwrap()),
            "one token per event"
        );
    }
    assert_eq!(got[1].get("EventType"), Some("DELIVERED"));
    assert_eq!(got[2].get("EventType"), Some("READ"));
    let path = format!(
        "/2010-04-01/Accounts/{}/Messages/{sid}.json",
        tw.account_sid()
    );
    let (_, now) = get_json(&tw, &path).await;
    assert_eq!(now["status"], "read");
    assert!(now["date_sent"].is_string());
}

#[tokio::test]
async fn initial_status_callback_and_stop_at_delivered_are_configurable() {
    let tw = emulator().await;
    let rx = Receiver::start().await;
    open_window(&tw).await;
    let (s, cfg) = admin_post(
        &tw,
        "/admin/config",
        json!({"stop_at": "delivered", "callback_initial": true}),
    )
    .await;
    assert_eq!(s, 200, "{cfg}");
    let cb = format!("{}/ok/s", rx.base);
    create(
        &tw,
        &[
            ("To", CUSTOMER),
            ("From", SENDER),
            ("Body", "x"),
            ("StatusCallback", &cb),
        ],
    )
    .await;
    let got = rx.wait_for(3).await;
    assert_eq!(statuses(&got), ["queued", "sent", "delivered"]);
    // Give a would-be "read" ample time to show up; none may.
    let tw_msgs = wait_for(
        std::time::Duration::from_secs(5),
        "final status",
        || async {
            let m = tw.messages();
            (m[0].status == twilio_emulator::Status::Delivered).then_some(m)
        },
    )
    .await;
    assert_eq!(tw_msgs[0].history.len(), 3);
    assert_eq!(rx.captured().len(), 3);
}

#[tokio::test]
async fn messaging_service_sends_get_a_queued_callback() {
    let tw = emulator().await;
    let rx = Receiver::start().await;
    open_window(&tw).await;
    let cb = format!("{}/ok/s", rx.base);
    let svc = "MG0123456789abcdef0123456789abcdef";
    create(
        &tw,
        &[
            ("To", CUSTOMER),
            ("MessagingServiceSid", svc),
            ("Body", "x"),
            ("StatusCallback", &cb),
        ],
    )
    .await;
    let got = rx.wait_for(4).await;
    assert_eq!(statuses(&got), ["queued", "sent", "delivered", "read"]);
    assert_eq!(got[0].get("MessagingServiceSid"), Some(svc));
}

#[tokio::test]
async fn free_form_outside_the_window_is_accepted_then_fails_with_63016() {
    let tw = emulator().await;
    let rx = Receiver::start().await;
    let cb = format!("{}/ok/s", rx.base);
    // Never wrote to us: 201 queued, then failed/63016 through the callback.
    let (s, _, m) = create(
        &tw,
        &[
            ("To", CUSTOMER),
            ("From", SENDER),
            ("Body", "hello"),
            ("StatusCallback", &cb),
        ],
    )
    .await;
    assert_eq!(s, 201);
    assert_eq!(m["status"], "queued");
    let got = rx.wait_for(1).await;
    assert_eq!(statuses(&got), ["failed"]);
    assert_eq!(got[0].get("ErrorCode"), Some("63016"));
    assert!(
        got[0]
            .get("ErrorMessage")
            .unwrap()
            .contains("outside the allowed window")
    );
    assert_signed(&tw, &cb, &got[0]);
    let sid = m["sid"].as_str().unwrap();
    let path = format!(
        "/2010-04-01/Accounts/{}/Messages/{sid}.json",
        tw.account_sid()
    );
    let (_, now) = get_json(&tw, &path).await;
    assert_eq!(now["status"], "failed");
    assert_eq!(now["error_code"], 63016);

    // A template is allowed outside the window.
    tw.add_template(TEMPLATE, "Hello {{1}}").unwrap();
    let (s, _, t) = create(
        &tw,
        &[
            ("To", CUSTOMER),
            ("From", SENDER),
            ("ContentSid", TEMPLATE),
            ("ContentVariables", r#"{"1":"Ana"}"#),
            ("StatusCallback", &cb),
        ],
    )
    .await;
    assert_eq!(s, 201);
    let got = rx.wait_for(4).await;
    let tpl: Vec<_> = got
        .iter()
        .filter(|c| c.get("MessageSid") == t["sid"].as_str())
        .collect();
    assert_eq!(tpl.len(), 3);
    assert!(tpl.iter().all(|c| c.get("ErrorCode").is_none()));
}

#[tokio::test]
async fn the_window_is_per_sender_and_closes_after_24_hours() {
    let tw = emulator().await;
    let second = "whatsapp:+14155230000";
    tw.configure(|s| s.senders.push(second.into()));
    let rx = Receiver::start().await;
    let cb = format!("{}/ok/s", rx.base);
    // The customer writes to the first sender (admin API, record only).
    let (s, out) = admin_post(
        &tw,
        "/admin/inbound",
        json!({"from": "+972501234567", "to": SENDER, "body": "hi", "deliver": false}),
    )
    .await;
    assert_eq!(s, 201, "{out}");
    let send = |from: &'static str| {
        let tw = &tw;
        let cb = cb.clone();
        async move {
            let (_, _, m) = create(
                tw,
                &[
                    ("To", CUSTOMER),
                    ("From", from),
                    ("Body", "x"),
                    ("StatusCallback", &cb),
                ],
            )
            .await;
            m["sid"].as_str().unwrap().to_owned()
        }
    };
    let final_of = |sid: String| {
        let rx = &rx;
        async move {
            wait_for(
                std::time::Duration::from_secs(10),
                "a final callback",
                || async {
                    rx.captured()
                        .iter()
                        .filter(|c| c.get("MessageSid") == Some(sid.as_str()))
                        .map(|c| c.get("MessageStatus").unwrap().to_owned())
                        .find(|s| s == "read" || s == "failed")
                },
            )
            .await
        }
    };
    assert_eq!(
        final_of(send(SENDER).await).await,
        "read",
        "inside the window"
    );
    assert_eq!(
        final_of(send(second).await).await,
        "failed",
        "other sender: no window"
    );
    // 23h59m later still open; 24h01m later closed.
    let (s, _) = admin_post(&tw, "/admin/clock", json!({"offset_secs": 24 * 3600 - 60})).await;
    assert_eq!(s, 200);
    assert_eq!(final_of(send(SENDER).await).await, "read");
    tw.set_clock_offset(24 * 3600 + 60);
    assert_eq!(final_of(send(SENDER).await).await, "failed");
}

#[tokio::test]
async fn fail_with_reports_the_configured_error() {
    let tw = emulator().await;
    let rx = Receiver::start().await;
    open_window(&tw).await;
    tw.configure(|s| {
        s.fail_with = Some(FailWith {
            status: FailStatus::Undelivered,
            code: 63032,
        })
    });
    let cb = format!("{}/ok/s", rx.base);
    create(
        &tw,
        &[
            ("To", CUSTOMER),
            ("From", SENDER),
            ("Body", "x"),
            ("StatusCallback", &cb),
        ],
    )
    .await;
    let got = rx.wait_for(2).await;
    assert_eq!(statuses(&got), ["sent", "undelivered"]);
    assert_eq!(got[1].get("ErrorCode"), Some("63032"));
    assert_eq!(got[1].get("EventType"), Some("UNDELIVERED"));
    // Back to normal, ending at `sent`.
    tw.configure(|s| {
        s.fail_with = None;
        s.stop_at = StopAt::Sent;
    });
    create(
        &tw,
        &[
            ("To", CUSTOMER),
            ("From", SENDER),
            ("Body", "y"),
            ("StatusCallback", &cb),
        ],
    )
    .await;
    let got = rx.wait_for(3).await;
    assert_eq!(got[2].get("MessageStatus"), Some("sent"));
}

#[tokio::test]
async fn callbacks_retry_once_on_connect_failure_but_never_on_5xx() {
    let tw = emulator().await;
    tw.configure(|s| s.stop_at = StopAt::Sent);
    open_window(&tw).await;
    // 5xx: one attempt only.
    let rx = Receiver::start().await;
    let cb = format!("{}/fail/s", rx.base);
    create(
        &tw,
        &[
            ("To", CUSTOMER),
            ("From", SENDER),
            ("Body", "x"),
            ("StatusCallback", &cb),
        ],
    )
    .await;
    rx.wait_for(1).await;
    let d = wait_for(
        std::time::Duration::from_secs(5),
        "delivery record",
        || async {
            let d = tw.deliveries();
            (!d.is_empty()).then_some(d)
        },
    )
    .await;
    assert_eq!(d[0].http_status, Some(500));
    assert_eq!(d[0].attempt, 1);

    // Connection refused: a port nobody listens on (bind, read the port, close).
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let cb = format!("http://{dead}/cb");
    create(
        &tw,
        &[
            ("To", CUSTOMER),
            ("From", SENDER),
            ("Body", "y"),
            ("StatusCallback", &cb),
        ],
    )
    .await;
    let d = wait_for(
        std::time::Duration::from_secs(10),
        "two attempts",
        || async {
            let d: Vec<_> = tw
                .deliveries()
                .into_iter()
                .filter(|d| d.url == cb)
                .collect();
            (d.len() >= 2).then_some(d)
        },
    )
    .await;
    assert_eq!(d.len(), 2, "exactly one retry");
    assert_eq!((d[0].attempt, d[1].attempt), (1, 2));
    assert!(
        d.iter()
            .all(|d| d.http_status.is_none() && d.error.is_some())
    );
    assert_eq!(
        d[0].idempotency_token, d[1].idempotency_token,
        "same token on the retry"
    );
    // The 5xx one was never retried in the meantime.
    assert_eq!(
        tw.deliveries()
            .iter()
            .filter(|d| d.http_status == Some(500))
            .count(),
        1
    );
    assert_eq!(rx.captured().len(), 1);
}

#[tokio::test]
async fn public_url_rewrites_deliver_elsewhere_but_sign_the_public_url() {
    let tw = emulator().await;
    let rx = Receiver::start().await;
    open_window(&tw).await;
    let public = "https://gw.example.com";
    admin_post(
        &tw,
        "/admin/config",
        json!({"url_rewrites": {public: format!("{}/ok", rx.base)}, "stop_at": "sent"}),
    )
    .await;
    let cb = format!("{public}/api/whatsapp/twilio");
    create(
        &tw,
        &[
            ("To", CUSTOMER),
            ("From", SENDER),
            ("Body", "x"),
            ("StatusCallback", &cb),
        ],
    )
    .await;
    let got = rx.wait_for(1).await;
    assert_eq!(got[0].path, "/ok/api/whatsapp/twilio");
    assert_signed(&tw, &cb, &got[0]);
}
