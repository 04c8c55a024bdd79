//! SQLite implementation of [`super::Store`], the embedded default.
//!
//! Two pools on one file: one connection for writes (SQLite has a single writer; queueing the
//! writers in the pool instead of in SQLite's lock means no caller ever sees `SQLITE_BUSY`)
//! and a few for reads (WAL lets them run beside the writer). Write transactions start with
//! `BEGIN IMMEDIATE`, so even another process writing the same file is waited for
//! (`busy_timeout`) instead of failing half-way.
//!
//! `synchronous = FULL`: a webhook is acknowledged once its transaction commits, and the
//! provider never sends it again, so the commit must survive a power cut, not only a crash of
//! the process (`NORMAL` in WAL mode may lose the last commits on power loss). The cost is one
//! fsync of the WAL per commit, shared by all the webhooks of a group commit
//! ([`batch`]).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::error::map_sqlx;
use crate::{StoreError, StoreResult};

// The shared logic is compiled once per backend, on purpose (see `common`).
#[allow(clippy::duplicate_mod)]
#[path = "common/mod.rs"]
mod common;

#[path = "sqlite_batch.rs"]
mod batch;

type Db = sqlx::Sqlite;
type Backend = SqliteStore;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// Leases due jobs in one statement (atomic: SQLite runs one writer at a time).
const CLAIM_SQL: &str = "UPDATE jobs SET locked_until = $3, attempts = attempts + 1 \
    WHERE id IN (SELECT id FROM jobs WHERE done = 0 AND dead = 0 AND run_at <= $1 \
                 AND (locked_until IS NULL OR locked_until <= $1) ORDER BY run_at, id LIMIT $2) \
    RETURNING id, kind, payload, attempts, run_at";

/// Leases due outbox entries in one statement (atomic: SQLite runs one writer at a time).
const OUTBOX_CLAIM_SQL: &str = "UPDATE outbox SET locked_until = $3, attempts = attempts + 1 \
    WHERE message_id IN (SELECT message_id FROM outbox WHERE done = 0 AND run_at <= $1 \
                 AND (locked_until IS NULL OR locked_until <= $1) ORDER BY run_at, message_id LIMIT $2) \
    RETURNING message_id, attempts, in_flight, run_at";

/// How long a connection waits for another process's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a call waits for a pooled connection before the store is called unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(15);
/// Reader connections.
const READERS: u32 = 4;

/// The CRM store on a SQLite file (or in memory, for tests).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    read: SqlitePool,
    write: SqlitePool,
    /// Group commit of inbound messages (absent in the copy the committer itself writes with).
    inbound: Option<batch::GroupCommitter>,
}

/// Where an `open` argument points.
#[derive(Debug, PartialEq, Eq)]
enum Location<'a> {
    Memory,
    File(&'a str),
}

fn location(url_or_path: &str) -> Location<'_> {
    let rest = url_or_path
        .strip_prefix("sqlite://")
        .or_else(|| url_or_path.strip_prefix("sqlite:"))
        .unwrap_or(url_or_path);
    // Query parameters (`?mode=rwc`) are ours to set, not the caller's.
    let rest = rest.split('?').next().unwrap_or(rest);
    if rest == ":memory:" || rest.is_empty() {
        Location::Memory
    } else {
        Location::File(rest)
    }
}

impl SqliteStore {
    /// Opens (creating the file and its directory if missing) the database at `url_or_path`:
    /// `sqlite:path`, `sqlite://path`, a bare path, or `sqlite::memory:` (one connection, gone
    /// when the store is dropped). Does not migrate: call [`crate::Store::migrate`].
    pub async fn open(url_or_path: &str) -> StoreResult<Self> {
        let base = SqliteConnectOptions::new()
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        match location(url_or_path) {
            Location::Memory => {
                let options = SqliteConnectOptions::from_str("sqlite::memory:")
                    .map_err(map_sqlx)?
                    .foreign_keys(true);
                // One connection that never closes: the database lives in it.
                let pool = SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_with(options)
                    .await
                    .map_err(map_sqlx)?;
                Ok(Self::with_committer(pool.clone(), pool))
            }
            Location::File(path) => {
                let path = Path::new(path);
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    tokio::fs::create_dir_all(dir).await.map_err(|e| {
                        StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
                    })?;
                }
                let options = base
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full);
                let write = SqlitePoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_with(options.clone())
                    .await
                    .map_err(map_sqlx)?;
                let read = SqlitePoolOptions::new()
                    .max_connections(READERS)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_with(options)
                    .await
                    .map_err(map_sqlx)?;
                Ok(Self::with_committer(read, write))
            }
        }
    }

    fn with_committer(read: SqlitePool, write: SqlitePool) -> Self {
        let plain = Self {
            read,
            write,
            inbound: None,
        };
        let inbound = Some(batch::GroupCommitter::start(plain.clone()));
        Self { inbound, ..plain }
    }

    /// Inbound messages go through the group commit.
    async fn record_inbound_grouped(
        &self,
        msg: &crate::NewInboundMessage,
    ) -> Option<StoreResult<crate::InboundOutcome>> {
        match &self.inbound {
            Some(committer) => Some(committer.record(msg).await),
            None => None,
        }
    }

    /// A write transaction on the writer connection, holding SQLite's write lock from the start.
    async fn begin(&self) -> Result<sqlx::Transaction<'static, Db>, sqlx::Error> {
        self.write.begin_with("BEGIN IMMEDIATE").await
    }

    /// The column events are read and paged by: ids already follow commit order here.
    const EVENT_CURSOR: &'static str = "id";

    /// Nothing to number (see [`Self::EVENT_CURSOR`]).
    async fn sequence_events(&self) -> Result<(), sqlx::Error> {
        Ok(())
    }

    /// Nothing to wait for.
    async fn sequence_events_now(&self) -> Result<(), sqlx::Error> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{Location, location};

    #[test]
    fn accepts_the_url_forms() {
        assert_eq!(
            location("sqlite:data/crm.db"),
            Location::File("data/crm.db")
        );
        assert_eq!(
            location("sqlite:///var/crm.db"),
            Location::File("/var/crm.db")
        );
        assert_eq!(
            location("sqlite://crm.db?mode=rwc"),
            Location::File("crm.db")
        );
        assert_eq!(location("/tmp/x/crm.db"), Location::File("/tmp/x/crm.db"));
        assert_eq!(location("sqlite::memory:"), Location::Memory);
    }
}
