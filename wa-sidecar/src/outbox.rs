//! The durable inbound outbox and its forwarder.
//!
//! Every received message ([`inbound_body`]) and every receipt for one of our messages
//! ([`receipt_bodies`]) becomes a JSON body in the sled `outbox` tree under a strictly
//! increasing key. The driver's messaging layer writes them in the same transaction as the
//! Signal state that decrypted them and flushes before the WhatsApp receipt/ack for that stanza
//! is sent, so a message the server considers delivered is always on disk.
//!
//! [`crate::forwarder::Forwarder`] delivers the entries to `BAILEYS_WEBHOOK_TARGET`, in order
//! per chat, and deletes each once the target accepted it.

use std::sync::Arc;

use tokio::sync::Notify;
use wa_binary::Jid;
use wa_core::messaging::{ContentKind, Incoming, ReceiptEvent, ReceiptKind};

use crate::store::{OUTBOX_TREE, Store, StoreError};

/// Appends bodies to the outbox and wakes the forwarder. Cheap to clone.
#[derive(Clone)]
pub struct Outbox {
    store: Store,
    tree: sled::Tree,
    wake: Arc<Notify>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("backlog", &self.tree.len())
            .finish()
    }
}

impl Outbox {
    /// The outbox of `store`.
    pub fn open(store: &Store) -> Result<Self, StoreError> {
        Ok(Outbox {
            tree: store.tree(OUTBOX_TREE)?,
            store: store.clone(),
            wake: Arc::default(),
        })
    }

    /// Appends `body` (not flushed: the caller flushes before acknowledging anything).
    pub fn push(&self, body: &[u8]) -> Result<(), StoreError> {
        let key = self.store.next_id()?.to_be_bytes();
        self.tree
            .insert(key, body)
            .map_err(|e| self.store.sled_err(e))?;
        self.wake.notify_one();
        Ok(())
    }

    /// Entries waiting.
    pub fn backlog(&self) -> u64 {
        self.tree.len() as u64
    }

    /// Wakes the forwarder (after entries were written through [`Outbox::tree`]).
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// Completes when [`Outbox::push`] was called on this handle (or a clone) since the last
    /// wake-up.
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn tree(&self) -> &sled::Tree {
        &self.tree
    }
}

fn bare(jid: &Jid) -> String {
    format!("{}@{}", jid.user, jid.server)
}

/// The contract body (`shared::InboundMessage`) for a received message. `None` for copies of
/// our own messages sent from another of our devices (they are not inbound).
pub fn inbound_body(msg: &Incoming, now_secs: i64) -> Option<shared::InboundMessage> {
    if msg.from_me {
        return None;
    }
    let remote_jid = bare(&msg.chat);
    let alt = match msg.chat.server.as_str() {
        "lid" => msg.sender_pn.as_ref(),
        "s.whatsapp.net" => msg.sender_lid.as_ref(),
        _ => None,
    };
    let remote_jid_alt = alt.map(bare).filter(|a| *a != remote_jid);
    let kind = match msg.kind {
        ContentKind::Text => "text",
        ContentKind::Media => "media",
        ContentKind::Other => "other",
    };
    let timestamp = match i64::try_from(msg.timestamp) {
        Ok(t) if t > 0 => t,
        _ => now_secs,
    };
    Some(shared::InboundMessage {
        remote_jid,
        message_id: msg.id.clone(),
        timestamp,
        kind: kind.to_owned(),
        text: msg.text.clone(),
        media: msg.media.as_ref().map(|m| shared::InboundMedia {
            mimetype: m
                .mimetype
                .clone()
                .unwrap_or_else(|| "application/octet-stream".to_owned()),
            size: m.file_length.unwrap_or(0),
            url: m.url.clone(),
        }),
        push_name: msg.push_name.clone(),
        remote_jid_alt,
    })
}

/// One `shared::ReceiptEvent` per message id for delivered/read/played receipts from a peer;
/// nothing for other kinds (retry, our own devices' `sender` receipts).
pub fn receipt_bodies(ev: &ReceiptEvent, now_secs: i64) -> Vec<shared::ReceiptEvent> {
    let status = match ev.kind {
        ReceiptKind::Delivered => "delivered",
        ReceiptKind::Read => "read",
        ReceiptKind::Played => "played",
        _ => return Vec::new(),
    };
    let timestamp = ev
        .timestamp
        .and_then(|t| i64::try_from(t).ok())
        .filter(|t| *t > 0)
        .unwrap_or(now_secs);
    ev.ids
        .iter()
        .map(|id| shared::ReceiptEvent {
            event: shared::ReceiptEvent::EVENT.to_owned(),
            remote_jid: bare(&ev.from),
            message_id: id.clone(),
            status: status.to_owned(),
            timestamp,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbox_keeps_order_across_reopen() {
        let tmp = tempfile::tempdir().unwrap();
        {
            let store = Store::open(tmp.path()).unwrap();
            let ob = Outbox::open(&store).unwrap();
            ob.push(b"1").unwrap();
            ob.push(b"2").unwrap();
            store.flush().unwrap();
        }
        let store = Store::open(tmp.path()).unwrap();
        let ob = Outbox::open(&store).unwrap();
        ob.push(b"3").unwrap();
        let bodies: Vec<_> = ob
            .tree
            .iter()
            .values()
            .map(|v| v.unwrap().to_vec())
            .collect();
        assert_eq!(bodies, vec![b"1".to_vec(), b"2".to_vec(), b"3".to_vec()]);
        assert_eq!(store.outbox_len(), 3);
    }
}
