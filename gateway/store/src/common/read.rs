//! Read paths: contacts, conversations, the timeline, the event feed.

use std::collections::HashMap;

use sqlx::Row;

use super::{
    Backend, Db, parse_direction, parse_identity_kind, parse_json, parse_provider, parse_status,
};
use crate::error::map_sqlx;
use crate::{
    Contact, Conversation, Event, Identity, MediaMeta, Message, MessageMedia, StoreError,
    StoreResult,
};

type DbRow = <Db as sqlx::Database>::Row;

const CONTACT_COLUMNS: &str = "id, display_name, created_at, last_message_at";

fn contact_from(row: &DbRow, identities: Vec<Identity>) -> StoreResult<Contact> {
    Ok(Contact {
        id: row.try_get("id").map_err(map_sqlx)?,
        display_name: row.try_get("display_name").map_err(map_sqlx)?,
        identities,
        created_at: row.try_get("created_at").map_err(map_sqlx)?,
        last_message_at: row.try_get("last_message_at").map_err(map_sqlx)?,
    })
}

/// Identities grouped by contact, in the order they were attached.
fn group_identities(rows: &[DbRow]) -> StoreResult<HashMap<i64, Vec<Identity>>> {
    let mut by_contact: HashMap<i64, Vec<Identity>> = HashMap::new();
    for row in rows {
        let contact_id: i64 = row.try_get("contact_id").map_err(map_sqlx)?;
        let kind: String = row.try_get("kind").map_err(map_sqlx)?;
        let value: String = row.try_get("value").map_err(map_sqlx)?;
        by_contact.entry(contact_id).or_default().push(Identity {
            kind: parse_identity_kind(&kind)?,
            value,
        });
    }
    Ok(by_contact)
}

