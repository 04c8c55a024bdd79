//! The driver's side of [`wa_core::messaging::Messenger`]: one Messenger per logged-in
//! session, fed every stanza the connection surfaces, its outputs carried out in order.
//!
//! Persistence order: every Messenger call writes its Signal state into the store's pending
//! writes ([`crate::signal_store`]); events are then acted on (an [`Incoming`] is staged for the
//! outbox, a finished send updates its idempotency record); the Signal writes and the staged
//! outbox entries are committed in one transaction and sled is flushed before the first node
//! that follows is handed to the connection — and after the call in any case. So a ratchet step
//! and the inbound message it decrypted are on disk together, before the server sees our
//! receipt or message. The same flush makes a `/send` idempotency record durable before its
//! message leaves, and the outcome of a send reaches its caller only after the flush that
//! recorded it: one flush per step instead of one per record.

use std::collections::HashMap;

use tokio::sync::oneshot;
use wa_binary::Jid;
use wa_core::Connection;
use wa_core::messaging::{Incoming, Messenger, MessengerEvent, Output, SendOutcome};

use crate::driver::now_ms;
use crate::idempotency::{Idempotency, SendState};
use crate::outbox::{Outbox, inbound_body, receipt_bodies};
use crate::signal_store::SledSignalStore;
use crate::store::{Store, StoreError};

/// How a send requested through [`SendCommand`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendResult {
    /// The server acknowledged the message.
    Sent,
    /// Not logged in right now; nothing was sent.
    NotConnected,
    /// The send failed (reason from the Messenger or the server).
    Failed(String),
}

/// A text to send, from `POST /send` to the driver.
#[derive(Debug)]
pub struct SendCommand {
    /// Recipient user JID (`user@s.whatsapp.net` or `user@lid`).
    pub to: Jid,
    /// The text.
    pub text: String,
    /// The message id (already recorded under `idempotency_key`).
    pub message_id: String,
    /// The idempotency key whose record to update.
    pub idempotency_key: String,
    /// Where the outcome goes.
    pub reply: oneshot::Sender<SendResult>,
}

/// Messaging state that lives as long as the driver.
pub(crate) struct Messaging {
    store: Store,
    signal: SledSignalStore,
    outbox: Outbox,
    idempotency: Idempotency,
    messenger: Option<Messenger>,
    pending: HashMap<String, (String, oneshot::Sender<SendResult>)>,
    /// Outbox bodies waiting for the next [`Messaging::commit`].
    staged: Vec<Vec<u8>>,
    /// Send outcomes whose idempotency records wait for the next [`Messaging::commit`]; the
    /// callers learn them only once those are on disk.
    replies: Vec<(oneshot::Sender<SendResult>, SendResult)>,
}

impl Messaging {
    pub(crate) fn open(store: &Store, outbox: Outbox) -> Result<Self, StoreError> {
        Ok(Messaging {
            store: store.clone(),
            signal: SledSignalStore::open(store)?,
            outbox,
            idempotency: Idempotency::open(store)?,
            messenger: None,
            pending: HashMap::new(),
            staged: Vec::new(),
            replies: Vec::new(),
        })
    }

    /// A new session starts: no Messenger until logged in; in-flight sends are abandoned
    /// (their callers learn the connection was lost; their records stay `Pending`).
    pub(crate) fn reset(&mut self) {
        self.messenger = None;
        self.pending.clear();
    }

    /// Logged in: a Messenger for the device, with its prekeys mirrored into sled.
    pub(crate) fn on_connected(&mut self, conn: &Connection) -> Result<(), StoreError> {
        self.device_changed(conn)?;
        match Messenger::new(conn.device(), &mut rand::rngs::OsRng) {
            Ok(m) => self.messenger = Some(m),
            Err(e) => tracing::error!(error = %e, "messaging unavailable for this session"),
        }
        Ok(())
    }

    /// The device record changed (and was saved): mirror its prekeys.
    pub(crate) fn device_changed(&mut self, conn: &Connection) -> Result<(), StoreError> {
        self.signal
            .sync_prekeys(conn.device())
            .map_err(|e| self.store.data_err(e.0))?;
        self.commit()
    }

    /// Writes the Signal state and the staged outbox entries in one transaction, then flushes.
    fn commit(&mut self) -> Result<(), StoreError> {
        let mut entries = Vec::with_capacity(self.staged.len());
        for body in self.staged.drain(..) {
            entries.push((self.store.next_id()?.to_be_bytes(), body));
        }
        self.signal
            .commit(self.outbox.tree(), &entries)
            .map_err(|e| self.store.data_err(e.0))?;
        self.store.flush()?;
        if !entries.is_empty() {
            self.outbox.wake();
        }
        for (reply, result) in self.replies.drain(..) {
            let _ = reply.send(result);
        }
        Ok(())
    }

