//! Receiving `<message>` stanzas: decrypt each `<enc>` (pkmsg, msg, skmsg), unpad, decode,
//! and answer with a delivery receipt, a retry receipt or a nack (fact sheet 6.3, 6.4, 6.7).

use prost::Message as _;
use rand_core::CryptoRngCore;
use wa_binary::{
    BROADCAST_SERVER, DEFAULT_USER_SERVER, GROUP_SERVER, HIDDEN_USER_SERVER, Jid, Node,
};
use wa_protos::wa;
use wa_signal::{PreKeySignalMessage, SenderKeyRecord, SignalError};

use super::address::{canonical, device_only, learn_lid};
use super::content::{describe, only_key_distribution};
use super::store::{SignalStore, StoreError};
use super::{Incoming, Messenger, MessengerEvent};

/// After this many retry receipts for one message id we give up and nack it (Baileys
/// `maxMsgRetryCount` = 5).
pub const MAX_RETRY_RECEIPTS: u32 = 5;

/// Nack codes (whatsmeow `receipt.go`, fact sheet 6.7).
const NACK_PARSING: u16 = 487;
const NACK_UNRECOGNIZED: u16 = 488;
const NACK_INVALID_PROTOBUF: u16 = 491;
const NACK_UNHANDLED: u16 = 500;

/// Why one `<enc>` produced no message.
enum Failure {
    /// Signal could not decrypt it: answered with a retry receipt.
    Decrypt(SignalError),
    /// Already decrypted once.
    Duplicate,
    /// A nack with this code.
    Nack(u16, String),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Nack(NACK_UNHANDLED, e.to_string())
    }
}

/// The parsed envelope of a `<message>`.
struct Envelope {
    id: String,
    from: Jid,
    /// The sending device.
    sender: Jid,
    group: Option<Jid>,
    participant: Option<Jid>,
}

impl Messenger {
    pub(crate) fn on_message(
        &mut self,
        store: &mut dyn SignalStore,
        node: &Node,
        now: u64,
        rng: &mut impl CryptoRngCore,
    ) {
        let id = node.attr_str("id").unwrap_or_default().into_owned();
        let Some(from) = node.attr_jid("from") else {
            self.event(MessengerEvent::Rejected {
                id,
                code: NACK_PARSING,
                reason: "message without a from address".into(),
            });
            return;
        };
        let is_group = from.server == GROUP_SERVER || from.server == BROADCAST_SERVER;
        let participant = node.attr_jid("participant");
        let sender = if is_group {
            participant.clone()
        } else {
            Some(from.clone())
        };
        let (Some(sender), false) = (sender, id.is_empty()) else {
            let reason = "message without id or participant".to_owned();
            return self.nack(&id, &from, participant.as_ref(), NACK_PARSING, reason);
        };
        let env = Envelope {
            id,
            from: from.clone(),
            sender: device_only(&sender),
            group: is_group.then_some(from),
            participant,
        };
        match self.learn_mapping(store, node, &env.sender) {
            Ok(()) => self.decrypt_envelope(store, node, &env, now, rng),
            Err(e) => self.nack(
                &env.id,
                &env.from,
                env.participant.as_ref(),
                NACK_UNHANDLED,
                e.to_string(),
            ),
        }
    }

