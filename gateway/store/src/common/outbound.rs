//! Outbound messages: the outbox row, the provider's acceptance, status callbacks.

use serde_json::json;
use sqlx::Row;

use super::{
    Backend, Conn, insert_event, insert_raw, json_text, touch_contact, upsert_conversation,
};
use crate::error::{Res, map_sqlx, with_retry};
use crate::{
    Direction, MessageStatus, NewEvent, NewOutboundMessage, OutboundOutcome, Provider,
    StatusOutcome, StatusUpdate, StoreError, StoreResult,
};

/// [`crate::Store::apply_status`].
pub(super) async fn apply_status(b: &Backend, update: &StatusUpdate) -> StoreResult<StatusOutcome> {
    with_retry(|| apply_status_once(b, update)).await
}

async fn apply_status_once(b: &Backend, update: &StatusUpdate) -> Res<StatusOutcome> {
    let mut tx = b.begin().await?;
    if insert_raw(&mut tx, &update.raw).await?.is_none() {
        return Ok(StatusOutcome::Duplicate);
    }
    let row = sqlx::query(
        "SELECT id, contact_id FROM messages \
         WHERE provider = $1 AND direction = 'outbound' AND provider_message_id = $2",
    )
    .bind(update.provider.as_str())
    .bind(&update.provider_message_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        tx.commit().await?;
        return Ok(StatusOutcome::UnknownMessage);
    };
    let message_id: i64 = row.try_get("id")?;
    let contact_id: i64 = row.try_get("contact_id")?;
    let rank = i64::from(update.status.rank());
    let moved = sqlx::query(
        "UPDATE messages SET status = $1, status_rank = $2, error_code = COALESCE($3, error_code) \
         WHERE id = $4 AND status_rank < $2",
    )
    .bind(update.status.as_str())
    .bind(rank)
    .bind(update.error_code.as_deref())
    .bind(message_id)
    .execute(&mut *tx)
    .await?;
    if moved.rows_affected() == 0 {
        tx.commit().await?;
        return Ok(StatusOutcome::Stale);
    }
    let kind = match update.status {
        MessageStatus::Failed | MessageStatus::Undelivered => "wa.error",
        _ => "wa.outbound",
    };
    let event = NewEvent {
        kind: kind.into(),
        contact_id: Some(contact_id),
        message_id: Some(message_id),
        payload: json!({
            "message_id": message_id,
            "provider": update.provider.as_str(),
            "provider_message_id": update.provider_message_id,
            "status": update.status.as_str(),
            "error_code": update.error_code,
            "at": update.at,
        }),
        created_at: update.at,
    };
    insert_event(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(StatusOutcome::Applied)
}

/// [`crate::Store::insert_outbound`].
pub(super) async fn insert(b: &Backend, msg: &NewOutboundMessage) -> StoreResult<OutboundOutcome> {
    with_retry(|| insert_once(b, msg)).await
}

async fn insert_once(b: &Backend, msg: &NewOutboundMessage) -> Res<OutboundOutcome> {
    let mut tx = b.begin().await?;
    let outcome = insert_queued(&mut tx, msg).await?;
    // Existing / Conflict wrote nothing; dropping `tx` rolls back.
    if matches!(outcome, OutboundOutcome::Created { .. }) {
        tx.commit().await?;
    }
    Ok(outcome)
}

/// Inserts `msg` as a queued outbound message on an open transaction and moves its
/// conversation and contact forward, or reports the message its idempotency key already names
/// (`Existing` for the same request, `Conflict` for another). Shared by `insert_outbound` and
/// the outbox's `enqueue_outbound`.
pub(super) async fn insert_queued(tx: &mut Conn, msg: &NewOutboundMessage) -> Res<OutboundOutcome> {
    let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM contacts WHERE id = $1")
        .bind(msg.contact_id)
        .fetch_optional(&mut *tx)
        .await?;
    if exists.is_none() {
        return Err(StoreError::NotFound(format!("contact {}", msg.contact_id)).into());
    }
    let status = MessageStatus::Queued;
    let created: Option<i64> = sqlx::query_scalar(
        "INSERT INTO messages (contact_id, direction, provider, business_number, kind, body, \
           attributes, status, status_rank, created_at, idempotency_key, request_hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
    )
    .bind(msg.contact_id)
    .bind(Direction::Outbound.as_str())
    .bind(msg.provider.as_str())
    .bind(&msg.business_number)
    .bind(&msg.kind)
    .bind(msg.body.as_deref())
    .bind(json_text(&msg.attributes))
    .bind(status.as_str())
    .bind(i64::from(status.rank()))
    .bind(msg.created_at)
    .bind(&msg.idempotency_key)
    .bind(&msg.request_hash)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(message_id) = created {
        upsert_conversation(
            &mut *tx,
            msg.contact_id,
            msg.provider,
            &msg.business_number,
            None,
            msg.created_at,
        )
        .await?;
        touch_contact(&mut *tx, msg.contact_id, msg.created_at).await?;
        return Ok(OutboundOutcome::Created { message_id });
    }
    // The key exists (maybe committed by a concurrent request we just waited for).
    let row = sqlx::query("SELECT id, request_hash FROM messages WHERE idempotency_key = $1")
        .bind(&msg.idempotency_key)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::Database("idempotency key conflict but no row".into()))?;
    let message_id: i64 = row.try_get("id")?;
    let hash: Option<String> = row.try_get("request_hash")?;
    Ok(if hash.as_deref() == Some(msg.request_hash.as_str()) {
        OutboundOutcome::Existing { message_id }
    } else {
        OutboundOutcome::Conflict
    })
}

/// [`crate::Store::mark_outbound_sent`].
pub(super) async fn mark_sent(
    b: &Backend,
    message_id: i64,
    provider: Provider,
    provider_message_id: &str,
    status: MessageStatus,
) -> StoreResult<()> {
    let rank = i64::from(status.rank());
    let done = sqlx::query(
        "UPDATE messages SET provider = $1, provider_message_id = $2, \
           status = CASE WHEN status_rank < $3 THEN $4 ELSE status END, \
           status_rank = CASE WHEN status_rank < $3 THEN $3 ELSE status_rank END \
         WHERE id = $5 AND direction = 'outbound'",
    )
    .bind(provider.as_str())
    .bind(provider_message_id)
    .bind(rank)
    .bind(status.as_str())
    .bind(message_id)
    .execute(&b.write)
    .await
    .map_err(map_sqlx)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!(
            "outbound message {message_id}"
        )));
    }
    Ok(())
}
