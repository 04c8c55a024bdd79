//! Encrypting and decrypting `msg` / `pkmsg` on a [`SessionRecord`] (libsignal-node
//! `src/session_cipher.js`, R `wacore/libsignal/src/protocol/session_cipher.rs`).
//!
//! Every function leaves the record untouched when it fails: the work is done on a copy of
//! the state and installed only after the MAC verified and the body decrypted.

use rand_core::CryptoRngCore;
use wa_crypto::{KeyPair, aes256_cbc_decrypt, aes256_cbc_encrypt};

use crate::SignalError;
use crate::keys::{PreKeyRecord, PublicKey, SignedPreKeyRecord};
use crate::ratchet_keys::{MessageKeys, root_step};
use crate::record::{SessionRecord, StateRef};
use crate::session_builder::responder_state;
use crate::state::{MAX_FORWARD_JUMPS, SenderChain, SessionState};
use crate::wire::{CiphertextMessage, PreKeySignalMessage, SignalMessage, encode_signal_message};

/// Encrypts `plaintext` (already padded, see [`crate::pad_message`]) on the current session.
/// Returns a `pkmsg` while the session is unacknowledged, a `msg` afterwards.
pub fn encrypt(
    record: &mut SessionRecord,
    plaintext: &[u8],
) -> Result<CiphertextMessage, SignalError> {
    let state = record.current.as_mut().ok_or(SignalError::NoSession)?;
    let chain_key = state.sender_chain.chain_key.clone();
    let keys = MessageKeys::derive(&chain_key.message_key_seed());
    let ciphertext = aes256_cbc_encrypt(&keys.cipher_key, &keys.iv, plaintext);
    let message = encode_signal_message(
        &PublicKey(state.sender_chain.ratchet_key.public),
        chain_key.index,
        state.previous_counter,
        ciphertext,
        &state.local_identity,
        &state.remote_identity,
        &keys.mac_key,
    );
    state.sender_chain.chain_key = chain_key.next();
    Ok(match &state.pending_pre_key {
        None => CiphertextMessage::Whisper(message),
        Some(pending) => CiphertextMessage::PreKey(
            PreKeySignalMessage {
                pre_key_id: pending.pre_key_id,
                signed_pre_key_id: pending.signed_pre_key_id,
                base_key: pending.base_key,
                identity_key: state.local_identity,
                registration_id: state.local_registration_id,
                message,
            }
            .serialize(),
        ),
    })
}

/// Decrypts a `msg`, trying the current session first and then archived ones (a state that
/// decrypts becomes current again, as in libsignal).
pub fn decrypt_message(
    record: &mut SessionRecord,
    ciphertext: &[u8],
    rng: &mut impl CryptoRngCore,
) -> Result<Vec<u8>, SignalError> {
    let message = SignalMessage::parse(ciphertext)?;
    let mut first_error = None;
    if let Some(current) = &record.current {
        let mut state = current.clone();
        match decrypt_with_state(&mut state, &message, rng) {
            Ok(plaintext) => {
                record.current = Some(state);
                return Ok(plaintext);
            }
            Err(e) => first_error = Some(e),
        }
    }
    for index in 0..record.previous.len() {
        let mut state = record.previous[index].clone();
        match decrypt_with_state(&mut state, &message, rng) {
            Ok(plaintext) => {
                record.promote_archived(index, state);
                return Ok(plaintext);
            }
            Err(e @ SignalError::DuplicateMessage { .. }) => first_error = Some(e),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or(SignalError::NoSession))
}

/// Result of decrypting a `pkmsg`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PreKeyDecryption {
    /// The (still padded) plaintext.
    pub plaintext: Vec<u8>,
    /// One-time prekey this message consumed: the driver deletes it (after persisting the
    /// record) so it is never used twice.
    pub consumed_pre_key_id: Option<u32>,
    /// The sender's identity differs from the one of our previous session with this address.
    /// The new session is accepted (WhatsApp clients re-key); the driver records the new
    /// identity and may notify.
    pub identity_changed: bool,
    /// The sender's identity key.
    pub remote_identity: PublicKey,
}

