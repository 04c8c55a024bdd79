//! S3-compatible object storage over plain HTTP(S) with SigV4 (AWS S3, MinIO, R2, ...).

use std::path::Path;
use std::time::SystemTime;

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use reqwest::{Method, StatusCode};
use tokio_util::io::ReaderStream;
use url::Url;

use super::sigv4::{self, EMPTY_PAYLOAD_SHA256, SigningKeys};
use super::{Backend, ObjectMeta};
use crate::config::S3Settings;
use crate::error::{MediaError, error_chain};
use crate::pipeline::MediaBody;

/// Objects in `bucket` under `prefix/`.
pub(crate) struct S3Backend {
    client: reqwest::Client,
    settings: S3Settings,
    /// Everything before the bucket/key part, e.g. `http://127.0.0.1:9000` (path style) or
    /// `https://bucket.s3.us-east-1.amazonaws.com` (virtual-hosted).
    base: Url,
    /// Path segments before the key: `/bucket` in path style, empty in virtual-hosted style.
    bucket_path: String,
    prefix: String,
}

impl S3Backend {
    /// Build a backend; no request is made yet.
    pub(crate) fn new(
        client: reqwest::Client,
        settings: S3Settings,
        bucket: &str,
        prefix: &str,
    ) -> Result<Self, MediaError> {
        let (base, bucket_path) = match settings.endpoint.as_deref() {
            Some(endpoint) => {
                let base = Url::parse(endpoint).map_err(|e| {
                    MediaError::Config(format!("AWS_ENDPOINT_URL is not a valid URL: {e}"))
                })?;
                if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
                    return Err(MediaError::Config(
                        "AWS_ENDPOINT_URL must be an http(s)://host[:port] URL".into(),
                    ));
                }
                (base, format!("/{}", sigv4::uri_encode(bucket, false)))
            }
            // Bucket names with dots break virtual-hosted TLS (the wildcard certificate covers
            // one label only), so AWS serves them path-style.
            None if bucket.contains('.') => {
                let host = format!("https://s3.{}.amazonaws.com", settings.region);
                let base = Url::parse(&host)
                    .map_err(|e| MediaError::Config(format!("AWS_REGION gives a bad host: {e}")))?;
                (base, format!("/{}", sigv4::uri_encode(bucket, false)))
            }
            None => {
                let host = format!("https://{bucket}.s3.{}.amazonaws.com", settings.region);
                let base = Url::parse(&host)
                    .map_err(|e| MediaError::Config(format!("AWS_REGION gives a bad host: {e}")))?;
                (base, String::new())
            }
        };
        Ok(Self {
            client,
            settings,
            base,
            bucket_path,
            prefix: prefix.to_owned(),
        })
    }

    /// URL, Host header value and canonical path of the object under `key`.
    fn object_address(&self, key: &str) -> Result<(Url, String, String), MediaError> {
        let full_key = if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}/{key}", self.prefix)
        };
        let base_path = self.base.path().trim_end_matches('/');
        let path = format!(
            "{base_path}{}/{}",
            self.bucket_path,
            sigv4::uri_encode(&full_key, true)
        );
        let mut url = self.base.clone();
        url.set_path(&path);
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            (None, _) => return Err(MediaError::Config("S3 endpoint has no host".into())),
        };
        let canonical = url.path().to_owned();
        Ok((url, host, canonical))
    }

    fn signed(
        &self,
        method: Method,
        key: &str,
        payload_sha256: &str,
    ) -> Result<reqwest::RequestBuilder, MediaError> {
        let (url, host, path) = self.object_address(key)?;
        let keys = SigningKeys {
            access_key_id: &self.settings.access_key_id,
            secret_access_key: &self.settings.secret_access_key,
            session_token: self.settings.session_token.as_deref(),
            region: &self.settings.region,
        };
        let headers = sigv4::sign(
            method.as_str(),
            &host,
            &path,
            &[],
            payload_sha256,
            &keys,
            SystemTime::now(),
        );
        let mut req = self.client.request(method, url);
        for (name, value) in headers {
            req = req.header(name, value);
        }
        Ok(req)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, MediaError> {
        req.send().await.map_err(|e| {
            MediaError::StorageUnavailable(format!(
                "S3 request failed: {}",
                error_chain(&e.without_url())
            ))
        })
    }
}

