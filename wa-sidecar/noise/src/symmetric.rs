//! The Noise symmetric state as WhatsApp uses it (fact sheet section 1.3; Baileys
//! `src/Utils/noise-handler.ts`, whatsmeow `socket/noisehandshake.go`, whatsapp-rust
//! `wacore/noise/src/state.rs`).

use sha2::{Digest, Sha256};
use wa_crypto::{CryptoError, aes256_gcm_open, aes256_gcm_seal, hkdf_sha256};
use zeroize::Zeroize;

/// `Noise_XX_25519_AESGCM_SHA256` padded with four NULs to exactly 32 bytes, so it is used as
/// the initial hash directly (whatsmeow `NoiseStartPattern`, Baileys `NOISE_MODE`).
pub const NOISE_XX_NAME: &[u8; 32] = b"Noise_XX_25519_AESGCM_SHA256\0\0\0\0";

/// AES-GCM nonce for counter `n`: eight zero bytes then `n` as a big-endian u32.
pub(crate) fn counter_nonce(n: u32) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[8..].copy_from_slice(&n.to_be_bytes());
    iv
}

/// Splits a 64-byte HKDF output into two 32-byte halves.
fn halves(out: &[u8]) -> ([u8; 32], [u8; 32]) {
    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    a.copy_from_slice(&out[..32]);
    b.copy_from_slice(&out[32..64]);
    (a, b)
}

/// Handshake hash `h`, chaining key `ck`, current cipher key `k` and its counter `n`.
pub(crate) struct SymmetricState {
    h: [u8; 32],
    ck: [u8; 32],
    k: [u8; 32],
    n: u32,
}

impl SymmetricState {
    /// Initialises for XX and mixes in the prologue (the WA header).
    pub(crate) fn new(prologue: &[u8]) -> Self {
        Self::with_protocol(NOISE_XX_NAME, prologue)
    }

    /// Initialises for the protocol `name` (zero-padded to 32 bytes, or its SHA-256 when longer,
    /// Noise spec section 5.2 `InitializeSymmetric`) and mixes in the prologue.
    pub(crate) fn with_protocol(name: &[u8], prologue: &[u8]) -> Self {
        let mut h = [0u8; 32];
        if name.len() <= 32 {
            h[..name.len()].copy_from_slice(name);
        } else {
            h = Sha256::digest(name).into();
        }
        let mut state = Self {
            h,
            ck: h,
            k: h,
            n: 0,
        };
        state.mix_hash(prologue);
        state
    }

    /// `h = SHA256(h || data)`.
    pub(crate) fn mix_hash(&mut self, data: &[u8]) {
        let mut hasher = Sha256::new();
        hasher.update(self.h);
        hasher.update(data);
        self.h = hasher.finalize().into();
    }

    /// `ck, k = HKDF(salt = ck, ikm, info = "", 64)`; `n = 0`.
    pub(crate) fn mix_key(&mut self, ikm: &[u8]) {
        let mut out = hkdf_sha256(&self.ck, ikm, &[], 64).expect("64 bytes is within HKDF's limit");
        (self.ck, self.k) = halves(&out);
        out.zeroize();
        self.n = 0;
    }

    fn next_nonce(&mut self) -> [u8; 12] {
        let iv = counter_nonce(self.n);
        // A handshake uses at most two nonces per key, far below u32::MAX.
        self.n = self.n.wrapping_add(1);
        iv
    }

    /// AES-GCM with `aad = h`, then `MixHash(ciphertext)`.
    pub(crate) fn encrypt_and_hash(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let iv = self.next_nonce();
        let ct = aes256_gcm_seal(&self.k, &iv, &self.h, plaintext)?;
        self.mix_hash(&ct);
        Ok(ct)
    }

    /// Opens with `aad = h`, then `MixHash(ciphertext)`.
    pub(crate) fn decrypt_and_hash(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let iv = self.next_nonce();
        let pt = aes256_gcm_open(&self.k, &iv, &self.h, ciphertext)?;
        self.mix_hash(ciphertext);
        Ok(pt)
    }

    /// `HKDF(salt = ck, ikm = "", info = "", 64)`: (first half, second half). The client writes
    /// with the first half and reads with the second; the server the reverse.
    pub(crate) fn split(mut self) -> ([u8; 32], [u8; 32]) {
        let mut out = hkdf_sha256(&self.ck, &[], &[], 64).expect("64 bytes is within HKDF's limit");
        let keys = halves(&out);
        out.zeroize();
        self.zeroize_all();
        keys
    }

    fn zeroize_all(&mut self) {
        self.ck.zeroize();
        self.k.zeroize();
    }
}

impl Drop for SymmetricState {
    fn drop(&mut self) {
        self.zeroize_all();
    }
}
