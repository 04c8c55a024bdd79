//! Messaging failure paths through the in-test relay: corruption and retry receipts with
//! resends, identity changes, nacks, ack errors, timeouts, unknown recipients.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod messaging_relay;

use messaging_relay::*;
use wa_binary::{Jid, Node};
use wa_core::messaging::{
    DEVICE_CACHE_TTL_MS, MessengerEvent, ReceiptKind, SEND_STEP_TIMEOUT_MS, SendOutcome,
    SignalStore,
};

#[test]
fn a_corrupted_ciphertext_yields_a_retry_receipt_and_the_session_survives() {
    let (mut relay, mut alice, mut bob) = setup();
    alice.send_text(&b_user(), "first", NOW);
    pump(&mut relay, &mut [&mut alice, &mut bob], NOW);
    alice.send_text(&b_user(), "mangled", NOW + 1);
    pump(&mut relay, &mut [&mut alice], NOW + 1);
    let mut held = relay.take_inbox(&bob);
    let mut bad = held.remove(0);
    let wa_binary::Content::Nodes(children) = &mut bad.content else {
        panic!("message without children");
    };
    let wa_binary::Content::Bytes(bytes) = &mut children[0].content else {
        panic!("enc without bytes");
    };
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    feed(&mut relay, &mut bob, vec![bad.clone()], NOW + 1);
    assert_eq!(bob.texts(), vec!["first"]);
    assert_eq!(
        bob.count(|e| matches!(e, MessengerEvent::DecryptFailed { .. })),
        1
    );
    let retry = relay
        .client_receipts
        .iter()
        .find(|r| r.attr_str("type").as_deref() == Some("retry"))
        .unwrap();
    let r = retry.child("retry").unwrap();
    assert_eq!(r.attr_str("count").as_deref(), Some("1"));
    assert_eq!(r.attr_str("id"), bad.attr_str("id"));
    assert_eq!(
        retry
            .child("registration")
            .unwrap()
            .content_bytes()
            .unwrap(),
        bob.device.registration_id.to_be_bytes()
    );
    // Alice hears the retry and resends to that device alone, on a fresh session.
    pump(&mut relay, &mut [&mut alice, &mut bob], NOW + 1);
    assert!(
        alice
            .events
            .iter()
            .any(|e| matches!(e, MessengerEvent::Receipt(r) if r.kind == ReceiptKind::Retry))
    );
    let resend = relay.sent_messages.last().unwrap();
    assert_eq!(resend.attr_str("id"), bad.attr_str("id"));
    assert_eq!(
        resend.attr_str("to").unwrap(),
        format!("{B_PN}:5@s.whatsapp.net")
    );
    let enc = resend.child("enc").unwrap();
    assert_eq!(enc.attr_str("count").as_deref(), Some("1"));
    assert_eq!(enc.attr_str("type").as_deref(), Some("pkmsg"));
    assert_eq!(bob.texts(), vec!["first", "mangled"]);
    // The conversation goes on.
    alice.send_text(&b_user(), "after", NOW + 2);
    bob.send_text(&a_user(), "reply", NOW + 2);
    pump(&mut relay, &mut [&mut alice, &mut bob], NOW + 2);
    assert_eq!(bob.texts(), vec!["first", "mangled", "after"]);
    assert_eq!(alice.texts(), vec!["reply"]);
}

#[test]
fn retries_count_up_and_end_in_a_nack() {
    let (mut relay, _alice, mut bob) = setup();
    let garbage = Node::new("message")
        .attr("from", "972500000009:1@s.whatsapp.net")
        .attr("id", "3EB0000000000000000001")
        .attr("t", "1795000000")
        .children(vec![enc("msg", vec![0x33, 1, 2, 3])]);
    for _ in 0..6 {
        relay.inject(&bob, garbage.clone());
        pump(&mut relay, &mut [&mut bob], NOW);
    }
    let counts: Vec<String> = relay
        .client_receipts
        .iter()
        .map(|r| {
            r.child("retry")
                .unwrap()
                .attr_str("count")
                .unwrap()
                .into_owned()
        })
        .collect();
    assert_eq!(counts, vec!["1", "2", "3", "4", "5"]);
    assert_eq!(nack_code(&relay).as_deref(), Some("500"));
}

