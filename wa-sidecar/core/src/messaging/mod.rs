//! Sans-IO end-to-end messaging on top of [`crate::Connection`]: sending a 1:1 text (usync →
//! bundles → Signal sessions → per-device encryption → `<message>`), receiving `pkmsg`/`msg`/
//! `skmsg` stanzas, delivery/retry receipts and nacks, and peers' receipts for our messages
//! (fact sheet sections 6 and 9.4).
//!
//! The [`Messenger`] works at node level: feed it every [`crate::ConnEvent::Node`] with
//! [`Messenger::handle_node`] and drain [`Messenger::poll_output`]. Outputs are ordered:
//! handle (persist) each [`Output::Event`] before sending any [`Output::Send`] that follows
//! it, e.g. write an [`Incoming`] to the durable outbox before sending its receipt.
//! Nodes to send go to [`crate::Connection::send_node`] (IQs carry their own ids).
//! Signal state lives in a [`SignalStore`]; see [`store`] for the persistence contract.
//! No clock, no randomness of its own: `now` (unix millis) and an rng are passed in, and
//! [`Messenger::poll_timeout`]/[`Messenger::handle_timeout`] time out stalled sends.

mod address;
mod content;
mod iqs;
mod receipts;
mod receive;
mod resend;
mod send;
pub mod store;

use std::collections::{BTreeMap, VecDeque};

use wa_binary::{Jid, Node};
use wa_crypto::KeyPair;
use wa_signal::SignedPreKeyRecord;

pub use address::generate_message_id;
pub use content::{ContentKind, MediaInfo};
pub use receipts::{ReceiptEvent, ReceiptKind};
pub use receive::MAX_RETRY_RECEIPTS;
pub use resend::RECENT_SENT_CAPACITY;
pub use send::{DEVICE_CACHE_TTL_MS, SEND_STEP_TIMEOUT_MS, SendHandle, SendOutcome};
pub use store::{DeviceList, MemoryStore, SignalStore, StoreError};

use crate::DeviceState;

/// A message another device sent us, decrypted and decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    /// The chat: the sender's bare JID for a 1:1 message, the group JID for a group message,
    /// and for a copy of our own message sent from another of our devices the peer it went to.
    pub chat: Jid,
    /// The sending device (`user:device@server`, as the stanza named it).
    pub sender: Jid,
    /// The sender's LID, when the stanza or a stored mapping gave one (`sender_lid`).
    pub sender_lid: Option<Jid>,
    /// The sender's phone-number JID, when known (`sender_pn`, or the `from` itself).
    pub sender_pn: Option<Jid>,
    /// True when one of our own other devices sent it (a `deviceSentMessage` copy).
    pub from_me: bool,
    /// Sender's display name (`notify`).
    pub push_name: Option<String>,
    /// Message id (`key.id`).
    pub id: String,
    /// Server timestamp, unix seconds (`t`), 0 when absent.
    pub timestamp: u64,
    /// What it carries.
    pub kind: ContentKind,
    /// The text, or a media caption.
    pub text: Option<String>,
    /// Media metadata for a later download.
    pub media: Option<MediaInfo>,
    /// The whole decoded protobuf, for anything the fields above leave out.
    pub message: wa_protos::wa::Message,
}

/// Something the driver must know about. See the module docs for ordering.
#[derive(Debug, Clone, PartialEq)]
pub enum MessengerEvent {
    /// A message arrived; persist it before sending the receipt that follows.
    Incoming(Box<Incoming>),
    /// A send ended.
    SendFinished {
        /// The message id given to [`Messenger::send_text`].
        message_id: String,
        /// How it ended.
        outcome: SendOutcome,
    },
    /// A peer's receipt for messages we sent.
    Receipt(ReceiptEvent),
    /// A message could not be decrypted; a retry receipt follows.
    DecryptFailed {
        /// Sending device.
        from: Jid,
        /// Message id.
        id: String,
        /// Why (the Signal error).
        reason: String,
    },
    /// A message we had already decrypted arrived again (replay or redelivery); no second
    /// [`MessengerEvent::Incoming`], but the receipt is sent again so the server stops.
    Duplicate {
        /// Sending device.
        from: Jid,
        /// Message id.
        id: String,
    },
    /// A peer's identity key changed (reinstall): the old session was replaced.
    IdentityChanged {
        /// The Signal address whose identity changed.
        address: String,
    },
    /// A `pkmsg` consumed our one-time prekey `id` (already removed from the store); call
    /// [`crate::Connection::forget_prekey`] so the persisted device state drops it too.
    PreKeyConsumed {
        /// The prekey id.
        id: u32,
    },
    /// A stanza we could not handle was refused with a nack (`<ack error>`) that follows.
    Rejected {
        /// Stanza id.
        id: String,
        /// The nack code (487, 488, 491, 500).
        code: u16,
        /// Why.
        reason: String,
    },
}