/// Turn an S3 error response into a [`MediaError`], reading a bounded part of its XML body.
async fn status_error(resp: reqwest::Response) -> MediaError {
    let status = resp.status();
    let body = resp.bytes().await.unwrap_or_default();
    let text = String::from_utf8_lossy(&body[..body.len().min(4096)]);
    let code = text
        .split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map(|(code, _)| code.to_owned())
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
    if status.is_server_error() {
        MediaError::StorageUnavailable(format!("S3 answered HTTP {}: {code}", status.as_u16()))
    } else {
        MediaError::StorageRejected {
            status: status.as_u16(),
            message: code,
        }
    }
}

impl Backend for S3Backend {
    fn exists<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, MediaError>> {
        Box::pin(async move {
            let resp = self
                .send(self.signed(Method::HEAD, key, EMPTY_PAYLOAD_SHA256)?)
                .await?;
            match resp.status() {
                s if s.is_success() => Ok(true),
                StatusCode::NOT_FOUND => Ok(false),
                // Without s3:ListBucket, S3 answers 403 for a missing key. Go on and upload: a real
                // permission problem then shows up as the PUT's error.
                StatusCode::FORBIDDEN => {
                    tracing::debug!(key, "S3 HEAD answered 403; treating the object as absent");
                    Ok(false)
                }
                _ => Err(status_error(resp).await),
            }
        })
    }

    fn put_file<'a>(
        &'a self,
        key: &'a str,
        staged: &'a Path,
        meta: &'a ObjectMeta,
    ) -> BoxFuture<'a, Result<(), MediaError>> {
        Box::pin(async move {
            let file = tokio::fs::File::open(staged).await.map_err(|e| {
                MediaError::StorageUnavailable(format!("opening staged media: {e}"))
            })?;
            let body = reqwest::Body::wrap_stream(ReaderStream::new(file));
            let req = self
                .signed(Method::PUT, key, &meta.sha256_hex)?
                .header(reqwest::header::CONTENT_LENGTH, meta.size)
                .header(reqwest::header::CONTENT_TYPE, &meta.mime)
                .body(body);
            let resp = self.send(req).await?;
            if resp.status().is_success() {
                Ok(())
            } else {
                Err(status_error(resp).await)
            }
        })
    }

    fn open<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<MediaBody, MediaError>> {
        Box::pin(async move {
            let resp = self
                .send(self.signed(Method::GET, key, EMPTY_PAYLOAD_SHA256)?)
                .await?;
            match resp.status() {
                s if s.is_success() => {
                    let size = resp.content_length();
                    let stream = resp.bytes_stream().map(|chunk| {
                        chunk.map_err(|e| {
                            MediaError::StorageUnavailable(format!(
                                "reading S3 object: {}",
                                error_chain(&e.without_url())
                            ))
                        })
                    });
                    Ok(MediaBody {
                        size,
                        stream: Box::pin(stream),
                    })
                }
                StatusCode::NOT_FOUND => Err(MediaError::NotFound(key.to_owned())),
                _ => Err(status_error(resp).await),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(endpoint: Option<&str>) -> S3Settings {
        S3Settings {
            access_key_id: "AKID".into(),
            secret_access_key: "secret".into(),
            session_token: None,
            region: "eu-west-1".into(),
            endpoint: endpoint.map(str::to_owned),
        }
    }

    fn backend(endpoint: Option<&str>, bucket: &str, prefix: &str) -> S3Backend {
        S3Backend::new(reqwest::Client::new(), settings(endpoint), bucket, prefix).unwrap()
    }

    #[test]
    fn addressing_styles() {
        let b = backend(Some("http://127.0.0.1:9000"), "media", "wa/in");
        let (url, host, path) = b.object_address("sha256/ab/cd/x.jpg").unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9000/media/wa/in/sha256/ab/cd/x.jpg"
        );
        assert_eq!(host, "127.0.0.1:9000");
        assert_eq!(path, "/media/wa/in/sha256/ab/cd/x.jpg");

        let b = backend(None, "media", "");
        let (url, host, _) = b.object_address("k").unwrap();
        assert_eq!(url.as_str(), "https://media.s3.eu-west-1.amazonaws.com/k");
        assert_eq!(host, "media.s3.eu-west-1.amazonaws.com");

        let b = backend(None, "media.example.com", "p");
        let (url, _, _) = b.object_address("k").unwrap();
        assert_eq!(
            url.as_str(),
            "https://s3.eu-west-1.amazonaws.com/media.example.com/p/k"
        );
    }

    #[test]
    fn rejects_bad_endpoint() {
        let err =
            S3Backend::new(reqwest::Client::new(), settings(Some("ftp://x")), "bkt", "").err();
        assert!(matches!(err, Some(MediaError::Config(_))));
    }
}
