//! Errors of the Signal layer, each saying whose fault it is.

use thiserror::Error;

/// Everything that can go wrong while setting up sessions or encrypting/decrypting.
///
/// Variants about malformed or forged input (`InvalidMessage`, `InvalidMac`,
/// `InvalidSignature`, `DuplicateMessage`, `TooFarInFuture`, ...) are the *peer's* fault (or an
/// attacker's); `NoSession`, `InvalidPreKeyId` and `NoSenderKey` mean *our* state does not
/// match what the peer assumed (usually answered with a retry receipt); `InvalidState` means a
/// stored record is corrupt (our storage's fault).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SignalError {
    /// The ciphertext could not be parsed (truncated, bad protobuf, missing field, bad key).
    #[error("invalid message from peer: {0}")]
    InvalidMessage(&'static str),
    /// The message uses a protocol version other than 3.
    #[error("unsupported message version {0:#04x} (only 0x33 is spoken)")]
    UnsupportedVersion(u8),
    /// The message authentication code did not verify: forged, corrupted, or meant for another
    /// session.
    #[error("message MAC did not verify")]
    InvalidMac,
    /// A signature (signed prekey or sender-key message) did not verify.
    #[error("signature did not verify: {0}")]
    InvalidSignature(&'static str),
    /// The counter was already used on this chain: a replay or a redelivery after a restart.
    #[error("duplicate message: counter {counter} already used")]
    DuplicateMessage {
        /// The replayed counter (or sender-key iteration).
        counter: u32,
    },
    /// The message is further ahead than we are willing to skip.
    #[error("message {counter} is too far in the future (next expected {next}, limit {limit})")]
    TooFarInFuture {
        /// Counter carried by the message.
        counter: u32,
        /// Next counter we expected on that chain.
        next: u32,
        /// Maximum number of skipped messages accepted.
        limit: u32,
    },
    /// There is no session with this peer (or none that could decrypt this message).
    #[error("no session with this peer")]
    NoSession,
    /// The message refers to a one-time prekey we do not have (already used or never issued).
    #[error("unknown one-time prekey id {0}")]
    InvalidPreKeyId(u32),
    /// The message refers to a signed prekey other than the one supplied.
    #[error("unknown signed prekey id {0}")]
    InvalidSignedPreKeyId(u32),
    /// The padded plaintext does not end with valid WhatsApp padding.
    #[error("invalid plaintext padding")]
    InvalidPadding,
    /// No sender-key state for this key id in the group record.
    #[error("no sender key state for key id {0}")]
    NoSenderKey(u32),
    /// AES-CBC decryption failed (bad padding after a valid MAC: the sender's bug).
    #[error("ciphertext did not decrypt")]
    DecryptionFailed,
    /// A stored record could not be decoded or is internally inconsistent.
    #[error("stored state is invalid: {0}")]
    InvalidState(&'static str),
}
