//! Messages handed to a connected device but not yet acknowledged by it.
//!
//! The real server keeps a message for a device until the device answers with a `<receipt>`
//! (or an `<ack class="message">`, its nack) for that id; a device that disconnects before
//! answering gets the message again, marked `offline="1"`, the next time it logs in (fact sheet
//! §8.3: a client that crashes between decrypting and acknowledging sees the stanza again).
//! [`Deliveries`] is that bookkeeping; the connection task records what it sends and what the
//! device answers, and puts what is left back into the offline queue when the connection ends.
//!
//! The `hold_receipts` fault makes the emulator ignore the receipts a device sends (counting
//! them), which is what the server sees when a client dies right after sending its receipt
//! but before the bytes left the machine.

use std::collections::BTreeMap;

use wa_binary::Node;

use crate::stanzas::attr;

/// Unacknowledged messages per device JID, plus the `hold_receipts` fault.
#[derive(Default)]
pub struct Deliveries {
    unacked: BTreeMap<String, Vec<Node>>,
    hold: bool,
    held: u64,
}

/// (message id, sender) identifies a delivery.
fn key(node: &Node) -> (String, String) {
    (attr(node, "id"), attr(node, "from"))
}

/// The message ids a `<receipt>` (its `id` plus `<list><item id>`) or `<ack class="message">`
/// from a device acknowledges.
fn acknowledged_ids(node: &Node) -> Vec<String> {
    match node.tag.as_str() {
        "receipt" => {
            let mut ids = vec![attr(node, "id")];
            if let Some(list) = node.child("list") {
                ids.extend(list.children_with_tag("item").map(|i| attr(i, "id")));
            }
            ids
        }
        "ack" if attr(node, "class") == "message" => vec![attr(node, "id")],
        _ => Vec::new(),
    }
}

impl Deliveries {
    /// `node` was handed to device `jid`; remembered until acknowledged (once per id and sender).
    pub fn sent(&mut self, jid: &str, node: &Node) {
        if node.tag != "message" {
            return;
        }
        let list = self.unacked.entry(jid.to_owned()).or_default();
        let k = key(node);
        if !list.iter().any(|n| key(n) == k) {
            list.push(node.clone());
        }
    }

    /// A stanza from device `jid`. Returns false when it must be swallowed (`hold_receipts`).
    pub fn from_device(&mut self, jid: &str, node: &Node) -> bool {
        let ids = acknowledged_ids(node);
        if ids.is_empty() {
            return true;
        }
        if self.hold && node.tag == "receipt" {
            self.held += 1;
            tracing::info!(%jid, id = %attr(node, "id"), "receipt held (fault)");
            return false;
        }
        if let Some(list) = self.unacked.get_mut(jid) {
            list.retain(|n| !ids.contains(&attr(n, "id")));
            if list.is_empty() {
                self.unacked.remove(jid);
            }
        }
        true
    }

    /// What device `jid` never acknowledged, oldest first; forgotten here.
    pub fn take(&mut self, jid: &str) -> Vec<Node> {
        self.unacked.remove(jid).unwrap_or_default()
    }

    /// Unacknowledged messages of device `jid`.
    pub fn unacked(&self, jid: &str) -> usize {
        self.unacked.get(jid).map_or(0, Vec::len)
    }

    /// Turns the `hold_receipts` fault on or off.
    pub fn set_hold(&mut self, on: bool) {
        self.hold = on;
    }

    /// Receipts swallowed by the fault so far.
    pub fn held(&self) -> u64 {
        self.held
    }

    /// Unacknowledged messages per device.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        self.unacked
            .iter()
            .map(|(j, l)| (j.clone(), l.len()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: &str, from: &str) -> Node {
        Node::new("message").attr("id", id).attr("from", from)
    }

    #[test]
    fn a_receipt_or_nack_ends_the_delivery_and_the_rest_is_taken_in_order() {
        let mut d = Deliveries::default();
        d.sent("b", &msg("1", "a"));
        d.sent("b", &msg("1", "a")); // sent again (offline flush of a routed one): once
        d.sent("b", &msg("2", "a"));
        d.sent("b", &msg("3", "a"));
        d.sent("b", &Node::new("notification").attr("id", "n"));
        assert_eq!(d.unacked("b"), 3);
        assert!(d.from_device("b", &Node::new("receipt").attr("id", "1")));
        let nack = Node::new("ack").attr("class", "message").attr("id", "3");
        assert!(d.from_device("b", &nack));
        let left: Vec<String> = d.take("b").iter().map(|n| attr(n, "id")).collect();
        assert_eq!(left, ["2"]);
        assert_eq!(d.unacked("b"), 0);
    }

    #[test]
    fn held_receipts_are_swallowed_and_counted() {
        let mut d = Deliveries::default();
        d.sent("b", &msg("1", "a"));
        d.set_hold(true);
        assert!(!d.from_device("b", &Node::new("receipt").attr("id", "1")));
        assert_eq!((d.held(), d.unacked("b")), (1, 1));
        d.set_hold(false);
        let list = Node::new("list").children(vec![Node::new("item").attr("id", "1")]);
        let receipt = Node::new("receipt").attr("id", "0").children(vec![list]);
        assert!(d.from_device("b", &receipt));
        assert_eq!(d.unacked("b"), 0);
    }
}
