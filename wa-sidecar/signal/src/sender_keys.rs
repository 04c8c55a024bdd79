//! Group sender keys: `SenderKeyDistributionMessage` and `skmsg` (fact sheet section 6.3;
//! R `wacore/libsignal/src/protocol/sender_keys.rs`, Baileys `src/Signal/Group/*.ts`).
//!
//! * chain: seed = `HMAC(CK, 0x01)`, next = `HMAC(CK, 0x02)`
//! * message key: `HKDF(seed, zero salt, "WhisperGroup", 48)` → iv 0..16, key 16..48
//! * `skmsg` = `0x33 || SenderKeyMessage protobuf || XEdDSA signature(64)` over the rest

use std::collections::VecDeque;

use prost::Message as _;
use rand_core::CryptoRngCore;
use wa_crypto::{KeyPair, aes256_cbc_decrypt, aes256_cbc_encrypt};
use zeroize::Zeroize;

use crate::SignalError;
use crate::keys::PublicKey;
use crate::proto::{SenderKeyDistributionMessageProto, SenderKeyMessageProto};
use crate::ratchet_keys::{ChainKey, hkdf};
use crate::state::{MAX_FORWARD_JUMPS, MAX_MESSAGE_KEYS};
use crate::wire::VERSION_BYTE;

/// Sender-key states kept per (group, sender) (R `MAX_SENDER_KEY_STATES`).
pub const MAX_SENDER_KEY_STATES: usize = 5;
const SIGNATURE_LEN: usize = 64;
const INFO_GROUP: &[u8] = b"WhisperGroup";

/// One sender chain of a group member.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct SenderKeyState {
    pub(crate) key_id: u32,
    pub(crate) chain_key: ChainKey,
    pub(crate) signing_public: PublicKey,
    /// Present only for our own sending chain.
    pub(crate) signing_private: Option<[u8; 32]>,
    /// Skipped (iteration, seed), oldest first.
    pub(crate) skipped: VecDeque<(u32, [u8; 32])>,
}

impl Drop for SenderKeyState {
    fn drop(&mut self) {
        self.signing_private.zeroize();
        for (_, seed) in self.skipped.iter_mut() {
            seed.zeroize();
        }
    }
}

/// Sender-key states of one sender in one group (ours when we are the sender), newest
/// first. Persist it with [`SenderKeyRecord::serialize`] after every call that changes it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SenderKeyRecord {
    pub(crate) states: VecDeque<SenderKeyState>,
}

impl SenderKeyRecord {
    /// An empty record.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether any sender-key state is present.
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    fn state_mut(&mut self, key_id: u32) -> Option<&mut SenderKeyState> {
        self.states.iter_mut().find(|s| s.key_id == key_id)
    }

    fn push_front(&mut self, state: SenderKeyState) {
        self.states.push_front(state);
        self.states.truncate(MAX_SENDER_KEY_STATES);
    }
}

/// Shows only key ids and iterations (no chain keys), so records can be logged.
impl std::fmt::Debug for SenderKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.states
                    .iter()
                    .map(|s| (s.key_id, s.chain_key.index, s.signing_private.is_some())),
            )
            .finish()
    }
}

fn group_message_keys(seed: &[u8; 32]) -> ([u8; 16], [u8; 32]) {
    let okm: [u8; 48] = hkdf(&[0u8; 32], seed, INFO_GROUP);
    let mut iv = [0u8; 16];
    let mut key = [0u8; 32];
    iv.copy_from_slice(&okm[..16]);
    key.copy_from_slice(&okm[16..]);
    (iv, key)
}

/// For our own sending chain in a group: creates it on first use (random key id below 2^31,
/// random chain key, new signing key pair) and returns the `SenderKeyDistributionMessage`
/// bytes to send pairwise (inside `Message.senderKeyDistributionMessage`) to every member
/// device that does not have it yet.
pub fn create_sender_key_distribution(
    record: &mut SenderKeyRecord,
    rng: &mut impl CryptoRngCore,
) -> Result<Vec<u8>, SignalError> {
    let has_own = record
        .states
        .front()
        .is_some_and(|s| s.signing_private.is_some());
    if !has_own {
        let signing = KeyPair::generate(rng);
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        record.push_front(SenderKeyState {
            key_id: rng.next_u32() & 0x7FFF_FFFF,
            chain_key: ChainKey {
                key: seed,
                index: 0,
            },
            signing_public: PublicKey(signing.public),
            signing_private: Some(signing.private),
            skipped: VecDeque::new(),
        });
    }
    let state = record
        .states
        .front()
        .ok_or(SignalError::InvalidState("sender key state just created"))?;
    let proto = SenderKeyDistributionMessageProto {
        id: Some(state.key_id),
        iteration: Some(state.chain_key.index),
        chain_key: Some(state.chain_key.key.to_vec()),
        signing_key: Some(state.signing_public.serialize().to_vec()),
    };
    let mut out = vec![VERSION_BYTE];
    proto.encode_raw(&mut out);
    Ok(out)
}

