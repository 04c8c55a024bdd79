//! Property: random bytes as `<enc>` content never panic the messenger, never produce an
//! `Incoming`, and are always answered (retry receipt or nack), even with live sessions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod messaging_relay;

use messaging_relay::*;
use proptest::prelude::*;
use wa_binary::Node;
use wa_core::messaging::{MessengerEvent, Output};

fn established() -> (Relay, Peer, Peer) {
    let mut relay = Relay::default();
    let mut alice = Peer::new("972500000001", "100000000000001", 3, "Alice", 1);
    let mut bob = Peer::new("972500000002", "100000000000002", 5, "Bob", 2);
    relay.register(&alice);
    relay.register(&bob);
    alice.send_text("972500000002@s.whatsapp.net", "hi", NOW);
    pump(&mut relay, &mut [&mut alice, &mut bob], NOW);
    (relay, alice, bob)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn random_enc_content_never_panics_and_is_always_answered(
        kind in prop::sample::select(vec!["pkmsg", "msg", "skmsg"]),
        group in any::<bool>(),
        mut bytes in prop::collection::vec(any::<u8>(), 0..300),
        version_byte in any::<bool>(),
    ) {
        let (_relay, _alice, mut bob) = established();
        if version_byte && !bytes.is_empty() {
            bytes[0] = 0x33;
        }
        let mut message = Node::new("message")
            .attr("id", "R1")
            .attr("t", "1795000000")
            .children(vec![Node::new("enc").attr("v", "2").attr("type", kind).bytes(bytes)]);
        message = if group {
            message
                .attr("from", "120363000000000001@g.us")
                .attr("participant", "972500000001:3@s.whatsapp.net")
        } else {
            message.attr("from", "972500000001:3@s.whatsapp.net")
        };
        let before = bob.store.clone();
        prop_assert!(bob.messenger.handle_node(&mut bob.store, &message, NOW, &mut bob.rng));
        let mut answered = 0;
        while let Some(out) = bob.messenger.poll_output() {
            match out {
                Output::Event(MessengerEvent::Incoming(_)) => prop_assert!(false, "garbage decrypted"),
                Output::Send(node) => {
                    let retry = node.tag == "receipt" && node.attr_str("type").as_deref() == Some("retry");
                    let nack = node.tag == "ack" && node.get_attr("error").is_some();
                    prop_assert!(retry || nack, "unexpected answer {node:?}");
                    answered += 1;
                }
                Output::Event(_) => {}
            }
        }
        prop_assert_eq!(answered, 1);
        // Garbage changes no session, prekey or sender key.
        prop_assert_eq!(bob.store, before);
    }
}
