//! Long-term keys: identity, registration id, signed prekey, one-time prekeys, and the
//! [`PreKeyBundle`] a peer publishes (fact sheet section 6.1).

use rand_core::CryptoRngCore;
use wa_crypto::{DJB_TYPE, KeyPair, xeddsa_verify};

use crate::SignalError;

/// Largest one-time prekey id: ids travel as 3 bytes big-endian (R caps at 16 777 215 and wraps).
pub const MAX_PRE_KEY_ID: u32 = 0x00FF_FFFF;

/// A Curve25519 public key (32-byte Montgomery u-coordinate). Signal protobufs carry it with a
/// 0x05 type byte in front (33 bytes); the WhatsApp XMPP layer carries the raw 32 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// Parses a key as found inside a Signal protobuf: exactly 33 bytes starting with 0x05.
    pub fn from_signal_bytes(bytes: &[u8]) -> Result<Self, SignalError> {
        match bytes {
            [DJB_TYPE, rest @ ..] => rest
                .try_into()
                .map(Self)
                .map_err(|_| SignalError::InvalidMessage("public key is not 33 bytes")),
            _ => Err(SignalError::InvalidMessage(
                "public key lacks the 0x05 type byte",
            )),
        }
    }

    /// Parses a key as found on the XMPP layer: 32 raw bytes, or 33 with the 0x05 type byte.
    pub fn from_wire(bytes: &[u8]) -> Result<Self, SignalError> {
        wa_crypto::public_key_from_wire(bytes)
            .map(Self)
            .map_err(|_| SignalError::InvalidMessage("malformed public key"))
    }

    /// The 33-byte form (0x05 prefix) used inside Signal protobufs, MAC inputs and signatures.
    pub fn serialize(&self) -> [u8; 33] {
        wa_crypto::with_djb_prefix(&self.0)
    }

    /// Verifies an XEdDSA signature made with the private half of this key.
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        xeddsa_verify(&self.0, message, signature)
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey(")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

/// The public half of a key pair.
pub fn public_of(pair: &KeyPair) -> PublicKey {
    PublicKey(pair.public)
}

/// Generates a long-term identity key pair.
pub fn generate_identity_key_pair(rng: &mut impl CryptoRngCore) -> KeyPair {
    KeyPair::generate(rng)
}

/// Generates a registration id in 1..=16383 (14 bits, like Baileys' `generateRegistrationId`),
/// never zero because libsignal treats 0 as "absent". Sent on the wire as 4 bytes big-endian.
pub fn generate_registration_id(rng: &mut impl CryptoRngCore) -> u32 {
    loop {
        let id = rng.next_u32() & 0x3FFF;
        if id != 0 {
            return id;
        }
    }
}

/// A one-time prekey we issued (its private half must be kept until a pkmsg consumes it).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PreKeyRecord {
    /// Id, 1..=[`MAX_PRE_KEY_ID`].
    pub id: u32,
    /// The key pair.
    pub key_pair: KeyPair,
}

impl PreKeyRecord {
    /// Generates `count` prekeys with consecutive ids starting at `start_id`, wrapping from
    /// [`MAX_PRE_KEY_ID`] back to 1. The driver stores them and the next id.
    pub fn generate_batch(start_id: u32, count: u32, rng: &mut impl CryptoRngCore) -> Vec<Self> {
        let mut id = start_id.clamp(1, MAX_PRE_KEY_ID);
        (0..count)
            .map(|_| {
                let record = Self {
                    id,
                    key_pair: KeyPair::generate(rng),
                };
                id = if id >= MAX_PRE_KEY_ID { 1 } else { id + 1 };
                record
            })
            .collect()
    }
}

/// Our signed prekey: a key pair whose 33-byte public key is XEdDSA-signed by the identity key.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SignedPreKeyRecord {
    /// Id (3 bytes on the wire; WhatsApp clients start at 1).
    pub id: u32,
    /// The key pair.
    pub key_pair: KeyPair,
    /// XEdDSA signature by the identity key over the 33-byte prefixed public key.
    pub signature: [u8; 64],
}

