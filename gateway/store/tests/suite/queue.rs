//! Timeline, event feed, job queue, media.

use std::collections::HashSet;
use std::sync::Arc;

use crm_store::{InboundOutcome, MediaMeta, NewEvent, Provider, Store, StoreError};
use serde_json::json;

use super::{T0, e164, inbound, with_media};

async fn record(store: &Arc<dyn Store>, msg: &crm_store::NewInboundMessage) -> (i64, i64) {
    match store.record_inbound(msg).await.unwrap() {
        InboundOutcome::Stored {
            message_id,
            contact_id,
        } => (message_id, contact_id),
        InboundOutcome::Duplicate => panic!("unexpected duplicate"),
    }
}

pub async fn timeline_pages_newest_first_with_media_slots(store: Arc<dyn Store>) {
    let ids = || vec![e164("+972509999999")];
    let mut msgs = Vec::new();
    for i in 0..5 {
        let msg = inbound(&format!("SM{i}"), ids(), None, T0 + i);
        let msg = if i == 3 { with_media(msg, 2) } else { msg };
        msgs.push(record(&store, &msg).await);
    }
    let contact = msgs[0].1;
    let page1 = store.messages_for_contact(contact, None, 2).await.unwrap();
    assert_eq!(
        page1.iter().map(|m| m.id).collect::<Vec<_>>(),
        [msgs[4].0, msgs[3].0]
    );
    assert_eq!(page1[1].media.len(), 2);
    assert_eq!(page1[1].media[0].index, 0);
    assert!(page1[1].media[1].source_url.ends_with("/SM3/1"));
    assert!(page1[0].media.is_empty());
    let page2 = store
        .messages_for_contact(contact, Some(page1[1].id), 2)
        .await
        .unwrap();
    assert_eq!(
        page2.iter().map(|m| m.id).collect::<Vec<_>>(),
        [msgs[2].0, msgs[1].0]
    );
    let page3 = store
        .messages_for_contact(contact, Some(page2[1].id), 2)
        .await
        .unwrap();
    assert_eq!(page3.iter().map(|m| m.id).collect::<Vec<_>>(), [msgs[0].0]);
    assert!(
        store
            .messages_for_contact(contact + 1, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn events_after_cursor(store: Arc<dyn Store>) {
    let mut ids = Vec::new();
    for i in 0..3 {
        let event = NewEvent {
            kind: "lead.update".into(),
            contact_id: None,
            message_id: None,
            payload: json!({ "n": i, "note": "ליד חדש" }),
            created_at: T0 + i,
        };
        ids.push(store.append_event(&event).await.unwrap());
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let first = store.events_after(0, 2).await.unwrap();
    assert_eq!(first.iter().map(|e| e.id).collect::<Vec<_>>(), ids[..2]);
    assert_eq!(first[1].payload, json!({ "n": 1, "note": "ליד חדש" }));
    let rest = store.events_after(first[1].id, 10).await.unwrap();
    assert_eq!(rest.iter().map(|e| e.id).collect::<Vec<_>>(), ids[2..]);
    assert!(store.events_after(ids[2], 10).await.unwrap().is_empty());
}

pub async fn jobs_claim_lease_retry_bury_backlog(store: Arc<dyn Store>) {
    let now = T0 + 100;
    record(
        &store,
        &with_media(inbound("SM1", vec![e164("+972500000001")], None, T0), 2),
    )
    .await;
    let backlog = store.job_backlog().await.unwrap();
    assert_eq!((backlog.pending, backlog.dead), (2, 0));
    assert_eq!(backlog.oldest_run_at, Some(T0));

    let jobs = store.claim_jobs(now, 10, 1000).await.unwrap();
    assert_eq!(jobs.len(), 2);
    assert!(
        jobs.iter()
            .all(|j| j.kind == "media_fetch" && j.attempts == 1)
    );
    assert_eq!(jobs[0].payload["index"], json!(0));
    assert!(
        store
            .claim_jobs(now + 10, 10, 1000)
            .await
            .unwrap()
            .is_empty(),
        "leased"
    );
    // The worker died: after the lease both are due again.
    let again = store.claim_jobs(now + 1001, 10, 1000).await.unwrap();
    assert_eq!(again.len(), 2);
    assert!(again.iter().all(|j| j.attempts == 2));

    let (j1, j2) = (again[0].id, again[1].id);
    store
        .retry_job(j1, now + 5000, "timeout fetching media")
        .await
        .unwrap();
    store.complete_job(j2).await.unwrap();
    assert!(
        store
            .claim_jobs(now + 2500, 10, 1000)
            .await
            .unwrap()
            .is_empty(),
        "not due yet"
    );
    let backlog = store.job_backlog().await.unwrap();
    assert_eq!(
        (backlog.pending, backlog.oldest_run_at, backlog.dead),
        (1, Some(now + 5000), 0)
    );

    let third = store.claim_jobs(now + 5000, 10, 1000).await.unwrap();
    assert_eq!(
        third.iter().map(|j| (j.id, j.attempts)).collect::<Vec<_>>(),
        [(j1, 3)]
    );
    store.bury_job(j1, "gave up").await.unwrap();
    let backlog = store.job_backlog().await.unwrap();
    assert_eq!(
        (backlog.pending, backlog.oldest_run_at, backlog.dead),
        (0, None, 1)
    );
    assert!(
        store
            .claim_jobs(now + 99_999, 10, 1000)
            .await
            .unwrap()
            .is_empty()
    );
    let missing = store.complete_job(j1 + j2 + 1000).await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
}

pub async fn concurrent_workers_never_share_a_job(store: Arc<dyn Store>) {
    record(
        &store,
        &with_media(
            inbound("SM-many", vec![e164("+972500000002")], None, T0),
            60,
        ),
    )
    .await;
    let workers: Vec<_> = (0..6)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let jobs = store.claim_jobs(T0 + 1, 4, 60_000).await.unwrap();
                    if jobs.is_empty() {
                        return mine;
                    }
                    mine.extend(jobs.into_iter().map(|j| j.id));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    let unique: HashSet<i64> = all.iter().copied().collect();
    assert_eq!((all.len(), unique.len()), (60, 60));
}

pub async fn attach_media_dedups_and_is_idempotent(store: Arc<dyn Store>) {
    let (m, _) = record(
        &store,
        &with_media(inbound("SM-img", vec![e164("+972500000003")], None, T0), 2),
    )
    .await;
    let meta = MediaMeta {
        sha256: "ab".repeat(32),
        mime: "image/jpeg".into(),
        size: 12345,
        storage_key: format!("sha256/{}", "ab".repeat(32)),
        source: Provider::Twilio,
    };
    store.attach_media(m, 0, &meta, T0 + 1).await.unwrap();
    store.attach_media(m, 0, &meta, T0 + 2).await.unwrap();
    // The same bytes in the second slot share the stored copy.
    store.attach_media(m, 1, &meta, T0 + 3).await.unwrap();
    let got = store.message(m).await.unwrap().expect("message");
    assert_eq!(got.media.len(), 2);
    assert!(got.media.iter().all(|s| s.stored.as_ref() == Some(&meta)));
    let media_events = store
        .events_after(0, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "wa.media")
        .count();
    assert_eq!(media_events, 2);
    let missing = store.attach_media(m, 9, &meta, T0 + 4).await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
}

/// Once its connections are gone the store answers `Unavailable` (the webhook's 503), not a
/// database error and not a panic.
pub async fn closed_store_reports_unavailable(store: Arc<dyn Store>) {
    store.ping().await.unwrap();
    store.close().await;
    let err = store.ping().await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    let msg = inbound("SM-down", vec![e164("+972500000004")], None, T0);
    let err = store.record_inbound(&msg).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}
