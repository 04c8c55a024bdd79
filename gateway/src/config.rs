//! Configuration from the environment (names fixed by ARCHITECTURE.md) or the command line.
//!
//! [`RawConfig`] is what clap reads (every field optional, so the product starts with no
//! environment at all); [`Config::from_raw`] validates it and refuses, naming the variable,
//! when something is malformed or a group is half set.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use url::Url;

use crate::secret::Secret;

/// Default bind address.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
/// Default Twilio REST API base.
pub const DEFAULT_TWILIO_API_BASE: &str = "https://api.twilio.com";
/// Default request body limit (1 MiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Default Twilio sends per second per sender (Twilio's default WhatsApp text throughput).
pub const DEFAULT_TWILIO_SEND_RATE: u32 = 10;
/// Default failover template variables.
pub const DEFAULT_FAILOVER_VARIABLES: &[(&str, &str)] = &[("1", "{name}"), ("2", "{text}")];
/// Default sidecar health-check interval in seconds.
pub const DEFAULT_HEALTH_CHECK_INTERVAL_SECS: u64 = 30;

/// Settings as given (environment or flags). Empty values count as unset.
#[derive(Debug, Default, Clone, Parser)]
#[command(
    name = "gateway",
    version,
    about = "WhatsApp gateway: Twilio and wa-sidecar webhooks into a CRM timeline"
)]
pub struct RawConfig {
    /// Public base URL Twilio calls (https://host); Twilio signatures are checked against it.
    /// Set together with TWILIO_AUTH_TOKEN, or neither (then the Twilio webhook answers 403).
    /// [default: unset]
    #[arg(long, env = "PUBLIC_BASE_URL", hide_env_values = true)]
    pub public_base_url: Option<String>,
    /// Outbound provider policy: auto | twilio | baileys. [default: auto]
    #[arg(long, env = "WHATSAPP_PROVIDER")]
    pub whatsapp_provider: Option<String>,
    /// Twilio account SID (AC + 32 hex); inbound AccountSid must match it when set. [default: unset]
    #[arg(long, env = "TWILIO_ACCOUNT_SID", hide_env_values = true)]
    pub twilio_account_sid: Option<String>,
    /// Twilio primary auth token (signature key). [default: unset]
    #[arg(long, env = "TWILIO_AUTH_TOKEN", hide_env_values = true)]
    pub twilio_auth_token: Option<String>,
    /// Twilio WhatsApp sender, whatsapp:+E164. [default: unset]
    #[arg(long, env = "TWILIO_WA_FROM")]
    pub twilio_wa_from: Option<String>,
    /// Sidecar send URL (https://host/send). [default: unset]
    #[arg(long, env = "BAILEYS_OUTBOUND_URL")]
    pub baileys_outbound_url: Option<String>,
    /// Sidecar health URL. [default: BAILEYS_OUTBOUND_URL with a trailing /send replaced by /health]
    #[arg(long, env = "BAILEYS_HEALTH_URL")]
    pub baileys_health_url: Option<String>,
    /// Shared secret of the sidecar webhook (X-BAILEYS-SECRET). [default: unset → webhook answers 401]
    #[arg(long, env = "BAILEYS_WEBHOOK_SECRET", hide_env_values = true)]
    pub baileys_webhook_secret: Option<String>,
    /// Store: sqlite:<path> or postgres://... [default: sqlite:<GATEWAY_DATA_DIR>/gateway.db]
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Media store: a folder, or s3://bucket/prefix. [default: <GATEWAY_DATA_DIR>/media]
    #[arg(long, env = "MEDIA_STORE")]
    pub media_store: Option<String>,
    /// Listen address. [default: 127.0.0.1:8080]
    #[arg(long, env = "GATEWAY_BIND")]
    pub gateway_bind: Option<String>,
    /// Bearer token of the read API. [default: generated, written to <GATEWAY_DATA_DIR>/api-token]
    #[arg(long, env = "GATEWAY_API_TOKEN", hide_env_values = true)]
    pub gateway_api_token: Option<String>,
    /// Twilio REST API base URL; its host also receives Twilio media credentials.
    /// [default: https://api.twilio.com]
    #[arg(long, env = "TWILIO_API_BASE")]
    pub twilio_api_base: Option<String>,
    /// Sidecar health-check interval, seconds. [default: 30]
    #[arg(long, env = "HEALTH_CHECK_INTERVAL")]
    pub health_check_interval: Option<String>,
    /// Approved template for failover / out-of-window messages (HX + 32 hex). [default: unset]
    #[arg(long, env = "TWILIO_FAILOVER_CONTENT_SID")]
    pub twilio_failover_content_sid: Option<String>,
    /// Failover template variables: a JSON object of variable → text, where {name}, {text} and
    /// {phone} are replaced by the contact's name, the original text and the number.
    /// [default: {"1":"{name}","2":"{text}"}]
    #[arg(long, env = "TWILIO_FAILOVER_VARIABLES")]
    pub twilio_failover_variables: Option<String>,
    /// Twilio sends per second for our sender (pacing). [default: 10]
    #[arg(long, env = "TWILIO_SEND_RATE")]
    pub twilio_send_rate: Option<String>,
    /// Data folder (SQLite file, media, generated API token). [default: ./data]
    #[arg(long, env = "GATEWAY_DATA_DIR")]
    pub gateway_data_dir: Option<String>,
    /// Largest accepted request body in bytes. [default: 1048576]
    #[arg(long, env = "GATEWAY_MAX_BODY_BYTES")]
    pub gateway_max_body_bytes: Option<String>,
}

