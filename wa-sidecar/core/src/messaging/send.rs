//! Sending a 1:1 text as a resumable state machine: usync → bundles → encrypt per device →
//! `<message>` → server ack (fact sheet 6.6, 6.7, 9.4).

use prost::Message as _;
use rand_core::CryptoRngCore;
use wa_binary::{DEFAULT_USER_SERVER, HIDDEN_USER_SERVER, Jid, Node};
use wa_protos::wa;
use wa_signal::{PreKeyBundle, pad_message, process_prekey_bundle};

use super::address::{bare, canonical, learn_lid};
use super::content::{device_sent, text_message};
use super::iqs::{bundle_request, parse_bundles, parse_usync, usync_devices};
use super::store::{DeviceList, SignalStore, StoreError};
use super::{Messenger, MessengerError, MessengerEvent};

/// How long each step (an IQ answer, the server's ack) may take before the send fails
/// (Baileys `query` default, 60 s).
pub const SEND_STEP_TIMEOUT_MS: u64 = 60_000;
/// A cached device list younger than this is used without a usync (Baileys
/// `userDevicesCache`, `DEFAULT_CACHE_TTLS.USER_DEVICES` = 5 minutes).
pub const DEVICE_CACHE_TTL_MS: u64 = 5 * 60 * 1000;

/// Identifies a send in progress; the id is the message id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SendHandle {
    /// The message id (`3EB0…`), also in [`MessengerEvent::SendFinished`].
    pub message_id: String,
}

/// How a send ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// The server acknowledged the message (`<ack class="message">` without error).
    Sent {
        /// The message id.
        message_id: String,
        /// Server timestamp from the ack (`t`, unix seconds), when given.
        server_t: Option<u64>,
    },
    /// The send failed; nothing more will happen for it.
    Failed {
        /// Why (ack error code, IQ error, no reachable device, timeout, store failure).
        reason: String,
    },
}

#[derive(Debug)]
pub(crate) enum Phase {
    Devices { iq: String },
    Bundles { iq: String },
    Ack,
}

pub(crate) struct Outgoing {
    pub message_id: String,
    pub to: Jid,
    pub message: wa::Message,
    pub targets: Vec<Jid>,
    pub phase: Phase,
    pub deadline: u64,
    /// `Some(count)` for a resend a device asked for with a retry receipt: a fresh bundle is
    /// fetched for the single target and the message goes to that device only.
    pub resend: Option<u32>,
}

impl Messenger {
    /// Starts sending `text` to the user `to` (`972…@s.whatsapp.net` or `…@lid`) under
    /// `message_id` (see [`super::generate_message_id`]). Progress comes back through
    /// [`Messenger::handle_node`]; the end is a [`MessengerEvent::SendFinished`].
    pub fn send_text(
        &mut self,
        store: &mut dyn SignalStore,
        to: &Jid,
        text: &str,
        message_id: &str,
        now: u64,
        rng: &mut impl CryptoRngCore,
    ) -> Result<SendHandle, MessengerError> {
        let user_server = to.server == DEFAULT_USER_SERVER || to.server == HIDDEN_USER_SERVER;
        if to.user.is_empty() || !user_server || to.device != 0 {
            return Err(MessengerError::InvalidRecipient(to.to_string()));
        }
        if self.sends.iter().any(|s| s.message_id == message_id) {
            return Err(MessengerError::DuplicateSend(message_id.to_owned()));
        }
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        let users = [bare(to), bare(&self.own.pn)];
        let cached: Vec<Option<DeviceList>> = users
            .iter()
            .map(|u| store.load_devices(&u.to_string()))
            .collect::<Result<_, _>>()?;
        let fresh = cached.iter().all(|c| {
            c.as_ref()
                .is_some_and(|l| now.saturating_sub(l.fetched_at) < DEVICE_CACHE_TTL_MS)
        });
        let mut outgoing = Outgoing {
            message_id: message_id.to_owned(),
            to: bare(to),
            message: text_message(text, secret),
            targets: Vec::new(),
            phase: Phase::Ack,
            deadline: now.saturating_add(SEND_STEP_TIMEOUT_MS),
            resend: None,
        };
        if fresh {
            let lists: Vec<(Jid, Vec<u16>)> = users
                .into_iter()
                .zip(cached)
                .map(|(u, c)| (u, c.map(|l| l.devices).unwrap_or_default()))
                .collect();
            outgoing.targets = self.targets_from(&lists);
            self.sends.push(outgoing);
            let index = self.sends.len() - 1;
            self.ensure_sessions(store, index, true, now, rng);
        } else {
            let iq = self.next_id();
            let mut node = usync_devices(&iq, &users);
            node.attrs.insert("id", iq.clone());
            outgoing.phase = Phase::Devices { iq };
            self.sends.push(outgoing);
            self.send(node);
        }
        Ok(SendHandle {
            message_id: message_id.to_owned(),
        })
    }

