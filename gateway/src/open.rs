//! Opening the store and the media store named by the configuration.

use std::sync::Arc;

use crm_store::Store;
use crm_store::sqlite::SqliteStore;
use media_store::{MediaConfig, MediaError, MediaPipeline, ProviderAuth};

use crate::app::AppError;
use crate::config::Config;
use futures_util::{StreamExt, TryStreamExt};

use crate::worker::{CopiedMedia, CopyError, MediaCopier, MediaStream};

/// Opens the store at `DATABASE_URL` (not yet migrated).
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>, AppError> {
    let url = config.database_url.expose();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return open_postgres(url).await;
    }
    if url.starts_with("sqlite:") {
        // Make sure the default data folder exists before SQLite creates its file.
        std::fs::create_dir_all(&config.data_dir).map_err(|source| AppError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
    }
    let store = SqliteStore::open(url).await?;
    Ok(Arc::new(store))
}

async fn open_postgres(url: &str) -> Result<Arc<dyn Store>, AppError> {
    let store = crm_store::postgres::PostgresStore::connect(url).await?;
    Ok(Arc::new(store))
}

/// Hosts that receive Twilio's media credentials: Twilio's API host and the host of
/// `TWILIO_API_BASE` (an emulator in tests). Redirect targets (Twilio's CDN) never get them.
pub fn twilio_media_hosts(config: &Config) -> Vec<String> {
    let mut hosts = vec!["api.twilio.com".to_owned()];
    if let Some(host) = config.twilio_api_base.host_str() {
        let entry = match config.twilio_api_base.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        };
        if !hosts.contains(&entry) {
            hosts.push(entry);
        }
    }
    hosts
}

/// Opens the media store at `MEDIA_STORE` with Twilio Basic auth for Twilio's hosts (when the
/// account SID and auth token are both configured).
pub async fn open_media(config: &Config) -> Result<Arc<dyn MediaCopier>, AppError> {
    let mut cfg = MediaConfig::from_env(config.media_store.clone())
        .map_err(|e| AppError::Media(e.to_string()))?;
    if let Some(tw) = &config.twilio
        && let Some(sid) = &tw.account_sid
    {
        cfg.auth = Some(ProviderAuth {
            username: sid.clone(),
            password: tw.auth_token.expose().to_owned(),
            hosts: twilio_media_hosts(config),
        });
    }
    let pipeline = MediaPipeline::new(cfg)
        .await
        .map_err(|e| AppError::Media(e.to_string()))?;
    Ok(Arc::new(PipelineCopier(pipeline)))
}

/// [`MediaCopier`] over the media-store crate.
struct PipelineCopier(MediaPipeline);

fn copy_error(e: &MediaError) -> CopyError {
    CopyError {
        retryable: e.is_retryable(),
        message: e.to_string(),
    }
}

#[async_trait::async_trait]
impl MediaCopier for PipelineCopier {
    async fn copy(
        &self,
        url: &str,
        announced_mime: Option<&str>,
    ) -> Result<CopiedMedia, CopyError> {
        let stored = self
            .0
            .copy_from_url(url, announced_mime)
            .await
            .map_err(|e| copy_error(&e))?;
        Ok(CopiedMedia {
            sha256: stored.sha256,
            mime: stored.mime,
            size: stored.size,
            storage_key: stored.storage_key,
        })
    }

    async fn read(&self, storage_key: &str) -> Result<Option<MediaStream>, CopyError> {
        match self.0.get_stream(storage_key).await {
            Ok(body) => Ok(Some(MediaStream {
                size: body.size,
                stream: body.stream.map_err(|e| copy_error(&e)).boxed(),
            })),
            Err(MediaError::NotFound(_)) => Ok(None),
            Err(e) => Err(copy_error(&e)),
        }
    }
}
