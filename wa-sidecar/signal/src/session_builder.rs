//! X3DH session setup, version 3 (fact sheet section 6.2; libsignal-node
//! `src/session_builder.js`, R `wacore/libsignal/src/protocol/ratchet.rs`).

use rand_core::CryptoRngCore;
use wa_crypto::KeyPair;

use crate::SignalError;
use crate::keys::{PreKeyBundle, PreKeyRecord, SignedPreKeyRecord, public_of};
use crate::ratchet_keys::{root_step, x3dh_derive};
use crate::record::SessionRecord;
use crate::state::{PendingPreKey, SenderChain, SessionState};
use crate::wire::PreKeySignalMessage;

/// What setting up a session from a bundle found out.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SessionSetup {
    /// The peer's identity differs from the one in our previous session with this address.
    /// WhatsApp clients accept the new identity and re-key (the old session is archived);
    /// the driver should record the new identity and may tell the user.
    pub identity_changed: bool,
}

/// Initiator side: opens a new session with the owner of `bundle` and makes it current
/// (archiving any current one). Messages we encrypt go out as `pkmsg` until the peer replies.
///
/// The signed-prekey signature is checked (R does; libsignal-node skips it).
pub fn process_prekey_bundle(
    record: &mut SessionRecord,
    our_identity: &KeyPair,
    our_registration_id: u32,
    bundle: &PreKeyBundle,
    now: u64,
    rng: &mut impl CryptoRngCore,
) -> Result<SessionSetup, SignalError> {
    bundle.verify_signature()?;
    let base = KeyPair::generate(rng);
    let their_spk = bundle.signed_pre_key;

    let mut parts = vec![
        our_identity.dh(&their_spk.0),
        base.dh(&bundle.identity_key.0),
        base.dh(&their_spk.0),
    ];
    if let Some((_, one_time)) = bundle.pre_key {
        parts.push(base.dh(&one_time.0));
    }
    let (root_key, chain_key) = x3dh_derive(&parts);

    let sending = KeyPair::generate(rng);
    let (root_key, sending_chain) = root_step(&root_key, &their_spk, &sending);

    let mut state = SessionState {
        local_identity: public_of(our_identity),
        remote_identity: bundle.identity_key,
        local_registration_id: our_registration_id,
        remote_registration_id: bundle.registration_id,
        base_key: public_of(&base),
        root_key,
        previous_counter: 0,
        sender_chain: SenderChain {
            ratchet_key: sending,
            chain_key: sending_chain,
        },
        receiver_chains: Vec::new(),
        pending_pre_key: Some(PendingPreKey {
            pre_key_id: bundle.pre_key.map(|(id, _)| id),
            signed_pre_key_id: bundle.signed_pre_key_id,
            base_key: public_of(&base),
        }),
        created_at: now,
    };
    // The peer's signed prekey is its first ratchet key; libsignal keeps this chain too.
    state.add_receiver_chain(their_spk, chain_key);

    let identity_changed = record
        .last_remote_identity()
        .is_some_and(|known| known != bundle.identity_key);
    record.promote_new(state);
    Ok(SessionSetup { identity_changed })
}

/// Responder side: the session state a `pkmsg` opens (not yet installed in any record).
pub(crate) fn responder_state(
    our_identity: &KeyPair,
    our_registration_id: u32,
    signed_pre_key: &SignedPreKeyRecord,
    one_time_pre_key: Option<&PreKeyRecord>,
    message: &PreKeySignalMessage,
    now: u64,
) -> SessionState {
    let their_identity = message.identity_key;
    let their_base_key = message.base_key;
    let spk = &signed_pre_key.key_pair;
    let mut parts = vec![
        spk.dh(&their_identity.0),
        our_identity.dh(&their_base_key.0),
        spk.dh(&their_base_key.0),
    ];
    if let Some(one_time) = one_time_pre_key {
        parts.push(one_time.key_pair.dh(&their_base_key.0));
    }
    let (root_key, chain_key) = x3dh_derive(&parts);
    SessionState {
        local_identity: public_of(our_identity),
        remote_identity: their_identity,
        local_registration_id: our_registration_id,
        remote_registration_id: message.registration_id,
        base_key: their_base_key,
        root_key,
        previous_counter: 0,
        sender_chain: SenderChain {
            ratchet_key: spk.clone(),
            chain_key,
        },
        receiver_chains: Vec::new(),
        pending_pre_key: None,
        created_at: now,
    }
}