/// [`crate::Store::contact`].
pub(super) async fn contact(b: &Backend, id: i64) -> StoreResult<Option<Contact>> {
    let sql = format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE id = $1");
    let Some(row) = sqlx::query(&sql)
        .bind(id)
        .fetch_optional(&b.read)
        .await
        .map_err(map_sqlx)?
    else {
        return Ok(None);
    };
    let idents = sqlx::query(
        "SELECT contact_id, kind, value FROM contact_identities WHERE contact_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&b.read)
    .await
    .map_err(map_sqlx)?;
    let mut grouped = group_identities(&idents)?;
    Ok(Some(contact_from(
        &row,
        grouped.remove(&id).unwrap_or_default(),
    )?))
}

/// [`crate::Store::list_contacts`].
pub(super) async fn list_contacts(
    b: &Backend,
    after_id: Option<i64>,
    limit: i64,
) -> StoreResult<Vec<Contact>> {
    let after = after_id.unwrap_or(i64::MIN);
    let limit = limit.max(0);
    let sql = format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE id > $1 ORDER BY id LIMIT $2");
    let rows = sqlx::query(&sql)
        .bind(after)
        .bind(limit)
        .fetch_all(&b.read)
        .await
        .map_err(map_sqlx)?;
    let idents = sqlx::query(
        "SELECT contact_id, kind, value FROM contact_identities WHERE contact_id IN \
           (SELECT id FROM contacts WHERE id > $1 ORDER BY id LIMIT $2) \
         ORDER BY id",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(&b.read)
    .await
    .map_err(map_sqlx)?;
    let mut grouped = group_identities(&idents)?;
    rows.iter()
        .map(|row| {
            let id: i64 = row.try_get("id").map_err(map_sqlx)?;
            contact_from(row, grouped.remove(&id).unwrap_or_default())
        })
        .collect()
}

/// [`crate::Store::conversations`].
pub(super) async fn conversations(b: &Backend, contact_id: i64) -> StoreResult<Vec<Conversation>> {
    let rows = sqlx::query(
        "SELECT contact_id, provider, business_number, last_inbound_at, last_message_at \
         FROM conversations WHERE contact_id = $1 ORDER BY id",
    )
    .bind(contact_id)
    .fetch_all(&b.read)
    .await
    .map_err(map_sqlx)?;
    rows.iter()
        .map(|row| {
            let provider: String = row.try_get("provider").map_err(map_sqlx)?;
            Ok(Conversation {
                contact_id: row.try_get("contact_id").map_err(map_sqlx)?,
                provider: parse_provider(&provider)?,
                business_number: row.try_get("business_number").map_err(map_sqlx)?,
                last_inbound_at: row.try_get("last_inbound_at").map_err(map_sqlx)?,
                last_message_at: row.try_get("last_message_at").map_err(map_sqlx)?,
            })
        })
        .collect()
}

const MESSAGE_COLUMNS: &str = "id, contact_id, direction, provider, business_number, \
    provider_message_id, kind, body, attributes, status, error_code, provider_timestamp, created_at";

const MEDIA_COLUMNS: &str = "mm.message_id, mm.idx, mm.source_url, md.sha256, md.mime, md.size, \
    md.storage_key, md.source";

fn message_from(row: &DbRow, media: Vec<MessageMedia>) -> StoreResult<Message> {
    let get_s = |c: &str| -> StoreResult<String> { row.try_get(c).map_err(map_sqlx) };
    Ok(Message {
        id: row.try_get("id").map_err(map_sqlx)?,
        contact_id: row.try_get("contact_id").map_err(map_sqlx)?,
        direction: parse_direction(&get_s("direction")?)?,
        provider: parse_provider(&get_s("provider")?)?,
        business_number: get_s("business_number")?,
        provider_message_id: row.try_get("provider_message_id").map_err(map_sqlx)?,
        kind: get_s("kind")?,
        body: row.try_get("body").map_err(map_sqlx)?,
        attributes: parse_json(&get_s("attributes")?, "message attributes")?,
        status: parse_status(&get_s("status")?)?,
        error_code: row.try_get("error_code").map_err(map_sqlx)?,
        provider_timestamp: row.try_get("provider_timestamp").map_err(map_sqlx)?,
        created_at: row.try_get("created_at").map_err(map_sqlx)?,
        media,
    })
}

/// Attachment slots grouped by message, ordered by index.
fn group_media(rows: &[DbRow]) -> StoreResult<HashMap<i64, Vec<MessageMedia>>> {
    let mut by_message: HashMap<i64, Vec<MessageMedia>> = HashMap::new();
    for row in rows {
        let message_id: i64 = row.try_get("message_id").map_err(map_sqlx)?;
        let sha256: Option<String> = row.try_get("sha256").map_err(map_sqlx)?;
        let stored = match sha256 {
            None => None,
            Some(sha256) => {
                let source: String = row.try_get("source").map_err(map_sqlx)?;
                Some(MediaMeta {
                    sha256,
                    mime: row.try_get("mime").map_err(map_sqlx)?,
                    size: row.try_get("size").map_err(map_sqlx)?,
                    storage_key: row.try_get("storage_key").map_err(map_sqlx)?,
                    source: parse_provider(&source)?,
                })
            }
        };
        by_message
            .entry(message_id)
            .or_default()
            .push(MessageMedia {
                index: row.try_get("idx").map_err(map_sqlx)?,
                source_url: row.try_get("source_url").map_err(map_sqlx)?,
                stored,
            });
    }
    Ok(by_message)
}

/// [`crate::Store::messages_for_contact`].
pub(super) async fn messages_for_contact(
    b: &Backend,
    contact_id: i64,
    before_id: Option<i64>,
    limit: i64,
) -> StoreResult<Vec<Message>> {
    let before = before_id.unwrap_or(i64::MAX);
    let limit = limit.max(0);
    let page =
        "SELECT id FROM messages WHERE contact_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3";
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE contact_id = $1 AND id < $2 \
         ORDER BY id DESC LIMIT $3"
    );
    let rows = sqlx::query(&sql)
        .bind(contact_id)
        .bind(before)
        .bind(limit)
        .fetch_all(&b.read)
        .await
        .map_err(map_sqlx)?;
    let media_sql = format!(
        "SELECT {MEDIA_COLUMNS} FROM message_media mm LEFT JOIN media md ON md.sha256 = mm.media_sha256 \
         WHERE mm.message_id IN ({page}) ORDER BY mm.message_id, mm.idx"
    );
    let media_rows = sqlx::query(&media_sql)
        .bind(contact_id)
        .bind(before)
        .bind(limit)
        .fetch_all(&b.read)
        .await
        .map_err(map_sqlx)?;
    let mut media = group_media(&media_rows)?;
    rows.iter()
        .map(|row| {
            let id: i64 = row.try_get("id").map_err(map_sqlx)?;
            message_from(row, media.remove(&id).unwrap_or_default())
        })
        .collect()
}

/// [`crate::Store::message`].
pub(super) async fn message(b: &Backend, id: i64) -> StoreResult<Option<Message>> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1");
    let Some(row) = sqlx::query(&sql)
        .bind(id)
        .fetch_optional(&b.read)
        .await
        .map_err(map_sqlx)?
    else {
        return Ok(None);
    };
    let media_sql = format!(
        "SELECT {MEDIA_COLUMNS} FROM message_media mm LEFT JOIN media md ON md.sha256 = mm.media_sha256 \
         WHERE mm.message_id = $1 ORDER BY mm.idx"
    );
    let media_rows = sqlx::query(&media_sql)
        .bind(id)
        .fetch_all(&b.read)
        .await
        .map_err(map_sqlx)?;
    let mut media = group_media(&media_rows)?;
    Ok(Some(message_from(
        &row,
        media.remove(&id).unwrap_or_default(),
    )?))
}

