//! Key derivations of X3DH and the double ratchet (fact sheet section 6.2; R
//! `wacore/libsignal/src/protocol/ratchet/keys.rs`, libsignal-node `src/session_builder.js`,
//! `src/session_cipher.js`, `src/crypto.js`).

use wa_crypto::{KeyPair, hkdf_sha256, hmac_sha256};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::keys::PublicKey;

/// HKDF info for the X3DH master secret.
const INFO_TEXT: &[u8] = b"WhisperText";
/// HKDF info for a root-chain step.
const INFO_RATCHET: &[u8] = b"WhisperRatchet";
/// HKDF info for per-message keys.
const INFO_MESSAGE_KEYS: &[u8] = b"WhisperMessageKeys";
/// HMAC input giving a message-key seed from a chain key.
const MESSAGE_KEY_SEED: u8 = 0x01;
/// HMAC input giving the next chain key.
const CHAIN_KEY_SEED: u8 = 0x02;

/// HKDF-SHA256 into a fixed-size array. The lengths used here (at most 80 bytes) are far below
/// HKDF's limit, so failure is impossible.
pub(crate) fn hkdf<const N: usize>(salt: &[u8], ikm: &[u8], info: &[u8]) -> [u8; N] {
    let mut okm = hkdf_sha256(salt, ikm, info, N).expect("HKDF output of at most 80 bytes");
    let mut out = [0u8; N];
    out.copy_from_slice(&okm);
    okm.zeroize();
    out
}

/// A chain key and the index of the next message it will produce.
#[derive(Clone, PartialEq, Eq, Debug, Zeroize, ZeroizeOnDrop)]
pub(crate) struct ChainKey {
    pub(crate) key: [u8; 32],
    pub(crate) index: u32,
}

impl ChainKey {
    /// The message-key seed for message `self.index`: `HMAC-SHA256(CK, 0x01)`.
    pub(crate) fn message_key_seed(&self) -> [u8; 32] {
        hmac_sha256(&self.key, &[MESSAGE_KEY_SEED])
    }

    /// The next chain key: `HMAC-SHA256(CK, 0x02)`, index + 1.
    pub(crate) fn next(&self) -> ChainKey {
        ChainKey {
            key: hmac_sha256(&self.key, &[CHAIN_KEY_SEED]),
            index: self.index.wrapping_add(1),
        }
    }
}

/// Per-message keys: `HKDF(seed, zero salt, "WhisperMessageKeys", 80)`.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct MessageKeys {
    pub(crate) cipher_key: [u8; 32],
    pub(crate) mac_key: [u8; 32],
    pub(crate) iv: [u8; 16],
}

impl MessageKeys {
    /// Expands a message-key seed.
    pub(crate) fn derive(seed: &[u8; 32]) -> Self {
        let mut okm: [u8; 80] = hkdf(&[0u8; 32], seed, INFO_MESSAGE_KEYS);
        let mut keys = MessageKeys {
            cipher_key: [0; 32],
            mac_key: [0; 32],
            iv: [0; 16],
        };
        keys.cipher_key.copy_from_slice(&okm[..32]);
        keys.mac_key.copy_from_slice(&okm[32..64]);
        keys.iv.copy_from_slice(&okm[64..80]);
        okm.zeroize();
        keys
    }
}

/// One root-chain step: `HKDF(ikm = DH(ours, theirs), salt = root key, "WhisperRatchet", 64)`
/// gives the new root key and a fresh chain key (index 0).
pub(crate) fn root_step(
    root_key: &[u8; 32],
    their_ratchet: &PublicKey,
    our_ratchet: &KeyPair,
) -> ([u8; 32], ChainKey) {
    let mut shared = our_ratchet.dh(&their_ratchet.0);
    let out = split_64(&hkdf(root_key, &shared, INFO_RATCHET));
    shared.zeroize();
    out
}

/// The X3DH master secret → (root key, chain key), with the 0xFF×32 discontinuity prefix and
/// `HKDF(zero salt, "WhisperText")`. `dh_parts` are the 3 or 4 agreements in protocol order.
pub(crate) fn x3dh_derive(dh_parts: &[[u8; 32]]) -> ([u8; 32], ChainKey) {
    let mut secret = Vec::with_capacity(32 * (dh_parts.len() + 1));
    secret.extend_from_slice(&[0xFF; 32]);
    for part in dh_parts {
        secret.extend_from_slice(part);
    }
    let out = split_64(&hkdf(&[0u8; 32], &secret, INFO_TEXT));
    secret.zeroize();
    out
}

fn split_64(okm: &[u8; 64]) -> ([u8; 32], ChainKey) {
    let mut root = [0u8; 32];
    let mut chain = [0u8; 32];
    root.copy_from_slice(&okm[..32]);
    chain.copy_from_slice(&okm[32..]);
    (
        root,
        ChainKey {
            key: chain,
            index: 0,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_steps_are_hmac_of_one_and_two() {
        let ck = ChainKey {
            key: [9; 32],
            index: 4,
        };
        assert_eq!(ck.message_key_seed(), hmac_sha256(&[9; 32], &[1]));
        let next = ck.next();
        assert_eq!(next.key, hmac_sha256(&[9; 32], &[2]));
        assert_eq!(next.index, 5);
    }

    #[test]
    fn message_keys_split_eighty_bytes() {
        let seed = [3u8; 32];
        let okm = hkdf_sha256(&[0; 32], &seed, b"WhisperMessageKeys", 80).unwrap();
        let keys = MessageKeys::derive(&seed);
        assert_eq!(&keys.cipher_key[..], &okm[..32]);
        assert_eq!(&keys.mac_key[..], &okm[32..64]);
        assert_eq!(&keys.iv[..], &okm[64..]);
    }
}
