//! WhatsApp plaintext padding for `<enc v="2">` payloads (fact sheet section 6.4).
//!
//! The encoded `Message` protobuf is followed by `P` copies of the byte `P`. We pad with
//! 1..=15 bytes (whatsmeow `padMessage` in `message.go`); Baileys pads with 1..=16
//! (`writeRandomPadMax16`), so unpadding accepts any length the last byte announces as long
//! as every pad byte equals it (whatsapp-rust `wacore/src/messages.rs` checks every byte too).

use rand_core::CryptoRngCore;

use crate::SignalError;

/// Appends 1..=15 random-length padding bytes, each equal to the pad length.
pub fn pad_message(plaintext: &[u8], rng: &mut impl CryptoRngCore) -> Vec<u8> {
    let mut byte = [0u8; 1];
    rng.fill_bytes(&mut byte);
    let mut pad = byte[0] & 0x0F;
    if pad == 0 {
        pad = 0x0F;
    }
    let mut out = Vec::with_capacity(plaintext.len() + usize::from(pad));
    out.extend_from_slice(plaintext);
    out.resize(plaintext.len() + usize::from(pad), pad);
    out
}

/// Strips WhatsApp padding, checking that every pad byte equals the pad length.
///
/// Returns [`SignalError::InvalidPadding`] for an empty input, a zero pad byte, a pad longer
/// than the input, or pad bytes that disagree.
pub fn unpad_message(padded: &[u8]) -> Result<&[u8], SignalError> {
    let &last = padded.last().ok_or(SignalError::InvalidPadding)?;
    let pad = usize::from(last);
    if pad == 0 || pad > padded.len() {
        return Err(SignalError::InvalidPadding);
    }
    let (body, tail) = padded.split_at(padded.len() - pad);
    if tail.iter().any(|&b| b != last) {
        return Err(SignalError::InvalidPadding);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn pad_then_unpad_returns_the_message_for_every_pad_length() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let mut seen = [false; 16];
        for _ in 0..500 {
            let padded = pad_message(b"hello", &mut rng);
            let pad = padded.len() - 5;
            assert!((1..=15).contains(&pad), "pad {pad} out of range");
            seen[pad] = true;
            assert_eq!(unpad_message(&padded).unwrap(), b"hello");
        }
        assert!(
            seen[1..=15].iter().all(|&s| s),
            "every pad length 1..=15 occurs"
        );
    }

    #[test]
    fn baileys_sixteen_byte_padding_is_accepted() {
        let mut padded = b"hi".to_vec();
        padded.extend_from_slice(&[16u8; 16]);
        assert_eq!(unpad_message(&padded).unwrap(), b"hi");
    }

    #[test]
    fn malformed_padding_is_rejected() {
        assert_eq!(unpad_message(&[]), Err(SignalError::InvalidPadding));
        assert_eq!(unpad_message(b"abc\0"), Err(SignalError::InvalidPadding));
        assert_eq!(unpad_message(&[5, 5, 5]), Err(SignalError::InvalidPadding));
        assert_eq!(unpad_message(b"ab\x02\x03\x03\x03"), Ok(&b"ab\x02"[..]));
        assert_eq!(
            unpad_message(b"ab\x01\x03\x03"),
            Err(SignalError::InvalidPadding)
        );
    }
}
