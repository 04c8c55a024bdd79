//! Realistic sample stanzas (shapes from fact sheet sections 5.3, 6.6 and 6.7), used by the
//! bench, the JSON dump example and tests. Byte contents are deterministic filler.

use crate::jid::Jid;
use crate::node::Node;

/// Deterministic filler bytes (xorshift), standing in for ciphertext.
fn filler(seed: u32, len: usize) -> Vec<u8> {
    let mut x = seed.max(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect()
}

/// Keepalive ping as Baileys sends it (fact sheet 5.3).
pub fn ping() -> Node {
    Node::new("iq")
        .attr("id", "1.2-3")
        .attr("to", Jid::server("s.whatsapp.net"))
        .attr("type", "get")
        .attr("xmlns", "w:p")
        .children(vec![Node::new("ping")])
}

/// A 1:1 text `<message>` fanned out to three devices, with `pkmsg`/`msg` enc children and a
/// device-identity (fact sheet 6.7).
pub fn message() -> Node {
    let recipients = [
        (Jid::new("15551234567", "s.whatsapp.net"), "pkmsg", 180),
        (
            Jid::new("15551234567", "s.whatsapp.net").with_device(12),
            "msg",
            140,
        ),
        (
            Jid::new("15557654321", "s.whatsapp.net").with_device(3),
            "msg",
            140,
        ),
    ];
    let participants = recipients
        .iter()
        .enumerate()
        .map(|(i, (jid, kind, len))| {
            Node::new("to").attr("jid", jid).children(vec![
                Node::new("enc")
                    .attr("v", "2")
                    .attr("type", *kind)
                    .bytes(filler(i as u32 + 7, *len)),
            ])
        })
        .collect();
    Node::new("message")
        .attr("id", "3EB0C431C26A1916E07E")
        .attr("to", Jid::new("15551234567", "s.whatsapp.net"))
        .attr("type", "text")
        .children(vec![
            Node::new("participants").children(participants),
            Node::new("device-identity").bytes(filler(99, 160)),
        ])
}

/// A usync device query for a list of users (fact sheet 6.6).
pub fn usync() -> Node {
    let users = (0..20)
        .map(|i| {
            Node::new("user").attr("jid", Jid::new(format!("1555000{i:04}"), "s.whatsapp.net"))
        })
        .collect();
    Node::new("iq")
        .attr("id", "42837.11223-7")
        .attr("to", Jid::server("s.whatsapp.net"))
        .attr("type", "get")
        .attr("xmlns", "usync")
        .children(vec![
            Node::new("usync")
                .attr("sid", "42837.11223-8")
                .attr("mode", "query")
                .attr("last", "true")
                .attr("index", "0")
                .attr("context", "message")
                .children(vec![
                    Node::new("query").children(vec![Node::new("devices").attr("version", "2")]),
                    Node::new("list").children(users),
                ]),
        ])
}

/// A delivery receipt from a companion device.
pub fn receipt() -> Node {
    Node::new("receipt")
        .attr(
            "from",
            Jid::new("15557654321", "s.whatsapp.net").with_device(3),
        )
        .attr("id", "3EB0C431C26A1916E07E")
        .attr("t", "1724236800")
        .attr("type", "read")
}

/// All samples with their names.
pub fn sample_nodes() -> Vec<(&'static str, Node)> {
    vec![
        ("ping", ping()),
        ("message", message()),
        ("usync", usync()),
        ("receipt", receipt()),
    ]
}
