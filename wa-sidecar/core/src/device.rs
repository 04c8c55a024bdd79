//! The device credentials that must survive restarts (fact sheet section 8.3, "Device
//! credentials", plus the one-time prekey private keys from "Signal state").

use std::collections::BTreeMap;

use prost::Message as _;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use wa_binary::Jid;
use wa_crypto::KeyPair;
use wa_protos::wa::AdvSignedDeviceIdentity;

use crate::serde_keys;

/// Signed prekey id used at registration; all three reference clients start at 1 (fact sheet 6.1).
pub const INITIAL_SIGNED_PREKEY_ID: u32 = 1;

/// Largest one-time prekey id (3 bytes on the wire; whatsapp-rust wraps at 16 777 215).
pub const MAX_PREKEY_ID: u32 = wa_signal::MAX_PRE_KEY_ID;

/// Our signed prekey: a key pair whose 33-byte (0x05-prefixed) public key is XEdDSA-signed by
/// the identity key (fact sheet 6.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedPreKey {
    /// Id, sent as 3 bytes big-endian.
    pub id: u32,
    /// The key pair.
    #[serde(with = "serde_keys::keypair")]
    pub key_pair: KeyPair,
    /// XEdDSA signature by the identity key over `0x05 || public`.
    #[serde(with = "serde_keys::array")]
    pub signature: [u8; 64],
}

/// Everything a companion device must persist to log in again without rescanning a QR code.
///
/// Serialize it with serde (keys as hex). The driver must persist it whenever the connection
/// emits [`crate::ConnEvent::DeviceChanged`], before sending anything else.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceState {
    /// Noise static key pair, presented in every ClientFinish; the server ties the device to it.
    #[serde(with = "serde_keys::keypair")]
    pub noise_key: KeyPair,
    /// Signal identity key pair (also the key the QR code and ADV signatures refer to).
    #[serde(with = "serde_keys::keypair")]
    pub identity_key: KeyPair,
    /// Signal registration id (14 bits, like Baileys; sent as 4 bytes big-endian).
    pub registration_id: u32,
    /// The signed prekey.
    pub signed_prekey: SignedPreKey,
    /// HMAC key for the pair-success device identity; shown only in the QR code.
    #[serde(with = "serde_keys::array")]
    pub adv_secret: [u8; 32],
    /// The encoded `ADVSignedDeviceIdentity` from pairing, with `accountSignatureKey` and our
    /// `deviceSignature` (sent as `<device-identity>` with every pkmsg). `None` until paired.
    #[serde(with = "serde_keys::opt_bytes", default)]
    pub account: Option<Vec<u8>>,
    /// Own device JID (`<phone>:<device>@s.whatsapp.net`), set by pairing.
    pub jid: Option<String>,
    /// Own LID (`<lid>:<device>@lid`), set by pairing and refreshed by `<success lid>`.
    pub lid: Option<String>,
    /// Platform of the primary phone (`android`, `smba`, ...), from pair-success.
    pub platform: Option<String>,
    /// Display name; sent in the registration payload when set.
    pub push_name: Option<String>,
    /// Id of the next one-time prekey to generate (1..=[`MAX_PREKEY_ID`], wrapping).
    pub next_prekey_id: u32,
    /// Private halves of the one-time prekeys generated for upload and not yet consumed, by id.
    /// The Signal layer removes a key when a pkmsg consumes it.
    #[serde(default)]
    pub prekeys: BTreeMap<u32, StoredPreKey>,
    /// The prekey count the server reported last (`<count value>`), if any.
    pub server_prekey_count: Option<u32>,
    /// Edge routing info from `<ib><edge_routing><routing_info>`, sent before the next intro.
    #[serde(with = "serde_keys::opt_bytes", default)]
    pub routing_info: Option<Vec<u8>>,
}

/// One stored one-time prekey (private key kept for the Signal layer).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPreKey {
    /// The key pair.
    #[serde(with = "serde_keys::keypair")]
    pub key_pair: KeyPair,
}

