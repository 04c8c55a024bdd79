//! The job worker: claims due jobs from the store and runs them. Media copies happen here,
//! after the webhook was answered. Driven by the store (a job left by a crash is claimed again
//! when its lease expires), woken at once by webhooks and polling every second.

use std::sync::Arc;
use std::time::Duration;

use crm_store::{Job, MediaMeta, Millis, NewEvent, Provider};
use serde::Deserialize;
use serde_json::json;

use crate::app::AppState;
use crate::metrics::MediaOutcome;
use crate::respond::now_millis;

/// Attempts after which a failing job is given up.
pub const MAX_ATTEMPTS: i32 = 12;
/// Jobs claimed per round.
const BATCH: i64 = 4;
/// How long a claimed job stays ours before another worker (or this one after a restart) may
/// take it: longer than one media copy may last (60 s download budget plus storage).
const LEASE_MS: Millis = 90 * 1000;
/// Poll interval when idle.
const POLL: Duration = Duration::from_secs(1);
/// Longest retry delay.
const MAX_BACKOFF_MS: Millis = 5 * 60 * 1000;

/// A stored copy of a media file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopiedMedia {
    /// Hex sha256 of the content.
    pub sha256: String,
    /// MIME type.
    pub mime: String,
    /// Size in bytes.
    pub size: i64,
    /// Key in the media store.
    pub storage_key: String,
}

/// A failed copy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CopyError {
    /// Worth trying again later (network trouble, 5xx) rather than a permanent refusal.
    pub retryable: bool,
    /// What happened (no credentials in it).
    pub message: String,
}

/// Copies provider media into the media store (implemented over `media_store::MediaPipeline`;
/// tests may substitute their own).
#[async_trait::async_trait]
pub trait MediaCopier: Send + Sync + 'static {
    /// Downloads `url` and stores it content-addressed.
    async fn copy(&self, url: &str, announced_mime: Option<&str>)
    -> Result<CopiedMedia, CopyError>;

    /// Opens a stored file for reading, `None` when the key is unknown.
    async fn read(&self, storage_key: &str) -> Result<Option<MediaStream>, CopyError>;
}

/// A stored file being read.
pub struct MediaStream {
    /// Size in bytes, when known.
    pub size: Option<u64>,
    /// The content, chunk by chunk.
    pub stream: futures_util::stream::BoxStream<'static, Result<bytes::Bytes, CopyError>>,
}

/// Payload of a `media_fetch` job (written by the store from a [`crm_store::PendingMedia`]).
#[derive(Debug, Deserialize)]
struct MediaFetch {
    message_id: i64,
    index: i32,
    url: String,
    #[serde(default)]
    content_type: Option<String>,
}

/// Delay before attempt `attempts + 1`: 1 s, 2 s, 4 s, ... capped at 5 minutes.
pub fn backoff(attempts: i32) -> Millis {
    let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(0);
    (1000i64 << exp).min(MAX_BACKOFF_MS)
}

/// What to do with a failed job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Run again at this time.
    RetryAt(Millis),
    /// Give up.
    Bury,
}

/// Decides between retry and giving up.
pub fn verdict(attempts: i32, retryable: bool, now: Millis) -> Verdict {
    if retryable && attempts < MAX_ATTEMPTS {
        Verdict::RetryAt(now + backoff(attempts))
    } else {
        Verdict::Bury
    }
}

/// The worker loop.
pub struct Worker {
    st: Arc<AppState>,
}

impl Worker {
    /// A worker over the shared state.
    pub fn new(st: Arc<AppState>) -> Self {
        Worker { st }
    }

    /// Runs until shutdown.
    pub async fn run(self) {
        let mut stop = self.st.shutdown_signal();
        loop {
            if *stop.borrow() {
                break;
            }
            let claimed = self.round().await;
            if claimed > 0 {
                continue;
            }
            tokio::select! {
                () = self.st.work.notified() => {}
                () = tokio::time::sleep(POLL) => {}
                _ = stop.changed() => {}
            }
        }
        tracing::debug!("worker stopped");
    }