/// A setting that cannot be used; the message names the variable. Always the operator's fault.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{var}: {reason}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub var: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

fn err(var: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        reason: reason.into(),
    }
}

/// Outbound provider policy (`WHATSAPP_PROVIDER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderMode {
    /// Choose per message by rule.
    Auto,
    /// Always Twilio.
    Twilio,
    /// Always the sidecar.
    Baileys,
}

/// Twilio settings; present only when the group is configured.
#[derive(Debug, Clone)]
pub struct TwilioConfig {
    /// `PUBLIC_BASE_URL` without a trailing slash.
    pub public_base_url: String,
    /// Primary auth token.
    pub auth_token: Secret,
    /// `AC...`, when set.
    pub account_sid: Option<String>,
    /// `whatsapp:+...`, when set.
    pub wa_from: Option<String>,
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Outbound policy.
    pub provider: ProviderMode,
    /// Twilio, if configured.
    pub twilio: Option<TwilioConfig>,
    /// Twilio REST base (also a Twilio media host).
    pub twilio_api_base: Url,
    /// Sidecar `/send` URL.
    pub baileys_outbound_url: Option<Url>,
    /// Sidecar `/health` URL.
    pub baileys_health_url: Option<Url>,
    /// Sidecar webhook secret; `None` → the webhook answers 401.
    pub baileys_webhook_secret: Option<Secret>,
    /// Store URL.
    pub database_url: Secret,
    /// Media store location.
    pub media_store: String,
    /// Listen address (port 0 allowed).
    pub bind: SocketAddr,
    /// API bearer token; `None` → generated into `<data_dir>/api-token` at start.
    pub api_token: Option<Secret>,
    /// Sidecar health-check interval.
    pub health_check_interval: Duration,
    /// Failover template.
    pub failover_content_sid: Option<String>,
    /// Failover template variables (variable → text with `{name}`, `{text}`, `{phone}`).
    pub failover_variables: std::collections::BTreeMap<String, String>,
    /// Twilio sends per second per sender.
    pub twilio_send_rate: u32,
    /// Data folder.
    pub data_dir: PathBuf,
    /// Body limit.
    pub max_body_bytes: usize,
}

fn present(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn parse_http_url(var: &'static str, s: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(s).map_err(|e| err(var, format!("not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(err(var, "must be an http(s) URL with a host"));
    }
    Ok(url)
}

fn is_sid(s: &str, prefix: &str) -> bool {
    s.len() == prefix.len() + 32
        && s.starts_with(prefix)
        && s[prefix.len()..].bytes().all(|b| b.is_ascii_hexdigit())
}