/// Installs a member's sender chain from their `SenderKeyDistributionMessage`.
///
/// A distribution for a key id we already hold with the same signing key is ignored, so a
/// redelivered distribution cannot rewind the chain (which would re-enable replays).
pub fn process_sender_key_distribution(
    record: &mut SenderKeyRecord,
    distribution: &[u8],
) -> Result<(), SignalError> {
    let body = match distribution {
        [VERSION_BYTE, rest @ ..] => rest,
        [v, ..] => return Err(SignalError::UnsupportedVersion(*v)),
        [] => return Err(SignalError::InvalidMessage("empty sender key distribution")),
    };
    let proto = SenderKeyDistributionMessageProto::decode(body)
        .map_err(|_| SignalError::InvalidMessage("SenderKeyDistributionMessage protobuf"))?;
    let key_id = proto
        .id
        .ok_or(SignalError::InvalidMessage("distribution without id"))?;
    let chain: [u8; 32] = proto
        .chain_key
        .as_deref()
        .and_then(|c| c.try_into().ok())
        .ok_or(SignalError::InvalidMessage(
            "distribution chain key is not 32 bytes",
        ))?;
    let signing_public = PublicKey::from_signal_bytes(proto.signing_key.as_deref().ok_or(
        SignalError::InvalidMessage("distribution without signing key"),
    )?)?;
    if record
        .states
        .iter()
        .any(|s| s.key_id == key_id && s.signing_public == signing_public)
    {
        return Ok(());
    }
    record.states.retain(|s| s.key_id != key_id);
    record.push_front(SenderKeyState {
        key_id,
        chain_key: ChainKey {
            key: chain,
            index: proto.iteration.unwrap_or(0),
        },
        signing_public,
        signing_private: None,
        skipped: VecDeque::new(),
    });
    Ok(())
}

/// Encrypts a (padded) group payload with our own sender chain; call
/// [`create_sender_key_distribution`] first.
pub fn group_encrypt(
    record: &mut SenderKeyRecord,
    plaintext: &[u8],
    rng: &mut impl CryptoRngCore,
) -> Result<Vec<u8>, SignalError> {
    let state = record
        .states
        .front_mut()
        .filter(|s| s.signing_private.is_some())
        .ok_or(SignalError::NoSenderKey(0))?;
    let private = state.signing_private.ok_or(SignalError::InvalidState(
        "own sender key without private key",
    ))?;
    let (iv, key) = group_message_keys(&state.chain_key.message_key_seed());
    let proto = SenderKeyMessageProto {
        id: Some(state.key_id),
        iteration: Some(state.chain_key.index),
        ciphertext: Some(aes256_cbc_encrypt(&key, &iv, plaintext)),
    };
    let mut out = vec![VERSION_BYTE];
    proto.encode_raw(&mut out);
    let signature = KeyPair::from_private(private).sign(&out, rng);
    out.extend_from_slice(&signature);
    state.chain_key = state.chain_key.next();
    Ok(out)
}

/// Verifies and decrypts a member's `skmsg`. The record changes only on success.
pub fn group_decrypt(record: &mut SenderKeyRecord, skmsg: &[u8]) -> Result<Vec<u8>, SignalError> {
    match skmsg.first() {
        None => return Err(SignalError::InvalidMessage("empty skmsg")),
        Some(&VERSION_BYTE) => {}
        Some(&v) => return Err(SignalError::UnsupportedVersion(v)),
    }
    if skmsg.len() < 1 + SIGNATURE_LEN {
        return Err(SignalError::InvalidMessage(
            "skmsg shorter than its signature",
        ));
    }
    let (signed, signature) = skmsg.split_at(skmsg.len() - SIGNATURE_LEN);
    let signature: &[u8; 64] = signature
        .try_into()
        .map_err(|_| SignalError::InvalidMessage("skmsg signature length"))?;
    let proto = SenderKeyMessageProto::decode(&signed[1..])
        .map_err(|_| SignalError::InvalidMessage("SenderKeyMessage protobuf"))?;
    let key_id = proto
        .id
        .ok_or(SignalError::InvalidMessage("skmsg without id"))?;
    let iteration = proto
        .iteration
        .ok_or(SignalError::InvalidMessage("skmsg without iteration"))?;
    let ciphertext = proto
        .ciphertext
        .ok_or(SignalError::InvalidMessage("skmsg without ciphertext"))?;
    let state = record
        .state_mut(key_id)
        .ok_or(SignalError::NoSenderKey(key_id))?;
    if !state.signing_public.verify(signed, signature) {
        return Err(SignalError::InvalidSignature("sender key message"));
    }

    let next = state.chain_key.index;
    let (seed, advance) = if iteration < next {
        let pos = state
            .skipped
            .iter()
            .position(|(i, _)| *i == iteration)
            .ok_or(SignalError::DuplicateMessage { counter: iteration })?;
        (state.skipped[pos].1, Err(pos))
    } else {
        if iteration - next > MAX_FORWARD_JUMPS {
            return Err(SignalError::TooFarInFuture {
                counter: iteration,
                next,
                limit: MAX_FORWARD_JUMPS,
            });
        }
        let mut ck = state.chain_key.clone();
        let mut skipped = Vec::new();
        while ck.index < iteration {
            skipped.push((ck.index, ck.message_key_seed()));
            ck = ck.next();
        }
        (ck.message_key_seed(), Ok((skipped, ck.next())))
    };
    let (iv, key) = group_message_keys(&seed);
    let plaintext =
        aes256_cbc_decrypt(&key, &iv, &ciphertext).map_err(|_| SignalError::DecryptionFailed)?;
    match advance {
        Err(pos) => {
            state.skipped.remove(pos);
        }
        Ok((skipped, next_chain)) => {
            state.skipped.extend(skipped);
            while state.skipped.len() > MAX_MESSAGE_KEYS {
                state.skipped.pop_front();
            }
            state.chain_key = next_chain;
        }
    }
    Ok(plaintext)
}