    fn decrypt_envelope(
        &mut self,
        store: &mut dyn SignalStore,
        node: &Node,
        env: &Envelope,
        now: u64,
        rng: &mut impl CryptoRngCore,
    ) {
        let mut encs: Vec<&Node> = node.children_with_tag("enc").collect();
        if encs.is_empty() {
            let reason = "message without <enc>".to_owned();
            let p = env.participant.as_ref();
            return self.nack(&env.id, &env.from, p, NACK_UNRECOGNIZED, reason);
        }
        // Pairwise first: a pkmsg/msg may carry the sender key the skmsg needs.
        encs.sort_by_key(|e| e.attr_str("type").as_deref() == Some("skmsg"));
        let mut content: Option<wa::Message> = None;
        let mut failures = Vec::new();
        for enc in encs {
            match self.decrypt_enc(store, enc, env, now, rng) {
                Ok(message) => {
                    if let Err(e) = self.apply_key_distribution(store, &message, env) {
                        failures.push(Failure::from(e));
                    }
                    if content.is_none() && !only_key_distribution(&message) {
                        content = Some(message);
                    }
                }
                Err(failure) => failures.push(failure),
            }
        }
        let retry = failures.iter().find_map(|f| match f {
            Failure::Decrypt(e) => Some(e.to_string()),
            _ => None,
        });
        let nack = failures.iter().find_map(|f| match f {
            Failure::Nack(code, reason) => Some((*code, reason.clone())),
            _ => None,
        });
        let duplicate = failures.iter().any(|f| matches!(f, Failure::Duplicate));
        if let Some(message) = content {
            let incoming = self.incoming(store, node, env, message);
            self.event(MessengerEvent::Incoming(Box::new(incoming)));
            self.delivery_receipt(node, env);
        } else if let Some(reason) = retry {
            self.retry_receipt(node, env, reason);
        } else if let Some((code, reason)) = nack {
            let p = env.participant.as_ref();
            self.nack(&env.id, &env.from, p, code, reason);
        } else {
            if duplicate {
                self.event(MessengerEvent::Duplicate {
                    from: env.sender.clone(),
                    id: env.id.clone(),
                });
            }
            self.delivery_receipt(node, env);
        }
    }

    /// Stores the LID↔PN mapping the stanza reveals (`sender_lid` / `sender_pn`, or the
    /// group forms `participant_lid` / `participant_pn`).
    fn learn_mapping(
        &mut self,
        store: &mut dyn SignalStore,
        node: &Node,
        sender: &Jid,
    ) -> Result<(), StoreError> {
        let other = [
            "sender_lid",
            "sender_pn",
            "participant_lid",
            "participant_pn",
        ]
        .iter()
        .find_map(|k| node.attr_jid(k));
        let Some(other) = other else {
            return Ok(());
        };
        match (sender.server.as_str(), other.server.as_str()) {
            (DEFAULT_USER_SERVER, HIDDEN_USER_SERVER) => {
                learn_lid(store, &other.user, &sender.user, &[sender.device])
            }
            (HIDDEN_USER_SERVER, DEFAULT_USER_SERVER) => {
                learn_lid(store, &sender.user, &other.user, &[sender.device])
            }
            _ => Ok(()),
        }
    }

    fn decrypt_enc(
        &mut self,
        store: &mut dyn SignalStore,
        enc: &Node,
        env: &Envelope,
        now: u64,
        rng: &mut impl CryptoRngCore,
    ) -> Result<wa::Message, Failure> {
        let kind = enc.attr_str("type").unwrap_or_default();
        let Some(bytes) = enc.content_bytes() else {
            return Err(Failure::Nack(NACK_PARSING, "empty <enc>".into()));
        };
        let address = canonical(store, &env.sender)?.to_string();
        let padded = match kind.as_ref() {
            "pkmsg" => self.decrypt_pkmsg(store, &address, bytes, now, rng)?,
            "msg" => {
                let mut record = store
                    .load_session(&address)?
                    .ok_or(Failure::Decrypt(SignalError::NoSession))?;
                let plain = wa_signal::decrypt_message(&mut record, bytes, rng).map_err(signal)?;
                store.store_session(&address, &record)?;
                plain
            }
            "skmsg" => {
                let group = env.group.as_ref().map(ToString::to_string);
                let group = group.ok_or(Failure::Nack(
                    NACK_UNRECOGNIZED,
                    "skmsg outside a group".into(),
                ))?;
                let mut record = store
                    .load_sender_key(&group, &address)?
                    .ok_or(Failure::Decrypt(SignalError::NoSenderKey(0)))?;
                let plain = wa_signal::group_decrypt(&mut record, bytes).map_err(signal)?;
                store.store_sender_key(&group, &address, &record)?;
                plain
            }
            other => {
                return Err(Failure::Nack(
                    NACK_UNRECOGNIZED,
                    format!("unsupported enc type {other:?}"),
                ));
            }
        };
        // v="3" (MessageApplication) is not padded and not a `wa::Message`: unsupported.
        if enc.attr_str("v").as_deref() == Some("3") {
            return Err(Failure::Nack(
                NACK_UNRECOGNIZED,
                "enc v=3 (MessageApplication) is not supported".into(),
            ));
        }
        let plain = wa_signal::unpad_message(&padded).map_err(|_| {
            Failure::Nack(NACK_INVALID_PROTOBUF, "invalid plaintext padding".into())
        })?;
        wa::Message::decode(plain)
            .map_err(|_| Failure::Nack(NACK_INVALID_PROTOBUF, "invalid Message protobuf".into()))
    }

