//! Outbound end to end: `POST /api/messages` → policy → durable outbox → the Twilio emulator or
//! a stand-in sidecar that follows the contract.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::outbound_env::{FAILOVER_SID, TWILIO_FROM, env, env_with};
use common::wait_for;
use crm_store::{MessageStatus, Provider};
use serde_json::json;
use twilio_emulator::FaultSpec;

const CUSTOMER: &str = "972501112233";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sidecar_send_carries_message_id_secret_and_key() {
    let e = env().await;
    e.sidecar_inbound(CUSTOMER, "3EB0IN1", 60).await;
    let (status, v) = e
        .send(json!({"to": format!("+{CUSTOMER}"), "text": "שלום Dana", "idempotencyKey": "k-side-1"}))
        .await;
    assert_eq!(status, 202, "{v}");
    assert_eq!(v["provider"], "baileys");
    assert_eq!(v["status"], "queued");
    let m = e.delivered(v["id"].as_i64().unwrap()).await;
    let sends = e.stub.sends();
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0].to, CUSTOMER);
    assert_eq!(sends[0].text.as_deref(), Some("שלום Dana"));
    assert_eq!(sends[0].idempotency_key, "k-side-1");
    assert_eq!(m.provider, Provider::Baileys);
    assert_eq!(
        m.provider_message_id.as_deref(),
        Some(sends[0].message_id.as_str())
    );
    assert_eq!(m.status, MessageStatus::Sent);
    assert!(e.tw.messages().is_empty(), "nothing went to Twilio");
    // The timeline shows it, with its provider; the decision is an event with its reason.
    let timeline = e.app.messages(m.contact_id).await;
    assert!(
        timeline
            .iter()
            .any(|t| t["id"] == m.id && t["provider"] == "baileys" && t["status"] == "sent")
    );
    let events = e.app.events().await;
    assert!(events.iter().any(|ev| ev["kind"] == "wa.provider"
        && ev["message_id"] == m.id
        && ev["payload"]["reason"] == "reply via source: sidecar"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reply_via_source_on_both_providers() {
    let e = env().await;
    let twilio_customer = "972502223344";
    e.sidecar_inbound(CUSTOMER, "3EB0IN2", 30).await;
    e.twilio_inbound(twilio_customer).await;

    let (_, a) = e
        .send(json!({"to": format!("+{CUSTOMER}"), "text": "via the sidecar", "idempotencyKey": "src-a"}))
        .await;
    let (_, b) = e
        .send(json!({"to": format!("{twilio_customer}@s.whatsapp.net"), "text": "via Twilio", "idempotencyKey": "src-b"}))
        .await;
    assert_eq!(
        (a["provider"].as_str(), b["provider"].as_str()),
        (Some("baileys"), Some("twilio"))
    );
    let ma = e.delivered(a["id"].as_i64().unwrap()).await;
    let mb = e.delivered(b["id"].as_i64().unwrap()).await;
    assert_eq!(ma.provider, Provider::Baileys);
    assert_eq!(mb.provider, Provider::Twilio);
    let sent = e.tw.messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, format!("whatsapp:+{twilio_customer}"));
    assert_eq!(sent[0].from, TWILIO_FROM);
    assert_eq!(sent[0].body, "via Twilio");
    assert_eq!(sent[0].content_sid, None, "free-form inside the window");
    assert_eq!(
        mb.provider_message_id.as_deref(),
        Some(sent[0].sid.as_str())
    );
    // Twilio's signed status callbacks move the status forward to read.
    let store = e.app.store();
    wait_for(Duration::from_secs(10), "status read", || {
        let store = store.clone();
        async move {
            let m = store.message(mb.id).await.unwrap()?;
            (m.status == MessageStatus::Read).then_some(())
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sidecar_killed_next_send_goes_via_twilio_in_the_same_attempt() {
    let mut e = env().await;
    e.sidecar_inbound(CUSTOMER, "3EB0IN3", 60).await;
    let (_, first) = e
        .send(json!({"to": format!("+{CUSTOMER}"), "text": "one", "idempotencyKey": "fo-1"}))
        .await;
    e.delivered(first["id"].as_i64().unwrap()).await;
    e.stub.kill().await;

    let (status, v) = e
        .send(json!({"to": format!("+{CUSTOMER}"), "text": "two", "idempotencyKey": "fo-2"}))
        .await;
    assert_eq!(status, 202);
    assert_eq!(
        v["provider"], "baileys",
        "health did not know yet: chosen by source"
    );
    let m = e.delivered(v["id"].as_i64().unwrap()).await;
    assert_eq!(m.provider, Provider::Twilio);
    // The customer has no window on the Twilio number: the failover template went out.
    let sent = e.tw.messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].content_sid.as_deref(), Some(FAILOVER_SID));
    let vars: serde_json::Value =
        serde_json::from_str(sent[0].content_variables.as_deref().unwrap()).unwrap();
    assert_eq!(vars, json!({"1": "Dana", "2": "two"}));
    // Same attempt: one failed sidecar call, one Twilio send, no retry scheduled in between.
    let metrics = e.app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("gateway_outbound_sends_total{provider=\"baileys\",outcome=\"down\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("gateway_outbound_sends_total{provider=\"twilio\",outcome=\"retry\"} 0")
    );
    assert!(
        metrics.contains("gateway_outbound_sends_total{provider=\"baileys\",outcome=\"retry\"} 0")
    );
    assert!(metrics.contains("gateway_failovers_total 1"));
    assert!(metrics.contains("gateway_provider_up{provider=\"baileys\"} 0"));
    let providers = e.app.get_json("/api/providers").await;
    assert_eq!(providers["sidecar"]["state"], "down");
    let events = e.app.events().await;
    assert!(
        events
            .iter()
            .any(|ev| ev["kind"] == "wa.provider" && ev["payload"]["state"] == "down")
    );
    assert!(events.iter().any(|ev| ev["kind"] == "wa.provider"
        && ev["message_id"] == m.id
        && ev["payload"]["rerouted"] == true
        && ev["payload"]["provider"] == "twilio"));
    // While DOWN, the next message is routed to Twilio from the start.
    let (_, third) = e
        .send(json!({"to": format!("+{CUSTOMER}"), "text": "three", "idempotencyKey": "fo-3"}))
        .await;
    assert_eq!(third["provider"], "twilio");
    assert_eq!(
        e.stub.sends().len(),
        1,
        "only the first message reached the sidecar"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn silent_customer_gets_the_template_or_nothing_with_an_event() {
    // With a failover template: the template goes out via Twilio.
    let e = env().await;
    e.sidecar_inbound(CUSTOMER, "3EB0OLD", 25 * 3600).await;
    let (status, v) = e
        .send(json!({"to": format!("+{CUSTOMER}"), "text": "are you there?", "idempotencyKey": "w-1"}))
        .await;
    assert_eq!(status, 202, "{v}");
    assert_eq!(v["provider"], "twilio");
    e.delivered(v["id"].as_i64().unwrap()).await;
    let sent = e.tw.messages();
    assert_eq!(sent[0].content_sid.as_deref(), Some(FAILOVER_SID));
    assert!(e.stub.sends().is_empty());

    // Without one: 422 with the reason, a wa.error event, nothing stored or sent.
    let e = env_with(|c| c.failover_content_sid = None).await;
    e.sidecar_inbound(CUSTOMER, "3EB0OLD", 25 * 3600).await;
    let (status, v) = e
        .send(json!({"to": format!("+{CUSTOMER}"), "text": "are you there?", "idempotencyKey": "w-2"}))
        .await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["error"], "outside the 24-hour window and no template");
    let events = e.app.events().await;
    assert!(events.iter().any(|ev| ev["kind"] == "wa.error"
        && ev["payload"]["reason"] == "outside the 24-hour window and no template"
        && ev["payload"]["idempotencyKey"] == "w-2"));
    assert_eq!(e.app.store().outbox_pending().await.unwrap(), 0);
    // A template of the caller's own is fine.
    let (status, v) = e
        .send(json!({"to": format!("+{CUSTOMER}"), "idempotencyKey": "w-3",
                     "template": {"contentSid": FAILOVER_SID, "variables": {"1": "Dana", "2": "hi"}}}))
        .await;
    assert_eq!(status, 202, "{v}");
    e.delivered(v["id"].as_i64().unwrap()).await;
    assert!(e.stub.sends().is_empty() && e.tw.messages().len() == 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_idempotency_key_sends_once() {
    let e = env().await;
    e.sidecar_inbound(CUSTOMER, "3EB0IN4", 60).await;
    let body =
        json!({"to": format!("+{CUSTOMER}"), "text": "only once", "idempotencyKey": "dup-1"});
    let (s1, a) = e.send(body.clone()).await;
    let (s2, b) = e.send(body.clone()).await;
    assert_eq!((s1, s2), (202, 202));
    assert_eq!(a["id"], b["id"]);
    assert_eq!(b["duplicate"], true);
    e.delivered(a["id"].as_i64().unwrap()).await;
    let (s3, c) = e.send(body).await;
    assert_eq!(s3, 202);
    assert_eq!(
        (c["id"].clone(), c["status"].as_str()),
        (a["id"].clone(), Some("sent"))
    );
    let (s4, d) = e
        .send(json!({"to": format!("+{CUSTOMER}"), "text": "something else", "idempotencyKey": "dup-1"}))
        .await;
    assert_eq!(s4, 409, "{d}");
    assert_eq!(d["field"], "idempotencyKey");
    assert_eq!(e.stub.sends().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rate_limit_storm_backs_off_and_delivers_each_once() {
    let e = env().await;
    e.twilio_inbound(CUSTOMER).await;
    e.tw.fault(FaultSpec::RateLimit {
        count: 6,
        retry_after_secs: 1,
    })
    .unwrap();
    let mut ids = Vec::new();
    for i in 0..4 {
        let (status, v) = e
            .send(json!({"to": format!("+{CUSTOMER}"), "text": format!("storm {i}"), "idempotencyKey": format!("storm-{i}")}))
            .await;
        assert_eq!((status, v["provider"].as_str()), (202, Some("twilio")));
        ids.push(v["id"].as_i64().unwrap());
    }
    for id in &ids {
        e.delivered(*id).await;
    }
    let mut bodies: Vec<String> = e.tw.messages().into_iter().map(|m| m.body).collect();
    bodies.sort();
    assert_eq!(bodies, ["storm 0", "storm 1", "storm 2", "storm 3"]);
    let metrics = e.app.get("/metrics").await.text().await.unwrap();
    assert!(
        !metrics.contains("gateway_outbound_sends_total{provider=\"twilio\",outcome=\"retry\"} 0"),
        "429s were retried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ambiguous_twilio_failures_are_looked_up_and_outages_stay_queued() {
    let e = env().await;
    e.twilio_inbound(CUSTOMER).await;
    // Twilio takes the message but the answer is lost: the next attempt finds it, no resend.
    e.tw.fault(FaultSpec::DropAfterCreate { count: 1 }).unwrap();
    let (_, v) = e
        .send(
            json!({"to": format!("+{CUSTOMER}"), "text": "lost answer", "idempotencyKey": "amb-1"}),
        )
        .await;
    let m = e.delivered(v["id"].as_i64().unwrap()).await;
    let sent = e.tw.messages();
    assert_eq!(sent.len(), 1, "looked up, not sent twice");
    assert_eq!(m.provider_message_id.as_deref(), Some(sent[0].sid.as_str()));

    // An outage (5xx): the message stays queued and visible, then goes out exactly once.
    e.tw.fault(FaultSpec::ServerError {
        count: 3,
        status: 503,
    })
    .unwrap();
    let (_, v) = e
        .send(json!({"to": format!("+{CUSTOMER}"), "text": "during the outage", "idempotencyKey": "amb-2"}))
        .await;
    let id = v["id"].as_i64().unwrap();
    let store = e.app.store();
    wait_for(Duration::from_secs(10), "a failed attempt", || {
        let store = store.clone();
        async move {
            let m = store.message(id).await.unwrap()?;
            (m.attributes.get("attempt").is_some()).then_some(m)
        }
    })
    .await;
    let m = store.message(id).await.unwrap().unwrap();
    if m.provider_message_id.is_none() {
        assert_eq!(m.status, MessageStatus::Queued);
        let timeline = e.app.messages(m.contact_id).await;
        assert!(
            timeline
                .iter()
                .any(|t| t["id"] == id && t["status"] == "queued")
        );
    }
    e.delivered(id).await;
    let n =
        e.tw.messages()
            .iter()
            .filter(|m| m.body == "during the outage")
            .count();
    assert_eq!(n, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn health_monitor_marks_down_then_up_after_two_checks() {
    let e = env_with(|c| c.health_check_interval = Duration::from_millis(100)).await;
    let state = |app: &common::TestApp| {
        let app_base = app.url("/api/providers");
        let client = app.client.clone();
        async move {
            let v: serde_json::Value = client
                .get(app_base)
                .bearer_auth(common::API_TOKEN)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["sidecar"]["state"].as_str().unwrap().to_owned()
        }
    };
    assert_eq!(state(&e.app).await, "up");
    e.stub.set_connected(false);
    wait_for(Duration::from_secs(10), "DOWN", || async {
        (state(&e.app).await == "down").then_some(())
    })
    .await;
    let providers = e.app.get_json("/api/providers").await;
    assert!(
        providers["sidecar"]["reason"]
            .as_str()
            .unwrap()
            .contains("connecting"),
        "{providers}"
    );
    let checks_at_down = e.stub.health_checks();
    e.stub.set_connected(true);
    wait_for(Duration::from_secs(10), "UP", || async {
        (state(&e.app).await == "up").then_some(())
    })
    .await;
    assert!(
        e.stub.health_checks() >= checks_at_down + 2,
        "two healthy checks needed"
    );
    // The state changes are wa.provider events (recorded just after the state flips).
    let changes = wait_for(Duration::from_secs(10), "both state events", || async {
        let events = e.app.events().await;
        let changes: Vec<String> = events
            .iter()
            .filter(|ev| ev["kind"] == "wa.provider" && ev["payload"]["provider"] == "baileys")
            .filter_map(|ev| ev["payload"]["state"].as_str().map(str::to_owned))
            .collect();
        (changes.len() >= 2).then_some(changes)
    })
    .await;
    assert_eq!(changes, ["down", "up"]);
    let metrics = e.app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("gateway_provider_up{provider=\"baileys\"} 1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_is_refused_naming_the_field() {
    let e = env().await;
    let to = format!("+{CUSTOMER}");
    let cases = [
        (
            json!({"to": "not-a-number", "text": "x", "idempotencyKey": "b1"}),
            400,
            "to",
        ),
        (
            json!({"to": to, "text": "x", "template": {"contentSid": FAILOVER_SID}, "idempotencyKey": "b2"}),
            400,
            "text",
        ),
        (
            json!({"to": to, "text": "", "idempotencyKey": "b3"}),
            400,
            "text",
        ),
        (
            json!({"to": to, "media": {"url": "ftp://x/y.jpg"}, "idempotencyKey": "b4"}),
            400,
            "media.url",
        ),
        (
            json!({"to": to, "media": {"url": "https://x/y.jpg", "caption": "c".repeat(2000)}, "idempotencyKey": "b5"}),
            400,
            "media.caption",
        ),
        (
            json!({"to": to, "template": {"contentSid": "HX12"}, "idempotencyKey": "b6"}),
            400,
            "template.contentSid",
        ),
        (json!({"to": to, "text": "x"}), 400, "idempotencyKey"),
        (
            json!({"contactId": 999_999, "text": "x", "idempotencyKey": "b8"}),
            422,
            "contactId",
        ),
    ];
    for (body, status, field) in cases {
        let (s, v) = e.send(body.clone()).await;
        assert_eq!(
            (s, v["field"].as_str()),
            (status, Some(field)),
            "{body} → {v}"
        );
    }
    let r = e
        .app
        .client
        .post(e.app.url("/api/messages"))
        .json(&json!({"to": to, "text": "x", "idempotencyKey": "b9"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "the send API needs the bearer token");
    assert!(e.stub.sends().is_empty() && e.tw.messages().is_empty());
    assert_eq!(e.app.store().outbox_pending().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twilio_63016_overrides_our_clock_for_the_next_message() {
    let e = env().await;
    e.twilio_inbound(CUSTOMER).await;
    // Twilio's clock says the window has closed; ours (receive time) says it is open.
    e.tw.set_clock_offset(25 * 3600);
    let (_, v) = e
        .send(json!({"to": format!("+{CUSTOMER}"), "text": "free-form", "idempotencyKey": "x-1"}))
        .await;
    assert_eq!(v["provider"], "twilio");
    let id = v["id"].as_i64().unwrap();
    let store = e.app.store();
    let failed = wait_for(Duration::from_secs(10), "63016 callback applied", || {
        let store = store.clone();
        async move {
            let m = store.message(id).await.unwrap()?;
            (m.status == MessageStatus::Failed).then_some(m)
        }
    })
    .await;
    assert_eq!(failed.error_code.as_deref(), Some("63016"));
    // The next message is not sent free-form again: the failover template goes out.
    let (_, v) = e
        .send(json!({"to": format!("+{CUSTOMER}"), "text": "second try", "idempotencyKey": "x-2"}))
        .await;
    e.delivered(v["id"].as_i64().unwrap()).await;
    let sent = e.tw.messages();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].content_sid, None);
    assert_eq!(sent[1].content_sid.as_deref(), Some(FAILOVER_SID));
}
