//! The outbound outbox: enqueue with the message, lease, attempt, sent/retry/failed.

use std::sync::Arc;

use crm_store::{
    MessageStatus, NewEvent, OutboundOutcome, OutboundRoute, Provider, Store, StoreError,
};
use serde_json::json;

use super::{T0, e164, outbound};

fn decision() -> NewEvent {
    NewEvent {
        kind: "wa.provider".into(),
        contact_id: None,
        message_id: None,
        payload: json!({ "provider": "twilio", "reason": "test" }),
        created_at: T0,
    }
}

async fn enqueued(store: &Arc<dyn Store>, key: &str) -> (i64, i64) {
    let contact = store
        .upsert_contact(&[e164("+972508888888")], None, T0)
        .await
        .unwrap();
    let OutboundOutcome::Created { message_id } = store
        .enqueue_outbound(&outbound(key, "h1", contact), &decision())
        .await
        .unwrap()
    else {
        panic!("expected Created");
    };
    (contact, message_id)
}

fn twilio_route() -> OutboundRoute {
    OutboundRoute {
        provider: Provider::Twilio,
        business_number: "+14155238886".into(),
        attributes: json!({ "routed": true }),
    }
}

pub async fn outbox_enqueue_is_idempotent_and_records_decision(store: Arc<dyn Store>) {
    let (contact, id) = enqueued(&store, "ob-1").await;
    let again = store
        .enqueue_outbound(&outbound("ob-1", "h1", contact), &decision())
        .await
        .unwrap();
    assert_eq!(again, OutboundOutcome::Existing { message_id: id });
    let other = store
        .enqueue_outbound(&outbound("ob-1", "h2", contact), &decision())
        .await
        .unwrap();
    assert_eq!(other, OutboundOutcome::Conflict);
    assert_eq!(store.outbox_pending().await.unwrap(), 1);
    let m = store.message(id).await.unwrap().unwrap();
    assert_eq!(m.status, MessageStatus::Queued);
    let events = store.events_after(0, 100).await.unwrap();
    let provider: Vec<_> = events.iter().filter(|e| e.kind == "wa.provider").collect();
    assert_eq!(provider.len(), 1, "one decision event for one message");
    assert_eq!(provider[0].message_id, Some(id));
    assert_eq!(provider[0].contact_id, Some(contact));
    assert_eq!(provider[0].payload["message_id"], id);
    assert_eq!(provider[0].payload["reason"], "test");
    // Unknown contact: refused, nothing written.
    let err = store
        .enqueue_outbound(&outbound("ob-2", "h1", contact + 100), &decision())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert_eq!(store.outbox_pending().await.unwrap(), 1);
}

pub async fn outbox_lease_attempt_retry_and_sent(store: Arc<dyn Store>) {
    let (_, id) = enqueued(&store, "ob-3").await;
    let claimed = store.claim_outbox(T0, 10, 30_000).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        (claimed[0].message_id, claimed[0].attempts),
        (id, 1),
        "first claim"
    );
    assert_eq!(claimed[0].in_flight, None);
    // Leased: nobody else gets it until the lease runs out.
    assert!(
        store
            .claim_outbox(T0 + 1, 10, 30_000)
            .await
            .unwrap()
            .is_empty()
    );

    store
        .outbox_attempt(id, &twilio_route(), T0 + 2)
        .await
        .unwrap();
    let m = store.message(id).await.unwrap().unwrap();
    assert_eq!(
        m.status,
        MessageStatus::Queued,
        "queued until a provider takes it"
    );
    assert_eq!(m.business_number, "+14155238886");
    assert_eq!(m.attributes["routed"], true);

    // Worker "crashed": after the lease the entry is due again, marked in flight on Twilio.
    let again = store.claim_outbox(T0 + 30_001, 10, 30_000).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
    assert_eq!(again[0].in_flight, Some(Provider::Twilio));

    // Ambiguous retry keeps the mark; a definite one clears it.
    store
        .outbox_retry(id, T0 + 40_000, "timeout", true)
        .await
        .unwrap();
    assert!(
        store
            .claim_outbox(T0 + 39_999, 10, 1)
            .await
            .unwrap()
            .is_empty()
    );
    let third = store.claim_outbox(T0 + 40_000, 10, 1_000).await.unwrap();
    assert_eq!(third[0].in_flight, Some(Provider::Twilio));
    store
        .outbox_retry(id, T0 + 50_000, "429", false)
        .await
        .unwrap();
    let fourth = store.claim_outbox(T0 + 50_000, 10, 1_000).await.unwrap();
    assert_eq!((fourth[0].attempts, fourth[0].in_flight), (4, None));

    store
        .outbox_sent(
            id,
            Provider::Twilio,
            "SMob3",
            MessageStatus::Sent,
            T0 + 50_001,
        )
        .await
        .unwrap();
    let m = store.message(id).await.unwrap().unwrap();
    assert_eq!(m.provider_message_id.as_deref(), Some("SMob3"));
    assert_eq!(m.status, MessageStatus::Sent);
    assert_eq!(store.outbox_pending().await.unwrap(), 0);
    assert!(
        store
            .claim_outbox(T0 + 999_999, 10, 1)
            .await
            .unwrap()
            .is_empty()
    );
    let events = store.events_after(0, 100).await.unwrap();
    let sent = events.iter().find(|e| e.kind == "wa.outbound").unwrap();
    assert_eq!(sent.payload["provider_message_id"], "SMob3");
    // Closed entries cannot be retried or re-attempted.
    assert!(matches!(
        store.outbox_retry(id, T0, "x", false).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.outbox_attempt(id, &twilio_route(), T0).await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn outbox_failed_records_code_and_error_event(store: Arc<dyn Store>) {
    let (contact, id) = enqueued(&store, "ob-4").await;
    store.claim_outbox(T0, 10, 1_000).await.unwrap();
    store
        .outbox_failed(id, Some("63016"), "outside the 24-hour window", T0 + 5)
        .await
        .unwrap();
    let m = store.message(id).await.unwrap().unwrap();
    assert_eq!(m.status, MessageStatus::Failed);
    assert_eq!(m.error_code.as_deref(), Some("63016"));
    assert_eq!(store.outbox_pending().await.unwrap(), 0);
    let events = store.events_after(0, 100).await.unwrap();
    let err = events.iter().find(|e| e.kind == "wa.error").unwrap();
    assert_eq!(err.contact_id, Some(contact));
    assert_eq!(err.payload["error_code"], "63016");
    assert_eq!(err.payload["reason"], "outside the 24-hour window");
}

pub async fn concurrent_outbox_workers_never_share_an_entry(store: Arc<dyn Store>) {
    let contact = store
        .upsert_contact(&[e164("+972509999999")], None, T0)
        .await
        .unwrap();
    for i in 0..40 {
        store
            .enqueue_outbound(&outbound(&format!("cw-{i}"), "h", contact), &decision())
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = s.claim_outbox(T0 + 1, 3, 60_000).await.unwrap();
                if got.is_empty() {
                    return mine;
                }
                mine.extend(got.into_iter().map(|e| e.message_id));
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_unstable();
    let n = all.len();
    all.dedup();
    assert_eq!((n, all.len()), (40, 40), "each entry claimed exactly once");
}
