//! Configuration from the environment (names fixed by ARCHITECTURE.md, "Environment").
//!
//! Missing or malformed values refuse to start with an error naming the variable. Secrets are
//! wrapped in [`Secret`], whose `Debug` prints `<redacted>`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use wa_core::CertPolicy;

/// WhatsApp's WebSocket endpoint (fact sheet 1.1).
pub const DEFAULT_WS_URL: &str = "wss://web.whatsapp.com/ws/chat";
/// Default sled state directory.
pub const DEFAULT_STATE_DIR: &str = "./wa-state";
/// Default HTTP bind address.
pub const DEFAULT_BIND: &str = "127.0.0.1:3001";

/// Environment variable names.
pub mod vars {
    /// WebSocket URL of the WhatsApp server.
    pub const WS_URL: &str = "WA_WS_URL";
    /// sled state directory.
    pub const STATE_DIR: &str = "WA_STATE_DIR";
    /// HTTP bind address.
    pub const BIND: &str = "SIDECAR_BIND";
    /// Where inbound messages are POSTed.
    pub const WEBHOOK_TARGET: &str = "BAILEYS_WEBHOOK_TARGET";
    /// Shared secret for the webhook and `/send`.
    pub const WEBHOOK_SECRET: &str = "BAILEYS_WEBHOOK_SECRET";
    /// New `/send` messages per minute (token bucket, burst 5).
    pub const SEND_RATE_PER_MIN: &str = "WA_SEND_RATE_PER_MIN";
    /// Test-only: trust this certificate root instead of WhatsApp's.
    pub const TRUST_ROOT: &str = "WA_DANGER_TRUST_ROOT_KEY";
}

/// A secret string: never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that needs it (a header, an HMAC key).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where inbound messages go (required by `run`).
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// `BAILEYS_WEBHOOK_TARGET`: `{PUBLIC_BASE_URL}/api/whatsapp/baileys`.
    pub target: http::Uri,
    /// `BAILEYS_WEBHOOK_SECRET`.
    pub secret: Secret,
}

/// The sidecar's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `WA_WS_URL`.
    pub ws_url: String,
    /// `WA_STATE_DIR`.
    pub state_dir: PathBuf,
    /// `SIDECAR_BIND`.
    pub bind: SocketAddr,
    /// `BAILEYS_WEBHOOK_TARGET` + `BAILEYS_WEBHOOK_SECRET`, when both are set.
    pub webhook: Option<WebhookConfig>,
    /// `WA_DANGER_TRUST_ROOT_KEY`, when set: a certificate root to trust instead of WhatsApp's.
    pub trust_root: Option<[u8; 32]>,
    /// `WA_SEND_RATE_PER_MIN` (default 20): new `/send` messages per minute, burst 5.
    pub send_rate_per_min: u32,
}