#[test]
fn identity_change_on_reinstall_gives_a_new_session_and_an_event() {
    let (mut relay, mut alice, mut bob) = setup();
    alice.send_text(&b_user(), "before", NOW);
    pump(&mut relay, &mut [&mut alice, &mut bob], NOW);
    bob.send_text(&a_user(), "ack", NOW);
    pump(&mut relay, &mut [&mut alice, &mut bob], NOW);

    // Bob reinstalls: same number and device id, new keys, empty store.
    let mut bob = b(5, 99);
    relay.register(&bob);
    bob.send_text(&a_user(), "new phone", NOW + 1000);
    pump(&mut relay, &mut [&mut alice, &mut bob], NOW + 1000);
    assert_eq!(alice.texts(), vec!["ack", "new phone"]);
    let changed: Vec<_> = alice
        .events
        .iter()
        .filter_map(|e| match e {
            MessengerEvent::IdentityChanged { address } => Some(address.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(changed, vec![format!("{B_LID}:5@lid")]);
    let stored = alice.store.load_identity(&changed[0]).unwrap().unwrap();
    assert_eq!(stored, bob.device.identity_key.public);
    // Alice's reply uses the new session and reaches the new install.
    alice.send_text(&b_user(), "welcome back", NOW + 2000);
    pump(&mut relay, &mut [&mut alice, &mut bob], NOW + 2000);
    assert_eq!(bob.texts(), vec!["welcome back"]);
}

#[test]
fn a_reinstalled_peer_gets_our_message_through_retry_and_resend() {
    let (mut relay, mut alice, mut bob) = setup();
    alice.send_text(&b_user(), "before", NOW);
    pump(&mut relay, &mut [&mut alice, &mut bob], NOW);
    bob.send_text(&a_user(), "ack", NOW);
    pump(&mut relay, &mut [&mut alice, &mut bob], NOW);

    let mut bob = b(5, 77);
    relay.register(&bob);
    // Alice still holds the old session: Bob cannot decrypt, asks for a retry, and Alice
    // re-keys from a fresh bundle (identity change) and resends.
    alice.send_text(&b_user(), "are you there?", NOW + 1000);
    pump(&mut relay, &mut [&mut alice, &mut bob], NOW + 1000);
    assert_eq!(
        bob.count(|e| matches!(e, MessengerEvent::DecryptFailed { .. })),
        1
    );
    assert_eq!(bob.texts(), vec!["are you there?"]);
    assert_eq!(
        alice.count(|e| matches!(e, MessengerEvent::IdentityChanged { address } if *address == format!("{B_LID}:5@lid"))),
        1
    );
    bob.send_text(&a_user(), "yes", NOW + 2000);
    pump(&mut relay, &mut [&mut alice, &mut bob], NOW + 2000);
    assert_eq!(alice.texts(), vec!["ack", "yes"]);
}

#[test]
fn stanzas_we_cannot_handle_are_nacked_with_the_right_code() {
    let (mut relay, mut alice, mut bob) = setup();
    alice.send_text(&b_user(), "setup", NOW);
    pump(&mut relay, &mut [&mut alice, &mut bob], NOW);
    let from = format!("{A_PN}:3@s.whatsapp.net");
    let message = |id: &str, children: Vec<Node>| {
        let m = Node::new("message")
            .attr("from", from.clone())
            .attr("id", id)
            .attr("t", "1");
        if children.is_empty() {
            m
        } else {
            m.children(children)
        }
    };
    relay.inject(&bob, message("N1", vec![]));
    pump(&mut relay, &mut [&mut bob], NOW);
    assert_eq!(nack_code(&relay).as_deref(), Some("488"));

    relay.inject(&bob, message("N2", vec![enc("frob", vec![1, 2, 3])]));
    pump(&mut relay, &mut [&mut bob], NOW);
    assert_eq!(nack_code(&relay).as_deref(), Some("488"));

    // Decrypts fine but is not a Message protobuf.
    let (kind, bytes) = {
        let address = format!("{B_LID}:5@lid");
        let mut record = alice.store.load_session(&address).unwrap().unwrap();
        let padded = wa_signal::pad_message(&[0xFF, 0xFF, 0xFF], &mut alice.rng);
        let c = wa_signal::encrypt(&mut record, &padded).unwrap();
        alice.store.store_session(&address, &record).unwrap();
        (c.enc_type().to_owned(), c.bytes().to_vec())
    };
    relay.inject(&bob, message("N3", vec![enc(&kind, bytes)]));
    pump(&mut relay, &mut [&mut bob], NOW);
    assert_eq!(nack_code(&relay).as_deref(), Some("491"));

    // No id and no participant in a group: parsing error.
    relay.inject(
        &bob,
        Node::new("message")
            .attr("from", "1-2@g.us")
            .attr("id", "N4")
            .children(vec![enc("skmsg", vec![1])]),
    );
    pump(&mut relay, &mut [&mut bob], NOW);
    assert_eq!(nack_code(&relay).as_deref(), Some("487"));
    let rejected: Vec<u16> = bob
        .events
        .iter()
        .filter_map(|e| match e {
            MessengerEvent::Rejected { code, .. } => Some(*code),
            _ => None,
        })
        .collect();
    assert_eq!(rejected, vec![488, 488, 491, 487]);
    assert_eq!(bob.texts(), vec!["setup"]);
}

#[test]
fn sends_fail_on_ack_errors_and_timeouts() {
    let (mut relay, mut alice, mut bob) = setup();
    relay.ack_error = Some(479);
    let id = alice.send_text(&b_user(), "refused", NOW);
    pump(&mut relay, &mut [&mut alice, &mut bob], NOW);
    assert!(alice.events.iter().any(|e| matches!(e,
        MessengerEvent::SendFinished { message_id, outcome: SendOutcome::Failed { reason } }
            if *message_id == id && reason.contains("479"))));

    relay.ack_error = None;
    relay.mute_iqs = true;
    let later = NOW + DEVICE_CACHE_TTL_MS + 1;
    let id = alice.send_text(&b_user(), "stuck", later);
    pump(&mut relay, &mut [&mut alice], later);
    let deadline = alice.messenger.poll_timeout().unwrap();
    assert_eq!(deadline, later + SEND_STEP_TIMEOUT_MS);
    alice.messenger.handle_timeout(deadline - 1);
    assert!(alice.messenger.poll_output().is_none());
    alice.messenger.handle_timeout(deadline);
    pump(&mut relay, &mut [&mut alice], deadline);
    assert!(alice.events.iter().any(|e| matches!(e,
        MessengerEvent::SendFinished { message_id, outcome: SendOutcome::Failed { .. } }
            if *message_id == id)));
    assert!(alice.messenger.poll_timeout().is_none());
}

#[test]
fn sending_to_an_unknown_user_fails_cleanly() {
    let (mut relay, mut alice, _bob) = setup();
    let id = alice.send_text("972599999999@s.whatsapp.net", "anyone?", NOW);
    pump(&mut relay, &mut [&mut alice], NOW);
    assert!(alice.events.iter().any(|e| matches!(e,
        MessengerEvent::SendFinished { message_id, outcome: SendOutcome::Failed { .. } }
            if *message_id == id)));
    assert!(relay.sent_messages.is_empty());
    let bad = Jid::parse("1-2@g.us").unwrap();
    assert!(
        alice
            .messenger
            .send_text(&mut alice.store, &bad, "x", "ID", NOW, &mut alice.rng)
            .is_err()
    );
}

#[test]
fn a_retry_receipt_with_keys_is_answered_without_asking_the_server() {
    let (mut relay, mut alice, mut bob) = setup();
    alice.send_text(&b_user(), "before", NOW);
    pump(&mut relay, &mut [&mut alice, &mut bob], NOW);

    let mut bob = b(5, 55);
    relay.register(&bob);
    let id = alice.send_text(&b_user(), "lost", NOW + 1);
    pump(&mut relay, &mut [&mut alice], NOW + 1);
    let held = relay.take_inbox(&bob);
    feed(&mut relay, &mut bob, held, NOW + 1);
    assert_eq!(
        bob.count(|e| matches!(e, MessengerEvent::DecryptFailed { .. })),
        1
    );
    // Drop the plain retry receipt; hand Alice one that carries Bob's keys instead, with
    // the server refusing to answer any query.
    relay.take_inbox(&alice);
    relay.mute_iqs = true;
    let bundles_before = relay.bundle_queries;
    let d = &bob.device;
    let (pre_id, pre) = d.prekeys.iter().next().unwrap();
    let be3 = |v: u32| v.to_be_bytes()[1..].to_vec();
    let receipt = Node::new("receipt")
        .attr("from", bob.jid.clone())
        .attr("id", id.clone())
        .attr("type", "retry")
        .children(vec![
            Node::new("retry")
                .attr("count", "2")
                .attr("id", id.clone())
                .attr("t", "1")
                .attr("v", "1"),
            Node::new("registration").bytes(d.registration_id.to_be_bytes().to_vec()),
            Node::new("keys").children(vec![
                Node::new("type").bytes(vec![5]),
                Node::new("identity").bytes(d.identity_key.public.to_vec()),
                Node::new("key").children(vec![
                    Node::new("id").bytes(be3(*pre_id)),
                    Node::new("value").bytes(pre.key_pair.public.to_vec()),
                ]),
                Node::new("skey").children(vec![
                    Node::new("id").bytes(be3(d.signed_prekey.id)),
                    Node::new("value").bytes(d.signed_prekey.key_pair.public.to_vec()),
                    Node::new("signature").bytes(d.signed_prekey.signature.to_vec()),
                ]),
            ]),
        ]);
    feed(&mut relay, &mut alice, vec![receipt], NOW + 2);
    pump(&mut relay, &mut [&mut alice, &mut bob], NOW + 2);
    assert_eq!(bob.texts(), vec!["lost"]);
    assert_eq!(relay.bundle_queries, bundles_before);
    let resend = relay.sent_messages.last().unwrap();
    assert_eq!(
        resend.child("enc").unwrap().attr_str("count").as_deref(),
        Some("2")
    );
    assert_eq!(
        alice.count(|e| matches!(e, MessengerEvent::IdentityChanged { .. })),
        1
    );
}
