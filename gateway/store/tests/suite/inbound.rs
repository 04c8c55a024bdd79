//! Inbound messages and contacts.

use std::collections::HashSet;
use std::sync::Arc;

use crm_store::{InboundOutcome, MessageStatus, Store, StoreError};
use serde_json::json;

use super::{T0, e164, inbound, lid, raw, twilio_uid, with_media};

fn stored(outcome: InboundOutcome) -> (i64, i64) {
    match outcome {
        InboundOutcome::Stored {
            message_id,
            contact_id,
        } => (message_id, contact_id),
        InboundOutcome::Duplicate => panic!("expected Stored, got Duplicate"),
    }
}

pub async fn inbound_stored_with_everything(store: Arc<dyn Store>) {
    let msg = with_media(
        inbound(
            "SM1",
            vec![e164("+972501234567"), twilio_uid("IL.123")],
            Some("Dana"),
            T0 + 5,
        ),
        2,
    );
    let (message_id, contact_id) = stored(store.record_inbound(&msg).await.unwrap());

    let contact = store.contact(contact_id).await.unwrap().expect("contact");
    assert_eq!(contact.display_name.as_deref(), Some("Dana"));
    assert_eq!(contact.identities.len(), 2);
    assert!(contact.identities.contains(&e164("+972501234567")));
    assert!(contact.identities.contains(&twilio_uid("IL.123")));
    assert_eq!(contact.last_message_at, Some(T0 + 5));
    assert_eq!(
        store.find_contact(&twilio_uid("IL.123")).await.unwrap(),
        Some(contact_id)
    );

    let convs = store.conversations(contact_id).await.unwrap();
    assert_eq!(convs.len(), 1);
    assert_eq!(convs[0].business_number, "whatsapp:+14155238886");
    assert_eq!(convs[0].last_inbound_at, Some(T0 + 5));

    let m = store.message(message_id).await.unwrap().expect("message");
    assert_eq!(m.status, MessageStatus::Received);
    assert_eq!(m.provider_message_id.as_deref(), Some("SM1"));
    assert_eq!(m.body.as_deref(), Some("hello SM1"));
    assert_eq!(m.attributes, json!({ "sid": "SM1" }));
    assert_eq!(m.media.len(), 2);
    assert!(m.media.iter().all(|s| s.stored.is_none()));

    let events = store.events_after(0, 100).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, "wa.inbound");
    assert_eq!(events[0].message_id, Some(message_id));
    assert_eq!(events[0].contact_id, Some(contact_id));
    assert_eq!(store.raw_webhook_count().await.unwrap(), 1);
    assert_eq!(store.job_backlog().await.unwrap().pending, 2);
}

pub async fn duplicate_by_provider_id_writes_nothing(store: Arc<dyn Store>) {
    let msg = with_media(
        inbound("SM1", vec![e164("+972501234567")], Some("Dana"), T0),
        1,
    );
    stored(store.record_inbound(&msg).await.unwrap());
    let mut again = msg.clone();
    again.display_name = Some("Someone Else".into());
    again.raw = raw(None, T0 + 1000);
    assert_eq!(
        store.record_inbound(&again).await.unwrap(),
        InboundOutcome::Duplicate
    );

    assert_eq!(store.raw_webhook_count().await.unwrap(), 1);
    assert_eq!(store.events_after(0, 100).await.unwrap().len(), 1);
    assert_eq!(store.job_backlog().await.unwrap().pending, 1);
    let contact_id = store
        .find_contact(&e164("+972501234567"))
        .await
        .unwrap()
        .expect("contact");
    let contact = store.contact(contact_id).await.unwrap().expect("contact");
    assert_eq!(contact.display_name.as_deref(), Some("Dana"));
}

