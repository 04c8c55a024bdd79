//! copy_from_url against a fake Twilio media host and CDN, stored in a local folder.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt;

use common::{JPEG, PDF, Peers, files_under, start_peers};
use media_store::{MediaConfig, MediaError, MediaPipeline, SizeLimits};
use sha2::{Digest, Sha256};

async fn pipeline(peers: &Peers, dir: &std::path::Path) -> MediaPipeline {
    let mut cfg = MediaConfig::new(dir.to_str().unwrap());
    cfg.auth = Some(peers.auth());
    // Small limits so the oversize cases stay small: images 1000 bytes, documents 1 MB.
    cfg.limits = SizeLimits {
        image: 1000,
        ..SizeLimits::default()
    };
    MediaPipeline::new(cfg).await.unwrap()
}

/// Stored objects (staging files excluded).
fn stored(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| !p.to_string_lossy().contains(".staging"))
        .collect()
}

fn staging_empty(dir: &std::path::Path) -> bool {
    files_under(&dir.join(".staging")).is_empty()
}

#[tokio::test]
async fn twilio_media_is_fetched_with_auth_and_cdn_gets_none() {
    let peers = start_peers().await;
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(&peers, dir.path()).await;

    let got = p
        .copy_from_url(&peers.twilio_url("/2010-04-01/Media/photo.jpg"), None)
        .await
        .unwrap();

    let sha = hex::encode(Sha256::digest(JPEG));
    assert_eq!(got.sha256, sha);
    assert_eq!(got.mime, "image/jpeg");
    assert_eq!(got.size, JPEG.len() as i64);
    assert_eq!(
        got.storage_key,
        format!("sha256/{}/{}/{sha}.jpg", &sha[..2], &sha[2..4])
    );
    assert!(!got.already_stored);
    assert_eq!(peers.cdn_hits.load(Ordering::SeqCst), 1);
    assert_eq!(
        peers.cdn_auth_seen.load(Ordering::SeqCst),
        0,
        "credentials leaked to the CDN"
    );

    let on_disk = dir.path().join(&got.storage_key);
    assert_eq!(std::fs::read(on_disk).unwrap(), JPEG);
    assert_eq!(p.get(&got.storage_key).await.unwrap().as_ref(), JPEG);
    let body = p.get_stream(&got.storage_key).await.unwrap();
    assert_eq!(body.size, Some(JPEG.len() as u64));
    let chunks: Vec<_> = body.stream.map(|c| c.unwrap()).collect().await;
    assert_eq!(chunks.concat(), JPEG);
    assert!(staging_empty(dir.path()));
}

#[tokio::test]
async fn same_bytes_twice_give_same_key_stored_once() {
    let peers = start_peers().await;
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(&peers, dir.path()).await;

    let first = p
        .copy_from_url(&peers.twilio_url("/2010-04-01/Media/photo.jpg"), None)
        .await
        .unwrap();
    // Different URL, same bytes, Content-Type with a parameter.
    let second = p
        .copy_from_url(&peers.twilio_url("/2010-04-01/Media/photo-copy.jpg"), None)
        .await
        .unwrap();

    assert_eq!(first.storage_key, second.storage_key);
    assert_eq!(first.sha256, second.sha256);
    assert!(!first.already_stored);
    assert!(second.already_stored);
    assert_eq!(stored(dir.path()).len(), 1);
    assert!(staging_empty(dir.path()));
}

