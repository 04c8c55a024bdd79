//! The store suite on PostgreSQL: a fresh database per test, dropped afterwards.
//!
//! Needs `TEST_DATABASE_URL` (e.g. `postgres://postgres@127.0.0.1:5432/postgres`). Without it
//! the tests fail when `CI` is set and are skipped with a notice otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod suite;

use std::future::Future;
use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use crm_store::Store;
use crm_store::postgres::PostgresStore;
use futures_util::FutureExt;
use sqlx::{Connection, PgConnection};

/// The server URL, or `None` (after a notice) when the tests are to be skipped.
fn server_url() -> Option<String> {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!(
                "TEST_DATABASE_URL is not set, and CI is: the PostgreSQL store tests must run in CI"
            )
        }
        _ => {
            // Straight to the process's stderr: the test harness would swallow `eprintln!`.
            let _ = writeln!(
                std::io::stderr(),
                "NOTICE: skipping PostgreSQL store test: TEST_DATABASE_URL is not set"
            );
            None
        }
    }
}

/// `url` pointing at database `name` instead.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let server = match base[after_scheme..].find('/') {
        Some(slash) => &base[..after_scheme + slash],
        None => base,
    };
    format!("{server}/{name}{query}")
}

async fn admin(url: &str, sql: &str) {
    let mut conn = PgConnection::connect(url).await.unwrap();
    sqlx::query(sql).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

async fn with_store<F, Fut>(case: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(url) = server_url() else { return };
    let name = format!("crm_test_{}", uuid::Uuid::new_v4().simple());
    admin(&url, &format!("CREATE DATABASE {name}")).await;
    let outcome = AssertUnwindSafe(async {
        let store = PostgresStore::connect(&with_database(&url, &name))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let result = AssertUnwindSafe(case(Arc::new(store.clone())))
            .catch_unwind()
            .await;
        store.close().await;
        result
    })
    .catch_unwind()
    .await;
    admin(
        &url,
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    )
    .await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(panic)) | Err(panic) => std::panic::resume_unwind(panic),
    }
}

store_cases!(with_store);

#[tokio::test]
async fn open_dispatches_on_postgres_urls_and_migrates_twice() {
    with_store(|_| async {}).await;
    let Some(url) = server_url() else { return };
    let name = format!("crm_test_{}", uuid::Uuid::new_v4().simple());
    admin(&url, &format!("CREATE DATABASE {name}")).await;
    let db_url = with_database(&url, &name);
    let result = AssertUnwindSafe(async {
        let store = crm_store::open(&db_url).await.unwrap();
        store.migrate().await.unwrap();
        store.ping().await.unwrap();
        assert_eq!(store.raw_webhook_count().await.unwrap(), 0);
    })
    .catch_unwind()
    .await;
    admin(
        &url,
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    )
    .await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn database_name_is_replaced() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgres://u:p@h/db?sslmode=disable", "y"),
        "postgres://u:p@h/y?sslmode=disable"
    );
    assert_eq!(
        with_database("postgres://h:5432", "z"),
        "postgres://h:5432/z"
    );
}

#[tokio::test]
async fn unreachable_server_is_unavailable() {
    // Port 1 on loopback: nothing listens there.
    let err = PostgresStore::connect("postgres://postgres@127.0.0.1:1/postgres")
        .await
        .unwrap_err();
    assert!(
        matches!(err, crm_store::StoreError::Unavailable(_)),
        "{err:?}"
    );
}

/// An event whose transaction commits after a later-inserted event must still be delivered to a
/// reader whose cursor has already moved past the later one (the reason cursors are numbered
/// after commit on PostgreSQL).
#[tokio::test]
async fn event_that_commits_late_is_not_skipped_by_a_cursor() {
    let Some(url) = server_url() else { return };
    let name = format!("crm_test_{}", uuid::Uuid::new_v4().simple());
    admin(&url, &format!("CREATE DATABASE {name}")).await;
    let db_url = with_database(&url, &name);
    let result = AssertUnwindSafe(async {
        let store = PostgresStore::connect(&db_url).await.unwrap();
        store.migrate().await.unwrap();
        let event = |kind: &str| crm_store::NewEvent {
            kind: kind.into(),
            contact_id: None,
            message_id: None,
            payload: serde_json::json!({}),
            created_at: 1,
        };

        // A writer inserts an event (lower id) and has not committed yet.
        let mut slow = PgConnection::connect(&db_url).await.unwrap();
        let mut tx = slow.begin().await.unwrap();
        sqlx::query("INSERT INTO events (kind, payload, created_at) VALUES ('late', '{}', 1)")
            .execute(&mut *tx)
            .await
            .unwrap();

        // Another event commits meanwhile; a reader sees it and moves its cursor past it.
        let cursor = store.append_event(&event("early")).await.unwrap();
        let first = store.events_after(0, 100).await.unwrap();
        assert_eq!(
            first.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
            ["early"]
        );
        assert_eq!(first[0].id, cursor);

        // The slow writer commits: the reader gets its event after the cursor it holds.
        tx.commit().await.unwrap();
        let next = store.events_after(cursor, 100).await.unwrap();
        assert_eq!(
            next.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
            ["late"]
        );
        assert!(next[0].id > cursor);
        store.close().await;
    })
    .catch_unwind()
    .await;
    admin(
        &url,
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    )
    .await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