    /// The earliest deadline of a send in flight (unix millis).
    pub fn poll_timeout(&self) -> Option<u64> {
        self.sends.iter().map(|s| s.deadline).min()
    }

    /// Fails every send whose current step passed its deadline.
    pub fn handle_timeout(&mut self, now: u64) {
        let expired: Vec<String> = self
            .sends
            .iter()
            .filter(|s| s.deadline <= now)
            .map(|s| s.message_id.clone())
            .collect();
        for id in expired {
            if let Some(index) = self.sends.iter().position(|s| s.message_id == id) {
                let step = format!("{:?}", self.sends[index].phase);
                self.finish(index, failed(format!("timed out waiting for {step}")));
            }
        }
    }

    /// Device JIDs to encrypt for: every listed device of the peer and of us, except this one.
    fn targets_from(&self, lists: &[(Jid, Vec<u16>)]) -> Vec<Jid> {
        let mut targets = Vec::new();
        for (user, devices) in lists {
            for device in devices {
                let jid = user.clone().with_device(*device);
                let is_me = jid.user == self.own.pn.user
                    && jid.server == self.own.pn.server
                    && jid.device == self.own.pn.device;
                if !is_me && !targets.contains(&jid) {
                    targets.push(jid);
                }
            }
        }
        targets
    }

    pub(crate) fn on_iq(
        &mut self,
        store: &mut dyn SignalStore,
        node: &Node,
        now: u64,
        rng: &mut impl CryptoRngCore,
    ) -> bool {
        let id = node.attr_str("id").unwrap_or_default();
        let Some(index) = self.sends.iter().position(|s| match &s.phase {
            Phase::Devices { iq } | Phase::Bundles { iq } => *iq == id,
            Phase::Ack => false,
        }) else {
            return false;
        };
        if node.attr_str("type").as_deref() != Some("result") {
            let error = node
                .child("error")
                .map(|e| {
                    format!(
                        "{} {}",
                        e.attr_str("code").unwrap_or_default(),
                        e.attr_str("text").unwrap_or_default()
                    )
                })
                .unwrap_or_else(|| "no error element".into());
            self.finish(index, failed(format!("server refused the query: {error}")));
            return true;
        }
        let fetch = matches!(self.sends[index].phase, Phase::Devices { .. });
        let result = if fetch {
            self.on_devices(store, index, node, now)
        } else {
            self.on_bundles(store, index, node, now, rng)
        };
        match result {
            Ok(()) => self.ensure_sessions(store, index, fetch, now, rng),
            Err(e) => self.finish(index, failed(e.to_string())),
        }
        true
    }

    fn on_devices(
        &mut self,
        store: &mut dyn SignalStore,
        index: usize,
        node: &Node,
        now: u64,
    ) -> Result<(), StoreError> {
        let users = parse_usync(node);
        let mut lists = Vec::new();
        for user in users {
            if let Some(lid) = &user.lid
                && user.jid.server == DEFAULT_USER_SERVER
            {
                learn_lid(store, lid, &user.jid.user, &user.devices)?;
            }
            let list = DeviceList {
                devices: user.devices.clone(),
                fetched_at: now,
            };
            store.store_devices(&user.jid.to_string(), &list)?;
            lists.push((user.jid, user.devices));
        }
        let targets = self.targets_from(&lists);
        self.sends[index].targets = targets;
        Ok(())
    }

