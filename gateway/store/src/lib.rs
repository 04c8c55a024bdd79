//! The gateway's CRM store: one interface ([`Store`]), two implementations (SQLite, the embedded default,
//! and PostgreSQL for several gateway instances) that pass one shared test suite.
//!
//! Idempotency is enforced by unique constraints, never by a cache:
//! - inbound messages: unique `(provider, provider_message_id)` (Twilio `MessageSid`; for the
//!   sidecar the webhook layer builds the id from `messageId` and `remoteJid`);
//! - raw webhooks: unique Twilio `I-Twilio-Idempotency-Token` when present;
//! - outbound messages: unique `idempotency_key`;
//! - contact identities: unique `(kind, value)`; media: unique `sha256`.
//!
//! Every write that a webhook acknowledges happens in one transaction.
//!
//! Backends ([`open`] picks one from the URL):
//! - [`sqlite::SqliteStore`]: WAL, `synchronous=FULL` (an acknowledged webhook survives a power
//!   cut), one writer connection with `BEGIN IMMEDIATE` plus a few readers, so concurrent
//!   writers queue instead of failing with `SQLITE_BUSY`.
//! - [`postgres::PostgresStore`]: READ COMMITTED; races are settled by the unique indexes
//!   (`ON CONFLICT DO NOTHING`, the loser waits and writes nothing); deadlocks and
//!   serialization failures re-run the transaction; `claim_jobs` uses `FOR UPDATE SKIP LOCKED`;
//!   event cursors are numbered after commit by a sequencer, so they follow commit order
//!   without serialising writers.
//!
//! Both run the same SQL (`src/common`, compiled once per backend) over their own migrations
//! (`migrations/sqlite`, `migrations/postgres`, embedded). Times are unix milliseconds.
//! Provider message ids are unique per `(provider, direction)`: a status callback only ever
//! matches an outbound message. Connection, pool and timeout failures are
//! [`StoreError::Unavailable`] (answer 503 so the provider retries).

mod error;
mod model;
mod outbox;
pub mod postgres;
pub mod sqlite;

pub use model::*;
pub use outbox::*;

/// Why a store call failed, and whose fault it is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database cannot be reached or timed out: temporary, the caller should answer 503
    /// so the provider retries.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A row in the database does not parse: a bug or a manual edit, never the caller's input.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The caller asked for something that does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// Any other database error (constraint we did not expect, SQL error): our bug.
    #[error("database error: {0}")]
    Database(String),
    /// The caller passed something the store cannot hold (a contact without any identity).
    #[error("invalid input: {0}")]
    Invalid(String),
}

/// Result alias for store calls.
pub type StoreResult<T> = Result<T, StoreError>;

/// Opens the store at `database_url` and applies pending migrations: PostgreSQL for
/// `postgres://` / `postgresql://` URLs, SQLite otherwise (`sqlite:path`, `sqlite://path`, a bare
/// path, `sqlite::memory:`).
pub async fn open(database_url: &str) -> StoreResult<std::sync::Arc<dyn Store>> {
    let store: std::sync::Arc<dyn Store> =
        if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
            std::sync::Arc::new(postgres::PostgresStore::connect(database_url).await?)
        } else {
            std::sync::Arc::new(sqlite::SqliteStore::open(database_url).await?)
        };
    store.migrate().await?;
    Ok(store)
}

/// A conversation: one contact, one provider, one business number.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Conversation {
    /// Contact.
    pub contact_id: i64,
    /// Provider.
    pub provider: Provider,
    /// Our number.
    pub business_number: String,
    /// Provider timestamp (or receive time) of the customer's last inbound message: the
    /// 24-hour window starts here.
    pub last_inbound_at: Option<Millis>,
    /// Last message either way.
    pub last_message_at: Option<Millis>,
}

/// Backlog of the job queue, for `/metrics` (processing lag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct JobBacklog {
    /// Jobs not done and not given up.
    pub pending: i64,
    /// `run_at` of the oldest of them.
    pub oldest_run_at: Option<Millis>,
    /// Jobs given up after too many attempts.
    pub dead: i64,
}

