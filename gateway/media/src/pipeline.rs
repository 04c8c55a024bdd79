//! The media pipeline: download, hash, store content-addressed, read back.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use rand::RngCore;
use tokio::io::AsyncWriteExt;

use crate::backend::local::LocalBackend;
use crate::backend::s3::S3Backend;
use crate::backend::{Backend, ObjectMeta, validate_key};
use crate::config::{Location, MediaConfig, ProviderAuth};
use crate::error::MediaError;
use crate::fetch::{FetchSettings, download};
use crate::limits::{SizeLimits, extension_for};

/// Metadata of one stored media object (the gateway maps it to its `MediaMeta`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMedia {
    /// Lower-case hex SHA-256 of the bytes.
    pub sha256: String,
    /// Normalised MIME type (`type/subtype`).
    pub mime: String,
    /// Size in bytes.
    pub size: i64,
    /// Key to read it back with [`MediaPipeline::get`]; independent of the store's S3 prefix.
    pub storage_key: String,
    /// True when identical content was already stored under this key and no upload was made.
    pub already_stored: bool,
}

/// Upper bound on the buffer reserved up front from a backend's announced size.
const MAX_PREALLOCATION: usize = 16 * 1024 * 1024;

/// Stored media opened for reading.
pub struct MediaBody {
    /// Size in bytes, when the backend knows it.
    pub size: Option<u64>,
    /// The content, chunk by chunk.
    pub stream: BoxStream<'static, Result<Bytes, MediaError>>,
}

impl std::fmt::Debug for MediaBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaBody")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// The content-addressed key for bytes with hex digest `sha256_hex` and MIME type `mime`:
/// `sha256/<2 hex>/<2 hex>/<64 hex>[.<ext>]`.
pub fn storage_key(sha256_hex: &str, mime: &str) -> String {
    let a = sha256_hex.get(0..2).unwrap_or("00");
    let b = sha256_hex.get(2..4).unwrap_or("00");
    match extension_for(mime) {
        Some(ext) => format!("sha256/{a}/{b}/{sha256_hex}.{ext}"),
        None => format!("sha256/{a}/{b}/{sha256_hex}"),
    }
}

/// Copies provider media into the configured store. Cheap to clone and share between tasks.
#[derive(Clone)]
pub struct MediaPipeline {
    client: reqwest::Client,
    backend: Arc<dyn Backend>,
    auth: Option<ProviderAuth>,
    limits: SizeLimits,
    total_timeout: Duration,
    max_redirects: usize,
    staging_dir: PathBuf,
}

impl std::fmt::Debug for MediaPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaPipeline")
            .field("auth", &self.auth)
            .field("limits", &self.limits)
            .field("total_timeout", &self.total_timeout)
            .field("staging_dir", &self.staging_dir)
            .finish_non_exhaustive()
    }
}