    /// Claims and runs one batch; returns how many jobs were claimed.
    async fn round(&self) -> usize {
        let jobs = match self
            .st
            .store
            .claim_jobs(now_millis(), BATCH, LEASE_MS)
            .await
        {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::warn!(error = %e, "worker: cannot claim jobs");
                return 0;
            }
        };
        let n = jobs.len();
        futures_util::future::join_all(jobs.into_iter().map(|j| self.run_job(j))).await;
        n
    }

    async fn run_job(&self, job: Job) {
        match job.kind.as_str() {
            "media_fetch" => self.media_fetch(job).await,
            other => {
                // Written by a newer gateway perhaps; leave it for a worker that knows it.
                tracing::warn!(
                    job = job.id,
                    kind = other,
                    "worker: unknown job kind, postponed"
                );
                let at = now_millis() + MAX_BACKOFF_MS;
                if let Err(e) = self
                    .st
                    .store
                    .retry_job(job.id, at, "unknown job kind")
                    .await
                {
                    tracing::warn!(job = job.id, error = %e, "worker: cannot postpone job");
                }
            }
        }
    }

    async fn media_fetch(&self, job: Job) {
        let st = &self.st;
        let p: MediaFetch = match serde_json::from_value(job.payload.clone()) {
            Ok(p) => p,
            Err(e) => {
                let why = format!("malformed media_fetch payload: {e}");
                tracing::error!(job = job.id, "{why}");
                if let Err(e) = st.store.bury_job(job.id, &why).await {
                    tracing::warn!(job = job.id, error = %e, "worker: cannot bury job");
                }
                return;
            }
        };
        let message = match st.store.message(p.message_id).await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(job = job.id, error = %e, "worker: store unavailable, job will be retried after its lease");
                return;
            }
        };
        let source = message.as_ref().map_or(Provider::Twilio, |m| m.provider);
        let contact_id = message.as_ref().map(|m| m.contact_id);
        match st.media.copy(&p.url, p.content_type.as_deref()).await {
            Ok(copied) => {
                let meta = MediaMeta {
                    sha256: copied.sha256,
                    mime: copied.mime,
                    size: copied.size,
                    storage_key: copied.storage_key,
                    source,
                };
                let done = async {
                    st.store
                        .attach_media(p.message_id, p.index, &meta, now_millis())
                        .await?;
                    st.store.complete_job(job.id).await
                };
                match done.await {
                    Ok(()) => {
                        st.metrics.media(MediaOutcome::Stored);
                        tracing::debug!(
                            job = job.id,
                            message_id = p.message_id,
                            index = p.index,
                            size = meta.size,
                            "media stored"
                        );
                        st.notify_events();
                    }
                    Err(e) => {
                        tracing::warn!(job = job.id, error = %e, "worker: media copied but not recorded; will retry after the lease")
                    }
                }
            }
            Err(err) => {
                let now = now_millis();
                let verdict = verdict(job.attempts, err.retryable, now);
                let mut payload = json!({
                    "job_id": job.id,
                    "kind": "media_fetch",
                    "index": p.index,
                    "attempts": job.attempts,
                    "retryable": err.retryable,
                    "error": err.message,
                });
                let recorded = match verdict {
                    Verdict::RetryAt(at) => {
                        payload["retry_at"] = json!(at);
                        st.metrics.media(MediaOutcome::Retry);
                        tracing::info!(job = job.id, attempts = job.attempts, error = %err, "media copy failed, will retry");
                        st.store.retry_job(job.id, at, &err.message).await
                    }
                    Verdict::Bury => {
                        payload["gave_up"] = json!(true);
                        st.metrics.media(MediaOutcome::Buried);
                        tracing::warn!(job = job.id, attempts = job.attempts, error = %err, "media copy failed for good");
                        st.store.bury_job(job.id, &err.message).await
                    }
                };
                if let Err(e) = recorded {
                    tracing::warn!(job = job.id, error = %e, "worker: cannot record job failure");
                }
                let event = NewEvent {
                    kind: "wa.error".into(),
                    contact_id,
                    message_id: Some(p.message_id),
                    payload,
                    created_at: now,
                };
                match st.store.append_event(&event).await {
                    Ok(_) => st.notify_events(),
                    Err(e) => tracing::warn!(error = %e, "worker: cannot append wa.error event"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(1), 1_000);
        assert_eq!(backoff(2), 2_000);
        assert_eq!(backoff(3), 4_000);
        assert_eq!(backoff(9), 256_000);
        assert_eq!(backoff(10), 300_000);
        assert_eq!(backoff(1000), 300_000);
        assert_eq!(backoff(0), 1_000);
    }

    #[test]
    fn verdict_retries_then_buries() {
        assert_eq!(verdict(1, true, 10), Verdict::RetryAt(1_010));
        assert_eq!(
            verdict(MAX_ATTEMPTS - 1, true, 0),
            Verdict::RetryAt(backoff(MAX_ATTEMPTS - 1))
        );
        assert_eq!(verdict(MAX_ATTEMPTS, true, 0), Verdict::Bury);
        assert_eq!(verdict(1, false, 0), Verdict::Bury);
    }
}
