//! The session state shared between the connection driver and the HTTP API (a `watch`
//! channel), and its mapping to the `/health` answer.

use shared::HealthResponse;

/// Where the WhatsApp session stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// No paired device in the store: run `wa-sidecar login`.
    NotPaired,
    /// Opening a connection (or waiting to retry after a failure).
    Connecting {
        /// Our device JID, when paired.
        jid: Option<String>,
        /// The last failure, if this is a retry.
        last_error: Option<String>,
    },
    /// Pairing: this QR code is waiting to be scanned (the data is a secret; never logged).
    QrPending {
        /// The QR string.
        qr: String,
        /// When it expires (unix millis).
        expires_at: u64,
    },
    /// Logged in and usable.
    Connected {
        /// Our device JID.
        jid: String,
        /// Our LID, when known.
        lid: Option<String>,
    },
    /// The server ended the session for good; pair again.
    LoggedOut {
        /// The server's reason.
        reason: String,
    },
    /// Another client took over this session; we stopped.
    Replaced,
}

impl LinkState {
    /// The machine-readable reason used by `/health` (`connecting`, `logged_out`, ...); `None`
    /// when connected.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            LinkState::Connected { .. } => None,
            LinkState::NotPaired => Some("not_paired"),
            LinkState::Connecting { .. } => Some("connecting"),
            LinkState::QrPending { .. } => Some("qr_pending"),
            LinkState::LoggedOut { .. } => Some("logged_out"),
            LinkState::Replaced => Some("replaced"),
        }
    }

    /// True when connected.
    pub fn is_connected(&self) -> bool {
        matches!(self, LinkState::Connected { .. })
    }

    /// The `/health` body for this state.
    pub fn health(&self, device: Option<String>, outbox_backlog: u64) -> HealthResponse {
        let device = match self {
            LinkState::Connected { jid, .. } => Some(jid.clone()),
            LinkState::Connecting { jid: Some(jid), .. } => Some(jid.clone()),
            _ => device,
        };
        HealthResponse {
            status: if self.is_connected() { "ok" } else { "down" }.to_owned(),
            device,
            connected: self.is_connected(),
            reason: self.reason().map(str::to_owned),
            outbox_backlog,
        }
    }
}
