//! `msg` and `pkmsg` wire formats (fact sheet section 6.3; libsignal-node
//! `src/session_cipher.js`, R `wacore/libsignal/src/protocol/protocol.rs`).
//!
//! * `msg`   = `0x33 || SignalMessage protobuf || MAC(8)`
//! * `pkmsg` = `0x33 || PreKeySignalMessage protobuf` (no outer MAC)

use prost::Message as _;
use subtle::ConstantTimeEq;
use wa_crypto::hmac_sha256_parts;

use crate::SignalError;
use crate::keys::PublicKey;
use crate::proto::{PreKeySignalMessageProto, SignalMessageProto};

/// Protocol version 3 in both nibbles: `(3 << 4) | 3`.
pub const VERSION_BYTE: u8 = 0x33;
/// Length of the truncated MAC on a `msg`.
pub const MAC_LEN: usize = 8;

/// An encrypted message ready for an `<enc>` node.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum CiphertextMessage {
    /// `type="msg"`: a message on an established session.
    Whisper(Vec<u8>),
    /// `type="pkmsg"`: the session is not yet acknowledged by the peer; carries the X3DH data.
    PreKey(Vec<u8>),
}

impl CiphertextMessage {
    /// The `type` attribute of the `<enc>` node: `"msg"` or `"pkmsg"`.
    pub fn enc_type(&self) -> &'static str {
        match self {
            Self::Whisper(_) => "msg",
            Self::PreKey(_) => "pkmsg",
        }
    }

    /// The serialized bytes (the `<enc>` node's content).
    pub fn bytes(&self) -> &[u8] {
        match self {
            Self::Whisper(b) | Self::PreKey(b) => b,
        }
    }
}

/// Checks the version byte of a ciphertext and returns the rest.
fn strip_version(bytes: &[u8]) -> Result<&[u8], SignalError> {
    match bytes {
        [] => Err(SignalError::InvalidMessage("empty ciphertext")),
        [VERSION_BYTE, rest @ ..] => Ok(rest),
        [v, ..] => Err(SignalError::UnsupportedVersion(*v)),
    }
}

/// A parsed `msg` (its MAC not yet checked).
#[derive(Clone, Debug)]
pub(crate) struct SignalMessage<'a> {
    pub(crate) ratchet_key: PublicKey,
    pub(crate) counter: u32,
    pub(crate) ciphertext: Vec<u8>,
    /// Version byte and protobuf: the MAC covers these.
    authenticated: &'a [u8],
    mac: &'a [u8],
}

impl<'a> SignalMessage<'a> {
    /// Parses `0x33 || protobuf || mac(8)`.
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<Self, SignalError> {
        strip_version(bytes)?;
        if bytes.len() < 1 + MAC_LEN {
            return Err(SignalError::InvalidMessage("msg shorter than its MAC"));
        }
        let (authenticated, mac) = bytes.split_at(bytes.len() - MAC_LEN);
        let proto = SignalMessageProto::decode(&authenticated[1..])
            .map_err(|_| SignalError::InvalidMessage("SignalMessage protobuf"))?;
        let ratchet_key = PublicKey::from_signal_bytes(
            proto
                .ratchet_key
                .as_deref()
                .ok_or(SignalError::InvalidMessage("msg without ratchet key"))?,
        )?;
        Ok(Self {
            ratchet_key,
            counter: proto
                .counter
                .ok_or(SignalError::InvalidMessage("msg without counter"))?,
            ciphertext: proto
                .ciphertext
                .ok_or(SignalError::InvalidMessage("msg without ciphertext"))?,
            authenticated,
            mac,
        })
    }

    /// Verifies the truncated MAC in constant time.
    pub(crate) fn verify_mac(
        &self,
        sender_identity: &PublicKey,
        receiver_identity: &PublicKey,
        mac_key: &[u8; 32],
    ) -> Result<(), SignalError> {
        let expected = compute_mac(
            sender_identity,
            receiver_identity,
            mac_key,
            self.authenticated,
        );
        if bool::from(expected[..MAC_LEN].ct_eq(self.mac)) {
            Ok(())
        } else {
            Err(SignalError::InvalidMac)
        }
    }
}

