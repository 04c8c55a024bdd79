//! End-to-end messaging between Messengers through an in-test relay: sessions, device
//! fan-out, reordering, replays, restarts, groups (failure paths: `messaging_failures.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod messaging_relay;

use messaging_relay::*;
use wa_binary::Node;
use wa_core::messaging::{
    ContentKind, DEVICE_CACHE_TTL_MS, MessengerEvent, ReceiptKind, SendOutcome, SignalStore,
};
use wa_core::{CertPolicy, ConnEvent, Connection};

#[test]
fn a_to_b_text_then_reply_switches_from_pkmsg_to_msg() {
    let (mut relay, mut alice, mut bob) = setup();
    let id = alice.send_text(&b_user(), "hello bob", NOW);
    assert!(id.starts_with("3EB0") && id.len() == 22);
    pump(&mut relay, &mut [&mut alice, &mut bob], NOW);

    let first = relay.sent_messages[0].clone();
    assert_eq!(first.attr_str("type").as_deref(), Some("text"));
    assert_eq!(
        last_enc_types(&relay),
        vec![(format!("{B_PN}:5@s.whatsapp.net"), "pkmsg".into())]
    );
    assert!(
        first.child("device-identity").is_some(),
        "pkmsg needs <device-identity>"
    );
    assert!(sent(&alice, &id));

    let incoming: Vec<_> = bob
        .events
        .iter()
        .filter_map(|e| match e {
            MessengerEvent::Incoming(m) => Some(m.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(incoming.len(), 1);
    let m = &incoming[0];
    assert_eq!(m.text.as_deref(), Some("hello bob"));
    assert_eq!(m.kind, ContentKind::Text);
    assert_eq!(m.id, id);
    assert_eq!(m.chat.to_string(), a_user());
    assert_eq!(m.sender.to_string(), format!("{A_PN}:3@s.whatsapp.net"));
    assert_eq!(
        m.sender_lid.as_ref().unwrap().to_string(),
        format!("{A_LID}:3@lid")
    );
    assert_eq!(m.push_name.as_deref(), Some(&*format!("name-of-{A_PN}")));
    assert!(!m.from_me && m.timestamp > 0);
    // The one-time prekey was consumed and reported.
    assert_eq!(bob.store.prekey_count(), PREKEYS as usize - 1);
    assert_eq!(
        bob.count(|e| matches!(e, MessengerEvent::PreKeyConsumed { .. })),
        1
    );
    // Bob's delivery receipt reached Alice, who acked it.
    let receipts: Vec<_> = alice
        .events
        .iter()
        .filter_map(|e| match e {
            MessengerEvent::Receipt(r) => Some(r.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0].ids, vec![id.clone()]);
    assert_eq!(receipts[0].kind, ReceiptKind::Delivered);
    assert!(
        relay
            .client_acks
            .iter()
            .any(|a| a.attr_str("class").as_deref() == Some("receipt"))
    );

    // Bob answers with a msg (he holds the session the pkmsg opened), no device-identity.
    let reply = bob.send_text(&a_user(), "hi alice", NOW + 1000);
    pump(&mut relay, &mut [&mut alice, &mut bob], NOW + 1000);
    assert!(sent(&bob, &reply));
    assert_eq!(last_enc_types(&relay)[0].1, "msg");
    assert!(
        relay
            .sent_messages
            .last()
            .unwrap()
            .child("device-identity")
            .is_none()
    );
    assert_eq!(alice.texts(), vec!["hi alice"]);

    // Alice got a reply, so she now sends msg too.
    alice.send_text(&b_user(), "again", NOW + 2000);
    pump(&mut relay, &mut [&mut alice, &mut bob], NOW + 2000);
    assert_eq!(last_enc_types(&relay)[0].1, "msg");
    assert_eq!(bob.texts(), vec!["hello bob", "again"]);
}

#[test]
fn many_messages_both_ways_arrive_in_order() {
    let (mut relay, mut alice, mut bob) = setup();
    let mut expect_a = Vec::new();
    let mut expect_b = Vec::new();
    let mut now = NOW;
    for round in 0..12 {
        for i in 0..(round % 3 + 1) {
            let text = format!("a{round}.{i}");
            alice.send_text(&b_user(), &text, now);
            expect_b.push(text);
        }
        for i in 0..(round % 2 + 1) {
            let text = format!("b{round}.{i}");
            bob.send_text(&a_user(), &text, now);
            expect_a.push(text);
        }
        pump(&mut relay, &mut [&mut alice, &mut bob], now);
        now += 1000;
    }
    assert_eq!(bob.texts(), expect_b);
    assert_eq!(alice.texts(), expect_a);
    for p in [&alice, &bob] {
        assert_eq!(
            p.count(|e| matches!(e, MessengerEvent::DecryptFailed { .. })),
            0
        );
        assert_eq!(
            p.count(|e| matches!(
                e,
                MessengerEvent::SendFinished {
                    outcome: SendOutcome::Sent { .. },
                    ..
                }
            )),
            if std::ptr::eq(p, &alice) {
                expect_b.len()
            } else {
                expect_a.len()
            }
        );
    }
    // Device lists were cached: one usync per 5 minutes per sender at most.
    assert!(relay.usync_queries <= 2, "{} usyncs", relay.usync_queries);
}

#[test]
fn every_device_of_b_gets_it_and_my_other_device_gets_the_sent_copy() {
    let mut relay = Relay::default();
    let mut alice = a(3, 10);
    let mut alice2 = a(8, 11);
    let mut bob0 = b(0, 12);
    let mut bob7 = b(7, 13);
    for p in [&alice, &alice2, &bob0, &bob7] {
        relay.register(p);
    }
    let id = alice.send_text(&b_user(), "fan out", NOW);
    pump(
        &mut relay,
        &mut [&mut alice, &mut alice2, &mut bob0, &mut bob7],
        NOW,
    );
    let mut targets: Vec<String> = last_enc_types(&relay).into_iter().map(|t| t.0).collect();
    targets.sort();
    assert_eq!(
        targets,
        vec![
            format!("{A_PN}:8@s.whatsapp.net"),
            format!("{B_PN}:7@s.whatsapp.net"),
            format!("{B_PN}@s.whatsapp.net"),
        ]
    );
    assert_eq!(bob0.texts(), vec!["fan out"]);
    assert_eq!(bob7.texts(), vec!["fan out"]);
    let copy = alice2
        .events
        .iter()
        .find_map(|e| match e {
            MessengerEvent::Incoming(m) => Some(m.clone()),
            _ => None,
        })
        .unwrap();
    assert!(copy.from_me);
    assert_eq!(copy.chat.to_string(), b_user());
    assert_eq!(copy.text.as_deref(), Some("fan out"));
    assert!(copy.message.device_sent_message.is_some());
    // The own-device copy is confirmed with a receipt of type "sender".
    let sender_receipt = relay
        .client_receipts
        .iter()
        .find(|r| r.attr_str("type").as_deref() == Some("sender"))
        .unwrap();
    assert_eq!(sender_receipt.attr_str("id").unwrap(), id);
    assert!(sent(&alice, &id));
    // Alice heard three receipts: two delivered, one sender.
    assert_eq!(alice.count(|e| matches!(e, MessengerEvent::Receipt(_))), 3);
}

#[test]
fn out_of_order_delivery_still_decrypts_everything() {
    let (mut relay, mut alice, mut bob) = setup();
    for i in 0..4 {
        alice.send_text(&b_user(), &format!("m{i}"), NOW);
    }
    pump(&mut relay, &mut [&mut alice], NOW);
    let mut held = relay.take_inbox(&bob);
    assert_eq!(held.len(), 4);
    held.swap(0, 3);
    held.swap(1, 2);
    feed(&mut relay, &mut bob, held, NOW);
    assert_eq!(bob.texts(), vec!["m3", "m2", "m1", "m0"]);
    // Later messages after a reply continue fine.
    bob.send_text(&a_user(), "got them", NOW + 1);
    alice.send_text(&b_user(), "good", NOW + 2);
    pump(&mut relay, &mut [&mut alice, &mut bob], NOW + 2);
    assert_eq!(alice.texts(), vec!["got them"]);
    assert_eq!(bob.texts().last().unwrap(), "good");
}

#[test]
fn a_replayed_stanza_gives_no_second_incoming_but_is_answered() {
    let (mut relay, mut alice, mut bob) = setup();
    alice.send_text(&b_user(), "once", NOW);
    alice.send_text(&b_user(), "twice?", NOW);
    pump(&mut relay, &mut [&mut alice], NOW);
    let held = relay.take_inbox(&bob);
    let mut replayed = held.clone();
    replayed.extend(held.iter().cloned());
    let receipts_before = relay.client_receipts.len();
    feed(&mut relay, &mut bob, replayed, NOW);
    assert_eq!(bob.texts(), vec!["once", "twice?"]);
    assert_eq!(
        bob.count(|e| matches!(e, MessengerEvent::Duplicate { .. })),
        2
    );
    // Four receipts: the replays are answered so the server stops redelivering.
    assert_eq!(relay.client_receipts.len() - receipts_before, 4);
    assert!(
        relay
            .client_receipts
            .iter()
            .all(|r| r.attr_str("type").is_none())
    );
}

#[test]
fn a_restart_mid_conversation_keeps_every_session() {
    let (mut relay, mut alice, mut bob) = setup();
    alice.send_text(&b_user(), "one", NOW);
    pump(&mut relay, &mut [&mut alice, &mut bob], NOW);
    bob.send_text(&a_user(), "two", NOW);
    pump(&mut relay, &mut [&mut alice, &mut bob], NOW);
    // Alice sends, then both restart before Bob reads it.
    alice.send_text(&b_user(), "three", NOW + 1);
    pump(&mut relay, &mut [&mut alice], NOW + 1);
    alice.restart();
    bob.restart();
    pump(&mut relay, &mut [&mut alice, &mut bob], NOW + 1);
    for i in 0..3 {
        bob.send_text(&a_user(), &format!("b{i}"), NOW + 2);
        alice.send_text(&b_user(), &format!("a{i}"), NOW + 2);
    }
    pump(&mut relay, &mut [&mut alice, &mut bob], NOW + 2);
    assert_eq!(bob.texts(), vec!["one", "three", "a0", "a1", "a2"]);
    assert_eq!(alice.texts(), vec!["two", "b0", "b1", "b2"]);
    assert_eq!(
        relay.bundle_queries, 1,
        "no session was re-created after the restart"
    );
    for p in [&alice, &bob] {
        assert_eq!(
            p.count(|e| matches!(e, MessengerEvent::DecryptFailed { .. })),
            0
        );
    }
}

/// Alice's pairwise ciphertext for Bob's device, made with her stored session.
fn pairwise(alice: &mut Peer, message: &wa_protos::wa::Message) -> (String, Vec<u8>) {
    use prost::Message as _;
    let address = format!("{B_LID}:5@lid");
    let mut record = alice.store.load_session(&address).unwrap().unwrap();
    let padded = wa_signal::pad_message(&message.encode_to_vec(), &mut alice.rng);
    let c = wa_signal::encrypt(&mut record, &padded).unwrap();
    alice.store.store_session(&address, &record).unwrap();
    (c.enc_type().to_owned(), c.bytes().to_vec())
}

#[test]
fn group_skmsg_after_a_sender_key_distribution_decrypts() {
    use prost::Message as _;
    let (mut relay, mut alice, mut bob) = setup();
    alice.send_text(&b_user(), "setup", NOW);
    pump(&mut relay, &mut [&mut alice, &mut bob], NOW);

    let group = "120363000000000001@g.us";
    let mut own_key = wa_signal::SenderKeyRecord::new();
    let skdm = wa_signal::create_sender_key_distribution(&mut own_key, &mut alice.rng).unwrap();
    let distribution = wa_protos::wa::Message {
        sender_key_distribution_message: Some(wa_protos::wa::SenderKeyDistributionMessage {
            group_id: Some(group.into()),
            axolotl_sender_key_distribution_message: Some(skdm),
        }),
        ..Default::default()
    };
    let (kind, pairwise_bytes) = pairwise(&mut alice, &distribution);
    let text = |t: &str| wa_protos::wa::Message {
        conversation: Some(t.into()),
        ..Default::default()
    };
    let group_msg = |own_key: &mut wa_signal::SenderKeyRecord, alice: &mut Peer, t: &str| {
        let padded = wa_signal::pad_message(&text(t).encode_to_vec(), &mut alice.rng);
        wa_signal::group_encrypt(own_key, &padded, &mut alice.rng).unwrap()
    };
    let sk1 = group_msg(&mut own_key, &mut alice, "hello group");
    let stanza = |id: &str, encs: Vec<Node>| {
        Node::new("message")
            .attr("from", group)
            .attr("participant", format!("{A_PN}:3@s.whatsapp.net"))
            .attr("participant_lid", format!("{A_LID}:3@lid"))
            .attr("id", id)
            .attr("t", "1795000000")
            .attr("type", "text")
            .children(encs)
    };
    relay.inject(
        &bob,
        stanza("G1", vec![enc("skmsg", sk1), enc(&kind, pairwise_bytes)]),
    );
    let sk2 = group_msg(&mut own_key, &mut alice, "second");
    relay.inject(&bob, stanza("G2", vec![enc("skmsg", sk2)]));
    pump(&mut relay, &mut [&mut bob], NOW);
    assert_eq!(bob.texts(), vec!["setup", "hello group", "second"]);
    let first = bob
        .events
        .iter()
        .filter_map(|e| match e {
            MessengerEvent::Incoming(m) => Some(m.clone()),
            _ => None,
        })
        .nth(1)
        .unwrap();
    assert_eq!(first.chat.to_string(), group);
    assert_eq!(first.sender.to_string(), format!("{A_PN}:3@s.whatsapp.net"));
    let group_receipts: Vec<_> = relay
        .client_receipts
        .iter()
        .filter(|r| r.attr_str("to").as_deref() == Some(group))
        .collect();
    assert_eq!(group_receipts.len(), 2);
    assert!(
        group_receipts
            .iter()
            .all(|r| r.get_attr("participant").is_some())
    );

    // An skmsg from a member whose key we never got asks for a retry.
    let mut stranger_key = wa_signal::SenderKeyRecord::new();
    wa_signal::create_sender_key_distribution(&mut stranger_key, &mut alice.rng).unwrap();
    let sk = wa_signal::group_encrypt(&mut stranger_key, &[1, 1], &mut alice.rng).unwrap();
    let from_stranger = Node::new("message")
        .attr("from", group)
        .attr("participant", "972500000009@s.whatsapp.net")
        .attr("id", "G3")
        .attr("t", "1795000001")
        .children(vec![enc("skmsg", sk)]);
    relay.inject(&bob, from_stranger);
    pump(&mut relay, &mut [&mut bob], NOW);
    assert_eq!(
        bob.count(|e| matches!(e, MessengerEvent::DecryptFailed { id, .. } if id == "G3")),
        1
    );
    assert_eq!(
        relay
            .client_receipts
            .last()
            .unwrap()
            .attr_str("type")
            .as_deref(),
        Some("retry")
    );
}

#[test]
fn a_lid_mapping_learnt_mid_conversation_keeps_the_session() {
    let (mut relay, mut alice, mut bob) = setup();
    relay.hide_lids = true;
    alice.send_text(&b_user(), "pn only", NOW);
    pump(&mut relay, &mut [&mut alice, &mut bob], NOW);
    bob.send_text(&a_user(), "reply", NOW);
    pump(&mut relay, &mut [&mut alice, &mut bob], NOW);
    let pn_address = format!("{B_PN}:5@s.whatsapp.net");
    assert_eq!(alice.store.session_addresses(), vec![pn_address]);

    relay.hide_lids = false;
    let later = NOW + DEVICE_CACHE_TTL_MS + 1;
    alice.send_text(&b_user(), "now with lid", later);
    bob.send_text(&a_user(), "me too", later);
    pump(&mut relay, &mut [&mut alice, &mut bob], later);
    assert_eq!(bob.texts(), vec!["pn only", "now with lid"]);
    assert_eq!(alice.texts(), vec!["reply", "me too"]);
    assert!(
        alice
            .store
            .session_addresses()
            .contains(&format!("{B_LID}:5@lid"))
    );
    assert_eq!(
        relay.bundle_queries, 1,
        "the PN session moved to the LID address"
    );
    for p in [&alice, &bob] {
        assert_eq!(
            p.count(|e| matches!(e, MessengerEvent::DecryptFailed { .. })),
            0
        );
    }
}

#[test]
fn sending_to_a_lid_address_reaches_the_user() {
    let (mut relay, mut alice, mut bob) = setup();
    let id = alice.send_text(&format!("{B_LID}@lid"), "via lid", NOW);
    pump(&mut relay, &mut [&mut alice, &mut bob], NOW);
    assert!(sent(&alice, &id));
    assert_eq!(bob.texts(), vec!["via lid"]);
    let m = relay.sent_messages.last().unwrap();
    assert_eq!(m.attr_str("to").unwrap(), format!("{B_LID}@lid"));
    assert_eq!(
        last_enc_types(&relay),
        vec![(format!("{B_LID}:5@lid"), "pkmsg".to_owned())]
    );
}

#[test]
fn a_consumed_prekey_is_dropped_from_the_connection_device_state() {
    let (mut relay, mut alice, mut bob) = setup();
    let mut conn = Connection::new(bob.device.clone(), CertPolicy::whatsapp(), NOW, &mut rng(5));
    while conn.poll_event().is_some() {}
    alice.send_text(&b_user(), "use a prekey", NOW);
    pump(&mut relay, &mut [&mut alice, &mut bob], NOW);
    let consumed: Vec<u32> = bob
        .events
        .iter()
        .filter_map(|e| match e {
            MessengerEvent::PreKeyConsumed { id } => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(consumed.len(), 1);
    assert!(bob.store.load_prekey(consumed[0]).unwrap().is_none());
    assert!(conn.forget_prekey(consumed[0]));
    assert_eq!(conn.poll_event(), Some(ConnEvent::DeviceChanged));
    assert!(!conn.device().prekeys.contains_key(&consumed[0]));
    assert_eq!(conn.device().prekeys.len(), PREKEYS as usize - 1);
    assert!(!conn.forget_prekey(consumed[0]));
    assert_eq!(conn.poll_event(), None);
}
