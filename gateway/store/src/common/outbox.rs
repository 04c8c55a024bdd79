//! The outbound outbox: messages stored before any provider call, leased to delivery workers,
//! closed when a provider accepted them or they failed for good.

use serde_json::json;
use sqlx::Row;

use super::{
    Backend, OUTBOX_CLAIM_SQL, insert_event, json_text, outbound, parse_provider,
    upsert_conversation,
};
use crate::error::{Res, map_sqlx, with_retry};
use crate::{
    MessageStatus, Millis, NewEvent, NewOutboundMessage, OutboundOutcome, OutboundRoute,
    OutboxEntry, Provider, StoreError, StoreResult,
};

/// [`crate::Store::enqueue_outbound`].
pub(super) async fn enqueue(
    b: &Backend,
    msg: &NewOutboundMessage,
    event: &NewEvent,
) -> StoreResult<OutboundOutcome> {
    with_retry(|| enqueue_once(b, msg, event)).await
}

async fn enqueue_once(
    b: &Backend,
    msg: &NewOutboundMessage,
    event: &NewEvent,
) -> Res<OutboundOutcome> {
    let mut tx = b.begin().await?;
    let outcome = outbound::insert_queued(&mut tx, msg).await?;
    let OutboundOutcome::Created { message_id } = outcome else {
        // Existing / Conflict wrote nothing; dropping `tx` rolls back.
        return Ok(outcome);
    };
    sqlx::query("INSERT INTO outbox (message_id, run_at, created_at) VALUES ($1, $2, $2)")
        .bind(message_id)
        .bind(msg.created_at)
        .execute(&mut *tx)
        .await?;
    let mut event = event.clone();
    event.message_id = Some(message_id);
    event.contact_id = Some(msg.contact_id);
    if let Some(obj) = event.payload.as_object_mut() {
        obj.insert("message_id".into(), json!(message_id));
    }
    insert_event(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(OutboundOutcome::Created { message_id })
}

/// [`crate::Store::claim_outbox`].
pub(super) async fn claim(
    b: &Backend,
    now: Millis,
    limit: i64,
    lease: Millis,
) -> StoreResult<Vec<OutboxEntry>> {
    let rows = sqlx::query(OUTBOX_CLAIM_SQL)
        .bind(now)
        .bind(limit.max(0))
        .bind(now.saturating_add(lease.max(0)))
        .fetch_all(&b.write)
        .await
        .map_err(map_sqlx)?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let run_at: i64 = row.try_get("run_at").map_err(map_sqlx)?;
        let in_flight: Option<String> = row.try_get("in_flight").map_err(map_sqlx)?;
        let entry = OutboxEntry {
            message_id: row.try_get("message_id").map_err(map_sqlx)?,
            attempts: row.try_get("attempts").map_err(map_sqlx)?,
            in_flight: in_flight.as_deref().map(parse_provider).transpose()?,
        };
        out.push((run_at, entry));
    }
    out.sort_by_key(|(run_at, e)| (*run_at, e.message_id));
    Ok(out.into_iter().map(|(_, e)| e).collect())
}

fn not_found(message_id: i64) -> StoreError {
    StoreError::NotFound(format!("outbox entry for message {message_id}"))
}

/// [`crate::Store::outbox_attempt`].
pub(super) async fn attempt(
    b: &Backend,
    message_id: i64,
    route: &OutboundRoute,
    now: Millis,
) -> StoreResult<()> {
    with_retry(|| attempt_once(b, message_id, route, now)).await
}

