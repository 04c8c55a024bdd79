//! Folder backend: objects are files under a root folder; writes are atomic (temp file in the
//! same folder tree, fsync, rename, fsync the directory).

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use tokio_util::io::ReaderStream;

use super::{Backend, ObjectMeta};
use crate::error::MediaError;
use crate::pipeline::MediaBody;

/// Name of the staging folder inside the root (not a valid key segment start, so never served).
pub(crate) const STAGING_DIR: &str = ".staging";

/// Media stored as files under `root`.
#[derive(Debug)]
pub(crate) struct LocalBackend {
    root: PathBuf,
}

impl LocalBackend {
    /// Create the root and staging folders if missing.
    pub(crate) async fn open(root: PathBuf) -> Result<Self, MediaError> {
        tokio::fs::create_dir_all(root.join(STAGING_DIR))
            .await
            .map_err(|e| io_unavailable("creating the media folder", &e))?;
        Ok(Self { root })
    }

    /// Folder for downloads in progress: same file system as the objects, so rename is atomic.
    pub(crate) fn staging_dir(&self) -> PathBuf {
        self.root.join(STAGING_DIR)
    }

    fn path_for(&self, key: &str) -> PathBuf {
        key.split('/').fold(self.root.clone(), |p, seg| p.join(seg))
    }
}

fn io_unavailable(what: &str, err: &std::io::Error) -> MediaError {
    MediaError::StorageUnavailable(format!("{what}: {err}"))
}

impl Backend for LocalBackend {
    fn exists<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, MediaError>> {
        Box::pin(async move {
            match tokio::fs::metadata(self.path_for(key)).await {
                Ok(m) => Ok(m.is_file()),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
                Err(e) => Err(io_unavailable("checking a stored file", &e)),
            }
        })
    }

    fn put_file<'a>(
        &'a self,
        key: &'a str,
        staged: &'a Path,
        _meta: &'a ObjectMeta,
    ) -> BoxFuture<'a, Result<(), MediaError>> {
        Box::pin(async move {
            let target = self.path_for(key);
            let dir = target
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| self.root.clone());
            tokio::fs::create_dir_all(&dir)
                .await
                .map_err(|e| io_unavailable("creating a media folder", &e))?;
            // Same content under the same name: a concurrent writer winning the race is harmless.
            tokio::fs::rename(staged, &target)
                .await
                .map_err(|e| io_unavailable("moving media into place", &e))?;
            let dir_handle = tokio::fs::File::open(&dir)
                .await
                .map_err(|e| io_unavailable("opening the media folder", &e))?;
            dir_handle
                .sync_all()
                .await
                .map_err(|e| io_unavailable("syncing the media folder", &e))?;
            Ok(())
        })
    }

    fn open<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<MediaBody, MediaError>> {
        Box::pin(async move {
            let file = match tokio::fs::File::open(self.path_for(key)).await {
                Ok(f) => f,
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    return Err(MediaError::NotFound(key.into()));
                }
                Err(e) => return Err(io_unavailable("opening stored media", &e)),
            };
            let size = file
                .metadata()
                .await
                .map_err(|e| io_unavailable("reading stored media", &e))?
                .len();
            let stream = ReaderStream::new(file)
                .map(|chunk| chunk.map_err(|e| io_unavailable("reading stored media", &e)));
            Ok(MediaBody {
                size: Some(size),
                stream: Box::pin(stream),
            })
        })
    }
}
