//! Finding or creating a contact from its channel identities.

use super::{Backend, Conn};
use crate::error::{Res, with_retry};
use crate::{Identity, Millis, StoreError, StoreResult};

/// The identities sorted by `(kind, value)` without repeats. Every transaction claims
/// identities in this one order, so two concurrent upserts cannot deadlock on them.
fn canonical(identities: &[Identity]) -> Vec<&Identity> {
    let mut ids: Vec<&Identity> = identities.iter().collect();
    ids.sort_by(|a, b| (a.kind.as_str(), &a.value).cmp(&(b.kind.as_str(), &b.value)));
    ids.dedup();
    ids
}

/// The contact owning `identity`.
pub(super) async fn owner(conn: &mut Conn, identity: &Identity) -> Res<Option<i64>> {
    let id: Option<i64> = sqlx::query_scalar(
        "SELECT contact_id FROM contact_identities WHERE kind = $1 AND value = $2",
    )
    .bind(identity.kind.as_str())
    .bind(&identity.value)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(id)
}

/// Attaches `identity` to `contact_id` unless someone owns it; false when it was taken.
async fn attach(conn: &mut Conn, contact_id: i64, identity: &Identity, now: Millis) -> Res<bool> {
    let done = sqlx::query(
        "INSERT INTO contact_identities (contact_id, kind, value, created_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (kind, value) DO NOTHING",
    )
    .bind(contact_id)
    .bind(identity.kind.as_str())
    .bind(&identity.value)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Finds the contact owning any of `identities` or creates one, attaches the unknown
/// identities, and updates the display name when given. Runs inside the caller's transaction.
///
/// Race between two transactions for the same new contact: both create a contact row, then
/// both insert the first identity (in canonical order). The unique `(kind, value)` index makes
/// the second wait for the first; when the first commits, the second's insert does nothing, it
/// looks the identity up again (a new statement sees the committed row under READ COMMITTED;
/// SQLite serialises writers so the race never happens there), deletes its own contact row and
/// uses the winner's.
pub(super) async fn upsert_in(
    conn: &mut Conn,
    identities: &[Identity],
    display_name: Option<&str>,
    now: Millis,
) -> Res<i64> {
    let ids = canonical(identities);
    let display_name = display_name.map(str::trim).filter(|n| !n.is_empty());
    let Some(first) = ids.first().copied() else {
        return Err(StoreError::Invalid("a contact needs at least one identity".into()).into());
    };
    let mut found = None;
    for identity in &ids {
        if let Some(id) = owner(conn, identity).await? {
            found = Some(id);
            break;
        }
    }
    let contact_id = match found {
        Some(id) => id,
        None => {
            let created: i64 = sqlx::query_scalar(
                "INSERT INTO contacts (display_name, created_at) VALUES ($1, $2) RETURNING id",
            )
            .bind(display_name)
            .bind(now)
            .fetch_one(&mut *conn)
            .await?;
            if attach(conn, created, first, now).await? {
                created
            } else {
                let winner = owner(conn, first).await?.ok_or_else(|| {
                    StoreError::Database("identity conflict but no owner found".into())
                })?;
                sqlx::query("DELETE FROM contacts WHERE id = $1")
                    .bind(created)
                    .execute(&mut *conn)
                    .await?;
                winner
            }
        }
    };
    for identity in &ids {
        // An identity owned by another contact stays there: merging contacts is a human call.
        attach(conn, contact_id, identity, now).await?;
    }
    if let Some(name) = display_name {
        sqlx::query("UPDATE contacts SET display_name = $1 WHERE id = $2")
            .bind(name)
            .bind(contact_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(contact_id)
}

/// [`crate::Store::upsert_contact`] in its own transaction.
pub(super) async fn upsert(
    b: &Backend,
    identities: &[Identity],
    display_name: Option<&str>,
    now: Millis,
) -> StoreResult<i64> {
    with_retry(|| async {
        let mut tx = b.begin().await?;
        let id = upsert_in(&mut tx, identities, display_name, now).await?;
        tx.commit().await?;
        Ok(id)
    })
    .await
}

/// [`crate::Store::find_contact`].
pub(super) async fn find(b: &Backend, identity: &Identity) -> StoreResult<Option<i64>> {
    let mut conn = b.read.acquire().await.map_err(crate::error::map_sqlx)?;
    Ok(owner(&mut conn, identity).await?)
}
