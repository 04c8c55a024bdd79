//! Crypto primitives shared by the WhatsApp protocol crates (Noise, Signal, pairing, media).
//!
//! Everything here is sans-IO: no clock, no OS randomness. Callers pass an
//! `&mut impl rand_core::CryptoRngCore` wherever randomness is needed.
//!
//! * [`KeyPair`]: X25519 key pairs (clamped like libsignal) and Diffie-Hellman.
//! * [`xeddsa_sign`] / [`xeddsa_verify`]: Signal's XEdDSA signatures over Curve25519 keys.
//! * [`with_djb_prefix`] / [`strip_djb_prefix`] / [`public_key_from_wire`]: the 0x05 key-type byte.
//! * [`hkdf_sha256`], [`hmac_sha256`], [`pbkdf2_sha256`], [`aes256_gcm_seal`] /
//!   [`aes256_gcm_open`], [`aes256_cbc_encrypt`] / [`aes256_cbc_decrypt`], [`aes256_ctr_apply`].

mod error;
mod keys;
mod symmetric;
mod xeddsa;

pub use error::CryptoError;
pub use keys::{DJB_TYPE, KeyPair, public_key_from_wire, strip_djb_prefix, with_djb_prefix};
pub use symmetric::{
    aes256_cbc_decrypt, aes256_cbc_encrypt, aes256_ctr_apply, aes256_gcm_open, aes256_gcm_seal,
    ct_eq, hkdf_sha256, hmac_sha256, hmac_sha256_parts, pbkdf2_sha256,
};
pub use xeddsa::{xeddsa_sign, xeddsa_verify};
