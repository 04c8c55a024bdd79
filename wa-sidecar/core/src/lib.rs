//! Sans-IO WhatsApp Web companion client core: the connection state machine from the Noise
//! handshake through QR pairing, login, prekey upload and keepalive.
//!
//! No sockets, no clock, no OS randomness: every call takes `now` (unix milliseconds) and/or an
//! `&mut impl rand_core::CryptoRngCore`. A driver owns the WebSocket, timers and storage; see
//! [`Connection`] for the poll order it must follow.
//!
//! * [`DeviceState`]: the credentials to persist (serde), [`DeviceState::generate`] for a new
//!   companion.
//! * [`Connection`]: `new` → `poll_transmit`/`poll_event`/`poll_timeout`, `handle_bytes`,
//!   `handle_timeout`, `send_node`/`send_iq`, `logout`.
//! * [`ConnEvent`] / [`ConnError`]: what the driver acts on.
//! * [`payload`], [`pairing`], [`pair_code`], [`stanza`]: the wire values, each with its
//!   source cited. [`pair_code`] is pairing by phone number with an 8-character code
//!   ([`Connection::use_pairing_code`]).
//! * [`messaging`]: the sans-IO end-to-end messaging layer ([`messaging::Messenger`]).

mod connection;
mod device;
mod events;
mod handlers;
pub mod messaging;
pub mod pair_code;
mod pair_code_conn;
pub mod pairing;
pub mod payload;
mod serde_keys;
pub mod stanza;

pub use connection::{
    Connection, HANDSHAKE_TIMEOUT_MS, IQ_TIMEOUT_MS, KEEPALIVE_MAX_MS, KEEPALIVE_MIN_MS,
    KEEPALIVE_RESPONSE_TIMEOUT_MS, LOGOUT_TIMEOUT_MS, QR_FIRST_MS, QR_NEXT_MS, UPLOAD_TIMEOUT_MS,
};
pub use device::{
    DeviceState, INITIAL_SIGNED_PREKEY_ID, MAX_PREKEY_ID, SignedPreKey, StoredPreKey,
};
pub use events::{ConnError, ConnEvent};
pub use handlers::{MIN_SERVER_PREKEYS, PREKEY_UPLOAD_COUNT};
pub use wa_noise::CertPolicy;