impl MediaPipeline {
    /// Open the store described by `cfg.location` (a folder path, `file:///abs/path`, or
    /// `s3://bucket/prefix` with `cfg.s3` set), creating local folders as needed.
    pub async fn new(cfg: MediaConfig) -> Result<Self, MediaError> {
        let client = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("media-store/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| MediaError::Config(format!("building the HTTP client: {e}")))?;
        let (backend, staging_dir): (Arc<dyn Backend>, PathBuf) =
            match Location::parse(&cfg.location)? {
                Location::Folder(root) => {
                    let local = LocalBackend::open(root).await?;
                    let staging = local.staging_dir();
                    (Arc::new(local), staging)
                }
                Location::S3 { bucket, prefix } => {
                    let settings = cfg.s3.clone().ok_or_else(|| {
                        MediaError::Config(
                            "MEDIA_STORE is s3:// but no S3 settings were given \
                             (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)"
                                .into(),
                        )
                    })?;
                    let staging = cfg.staging_dir.clone().unwrap_or_else(std::env::temp_dir);
                    tokio::fs::create_dir_all(&staging).await.map_err(|e| {
                        MediaError::Config(format!(
                            "creating staging folder {}: {e}",
                            staging.display()
                        ))
                    })?;
                    let s3 = S3Backend::new(client.clone(), settings, &bucket, &prefix)?;
                    (Arc::new(s3), staging)
                }
            };
        Ok(Self {
            client,
            backend,
            auth: cfg.auth,
            limits: cfg.limits,
            total_timeout: cfg.total_timeout,
            max_redirects: cfg.max_redirects,
            staging_dir,
        })
    }

    /// Download `url` and store it content-addressed; see the crate docs for the rules.
    ///
    /// MIME type: the response's Content-Type, else `announced_mime`, else
    /// `application/octet-stream`. Nothing is stored when any step fails.
    pub async fn copy_from_url(
        &self,
        url: &str,
        announced_mime: Option<&str>,
    ) -> Result<StoredMedia, MediaError> {
        let mut staged = StagedFile::create(&self.staging_dir).await?;
        let settings = FetchSettings {
            client: &self.client,
            auth: self.auth.as_ref(),
            limits: &self.limits,
            max_redirects: self.max_redirects,
        };
        let host = url::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        let fetched = tokio::time::timeout(
            self.total_timeout,
            download(&settings, url, announced_mime, staged.file_mut()?),
        )
        .await
        .map_err(|_| MediaError::Timeout { host })??;
        staged.finish().await?;

        let sha256 = hex::encode(fetched.sha256);
        let key = storage_key(&sha256, &fetched.mime);
        let size = i64::try_from(fetched.size).unwrap_or(i64::MAX);
        let already_stored = self.with_storage_timeout(self.backend.exists(&key)).await?;
        if !already_stored {
            let meta = ObjectMeta {
                size: fetched.size,
                sha256_hex: sha256.clone(),
                mime: fetched.mime.clone(),
            };
            self.with_storage_timeout(self.backend.put_file(&key, staged.path(), &meta))
                .await?;
        }
        tracing::info!(key = %key, size, mime = %fetched.mime, already_stored, "media stored");
        Ok(StoredMedia {
            sha256,
            mime: fetched.mime,
            size,
            storage_key: key,
            already_stored,
        })
    }

    /// Read back the bytes stored under `storage_key` (as returned in [`StoredMedia`]).
    ///
    /// Buffers the whole object; prefer [`MediaPipeline::get_stream`] to serve large media.
    pub async fn get(&self, storage_key: &str) -> Result<Bytes, MediaError> {
        let body = self.get_stream(storage_key).await?;
        let read_all = async move {
            let capacity = body.size.and_then(|n| usize::try_from(n).ok()).unwrap_or(0);
            let mut buf = BytesMut::with_capacity(capacity.min(MAX_PREALLOCATION));
            let mut stream = body.stream;
            while let Some(chunk) = stream.next().await {
                buf.extend_from_slice(&chunk?);
            }
            Ok(buf.freeze())
        };
        self.with_storage_timeout(read_all).await
    }

    /// Open the media stored under `storage_key` as a stream of chunks (for the API to serve).
    pub async fn get_stream(&self, storage_key: &str) -> Result<MediaBody, MediaError> {
        validate_key(storage_key)?;
        self.with_storage_timeout(self.backend.open(storage_key))
            .await
    }

    /// Whether an object is stored under `storage_key`.
    pub async fn exists(&self, storage_key: &str) -> Result<bool, MediaError> {
        validate_key(storage_key)?;
        self.with_storage_timeout(self.backend.exists(storage_key))
            .await
    }

    async fn with_storage_timeout<T>(
        &self,
        fut: impl Future<Output = Result<T, MediaError>>,
    ) -> Result<T, MediaError> {
        tokio::time::timeout(self.total_timeout, fut)
            .await
            .map_err(|_| MediaError::StorageUnavailable("storage request timed out".into()))?
    }
}

/// A download in progress: a uniquely named file in the staging folder, removed on drop unless a
/// backend moved it away.
struct StagedFile {
    path: PathBuf,
    file: Option<tokio::fs::File>,
}

impl StagedFile {
    async fn create(dir: &Path) -> Result<Self, MediaError> {
        let mut name = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut name);
        let path = dir.join(format!("{}.part", hex::encode(name)));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .map_err(|e| MediaError::StorageUnavailable(format!("creating staging file: {e}")))?;
        Ok(Self {
            path,
            file: Some(file),
        })
    }

    fn file_mut(&mut self) -> Result<&mut tokio::fs::File, MediaError> {
        self.file
            .as_mut()
            .ok_or_else(|| MediaError::StorageUnavailable("staging file already closed".into()))
    }

    /// Flush and fsync the content, then close the handle.
    async fn finish(&mut self) -> Result<(), MediaError> {
        let sync_err = |e: std::io::Error| {
            MediaError::StorageUnavailable(format!("syncing staged media: {e}"))
        };
        if let Some(mut file) = self.file.take() {
            file.flush().await.map_err(sync_err)?;
            file.sync_all().await.map_err(sync_err)?;
        }
        Ok(())
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        // Already renamed into place (folder store) → NotFound, which is fine.
        let _ = std::fs::remove_file(&self.path);
    }
}