async fn attempt_once(b: &Backend, message_id: i64, route: &OutboundRoute, now: Millis) -> Res<()> {
    let mut tx = b.begin().await?;
    let marked = sqlx::query("UPDATE outbox SET in_flight = $2 WHERE message_id = $1 AND done = 0")
        .bind(message_id)
        .bind(route.provider.as_str())
        .execute(&mut *tx)
        .await?;
    if marked.rows_affected() == 0 {
        return Err(not_found(message_id).into());
    }
    let contact_id: i64 = sqlx::query_scalar(
        "UPDATE messages SET provider = $2, business_number = $3, attributes = $4 \
         WHERE id = $1 AND direction = 'outbound' RETURNING contact_id",
    )
    .bind(message_id)
    .bind(route.provider.as_str())
    .bind(&route.business_number)
    .bind(json_text(&route.attributes))
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| not_found(message_id))?;
    upsert_conversation(
        &mut tx,
        contact_id,
        route.provider,
        &route.business_number,
        None,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// [`crate::Store::outbox_sent`].
pub(super) async fn sent(
    b: &Backend,
    message_id: i64,
    provider: Provider,
    provider_message_id: &str,
    status: MessageStatus,
    now: Millis,
) -> StoreResult<()> {
    with_retry(|| sent_once(b, message_id, provider, provider_message_id, status, now)).await
}

async fn sent_once(
    b: &Backend,
    message_id: i64,
    provider: Provider,
    provider_message_id: &str,
    status: MessageStatus,
    now: Millis,
) -> Res<()> {
    let mut tx = b.begin().await?;
    let rank = i64::from(status.rank());
    let row = sqlx::query(
        "UPDATE messages SET provider = $1, provider_message_id = $2, \
           status = CASE WHEN status_rank < $3 THEN $4 ELSE status END, \
           status_rank = CASE WHEN status_rank < $3 THEN $3 ELSE status_rank END \
         WHERE id = $5 AND direction = 'outbound' RETURNING contact_id, status",
    )
    .bind(provider.as_str())
    .bind(provider_message_id)
    .bind(rank)
    .bind(status.as_str())
    .bind(message_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| not_found(message_id))?;
    let contact_id: i64 = row.try_get("contact_id")?;
    let stored_status: String = row.try_get("status")?;
    sqlx::query(
        "UPDATE outbox SET done = 1, locked_until = NULL, in_flight = NULL WHERE message_id = $1",
    )
    .bind(message_id)
    .execute(&mut *tx)
    .await?;
    let event = NewEvent {
        kind: "wa.outbound".into(),
        contact_id: Some(contact_id),
        message_id: Some(message_id),
        payload: json!({
            "message_id": message_id,
            "provider": provider.as_str(),
            "provider_message_id": provider_message_id,
            "status": stored_status,
        }),
        created_at: now,
    };
    insert_event(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(())
}

/// [`crate::Store::outbox_retry`].
pub(super) async fn retry(
    b: &Backend,
    message_id: i64,
    run_at: Millis,
    error: &str,
    ambiguous: bool,
) -> StoreResult<()> {
    let done = sqlx::query(
        "UPDATE outbox SET run_at = $2, locked_until = NULL, last_error = $3, \
           in_flight = CASE WHEN $4 = 1 THEN in_flight ELSE NULL END \
         WHERE message_id = $1 AND done = 0",
    )
    .bind(message_id)
    .bind(run_at)
    .bind(error)
    .bind(i32::from(ambiguous))
    .execute(&b.write)
    .await
    .map_err(map_sqlx)?;
    if done.rows_affected() == 0 {
        return Err(not_found(message_id));
    }
    Ok(())
}

/// [`crate::Store::outbox_failed`].
pub(super) async fn failed(
    b: &Backend,
    message_id: i64,
    error_code: Option<&str>,
    reason: &str,
    now: Millis,
) -> StoreResult<()> {
    with_retry(|| failed_once(b, message_id, error_code, reason, now)).await
}

async fn failed_once(
    b: &Backend,
    message_id: i64,
    error_code: Option<&str>,
    reason: &str,
    now: Millis,
) -> Res<()> {
    let mut tx = b.begin().await?;
    let failed = MessageStatus::Failed;
    let row = sqlx::query(
        "UPDATE messages SET error_code = COALESCE($2, error_code), \
           status = CASE WHEN status_rank < $3 THEN $4 ELSE status END, \
           status_rank = CASE WHEN status_rank < $3 THEN $3 ELSE status_rank END \
         WHERE id = $1 AND direction = 'outbound' RETURNING contact_id, provider",
    )
    .bind(message_id)
    .bind(error_code)
    .bind(i64::from(failed.rank()))
    .bind(failed.as_str())
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| not_found(message_id))?;
    let contact_id: i64 = row.try_get("contact_id")?;
    let provider: String = row.try_get("provider")?;
    sqlx::query(
        "UPDATE outbox SET done = 1, locked_until = NULL, in_flight = NULL, last_error = $2 \
         WHERE message_id = $1",
    )
    .bind(message_id)
    .bind(reason)
    .execute(&mut *tx)
    .await?;
    let event = NewEvent {
        kind: "wa.error".into(),
        contact_id: Some(contact_id),
        message_id: Some(message_id),
        payload: json!({
            "message_id": message_id,
            "provider": provider,
            "status": failed.as_str(),
            "error_code": error_code,
            "reason": reason,
        }),
        created_at: now,
    };
    insert_event(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(())
}

/// [`crate::Store::outbox_pending`].
pub(super) async fn pending(b: &Backend) -> StoreResult<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE done = 0")
        .fetch_one(&b.read)
        .await
        .map_err(map_sqlx)
}