/// The CRM store. Implementations: [`sqlite::SqliteStore`], [`postgres::PostgresStore`].
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies pending migrations.
    async fn migrate(&self) -> StoreResult<()>;

    /// Cheap round trip to the database (for `/readyz`).
    async fn ping(&self) -> StoreResult<()>;

    /// Closes the connections (graceful shutdown); later calls fail with
    /// [`StoreError::Unavailable`]. The default does nothing, for stores without connections.
    async fn close(&self) {}

    /// Stores an inbound message in one transaction: the raw webhook, the contact (found by
    /// any identity or created; unknown identities attached; display name updated when given),
    /// the conversation (`last_inbound_at` moved forward), the message (status `received`), a
    /// `media_fetch` job and an empty attachment slot per [`PendingMedia`], and a `wa.inbound`
    /// event. A duplicate (same provider message id, or same raw idempotency token) writes
    /// nothing and returns [`InboundOutcome::Duplicate`]. Safe under concurrent calls with the
    /// same message: exactly one returns `Stored`.
    async fn record_inbound(&self, msg: &NewInboundMessage) -> StoreResult<InboundOutcome>;

    /// Applies a status callback in one transaction: stores the raw webhook, moves the
    /// outbound message's status forward only ([`MessageStatus::rank`]), records the error
    /// code, and appends a `wa.outbound` event (`wa.error` for failed/undelivered) when applied.
    async fn apply_status(&self, update: &StatusUpdate) -> StoreResult<StatusOutcome>;

    /// Stores an outbound message (status `queued`) unless its idempotency key exists.
    async fn insert_outbound(&self, msg: &NewOutboundMessage) -> StoreResult<OutboundOutcome>;

    /// Records the provider's id and new status of an outbound message once a provider accepted
    /// it (status moves forward only).
    async fn mark_outbound_sent(
        &self,
        message_id: i64,
        provider: Provider,
        provider_message_id: &str,
        status: MessageStatus,
    ) -> StoreResult<()>;

    /// Finds the contact owning any of `identities`, or creates one; attaches the identities
    /// not yet known; updates the display name when given. Returns the contact id.
    async fn upsert_contact(
        &self,
        identities: &[Identity],
        display_name: Option<&str>,
        now: Millis,
    ) -> StoreResult<i64>;

    /// The contact owning `identity`, if any.
    async fn find_contact(&self, identity: &Identity) -> StoreResult<Option<i64>>;

    /// One contact with its identities.
    async fn contact(&self, id: i64) -> StoreResult<Option<Contact>>;

    /// Contacts ordered by id, after `after_id`, at most `limit`.
    async fn list_contacts(&self, after_id: Option<i64>, limit: i64) -> StoreResult<Vec<Contact>>;

    /// The conversations of a contact.
    async fn conversations(&self, contact_id: i64) -> StoreResult<Vec<Conversation>>;

    /// A contact's timeline, newest first, with ids below `before_id`, at most `limit`.
    async fn messages_for_contact(
        &self,
        contact_id: i64,
        before_id: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<Message>>;

    /// One message.
    async fn message(&self, id: i64) -> StoreResult<Option<Message>>;

    /// Appends an event; returns its cursor.
    async fn append_event(&self, event: &NewEvent) -> StoreResult<i64>;

    /// Events with a cursor greater than `after`, oldest first, at most `limit`.
    async fn events_after(&self, after: i64, limit: i64) -> StoreResult<Vec<Event>>;

    /// Claims up to `limit` due jobs (`run_at <= now`, not leased, not done, not dead): each is
    /// leased until `now + lease` and its attempt count increased. A job whose lease expired
    /// (its worker crashed) is due again.
    async fn claim_jobs(&self, now: Millis, limit: i64, lease: Millis) -> StoreResult<Vec<Job>>;

    /// Marks a job done.
    async fn complete_job(&self, id: i64) -> StoreResult<()>;

    /// Releases a job to run again at `run_at`, keeping `error` as its last error.
    async fn retry_job(&self, id: i64, run_at: Millis, error: &str) -> StoreResult<()>;

    /// Gives up on a job (it stays in the store, counted as dead, with its error).
    async fn bury_job(&self, id: i64, error: &str) -> StoreResult<()>;

    /// Job queue backlog.
    async fn job_backlog(&self) -> StoreResult<JobBacklog>;

    /// Stores media metadata (deduplicated on sha256) and fills the message's attachment slot
    /// `index`, and appends a `wa.media` event. Idempotent.
    async fn attach_media(
        &self,
        message_id: i64,
        index: i32,
        media: &MediaMeta,
        now: Millis,
    ) -> StoreResult<()>;

    /// Number of raw webhooks stored (audit; tests use it to check that rejected requests
    /// stored nothing).
    async fn raw_webhook_count(&self) -> StoreResult<i64>;

    /// Stores an outbound message (status `queued`), its outbox entry (due at once) and
    /// `event` (with the new message's id filled in) in one transaction, before any provider is
    /// called. When the idempotency key exists nothing is written and the outcome says whether
    /// the earlier request was the same ([`OutboundOutcome::Existing`]) or not.
    async fn enqueue_outbound(
        &self,
        msg: &NewOutboundMessage,
        event: &NewEvent,
    ) -> StoreResult<OutboundOutcome>;

    /// Leases up to `limit` due outbox entries until `now + lease` (an entry whose lease expired,
    /// because its worker crashed, is due again), counting an attempt on each.
    async fn claim_outbox(
        &self,
        now: Millis,
        limit: i64,
        lease: Millis,
    ) -> StoreResult<Vec<OutboxEntry>>;

    /// Records, before the provider is called, that an attempt is going out on `route`: the
    /// entry is in flight on that provider, the message takes the route's provider, number and
    /// attributes (its status stays `queued` until a provider accepts it), and the conversation
    /// on that number exists.
    async fn outbox_attempt(
        &self,
        message_id: i64,
        route: &OutboundRoute,
        now: Millis,
    ) -> StoreResult<()>;

    /// The provider accepted the message: records its id and status (forward only), closes the
    /// outbox entry and appends a `wa.outbound` event, in one transaction.
    async fn outbox_sent(
        &self,
        message_id: i64,
        provider: Provider,
        provider_message_id: &str,
        status: MessageStatus,
        now: Millis,
    ) -> StoreResult<()>;

    /// Releases the entry to run again at `run_at` with `error` as its last error. `ambiguous`
    /// keeps the in-flight mark (the request may have reached the provider); otherwise it is
    /// cleared (the provider certainly did not take the message).
    async fn outbox_retry(
        &self,
        message_id: i64,
        run_at: Millis,
        error: &str,
        ambiguous: bool,
    ) -> StoreResult<()>;

    /// Gives up on the message for good: status `failed` with the provider's `error_code`, the
    /// entry closed, and a `wa.error` event carrying `reason`, in one transaction.
    async fn outbox_failed(
        &self,
        message_id: i64,
        error_code: Option<&str>,
        reason: &str,
        now: Millis,
    ) -> StoreResult<()>;

    /// Outbox entries not yet closed (queued or being delivered).
    async fn outbox_pending(&self) -> StoreResult<i64>;
}
