//! Handshake errors.

use crate::cert::CertError;

/// Which handshake step failed to decrypt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeStep {
    /// ServerHello.static (the server's static key).
    ServerStatic,
    /// ServerHello.payload (the certificate chain).
    CertChain,
    /// ClientFinish.static (the client's static key).
    ClientStatic,
    /// ClientFinish.payload (the ClientPayload).
    ClientPayload,
}

/// Why a handshake failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// The peer's handshake message is not decodable, lacks a field or has a wrong length.
    #[error("malformed handshake message from peer: {0}")]
    Malformed(&'static str),
    /// The peer's encrypted field failed authentication (tampered, or the peer used other keys).
    #[error("handshake decryption failed at {0:?}")]
    Decrypt(HandshakeStep),
    /// The peer's public key gives an all-zero Diffie-Hellman result (low-order point).
    #[error("peer sent a low-order public key")]
    LowOrderKey,
    /// The server's certificate chain was refused.
    #[error("server certificate rejected: {0}")]
    Cert(#[from] CertError),
    /// Sealing our own message failed (payload too large; caller's fault).
    #[error("could not encrypt our handshake message (payload too large)")]
    Seal,
}
