//! Two in-process parties talking through pairwise Signal sessions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{NOW, Party, connected_pair};
use wa_signal::{
    CiphertextMessage, MAX_FORWARD_JUMPS, MAX_MESSAGE_KEYS, PreKeySignalMessage, SessionRecord,
    SignalError, decrypt_message, decrypt_prekey_message,
};

fn whisper_bytes(msg: &CiphertextMessage) -> &[u8] {
    match msg {
        CiphertextMessage::Whisper(b) => b,
        CiphertextMessage::PreKey(_) => panic!("expected msg, got pkmsg"),
    }
}

#[test]
fn bundle_pkmsg_reply_then_many_messages_both_ways() {
    let (mut alice, mut bob) = connected_pair();
    assert!(
        bob.pre_keys.iter().all(|k| k.id != 1),
        "one-time prekey 1 consumed"
    );

    // Until Bob replies, Alice keeps sending pkmsg; Bob needs no prekey for the repeats.
    let again = alice.send("are you there?");
    assert_eq!(again.enc_type(), "pkmsg");
    assert_eq!(bob.receive(&again).unwrap(), "are you there?");

    let reply = bob.send("yes");
    assert_eq!(reply.enc_type(), "msg");
    assert_eq!(alice.receive(&reply).unwrap(), "yes");
    assert!(!alice.record.is_pending_prekey());

    for round in 0..20 {
        // Bursts of varying length in both directions force ratchet steps each round.
        for i in 0..(round % 4 + 1) {
            let text = format!("a{round}-{i}");
            let m = alice.send(&text);
            assert_eq!(m.enc_type(), "msg");
            assert_eq!(bob.receive(&m).unwrap(), text);
        }
        for i in 0..(round % 3 + 1) {
            let text = format!("b{round}-{i}");
            assert_eq!(alice.receive(&bob.send(&text)).unwrap(), text);
        }
    }
}

#[test]
fn out_of_order_delivery_within_limits_decrypts_everything() {
    let (mut alice, mut bob) = connected_pair();
    alice.receive(&bob.send("ack")).unwrap();

    let batch: Vec<_> = (0..6).map(|i| alice.send(&format!("m{i}"))).collect();
    for i in [4, 0, 5, 2, 1, 3] {
        assert_eq!(bob.receive(&batch[i]).unwrap(), format!("m{i}"));
    }

    // Messages from an older chain still decrypt after the peer has ratcheted on.
    let old_chain: Vec<_> = (0..3).map(|i| bob.send(&format!("old{i}"))).collect();
    assert_eq!(alice.receive(&old_chain[2]).unwrap(), "old2");
    let new = alice.send("ratchet");
    bob.receive(&new).unwrap();
    let next = bob.send("new chain");
    assert_eq!(alice.receive(&next).unwrap(), "new chain");
    assert_eq!(alice.receive(&old_chain[0]).unwrap(), "old0");
    assert_eq!(alice.receive(&old_chain[1]).unwrap(), "old1");
}

#[test]
fn replayed_ciphertext_is_rejected_and_leaves_state_unchanged() {
    let (mut alice, mut bob) = connected_pair();
    let m = bob.send("once");
    assert_eq!(alice.receive(&m).unwrap(), "once");
    let before = alice.record.serialize();
    assert_eq!(
        alice.receive(&m),
        Err(SignalError::DuplicateMessage { counter: 0 })
    );
    assert_eq!(alice.record.serialize(), before);

    // A replayed pkmsg after the reply is a duplicate too (session found by base key).
    let (mut alice, mut bob) = (Party::new(11), Party::new(12));
    alice.start_session(&bob.bundle());
    let first = alice.send("first");
    bob.receive(&first).unwrap();
    assert_eq!(
        bob.receive(&first),
        Err(SignalError::DuplicateMessage { counter: 0 })
    );
}

#[test]
fn tampered_messages_fail_the_mac_without_touching_state() {
    let (mut alice, mut bob) = connected_pair();
    let m = bob.send("integrity");
    let mut bytes = whisper_bytes(&m).to_vec();
    let before = alice.record.serialize();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    let err = decrypt_message(&mut alice.record, &bytes, &mut alice.rng).unwrap_err();
    assert_eq!(err, SignalError::InvalidMac);
    bytes[last] ^= 0x01;
    bytes[last - 10] ^= 0x80; // inside the ciphertext field
    assert!(decrypt_message(&mut alice.record, &bytes, &mut alice.rng).is_err());
    assert_eq!(alice.record.serialize(), before);
    assert_eq!(alice.receive(&m).unwrap(), "integrity");
}

