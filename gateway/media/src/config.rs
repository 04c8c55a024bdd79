//! Configuration: where media is stored, provider credentials, limits and timeouts.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::MediaError;
use crate::limits::SizeLimits;

/// HTTP Basic credentials for a media provider (Twilio: Account SID / Auth Token, or an API key
/// SID / secret), sent only to the listed hosts.
#[derive(Clone)]
pub struct ProviderAuth {
    /// Basic-auth user name.
    pub username: String,
    /// Basic-auth password. Never printed by `Debug`.
    pub password: String,
    /// Hosts that receive the credentials, e.g. `api.twilio.com`. An entry may carry a port
    /// (`127.0.0.1:8080`), then only that port matches; without a port any port matches.
    pub hosts: Vec<String>,
}

impl fmt::Debug for ProviderAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderAuth")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("hosts", &self.hosts)
            .finish()
    }
}

impl ProviderAuth {
    /// Twilio credentials (Account SID + Auth Token, or API key SID + secret), sent only to
    /// `api.twilio.com`, the host of Twilio's `MediaUrl{N}` links.
    pub fn twilio(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
            hosts: vec!["api.twilio.com".to_owned()],
        }
    }

    /// Whether a request to `host` (with the URL's effective `port`) may carry these credentials.
    pub fn applies_to(&self, host: &str, port: Option<u16>) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.hosts.iter().any(|entry| {
            let entry = entry.trim().to_ascii_lowercase();
            match entry.rsplit_once(':') {
                // "host:port" (not an IPv6 literal without brackets)
                Some((h, p)) if !h.contains(':') || h.ends_with(']') => {
                    h.trim_start_matches('[').trim_end_matches(']') == host
                        && p.parse::<u16>().ok() == port
                }
                _ => entry.trim_start_matches('[').trim_end_matches(']') == host,
            }
        })
    }
}

/// Credentials and addressing for S3-compatible storage.
#[derive(Clone)]
pub struct S3Settings {
    /// `AWS_ACCESS_KEY_ID`.
    pub access_key_id: String,
    /// `AWS_SECRET_ACCESS_KEY`. Never printed by `Debug`.
    pub secret_access_key: String,
    /// `AWS_SESSION_TOKEN`, for temporary credentials.
    pub session_token: Option<String>,
    /// `AWS_REGION` (default `us-east-1`).
    pub region: String,
    /// `AWS_ENDPOINT_URL`: an S3-compatible server (MinIO, R2, ...). When set, path-style
    /// addressing is used (`{endpoint}/{bucket}/{key}`); otherwise virtual-hosted AWS addressing.
    pub endpoint: Option<String>,
}

impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Settings")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl S3Settings {
    /// Read the standard AWS variables from the process environment.
    ///
    /// Fails, naming the variable, when a key is missing.
    pub fn from_env() -> Result<Self, MediaError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`S3Settings::from_env`] with an explicit lookup (for tests and other config sources).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, MediaError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let required = |name: &str| {
            get(name).ok_or_else(|| {
                MediaError::Config(format!("{name} must be set for an s3:// MEDIA_STORE"))
            })
        };
        Ok(Self {
            access_key_id: required("AWS_ACCESS_KEY_ID")?,
            secret_access_key: required("AWS_SECRET_ACCESS_KEY")?,
            session_token: get("AWS_SESSION_TOKEN"),
            region: get("AWS_REGION")
                .or_else(|| get("AWS_DEFAULT_REGION"))
                .unwrap_or_else(|| "us-east-1".to_owned()),
            endpoint: get("AWS_ENDPOINT_URL"),
        })
    }
}

/// Everything [`crate::MediaPipeline::new`] needs.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// The `MEDIA_STORE` value: a folder path, `file:///abs/path`, or `s3://bucket/prefix`.
    pub location: String,
    /// S3 settings, required when `location` is `s3://...`.
    pub s3: Option<S3Settings>,
    /// Provider credentials (Twilio), sent only to their hosts.
    pub auth: Option<ProviderAuth>,
    /// Size limits per media type and the overall cap.
    pub limits: SizeLimits,
    /// Connect timeout (default 5 s).
    pub connect_timeout: Duration,
    /// Total time for one download, redirects and body included (default 60 s); each storage
    /// request (exists / upload / read) gets the same budget on its own.
    pub total_timeout: Duration,
    /// Maximum redirects followed (default 5).
    pub max_redirects: usize,
    /// Folder for downloads in progress when storing on S3 (default: the system temp folder).
    /// A folder store always stages inside its own folder so the final rename is atomic.
    pub staging_dir: Option<PathBuf>,
}

impl MediaConfig {
    /// Defaults for a store location: no provider credentials, WhatsApp limits, 5 s / 60 s timeouts.
    pub fn new(location: impl Into<String>) -> Self {
        Self {
            location: location.into(),
            s3: None,
            auth: None,
            limits: SizeLimits::default(),
            connect_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(60),
            max_redirects: 5,
            staging_dir: None,
        }
    }