pub async fn duplicate_by_idempotency_token_writes_nothing(store: Arc<dyn Store>) {
    let mut first = inbound("SM1", vec![e164("+972501234567")], None, T0);
    first.raw = raw(Some("tok-1"), T0);
    let (_, contact_id) = stored(store.record_inbound(&first).await.unwrap());
    let mut second = inbound("SM2", vec![e164("+972501234567")], None, T0 + 1);
    second.raw = raw(Some("tok-1"), T0 + 1);
    assert_eq!(
        store.record_inbound(&second).await.unwrap(),
        InboundOutcome::Duplicate
    );

    assert_eq!(
        store
            .messages_for_contact(contact_id, None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.raw_webhook_count().await.unwrap(), 1);
    assert_eq!(store.events_after(0, 100).await.unwrap().len(), 1);
}

pub async fn hundred_concurrent_identical_deliveries_store_one(store: Arc<dyn Store>) {
    let msg = Arc::new(inbound(
        "SM-race",
        vec![e164("+972501111111")],
        Some("Race"),
        T0,
    ));
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (store, msg) = (store.clone(), msg.clone());
            tokio::spawn(async move { store.record_inbound(&msg).await })
        })
        .collect();
    let mut stored_count = 0;
    let mut duplicates = 0;
    for task in tasks {
        match task.await.unwrap().unwrap() {
            InboundOutcome::Stored { .. } => stored_count += 1,
            InboundOutcome::Duplicate => duplicates += 1,
        }
    }
    assert_eq!((stored_count, duplicates), (1, 99));
    let contacts = store.list_contacts(None, 10).await.unwrap();
    assert_eq!(contacts.len(), 1);
    assert_eq!(
        store
            .messages_for_contact(contacts[0].id, None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.raw_webhook_count().await.unwrap(), 1);
    assert_eq!(store.events_after(0, 1000).await.unwrap().len(), 1);
}

pub async fn concurrent_messages_from_new_contact_make_one_contact(store: Arc<dyn Store>) {
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            // Half give the identities in the other order.
            let ids = if i % 2 == 0 {
                vec![e164("+972502222222"), twilio_uid("IL.2")]
            } else {
                vec![twilio_uid("IL.2"), e164("+972502222222")]
            };
            let msg = inbound(&format!("SM{i}"), ids, Some("Same"), T0 + i);
            tokio::spawn(async move { store.record_inbound(&msg).await })
        })
        .collect();
    let mut contact_ids = HashSet::new();
    for task in tasks {
        contact_ids.insert(stored(task.await.unwrap().unwrap()).1);
    }
    assert_eq!(contact_ids.len(), 1);
    let contacts = store.list_contacts(None, 10).await.unwrap();
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0].identities.len(), 2);
    assert_eq!(
        store
            .messages_for_contact(contacts[0].id, None, 100)
            .await
            .unwrap()
            .len(),
        20
    );
}

pub async fn contact_found_by_second_identity_and_new_identity_attached(store: Arc<dyn Store>) {
    let (_, c1) = stored(
        store
            .record_inbound(&inbound("SM1", vec![e164("+972503333333")], None, T0))
            .await
            .unwrap(),
    );
    let both = vec![e164("+972503333333"), lid("123456789@lid")];
    let (_, c2) = stored(
        store
            .record_inbound(&inbound("SM2", both, None, T0 + 1))
            .await
            .unwrap(),
    );
    assert_eq!(c1, c2);
    let (_, c3) = stored(
        store
            .record_inbound(&inbound("SM3", vec![lid("123456789@lid")], None, T0 + 2))
            .await
            .unwrap(),
    );
    assert_eq!(c1, c3);
    let contact = store.contact(c1).await.unwrap().expect("contact");
    assert_eq!(contact.identities.len(), 2);
    assert_eq!(
        store.find_contact(&lid("123456789@lid")).await.unwrap(),
        Some(c1)
    );
    assert_eq!(store.find_contact(&lid("999@lid")).await.unwrap(), None);
    assert_eq!(store.list_contacts(None, 10).await.unwrap().len(), 1);
}