/// One thing for the driver to do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Hand to [`crate::Connection::send_node`].
    Send(Node),
    /// Act on (and persist) before sending what follows.
    Event(MessengerEvent),
}

/// Why the messenger refused a call (the caller's fault, or the store's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessengerError {
    /// The device has no JID or no account identity yet: pair first.
    #[error("device is not paired")]
    NotPaired,
    /// The recipient is not a user JID this layer can send to.
    #[error("invalid recipient {0:?}: expected user@s.whatsapp.net or user@lid")]
    InvalidRecipient(String),
    /// A send with this message id is already in flight.
    #[error("a send with message id {0} is already in flight")]
    DuplicateSend(String),
    /// The driver's store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Our own keys and addresses, copied from the [`DeviceState`].
#[derive(Clone)]
pub(crate) struct Own {
    pub identity: KeyPair,
    pub registration_id: u32,
    pub signed_prekey: SignedPreKeyRecord,
    pub account: Vec<u8>,
    /// Own device JID (phone number).
    pub pn: Jid,
    /// Own LID device JID, when known.
    pub lid: Option<Jid>,
}

impl Own {
    /// True when `jid` is one of our own user's devices (by phone number or LID).
    pub(crate) fn is_own_user(&self, jid: &Jid) -> bool {
        (jid.user == self.pn.user && jid.server == self.pn.server)
            || self
                .lid
                .as_ref()
                .is_some_and(|l| jid.user == l.user && jid.server == l.server)
    }
}

/// Keeps this many retry counters (by message id) in memory.
const MAX_RETRY_COUNTERS: usize = 512;

/// The sans-IO messaging machine. See the module documentation.
pub struct Messenger {
    pub(crate) own: Own,
    pub(crate) sends: Vec<send::Outgoing>,
    pub(crate) retries: BTreeMap<String, u32>,
    pub(crate) outputs: VecDeque<Output>,
    pub(crate) recent: VecDeque<resend::SentMessage>,
    id_prefix: String,
    id_counter: u64,
}

impl std::fmt::Debug for Messenger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Messenger")
            .field("jid", &self.own.pn.to_string())
            .field("sends_in_flight", &self.sends.len())
            .finish_non_exhaustive()
    }
}

impl Messenger {
    /// A messenger for the paired `device`. `rng` only seeds the IQ id prefix.
    pub fn new(
        device: &DeviceState,
        rng: &mut impl rand_core::CryptoRngCore,
    ) -> Result<Self, MessengerError> {
        let pn = device.own_jid().ok_or(MessengerError::NotPaired)?;
        let account = device.account.clone().ok_or(MessengerError::NotPaired)?;
        let own = Own {
            identity: device.identity_key.clone(),
            registration_id: device.registration_id,
            signed_prekey: SignedPreKeyRecord {
                id: device.signed_prekey.id,
                key_pair: device.signed_prekey.key_pair.clone(),
                signature: device.signed_prekey.signature,
            },
            account,
            pn,
            lid: device.own_lid(),
        };
        Ok(Self {
            own,
            sends: Vec::new(),
            retries: BTreeMap::new(),
            outputs: VecDeque::new(),
            recent: VecDeque::new(),
            id_prefix: format!("m{:04x}", rng.next_u32() as u16),
            id_counter: 0,
        })
    }

    /// Our device JID.
    pub fn own_jid(&self) -> &Jid {
        &self.own.pn
    }

    /// The next thing to do, in order.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Feeds a stanza the connection surfaced. Returns `false` when it is not for this layer
    /// (the driver handles it elsewhere). Store writes happen inside this call; outputs are
    /// queued only after them.
    pub fn handle_node(
        &mut self,
        store: &mut dyn SignalStore,
        node: &Node,
        now: u64,
        rng: &mut impl rand_core::CryptoRngCore,
    ) -> bool {
        match node.tag.as_str() {
            "message" => {
                self.on_message(store, node, now, rng);
                true
            }
            "receipt" => {
                self.on_receipt(store, node, now, rng);
                true
            }
            "ack" => self.on_ack(node),
            "iq" => self.on_iq(store, node, now, rng),
            _ => false,
        }
    }

    pub(crate) fn next_id(&mut self) -> String {
        self.id_counter += 1;
        format!("{}-{}", self.id_prefix, self.id_counter)
    }

    pub(crate) fn send(&mut self, node: Node) {
        self.outputs.push_back(Output::Send(node));
    }

    pub(crate) fn event(&mut self, event: MessengerEvent) {
        self.outputs.push_back(Output::Event(event));
    }

    /// Counts a retry for message `id` and returns its number (1, 2, ...).
    pub(crate) fn next_retry_count(&mut self, id: &str) -> u32 {
        if self.retries.len() >= MAX_RETRY_COUNTERS && !self.retries.contains_key(id) {
            self.retries.pop_first();
        }
        let count = self.retries.entry(id.to_owned()).or_insert(0);
        *count = count.saturating_add(1);
        *count
    }
}
