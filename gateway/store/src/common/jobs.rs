//! The job queue and media attachment.

use serde_json::json;
use sqlx::Row;

use super::{Backend, CLAIM_SQL, insert_event, parse_json};
use crate::error::{Res, map_sqlx, with_retry};
use crate::{Job, JobBacklog, MediaMeta, Millis, NewEvent, StoreError, StoreResult};

/// [`crate::Store::claim_jobs`]: one statement (`CLAIM_SQL`, backend-specific) leases the
/// due jobs, so two workers never get the same job while its lease runs.
pub(super) async fn claim(
    b: &Backend,
    now: Millis,
    limit: i64,
    lease: Millis,
) -> StoreResult<Vec<Job>> {
    let rows = sqlx::query(CLAIM_SQL)
        .bind(now)
        .bind(limit.max(0))
        .bind(now.saturating_add(lease.max(0)))
        .fetch_all(&b.write)
        .await
        .map_err(map_sqlx)?;
    let mut jobs = Vec::with_capacity(rows.len());
    for row in &rows {
        let run_at: i64 = row.try_get("run_at").map_err(map_sqlx)?;
        let payload: String = row.try_get("payload").map_err(map_sqlx)?;
        let job = Job {
            id: row.try_get("id").map_err(map_sqlx)?,
            kind: row.try_get("kind").map_err(map_sqlx)?,
            payload: parse_json(&payload, "job payload")?,
            attempts: row.try_get("attempts").map_err(map_sqlx)?,
        };
        jobs.push((run_at, job));
    }
    jobs.sort_by_key(|(run_at, job)| (*run_at, job.id));
    Ok(jobs.into_iter().map(|(_, job)| job).collect())
}

async fn update_job(
    b: &Backend,
    id: i64,
    sql: &str,
    bind: Option<(&str, Option<i64>)>,
) -> StoreResult<()> {
    let mut q = sqlx::query(sql).bind(id);
    if let Some((error, run_at)) = bind {
        q = q.bind(error);
        if let Some(run_at) = run_at {
            q = q.bind(run_at);
        }
    }
    let done = q.execute(&b.write).await.map_err(map_sqlx)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!("job {id}")));
    }
    Ok(())
}

/// [`crate::Store::complete_job`].
pub(super) async fn complete(b: &Backend, id: i64) -> StoreResult<()> {
    update_job(
        b,
        id,
        "UPDATE jobs SET done = 1, locked_until = NULL WHERE id = $1",
        None,
    )
    .await
}

/// [`crate::Store::retry_job`].
pub(super) async fn retry(b: &Backend, id: i64, run_at: Millis, error: &str) -> StoreResult<()> {
    let sql = "UPDATE jobs SET run_at = $3, locked_until = NULL, last_error = $2 WHERE id = $1";
    update_job(b, id, sql, Some((error, Some(run_at)))).await
}

/// [`crate::Store::bury_job`].
pub(super) async fn bury(b: &Backend, id: i64, error: &str) -> StoreResult<()> {
    let sql = "UPDATE jobs SET dead = 1, locked_until = NULL, last_error = $2 WHERE id = $1";
    update_job(b, id, sql, Some((error, None))).await
}

/// [`crate::Store::job_backlog`].
pub(super) async fn backlog(b: &Backend) -> StoreResult<JobBacklog> {
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM jobs WHERE done = 0 AND dead = 0) AS pending, \
                (SELECT MIN(run_at) FROM jobs WHERE done = 0 AND dead = 0) AS oldest, \
                (SELECT COUNT(*) FROM jobs WHERE dead = 1) AS dead",
    )
    .fetch_one(&b.read)
    .await
    .map_err(map_sqlx)?;
    Ok(JobBacklog {
        pending: row.try_get("pending").map_err(map_sqlx)?,
        oldest_run_at: row.try_get("oldest").map_err(map_sqlx)?,
        dead: row.try_get("dead").map_err(map_sqlx)?,
    })
}

/// [`crate::Store::attach_media`].
pub(super) async fn attach_media(
    b: &Backend,
    message_id: i64,
    index: i32,
    media: &MediaMeta,
    now: Millis,
) -> StoreResult<()> {
    with_retry(|| attach_once(b, message_id, index, media, now)).await
}

async fn attach_once(
    b: &Backend,
    message_id: i64,
    index: i32,
    media: &MediaMeta,
    now: Millis,
) -> Res<()> {
    let mut tx = b.begin().await?;
    let contact_id: Option<i64> = sqlx::query_scalar(
        "SELECT m.contact_id FROM message_media mm JOIN messages m ON m.id = mm.message_id \
         WHERE mm.message_id = $1 AND mm.idx = $2",
    )
    .bind(message_id)
    .bind(index)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(contact_id) = contact_id else {
        let what = format!("attachment slot {index} of message {message_id}");
        return Err(StoreError::NotFound(what).into());
    };
    sqlx::query(
        "INSERT INTO media (sha256, mime, size, storage_key, source, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (sha256) DO NOTHING",
    )
    .bind(&media.sha256)
    .bind(&media.mime)
    .bind(media.size)
    .bind(&media.storage_key)
    .bind(media.source.as_str())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let filled = sqlx::query(
        "UPDATE message_media SET media_sha256 = $1 \
         WHERE message_id = $2 AND idx = $3 AND (media_sha256 IS NULL OR media_sha256 <> $1)",
    )
    .bind(&media.sha256)
    .bind(message_id)
    .bind(index)
    .execute(&mut *tx)
    .await?;
    if filled.rows_affected() == 0 {
        // Already attached: nothing to announce.
        tx.commit().await?;
        return Ok(());
    }
    let event = NewEvent {
        kind: "wa.media".into(),
        contact_id: Some(contact_id),
        message_id: Some(message_id),
        payload: json!({
            "message_id": message_id,
            "index": index,
            "sha256": media.sha256,
            "mime": media.mime,
            "size": media.size,
            "storage_key": media.storage_key,
        }),
        created_at: now,
    };
    insert_event(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(())
}