    fn decrypt_pkmsg(
        &mut self,
        store: &mut dyn SignalStore,
        address: &str,
        bytes: &[u8],
        now: u64,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Vec<u8>, Failure> {
        let message = PreKeySignalMessage::parse(bytes).map_err(signal)?;
        let one_time = match message.pre_key_id {
            Some(id) => store.load_prekey(id)?,
            None => None,
        };
        let mut record = store.load_session(address)?.unwrap_or_default();
        let known = store.load_identity(address)?;
        let done = wa_signal::decrypt_prekey_message(
            &mut record,
            &self.own.identity,
            self.own.registration_id,
            &message,
            Some(&self.own.signed_prekey),
            one_time.as_ref(),
            now,
            rng,
        )
        .map_err(signal)?;
        store.store_session(address, &record)?;
        store.store_identity(address, &done.remote_identity.0)?;
        if let Some(id) = done.consumed_pre_key_id {
            store.remove_prekey(id)?;
            self.event(MessengerEvent::PreKeyConsumed { id });
        }
        if done.identity_changed || known.is_some_and(|k| k != done.remote_identity.0) {
            self.event(MessengerEvent::IdentityChanged {
                address: address.to_owned(),
            });
        }
        Ok(done.plaintext)
    }

    /// Installs a sender key the message distributes (`senderKeyDistributionMessage`).
    fn apply_key_distribution(
        &mut self,
        store: &mut dyn SignalStore,
        message: &wa::Message,
        env: &Envelope,
    ) -> Result<(), StoreError> {
        let distributions = [
            &message.sender_key_distribution_message,
            &message.fast_ratchet_key_sender_key_distribution_message,
        ];
        for skdm in distributions.into_iter().flatten() {
            let (Some(group), Some(bytes)) = (
                skdm.group_id.as_deref(),
                skdm.axolotl_sender_key_distribution_message.as_deref(),
            ) else {
                continue;
            };
            let address = canonical(store, &env.sender)?.to_string();
            let mut record = store
                .load_sender_key(group, &address)?
                .unwrap_or_else(SenderKeyRecord::new);
            match wa_signal::process_sender_key_distribution(&mut record, bytes) {
                Ok(()) => store.store_sender_key(group, &address, &record)?,
                Err(e) => {
                    tracing::warn!(sender = %address, error = %e, "bad sender key distribution")
                }
            }
        }
        Ok(())
    }

    fn incoming(
        &self,
        store: &dyn SignalStore,
        node: &Node,
        env: &Envelope,
        message: wa::Message,
    ) -> Incoming {
        let from_me = self.own.is_own_user(&env.sender);
        let destination = message
            .device_sent_message
            .as_ref()
            .and_then(|d| d.destination_jid.as_deref())
            .and_then(|j| Jid::parse(j).ok());
        let chat = match (&env.group, from_me, destination) {
            (Some(group), _, _) => group.clone(),
            (None, true, Some(dest)) => dest,
            _ => Jid::new(env.sender.user.clone(), env.sender.server.clone()),
        };
        let (kind, text, media) = describe(&message);
        let mapped = |attr: &str, server: &str| -> Option<Jid> {
            if env.sender.server == server {
                return Some(env.sender.clone());
            }
            if let Some(j) = node.attr_jid(attr) {
                return Some(j);
            }
            let user = match server {
                HIDDEN_USER_SERVER => store.lid_for_pn(&env.sender.user).ok().flatten(),
                _ => store.pn_for_lid(&env.sender.user).ok().flatten(),
            };
            user.map(|u| Jid::new(u, server).with_device(env.sender.device))
        };
        let (lid_attr, pn_attr) = if env.group.is_some() {
            ("participant_lid", "participant_pn")
        } else {
            ("sender_lid", "sender_pn")
        };
        Incoming {
            chat,
            sender: env.sender.clone(),
            sender_lid: mapped(lid_attr, HIDDEN_USER_SERVER),
            sender_pn: mapped(pn_attr, DEFAULT_USER_SERVER),
            from_me,
            push_name: node.attr_str("notify").map(|n| n.into_owned()),
            id: env.id.clone(),
            timestamp: node
                .attr_str("t")
                .and_then(|t| t.parse().ok())
                .unwrap_or_default(),
            kind,
            text,
            media,
            message,
        }
    }

    /// `<receipt id to [participant] [type="sender" recipient]>` (fact sheet 6.7).
    fn delivery_receipt(&mut self, node: &Node, env: &Envelope) {
        let mut receipt = self.receipt_base(env);
        if self.own.is_own_user(&env.sender) {
            receipt = receipt.attr("type", "sender");
            if let Some(recipient) = node.get_attr("recipient") {
                receipt = receipt.attr("recipient", recipient.clone());
            }
        }
        self.send(receipt);
    }

    /// `<receipt id to type="retry"><retry count id t v="1"/><registration/></receipt>`
    /// (Baileys `sendRetryRequest`, whatsmeow `retry.go`), or a nack after
    /// [`MAX_RETRY_RECEIPTS`].
    fn retry_receipt(&mut self, node: &Node, env: &Envelope, reason: String) {
        let count = self.next_retry_count(&env.id);
        self.event(MessengerEvent::DecryptFailed {
            from: env.sender.clone(),
            id: env.id.clone(),
            reason: reason.clone(),
        });
        if count > MAX_RETRY_RECEIPTS {
            let p = env.participant.as_ref();
            let why = format!("undecryptable after {MAX_RETRY_RECEIPTS} retries: {reason}");
            return self.nack(&env.id, &env.from, p, NACK_UNHANDLED, why);
        }
        let t = node.attr_str("t").unwrap_or_default().into_owned();
        let receipt = self.receipt_base(env).attr("type", "retry").children(vec![
            Node::new("retry")
                .attr("count", count)
                .attr("id", env.id.clone())
                .attr("t", t)
                .attr("v", "1"),
            Node::new("registration").bytes(self.own.registration_id.to_be_bytes().to_vec()),
        ]);
        self.send(receipt);
    }

    fn receipt_base(&self, env: &Envelope) -> Node {
        let mut receipt = Node::new("receipt")
            .attr("id", env.id.clone())
            .attr("to", env.from.clone());
        if let Some(p) = &env.participant {
            receipt = receipt.attr("participant", p.clone());
        }
        receipt
    }

    /// `<ack class="message" id to [participant] error>` and a [`MessengerEvent::Rejected`].
    fn nack(&mut self, id: &str, to: &Jid, participant: Option<&Jid>, code: u16, reason: String) {
        tracing::warn!(id, code, %reason, "refusing a message");
        self.event(MessengerEvent::Rejected {
            id: id.to_owned(),
            code,
            reason,
        });
        if id.is_empty() {
            return;
        }
        let mut ack = Node::new("ack")
            .attr("class", "message")
            .attr("id", id)
            .attr("to", to.clone());
        if let Some(p) = participant {
            ack = ack.attr("participant", p.clone());
        }
        self.send(ack.attr("error", code));
    }
}

fn signal(e: SignalError) -> Failure {
    match e {
        SignalError::DuplicateMessage { .. } => Failure::Duplicate,
        SignalError::InvalidState(_) => Failure::Nack(NACK_UNHANDLED, e.to_string()),
        other => Failure::Decrypt(other),
    }
}
