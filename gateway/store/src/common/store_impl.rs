//! The [`crate::Store`] implementation, delegating to the sibling modules.

use super::{Backend, MIGRATOR, contacts, inbound, insert_event, jobs, outbound, outbox, read};
use crate::error::{map_migrate, map_sqlx, with_retry};
use crate::{
    Contact, Conversation, Event, Identity, InboundOutcome, Job, JobBacklog, MediaMeta, Message,
    MessageStatus, Millis, NewEvent, NewInboundMessage, NewOutboundMessage, OutboundOutcome,
    OutboundRoute, OutboxEntry, Provider, StatusOutcome, StatusUpdate, Store, StoreResult,
};

#[async_trait::async_trait]
impl Store for Backend {
    async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.write).await.map_err(map_migrate)
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.read)
            .await
            .map_err(map_sqlx)?;
        Ok(())
    }

    async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }

    async fn record_inbound(&self, msg: &NewInboundMessage) -> StoreResult<InboundOutcome> {
        inbound::record(self, msg).await
    }

    async fn apply_status(&self, update: &StatusUpdate) -> StoreResult<StatusOutcome> {
        outbound::apply_status(self, update).await
    }

    async fn insert_outbound(&self, msg: &NewOutboundMessage) -> StoreResult<OutboundOutcome> {
        outbound::insert(self, msg).await
    }

    async fn mark_outbound_sent(
        &self,
        message_id: i64,
        provider: Provider,
        provider_message_id: &str,
        status: MessageStatus,
    ) -> StoreResult<()> {
        outbound::mark_sent(self, message_id, provider, provider_message_id, status).await
    }

    async fn upsert_contact(
        &self,
        identities: &[Identity],
        display_name: Option<&str>,
        now: Millis,
    ) -> StoreResult<i64> {
        contacts::upsert(self, identities, display_name, now).await
    }

    async fn find_contact(&self, identity: &Identity) -> StoreResult<Option<i64>> {
        contacts::find(self, identity).await
    }

    async fn contact(&self, id: i64) -> StoreResult<Option<Contact>> {
        read::contact(self, id).await
    }

    async fn list_contacts(&self, after_id: Option<i64>, limit: i64) -> StoreResult<Vec<Contact>> {
        read::list_contacts(self, after_id, limit).await
    }

    async fn conversations(&self, contact_id: i64) -> StoreResult<Vec<Conversation>> {
        read::conversations(self, contact_id).await
    }

    async fn messages_for_contact(
        &self,
        contact_id: i64,
        before_id: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<Message>> {
        read::messages_for_contact(self, contact_id, before_id, limit).await
    }

    async fn message(&self, id: i64) -> StoreResult<Option<Message>> {
        read::message(self, id).await
    }

    async fn append_event(&self, event: &NewEvent) -> StoreResult<i64> {
        let id = with_retry(|| async {
            let mut tx = self.begin().await?;
            let id = insert_event(&mut tx, event).await?;
            tx.commit().await?;
            Ok(id)
        })
        .await?;
        // The cursor is given after commit (PostgreSQL) or is the id itself (SQLite).
        self.sequence_events_now().await.map_err(map_sqlx)?;
        read::event_cursor(self, id).await
    }

    async fn events_after(&self, after: i64, limit: i64) -> StoreResult<Vec<Event>> {
        read::events_after(self, after, limit).await
    }

    async fn claim_jobs(&self, now: Millis, limit: i64, lease: Millis) -> StoreResult<Vec<Job>> {
        jobs::claim(self, now, limit, lease).await
    }

    async fn complete_job(&self, id: i64) -> StoreResult<()> {
        jobs::complete(self, id).await
    }

    async fn retry_job(&self, id: i64, run_at: Millis, error: &str) -> StoreResult<()> {
        jobs::retry(self, id, run_at, error).await
    }

    async fn bury_job(&self, id: i64, error: &str) -> StoreResult<()> {
        jobs::bury(self, id, error).await
    }

    async fn job_backlog(&self) -> StoreResult<JobBacklog> {
        jobs::backlog(self).await
    }

    async fn attach_media(
        &self,
        message_id: i64,
        index: i32,
        media: &MediaMeta,
        now: Millis,
    ) -> StoreResult<()> {
        jobs::attach_media(self, message_id, index, media, now).await
    }

    async fn raw_webhook_count(&self) -> StoreResult<i64> {
        read::raw_webhook_count(self).await
    }

    async fn enqueue_outbound(
        &self,
        msg: &NewOutboundMessage,
        event: &NewEvent,
    ) -> StoreResult<OutboundOutcome> {
        outbox::enqueue(self, msg, event).await
    }

    async fn claim_outbox(
        &self,
        now: Millis,
        limit: i64,
        lease: Millis,
    ) -> StoreResult<Vec<OutboxEntry>> {
        outbox::claim(self, now, limit, lease).await
    }

    async fn outbox_attempt(
        &self,
        message_id: i64,
        route: &OutboundRoute,
        now: Millis,
    ) -> StoreResult<()> {
        outbox::attempt(self, message_id, route, now).await
    }

    async fn outbox_sent(
        &self,
        message_id: i64,
        provider: Provider,
        provider_message_id: &str,
        status: MessageStatus,
        now: Millis,
    ) -> StoreResult<()> {
        outbox::sent(self, message_id, provider, provider_message_id, status, now).await
    }

    async fn outbox_retry(
        &self,
        message_id: i64,
        run_at: Millis,
        error: &str,
        ambiguous: bool,
    ) -> StoreResult<()> {
        outbox::retry(self, message_id, run_at, error, ambiguous).await
    }

    async fn outbox_failed(
        &self,
        message_id: i64,
        error_code: Option<&str>,
        reason: &str,
        now: Millis,
    ) -> StoreResult<()> {
        outbox::failed(self, message_id, error_code, reason, now).await
    }

    async fn outbox_pending(&self) -> StoreResult<i64> {
        outbox::pending(self).await
    }
}
