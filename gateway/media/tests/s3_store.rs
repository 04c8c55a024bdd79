//! copy_from_url into S3-compatible storage: a real S3 server (s3s-fs, which checks SigV4
//! signatures) runs in-process on 127.0.0.1:0 for every test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::Ordering;

use common::{JPEG, PDF, files_under, start_peers};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use media_store::{MediaConfig, MediaError, MediaPipeline, S3Settings};

const ACCESS_KEY: &str = "AKIDMEDIATEST";
const SECRET_KEY: &str = "media-test-secret-key";
const BUCKET: &str = "wa-media";

/// Start an s3s-fs server rooted at `root` (bucket `wa-media` pre-created) with SigV4 auth.
async fn start_s3(root: &Path) -> SocketAddr {
    std::fs::create_dir_all(root.join(BUCKET)).unwrap();
    let fs = s3s_fs::FileSystem::new(root).unwrap();
    let mut builder = s3s::service::S3ServiceBuilder::new(fs);
    builder.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
    let service = builder.build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let service = service.clone();
            tokio::spawn(async move {
                let conn = auto::Builder::new(TokioExecutor::new());
                if let Err(e) = conn.serve_connection(TokioIo::new(stream), service).await {
                    eprintln!("s3 test server connection: {e}");
                }
            });
        }
    });
    addr
}

fn settings(endpoint: SocketAddr, secret: &str) -> S3Settings {
    S3Settings::from_lookup(|name| match name {
        "AWS_ACCESS_KEY_ID" => Some(ACCESS_KEY.into()),
        "AWS_SECRET_ACCESS_KEY" => Some(secret.into()),
        "AWS_ENDPOINT_URL" => Some(format!("http://{endpoint}")),
        _ => None,
    })
    .unwrap()
}

async fn pipeline(
    endpoint: SocketAddr,
    secret: &str,
    staging: &Path,
    auth: Option<media_store::ProviderAuth>,
) -> MediaPipeline {
    let mut cfg = MediaConfig::new(format!("s3://{BUCKET}/gateway/media"));
    cfg.s3 = Some(settings(endpoint, secret));
    cfg.staging_dir = Some(staging.to_path_buf());
    cfg.auth = auth;
    MediaPipeline::new(cfg).await.unwrap()
}

#[tokio::test]
async fn stores_in_s3_once_and_reads_back() {
    let peers = start_peers().await;
    let s3_root = tempfile::tempdir().unwrap();
    let staging = tempfile::tempdir().unwrap();
    let endpoint = start_s3(s3_root.path()).await;
    let p = pipeline(endpoint, SECRET_KEY, staging.path(), Some(peers.auth())).await;

    let first = p
        .copy_from_url(&peers.twilio_url("/2010-04-01/Media/photo.jpg"), None)
        .await
        .unwrap();
    assert!(!first.already_stored);
    assert_eq!(first.mime, "image/jpeg");
    assert_eq!(peers.cdn_auth_seen.load(Ordering::SeqCst), 0);

    // The object is where S3 says it is: bucket / prefix / key.
    let object = s3_root
        .path()
        .join(BUCKET)
        .join("gateway/media")
        .join(&first.storage_key);
    assert_eq!(std::fs::read(&object).unwrap(), JPEG);

    let second = p
        .copy_from_url(&peers.twilio_url("/2010-04-01/Media/photo-copy.jpg"), None)
        .await
        .unwrap();
    assert_eq!(second.storage_key, first.storage_key);
    assert!(second.already_stored);

    assert_eq!(p.get(&first.storage_key).await.unwrap().as_ref(), JPEG);
    let body = p.get_stream(&first.storage_key).await.unwrap();
    assert_eq!(body.size, Some(JPEG.len() as u64));
    assert!(p.exists(&first.storage_key).await.unwrap());

    let doc = p
        .copy_from_url(
            &peers.twilio_url("/2010-04-01/Media/untyped"),
            Some("application/pdf"),
        )
        .await
        .unwrap();
    assert_eq!(p.get(&doc.storage_key).await.unwrap().as_ref(), PDF);

    let missing = format!("sha256/00/00/{}", "0".repeat(64));
    assert!(matches!(
        p.get(&missing).await,
        Err(MediaError::NotFound(_))
    ));
    assert!(!p.exists(&missing).await.unwrap());
    assert!(
        files_under(staging.path()).is_empty(),
        "staging files left behind"
    );
}

#[tokio::test]
async fn wrong_secret_is_rejected_permanently() {
    let peers = start_peers().await;
    let s3_root = tempfile::tempdir().unwrap();
    let staging = tempfile::tempdir().unwrap();
    let endpoint = start_s3(s3_root.path()).await;
    let p = pipeline(endpoint, "not-the-secret", staging.path(), None).await;

    let err = p
        .copy_from_url(&peers.cdn_url("/cdn/photo.jpg"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, MediaError::StorageRejected { status: 403, .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert!(!err.to_string().contains("not-the-secret"));
    assert!(files_under(&s3_root.path().join(BUCKET)).is_empty());
    assert!(files_under(staging.path()).is_empty());
}

#[tokio::test]
async fn unreachable_s3_is_retryable() {
    let peers = start_peers().await;
    let staging = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = listener.local_addr().unwrap();
    drop(listener);
    let p = pipeline(dead, SECRET_KEY, staging.path(), None).await;

    let err = p
        .copy_from_url(&peers.cdn_url("/cdn/photo.jpg"), None)
        .await
        .unwrap_err();
    assert!(matches!(err, MediaError::StorageUnavailable(_)), "{err:?}");
    assert!(err.is_retryable());
}
