//! A Twilio Messaging API emulator for tests and local demos (production uses the real Twilio).
//!
//! It behaves like Twilio's REST API as far as a WhatsApp gateway can observe:
//! - `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` with HTTP Basic auth
//!   (AccountSid:AuthToken or ApiKeySid:secret), Twilio's validation and error bodies
//!   ([`twilio_error`]), answering 201 with the Message resource JSON;
//! - the 24-hour customer-service window per (customer, sender): free-form sends outside it are
//!   accepted and then fail with 63016 through the status callback; templates (`ContentSid`)
//!   always pass;
//! - signed status callbacks (`sent → delivered → read`, configurable) with
//!   `I-Twilio-Idempotency-Token`, retried once on a connect failure only;
//! - `GET …/Messages/{Sid}.json` and `GET …/Messages.json?To=&From=&DateSent>=`;
//! - fault injection ([`fault::FaultSpec`]); media behind Basic auth with a CDN redirect;
//! - an UNAUTHENTICATED admin API under `/admin` ([`admin`]) — a test tool: bind it to loopback.
//!
//! ```no_run
//! # async fn demo() -> Result<(), twilio_emulator::EmulatorError> {
//! let tw = twilio_emulator::TwilioEmulator::start(Default::default()).await?;
//! println!("TWILIO_API_BASE={} sid={}", tw.base_url(), tw.account_sid());
//! # Ok(()) }
//! ```

pub mod admin;
pub mod callbacks;
pub mod clock;
pub mod fault;
pub mod inbound;
pub mod media;
pub mod model;
pub mod outbound_media;
pub mod rest;
pub mod server;
pub mod state;
pub mod twilio_error;
pub mod validate;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::middleware::from_fn_with_state;

pub use fault::FaultSpec;
pub use inbound::{InboundOutcome, InboundSpec};
pub use model::{Message, Status};
pub use state::{Delivery, FailStatus, FailWith, Settings, StopAt, Template};
pub use twilio_error::TwilioError;

use crate::model::{is_sid, new_sid};
use crate::state::Shared;

/// Why the emulator could not start or refused an admin call (the caller's fault unless noted).
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// The listen address could not be bound (environment's fault).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Requested address.
        addr: SocketAddr,
        /// OS error.
        source: std::io::Error,
    },
    /// The callback HTTP client could not be built (environment's fault).
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    /// A configuration value is malformed.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Start-up configuration.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Listen address (default `127.0.0.1:0`).
    pub bind: SocketAddr,
    /// `AC…` (random when `None`).
    pub account_sid: Option<String>,
    /// Auth token (random when `None`).
    pub auth_token: Option<String>,
    /// The account's WhatsApp senders (default `whatsapp:+14155238886`, Twilio's sandbox number).
    pub senders: Vec<String>,
    /// Origin for media CDN redirects (default `http://localhost:{port}`, a different origin from
    /// the API's `http://127.0.0.1:{port}`).
    pub cdn_base_url: Option<String>,
    /// Pause before each status step (default 20 ms).
    pub callback_step: Duration,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            account_sid: None,
            auth_token: None,
            senders: vec!["whatsapp:+14155238886".into()],
            cdn_base_url: None,
            callback_step: Duration::from_millis(20),
        }
    }
}

/// A running emulator; stops when dropped.
#[derive(Debug)]
pub struct TwilioEmulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TwilioEmulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn random_hex() -> String {
    new_sid("")
}

