//! Receipts peers send for our messages, and the `<ack class="receipt">` that answers each
//! (fact sheet 6.7; Baileys `buildAckStanza`, whatsmeow `sendAck`).

use wa_binary::{Jid, Node};

use super::store::SignalStore;
use super::{Messenger, MessengerEvent};

/// What a receipt says about our messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiptKind {
    /// Delivered to the device (no `type`, or `inactive`).
    Delivered,
    /// Read (`read`, `read-self`).
    Read,
    /// Voice note / video played (`played`, `played-self`).
    Played,
    /// Our other device got it (`sender`).
    Sender,
    /// The device could not decrypt it and asks for a resend (`retry`).
    Retry,
    /// Any other type, verbatim.
    Other(String),
}

/// A peer's receipt for one or more of our messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptEvent {
    /// Message ids (the `id` plus any `<list><item id>`).
    pub ids: Vec<String>,
    /// The device that sent the receipt.
    pub from: Jid,
    /// For group messages, the participant the receipt is about.
    pub participant: Option<Jid>,
    /// What happened.
    pub kind: ReceiptKind,
    /// Server timestamp (unix seconds), when given.
    pub timestamp: Option<u64>,
}

impl ReceiptKind {
    fn parse(kind: Option<&str>) -> Self {
        match kind {
            None | Some("") | Some("inactive") => ReceiptKind::Delivered,
            Some("read") | Some("read-self") => ReceiptKind::Read,
            Some("played") | Some("played-self") => ReceiptKind::Played,
            Some("sender") => ReceiptKind::Sender,
            Some("retry") => ReceiptKind::Retry,
            Some(other) => ReceiptKind::Other(other.to_owned()),
        }
    }
}

impl Messenger {
    /// Reports the receipt, then acknowledges it.
    pub(crate) fn on_receipt(
        &mut self,
        store: &mut dyn SignalStore,
        node: &Node,
        now: u64,
        rng: &mut impl rand_core::CryptoRngCore,
    ) {
        let id = node.attr_str("id").unwrap_or_default().into_owned();
        let kind = node.attr_str("type").map(|k| k.into_owned());
        if let Some(from) = node.attr_jid("from") {
            let mut ids = vec![id.clone()];
            if let Some(list) = node.child("list") {
                ids.extend(
                    list.children_with_tag("item")
                        .filter_map(|i| i.attr_str("id"))
                        .map(|i| i.into_owned()),
                );
            }
            ids.retain(|i| !i.is_empty());
            self.event(MessengerEvent::Receipt(ReceiptEvent {
                ids,
                from,
                participant: node.attr_jid("participant"),
                kind: ReceiptKind::parse(kind.as_deref()),
                timestamp: node.attr_str("t").and_then(|t| t.parse().ok()),
            }));
        }
        let Some(to) = node.get_attr("from") else {
            return;
        };
        let mut ack = Node::new("ack")
            .attr("class", "receipt")
            .attr("id", id)
            .attr("to", to.clone());
        if let Some(kind) = &kind {
            ack = ack.attr("type", kind.clone());
        }
        if let Some(p) = node.get_attr("participant") {
            ack = ack.attr("participant", p.clone());
        }
        self.send(ack);
        if kind.as_deref() == Some("retry")
            && let Some(from) = node.attr_jid("from")
        {
            self.start_resend(store, node, &from, now, rng);
        }
    }
}
