//! Answering a peer's retry receipt: the message is encrypted again for that one device on a
//! session built from a freshly fetched bundle, and sent to it alone (Baileys
//! `sendMessagesAgain` in `src/Socket/messages-recv.ts`, which forces `assertSessions`;
//! whatsmeow `handleRetryReceipt` in `retry.go`).
//!
//! Only messages sent by this `Messenger` instance are kept (the last
//! [`RECENT_SENT_CAPACITY`], in memory): a retry for an older message, or one that arrives
//! after a restart, is reported as a receipt but not answered with a resend.

use rand_core::CryptoRngCore;
use wa_binary::{Jid, Node};
use wa_protos::wa;

use super::Messenger;
use super::address::{canonical, device_only};
use super::iqs::{bundle_request, parse_bundle};
use super::send::{Outgoing, Phase, SEND_STEP_TIMEOUT_MS};
use super::store::SignalStore;

/// How many sent messages are kept for resends.
pub const RECENT_SENT_CAPACITY: usize = 256;

/// A message we sent, kept for resends.
pub(crate) struct SentMessage {
    id: String,
    to: Jid,
    message: wa::Message,
}

impl Messenger {
    /// Keeps the message of send `index` for later resends.
    pub(crate) fn remember_sent(&mut self, index: usize) {
        let send = &self.sends[index];
        if self.recent.len() >= RECENT_SENT_CAPACITY {
            self.recent.pop_front();
        }
        self.recent.push_back(SentMessage {
            id: send.message_id.clone(),
            to: send.to.clone(),
            message: send.message.clone(),
        });
    }

    /// Starts a resend of message `id` to `device` after its retry receipt `receipt`. When
    /// the receipt carries the device's keys (`<registration>` + `<keys>`, which Baileys adds
    /// from the second retry on) the session is built from them at once; otherwise a fresh
    /// bundle is fetched first.
    pub(crate) fn start_resend(
        &mut self,
        store: &mut dyn SignalStore,
        receipt: &Node,
        device: &Jid,
        now: u64,
        rng: &mut impl CryptoRngCore,
    ) {
        let id = receipt.attr_str("id").unwrap_or_default();
        let Some((sent_id, to, message)) = self
            .recent
            .iter()
            .find(|m| m.id == id)
            .map(|m| (m.id.clone(), m.to.clone(), m.message.clone()))
        else {
            tracing::info!(%id, "retry receipt for a message we no longer hold");
            return;
        };
        let count = receipt
            .child("retry")
            .and_then(|r| r.attr_str("count"))
            .and_then(|c| c.parse::<u32>().ok())
            .unwrap_or(1);
        if count > super::MAX_RETRY_RECEIPTS {
            tracing::warn!(%id, count, "peer keeps failing to decrypt; not resending");
            return;
        }
        let device = device_only(device);
        let address = match canonical(store, &device) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "cannot resend");
                return;
            }
        };
        let mut outgoing = Outgoing {
            message_id: sent_id,
            to,
            message,
            targets: vec![device],
            phase: Phase::Ack,
            deadline: now.saturating_add(SEND_STEP_TIMEOUT_MS),
            resend: Some(count),
        };
        if let Some(bundle) = bundle_in_receipt(receipt) {
            let key = address.to_string();
            if let Err(e) = self.install_bundle(store, &key, &bundle, true, now, rng) {
                tracing::warn!(error = %e, "cannot resend");
                return;
            }
            self.sends.push(outgoing);
            let index = self.sends.len() - 1;
            self.ensure_sessions(store, index, false, now, rng);
            return;
        }
        let iq = self.next_id();
        let mut node = bundle_request(&[address]);
        node.attrs.insert("id", iq.clone());
        outgoing.phase = Phase::Bundles { iq };
        self.sends.push(outgoing);
        self.send(node);
    }
}

/// The bundle a retry receipt carries: `<registration>` next to `<keys><type/><identity/>
/// <key/><skey/>[<device-identity/>]</keys>` (Baileys `sendRetryRequest`).
fn bundle_in_receipt(receipt: &Node) -> Option<wa_signal::PreKeyBundle> {
    let keys = receipt.child("keys")?;
    let registration = receipt.child("registration")?.clone();
    let mut children = keys.nodes().to_vec();
    children.push(registration);
    parse_bundle(&Node::new("user").children(children))
}