#[test]
fn skipped_key_limits_are_enforced() {
    let (mut alice, mut bob) = connected_pair();
    alice.receive(&bob.send("ack")).unwrap();
    let total = 2 * MAX_FORWARD_JUMPS as usize + 2;
    let msgs: Vec<_> = (0..total).map(|i| alice.send(&format!("n{i}"))).collect();

    // A jump of more than MAX_FORWARD_JUMPS is refused...
    let far = MAX_FORWARD_JUMPS as usize + 1;
    assert!(matches!(
        bob.receive(&msgs[far]),
        Err(SignalError::TooFarInFuture { .. })
    ));
    // ...exactly MAX_FORWARD_JUMPS is accepted and stores the skipped keys.
    let edge = MAX_FORWARD_JUMPS as usize;
    assert_eq!(bob.receive(&msgs[edge]).unwrap(), format!("n{edge}"));
    assert_eq!(bob.receive(&msgs[7]).unwrap(), "n7");

    // Another full jump: stored keys stay bounded, the oldest are forgotten.
    let second = 2 * MAX_FORWARD_JUMPS as usize;
    assert_eq!(bob.receive(&msgs[second]).unwrap(), format!("n{second}"));
    assert!(matches!(
        bob.receive(&msgs[0]),
        Err(SignalError::DuplicateMessage { counter: 0 })
    ));
    let newest_skipped = second - 1;
    assert_eq!(
        bob.receive(&msgs[newest_skipped]).unwrap(),
        format!("n{newest_skipped}")
    );
    let oldest_kept = second - MAX_MESSAGE_KEYS + 1;
    assert!(bob.receive(&msgs[oldest_kept]).is_ok());
}

#[test]
fn records_survive_a_restart_mid_conversation() {
    let (mut alice, mut bob) = connected_pair();
    alice.receive(&bob.send("one")).unwrap();
    let pending: Vec<_> = (0..3).map(|i| alice.send(&format!("p{i}"))).collect();
    bob.receive(&pending[1]).unwrap(); // leaves skipped key for p0

    let a_bytes = alice.record.serialize();
    let b_bytes = bob.record.serialize();
    assert_eq!(a_bytes[0], wa_signal::STORAGE_FORMAT_VERSION);
    alice.record = SessionRecord::deserialize(&a_bytes).unwrap();
    bob.record = SessionRecord::deserialize(&b_bytes).unwrap();
    assert_eq!(alice.record.serialize(), a_bytes, "round trip is stable");

    assert_eq!(bob.receive(&pending[0]).unwrap(), "p0");
    assert_eq!(bob.receive(&pending[2]).unwrap(), "p2");
    for i in 0..5 {
        assert_eq!(
            alice.receive(&bob.send(&format!("r{i}"))).unwrap(),
            format!("r{i}")
        );
        assert_eq!(
            bob.receive(&alice.send(&format!("s{i}"))).unwrap(),
            format!("s{i}")
        );
    }

    let mut bad = a_bytes.clone();
    bad[0] = 99;
    assert!(SessionRecord::deserialize(&bad).is_err());
    assert!(SessionRecord::deserialize(&a_bytes[..a_bytes.len() / 2]).is_err());
}

#[test]
fn identity_change_is_reported_and_the_new_session_works() {
    let (mut alice, mut bob) = connected_pair();
    alice.receive(&bob.send("hi")).unwrap();
    let in_flight = alice.send("sent before the reinstall");

    // Bob reinstalls: new identity. Alice fetches his new bundle.
    let mut new_bob = Party::new(99);
    assert!(
        alice.start_session(&new_bob.bundle()),
        "identity change flagged"
    );
    assert_eq!(alice.record.archived_count(), 1);
    assert_eq!(
        new_bob.receive(&alice.send("welcome back")).unwrap(),
        "welcome back"
    );
    // A message on the archived session still decrypts at the old Bob.
    assert_eq!(
        bob.receive(&in_flight).unwrap(),
        "sent before the reinstall"
    );

    // Responder side: Alice reinstalls and writes to Bob with a new identity.
    let mut new_alice = Party::new(77);
    new_alice.start_session(&bob.bundle());
    let pk = new_alice.send("new phone");
    let CiphertextMessage::PreKey(bytes) = &pk else {
        panic!("expected pkmsg")
    };
    let out = bob.receive_prekey(bytes).unwrap();
    assert!(out.identity_changed);
    assert_eq!(
        out.remote_identity,
        wa_signal::public_of(&new_alice.identity)
    );
    assert_eq!(out.plaintext, b"new phone");
    assert_eq!(new_alice.receive(&bob.send("ok")).unwrap(), "ok");
}