    /// Offers a stanza to the Messenger; false when it is not a messaging stanza.
    pub(crate) fn handle_node(
        &mut self,
        conn: &mut Connection,
        node: &wa_binary::Node,
    ) -> Result<bool, StoreError> {
        let Some(m) = self.messenger.as_mut() else {
            return Ok(false);
        };
        let handled = m.handle_node(&mut self.signal, node, now_ms(), &mut rand::rngs::OsRng);
        if handled {
            self.drain(conn)?;
        }
        Ok(handled)
    }

    /// Starts a send.
    pub(crate) fn send(
        &mut self,
        conn: &mut Connection,
        cmd: SendCommand,
    ) -> Result<(), StoreError> {
        let Some(m) = self.messenger.as_mut() else {
            let _ = cmd.reply.send(SendResult::NotConnected);
            return Ok(());
        };
        let started = m.send_text(
            &mut self.signal,
            &cmd.to,
            &cmd.text,
            &cmd.message_id,
            now_ms(),
            &mut rand::rngs::OsRng,
        );
        match started {
            Ok(_) => {
                self.pending
                    .insert(cmd.message_id, (cmd.idempotency_key, cmd.reply));
            }
            Err(e) => {
                let reason = e.to_string();
                self.idempotency.finish(
                    &cmd.idempotency_key,
                    &cmd.message_id,
                    SendState::Failed {
                        reason: reason.clone(),
                    },
                )?;
                self.replies.push((cmd.reply, SendResult::Failed(reason)));
            }
        }
        self.drain(conn)
    }

    /// When the Messenger next needs [`Messaging::handle_timeout`] (unix millis).
    pub(crate) fn poll_timeout(&self) -> Option<u64> {
        self.messenger.as_ref().and_then(Messenger::poll_timeout)
    }

    /// Times out stalled sends.
    pub(crate) fn handle_timeout(&mut self, conn: &mut Connection) -> Result<(), StoreError> {
        if let Some(m) = self.messenger.as_mut() {
            m.handle_timeout(now_ms());
        }
        self.drain(conn)
    }

    /// Carries out queued outputs in order; flushes before each send that follows a write.
    fn drain(&mut self, conn: &mut Connection) -> Result<(), StoreError> {
        // the Messenger call that queued these outputs wrote to the store
        let mut dirty = true;
        while let Some(out) = self.messenger.as_mut().and_then(Messenger::poll_output) {
            match out {
                Output::Send(node) => {
                    if dirty {
                        self.commit()?;
                        dirty = false;
                    }
                    conn.send_node(node);
                }
                Output::Event(ev) => {
                    dirty = true;
                    self.on_event(conn, ev)?;
                }
            }
        }
        if dirty {
            self.commit()?;
        }
        Ok(())
    }

    /// Stages `body` for the outbox (written by the next [`Messaging::commit`]).
    fn push_json(&mut self, body: &impl serde::Serialize) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(body).map_err(|e| self.store.data_err(e.to_string()))?;
        self.staged.push(bytes);
        Ok(())
    }

    fn on_event(&mut self, conn: &mut Connection, ev: MessengerEvent) -> Result<(), StoreError> {
        let now_secs = (now_ms() / 1000) as i64;
        match ev {
            MessengerEvent::Incoming(msg) => self.on_incoming(&msg, now_secs)?,
            MessengerEvent::SendFinished {
                message_id,
                outcome,
            } => {
                let (state, result) = match outcome {
                    SendOutcome::Sent { .. } => (SendState::Sent, SendResult::Sent),
                    SendOutcome::Failed { reason } => (
                        SendState::Failed {
                            reason: reason.clone(),
                        },
                        SendResult::Failed(reason),
                    ),
                };
                tracing::info!(%message_id, ?result, "send finished");
                if let Some((key, reply)) = self.pending.remove(&message_id) {
                    self.idempotency.finish(&key, &message_id, state)?;
                    self.replies.push((reply, result));
                }
            }
            MessengerEvent::Receipt(receipt) => {
                for body in receipt_bodies(&receipt, now_secs) {
                    self.push_json(&body)?;
                }
            }
            MessengerEvent::PreKeyConsumed { id } => {
                conn.forget_prekey(id);
            }
            MessengerEvent::DecryptFailed { from, id, reason } => {
                tracing::warn!(from = %from, %id, %reason, "could not decrypt; asked for a retry");
            }
            MessengerEvent::Duplicate { from, id } => {
                tracing::debug!(from = %from, %id, "duplicate message; receipt sent again");
            }
            MessengerEvent::IdentityChanged { address } => {
                tracing::warn!(%address, "peer identity changed; session replaced");
            }
            MessengerEvent::Rejected { id, code, reason } => {
                tracing::warn!(%id, code, %reason, "stanza refused with a nack");
            }
        }
        Ok(())
    }

    fn on_incoming(&mut self, msg: &Incoming, now_secs: i64) -> Result<(), StoreError> {
        match inbound_body(msg, now_secs) {
            Some(body) => {
                self.push_json(&body)?;
                tracing::info!(
                    id = %msg.id,
                    backlog = self.outbox.backlog() + self.staged.len() as u64,
                    "message received; queued for the webhook"
                );
            }
            None => tracing::debug!(id = %msg.id, "own message from another device; not forwarded"),
        }
        Ok(())
    }
}
