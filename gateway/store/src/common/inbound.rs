//! [`crate::Store::record_inbound`]: one transaction, exactly once.

use serde_json::json;

use super::upsert_conversation;
use super::{Backend, Conn, contacts, insert_event, insert_raw, json_text, touch_contact};
use crate::error::{Res, map_sqlx, with_retry};
use crate::{Direction, InboundOutcome, MessageStatus, NewEvent, NewInboundMessage, StoreResult};

/// Whether the message is stored already (a cheap check that spares a provider's retry the
/// write transaction; the unique index still decides under concurrency).
async fn already_stored(b: &Backend, msg: &NewInboundMessage) -> StoreResult<bool> {
    let hit: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM messages \
         WHERE provider = $1 AND direction = 'inbound' AND provider_message_id = $2",
    )
    .bind(msg.provider.as_str())
    .bind(&msg.provider_message_id)
    .fetch_optional(&b.read)
    .await
    .map_err(map_sqlx)?;
    Ok(hit.is_some())
}

/// Records an inbound message; see the trait.
pub(super) async fn record(b: &Backend, msg: &NewInboundMessage) -> StoreResult<InboundOutcome> {
    if already_stored(b, msg).await? {
        return Ok(InboundOutcome::Duplicate);
    }
    // SQLite commits a group of waiting webhooks together (one fsync); see `sqlite::batch`.
    if let Some(outcome) = b.record_inbound_grouped(msg).await {
        return outcome;
    }
    with_retry(|| attempt(b, msg)).await
}

async fn attempt(b: &Backend, msg: &NewInboundMessage) -> Res<InboundOutcome> {
    let mut tx = b.begin().await?;
    let outcome = write(&mut tx, msg).await?;
    // Dropping `tx` without commit rolls back: a duplicate writes nothing.
    if matches!(outcome, InboundOutcome::Stored { .. }) {
        tx.commit().await?;
    }
    Ok(outcome)
}

/// The writes of one inbound message on an open transaction (or savepoint). On
/// [`InboundOutcome::Duplicate`] the caller must roll back: some rows may have been written.
pub(crate) async fn write(tx: &mut Conn, msg: &NewInboundMessage) -> Res<InboundOutcome> {
    let Some(raw_id) = insert_raw(&mut *tx, &msg.raw).await? else {
        return Ok(InboundOutcome::Duplicate);
    };
    let now = msg.raw.received_at;
    let contact_id =
        contacts::upsert_in(&mut *tx, &msg.identities, msg.display_name.as_deref(), now).await?;
    let at = msg.provider_timestamp.unwrap_or(now);
    upsert_conversation(
        &mut *tx,
        contact_id,
        msg.provider,
        &msg.business_number,
        Some(at),
        at,
    )
    .await?;
    let Some(message_id) = insert_message(&mut *tx, msg, contact_id, raw_id).await? else {
        return Ok(InboundOutcome::Duplicate);
    };
    touch_contact(&mut *tx, contact_id, at).await?;
    for media in &msg.media {
        add_media_slot(&mut *tx, msg, message_id, media, now).await?;
    }
    let event = NewEvent {
        kind: "wa.inbound".into(),
        contact_id: Some(contact_id),
        message_id: Some(message_id),
        payload: json!({
            "message_id": message_id,
            "contact_id": contact_id,
            "provider": msg.provider.as_str(),
            "business_number": msg.business_number,
            "provider_message_id": msg.provider_message_id,
            "kind": msg.kind,
            "body": msg.body,
            "media_count": msg.media.len(),
        }),
        created_at: now,
    };
    insert_event(&mut *tx, &event).await?;
    Ok(InboundOutcome::Stored {
        message_id,
        contact_id,
    })
}

/// Inserts the message row; `None` when the provider id exists already.
async fn insert_message(
    conn: &mut Conn,
    msg: &NewInboundMessage,
    contact_id: i64,
    raw_id: i64,
) -> Res<Option<i64>> {
    let status = MessageStatus::Received;
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO messages (contact_id, direction, provider, business_number, \
           provider_message_id, kind, body, attributes, status, status_rank, provider_timestamp, \
           created_at, raw_webhook_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT (provider, direction, provider_message_id) DO NOTHING RETURNING id",
    )
    .bind(contact_id)
    .bind(Direction::Inbound.as_str())
    .bind(msg.provider.as_str())
    .bind(&msg.business_number)
    .bind(&msg.provider_message_id)
    .bind(&msg.kind)
    .bind(msg.body.as_deref())
    .bind(json_text(&msg.attributes))
    .bind(status.as_str())
    .bind(i64::from(status.rank()))
    .bind(msg.provider_timestamp)
    .bind(msg.raw.received_at)
    .bind(raw_id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(id)
}

/// An empty attachment slot and the `media_fetch` job that will fill it.
async fn add_media_slot(
    conn: &mut Conn,
    msg: &NewInboundMessage,
    message_id: i64,
    media: &crate::PendingMedia,
    now: i64,
) -> Res<()> {
    sqlx::query(
        "INSERT INTO message_media (message_id, idx, source_url, content_type) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (message_id, idx) DO NOTHING",
    )
    .bind(message_id)
    .bind(media.index)
    .bind(&media.url)
    .bind(media.content_type.as_deref())
    .execute(&mut *conn)
    .await?;
    let payload = json!({
        "message_id": message_id,
        "index": media.index,
        "url": media.url,
        "content_type": media.content_type,
        "provider": msg.provider.as_str(),
    });
    sqlx::query(
        "INSERT INTO jobs (kind, payload, run_at, created_at) VALUES ('media_fetch', $1, $2, $2)",
    )
    .bind(json_text(&payload))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
