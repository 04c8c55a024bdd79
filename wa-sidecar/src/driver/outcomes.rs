//! What the driver is configured with and what its sessions, pairing and reconnect loop end
//! with.

use wa_core::CertPolicy;

/// Where to connect and whom to trust.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// `WA_WS_URL`.
    pub ws_url: String,
    /// Which certificate root the server's chain must lead to.
    pub cert_policy: CertPolicy,
}

/// What a session should achieve before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// Stay connected until the server or shutdown ends it.
    Serve,
    /// Return as soon as the session is logged in (`login`, benchmarks).
    UntilConnected,
    /// Log in, then unlink the device (`logout`).
    Logout,
}

/// How one session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEnd {
    /// Logged in (only for [`Goal::UntilConnected`]).
    Connected {
        /// Our device JID.
        jid: String,
    },
    /// The server asked for a new connection now (515, after pairing).
    RestartRequired,
    /// The device is logged out for good.
    LoggedOut {
        /// The server's reason.
        reason: String,
    },
    /// Another client took the session.
    Replaced,
    /// The connection failed or died; retry with backoff.
    Disconnected {
        /// What happened (connect error, handshake refusal, keepalive, socket close).
        reason: String,
    },
    /// Every QR code expired unscanned (or the pairing code was not entered in time).
    QrExhausted,
    /// The server did not unlink the device (only for [`Goal::Logout`]); it stays linked.
    LogoutFailed {
        /// The server's error code, when it answered with one.
        code: Option<u16>,
        /// The server's answer, or what happened instead.
        reason: String,
    },
    /// Shutdown was requested.
    Shutdown,
}

/// What pairing by phone number reports while it runs (see [`Driver::pairing_notices`](super::Driver::pairing_notices)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairNotice {
    /// Show this code (`XXXX-XXXX`) to be entered on the phone before `expires_at` (unix
    /// millis).
    Code {
        /// The code.
        code: String,
        /// When it stops working.
        expires_at: u64,
    },
    /// A step went wrong; pairing may still succeed (e.g. the code is entered again).
    Problem(String),
}

/// How the reconnect loop ([`Driver::run`](super::Driver::run)) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    /// No paired device in the store.
    NotPaired,
    /// The server logged the device out (reason persisted).
    LoggedOut(String),
    /// Another client took the session; we stopped.
    Replaced,
    /// Shutdown was requested.
    Shutdown,
}

/// How pairing ([`Driver::pair`](super::Driver::pair)) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairEnd {
    /// Paired, saved and logged in.
    Paired {
        /// Our device JID.
        jid: String,
    },
    /// No QR code was scanned in time (or the pairing code was not entered in time).
    QrExhausted,
    /// The connection failed during pairing.
    Failed(String),
    /// Shutdown was requested.
    Shutdown,
}