impl Config {
    /// Reads flags and environment (clap), then validates.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_raw(RawConfig::parse())
    }

    /// A configuration with every default, storing under `data_dir` and listening on
    /// `127.0.0.1:0` (what tests and embedders start from).
    pub fn local(data_dir: impl Into<PathBuf>) -> Config {
        let data_dir = data_dir.into();
        let raw = RawConfig {
            gateway_data_dir: Some(data_dir.to_string_lossy().into_owned()),
            gateway_bind: Some("127.0.0.1:0".into()),
            ..RawConfig::default()
        };
        Config::from_raw(raw).expect("the defaults are valid")
    }

    /// Validates raw settings.
    pub fn from_raw(raw: RawConfig) -> Result<Config, ConfigError> {
        let provider = match present(&raw.whatsapp_provider).map(str::to_ascii_lowercase) {
            None => ProviderMode::Auto,
            Some(v) => match v.as_str() {
                "auto" => ProviderMode::Auto,
                "twilio" => ProviderMode::Twilio,
                "baileys" => ProviderMode::Baileys,
                _ => return Err(err("WHATSAPP_PROVIDER", "must be auto, twilio or baileys")),
            },
        };

        let account_sid = present(&raw.twilio_account_sid)
            .map(|s| {
                is_sid(s, "AC").then(|| s.to_owned()).ok_or_else(|| {
                    err("TWILIO_ACCOUNT_SID", "must be AC followed by 32 hex digits")
                })
            })
            .transpose()?;
        let wa_from = present(&raw.twilio_wa_from)
            .map(|s| match s.strip_prefix("whatsapp:") {
                Some(num) if shared::normalize_phone(num, None).is_ok() && num.starts_with('+') => {
                    Ok(s.to_owned())
                }
                _ => Err(err(
                    "TWILIO_WA_FROM",
                    "must be whatsapp:+<international number>",
                )),
            })
            .transpose()?;
        let base = present(&raw.public_base_url)
            .map(|s| {
                parse_http_url("PUBLIC_BASE_URL", s)?;
                if s.contains(['?', '#']) {
                    return Err(err(
                        "PUBLIC_BASE_URL",
                        "must not contain a query or fragment",
                    ));
                }
                Ok(s.trim_end_matches('/').to_owned())
            })
            .transpose()?;
        let token = present(&raw.twilio_auth_token).map(Secret::new);
        let twilio = match (base, token) {
            (Some(public_base_url), Some(auth_token)) => Some(TwilioConfig {
                public_base_url,
                auth_token,
                account_sid,
                wa_from,
            }),
            (None, None) => {
                if account_sid.is_some() || wa_from.is_some() {
                    return Err(err(
                        "TWILIO_AUTH_TOKEN",
                        "Twilio settings are present but TWILIO_AUTH_TOKEN and PUBLIC_BASE_URL are not",
                    ));
                }
                None
            }
            (Some(_), None) => {
                return Err(err(
                    "TWILIO_AUTH_TOKEN",
                    "required when PUBLIC_BASE_URL is set",
                ));
            }
            (None, Some(_)) => {
                return Err(err(
                    "PUBLIC_BASE_URL",
                    "required when TWILIO_AUTH_TOKEN is set",
                ));
            }
        };
        if provider == ProviderMode::Twilio && twilio.is_none() {
            return Err(err(
                "TWILIO_AUTH_TOKEN",
                "required when WHATSAPP_PROVIDER=twilio",
            ));
        }

        let twilio_api_base = parse_http_url(
            "TWILIO_API_BASE",
            present(&raw.twilio_api_base).unwrap_or(DEFAULT_TWILIO_API_BASE),
        )?;
        let baileys_outbound_url = present(&raw.baileys_outbound_url)
            .map(|s| parse_http_url("BAILEYS_OUTBOUND_URL", s))
            .transpose()?;
        if provider == ProviderMode::Baileys && baileys_outbound_url.is_none() {
            return Err(err(
                "BAILEYS_OUTBOUND_URL",
                "required when WHATSAPP_PROVIDER=baileys",
            ));
        }
        let baileys_health_url = match present(&raw.baileys_health_url) {
            Some(s) => Some(parse_http_url("BAILEYS_HEALTH_URL", s)?),
            None => baileys_outbound_url.as_ref().map(derive_health_url),
        };
        let baileys_webhook_secret = present(&raw.baileys_webhook_secret).map(Secret::new);

        let data_dir = PathBuf::from(present(&raw.gateway_data_dir).unwrap_or("./data"));
        let database_url = match present(&raw.database_url) {
            Some(s)
                if s.starts_with("sqlite:")
                    || s.starts_with("postgres://")
                    || s.starts_with("postgresql://") =>
            {
                Secret::new(s)
            }
            Some(_) => {
                return Err(err(
                    "DATABASE_URL",
                    "must start with sqlite: or postgres://",
                ));
            }
            None => Secret::new(format!("sqlite:{}", data_dir.join("gateway.db").display())),
        };
        let media_store = present(&raw.media_store)
            .map(str::to_owned)
            .unwrap_or_else(|| data_dir.join("media").display().to_string());
        let bind = present(&raw.gateway_bind)
            .unwrap_or(DEFAULT_BIND)
            .parse::<SocketAddr>()
            .map_err(|_| err("GATEWAY_BIND", "must be ip:port, e.g. 127.0.0.1:8080"))?;
        let api_token = match present(&raw.gateway_api_token) {
            Some(t) if t.len() < 16 => {
                return Err(err("GATEWAY_API_TOKEN", "must be at least 16 characters"));
            }
            t => t.map(Secret::new),
        };
        let health_secs = match present(&raw.health_check_interval) {
            None => DEFAULT_HEALTH_CHECK_INTERVAL_SECS,
            Some(s) => s
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=86_400).contains(n))
                .ok_or_else(|| err("HEALTH_CHECK_INTERVAL", "must be whole seconds, 1 to 86400"))?,
        };
        let failover_content_sid = present(&raw.twilio_failover_content_sid)
            .map(|s| {
                is_sid(s, "HX").then(|| s.to_owned()).ok_or_else(|| {
                    err(
                        "TWILIO_FAILOVER_CONTENT_SID",
                        "must be HX followed by 32 hex digits",
                    )
                })
            })
            .transpose()?;
        let failover_variables = match present(&raw.twilio_failover_variables) {
            None => DEFAULT_FAILOVER_VARIABLES
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            Some(s) => serde_json::from_str::<std::collections::BTreeMap<String, String>>(s)
                .ok()
                .filter(|m| !m.is_empty() && m.len() <= 100)
                .ok_or_else(|| {
                    err(
                        "TWILIO_FAILOVER_VARIABLES",
                        "must be a JSON object of strings, e.g. {\"1\":\"{name}\",\"2\":\"{text}\"}",
                    )
                })?,
        };
        let twilio_send_rate = match present(&raw.twilio_send_rate) {
            None => DEFAULT_TWILIO_SEND_RATE,
            Some(s) => s
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=10_000).contains(n))
                .ok_or_else(|| {
                    err(
                        "TWILIO_SEND_RATE",
                        "must be messages per second, 1 to 10000",
                    )
                })?,
        };
        let max_body_bytes = match present(&raw.gateway_max_body_bytes) {
            None => DEFAULT_MAX_BODY_BYTES,
            Some(s) => s
                .parse::<usize>()
                .ok()
                .filter(|n| (1024..=64 * 1024 * 1024).contains(n))
                .ok_or_else(|| {
                    err(
                        "GATEWAY_MAX_BODY_BYTES",
                        "must be a byte count from 1024 to 67108864",
                    )
                })?,
        };

        Ok(Config {
            provider,
            twilio,
            twilio_api_base,
            baileys_outbound_url,
            baileys_health_url,
            baileys_webhook_secret,
            database_url,
            media_store,
            bind,
            api_token,
            health_check_interval: Duration::from_secs(health_secs),
            failover_content_sid,
            failover_variables,
            twilio_send_rate,
            data_dir,
            max_body_bytes,
        })
    }
}

/// `https://host/send` → `https://host/health`; a URL not ending in `/send` gets `/health` appended.
fn derive_health_url(send: &Url) -> Url {
    let mut url = send.clone();
    let path = url.path().trim_end_matches('/');
    let new_path = match path.strip_suffix("/send") {
        Some(prefix) => format!("{prefix}/health"),
        None => format!("{path}/health"),
    };
    url.set_path(&new_path);
    url
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