#[test]
fn unknown_prekeys_are_reported_as_such() {
    let mut alice = Party::new(5);
    let bob = Party::new(6);
    alice.start_session(&bob.bundle());
    let CiphertextMessage::PreKey(bytes) = alice.send("x") else {
        panic!("expected pkmsg")
    };
    let parsed = PreKeySignalMessage::parse(&bytes).unwrap();
    assert_eq!(parsed.pre_key_id, Some(1));
    let mut record = SessionRecord::new();
    let mut rng = common::rng(1);
    let err = decrypt_prekey_message(
        &mut record,
        &bob.identity,
        bob.registration_id,
        &parsed,
        Some(&bob.signed),
        None,
        NOW,
        &mut rng,
    )
    .unwrap_err();
    assert_eq!(err, SignalError::InvalidPreKeyId(1));
    let err = decrypt_prekey_message(
        &mut record,
        &bob.identity,
        bob.registration_id,
        &parsed,
        None,
        bob.pre_keys.first(),
        NOW,
        &mut rng,
    )
    .unwrap_err();
    assert_eq!(err, SignalError::InvalidSignedPreKeyId(1));
    assert!(!record.has_current_session());
    assert_eq!(
        decrypt_message(&mut record, &parsed.message, &mut rng),
        Err(SignalError::NoSession)
    );
}

#[test]
fn bundle_with_bad_signature_is_refused() {
    let mut alice = Party::new(8);
    let mut bundle = Party::new(9).bundle();
    bundle.signed_pre_key_signature[10] ^= 1;
    let err = wa_signal::process_prekey_bundle(
        &mut alice.record,
        &alice.identity,
        alice.registration_id,
        &bundle,
        NOW,
        &mut alice.rng,
    )
    .unwrap_err();
    assert!(matches!(err, SignalError::InvalidSignature(_)));
    assert!(!alice.record.has_current_session());
}

#[test]
fn garbage_input_is_an_error_never_a_panic() {
    let (mut alice, mut bob) = connected_pair();
    let m = bob.send("fuzz me");
    let bytes = whisper_bytes(&m).to_vec();
    let CiphertextMessage::PreKey(pk) = Party::new(3).tap_session(&alice).send("pk") else {
        panic!("expected pkmsg")
    };
    for input in [&bytes, &pk] {
        for cut in 0..input.len() {
            let _ = decrypt_message(&mut alice.record, &input[..cut], &mut alice.rng);
            let _ = PreKeySignalMessage::parse(&input[..cut]);
            let _ = SessionRecord::deserialize(&input[..cut]);
        }
        for pos in 0..input.len() {
            let mut flipped = input.clone();
            flipped[pos] ^= 0x5A;
            assert!(decrypt_message(&mut alice.record, &flipped, &mut alice.rng).is_err());
            if let Ok(p) = PreKeySignalMessage::parse(&flipped) {
                let _ = alice.receive_prekey(&p.serialize());
            }
        }
    }
    assert_eq!(alice.receive(&m).unwrap(), "fuzz me");
}

trait TapSession {
    fn tap_session(self, peer: &Party) -> Self;
}
impl TapSession for Party {
    fn tap_session(mut self, peer: &Party) -> Self {
        self.start_session(&peer.bundle());
        self
    }
}

#[test]
fn bundle_without_one_time_prekey_uses_three_agreements() {
    let mut alice = Party::new(61);
    let mut bob = Party::new(62);
    let mut bundle = bob.bundle();
    bundle.pre_key = None;
    alice.start_session(&bundle);
    let m = alice.send("no one-time key left on the server");
    let CiphertextMessage::PreKey(bytes) = &m else {
        panic!("expected pkmsg")
    };
    assert_eq!(PreKeySignalMessage::parse(bytes).unwrap().pre_key_id, None);
    let before = bob.pre_keys.len();
    assert_eq!(
        bob.receive(&m).unwrap(),
        "no one-time key left on the server"
    );
    assert_eq!(bob.pre_keys.len(), before, "no prekey consumed");
    assert_eq!(alice.receive(&bob.send("fine")).unwrap(), "fine");
}

#[test]
fn debug_output_of_records_shows_no_key_material() {
    let (alice, _bob) = connected_pair();
    let shown = format!("{:?}", alice.record);
    assert!(shown.starts_with("SessionRecord"), "{shown}");
    for secret in ["root", "chain", "seed", "private"] {
        assert!(!shown.contains(secret), "{secret} leaked in {shown}");
    }
    let mut group = wa_signal::SenderKeyRecord::new();
    wa_signal::create_sender_key_distribution(&mut group, &mut common::rng(4)).unwrap();
    let shown = format!("{group:?}");
    assert!(
        !shown.contains("seed") && !shown.contains("key:"),
        "{shown}"
    );
}
