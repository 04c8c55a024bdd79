//! Webhook signature scheme (ours; the Node service had only the shared-secret header).
//!
//! `X-BAILEYS-TIMESTAMP: <unix seconds>` and `X-BAILEYS-SIGNATURE: v1=<hex>` where `<hex>` is
//! HMAC-SHA256 keyed with the shared secret over the bytes `"{timestamp}." || body`. A receiver
//! accepts a signature only if it matches in constant time and the timestamp is within
//! [`MAX_SKEW_SECS`] of its own clock, so a captured request cannot be replayed later and an
//! altered body is rejected.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// How far (either way) a signed timestamp may be from the receiver's clock.
pub const MAX_SKEW_SECS: i64 = 300;

const VERSION_PREFIX: &str = "v1=";

/// Why a signature was refused. Every variant is the sender's fault.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureError {
    /// The timestamp header is not a decimal integer.
    #[error("timestamp header is not a unix time in seconds")]
    BadTimestamp,
    /// The timestamp is outside the accepted window.
    #[error("timestamp is outside the {MAX_SKEW_SECS} s window")]
    Expired,
    /// The signature header is not `v1=<64 hex digits>`.
    #[error("signature header is not v1=<hex>")]
    Malformed,
    /// Well-formed, but does not match.
    #[error("signature does not match")]
    Mismatch,
}

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("hmac takes any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The value of [`crate::SIGNATURE_HEADER`] for `body` sent at `timestamp` (unix seconds).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, &timestamp.to_string(), body)
        .finalize()
        .into_bytes();
    format!("{VERSION_PREFIX}{}", hex::encode(tag))
}

/// Checks a signature header against `body`, the timestamp header and the receiver's `now`.
pub fn verify(
    secret: &[u8],
    timestamp_header: &str,
    signature_header: &str,
    body: &[u8],
    now_unix_secs: i64,
) -> Result<(), SignatureError> {
    let ts_text = timestamp_header.trim();
    let ts: i64 = ts_text.parse().map_err(|_| SignatureError::BadTimestamp)?;
    if (now_unix_secs - ts).abs() > MAX_SKEW_SECS {
        return Err(SignatureError::Expired);
    }
    let hex_part = signature_header
        .trim()
        .strip_prefix(VERSION_PREFIX)
        .ok_or(SignatureError::Malformed)?;
    let given = hex::decode(hex_part).map_err(|_| SignatureError::Malformed)?;
    if given.len() != 32 {
        return Err(SignatureError::Malformed);
    }
    let expected = mac(secret, ts_text, body).finalize().into_bytes();
    if bool::from(expected.as_slice().ct_eq(&given)) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Constant-time comparison of a presented shared secret with the configured one.
///
/// Lengths are not secret (the configured value's length is fixed by the operator), but the
/// content is compared without early exit.
pub fn secret_matches(presented: &[u8], configured: &[u8]) -> bool {
    presented.len() == configured.len() && bool::from(presented.ct_eq(configured))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"s3cret-value";

    #[test]
    fn round_trip_accepts() {
        let body = br#"{"remoteJid":"972501234567@s.whatsapp.net"}"#;
        let sig = sign(SECRET, 1_700_000_000, body);
        assert!(sig.starts_with("v1=") && sig.len() == 3 + 64);
        assert_eq!(
            verify(SECRET, "1700000000", &sig, body, 1_700_000_010),
            Ok(())
        );
    }

    #[test]
    fn known_vector() {
        // Independent vector: printf '1700000000.{}' | openssl dgst -sha256 -hmac key
        assert_eq!(
            sign(b"key", 1_700_000_000, b"{}"),
            "v1=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
        );
    }

    #[test]
    fn altered_body_rejected() {
        let sig = sign(SECRET, 1_700_000_000, b"{\"text\":\"shalom\"}");
        assert_eq!(
            verify(
                SECRET,
                "1700000000",
                &sig,
                b"{\"text\":\"shal0m\"}",
                1_700_000_000
            ),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn replay_outside_window_rejected() {
        let sig = sign(SECRET, 1_700_000_000, b"{}");
        assert_eq!(
            verify(
                SECRET,
                "1700000000",
                &sig,
                b"{}",
                1_700_000_000 + MAX_SKEW_SECS + 1
            ),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            verify(
                SECRET,
                "1700000000",
                &sig,
                b"{}",
                1_700_000_000 - MAX_SKEW_SECS - 1
            ),
            Err(SignatureError::Expired)
        );
    }

    #[test]
    fn malformed_headers_rejected() {
        assert_eq!(
            verify(SECRET, "soon", "v1=00", b"", 0),
            Err(SignatureError::BadTimestamp)
        );
        assert_eq!(
            verify(SECRET, "0", "sha256=00", b"", 0),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(SECRET, "0", "v1=zz", b"", 0),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(SECRET, "0", "v1=0011", b"", 0),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn wrong_secret_rejected() {
        let sig = sign(SECRET, 5, b"x");
        assert_eq!(
            verify(b"other", "5", &sig, b"x", 5),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn secret_compare() {
        assert!(secret_matches(b"abc", b"abc"));
        assert!(!secret_matches(b"abd", b"abc"));
        assert!(!secret_matches(b"ab", b"abc"));
        assert!(!secret_matches(b"", b"abc"));
    }
}
