//! The Signal protocol (version 3) as WhatsApp uses it. Sans-IO: functions take the state,
//! the caller's `now` and an `&mut impl rand_core::CryptoRngCore`, and return new state and
//! bytes; no storage, no clock, no async. The driver persists the state a call changed
//! **before** it sends or acknowledges what that call produced.
//!
//! * Keys: [`generate_identity_key_pair`], [`generate_registration_id`],
//!   [`SignedPreKeyRecord`], [`PreKeyRecord`], [`PreKeyBundle`].
//! * Pairwise sessions: [`process_prekey_bundle`] (X3DH initiator), [`encrypt`] (`msg` or
//!   `pkmsg`), [`decrypt_message`] (`msg`), [`PreKeySignalMessage::parse`] +
//!   [`decrypt_prekey_message`] (`pkmsg`, X3DH responder), all on a [`SessionRecord`].
//! * Groups: [`SenderKeyRecord`], [`create_sender_key_distribution`],
//!   [`process_sender_key_distribution`], [`group_encrypt`], [`group_decrypt`] (`skmsg`).
//! * WhatsApp plaintext padding: [`pad_message`], [`unpad_message`].
//! * Persistence: `serialize`/`deserialize` on the records (a version byte, then protobuf).
//!
//! Behaviour follows libsignal (`signalapp/libsignal` `rust/protocol`) and npm
//! `libsignal@6.0.0` (the peer Baileys uses); the code is our own.

mod error;
mod keys;
mod padding;
mod proto;
mod ratchet_keys;
mod record;
mod sender_keys;
mod session_builder;
mod session_cipher;
mod state;
mod storage;
mod wire;

pub use error::SignalError;
pub use keys::{
    MAX_PRE_KEY_ID, PreKeyBundle, PreKeyRecord, PublicKey, SignedPreKeyRecord,
    generate_identity_key_pair, generate_registration_id, public_of,
};
pub use padding::{pad_message, unpad_message};
pub use record::{MAX_ARCHIVED_STATES, SessionRecord};
pub use sender_keys::{
    MAX_SENDER_KEY_STATES, SenderKeyRecord, create_sender_key_distribution, group_decrypt,
    group_encrypt, process_sender_key_distribution,
};
pub use session_builder::{SessionSetup, process_prekey_bundle};
pub use session_cipher::{PreKeyDecryption, decrypt_message, decrypt_prekey_message, encrypt};
pub use state::{MAX_FORWARD_JUMPS, MAX_MESSAGE_KEYS, MAX_RECEIVER_CHAINS};
pub use storage::STORAGE_FORMAT_VERSION;
pub use wa_crypto::KeyPair;
pub use wire::{CiphertextMessage, MAC_LEN, PreKeySignalMessage, VERSION_BYTE};