impl TwilioEmulator {
    /// Binds and starts serving.
    pub async fn start(config: EmulatorConfig) -> Result<TwilioEmulator, EmulatorError> {
        let account_sid = config.account_sid.unwrap_or_else(|| new_sid("AC"));
        if !is_sid(&account_sid, "AC") {
            return Err(EmulatorError::Invalid(
                "account_sid must be AC followed by 32 hex digits".into(),
            ));
        }
        if let Some(s) = config
            .senders
            .iter()
            .find(|s| !validate::is_whatsapp_address(s))
        {
            return Err(EmulatorError::Invalid(format!(
                "sender must be whatsapp:+E164: {s}"
            )));
        }
        let auth_token = config.auth_token.unwrap_or_else(random_hex);
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(|source| EmulatorError::Bind {
                addr: config.bind,
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| EmulatorError::Bind {
                addr: config.bind,
                source,
            })?;
        let host = if addr.ip().is_unspecified() {
            "127.0.0.1".to_owned()
        } else {
            addr.ip().to_string()
        };
        let base_url = format!("http://{host}:{}", addr.port());
        let cdn_base_url = config
            .cdn_base_url
            .unwrap_or_else(|| format!("http://localhost:{}", addr.port()));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .build()?;
        let settings = Settings {
            inbound_webhook: None,
            public_url: None,
            url_rewrites: BTreeMap::new(),
            stop_at: StopAt::Read,
            fail_with: None,
            callback_step_ms: u64::try_from(config.callback_step.as_millis()).unwrap_or(u64::MAX),
            callback_initial: false,
            status_callback: None,
            fetch_media: true,
            senders: config.senders,
        };
        let shared = Arc::new(Shared::new(
            account_sid,
            auth_token,
            new_sid("SK"),
            random_hex(),
            base_url,
            cdn_base_url,
            settings,
            http,
        ));
        let api = rest::router().layer(from_fn_with_state(shared.clone(), fault::middleware));
        let app: Router = Router::new()
            .merge(api)
            .merge(admin::router())
            .fallback(rest::not_found)
            .with_state(shared.clone());
        let task = tokio::spawn(server::serve(listener, app));
        Ok(TwilioEmulator { shared, addr, task })
    }

    /// `http://127.0.0.1:port` — what the gateway's `TWILIO_API_BASE` should be.
    pub fn base_url(&self) -> &str {
        &self.shared.base_url
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `AC…`.
    pub fn account_sid(&self) -> &str {
        &self.shared.account_sid
    }

    /// The primary auth token (also the callback signing key).
    pub fn auth_token(&self) -> &str {
        &self.shared.auth_token
    }

    /// `SK…` API key accepted as Basic user.
    pub fn api_key_sid(&self) -> &str {
        &self.shared.api_key_sid
    }

    /// The API key's secret.
    pub fn api_key_secret(&self) -> &str {
        &self.shared.api_key_secret
    }

    /// Messages sent through the API, oldest first.
    pub fn messages(&self) -> Vec<Message> {
        self.shared
            .lock()
            .messages
            .iter()
            .filter(|m| m.direction == "outbound-api")
            .cloned()
            .collect()
    }

    /// Every status-callback / webhook delivery attempt so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.lock().deliveries.clone()
    }

    /// Registers a content template (`HX` + 32 hex).
    pub fn add_template(&self, sid: &str, body: &str) -> Result<(), EmulatorError> {
        Self::add_template_to(
            &self.shared,
            Template {
                sid: sid.to_owned(),
                body: body.to_owned(),
                variables: BTreeMap::new(),
            },
        )
    }

    pub(crate) fn add_template_to(st: &Shared, t: Template) -> Result<(), EmulatorError> {
        if !is_sid(&t.sid, "HX") {
            return Err(EmulatorError::Invalid(
                "template sid must be HX followed by 32 hex digits".into(),
            ));
        }
        st.lock().templates.insert(t.sid.clone(), t);
        Ok(())
    }

    /// A customer writes to a sender (see `POST /admin/inbound`).
    pub async fn customer_sends(&self, spec: InboundSpec) -> Result<InboundOutcome, EmulatorError> {
        inbound::customer_sends(&self.shared, spec)
            .await
            .map_err(EmulatorError::Invalid)
    }

    /// Shifts the emulator clock by `secs` from real time.
    pub fn set_clock_offset(&self, secs: i64) {
        self.shared.clock.set_offset(secs);
    }

    /// Adds a fault.
    pub fn fault(&self, spec: FaultSpec) -> Result<(), EmulatorError> {
        self.shared
            .lock()
            .faults
            .apply(spec)
            .map_err(EmulatorError::Invalid)
    }

    /// Edits the run-time settings.
    pub fn configure(&self, edit: impl FnOnce(&mut Settings)) {
        edit(&mut self.shared.lock().settings);
    }
}
