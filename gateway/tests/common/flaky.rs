//! A store wrapper whose calls fail with `Unavailable` while it is switched off.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crm_store::*;

pub struct FlakyStore {
    pub inner: Arc<dyn Store>,
    pub down: AtomicBool,
}

impl FlakyStore {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        FlakyStore {
            inner,
            down: AtomicBool::new(false),
        }
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn check(&self) -> StoreResult<()> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable("switched off by the test".into()))
        } else {
            Ok(())
        }
    }
}

#[async_trait::async_trait]
impl Store for FlakyStore {
    async fn migrate(&self) -> StoreResult<()> {
        self.check()?;
        self.inner.migrate().await
    }
    async fn ping(&self) -> StoreResult<()> {
        self.check()?;
        self.inner.ping().await
    }
    async fn close(&self) {
        self.inner.close().await;
    }
    async fn record_inbound(&self, msg: &NewInboundMessage) -> StoreResult<InboundOutcome> {
        self.check()?;
        self.inner.record_inbound(msg).await
    }
    async fn apply_status(&self, update: &StatusUpdate) -> StoreResult<StatusOutcome> {
        self.check()?;
        self.inner.apply_status(update).await
    }
    async fn insert_outbound(&self, msg: &NewOutboundMessage) -> StoreResult<OutboundOutcome> {
        self.check()?;
        self.inner.insert_outbound(msg).await
    }
    async fn mark_outbound_sent(
        &self,
        message_id: i64,
        provider: Provider,
        provider_message_id: &str,
        status: MessageStatus,
    ) -> StoreResult<()> {
        self.check()?;
        self.inner
            .mark_outbound_sent(message_id, provider, provider_message_id, status)
            .await
    }
    async fn upsert_contact(
        &self,
        identities: &[Identity],
        display_name: Option<&str>,
        now: Millis,
    ) -> StoreResult<i64> {
        self.check()?;
        self.inner
            .upsert_contact(identities, display_name, now)
            .await
    }
    async fn find_contact(&self, identity: &Identity) -> StoreResult<Option<i64>> {
        self.check()?;
        self.inner.find_contact(identity).await
    }
    async fn contact(&self, id: i64) -> StoreResult<Option<Contact>> {
        self.check()?;
        self.inner.contact(id).await
    }
    async fn list_contacts(&self, after_id: Option<i64>, limit: i64) -> StoreResult<Vec<Contact>> {
        self.check()?;
        self.inner.list_contacts(after_id, limit).await
    }
    async fn conversations(&self, contact_id: i64) -> StoreResult<Vec<Conversation>> {
        self.check()?;
        self.inner.conversations(contact_id).await
    }
    async fn messages_for_contact(
        &self,
        contact_id: i64,
        before_id: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<Message>> {
        self.check()?;
        self.inner
            .messages_for_contact(contact_id, before_id, limit)
            .await
    }
    async fn message(&self, id: i64) -> StoreResult<Option<Message>> {
        self.check()?;
        self.inner.message(id).await
    }
    async fn append_event(&self, event: &NewEvent) -> StoreResult<i64> {
        self.check()?;
        self.inner.append_event(event).await
    }
    async fn events_after(&self, after: i64, limit: i64) -> StoreResult<Vec<Event>> {
        self.check()?;
        self.inner.events_after(after, limit).await
    }
    async fn claim_jobs(&self, now: Millis, limit: i64, lease: Millis) -> StoreResult<Vec<Job>> {
        self.check()?;
        self.inner.claim_jobs(now, limit, lease).await
    }
    async fn complete_job(&self, id: i64) -> StoreResult<()> {
        self.check()?;
        self.inner.complete_job(id).await
    }
    async fn retry_job(&self, id: i64, run_at: Millis, error: &str) -> StoreResult<()> {
        self.check()?;
        self.inner.retry_job(id, run_at, error).await
    }
    async fn bury_job(&self, id: i64, error: &str) -> StoreResult<()> {
        self.check()?;
        self.inner.bury_job(id, error).await
    }
    async fn job_backlog(&self) -> StoreResult<JobBacklog> {
        self.check()?;
        self.inner.job_backlog().await
    }
    async fn attach_media(
        &self,
        message_id: i64,
        index: i32,
        media: &MediaMeta,
        now: Millis,
    ) -> StoreResult<()> {
        self.check()?;
        self.inner.attach_media(message_id, index, media, now).await
    }
    async fn raw_webhook_count(&self) -> StoreResult<i64> {
        self.check()?;
        self.inner.raw_webhook_count().await
    }
    async fn enqueue_outbound(
        &self,
        msg: &NewOutboundMessage,
        event: &NewEvent,
    ) -> StoreResult<OutboundOutcome> {
        self.check()?;
        self.inner.enqueue_outbound(msg, event).await
    }
    async fn claim_outbox(
        &self,
        now: Millis,
        limit: i64,
        lease: Millis,
    ) -> StoreResult<Vec<OutboxEntry>> {
        self.check()?;
        self.inner.claim_outbox(now, limit, lease).await
    }
    async fn outbox_attempt(
        &self,
        message_id: i64,
        route: &OutboundRoute,
        now: Millis,
    ) -> StoreResult<()> {
        self.check()?;
        self.inner.outbox_attempt(message_id, route, now).await
    }
    async fn outbox_sent(
        &self,
        message_id: i64,
        provider: Provider,
        provider_message_id: &str,
        status: MessageStatus,
        now: Millis,
    ) -> StoreResult<()> {
        self.check()?;
        self.inner
            .outbox_sent(message_id, provider, provider_message_id, status, now)
            .await
    }
    async fn outbox_retry(
        &self,
        message_id: i64,
        run_at: Millis,
        error: &str,
        ambiguous: bool,
    ) -> StoreResult<()> {
        self.check()?;
        self.inner
            .outbox_retry(message_id, run_at, error, ambiguous)
            .await
    }
    async fn outbox_failed(
        &self,
        message_id: i64,
        error_code: Option<&str>,
        reason: &str,
        now: Millis,
    ) -> StoreResult<()> {
        self.check()?;
        self.inner
            .outbox_failed(message_id, error_code, reason, now)
            .await
    }
    async fn outbox_pending(&self) -> StoreResult<i64> {
        self.check()?;
        self.inner.outbox_pending().await
    }
}
