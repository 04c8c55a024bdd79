//! Outbound messages and status callbacks.

use std::sync::Arc;

use crm_store::{
    Direction, MessageStatus, OutboundOutcome, Provider, StatusOutcome, Store, StoreError,
};

use super::{T0, e164, outbound, status};

/// A contact and an outbound message already accepted by Twilio as `sid`.
async fn sent_message(store: &Arc<dyn Store>, key: &str, sid: &str) -> i64 {
    let contact = store
        .upsert_contact(&[e164("+972507777777")], None, T0)
        .await
        .unwrap();
    let OutboundOutcome::Created { message_id } = store
        .insert_outbound(&outbound(key, "h1", contact))
        .await
        .unwrap()
    else {
        panic!("expected Created");
    };
    store
        .mark_outbound_sent(message_id, Provider::Twilio, sid, MessageStatus::Sending)
        .await
        .unwrap();
    message_id
}

async fn status_of(store: &Arc<dyn Store>, id: i64) -> MessageStatus {
    store.message(id).await.unwrap().expect("message").status
}

pub async fn status_moves_forward_only(store: Arc<dyn Store>) {
    // Delivered, then a late "sent": stays delivered.
    let a = sent_message(&store, "k-a", "SMa").await;
    let up = store
        .apply_status(&status("SMa", MessageStatus::Delivered, None, T0 + 10))
        .await;
    assert_eq!(up.unwrap(), StatusOutcome::Applied);
    let late = store
        .apply_status(&status("SMa", MessageStatus::Sent, None, T0 + 5))
        .await;
    assert_eq!(late.unwrap(), StatusOutcome::Stale);
    assert_eq!(status_of(&store, a).await, MessageStatus::Delivered);

    // Sent, then failed (with a code): applies; then read: applies.
    let b = sent_message(&store, "k-b", "SMb").await;
    let sent = store
        .apply_status(&status("SMb", MessageStatus::Sent, None, T0 + 1))
        .await;
    assert_eq!(sent.unwrap(), StatusOutcome::Applied);
    let mut failed = status("SMb", MessageStatus::Failed, None, T0 + 2);
    failed.error_code = Some("63016".into());
    assert_eq!(
        store.apply_status(&failed).await.unwrap(),
        StatusOutcome::Applied
    );
    let m = store.message(b).await.unwrap().expect("message");
    assert_eq!(
        (m.status, m.error_code.as_deref()),
        (MessageStatus::Failed, Some("63016"))
    );
    let read = store
        .apply_status(&status("SMb", MessageStatus::Read, None, T0 + 3))
        .await;
    assert_eq!(read.unwrap(), StatusOutcome::Applied);
    assert_eq!(status_of(&store, b).await, MessageStatus::Read);

    let kinds: Vec<String> = store
        .events_after(0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        ["wa.outbound", "wa.outbound", "wa.error", "wa.outbound"]
    );
    // Every callback is kept for audit, applied or not.
    assert_eq!(store.raw_webhook_count().await.unwrap(), 5);
}

pub async fn status_for_unknown_message_is_kept_for_audit(store: Arc<dyn Store>) {
    let up = status("SMnope", MessageStatus::Delivered, Some("tok-9"), T0);
    assert_eq!(
        store.apply_status(&up).await.unwrap(),
        StatusOutcome::UnknownMessage
    );
    assert_eq!(store.raw_webhook_count().await.unwrap(), 1);
    // Twilio retrying the same request: nothing written.
    assert_eq!(
        store.apply_status(&up).await.unwrap(),
        StatusOutcome::Duplicate
    );
    assert_eq!(store.raw_webhook_count().await.unwrap(), 1);
    assert!(store.events_after(0, 10).await.unwrap().is_empty());
}

pub async fn outbound_insert_created_existing_conflict(store: Arc<dyn Store>) {
    let contact = store
        .upsert_contact(&[e164("+972508888888")], None, T0)
        .await
        .unwrap();
    let first = store
        .insert_outbound(&outbound("key-1", "hash-a", contact))
        .await
        .unwrap();
    let OutboundOutcome::Created { message_id } = first else {
        panic!("expected Created")
    };
    let again = store
        .insert_outbound(&outbound("key-1", "hash-a", contact))
        .await
        .unwrap();
    assert_eq!(again, OutboundOutcome::Existing { message_id });
    let other = store
        .insert_outbound(&outbound("key-1", "hash-b", contact))
        .await
        .unwrap();
    assert_eq!(other, OutboundOutcome::Conflict);

    let m = store.message(message_id).await.unwrap().expect("message");
    assert_eq!(
        (m.direction, m.status),
        (Direction::Outbound, MessageStatus::Queued)
    );
    assert_eq!(m.provider_message_id, None);
    assert_eq!(
        store
            .messages_for_contact(contact, None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    let c = store.contact(contact).await.unwrap().expect("contact");
    assert_eq!(c.last_message_at, Some(T0));
    let convs = store.conversations(contact).await.unwrap();
    assert_eq!((convs.len(), convs[0].last_inbound_at), (1, None));

    let missing = store
        .insert_outbound(&outbound("key-2", "hash-a", contact + 1000))
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
}

pub async fn mark_outbound_sent_records_provider_id(store: Arc<dyn Store>) {
    let id = sent_message(&store, "k-1", "SM-out-1").await;
    let m = store.message(id).await.unwrap().expect("message");
    assert_eq!(m.provider_message_id.as_deref(), Some("SM-out-1"));
    assert_eq!(m.status, MessageStatus::Sending);
    store
        .mark_outbound_sent(id, Provider::Twilio, "SM-out-1", MessageStatus::Sent)
        .await
        .unwrap();
    assert_eq!(status_of(&store, id).await, MessageStatus::Sent);
    // A lower status never moves it back.
    store
        .mark_outbound_sent(id, Provider::Twilio, "SM-out-1", MessageStatus::Queued)
        .await
        .unwrap();
    assert_eq!(status_of(&store, id).await, MessageStatus::Sent);
    // Callbacks now find it by the provider id.
    let up = store
        .apply_status(&status("SM-out-1", MessageStatus::Delivered, None, T0))
        .await;
    assert_eq!(up.unwrap(), StatusOutcome::Applied);
    let missing = store
        .mark_outbound_sent(id + 1000, Provider::Twilio, "SMx", MessageStatus::Sent)
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
}