    fn on_bundles(
        &mut self,
        store: &mut dyn SignalStore,
        index: usize,
        node: &Node,
        now: u64,
        rng: &mut impl CryptoRngCore,
    ) -> Result<(), StoreError> {
        let forced = self.sends[index].resend.is_some();
        let wanted: Vec<Jid> = self.sends[index]
            .targets
            .iter()
            .map(|t| canonical(store, t))
            .collect::<Result<_, _>>()?;
        for (jid, bundle) in parse_bundles(node) {
            let address = canonical(store, &jid)?;
            if !wanted.contains(&address) {
                continue;
            }
            self.install_bundle(store, &address.to_string(), &bundle, forced, now, rng)?;
        }
        // Devices left without a session are skipped by `encrypt_and_send`.
        Ok(())
    }

    /// Opens a session with `address` from `bundle` (unless one exists and not `forced`),
    /// stores it and the identity, and reports an identity change. A bundle whose signature
    /// does not verify is logged and skipped.
    pub(crate) fn install_bundle(
        &mut self,
        store: &mut dyn SignalStore,
        address: &str,
        bundle: &PreKeyBundle,
        forced: bool,
        now: u64,
        rng: &mut impl CryptoRngCore,
    ) -> Result<(), StoreError> {
        let mut record = store.load_session(address)?.unwrap_or_default();
        if record.has_current_session() && !forced {
            return Ok(());
        }
        let own = &self.own;
        match process_prekey_bundle(
            &mut record,
            &own.identity,
            own.registration_id,
            bundle,
            now,
            rng,
        ) {
            Ok(setup) => {
                let known = store.load_identity(address)?;
                store.store_session(address, &record)?;
                store.store_identity(address, &bundle.identity_key.0)?;
                if setup.identity_changed || known.is_some_and(|k| k != bundle.identity_key.0) {
                    self.event(MessengerEvent::IdentityChanged {
                        address: address.to_owned(),
                    });
                }
            }
            Err(e) => tracing::warn!(device = %address, error = %e, "refused a prekey bundle"),
        }
        Ok(())
    }

    /// With `fetch`, asks for the bundles of target devices without a session; then (or
    /// without `fetch`) encrypts and sends.
    pub(crate) fn ensure_sessions(
        &mut self,
        store: &mut dyn SignalStore,
        index: usize,
        fetch: bool,
        now: u64,
        rng: &mut impl CryptoRngCore,
    ) {
        if fetch {
            match self.missing_sessions(store, index) {
                Ok(missing) if !missing.is_empty() => {
                    let iq = self.next_id();
                    let mut node = bundle_request(&missing);
                    node.attrs.insert("id", iq.clone());
                    let send = &mut self.sends[index];
                    send.phase = Phase::Bundles { iq };
                    send.deadline = now.saturating_add(SEND_STEP_TIMEOUT_MS);
                    self.send(node);
                    return;
                }
                Ok(_) => {}
                Err(e) => return self.finish(index, failed(e.to_string())),
            }
        }
        if let Err(reason) = self.encrypt_and_send(store, index, now, rng) {
            self.finish(index, failed(reason));
        }
    }

    fn missing_sessions(
        &self,
        store: &dyn SignalStore,
        index: usize,
    ) -> Result<Vec<Jid>, StoreError> {
        let mut missing = Vec::new();
        let forced = self.sends[index].resend.is_some();
        for target in &self.sends[index].targets {
            let address = canonical(store, target)?;
            if forced {
                missing.push(address);
                continue;
            }
            let has = store
                .load_session(&address.to_string())?
                .is_some_and(|r| r.has_current_session());
            if !has {
                missing.push(address);
            }
        }
        Ok(missing)
    }

