//! PostgreSQL implementation of [`super::Store`], for several gateway instances on one database.
//!
//! Transactions run at READ COMMITTED. Exactly-once comes from unique indexes with
//! `ON CONFLICT DO NOTHING` (a second inserter waits for the first and then inserts nothing);
//! the race between two messages from one new contact is resolved in `common::contacts`.
//! Deadlocks and serialization failures re-run the whole transaction a few times.
//!
//! Event cursors: an identity column hands out ids at insert, not at commit, so a reader using
//! ids could see event 8 before event 7 commits and skip 7 forever. Events are therefore read by
//! `seq`, a number given after commit by a sequencer ([`PostgresStore::sequence_events`], run
//! before every read): one sequencer at a time numbers the committed, unnumbered events, and its
//! batch becomes visible atomically, so readers always see a gap-free prefix. Writers never wait
//! for each other (an earlier design held a lock from the event insert through commit, which
//! serialised every webhook's commit and its fsync).

use std::str::FromStr;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::StoreResult;
use crate::error::map_sqlx;

// The shared logic is compiled once per backend, on purpose (see `common`).
#[allow(clippy::duplicate_mod)]
#[path = "common/mod.rs"]
mod common;

type Db = sqlx::Postgres;
type Backend = PostgresStore;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Leases due jobs; `SKIP LOCKED` lets several workers claim side by side without waiting on
/// (or double-claiming) each other's rows.
const CLAIM_SQL: &str = "WITH due AS ( \
        SELECT id FROM jobs WHERE done = 0 AND dead = 0 AND run_at <= $1 \
          AND (locked_until IS NULL OR locked_until <= $1) \
        ORDER BY run_at, id LIMIT $2 FOR UPDATE SKIP LOCKED) \
    UPDATE jobs SET locked_until = $3, attempts = jobs.attempts + 1 FROM due \
    WHERE jobs.id = due.id \
    RETURNING jobs.id, jobs.kind, jobs.payload, jobs.attempts, jobs.run_at";

/// Leases due outbox entries; `SKIP LOCKED` as for jobs.
const OUTBOX_CLAIM_SQL: &str = "WITH due AS ( \
        SELECT message_id FROM outbox WHERE done = 0 AND run_at <= $1 \
          AND (locked_until IS NULL OR locked_until <= $1) \
        ORDER BY run_at, message_id LIMIT $2 FOR UPDATE SKIP LOCKED) \
    UPDATE outbox SET locked_until = $3, attempts = outbox.attempts + 1 FROM due \
    WHERE outbox.message_id = due.message_id \
    RETURNING outbox.message_id, outbox.attempts, outbox.in_flight, outbox.run_at";

/// Advisory lock key serialising event inserts ("crm-evts" in ASCII).
const EVENT_LOCK_KEY: i64 = 0x63726d2d65767473;

/// Connections per gateway instance.
const MAX_CONNECTIONS: u32 = 10;
/// How long a call waits for a pooled connection before the store is called unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// Server-side limit on one statement, so a stuck query becomes a 503 instead of a hang.
const STATEMENT_TIMEOUT_MS: &str = "30000";

/// The CRM store on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    read: PgPool,
    write: PgPool,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://...`). Does not migrate: call [`crate::Store::migrate`].
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(map_sqlx)?
            .options([("statement_timeout", STATEMENT_TIMEOUT_MS)]);
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(map_sqlx)?;
        Ok(Self::from_pool(pool))
    }

    /// Uses an existing pool.
    pub fn from_pool(pool: PgPool) -> Self {
        Self {
            read: pool.clone(),
            write: pool,
        }
    }

    /// A write transaction (READ COMMITTED).
    async fn begin(&self) -> Result<sqlx::Transaction<'static, Db>, sqlx::Error> {
        self.write.begin().await
    }

    /// No group commit: PostgreSQL commits concurrent transactions in parallel (and groups
    /// their WAL flushes itself).
    async fn record_inbound_grouped(
        &self,
        _msg: &crate::NewInboundMessage,
    ) -> Option<StoreResult<crate::InboundOutcome>> {
        None
    }

    /// The column events are read and paged by.
    const EVENT_CURSOR: &'static str = "seq";

    /// Numbers committed events that have no cursor yet, in id order, after the highest cursor
    /// given so far. If another sequencer is running, returns at once: that one numbers them.
    async fn sequence_events(&self) -> Result<(), sqlx::Error> {
        let mut tx = self.write.begin().await?;
        let ours: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
            .bind(EVENT_LOCK_KEY)
            .fetch_one(&mut *tx)
            .await?;
        if ours {
            sqlx::query(
                "WITH base AS (SELECT COALESCE(MAX(seq), 0) AS top FROM events), \
                      todo AS (SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS rn \
                               FROM events WHERE seq IS NULL) \
                 UPDATE events e SET seq = base.top + todo.rn \
                 FROM todo, base WHERE e.id = todo.id",
            )
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    /// Waits for the sequencer (blocking lock) so an event just committed gets its cursor.
    async fn sequence_events_now(&self) -> Result<(), sqlx::Error> {
        let mut tx = self.write.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(EVENT_LOCK_KEY)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.sequence_events().await
    }
}
