//! Answering a peer's retry receipt: the message is encrypted again for that one device on a
//! session built from a freshly fetched bundle, and sent to it alone (Baileys
//! `sendMessagesAgain` in `src/Socket/messages-recv.ts`, which forces `assertSessions`;
//! whatsmeow `handleRetryReceipt` in `retry.go`).
//!
//! Only messages sent by this `Messenger` instance are kept (the last
//! [`RECENT_SENT_CAPACITY`], in memory): a retry for an older message, or one that arrives
//! after a restart, is reported as a receipt but not answered with a resend.

use wa_binary::{Jid, Node};
use wa_protos::wa;

use super::Messenger;
use super::address::{canonical, device_only};
use super::iqs::bundle_request;
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

    /// Starts a resend of message `id` to `device` after its retry receipt `receipt`.
    pub(crate) fn start_resend(
        &mut self,
        store: &mut dyn SignalStore,
        receipt: &Node,
        device: &Jid,
        now: u64,
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
        let iq = self.next_id();
        let mut node = bundle_request(&[address]);
        node.attrs.insert("id", iq.clone());
        let outgoing = Outgoing {
            message_id: sent_id,
            to,
            message,
            targets: vec![device],
            phase: Phase::Bundles { iq },
            deadline: now.saturating_add(SEND_STEP_TIMEOUT_MS),
            resend: Some(count),
        };
        self.sends.push(outgoing);
        self.send(node);
    }
}
