//! Message relay between registered companions: device discovery (usync), `<message>` fan-out
//! to the addressed devices, and `<receipt>` forwarding back to the sender.
//!
//! Shapes: fact sheet §6.6, §6.7 and §9.4 (Baileys `relayMessage` in `src/Socket/messages-send.ts`,
//! `decodeMessageNode` in `src/Utils/decode-wa-message.ts`, `extractDeviceJids` in
//! `src/Utils/signal.ts`; whatsmeow `send.go`, `message.go`, `user.go`).

use wa_binary::{Jid, Node};

use crate::registry::{Device, Registry};
use crate::session::Output;
use crate::stanzas::{SERVER, attr, id_of, iq_result};

/// Phone-number JIDs of the registered devices a JID names: one device (`user:dev@…`, dev > 0)
/// or all of a user's devices (`user@…`). Works for `s.whatsapp.net` and `lid` addressing.
fn targets(jid: &Jid, registry: &Registry) -> Vec<String> {
    if jid.device > 0 {
        return registry
            .resolve(&jid.user, &jid.server, u32::from(jid.device))
            .into_iter()
            .collect();
    }
    user_devices(&jid.user, &jid.server, registry)
        .map(Device::jid)
        .collect()
}

fn user_devices<'a>(
    user: &'a str,
    server: &'a str,
    registry: &'a Registry,
) -> impl Iterator<Item = &'a Device> + 'a {
    registry.devices().filter(move |d| {
        if server == "lid" {
            d.lid.to_string() == user
        } else {
            d.phone == user
        }
    })
}

/// The sender's address in the same addressing mode as `peer` (LID when the peer is a LID).
fn sender_addr(sender: &Device, peer: &Jid) -> (String, &'static str, String) {
    if peer.server == "lid" {
        (sender.lid_jid(), "sender_pn", sender.jid())
    } else {
        (sender.jid(), "sender_lid", sender.lid_jid())
    }
}

/// Relays a `<message>` from `sender`: each `<participants><to jid>` device gets its own
/// `<message from … ><enc/></message>`, and the sender gets `<ack class="message">`.
pub fn relay_message(node: &Node, sender: &Device, now: u64, registry: &Registry) -> Vec<Output> {
    let id = id_of(node);
    let to_attr = attr(node, "to");
    let mut out = vec![Output::Send(
        Node::new("ack")
            .attr("class", "message")
            .attr("id", id.as_str())
            .attr("from", to_attr.as_str())
            .attr("t", now),
    )];
    let Some(chat) = node.attr_jid("to") else {
        tracing::warn!(%id, "message without a valid `to`");
        return out;
    };
    let identity = node.child("device-identity").cloned();
    let (from, alt_key, alt) = sender_addr(sender, &chat);
    let Some(participants) = node.child("participants") else {
        tracing::warn!(%id, "message without participants (groups are not relayed)");
        return out;
    };
    for to in participants.children_with_tag("to") {
        let Some(device_jid) = to.attr_jid("jid") else {
            continue;
        };
        for target in targets(&device_jid, registry) {
            let mut fwd = Node::new("message")
                .attr("from", from.as_str())
                .attr(alt_key, alt.as_str())
                .attr("id", id.as_str())
                .attr("t", now)
                .attr("type", attr(node, "type"));
            if let Some(name) = &sender.registration.push_name {
                fwd = fwd.attr("notify", name.as_str());
            }
            if target.starts_with(&format!("{}:", sender.phone)) {
                // A copy for the sender's own other device: say which chat it belongs to.
                fwd = fwd.attr("recipient", to_attr.as_str());
            }
            let mut children: Vec<Node> = to.children_with_tag("enc").cloned().collect();
            children.extend(identity.clone());
            out.push(Output::Route {
                to: target,
                node: fwd.children(children),
            });
        }
    }
    out
}

/// Forwards a `<receipt id to>` from `sender` to the addressed device(s) and acks it.
pub fn relay_receipt(node: &Node, sender: &Device, now: u64, registry: &Registry) -> Vec<Output> {
    let id = id_of(node);
    let to_attr = attr(node, "to");
    let kind = attr(node, "type");
    let mut ack = Node::new("ack")
        .attr("class", "receipt")
        .attr("id", id.as_str())
        .attr("from", to_attr.as_str());
    if !kind.is_empty() {
        ack = ack.attr("type", kind.as_str());
    }
    let mut out = vec![Output::Send(ack)];
    let Some(peer) = node.attr_jid("to") else {
        return out;
    };
    let (from, _, _) = sender_addr(sender, &peer);
    for target in targets(&peer, registry) {
        let mut fwd = Node::new("receipt")
            .attr("from", from.as_str())
            .attr("id", id.as_str())
            .attr("t", now);
        if !kind.is_empty() {
            fwd = fwd.attr("type", kind.as_str());
        }
        if !node.nodes().is_empty() {
            fwd = fwd.children(node.nodes().to_vec());
        }
        out.push(Output::Route {
            to: target,
            node: fwd,
        });
    }
    out
}

/// Answers a usync query (`devices`, `lid`, `contact` protocols) from the registry.
pub fn usync(node: &Node, registry: &Registry) -> Node {
    let id = id_of(node);
    let Some(query) = node.child("usync") else {
        return crate::stanzas::iq_error(&id, 400, "bad-request");
    };
    let protocols: Vec<String> = query
        .child("query")
        .map(|q| q.nodes().iter().map(|p| p.tag.clone()).collect())
        .unwrap_or_default();
    let users = query
        .child("list")
        .map(|l| l.children_with_tag("user").cloned().collect::<Vec<_>>())
        .unwrap_or_default();
    let mut list = Vec::new();
    for user in users {
        let Some(jid) = user.attr_jid("jid") else {
            continue;
        };
        let devices: Vec<&Device> = user_devices(&jid.user, &jid.server, registry).collect();
        let mut children = Vec::new();
        for protocol in &protocols {
            match protocol.as_str() {
                "devices" => children.push(Node::new("devices").children(vec![
                    Node::new("device-list").children(
                        devices
                            .iter()
                            .map(|d| {
                                Node::new("device")
                                    .attr("id", d.device)
                                    .attr("key-index", d.key_index)
                            })
                            .collect(),
                    ),
                ])),
                "lid" => {
                    if let Some(d) = devices.first() {
                        children.push(Node::new("lid").attr("val", format!("{}@lid", d.lid)));
                    }
                }
                "contact" => {
                    let kind = if devices.is_empty() { "out" } else { "in" };
                    children.push(Node::new("contact").attr("type", kind));
                }
                _ => {}
            }
        }
        list.push(
            Node::new("user")
                .attr("jid", jid.to_string())
                .children(children),
        );
    }
    let mut usync = Node::new("usync");
    for key in ["sid", "mode", "context"] {
        let value = attr(query, key);
        if !value.is_empty() {
            usync = usync.attr(key, value);
        }
    }
    let usync = usync
        .attr("last", "true")
        .attr("index", "0")
        .children(vec![Node::new("list").children(list)]);
    let mut reply = iq_result(&id, vec![usync]);
    reply.attrs.insert("from", SERVER);
    reply
}
