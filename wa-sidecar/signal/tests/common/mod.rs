//! Test parties: a device with identity, registration id, signed prekey and one-time prekeys,
//! plus one session record per peer (as the driver would keep them in sled).
#![allow(dead_code, unreachable_pub)]

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use wa_signal::{
    CiphertextMessage, KeyPair, PreKeyBundle, PreKeyDecryption, PreKeyRecord, PreKeySignalMessage,
    SessionRecord, SignalError, SignedPreKeyRecord, decrypt_message, decrypt_prekey_message,
    encrypt, generate_identity_key_pair, generate_registration_id,
};

pub const NOW: u64 = 1_760_000_000;

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

pub struct Party {
    pub identity: KeyPair,
    pub registration_id: u32,
    pub signed: SignedPreKeyRecord,
    pub pre_keys: Vec<PreKeyRecord>,
    /// Session with "the" peer.
    pub record: SessionRecord,
    pub rng: ChaCha20Rng,
}

impl Party {
    pub fn new(seed: u64) -> Self {
        let mut rng = rng(seed);
        let identity = generate_identity_key_pair(&mut rng);
        let registration_id = generate_registration_id(&mut rng);
        let signed = SignedPreKeyRecord::generate(&identity, 1, &mut rng);
        let pre_keys = PreKeyRecord::generate_batch(1, 5, &mut rng);
        Self {
            identity,
            registration_id,
            signed,
            pre_keys,
            record: SessionRecord::new(),
            rng,
        }
    }

    /// Publishes a bundle with the first unused one-time prekey.
    pub fn bundle(&self) -> PreKeyBundle {
        PreKeyBundle::from_own_keys(
            self.registration_id,
            &self.identity,
            &self.signed,
            self.pre_keys.first(),
        )
    }

    pub fn start_session(&mut self, bundle: &PreKeyBundle) -> bool {
        wa_signal::process_prekey_bundle(
            &mut self.record,
            &self.identity,
            self.registration_id,
            bundle,
            NOW,
            &mut self.rng,
        )
        .unwrap()
        .identity_changed
    }

    pub fn send(&mut self, text: &str) -> CiphertextMessage {
        self.send_bytes(text.as_bytes())
    }

    pub fn send_bytes(&mut self, bytes: &[u8]) -> CiphertextMessage {
        encrypt(&mut self.record, bytes).unwrap()
    }

    /// Decrypts either kind, removing a consumed one-time prekey like the driver does.
    pub fn receive(&mut self, msg: &CiphertextMessage) -> Result<String, SignalError> {
        let plaintext = match msg {
            CiphertextMessage::Whisper(bytes) => {
                decrypt_message(&mut self.record, bytes, &mut self.rng)?
            }
            CiphertextMessage::PreKey(bytes) => self.receive_prekey(bytes)?.plaintext,
        };
        Ok(String::from_utf8(plaintext).unwrap())
    }

    pub fn receive_prekey(&mut self, bytes: &[u8]) -> Result<PreKeyDecryption, SignalError> {
        let parsed = PreKeySignalMessage::parse(bytes)?;
        let one_time = parsed
            .pre_key_id
            .and_then(|id| self.pre_keys.iter().find(|k| k.id == id));
        let signed = Some(&self.signed).filter(|s| s.id == parsed.signed_pre_key_id);
        let out = decrypt_prekey_message(
            &mut self.record,
            &self.identity,
            self.registration_id,
            &parsed,
            signed,
            one_time,
            NOW,
            &mut self.rng,
        )?;
        if let Some(id) = out.consumed_pre_key_id {
            self.pre_keys.retain(|k| k.id != id);
        }
        Ok(out)
    }
}

/// Alice opens a session to Bob; Bob decrypts the first pkmsg. Returns (alice, bob).
pub fn connected_pair() -> (Party, Party) {
    let mut alice = Party::new(1);
    let mut bob = Party::new(2);
    alice.start_session(&bob.bundle());
    let first = alice.send("hello bob");
    assert_eq!(first.enc_type(), "pkmsg");
    assert_eq!(bob.receive(&first).unwrap(), "hello bob");
    (alice, bob)
}