    /// Defaults for `location`, with S3 settings read from the environment when it is `s3://`.
    pub fn from_env(location: impl Into<String>) -> Result<Self, MediaError> {
        let mut cfg = Self::new(location);
        if cfg.location.trim_start().starts_with("s3://") {
            cfg.s3 = Some(S3Settings::from_env()?);
        }
        Ok(cfg)
    }
}

/// A parsed store location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    /// A local folder.
    Folder(PathBuf),
    /// An S3 bucket and key prefix (no leading or trailing slash; may be empty).
    S3 { bucket: String, prefix: String },
}

impl Location {
    /// Parse a `MEDIA_STORE` value.
    pub(crate) fn parse(raw: &str) -> Result<Self, MediaError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(MediaError::Config("MEDIA_STORE is empty".into()));
        }
        if let Some(rest) = raw.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let bucket_ok = (3..=63).contains(&bucket.len())
                && bucket.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'
                });
            if !bucket_ok {
                return Err(MediaError::Config(format!(
                    "MEDIA_STORE: invalid S3 bucket name {bucket:?}"
                )));
            }
            let prefix = prefix.trim_matches('/').to_owned();
            return Ok(Self::S3 {
                bucket: bucket.to_owned(),
                prefix,
            });
        }
        if raw.starts_with("file:") {
            let url = url::Url::parse(raw)
                .map_err(|e| MediaError::Config(format!("MEDIA_STORE: bad file URL: {e}")))?;
            let path = url.to_file_path().map_err(|()| {
                MediaError::Config("MEDIA_STORE: file URL must be file:///absolute/path".into())
            })?;
            return Ok(Self::Folder(path));
        }
        if let Some((scheme, _)) = raw.split_once("://") {
            return Err(MediaError::Config(format!(
                "MEDIA_STORE: unsupported scheme {scheme:?} (use a folder, file:// or s3://)"
            )));
        }
        Ok(Self::Folder(PathBuf::from(raw)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_locations() {
        assert_eq!(
            Location::parse("/var/media").ok(),
            Some(Location::Folder("/var/media".into()))
        );
        assert_eq!(
            Location::parse("data/media").ok(),
            Some(Location::Folder("data/media".into()))
        );
        assert_eq!(
            Location::parse("file:///srv/media").ok(),
            Some(Location::Folder("/srv/media".into()))
        );
        assert_eq!(
            Location::parse("s3://my-bucket/wa/media/").ok(),
            Some(Location::S3 {
                bucket: "my-bucket".into(),
                prefix: "wa/media".into()
            })
        );
        assert_eq!(
            Location::parse("s3://my-bucket").ok(),
            Some(Location::S3 {
                bucket: "my-bucket".into(),
                prefix: String::new()
            })
        );
        assert!(Location::parse("s3://Bad_Bucket/x").is_err());
        assert!(Location::parse("ftp://host/x").is_err());
        assert!(Location::parse("  ").is_err());
    }

    #[test]
    fn auth_host_matching() {
        let auth = ProviderAuth {
            username: "AC1".into(),
            password: "secret".into(),
            hosts: vec!["api.twilio.com".into(), "127.0.0.1:8080".into()],
        };
        assert!(auth.applies_to("api.twilio.com", Some(443)));
        assert!(auth.applies_to("API.Twilio.com", Some(443)));
        assert!(!auth.applies_to("media.twiliocdn.com", Some(443)));
        assert!(!auth.applies_to("api.twilio.com.evil.example", Some(443)));
        assert!(auth.applies_to("127.0.0.1", Some(8080)));
        assert!(!auth.applies_to("127.0.0.1", Some(8081)));
        let twilio = ProviderAuth::twilio("AC1", "tok");
        assert!(twilio.applies_to("api.twilio.com", Some(443)));
        assert!(!twilio.applies_to("mms.twiliocdn.com", Some(443)));
    }

    #[test]
    fn debug_redacts_secrets() {
        let auth = ProviderAuth {
            username: "AC1".into(),
            password: "hunter2".into(),
            hosts: vec![],
        };
        assert!(!format!("{auth:?}").contains("hunter2"));
        let s3 = S3Settings {
            access_key_id: "AKIA".into(),
            secret_access_key: "topsecret".into(),
            session_token: Some("tok".into()),
            region: "us-east-1".into(),
            endpoint: None,
        };
        let shown = format!("{s3:?}");
        assert!(!shown.contains("topsecret") && !shown.contains("tok\""));
    }

    #[test]
    fn s3_settings_name_missing_variable() {
        let err = S3Settings::from_lookup(|_| None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("AWS_ACCESS_KEY_ID"), "{err}");
        let s = S3Settings::from_lookup(|n| match n {
            "AWS_ACCESS_KEY_ID" => Some("a".into()),
            "AWS_SECRET_ACCESS_KEY" => Some("b".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(s.region, "us-east-1");
        assert_eq!(s.endpoint, None);
    }
}
