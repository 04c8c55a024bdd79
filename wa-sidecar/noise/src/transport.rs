//! The transport phase after `Split`: AES-256-GCM per direction, counter nonces, empty AAD
//! (fact sheet section 1.5; Baileys `TransportState`, whatsmeow `socket/noisesocket.go`).

use wa_crypto::{aes256_gcm_open, aes256_gcm_seal};
use zeroize::Zeroize;

use crate::symmetric::counter_nonce;

/// Transport errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The peer's frame failed authentication (altered, replayed, reordered or wrong key).
    #[error("frame failed to decrypt (altered, out of order, or wrong key)")]
    Decrypt,
    /// 2^32 frames were used in one direction; the connection must be re-established.
    #[error("nonce counter exhausted; reconnect")]
    CounterExhausted,
    /// AES-GCM refused to seal (plaintext too long; caller's fault).
    #[error("frame too long to encrypt")]
    Seal,
}

/// An established Noise transport: one key and counter per direction.
pub struct Transport {
    write_key: [u8; 32],
    read_key: [u8; 32],
    write_n: Option<u32>,
    read_n: Option<u32>,
}

impl Transport {
    pub(crate) fn new(write_key: [u8; 32], read_key: [u8; 32]) -> Self {
        Self {
            write_key,
            read_key,
            write_n: Some(0),
            read_n: Some(0),
        }
    }

    /// Encrypts one outgoing frame body (tag appended) and advances the write counter.
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, TransportError> {
        let n = self.write_n.ok_or(TransportError::CounterExhausted)?;
        let ct = aes256_gcm_seal(&self.write_key, &counter_nonce(n), &[], plaintext)
            .map_err(|_| TransportError::Seal)?;
        self.write_n = n.checked_add(1);
        Ok(ct)
    }

    /// Decrypts one incoming frame body. The read counter advances even when authentication
    /// fails (as whatsmeow does), so one bad frame does not desynchronise the frames after it.
    pub fn decrypt(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, TransportError> {
        let n = self.read_n.ok_or(TransportError::CounterExhausted)?;
        self.read_n = n.checked_add(1);
        aes256_gcm_open(&self.read_key, &counter_nonce(n), &[], ciphertext)
            .map_err(|_| TransportError::Decrypt)
    }
}

impl Drop for Transport {
    fn drop(&mut self) {
        self.write_key.zeroize();
        self.read_key.zeroize();
    }
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("write_n", &self.write_n)
            .field("read_n", &self.read_n)
            .finish_non_exhaustive()
    }
}
