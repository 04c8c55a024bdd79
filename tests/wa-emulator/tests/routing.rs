//! Sans-IO relay of messages, receipts and device discovery between registered devices.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use rand::rngs::OsRng;
use wa_binary::Node;
use wa_emulator::registry::{Device, Registration, Registry, SignedPreKey};
use wa_emulator::routing::{relay_message, relay_receipt, usync};
use wa_emulator::session::Output;
use wa_emulator::stanzas::attr;

const A: &str = "972500000021";
const B: &str = "972500000022";

fn add(registry: &mut Registry, phone: &str, name: &str) -> String {
    let slot = registry.allocate_device(phone, &mut OsRng);
    let device = Device {
        phone: slot.phone,
        device: slot.device,
        lid: slot.lid,
        key_index: slot.key_index,
        registration: Registration {
            noise_public: [slot.device as u8; 32],
            registration_id: 1,
            identity_public: [2; 32],
            signed_prekey: SignedPreKey {
                id: 1,
                public: [3; 32],
                signature: vec![4; 64],
            },
            push_name: Some(name.into()),
        },
        signed_identity: vec![],
        prekeys: BTreeMap::new(),
        paired_at: 0,
    };
    let jid = device.jid();
    registry.register(device);
    jid
}

fn routes(out: &[Output]) -> Vec<(&str, &Node)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Route { to, node } => Some((to.as_str(), node)),
            _ => None,
        })
        .collect()
}

fn first_sent(out: &[Output]) -> &Node {
    out.iter()
        .find_map(|o| match o {
            Output::Send(n) => Some(n),
            _ => None,
        })
        .unwrap()
}

fn enc(body: u8) -> Node {
    Node::new("enc")
        .attr("v", "2")
        .attr("type", "pkmsg")
        .bytes(vec![body; 8])
}

#[test]
fn usync_lists_companion_devices_with_key_index_and_the_lid() {
    let mut reg = Registry::new();
    add(&mut reg, A, "Alice");
    add(&mut reg, A, "Alice laptop");
    add(&mut reg, B, "Bob");
    let query = Node::new("iq")
        .attr("id", "u1")
        .attr("xmlns", "usync")
        .attr("type", "get")
        .children(vec![
            Node::new("usync")
                .attr("sid", "s1")
                .attr("context", "message")
                .children(vec![
                    Node::new("query").children(vec![
                        Node::new("devices").attr("version", "2"),
                        Node::new("lid"),
                    ]),
                    Node::new("list").children(vec![
                        Node::new("user").attr("jid", format!("{A}@s.whatsapp.net")),
                        Node::new("user").attr("jid", "972599999999@s.whatsapp.net"),
                    ]),
                ]),
        ]);
    let reply = usync(&query, &reg);
    assert_eq!(
        (attr(&reply, "type").as_str(), attr(&reply, "id").as_str()),
        ("result", "u1")
    );
    let list = reply.child("usync").unwrap().child("list").unwrap();
    let users: Vec<&Node> = list.children_with_tag("user").collect();
    let devices: Vec<(String, String)> = users[0]
        .child("devices")
        .unwrap()
        .child("device-list")
        .unwrap()
        .nodes()
        .iter()
        .map(|d| (attr(d, "id"), attr(d, "key-index")))
        .collect();
    assert_eq!(
        devices,
        vec![("1".into(), "1".into()), ("2".into(), "2".into())]
    );
    assert!(attr(users[0].child("lid").unwrap(), "val").ends_with("@lid"));
    // An unknown user has an empty device list and no LID.
    assert!(
        users[1]
            .child("devices")
            .unwrap()
            .child("device-list")
            .unwrap()
            .nodes()
            .is_empty()
    );
    assert!(users[1].child("lid").is_none());
}

