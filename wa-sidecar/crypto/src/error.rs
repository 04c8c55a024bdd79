//! The error type of this crate.

/// What went wrong in a crypto primitive, and whose fault it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// AES-GCM tag check failed: the peer's ciphertext (or its associated data) was altered,
    /// or it was sealed under another key or nonce.
    #[error("AES-GCM authentication failed (ciphertext altered, or wrong key/nonce)")]
    AeadAuthentication,
    /// AES-GCM refused to seal: the plaintext exceeds the algorithm's limit (caller's fault).
    #[error("AES-GCM refused to seal (plaintext too long)")]
    AeadSeal,
    /// AES-CBC ciphertext from the peer is empty or not a multiple of the 16-byte block.
    #[error("AES-CBC ciphertext length {0} is not a positive multiple of 16")]
    CbcLength(usize),
    /// AES-CBC plaintext padding is not valid PKCS#7 (altered ciphertext or wrong key).
    #[error("AES-CBC padding is invalid (ciphertext altered, or wrong key/iv)")]
    CbcPadding,
    /// HKDF was asked for more than 255 * 32 bytes (caller's fault).
    #[error("HKDF-SHA256 cannot produce {0} bytes (max 8160)")]
    HkdfLength(usize),
    /// A public key on the wire has the wrong length or type byte (peer's fault).
    #[error("malformed public key: {len} bytes, expected 32 raw or 33 with the 0x05 type byte")]
    KeyFormat {
        /// Length of the bytes that were offered as a key.
        len: usize,
    },
}
