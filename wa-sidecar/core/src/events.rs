//! What a [`crate::Connection`] reports to its driver, and its errors.

use wa_binary::{Jid, Node};
use wa_noise::{FrameError, HandshakeError, TransportError};

/// Something the driver must act on. Drain with [`crate::Connection::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnEvent {
    /// Show this QR code until `expires_at` (unix millis); a new `Qr` follows with the next ref.
    /// `data` is `https://wa.me/settings/linked_devices#ref,noise,identity,adv,1` (the URL prefix
    /// as Baileys and whatsmeow emit it).
    Qr {
        /// The string to render as a QR code.
        data: String,
        /// When this code stops being valid (unix millis).
        expires_at: u64,
    },
    /// Every ref the server issued has expired without a scan (or, when pairing by code,
    /// without the code being entered). The connection is closed; the CLI should say so and
    /// exit non-zero.
    QrExhausted,
    /// Pairing by phone number ([`crate::Connection::use_pairing_code`]): the server accepted
    /// the code request; show `code` (`XXXX-XXXX`) to be typed into the phone (WhatsApp >
    /// Linked devices > Link a device > Link with phone number instead) before `expires_at`
    /// (unix millis). Sent once, instead of `Qr` events.
    PairCode {
        /// The code as the phone shows it, `XXXX-XXXX`.
        code: String,
        /// When the server's refs run out (unix millis).
        expires_at: u64,
    },
    /// A pairing-by-code step went wrong without ending the connection: a malformed or
    /// forged link-code notification (ignored), or the phone refused our key bundle (most
    /// likely a mistyped code; it can be entered again). The device state is unchanged.
    PairingProblem {
        /// What happened, for the user.
        reason: String,
    },
    /// [`crate::Connection::device`] changed: persist it NOW, before sending the next
    /// [`crate::Connection::poll_transmit`] (the connection holds back transmits until this
    /// event has been polled).
    DeviceChanged,
    /// Pairing succeeded (the signed identity is stored). Expect `RestartRequired` next.
    Paired {
        /// Our device JID (`<phone>:<device>@s.whatsapp.net`).
        jid: Jid,
        /// Our LID, when the server sent one.
        lid: Option<Jid>,
        /// The primary phone's platform (`android`, `smba`, ...).
        platform: String,
    },
    /// Logged in and ready: `<success>`, prekeys checked, `<active/>` acknowledged.
    Connected {
        /// Our device JID.
        jid: Jid,
        /// Our LID, when known.
        lid: Option<Jid>,
    },
    /// Stream error 515: close this socket and reconnect at once with a new `Connection`.
    RestartRequired,
    /// The session is gone (device removed, failure 401/403/406, stream error 401/516, or our
    /// own logout). Stop; do not reconnect; the stored device is useless.
    LoggedOut {
        /// Why, for logs and the health endpoint.
        reason: String,
    },
    /// Another client took over this session (conflict `replaced`). Stop; do not fight.
    Replaced,
    /// The server did not unlink the device ([`crate::Connection::logout`]): it answered with
    /// an error, or not in time. The device is still linked; the connection stays open.
    LogoutFailed {
        /// The server's error code, when it answered with one.
        code: Option<u16>,
        /// The server's answer (`<code> <text>`) or what happened instead.
        reason: String,
    },
    /// The connection is dead (no answer to a keepalive, handshake timeout, a stream error
    /// other than the above, a protocol error). Reconnect with backoff.
    Disconnected {
        /// Why, for logs and the health endpoint.
        reason: String,
    },
    /// A stanza this layer does not handle itself (messages, receipts, notifications, results of
    /// IQs sent with [`crate::Connection::send_iq`]).
    Node(Node),
}

/// A fatal problem with the bytes the server sent. The connection is closed when
/// [`crate::Connection::handle_bytes`] returns one, and a [`ConnEvent::Disconnected`] is queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnError {
    /// The server's framing is broken (e.g. an oversized frame).
    #[error("server framing error: {0}")]
    Frame(#[from] FrameError),
    /// The Noise handshake failed (bad ServerHello, untrusted certificate chain, ...).
    #[error("handshake failed: {0}")]
    Handshake(#[from] HandshakeError),
    /// A transport frame failed to decrypt: the stream is corrupt or not from the server.
    #[error("transport error: {0}")]
    Transport(#[from] TransportError),
}