/// `HMAC-SHA256(mac_key, sender_identity(33) || receiver_identity(33) || 0x33 || protobuf)`;
/// `versioned_proto` already starts with the version byte.
fn compute_mac(
    sender_identity: &PublicKey,
    receiver_identity: &PublicKey,
    mac_key: &[u8; 32],
    versioned_proto: &[u8],
) -> [u8; 32] {
    hmac_sha256_parts(
        mac_key,
        &[
            &sender_identity.serialize(),
            &receiver_identity.serialize(),
            versioned_proto,
        ],
    )
}

/// Serializes a `msg` and appends its MAC.
pub(crate) fn encode_signal_message(
    ratchet_key: &PublicKey,
    counter: u32,
    previous_counter: u32,
    ciphertext: Vec<u8>,
    sender_identity: &PublicKey,
    receiver_identity: &PublicKey,
    mac_key: &[u8; 32],
) -> Vec<u8> {
    let proto = SignalMessageProto {
        ratchet_key: Some(ratchet_key.serialize().to_vec()),
        counter: Some(counter),
        previous_counter: Some(previous_counter),
        ciphertext: Some(ciphertext),
    };
    let mut out = Vec::with_capacity(1 + proto.encoded_len() + MAC_LEN);
    out.push(VERSION_BYTE);
    proto.encode_raw(&mut out);
    let mac = compute_mac(sender_identity, receiver_identity, mac_key, &out);
    out.extend_from_slice(&mac[..MAC_LEN]);
    out
}

/// A parsed `pkmsg`. Parse it first, look up the prekeys it names, then hand both to
/// [`crate::decrypt_prekey_message`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreKeySignalMessage {
    /// One-time prekey id the sender used, if any.
    pub pre_key_id: Option<u32>,
    /// Signed prekey id the sender used.
    pub signed_pre_key_id: u32,
    /// Sender's X3DH base key (identifies the session it opens).
    pub base_key: PublicKey,
    /// Sender's identity key.
    pub identity_key: PublicKey,
    /// Sender's registration id.
    pub registration_id: u32,
    /// The embedded `msg` bytes.
    pub message: Vec<u8>,
}

impl PreKeySignalMessage {
    /// Parses `0x33 || PreKeySignalMessage protobuf`.
    pub fn parse(bytes: &[u8]) -> Result<Self, SignalError> {
        let proto = PreKeySignalMessageProto::decode(strip_version(bytes)?)
            .map_err(|_| SignalError::InvalidMessage("PreKeySignalMessage protobuf"))?;
        let key = |k: Option<Vec<u8>>, what| {
            PublicKey::from_signal_bytes(k.as_deref().ok_or(SignalError::InvalidMessage(what))?)
        };
        Ok(Self {
            // libsignal-node omits the field when there is no one-time prekey; 0 is never issued.
            pre_key_id: proto.pre_key_id.filter(|&id| id != 0),
            signed_pre_key_id: proto.signed_pre_key_id.ok_or(SignalError::InvalidMessage(
                "pkmsg without signed prekey id",
            ))?,
            base_key: key(proto.base_key, "pkmsg without base key")?,
            identity_key: key(proto.identity_key, "pkmsg without identity key")?,
            registration_id: proto.registration_id.unwrap_or(0),
            message: proto
                .message
                .ok_or(SignalError::InvalidMessage("pkmsg without message"))?,
        })
    }

    /// Serializes as `0x33 || protobuf`.
    pub fn serialize(&self) -> Vec<u8> {
        let proto = PreKeySignalMessageProto {
            pre_key_id: self.pre_key_id,
            base_key: Some(self.base_key.serialize().to_vec()),
            identity_key: Some(self.identity_key.serialize().to_vec()),
            message: Some(self.message.clone()),
            registration_id: Some(self.registration_id),
            signed_pre_key_id: Some(self.signed_pre_key_id),
        };
        let mut out = Vec::with_capacity(1 + proto.encoded_len());
        out.push(VERSION_BYTE);
        proto.encode_raw(&mut out);
        out
    }
}