pub async fn display_name_follows_latest(store: Arc<dyn Store>) {
    let ids = || vec![e164("+972504444444")];
    stored(
        store
            .record_inbound(&inbound("SM1", ids(), Some("Dana"), T0))
            .await
            .unwrap(),
    );
    stored(
        store
            .record_inbound(&inbound("SM2", ids(), Some("Dana Levi"), T0 + 1))
            .await
            .unwrap(),
    );
    let (_, c) = stored(
        store
            .record_inbound(&inbound("SM3", ids(), None, T0 + 2))
            .await
            .unwrap(),
    );
    let contact = store.contact(c).await.unwrap().expect("contact");
    assert_eq!(contact.display_name.as_deref(), Some("Dana Levi"));
    let id = store
        .upsert_contact(&ids(), Some("D. Levi"), T0 + 3)
        .await
        .unwrap();
    assert_eq!(id, c);
    let contact = store.contact(c).await.unwrap().expect("contact");
    assert_eq!(contact.display_name.as_deref(), Some("D. Levi"));
}

pub async fn last_inbound_at_moves_forward_only(store: Arc<dyn Store>) {
    let ids = || vec![e164("+972505555555")];
    let (_, c) = stored(
        store
            .record_inbound(&inbound("SM1", ids(), None, T0 + 2000))
            .await
            .unwrap(),
    );
    stored(
        store
            .record_inbound(&inbound("SM2", ids(), None, T0 + 1000))
            .await
            .unwrap(),
    );
    let conv = &store.conversations(c).await.unwrap()[0];
    assert_eq!(conv.last_inbound_at, Some(T0 + 2000));
    assert_eq!(
        store
            .contact(c)
            .await
            .unwrap()
            .expect("contact")
            .last_message_at,
        Some(T0 + 2000)
    );
    stored(
        store
            .record_inbound(&inbound("SM3", ids(), None, T0 + 3000))
            .await
            .unwrap(),
    );
    let conv = &store.conversations(c).await.unwrap()[0];
    assert_eq!(conv.last_inbound_at, Some(T0 + 3000));
    assert_eq!(conv.last_message_at, Some(T0 + 3000));
}

pub async fn hebrew_text_round_trips(store: Arc<dyn Store>) {
    let mut msg = inbound("SM-he", vec![e164("+972506666666")], Some("דנה לוי"), T0);
    msg.body = Some("שלום! מה שלומך? 👋 אני רוצה להזמין".into());
    msg.attributes = json!({ "button": "כן, בבקשה" });
    let (m, c) = stored(store.record_inbound(&msg).await.unwrap());
    let got = store.message(m).await.unwrap().expect("message");
    assert_eq!(got.body, msg.body);
    assert_eq!(got.attributes, msg.attributes);
    let contact = store.contact(c).await.unwrap().expect("contact");
    assert_eq!(contact.display_name.as_deref(), Some("דנה לוי"));
}

pub async fn upsert_contact_without_identity_is_refused(store: Arc<dyn Store>) {
    let err = store
        .upsert_contact(&[], Some("Nobody"), T0)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert!(store.list_contacts(None, 10).await.unwrap().is_empty());
}

pub async fn contacts_page_by_id(store: Arc<dyn Store>) {
    let mut ids = Vec::new();
    for i in 0..5 {
        let phone = format!("+97250700000{i}");
        ids.push(
            store
                .upsert_contact(&[e164(&phone)], None, T0 + i)
                .await
                .unwrap(),
        );
    }
    let first = store.list_contacts(None, 2).await.unwrap();
    assert_eq!(first.iter().map(|c| c.id).collect::<Vec<_>>(), ids[..2]);
    assert_eq!(first[1].identities, [e164("+972507000001")]);
    let rest = store.list_contacts(Some(first[1].id), 10).await.unwrap();
    assert_eq!(rest.iter().map(|c| c.id).collect::<Vec<_>>(), ids[2..]);
    assert!(
        store
            .list_contacts(Some(ids[4]), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.contact(ids[4] + 1).await.unwrap(), None);
    assert_eq!(store.message(12345).await.unwrap(), None);
    assert!(store.conversations(ids[0]).await.unwrap().is_empty());
}