#[tokio::test]
async fn direct_url_on_another_host_gets_no_credentials() {
    let peers = start_peers().await;
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(&peers, dir.path()).await;

    let got = p
        .copy_from_url(&peers.cdn_url("/cdn/photo.jpg"), None)
        .await
        .unwrap();
    assert_eq!(got.mime, "image/jpeg");
    assert_eq!(peers.cdn_auth_seen.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn announced_mime_used_when_response_has_none() {
    let peers = start_peers().await;
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(&peers, dir.path()).await;

    let url = peers.twilio_url("/2010-04-01/Media/untyped");
    let got = p
        .copy_from_url(&url, Some("application/pdf"))
        .await
        .unwrap();
    assert_eq!(got.mime, "application/pdf");
    assert!(got.storage_key.ends_with(".pdf"));
    assert_eq!(p.get(&got.storage_key).await.unwrap().as_ref(), PDF);

    let got = p.copy_from_url(&url, Some("not a mime")).await.unwrap();
    assert_eq!(got.mime, "application/octet-stream");
}

#[tokio::test]
async fn oversize_is_rejected_without_storing() {
    let peers = start_peers().await;
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(&peers, dir.path()).await;

    for name in ["big.jpg", "big-stream.jpg"] {
        let err = p
            .copy_from_url(
                &peers.twilio_url(&format!("/2010-04-01/Media/{name}")),
                None,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, MediaError::TooLarge { limit: 1000, .. }),
            "{name}: expected TooLarge, got {err:?}"
        );
        assert!(!err.is_retryable());
    }
    assert!(stored(dir.path()).is_empty());
    assert!(staging_empty(dir.path()));

    // The same size is fine for a document: the limit follows the MIME type.
    let got = p
        .copy_from_url(&peers.twilio_url("/2010-04-01/Media/big.pdf"), None)
        .await
        .unwrap();
    assert_eq!(got.size, 2000);
}

#[tokio::test]
async fn overall_cap_bounds_every_type() {
    let peers = start_peers().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = MediaConfig::new(dir.path().to_str().unwrap());
    cfg.auth = Some(peers.auth());
    cfg.limits = SizeLimits {
        overall_cap: 1500,
        ..SizeLimits::default()
    };
    let p = MediaPipeline::new(cfg).await.unwrap();
    let err = p
        .copy_from_url(&peers.twilio_url("/2010-04-01/Media/big.pdf"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, MediaError::TooLarge { limit: 1500, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn http_errors_are_classified() {
    let peers = start_peers().await;
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(&peers, dir.path()).await;

    let err = p
        .copy_from_url(&peers.twilio_url("/2010-04-01/Media/missing"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, MediaError::HttpStatus { status: 404, .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable());

    let err = p
        .copy_from_url(&peers.twilio_url("/2010-04-01/Media/unavailable"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, MediaError::HttpStatus { status: 503, .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());

    let err = p
        .copy_from_url(&peers.twilio_url("/2010-04-01/Media/busy"), None)
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");

    let err = p
        .copy_from_url(&peers.twilio_url("/2010-04-01/Media/loop"), None)
        .await
        .unwrap_err();
    assert!(matches!(err, MediaError::BadRedirect(_)), "{err:?}");
    assert!(!err.is_retryable());
    assert!(stored(dir.path()).is_empty());
}

#[tokio::test]
async fn wrong_credentials_are_permanent() {
    let peers = start_peers().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = MediaConfig::new(dir.path().to_str().unwrap());
    let mut auth = peers.auth();
    auth.password = "wrong".into();
    cfg.auth = Some(auth);
    let p = MediaPipeline::new(cfg).await.unwrap();
    let err = p
        .copy_from_url(&peers.twilio_url("/2010-04-01/Media/photo.jpg"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, MediaError::HttpStatus { status: 401, .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert!(!err.to_string().contains("wrong"));
}

#[tokio::test]
async fn non_http_urls_are_rejected() {
    let peers = start_peers().await;
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(&peers, dir.path()).await;
    for url in [
        "file:///etc/passwd",
        "ftp://example.com/x.jpg",
        "data:image/png;base64,AAAA",
    ] {
        let err = p.copy_from_url(url, None).await.unwrap_err();
        assert!(
            matches!(err, MediaError::UnsupportedScheme(_)),
            "{url}: {err:?}"
        );
        assert!(!err.is_retryable());
    }
    let err = p.copy_from_url("not a url", None).await.unwrap_err();
    assert!(matches!(err, MediaError::InvalidUrl(_)), "{err:?}");
    assert!(stored(dir.path()).is_empty());
}

#[tokio::test]
async fn slow_host_times_out_and_is_retryable() {
    let peers = start_peers().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = MediaConfig::new(dir.path().to_str().unwrap());
    cfg.total_timeout = Duration::from_millis(300);
    let p = MediaPipeline::new(cfg).await.unwrap();
    let err = p
        .copy_from_url(&peers.cdn_url("/cdn/slow"), None)
        .await
        .unwrap_err();
    assert!(matches!(err, MediaError::Timeout { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert!(staging_empty(dir.path()));
}

#[tokio::test]
async fn refused_connection_is_retryable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let dir = tempfile::tempdir().unwrap();
    let p = MediaPipeline::new(MediaConfig::new(dir.path().to_str().unwrap()))
        .await
        .unwrap();
    let err = p
        .copy_from_url(&format!("http://{addr}/x.jpg"), None)
        .await
        .unwrap_err();
    assert!(matches!(err, MediaError::Connect { .. }), "{err:?}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn get_checks_keys() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret.txt"), b"x").unwrap();
    let store = dir.path().join("media");
    let url = format!("file://{}", store.display());
    let p = MediaPipeline::new(MediaConfig::new(url)).await.unwrap();
    assert!(matches!(
        p.get("../secret.txt").await,
        Err(MediaError::InvalidKey(_))
    ));
    assert!(matches!(
        p.get("/etc/passwd").await,
        Err(MediaError::InvalidKey(_))
    ));
    assert!(matches!(
        p.get(".staging/x.part").await,
        Err(MediaError::InvalidKey(_))
    ));
    let missing = format!("sha256/00/00/{}", "0".repeat(64));
    assert!(matches!(
        p.get(&missing).await,
        Err(MediaError::NotFound(_))
    ));
    assert!(!p.exists(&missing).await.unwrap());
}

#[tokio::test]
async fn s3_location_without_settings_is_a_config_error() {
    let err = MediaPipeline::new(MediaConfig::new("s3://my-bucket/media"))
        .await
        .unwrap_err();
    assert!(matches!(err, MediaError::Config(_)), "{err:?}");
    assert!(err.to_string().contains("AWS_ACCESS_KEY_ID"));
}

#[tokio::test]
async fn concurrent_copies_of_same_media_store_one_file() {
    let peers = start_peers().await;
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(&peers, dir.path()).await;
    let a_url = peers.twilio_url("/2010-04-01/Media/photo.jpg");
    let b_url = peers.twilio_url("/2010-04-01/Media/photo-copy.jpg");
    let (a, b) = tokio::join!(p.copy_from_url(&a_url, None), p.copy_from_url(&b_url, None));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.storage_key, b.storage_key);
    assert_eq!(stored(dir.path()).len(), 1);
    assert!(staging_empty(dir.path()));
    assert_eq!(p.get(&a.storage_key).await.unwrap().as_ref(), JPEG);
}