/// Why the configuration was refused. Always the operator's to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is not set (or empty).
    #[error("{0} is not set (required)")]
    Missing(&'static str),
    /// A variable's value is unusable.
    #[error("{var} is invalid: {reason}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// What is wrong with it (never the value of a secret).
        reason: String,
    },
    /// The state directory cannot be created or read.
    #[error("state directory {} (WA_STATE_DIR) is unusable: {source}", path.display())]
    StateDir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (the environment, or a map in tests). Empty values
    /// count as unset. Does not touch the file system; see [`Config::prepare_state_dir`].
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let ws_url = get(vars::WS_URL).unwrap_or_else(|| DEFAULT_WS_URL.to_owned());
        validate_ws_url(&ws_url)?;
        let state_dir =
            PathBuf::from(get(vars::STATE_DIR).unwrap_or_else(|| DEFAULT_STATE_DIR.to_owned()));
        let bind_text = get(vars::BIND).unwrap_or_else(|| DEFAULT_BIND.to_owned());
        let bind = bind_text
            .trim()
            .parse::<SocketAddr>()
            .map_err(|e| ConfigError::Invalid {
                var: vars::BIND,
                reason: format!("`{bind_text}` is not an address like 127.0.0.1:3001 ({e})"),
            })?;
        let target = get(vars::WEBHOOK_TARGET)
            .map(|t| parse_http_url(vars::WEBHOOK_TARGET, &t))
            .transpose()?;
        let secret = get(vars::WEBHOOK_SECRET).map(Secret::new);
        let webhook = match (target, secret) {
            (Some(target), Some(secret)) => Some(WebhookConfig { target, secret }),
            _ => None,
        };
        let trust_root = get(vars::TRUST_ROOT)
            .map(|hex_key| parse_root_key(&hex_key))
            .transpose()?;
        let send_rate_per_min = match get(vars::SEND_RATE_PER_MIN) {
            None => crate::idempotency::DEFAULT_RATE_PER_MIN,
            Some(v) => match v.trim().parse::<u32>() {
                Ok(n) if n > 0 => n,
                _ => {
                    return Err(ConfigError::Invalid {
                        var: vars::SEND_RATE_PER_MIN,
                        reason: format!("`{v}` is not a positive whole number"),
                    });
                }
            },
        };
        Ok(Config {
            ws_url,
            state_dir,
            bind,
            webhook,
            trust_root,
            send_rate_per_min,
        })
    }

    /// The webhook settings, or an error naming the first missing variable (`run` needs them).
    pub fn require_webhook(
        &self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<&WebhookConfig, ConfigError> {
        match &self.webhook {
            Some(w) => Ok(w),
            None => {
                let set = |name: &str| lookup(name).is_some_and(|v| !v.trim().is_empty());
                if !set(vars::WEBHOOK_TARGET) {
                    Err(ConfigError::Missing(vars::WEBHOOK_TARGET))
                } else {
                    Err(ConfigError::Missing(vars::WEBHOOK_SECRET))
                }
            }
        }
    }

    /// The certificate policy: WhatsApp's root, or the test root from
    /// `WA_DANGER_TRUST_ROOT_KEY`.
    pub fn cert_policy(&self) -> CertPolicy {
        match self.trust_root {
            Some(root) => CertPolicy::danger_trust_root(root),
            None => CertPolicy::whatsapp(),
        }
    }

    /// Creates the state directory (mode 0700) if missing and checks that it can be read.
    pub fn prepare_state_dir(&self) -> Result<(), ConfigError> {
        prepare_dir(&self.state_dir)
    }
}

fn prepare_dir(path: &Path) -> Result<(), ConfigError> {
    use std::os::unix::fs::DirBuilderExt;
    let err = |source| ConfigError::StateDir {
        path: path.to_owned(),
        source,
    };
    if !path.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .map_err(err)?;
    }
    std::fs::read_dir(path).map_err(err)?;
    Ok(())
}

fn validate_ws_url(url: &str) -> Result<(), ConfigError> {
    let uri = url.parse::<http::Uri>().map_err(|e| ConfigError::Invalid {
        var: vars::WS_URL,
        reason: format!("`{url}` is not a URL ({e})"),
    })?;
    match (uri.scheme_str(), uri.host()) {
        (Some("ws" | "wss"), Some(_)) => Ok(()),
        _ => Err(ConfigError::Invalid {
            var: vars::WS_URL,
            reason: format!("`{url}` must be a ws:// or wss:// URL with a host"),
        }),
    }
}

fn parse_http_url(var: &'static str, url: &str) -> Result<http::Uri, ConfigError> {
    let uri = url
        .trim()
        .parse::<http::Uri>()
        .map_err(|e| ConfigError::Invalid {
            var,
            reason: format!("`{url}` is not a URL ({e})"),
        })?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(_)) => Ok(uri),
        _ => Err(ConfigError::Invalid {
            var,
            reason: format!("`{url}` must be an http:// or https:// URL with a host"),
        }),
    }
}

