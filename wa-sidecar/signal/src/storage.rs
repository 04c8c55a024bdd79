//! Byte encoding of records for the driver's store (sled): one format-version byte, then a
//! protobuf of our own (below). Protobuf keeps old records readable when fields are added.

use std::collections::VecDeque;

use wa_crypto::KeyPair;

use crate::SignalError;
use crate::keys::{PreKeyRecord, PublicKey, SignedPreKeyRecord};
use crate::ratchet_keys::ChainKey;
use crate::record::{MAX_ARCHIVED_STATES, SessionRecord};
use crate::sender_keys::{MAX_SENDER_KEY_STATES, SenderKeyRecord, SenderKeyState};
use crate::state::{PendingPreKey, ReceiverChain, SenderChain, SessionState};

/// First byte of every serialized record; bumped on incompatible changes.
pub const STORAGE_FORMAT_VERSION: u8 = 1;

#[derive(Clone, PartialEq, prost::Message)]
struct ChainKeyPb {
    #[prost(bytes = "vec", tag = "1")]
    key: Vec<u8>,
    #[prost(uint32, tag = "2")]
    index: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SkippedKeyPb {
    #[prost(uint32, tag = "1")]
    counter: u32,
    #[prost(bytes = "vec", tag = "2")]
    seed: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ReceiverChainPb {
    #[prost(bytes = "vec", tag = "1")]
    ratchet_key: Vec<u8>,
    #[prost(message, optional, tag = "2")]
    chain_key: Option<ChainKeyPb>,
    #[prost(message, repeated, tag = "3")]
    skipped: Vec<SkippedKeyPb>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct PendingPreKeyPb {
    #[prost(uint32, optional, tag = "1")]
    pre_key_id: Option<u32>,
    #[prost(uint32, tag = "2")]
    signed_pre_key_id: u32,
    #[prost(bytes = "vec", tag = "3")]
    base_key: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SessionStatePb {
    #[prost(bytes = "vec", tag = "1")]
    local_identity: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    remote_identity: Vec<u8>,
    #[prost(uint32, tag = "3")]
    local_registration_id: u32,
    #[prost(uint32, tag = "4")]
    remote_registration_id: u32,
    #[prost(bytes = "vec", tag = "5")]
    base_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "6")]
    root_key: Vec<u8>,
    #[prost(uint32, tag = "7")]
    previous_counter: u32,
    #[prost(bytes = "vec", tag = "8")]
    sender_ratchet_private: Vec<u8>,
    #[prost(message, optional, tag = "9")]
    sender_chain_key: Option<ChainKeyPb>,
    #[prost(message, repeated, tag = "10")]
    receiver_chains: Vec<ReceiverChainPb>,
    #[prost(message, optional, tag = "11")]
    pending_pre_key: Option<PendingPreKeyPb>,
    #[prost(uint64, tag = "12")]
    created_at: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SessionRecordPb {
    #[prost(message, optional, tag = "1")]
    current: Option<SessionStatePb>,
    #[prost(message, repeated, tag = "2")]
    previous: Vec<SessionStatePb>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SenderKeyStatePb {
    #[prost(uint32, tag = "1")]
    key_id: u32,
    #[prost(message, optional, tag = "2")]
    chain_key: Option<ChainKeyPb>,
    #[prost(bytes = "vec", tag = "3")]
    signing_public: Vec<u8>,
    #[prost(bytes = "vec", optional, tag = "4")]
    signing_private: Option<Vec<u8>>,
    #[prost(message, repeated, tag = "5")]
    skipped: Vec<SkippedKeyPb>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SenderKeyRecordPb {
    #[prost(message, repeated, tag = "1")]
    states: Vec<SenderKeyStatePb>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct PreKeyPb {
    #[prost(uint32, tag = "1")]
    id: u32,
    #[prost(bytes = "vec", tag = "2")]
    private_key: Vec<u8>,
    #[prost(bytes = "vec", optional, tag = "3")]
    signature: Option<Vec<u8>>,
}

const BAD: SignalError = SignalError::InvalidState("malformed stored record");

fn encode(message: &impl prost::Message) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + message.encoded_len());
    out.push(STORAGE_FORMAT_VERSION);
    message.encode_raw(&mut out);
    out
}

fn decode<M: prost::Message + Default>(bytes: &[u8]) -> Result<M, SignalError> {
    match bytes {
        [STORAGE_FORMAT_VERSION, rest @ ..] => M::decode(rest).map_err(|_| BAD),
        _ => Err(SignalError::InvalidState(
            "unknown stored record format version",
        )),
    }
}

fn arr<const N: usize>(bytes: &[u8]) -> Result<[u8; N], SignalError> {
    bytes.try_into().map_err(|_| BAD)
}

fn key(bytes: &[u8]) -> Result<PublicKey, SignalError> {
    arr(bytes).map(PublicKey)
}

fn chain_to(ck: &ChainKey) -> ChainKeyPb {
    ChainKeyPb {
        key: ck.key.to_vec(),
        index: ck.index,
    }
}

fn chain_from(pb: Option<&ChainKeyPb>) -> Result<ChainKey, SignalError> {
    let pb = pb.ok_or(BAD)?;
    Ok(ChainKey {
        key: arr(&pb.key)?,
        index: pb.index,
    })
}

fn skipped_to(list: &VecDeque<(u32, [u8; 32])>) -> Vec<SkippedKeyPb> {
    list.iter()
        .map(|(counter, seed)| SkippedKeyPb {
            counter: *counter,
            seed: seed.to_vec(),
        })
        .collect()
}

fn skipped_from(list: &[SkippedKeyPb]) -> Result<VecDeque<(u32, [u8; 32])>, SignalError> {
    list.iter()
        .map(|s| Ok((s.counter, arr(&s.seed)?)))
        .collect()
}

fn state_to(s: &SessionState) -> SessionStatePb {
    SessionStatePb {
        local_identity: s.local_identity.0.to_vec(),
        remote_identity: s.remote_identity.0.to_vec(),
        local_registration_id: s.local_registration_id,
        remote_registration_id: s.remote_registration_id,
        base_key: s.base_key.0.to_vec(),
        root_key: s.root_key.to_vec(),
        previous_counter: s.previous_counter,
        sender_ratchet_private: s.sender_chain.ratchet_key.private.to_vec(),
        sender_chain_key: Some(chain_to(&s.sender_chain.chain_key)),
        receiver_chains: s
            .receiver_chains
            .iter()
            .map(|c| ReceiverChainPb {
                ratchet_key: c.ratchet_key.0.to_vec(),
                chain_key: Some(chain_to(&c.chain_key)),
                skipped: skipped_to(&c.skipped),
            })
            .collect(),
        pending_pre_key: s.pending_pre_key.as_ref().map(|p| PendingPreKeyPb {
            pre_key_id: p.pre_key_id,
            signed_pre_key_id: p.signed_pre_key_id,
            base_key: p.base_key.0.to_vec(),
        }),
        created_at: s.created_at,
    }
}

fn state_from(pb: &SessionStatePb) -> Result<SessionState, SignalError> {
    Ok(SessionState {
        local_identity: key(&pb.local_identity)?,
        remote_identity: key(&pb.remote_identity)?,
        local_registration_id: pb.local_registration_id,
        remote_registration_id: pb.remote_registration_id,
        base_key: key(&pb.base_key)?,
        root_key: arr(&pb.root_key)?,
        previous_counter: pb.previous_counter,
        sender_chain: SenderChain {
            ratchet_key: KeyPair::from_private(arr(&pb.sender_ratchet_private)?),
            chain_key: chain_from(pb.sender_chain_key.as_ref())?,
        },
        receiver_chains: pb
            .receiver_chains
            .iter()
            .map(|c| {
                Ok(ReceiverChain {
                    ratchet_key: key(&c.ratchet_key)?,
                    chain_key: chain_from(c.chain_key.as_ref())?,
                    skipped: skipped_from(&c.skipped)?,
                })
            })
            .collect::<Result<_, SignalError>>()?,
        pending_pre_key: pb
            .pending_pre_key
            .as_ref()
            .map(|p| {
                Ok::<_, SignalError>(PendingPreKey {
                    pre_key_id: p.pre_key_id,
                    signed_pre_key_id: p.signed_pre_key_id,
                    base_key: key(&p.base_key)?,
                })
            })
            .transpose()?,
        created_at: pb.created_at,
    })
}

impl SessionRecord {
    /// Encodes the record for storage: [`STORAGE_FORMAT_VERSION`] then protobuf.
    pub fn serialize(&self) -> Vec<u8> {
        encode(&SessionRecordPb {
            current: self.current.as_ref().map(state_to),
            previous: self.previous.iter().map(state_to).collect(),
        })
    }

    /// Decodes a stored record; refuses unknown versions and malformed content.
    pub fn deserialize(bytes: &[u8]) -> Result<Self, SignalError> {
        let pb: SessionRecordPb = decode(bytes)?;
        Ok(Self {
            current: pb.current.as_ref().map(state_from).transpose()?,
            previous: pb
                .previous
                .iter()
                .take(MAX_ARCHIVED_STATES)
                .map(state_from)
                .collect::<Result<_, _>>()?,
        })
    }
}

impl SenderKeyRecord {
    /// Encodes the record for storage: [`STORAGE_FORMAT_VERSION`] then protobuf.
    pub fn serialize(&self) -> Vec<u8> {
        encode(&SenderKeyRecordPb {
            states: self
                .states
                .iter()
                .map(|s| SenderKeyStatePb {
                    key_id: s.key_id,
                    chain_key: Some(chain_to(&s.chain_key)),
                    signing_public: s.signing_public.0.to_vec(),
                    signing_private: s.signing_private.map(|p| p.to_vec()),
                    skipped: skipped_to(&s.skipped),
                })
                .collect(),
        })
    }

    /// Decodes a stored record; refuses unknown versions and malformed content.
    pub fn deserialize(bytes: &[u8]) -> Result<Self, SignalError> {
        let pb: SenderKeyRecordPb = decode(bytes)?;
        let states = pb
            .states
            .iter()
            .take(MAX_SENDER_KEY_STATES)
            .map(|s| {
                Ok(SenderKeyState {
                    key_id: s.key_id,
                    chain_key: chain_from(s.chain_key.as_ref())?,
                    signing_public: key(&s.signing_public)?,
                    signing_private: s.signing_private.as_deref().map(arr).transpose()?,
                    skipped: skipped_from(&s.skipped)?,
                })
            })
            .collect::<Result<_, SignalError>>()?;
        Ok(Self { states })
    }
}

impl PreKeyRecord {
    /// Encodes the prekey (id and private key) for storage.
    pub fn serialize(&self) -> Vec<u8> {
        encode(&PreKeyPb {
            id: self.id,
            private_key: self.key_pair.private.to_vec(),
            signature: None,
        })
    }

    /// Decodes a stored prekey.
    pub fn deserialize(bytes: &[u8]) -> Result<Self, SignalError> {
        let pb: PreKeyPb = decode(bytes)?;
        Ok(Self {
            id: pb.id,
            key_pair: KeyPair::from_private(arr(&pb.private_key)?),
        })
    }
}

impl SignedPreKeyRecord {
    /// Encodes the signed prekey (id, private key, signature) for storage.
    pub fn serialize(&self) -> Vec<u8> {
        encode(&PreKeyPb {
            id: self.id,
            private_key: self.key_pair.private.to_vec(),
            signature: Some(self.signature.to_vec()),
        })
    }

    /// Decodes a stored signed prekey.
    pub fn deserialize(bytes: &[u8]) -> Result<Self, SignalError> {
        let pb: PreKeyPb = decode(bytes)?;
        Ok(Self {
            id: pb.id,
            key_pair: KeyPair::from_private(arr(&pb.private_key)?),
            signature: arr(pb.signature.as_deref().ok_or(BAD)?)?,
        })
    }
}