    fn encrypt_and_send(
        &mut self,
        store: &mut dyn SignalStore,
        index: usize,
        now: u64,
        rng: &mut impl CryptoRngCore,
    ) -> Result<(), String> {
        let send = &self.sends[index];
        let peer_plain = send.message.encode_to_vec();
        let own_plain = device_sent(&send.to.to_string(), &send.message).encode_to_vec();
        let mut participants = Vec::new();
        let mut any_prekey = false;
        let mut peer_devices = 0usize;
        let count = send.resend;
        for target in &send.targets {
            let own_device = self.own.is_own_user(target);
            let address = canonical(store, target)
                .map_err(|e| e.to_string())?
                .to_string();
            let Some(mut record) = store.load_session(&address).map_err(|e| e.to_string())? else {
                continue;
            };
            let plain = if own_device { &own_plain } else { &peer_plain };
            let ciphertext = match wa_signal::encrypt(&mut record, &pad_message(plain, rng)) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(device = %address, error = %e, "cannot encrypt for device");
                    continue;
                }
            };
            store
                .store_session(&address, &record)
                .map_err(|e| e.to_string())?;
            any_prekey |= ciphertext.enc_type() == "pkmsg";
            peer_devices += usize::from(!own_device || count.is_some());
            let mut enc = Node::new("enc")
                .attr("v", "2")
                .attr("type", ciphertext.enc_type());
            if let Some(count) = count {
                enc = enc.attr("count", count);
            }
            let enc = enc.bytes(ciphertext.bytes().to_vec());
            participants.push(
                Node::new("to")
                    .attr("jid", target.clone())
                    .children(vec![enc]),
            );
        }
        if peer_devices == 0 {
            return Err(format!("no device of {} could be reached", send.to));
        }
        // A resend goes straight to the one device: `<message to=device><enc count/>`
        // (Baileys `relayMessage` with `participant`, used by `sendMessagesAgain`).
        let (to, mut children) = match (count, participants.pop()) {
            (Some(_), Some(single)) => (
                single.attr_jid("jid").unwrap_or_else(|| send.to.clone()),
                single.nodes().to_vec(),
            ),
            (_, last) => {
                participants.extend(last);
                let to = send.to.clone();
                (to, vec![Node::new("participants").children(participants)])
            }
        };
        if any_prekey {
            children.push(Node::new("device-identity").bytes(self.own.account.clone()));
        }
        let node = Node::new("message")
            .attr("id", send.message_id.clone())
            .attr("to", to)
            .attr("type", "text")
            .children(children);
        if count.is_none() {
            self.remember_sent(index);
        }
        let send = &mut self.sends[index];
        send.phase = Phase::Ack;
        send.deadline = now.saturating_add(SEND_STEP_TIMEOUT_MS);
        self.send(node);
        Ok(())
    }

    /// `<ack class="message" id [error] [t]>` for a send awaiting it; `false` otherwise.
    pub(crate) fn on_ack(&mut self, node: &Node) -> bool {
        if node.attr_str("class").as_deref() != Some("message") {
            return false;
        }
        let id = node.attr_str("id").unwrap_or_default();
        let Some(index) = self
            .sends
            .iter()
            .position(|s| s.message_id == id && matches!(s.phase, Phase::Ack))
        else {
            return false;
        };
        let outcome = match node.attr_str("error") {
            Some(code) => failed(format!("server refused the message: error {code}")),
            None => SendOutcome::Sent {
                message_id: id.into_owned(),
                server_t: node.attr_str("t").and_then(|t| t.parse().ok()),
            },
        };
        self.finish(index, outcome);
        true
    }

    fn finish(&mut self, index: usize, outcome: SendOutcome) {
        let send = self.sends.remove(index);
        if send.resend.is_some() {
            tracing::info!(id = %send.message_id, ?outcome, "resend finished");
            return;
        }
        self.event(MessengerEvent::SendFinished {
            message_id: send.message_id,
            outcome,
        });
    }
}

fn failed(reason: String) -> SendOutcome {
    SendOutcome::Failed { reason }
}