/// [`crate::Store::events_after`].
pub(super) async fn events_after(b: &Backend, after: i64, limit: i64) -> StoreResult<Vec<Event>> {
    b.sequence_events().await.map_err(map_sqlx)?;
    let cursor = Backend::EVENT_CURSOR;
    let sql = format!(
        "SELECT {cursor} AS id, kind, contact_id, message_id, payload, created_at FROM events \
         WHERE {cursor} > $1 ORDER BY {cursor} LIMIT $2"
    );
    let rows = sqlx::query(&sql)
        .bind(after)
        .bind(limit.max(0))
        .fetch_all(&b.read)
        .await
        .map_err(map_sqlx)?;
    rows.iter()
        .map(|row| {
            let payload: String = row.try_get("payload").map_err(map_sqlx)?;
            Ok(Event {
                id: row.try_get("id").map_err(map_sqlx)?,
                kind: row.try_get("kind").map_err(map_sqlx)?,
                contact_id: row.try_get("contact_id").map_err(map_sqlx)?,
                message_id: row.try_get("message_id").map_err(map_sqlx)?,
                payload: parse_json(&payload, "event payload")?,
                created_at: row.try_get("created_at").map_err(map_sqlx)?,
            })
        })
        .collect()
}

/// The read cursor of the event with row id `id` (see `Backend::EVENT_CURSOR`).
pub(super) async fn event_cursor(b: &Backend, id: i64) -> StoreResult<i64> {
    let sql = format!("SELECT {} FROM events WHERE id = $1", Backend::EVENT_CURSOR);
    let cursor: Option<i64> = sqlx::query_scalar(&sql)
        .bind(id)
        .fetch_one(&b.read)
        .await
        .map_err(map_sqlx)?;
    cursor.ok_or_else(|| StoreError::Corrupt(format!("event {id} has no cursor after sequencing")))
}

/// [`crate::Store::raw_webhook_count`].
pub(super) async fn raw_webhook_count(b: &Backend) -> StoreResult<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM raw_webhooks")
        .fetch_one(&b.read)
        .await
        .map_err(map_sqlx)
}
