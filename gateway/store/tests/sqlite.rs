//! The store suite on SQLite: a fresh database file per test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod suite;

use std::future::Future;
use std::sync::Arc;

use crm_store::Store;
use crm_store::sqlite::SqliteStore;

async fn with_store<F, Fut>(case: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    // A directory that does not exist yet: `open` creates it.
    let path = dir.path().join("data").join("crm.db");
    let store = SqliteStore::open(path.to_str().unwrap()).await.unwrap();
    store.migrate().await.unwrap();
    case(Arc::new(store.clone())).await;
    store.close().await;
}

store_cases!(with_store);

#[tokio::test]
async fn open_accepts_urls_and_migrates_idempotently() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested").join("crm.db");
    let url = format!("sqlite:{}", path.display());
    let store = crm_store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    store.ping().await.unwrap();
    let id = store
        .upsert_contact(&[suite::e164("+972500000009")], None, suite::T0)
        .await
        .unwrap();
    drop(store);
    // Reopening the same file (other URL form) sees the data.
    let again = crm_store::open(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    assert_eq!(
        again
            .find_contact(&suite::e164("+972500000009"))
            .await
            .unwrap(),
        Some(id)
    );
}

#[tokio::test]
async fn in_memory_store_works() {
    let store = crm_store::open("sqlite::memory:").await.unwrap();
    let id = store
        .upsert_contact(&[suite::e164("+972500000010")], Some("Mem"), suite::T0)
        .await;
    let contact = store.contact(id.unwrap()).await.unwrap().unwrap();
    assert_eq!(contact.display_name.as_deref(), Some("Mem"));
}

#[tokio::test]
async fn unusable_path_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let err = SqliteStore::open(file.join("crm.db").to_str().unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(err, crm_store::StoreError::Unavailable(_)),
        "{err:?}"
    );
}
