//! Sidecar webhook end to end: secret, HMAC, validation, dedupe.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::json;

fn body(id: &str) -> String {
    json!({
        "remoteJid": "972501234567@s.whatsapp.net",
        "messageId": id,
        "timestamp": unix_now(),
        "type": "text",
        "text": "היי מהסיידקאר",
        "pushName": "Noa",
        "remoteJidAlt": "123456789012345@lid"
    })
    .to_string()
}

#[tokio::test]
async fn secret_hmac_validation_and_replay() {
    let t = start().await;
    let post = |b: String, headers: Vec<(&'static str, String)>, ct: &'static str| {
        let mut r = t
            .client
            .post(t.url("/api/whatsapp/baileys"))
            .header("content-type", ct)
            .body(b);
        for (k, v) in headers {
            r = r.header(k, v);
        }
        async move { r.send().await.unwrap().status().as_u16() }
    };
    let b = body("3EB0AAA1");
    assert_eq!(
        post(b.clone(), vec![], "application/json").await,
        401,
        "missing secret"
    );
    assert_eq!(
        post(
            b.clone(),
            vec![("X-BAILEYS-SECRET", "wrong-secret-value".into())],
            "application/json"
        )
        .await,
        403,
        "wrong secret"
    );
    let ts = unix_now();
    let forged = shared::signature::sign(b"not-the-secret", ts, b.as_bytes());
    assert_eq!(
        post(
            b.clone(),
            vec![
                ("X-BAILEYS-SECRET", SIDECAR_SECRET.into()),
                ("X-BAILEYS-TIMESTAMP", ts.to_string()),
                ("X-BAILEYS-SIGNATURE", forged)
            ],
            "application/json"
        )
        .await,
        403,
        "bad HMAC"
    );
    let old = ts - 3600;
    let stale = shared::signature::sign(SIDECAR_SECRET.as_bytes(), old, b.as_bytes());
    assert_eq!(
        post(
            b.clone(),
            vec![
                ("X-BAILEYS-SECRET", SIDECAR_SECRET.into()),
                ("X-BAILEYS-TIMESTAMP", old.to_string()),
                ("X-BAILEYS-SIGNATURE", stale)
            ],
            "application/json"
        )
        .await,
        403,
        "replayed an hour later"
    );
    assert_eq!(
        post(
            "{not json".into(),
            vec![("X-BAILEYS-SECRET", SIDECAR_SECRET.into())],
            "application/json"
        )
        .await,
        400
    );
    assert_eq!(
        post(
            b.clone(),
            vec![("X-BAILEYS-SECRET", SIDECAR_SECRET.into())],
            "text/plain"
        )
        .await,
        415
    );
    assert_eq!(
        t.store().raw_webhook_count().await.unwrap(),
        0,
        "nothing stored so far"
    );

    assert_eq!(t.baileys(&b).await, 204, "good secret + HMAC");
    assert_eq!(t.baileys(&b).await, 204, "replay acknowledged");
    // Secret header alone stays accepted (Node service compatibility).
    assert_eq!(
        post(
            b.clone(),
            vec![("X-BAILEYS-SECRET", SIDECAR_SECRET.into())],
            "application/json"
        )
        .await,
        204
    );
    let contacts = t.contacts().await;
    assert_eq!(contacts.len(), 1);
    let c = &contacts[0];
    assert_eq!(c["display_name"], "Noa");
    let ids: Vec<String> = c["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap().to_owned())
        .collect();
    for kind in ["wa_jid", "e164", "wa_lid"] {
        assert!(ids.iter().any(|k| k == kind), "{kind} in {ids:?}");
    }
    let msgs = t.messages(c["id"].as_i64().unwrap()).await;
    assert_eq!(msgs.len(), 1, "replays stored once");
    assert_eq!(msgs[0]["provider"], "baileys");
    assert_eq!(msgs[0]["body"], "היי מהסיידקאר");
    t.app.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_fields_are_named() {
    let t = start().await;
    let cases = [
        (
            json!({"remoteJid": "nope", "messageId": "a", "timestamp": unix_now(), "type": "text"}),
            "remoteJid",
        ),
        (
            json!({"remoteJid": "972501234567@s.whatsapp.net", "messageId": "", "timestamp": unix_now(), "type": "text"}),
            "messageId",
        ),
        (
            json!({"remoteJid": "972501234567@s.whatsapp.net", "messageId": "a", "timestamp": 12, "type": "text"}),
            "timestamp",
        ),
    ];
    for (b, field) in cases {
        let r = t
            .client
            .post(t.url("/api/whatsapp/baileys"))
            .header("content-type", "application/json")
            .header("X-BAILEYS-SECRET", SIDECAR_SECRET)
            .body(b.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let text = r.text().await.unwrap();
        assert!(text.contains(field), "{field}: {text}");
    }
    t.app.shutdown().await.unwrap();
}

#[tokio::test]
async fn unset_secret_answers_401() {
    let t = start_with(|c| c.baileys_webhook_secret = None).await;
    assert_eq!(t.baileys(&body("X1")).await, 401);
    assert_eq!(t.store().raw_webhook_count().await.unwrap(), 0);
    t.app.shutdown().await.unwrap();
}

/// Receipts the sidecar forwards for our outbound messages move their status forward.
#[tokio::test]
async fn receipt_events_update_the_outbound_status() {
    use crm_store::{
        Identity, IdentityKind, MessageStatus, NewOutboundMessage, OutboundOutcome, Provider,
    };
    let t = start().await;
    let store = t.store();
    let now = unix_now() * 1000;
    let contact = store
        .upsert_contact(
            &[Identity {
                kind: IdentityKind::WaJid,
                value: "972501234567@s.whatsapp.net".into(),
            }],
            None,
            now,
        )
        .await
        .unwrap();
    let created = store
        .insert_outbound(&NewOutboundMessage {
            idempotency_key: "rcpt-1".into(),
            request_hash: "h".into(),
            contact_id: contact,
            provider: Provider::Baileys,
            business_number: "baileys".into(),
            kind: "text".into(),
            body: Some("hi".into()),
            attributes: json!({}),
            created_at: now,
        })
        .await
        .unwrap();
    let OutboundOutcome::Created { message_id } = created else {
        panic!("{created:?}");
    };
    store
        .mark_outbound_sent(
            message_id,
            Provider::Baileys,
            "3EB0RCPT01",
            MessageStatus::Sent,
        )
        .await
        .unwrap();
    let receipt = |status: &str| {
        json!({"event": "receipt", "remoteJid": "972501234567@s.whatsapp.net",
               "messageId": "3EB0RCPT01", "status": status, "timestamp": unix_now()})
        .to_string()
    };
    let status_now = || async { store.message(message_id).await.unwrap().unwrap().status };
    assert_eq!(t.baileys(&receipt("delivered")).await, 204);
    assert_eq!(status_now().await, MessageStatus::Delivered);
    assert_eq!(t.baileys(&receipt("read")).await, 204);
    assert_eq!(status_now().await, MessageStatus::Read);
    // a late "delivered" does not move it back
    assert_eq!(t.baileys(&receipt("delivered")).await, 204);
    assert_eq!(status_now().await, MessageStatus::Read);
    assert_eq!(t.baileys(&receipt("exploded")).await, 400);
    let unknown_event = json!({"event": "typing", "remoteJid": "972501234567@s.whatsapp.net"});
    assert_eq!(t.baileys(&unknown_event.to_string()).await, 400);
    // no contact or inbound message came out of the receipts
    assert_eq!(t.contacts().await.len(), 1);
    t.app.shutdown().await.unwrap();
}
