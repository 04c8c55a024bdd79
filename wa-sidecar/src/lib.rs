//! Native WhatsApp Web multi-device client service: the driver (I/O) around the sans-IO
//! protocol core [`wa_core`].
//!
//! * [`config`]: configuration from the environment (`WA_WS_URL`, `WA_STATE_DIR`, ...).
//! * [`store`]: the sled store (device state with a format version, logged-out marker, trees
//!   for idempotency keys and the inbound outbox).
//! * [`transport`]: the WebSocket connection with WhatsApp Web's headers.
//! * [`driver`]: one session's poll loop and the reconnect loop ([`backoff`]).
//! * [`state`] + [`http`]: the session state shared with `GET /health`.
//! * [`service`]: driver + HTTP together (what `wa-sidecar run` runs).
//! * [`qr`]: terminal rendering of pairing QR codes.
//! * [`cli`]: the `wa-sidecar` command line.

pub mod backoff;
pub mod cli;
pub mod config;
pub mod driver;
pub mod forwarder;
pub mod http;
pub mod idempotency;
pub mod messaging;
pub mod outbox;
pub mod qr;
pub mod send_api;
pub mod service;
pub mod signal_store;
pub mod state;
pub mod store;
pub mod transport;

pub use config::{Config, ConfigError, Secret};
pub use driver::{Driver, DriverConfig, Goal, PairEnd, PairNotice, RunEnd, SessionEnd};
pub use service::{Service, ServiceError, ServiceOptions};
pub use state::LinkState;
pub use store::{Store, StoreError};
