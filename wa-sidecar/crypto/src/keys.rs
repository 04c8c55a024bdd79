//! X25519 key pairs and the Signal "DJB" key-type prefix.

use rand_core::CryptoRngCore;
use subtle::ConstantTimeEq;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroize;

use crate::CryptoError;

/// Signal's key-type byte for Curve25519 ("DJB") public keys: inside Signal protobufs public keys
/// are 33 bytes, this byte followed by the 32-byte Montgomery u-coordinate.
/// (libsignal `rust/protocol/src/curve.rs`, `KeyType::Djb = 0x05`.)
pub const DJB_TYPE: u8 = 0x05;

/// Clamps a Curve25519 private scalar as X25519 (RFC 7748) and libsignal do.
pub(crate) fn clamp(mut k: [u8; 32]) -> [u8; 32] {
    k[0] &= 248;
    k[31] &= 127;
    k[31] |= 64;
    k
}

/// An X25519 key pair. The private key is wiped from memory when the pair is dropped, and
/// equality compares private keys in constant time.
#[derive(Clone)]
pub struct KeyPair {
    /// The private scalar (clamped when generated here).
    pub private: [u8; 32],
    /// The public key: the Montgomery u-coordinate, 32 bytes, without the 0x05 prefix.
    pub public: [u8; 32],
}

impl KeyPair {
    /// Generates a new key pair from `rng`; the private key is clamped, as libsignal does.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        let pair = Self::from_private(clamp(bytes));
        bytes.zeroize();
        pair
    }

    /// Rebuilds a key pair from a stored private key (kept as given; X25519 clamps on use).
    pub fn from_private(private: [u8; 32]) -> Self {
        let secret = StaticSecret::from(private);
        let public = PublicKey::from(&secret).to_bytes();
        Self { private, public }
    }

    /// X25519 Diffie-Hellman with `their_public`. A low-order peer key gives all zeros; callers
    /// that must detect that can compare the result with `[0; 32]`.
    pub fn dh(&self, their_public: &[u8; 32]) -> [u8; 32] {
        let secret = StaticSecret::from(self.private);
        secret
            .diffie_hellman(&PublicKey::from(*their_public))
            .to_bytes()
    }

    /// Signs `message` with XEdDSA, drawing the 64 random bytes from `rng`.
    pub fn sign(&self, message: &[u8], rng: &mut impl CryptoRngCore) -> [u8; 64] {
        let mut random = [0u8; 64];
        rng.fill_bytes(&mut random);
        let sig = crate::xeddsa_sign(&self.private, message, &random);
        random.zeroize();
        sig
    }

    /// The public key with the 0x05 type prefix (33 bytes), as Signal protobufs carry it.
    pub fn public_with_prefix(&self) -> [u8; 33] {
        with_djb_prefix(&self.public)
    }
}

impl PartialEq for KeyPair {
    fn eq(&self, other: &Self) -> bool {
        let private_eq: bool = self.private.ct_eq(&other.private).into();
        private_eq && self.public == other.public
    }
}

impl Eq for KeyPair {}

impl Drop for KeyPair {
    fn drop(&mut self) {
        self.private.zeroize();
    }
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("private", &"<redacted>")
            .field("public", &HexBytes(&self.public))
            .finish()
    }
}

struct HexBytes<'a>(&'a [u8]);

impl std::fmt::Debug for HexBytes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Adds the 0x05 type byte in front of a raw 32-byte public key.
pub fn with_djb_prefix(public: &[u8; 32]) -> [u8; 33] {
    let mut out = [0u8; 33];
    out[0] = DJB_TYPE;
    out[1..].copy_from_slice(public);
    out
}

/// Strips the 0x05 type byte from a 33-byte Signal public key; anything else is refused.
pub fn strip_djb_prefix(key: &[u8]) -> Result<[u8; 32], CryptoError> {
    match key {
        [DJB_TYPE, rest @ ..] if rest.len() == 32 => {
            let mut out = [0u8; 32];
            out.copy_from_slice(rest);
            Ok(out)
        }
        _ => Err(CryptoError::KeyFormat { len: key.len() }),
    }
}

/// Accepts a public key as it appears on the wire: 32 raw bytes, or 33 bytes with the 0x05 prefix.
pub fn public_key_from_wire(key: &[u8]) -> Result<[u8; 32], CryptoError> {
    if let Ok(raw) = <[u8; 32]>::try_from(key) {
        return Ok(raw);
    }
    strip_djb_prefix(key)
}