/// Decrypts a `pkmsg`. Parse it with [`PreKeySignalMessage::parse`] first and supply the
/// signed prekey and one-time prekey it names (`None` when the driver has no such key).
///
/// If the record already holds the session this `pkmsg` opened (the sender repeats `pkmsg`
/// until we reply), that session is used and no prekey is needed.
#[allow(clippy::too_many_arguments)]
pub fn decrypt_prekey_message(
    record: &mut SessionRecord,
    our_identity: &KeyPair,
    our_registration_id: u32,
    message: &PreKeySignalMessage,
    signed_pre_key: Option<&SignedPreKeyRecord>,
    one_time_pre_key: Option<&PreKeyRecord>,
    now: u64,
    rng: &mut impl CryptoRngCore,
) -> Result<PreKeyDecryption, SignalError> {
    let inner = SignalMessage::parse(&message.message)?;
    let done = |plaintext, consumed_pre_key_id, identity_changed| PreKeyDecryption {
        plaintext,
        consumed_pre_key_id,
        identity_changed,
        remote_identity: message.identity_key,
    };
    match record.find_by_base_key(&message.base_key) {
        Some(StateRef::Current) => {
            let current = record.current.as_ref().ok_or(SignalError::NoSession)?;
            let mut state = current.clone();
            let plaintext = decrypt_with_state(&mut state, &inner, rng)?;
            record.current = Some(state);
            Ok(done(plaintext, None, false))
        }
        Some(StateRef::Archived(index)) => {
            let mut state = record.previous[index].clone();
            let plaintext = decrypt_with_state(&mut state, &inner, rng)?;
            record.promote_archived(index, state);
            Ok(done(plaintext, None, false))
        }
        None => {
            let signed = signed_pre_key
                .filter(|k| k.id == message.signed_pre_key_id)
                .ok_or(SignalError::InvalidSignedPreKeyId(
                    message.signed_pre_key_id,
                ))?;
            let one_time = match message.pre_key_id {
                Some(id) => Some(
                    one_time_pre_key
                        .filter(|k| k.id == id)
                        .ok_or(SignalError::InvalidPreKeyId(id))?,
                ),
                None => None,
            };
            let mut state = responder_state(
                our_identity,
                our_registration_id,
                signed,
                one_time,
                message,
                now,
            );
            let plaintext = decrypt_with_state(&mut state, &inner, rng)?;
            let identity_changed = record
                .last_remote_identity()
                .is_some_and(|known| known != message.identity_key);
            record.promote_new(state);
            Ok(done(plaintext, message.pre_key_id, identity_changed))
        }
    }
}

/// Decrypts `message` on `state` (a working copy: on error the caller discards it).
fn decrypt_with_state(
    state: &mut SessionState,
    message: &SignalMessage<'_>,
    rng: &mut impl CryptoRngCore,
) -> Result<Vec<u8>, SignalError> {
    let chain = match state.receiver_chain_index(&message.ratchet_key) {
        Some(index) => index,
        None => {
            if message.counter > MAX_FORWARD_JUMPS {
                return Err(SignalError::TooFarInFuture {
                    counter: message.counter,
                    next: 0,
                    limit: MAX_FORWARD_JUMPS,
                });
            }
            step_ratchet(state, message.ratchet_key, rng);
            state.receiver_chains.len() - 1
        }
    };
    let (seed, source) = state.find_message_key(chain, message.counter)?;
    let keys = MessageKeys::derive(&seed);
    message.verify_mac(&state.remote_identity, &state.local_identity, &keys.mac_key)?;
    let plaintext = aes256_cbc_decrypt(&keys.cipher_key, &keys.iv, &message.ciphertext)
        .map_err(|_| SignalError::DecryptionFailed)?;
    state.commit_message_key(chain, source);
    state.pending_pre_key = None;
    Ok(plaintext)
}

/// The peer sent a new ratchet key: derive its receiving chain, then a new sending chain
/// with a fresh key pair of ours.
fn step_ratchet(state: &mut SessionState, their: PublicKey, rng: &mut impl CryptoRngCore) {
    let (root_key, receiving) = root_step(&state.root_key, &their, &state.sender_chain.ratchet_key);
    let ours = KeyPair::generate(rng);
    let (root_key, sending) = root_step(&root_key, &their, &ours);
    state.root_key = root_key;
    state.add_receiver_chain(their, receiving);
    // Index of the last message sent on the old chain (libsignal: max(index - 1, 0)).
    state.previous_counter = state.sender_chain.chain_key.index.saturating_sub(1);
    state.sender_chain = SenderChain {
        ratchet_key: ours,
        chain_key: sending,
    };
}
