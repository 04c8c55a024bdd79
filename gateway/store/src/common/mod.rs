//! The store logic shared by both backends.
//!
//! This directory is compiled twice: once inside [`crate::sqlite`] and once inside
//! [`crate::postgres`] (each includes it with `#[path]`). The parent module supplies `Db` (the
//! sqlx database type), `Backend` (the store struct with `read`/`write` pools, `begin()`,
//! `EVENT_CURSOR` and `sequence_events()`), `CLAIM_SQL` and `MIGRATOR`; everything else is written once, in SQL both
//! engines accept (`$n` placeholders, `ON CONFLICT`, `RETURNING`, 0/1 flags, `CASE` instead of
//! `MAX`/`GREATEST`).

mod contacts;
pub(super) mod inbound;
mod jobs;
mod outbound;
mod outbox;
mod read;
mod store_impl;

use serde_json::Value;

use super::{Backend, CLAIM_SQL, Db, MIGRATOR, OUTBOX_CLAIM_SQL};
use crate::error::Res;
use crate::{Direction, IdentityKind, MessageStatus, NewEvent, Provider, StoreError};

/// A connection (what a transaction dereferences to).
type Conn = <Db as sqlx::Database>::Connection;

/// JSON value as stored (text in both backends).
fn json_text(v: &Value) -> String {
    v.to_string()
}

/// Parses a stored JSON column.
fn parse_json(s: &str, what: &str) -> Result<Value, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("{what} is not JSON: {e}")))
}

fn parse_provider(s: &str) -> Result<Provider, StoreError> {
    Provider::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown provider {s:?}")))
}

fn parse_status(s: &str) -> Result<MessageStatus, StoreError> {
    MessageStatus::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown status {s:?}")))
}

fn parse_direction(s: &str) -> Result<Direction, StoreError> {
    match s {
        "inbound" => Ok(Direction::Inbound),
        "outbound" => Ok(Direction::Outbound),
        other => Err(StoreError::Corrupt(format!("unknown direction {other:?}"))),
    }
}

fn parse_identity_kind(s: &str) -> Result<IdentityKind, StoreError> {
    IdentityKind::parse(s)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown identity kind {s:?}")))
}

/// Appends an event inside a write transaction and returns its row id. Readers page by
/// `Backend::EVENT_CURSOR`, which follows commit order (see `sequence_events`).
async fn insert_event(conn: &mut Conn, event: &NewEvent) -> Res<i64> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO events (kind, contact_id, message_id, payload, created_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(&event.kind)
    .bind(event.contact_id)
    .bind(event.message_id)
    .bind(json_text(&event.payload))
    .bind(event.created_at)
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

/// Stores a raw webhook; `None` when its idempotency token was seen before.
async fn insert_raw(conn: &mut Conn, raw: &crate::RawWebhook) -> Res<Option<i64>> {
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO raw_webhooks (provider, route, content_type, body, idempotency_token, received_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (provider, idempotency_token) DO NOTHING RETURNING id",
    )
    .bind(raw.provider.as_str())
    .bind(&raw.route)
    .bind(&raw.content_type)
    .bind(&raw.body)
    .bind(raw.idempotency_token.as_deref())
    .bind(raw.received_at)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(id)
}

/// Moves a contact's `last_message_at` forward.
async fn touch_contact(conn: &mut Conn, contact_id: i64, at: i64) -> Res<()> {
    sqlx::query(
        "UPDATE contacts SET last_message_at = CASE \
           WHEN last_message_at IS NULL OR last_message_at < $1 THEN $1 ELSE last_message_at END \
         WHERE id = $2",
    )
    .bind(at)
    .bind(contact_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Creates the conversation or moves its times forward (`inbound_at` only when given).
async fn upsert_conversation(
    conn: &mut Conn,
    contact_id: i64,
    provider: Provider,
    business_number: &str,
    inbound_at: Option<i64>,
    message_at: i64,
) -> Res<()> {
    sqlx::query(
        "INSERT INTO conversations \
           (contact_id, provider, business_number, last_inbound_at, last_message_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $5) \
         ON CONFLICT (contact_id, provider, business_number) DO UPDATE SET \
           last_inbound_at = CASE \
             WHEN excluded.last_inbound_at IS NOT NULL AND (conversations.last_inbound_at IS NULL \
                  OR conversations.last_inbound_at < excluded.last_inbound_at) \
             THEN excluded.last_inbound_at ELSE conversations.last_inbound_at END, \
           last_message_at = CASE \
             WHEN conversations.last_message_at IS NULL \
                  OR conversations.last_message_at < excluded.last_message_at \
             THEN excluded.last_message_at ELSE conversations.last_message_at END",
    )
    .bind(contact_id)
    .bind(provider.as_str())
    .bind(business_number)
    .bind(inbound_at)
    .bind(message_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