fn parse_root_key(text: &str) -> Result<[u8; 32], ConfigError> {
    let invalid = |reason: &str| ConfigError::Invalid {
        var: vars::TRUST_ROOT,
        reason: reason.to_owned(),
    };
    let bytes =
        hex::decode(text.trim()).map_err(|_| invalid("must be 64 hexadecimal characters"))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| invalid("must be 64 hexadecimal characters (a 32-byte public key)"))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let c = Config::from_lookup(lookup(&[])).unwrap();
        assert_eq!(c.ws_url, DEFAULT_WS_URL);
        assert_eq!(c.state_dir, PathBuf::from("./wa-state"));
        assert_eq!(c.bind.to_string(), "127.0.0.1:3001");
        assert!(c.webhook.is_none());
        assert!(c.cert_policy().is_whatsapp());
    }

    #[test]
    fn run_requires_webhook_variables_by_name() {
        let env = [(
            "BAILEYS_WEBHOOK_TARGET",
            "https://crm.example/api/whatsapp/baileys",
        )];
        let c = Config::from_lookup(lookup(&env)).unwrap();
        let err = c.require_webhook(lookup(&env)).unwrap_err();
        assert!(err.to_string().contains("BAILEYS_WEBHOOK_SECRET"), "{err}");
        let err = c.require_webhook(lookup(&[])).unwrap_err();
        assert!(err.to_string().contains("BAILEYS_WEBHOOK_TARGET"), "{err}");
    }

    #[test]
    fn send_rate_defaults_to_20_and_must_be_positive() {
        let c = Config::from_lookup(|_| None).unwrap();
        assert_eq!(c.send_rate_per_min, 20);
        let c =
            Config::from_lookup(|n| (n == vars::SEND_RATE_PER_MIN).then(|| "90".into())).unwrap();
        assert_eq!(c.send_rate_per_min, 90);
        for bad in ["0", "-1", "fast"] {
            let err = Config::from_lookup(|n| (n == vars::SEND_RATE_PER_MIN).then(|| bad.into()))
                .unwrap_err();
            assert!(err.to_string().contains("WA_SEND_RATE_PER_MIN"), "{err}");
        }
    }

    #[test]
    fn secret_is_redacted_in_debug() {
        let env = [
            ("BAILEYS_WEBHOOK_TARGET", "https://crm.example/hook"),
            ("BAILEYS_WEBHOOK_SECRET", "hunter2-very-secret"),
        ];
        let c = Config::from_lookup(lookup(&env)).unwrap();
        let debug = format!("{c:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("<redacted>"));
        assert_eq!(
            c.require_webhook(lookup(&env)).unwrap().secret.expose(),
            "hunter2-very-secret"
        );
    }

    #[test]
    fn malformed_values_name_the_variable() {
        for (var, value) in [
            ("WA_WS_URL", "https://web.whatsapp.com/ws/chat"),
            ("WA_WS_URL", "not a url"),
            ("SIDECAR_BIND", "localhost"),
            ("BAILEYS_WEBHOOK_TARGET", "ftp://x/y"),
            ("WA_DANGER_TRUST_ROOT_KEY", "abcd"),
            ("WA_DANGER_TRUST_ROOT_KEY", &"zz".repeat(32)),
        ] {
            let err = Config::from_lookup(lookup(&[(var, value)])).unwrap_err();
            assert!(err.to_string().contains(var), "{var}={value}: {err}");
        }
    }

    #[test]
    fn trusted_root_key_is_parsed() {
        let key = "11".repeat(32);
        let c = Config::from_lookup(lookup(&[("WA_DANGER_TRUST_ROOT_KEY", &key)])).unwrap();
        assert_eq!(c.trust_root, Some([0x11; 32]));
        assert!(!c.cert_policy().is_whatsapp());
        assert_eq!(c.cert_policy().root_public_key(), &[0x11; 32]);
    }

    #[test]
    fn state_dir_is_created_and_unreadable_dir_is_named() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("nested/state");
        prepare_dir(&dir).unwrap();
        assert!(dir.is_dir());
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o000)).unwrap();
        let result = prepare_dir(&dir);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        // root can read anything; only assert when the permission bits are enforced
        if let Err(err) = result {
            assert!(
                err.to_string().contains(&dir.display().to_string()),
                "{err}"
            );
        }
        let file = tmp.path().join("a-file");
        std::fs::write(&file, b"x").unwrap();
        let err = prepare_dir(&file).unwrap_err();
        assert!(err.to_string().contains("a-file"), "{err}");
    }
}