impl SignedPreKeyRecord {
    /// Generates a signed prekey with `id`, signed by `identity`.
    pub fn generate(identity: &KeyPair, id: u32, rng: &mut impl CryptoRngCore) -> Self {
        let key_pair = KeyPair::generate(rng);
        let signature = identity.sign(&key_pair.public_with_prefix(), rng);
        Self {
            id,
            key_pair,
            signature,
        }
    }
}

/// What a peer publishes so that others can open a session with it without a round trip
/// (the `<user>` element of an `encrypt` IQ result, fact sheet section 6.6).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PreKeyBundle {
    /// Peer's registration id.
    pub registration_id: u32,
    /// Peer's identity public key.
    pub identity_key: PublicKey,
    /// Signed prekey id.
    pub signed_pre_key_id: u32,
    /// Signed prekey public key.
    pub signed_pre_key: PublicKey,
    /// XEdDSA signature over the 33-byte prefixed signed prekey.
    pub signed_pre_key_signature: [u8; 64],
    /// One-time prekey (id, public key), when the server still had one.
    pub pre_key: Option<(u32, PublicKey)>,
}

impl PreKeyBundle {
    /// Builds the bundle we publish for ourselves.
    pub fn from_own_keys(
        registration_id: u32,
        identity: &KeyPair,
        signed: &SignedPreKeyRecord,
        pre_key: Option<&PreKeyRecord>,
    ) -> Self {
        Self {
            registration_id,
            identity_key: public_of(identity),
            signed_pre_key_id: signed.id,
            signed_pre_key: public_of(&signed.key_pair),
            signed_pre_key_signature: signed.signature,
            pre_key: pre_key.map(|p| (p.id, public_of(&p.key_pair))),
        }
    }

    /// Checks the identity key's signature over the signed prekey.
    pub fn verify_signature(&self) -> Result<(), SignalError> {
        if self.identity_key.verify(
            &self.signed_pre_key.serialize(),
            &self.signed_pre_key_signature,
        ) {
            Ok(())
        } else {
            Err(SignalError::InvalidSignature("signed prekey"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn own_bundle_verifies_and_a_tampered_one_does_not() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let identity = generate_identity_key_pair(&mut rng);
        let signed = SignedPreKeyRecord::generate(&identity, 1, &mut rng);
        let pre = PreKeyRecord::generate_batch(5, 1, &mut rng);
        let bundle = PreKeyBundle::from_own_keys(42, &identity, &signed, pre.first());
        assert_eq!(bundle.verify_signature(), Ok(()));
        let mut bad = bundle.clone();
        bad.signed_pre_key.0[0] ^= 1;
        assert!(bad.verify_signature().is_err());
    }

    #[test]
    fn prekey_ids_wrap_at_three_bytes() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
        let ids: Vec<u32> = PreKeyRecord::generate_batch(MAX_PRE_KEY_ID - 1, 3, &mut rng)
            .iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(ids, vec![MAX_PRE_KEY_ID - 1, MAX_PRE_KEY_ID, 1]);
    }

    #[test]
    fn public_key_parsing_refuses_bad_lengths_and_types() {
        let mut bytes = [7u8; 33];
        assert!(PublicKey::from_signal_bytes(&bytes).is_err());
        bytes[0] = 5;
        assert_eq!(PublicKey::from_signal_bytes(&bytes).unwrap().0, [7u8; 32]);
        assert!(PublicKey::from_signal_bytes(&bytes[..32]).is_err());
        assert!(PublicKey::from_wire(&bytes[1..]).is_ok());
        let id = generate_registration_id(&mut rand_chacha::ChaCha20Rng::seed_from_u64(3));
        assert!((1..=0x3FFF).contains(&id));
    }
}