#[test]
fn a_message_is_fanned_out_per_device_and_acked() {
    let mut reg = Registry::new();
    let a1 = add(&mut reg, A, "Alice");
    let a2 = add(&mut reg, A, "Alice laptop");
    let b1 = add(&mut reg, B, "Bob");
    let msg = Node::new("message")
        .attr("id", "3EB0AA")
        .attr("to", format!("{B}@s.whatsapp.net"))
        .attr("type", "text")
        .children(vec![
            Node::new("participants").children(vec![
                Node::new("to")
                    .attr("jid", b1.as_str())
                    .children(vec![enc(1)]),
                Node::new("to")
                    .attr("jid", a2.as_str())
                    .children(vec![enc(2)]),
            ]),
            Node::new("device-identity").bytes(vec![9; 4]),
        ]);
    let sender = reg.device(&a1).unwrap().clone();
    let out = relay_message(&msg, &sender, 1234, &reg);
    let ack = first_sent(&out);
    assert_eq!(ack.tag, "ack");
    assert_eq!(attr(ack, "class"), "message");
    assert_eq!(attr(ack, "id"), "3EB0AA");

    let r = routes(&out);
    assert_eq!(r.len(), 2);
    let (to_b, for_b) = r[0];
    assert_eq!(to_b, b1);
    assert_eq!(attr(for_b, "from"), a1);
    assert_eq!(attr(for_b, "sender_lid"), sender.lid_jid());
    assert_eq!(attr(for_b, "notify"), "Alice");
    assert_eq!(attr(for_b, "t"), "1234");
    assert_eq!(for_b.child("enc").unwrap().content_bytes().unwrap(), [1; 8]);
    assert!(for_b.child("device-identity").is_some());
    assert_eq!(for_b.attr_str("recipient"), None);
    // Only B's own ciphertext goes to B; the sender's other device gets its copy and the chat.
    let (to_a2, for_a2) = r[1];
    assert_eq!(to_a2, a2);
    assert_eq!(
        for_a2.child("enc").unwrap().content_bytes().unwrap(),
        [2; 8]
    );
    assert_eq!(attr(for_a2, "recipient"), format!("{B}@s.whatsapp.net"));
}

#[test]
fn lid_addressing_is_answered_in_lid_form_and_receipts_go_back() {
    let mut reg = Registry::new();
    let a1 = add(&mut reg, A, "Alice");
    let b1 = add(&mut reg, B, "Bob");
    let a = reg.device(&a1).unwrap().clone();
    let b = reg.device(&b1).unwrap().clone();
    let msg = Node::new("message")
        .attr("id", "M2")
        .attr("to", format!("{}@lid", b.lid))
        .attr("type", "text")
        .children(vec![Node::new("participants").children(vec![
            Node::new("to").attr("jid", b.lid_jid()).children(vec![enc(5)]),
        ])]);
    let out = relay_message(&msg, &a, 1, &reg);
    let (to, node) = routes(&out)[0];
    assert_eq!(to, b1);
    assert_eq!(attr(node, "from"), a.lid_jid());
    assert_eq!(attr(node, "sender_pn"), a1);

    let receipt = Node::new("receipt")
        .attr("id", "M2")
        .attr("to", a1.as_str())
        .attr("type", "read");
    let out = relay_receipt(&receipt, &b, 7, &reg);
    assert_eq!(attr(first_sent(&out), "class"), "receipt");
    let (to, node) = routes(&out)[0];
    assert_eq!(to, a1);
    assert_eq!(node.tag, "receipt");
    assert_eq!(attr(node, "from"), b1);
    assert_eq!(
        (attr(node, "id").as_str(), attr(node, "type").as_str()),
        ("M2", "read")
    );
}

#[test]
fn the_offline_queue_keeps_order_and_ignores_unknown_devices() {
    let mut reg = Registry::new();
    let b1 = add(&mut reg, B, "Bob");
    reg.queue_offline(&b1, Node::new("message").attr("id", "1"));
    reg.queue_offline(&b1, Node::new("message").attr("id", "2"));
    reg.queue_offline("1:1@s.whatsapp.net", Node::new("message").attr("id", "x"));
    let queued = reg.take_offline(&b1);
    let ids: Vec<String> = queued.iter().map(|n| attr(n, "id")).collect();
    assert_eq!(ids, ["1", "2"]);
    assert!(queued.iter().all(|n| attr(n, "offline") == "1"));
    assert!(reg.take_offline(&b1).is_empty());
    assert!(reg.take_offline("1:1@s.whatsapp.net").is_empty());
}
