//! XEdDSA signatures: Ed25519-style Schnorr signatures made with an X25519 (Montgomery) key.
//!
//! Behaviour follows Signal's implementation (libsignal `rust/core/src/curve/curve25519.rs`,
//! and libsignal-protocol-c `ed25519/additions/curve_sigs.c`), which differs from the XEdDSA
//! specification in one respect: instead of negating the private scalar so that the Edwards
//! public key is "positive", the signer stores the sign bit of its Edwards public key in the
//! unused top bit of `s` (bit 7 of byte 63), and the verifier uses that bit to pick the Edwards
//! point for the Montgomery key. Signatures made the specification's way (sign bit 0) verify too.

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::montgomery::MontgomeryPoint;
use curve25519_dalek::scalar::Scalar;
use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::keys::clamp;

/// SHA-512 of the concatenated parts, reduced to a scalar mod the group order.
fn hash_to_scalar(parts: &[&[u8]]) -> Scalar {
    let mut hasher = Sha512::new();
    for part in parts {
        hasher.update(part);
    }
    let wide: [u8; 64] = hasher.finalize().into();
    Scalar::from_bytes_mod_order_wide(&wide)
}

/// Signs `message` with the X25519 private key `private` (clamped before use).
///
/// `random64` must be 64 fresh random bytes; it is hashed with the key and message to derive the
/// nonce (the "hash1" prefix 0xFE followed by 31 0xFF bytes, as in the XEdDSA specification).
pub fn xeddsa_sign(private: &[u8; 32], message: &[u8], random64: &[u8; 64]) -> [u8; 64] {
    let mut k = clamp(*private);
    let a = Scalar::from_bytes_mod_order(k);
    let big_a = EdwardsPoint::mul_base(&a).compress();
    let sign_bit = big_a.as_bytes()[31] & 0x80;

    let mut prefix = [0xFFu8; 32];
    prefix[0] = 0xFE;
    let r = hash_to_scalar(&[&prefix, &k, message, random64]);
    k.zeroize();
    let big_r = EdwardsPoint::mul_base(&r).compress();
    let h = hash_to_scalar(&[big_r.as_bytes(), big_a.as_bytes(), message]);
    let s = h * a + r;

    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(big_r.as_bytes());
    sig[32..].copy_from_slice(s.as_bytes());
    sig[63] &= 0x7F;
    sig[63] |= sign_bit;
    sig
}

/// Verifies an XEdDSA `signature` over `message` by the X25519 public key `public_montgomery`.
///
/// Returns `false` (never panics) for a wrong signature, a non-canonical `s` (not below the
/// group order), a public key that is not a canonical u-coordinate of a point on the curve, or a
/// small-order public key.
pub fn xeddsa_verify(public_montgomery: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    let sign = (signature[63] & 0x80) >> 7;
    let Some(big_a) = MontgomeryPoint(*public_montgomery).to_edwards(sign) else {
        return false;
    };
    // Non-canonical encodings of u (>= p, or bit 255 set) do not survive the round trip.
    if big_a.to_montgomery().to_bytes() != *public_montgomery || big_a.is_small_order() {
        return false;
    }

    let mut s_bytes = [0u8; 32];
    s_bytes.copy_from_slice(&signature[32..]);
    s_bytes[31] &= 0x7F;
    let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)) else {
        return false;
    };
    let r_bytes = &signature[..32];
    // R must decode to a point; otherwise the signature is malformed.
    let Ok(r_arr) = <[u8; 32]>::try_from(r_bytes) else {
        return false;
    };
    if CompressedEdwardsY(r_arr).decompress().is_none() {
        return false;
    }

    let big_a_bytes = big_a.compress();
    let h = hash_to_scalar(&[r_bytes, big_a_bytes.as_bytes(), message]);
    // R' = s*B - h*A must equal R.
    let check = EdwardsPoint::vartime_double_scalar_mul_basepoint(&h, &(-big_a), &s).compress();
    bool::from(check.as_bytes().ct_eq(r_bytes))
}
