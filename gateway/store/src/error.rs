//! Mapping of driver errors to [`StoreError`], and the retry of transactions that lost a
//! deadlock or serialization race.

use std::future::Future;

use sqlx::error::DatabaseError;

use crate::{StoreError, StoreResult};

/// How many times a transaction that lost a deadlock/serialization race is run again.
const MAX_ATTEMPTS: u32 = 5;

/// An internal failure: a driver error (kept whole so it can be retried) or a store error.
#[derive(Debug)]
pub(crate) enum Fail {
    /// From the driver.
    Sql(sqlx::Error),
    /// Already classified.
    Store(StoreError),
}

impl From<sqlx::Error> for Fail {
    fn from(e: sqlx::Error) -> Self {
        Fail::Sql(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

impl From<Fail> for StoreError {
    fn from(f: Fail) -> Self {
        match f {
            Fail::Sql(e) => map_sqlx(e),
            Fail::Store(e) => e,
        }
    }
}

/// Result of an internal operation.
pub(crate) type Res<T> = Result<T, Fail>;

/// The SQLSTATE (PostgreSQL) or primary result code (SQLite) of a database error.
enum Code {
    Pg(String),
    Sqlite(i64),
    Other,
}

fn code_of(e: &dyn DatabaseError) -> Code {
    if let Some(pg) = e.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        return Code::Pg(pg.code().to_owned());
    }
    if let Some(lite) = e.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
        // Extended result codes carry the primary code in the low byte.
        let primary = lite
            .code()
            .and_then(|c| c.parse::<i64>().ok())
            .map_or(-1, |c| c & 0xff);
        return Code::Sqlite(primary);
    }
    Code::Other
}

/// Whether running the same transaction again can succeed (deadlock, serialization failure).
fn is_retryable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => match code_of(db.as_ref()) {
            Code::Pg(code) => code == "40001" || code == "40P01",
            Code::Sqlite(_) | Code::Other => false,
        },
        _ => false,
    }
}

/// Whether a database error means "temporarily unavailable" (the caller answers 503).
fn is_unavailable(db: &dyn DatabaseError) -> bool {
    match code_of(db) {
        // 08: connection exception; 53: insufficient resources; 57P0x: shutting down / cannot
        // connect now; 57014: statement timeout; 40001/40P01: lost a race too many times.
        Code::Pg(code) => {
            code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57P0")
                || code == "57014"
                || code == "40001"
                || code == "40P01"
        }
        // BUSY, LOCKED, IOERR, FULL, CANTOPEN.
        Code::Sqlite(primary) => matches!(primary, 5 | 6 | 10 | 13 | 14),
        Code::Other => false,
    }
}

/// Classifies a driver error: whose fault it is.
pub(crate) fn map_sqlx(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Database(db) => {
            if is_unavailable(db.as_ref()) {
                StoreError::Unavailable(db.to_string())
            } else {
                StoreError::Database(db.to_string())
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
            StoreError::Corrupt(e.to_string())
        }
        sqlx::Error::RowNotFound => StoreError::NotFound(e.to_string()),
        other => StoreError::Database(other.to_string()),
    }
}

/// Classifies a migration error.
pub(crate) fn map_migrate(e: sqlx::migrate::MigrateError) -> StoreError {
    match e {
        sqlx::migrate::MigrateError::Execute(inner) => map_sqlx(inner),
        other => StoreError::Database(format!("migration failed: {other}")),
    }
}

/// Runs `op` (one whole transaction) again when it lost a deadlock or serialization race.
pub(crate) async fn with_retry<T, F, Fut>(mut op: F) -> StoreResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Res<T>>,
{
    let mut attempt = 1;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(Fail::Sql(e)) if attempt < MAX_ATTEMPTS && is_retryable(&e) => {
                tracing::debug!(attempt, error = %e, "transaction lost a race; running it again");
                attempt += 1;
            }
            Err(f) => return Err(f.into()),
        }
    }
}
