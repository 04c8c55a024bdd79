//! The contract between `wa-sidecar` and the `gateway`.
//!
//! Everything here is fixed by an existing deployment (a Node "Baileys" service): the JSON field
//! names of `/send`, `/health` and the inbound webhook, and the `X-BAILEYS-SECRET` header. On top
//! of that secret header this crate defines an HMAC signature over timestamp and body
//! ([`signature`]) so that a replayed or altered forward can be rejected.

pub mod ids;
pub mod payloads;
pub mod signature;

pub use ids::{Jid, JidError, JidServer, PhoneError, normalize_phone};
pub use payloads::{
    HealthResponse, InboundMedia, InboundMessage, ReceiptEvent, SendRequest, SendResponse, SendType,
};

/// Header carrying the shared webhook secret (name fixed by the Node service).
pub const SECRET_HEADER: &str = "X-BAILEYS-SECRET";
/// Header carrying the unix-seconds timestamp covered by [`SIGNATURE_HEADER`].
pub const TIMESTAMP_HEADER: &str = "X-BAILEYS-TIMESTAMP";
/// Header carrying `v1=<hex hmac-sha256>` over `"{timestamp}.{body}"`.
pub const SIGNATURE_HEADER: &str = "X-BAILEYS-SIGNATURE";