impl DeviceState {
    /// Fresh, unpaired credentials: noise and identity keys, a registration id, signed prekey 1
    /// and a random ADV secret.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let noise_key = KeyPair::generate(rng);
        let identity_key = KeyPair::generate(rng);
        let registration_id = wa_signal::generate_registration_id(rng);
        let spk =
            wa_signal::SignedPreKeyRecord::generate(&identity_key, INITIAL_SIGNED_PREKEY_ID, rng);
        let mut adv_secret = [0u8; 32];
        rng.fill_bytes(&mut adv_secret);
        DeviceState {
            noise_key,
            identity_key,
            registration_id,
            signed_prekey: SignedPreKey {
                id: spk.id,
                key_pair: spk.key_pair.clone(),
                signature: spk.signature,
            },
            adv_secret,
            account: None,
            jid: None,
            lid: None,
            platform: None,
            push_name: None,
            next_prekey_id: 1,
            prekeys: BTreeMap::new(),
            server_prekey_count: None,
            routing_info: None,
        }
    }

    /// True once pairing stored our account identity and JID: the next connection logs in.
    pub fn is_paired(&self) -> bool {
        self.account.is_some() && self.own_jid().is_some()
    }

    /// Own device JID, parsed.
    pub fn own_jid(&self) -> Option<Jid> {
        self.jid.as_deref().and_then(|j| Jid::parse(j).ok())
    }

    /// Own LID, parsed.
    pub fn own_lid(&self) -> Option<Jid> {
        self.lid.as_deref().and_then(|j| Jid::parse(j).ok())
    }

    /// The primary phone's identity key (`accountSignatureKey` of the stored account), which the
    /// Signal layer trusts for the primary's LID address.
    pub fn primary_identity_key(&self) -> Option<[u8; 32]> {
        let account = AdvSignedDeviceIdentity::decode(self.account.as_deref()?).ok()?;
        wa_crypto::public_key_from_wire(account.account_signature_key()).ok()
    }

    /// Generates `count` one-time prekeys from `next_prekey_id`, stores their private halves and
    /// returns `(id, public)` pairs for the upload.
    pub(crate) fn generate_prekeys(
        &mut self,
        count: u32,
        rng: &mut impl CryptoRngCore,
    ) -> Vec<(u32, [u8; 32])> {
        let batch = wa_signal::PreKeyRecord::generate_batch(self.next_prekey_id, count, rng);
        let mut out = Vec::with_capacity(batch.len());
        for record in batch {
            out.push((record.id, record.key_pair.public));
            self.next_prekey_id = if record.id >= MAX_PREKEY_ID {
                1
            } else {
                record.id + 1
            };
            self.prekeys.insert(
                record.id,
                StoredPreKey {
                    key_pair: record.key_pair,
                },
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn generated_state_is_unpaired_and_its_signed_prekey_verifies() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let d = DeviceState::generate(&mut rng);
        assert!(!d.is_paired());
        assert!((1..=0x3FFF).contains(&d.registration_id));
        assert!(wa_crypto::xeddsa_verify(
            &d.identity_key.public,
            &d.signed_prekey.key_pair.public_with_prefix(),
            &d.signed_prekey.signature
        ));
        assert_ne!(d.noise_key.public, d.identity_key.public);
    }

    #[test]
    fn serde_round_trip_keeps_every_key() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let mut d = DeviceState::generate(&mut rng);
        d.account = Some(vec![1, 2, 3]);
        d.jid = Some("972500000001:3@s.whatsapp.net".into());
        let ids = d.generate_prekeys(3, &mut rng);
        assert_eq!(ids.iter().map(|k| k.0).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(d.next_prekey_id, 4);
        let json = serde_json::to_string(&d).unwrap();
        let back: DeviceState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, d);
        assert!(back.is_paired());
    }

    #[test]
    fn prekey_ids_wrap_after_the_three_byte_maximum() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let mut d = DeviceState::generate(&mut rng);
        d.next_prekey_id = MAX_PREKEY_ID;
        let ids: Vec<u32> = d
            .generate_prekeys(2, &mut rng)
            .into_iter()
            .map(|k| k.0)
            .collect();
        assert_eq!(ids, vec![MAX_PREKEY_ID, 1]);
        assert_eq!(d.next_prekey_id, 2);
    }
}
