//! Pairing by phone number against the in-test server, with the primary phone's half of the
//! link-code exchange written out here (fact sheet 4.3): code request, code shown, the
//! phone's notification, `companion_finish`, then pair-success verified with the derived ADV
//! secret. Forged, malformed and misdirected notifications leave the device unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use wa_binary::Node;
use wa_core::pair_code::{self, PhoneNumber};
use wa_core::{ConnEvent, Connection, DeviceState, QR_FIRST_MS, QR_NEXT_MS};
use wa_crypto::KeyPair;

const REF: &[u8] = b"link-ref-1";

fn phone() -> PhoneNumber {
    PhoneNumber::parse(PHONE).unwrap()
}

/// A connection in code mode with the handshake done and `pair-device` delivered.
fn code_mode(seed: u64) -> (Server, Connection) {
    let mut r = rng(seed);
    let mut server = Server::new(seed + 100);
    let mut conn = Connection::new(DeviceState::generate(&mut r), server.policy(), NOW, &mut r);
    conn.use_pairing_code(phone());
    server.handshake(&mut conn, NOW);
    let (pd, _) = pair_device("pd-1", 6);
    server.send(&mut conn, NOW, &pd);
    (server, conn)
}

fn result(id: &str, children: Vec<Node>) -> Node {
    let n = Node::new("iq")
        .attr("from", "s.whatsapp.net")
        .attr("type", "result")
        .attr("id", id);
    if children.is_empty() {
        n
    } else {
        n.children(children)
    }
}

fn error(id: &str, code: &str, text: &str) -> Node {
    Node::new("iq")
        .attr("from", "s.whatsapp.net")
        .attr("type", "error")
        .attr("id", id)
        .children(vec![
            Node::new("error").attr("code", code).attr("text", text),
        ])
}

fn bytes(node: &Node, tag: &str) -> Vec<u8> {
    node.child(tag).unwrap().content_bytes().unwrap().to_vec()
}

/// Acks pair-device, answers `companion_hello` with [`REF`]; returns the hello's
/// `link_code_companion_reg` and the code the client then shows.
fn hello(server: &mut Server, conn: &mut Connection) -> (Node, String) {
    assert_eq!(
        attr(&server.next(conn, NOW), "type"),
        "result",
        "pair-device ack"
    );
    let iq = server.next(conn, NOW);
    assert_eq!(attr(&iq, "xmlns"), "md");
    let reg = iq.child("link_code_companion_reg").unwrap().clone();
    assert_eq!(attr(&reg, "stage"), "companion_hello");
    assert_eq!(attr(&reg, "jid"), format!("{PHONE}@s.whatsapp.net"));
    assert_eq!(
        bytes(&reg, "companion_server_auth_key_pub"),
        conn.device().noise_key.public
    );
    assert!(events(conn).is_empty(), "no code before the server accepts");
    let answer = result(
        &attr(&iq, "id"),
        vec![
            Node::new("link_code_companion_reg")
                .children(vec![Node::new("link_code_pairing_ref").bytes(REF.to_vec())]),
        ],
    );
    server.send(conn, NOW, &answer);
    let code = match &events(conn)[..] {
        [ConnEvent::PairCode { code, expires_at }] => {
            assert_eq!(*expires_at, NOW + QR_FIRST_MS + 5 * QR_NEXT_MS);
            code.clone()
        }
        other => panic!("expected the code, got {other:?}"),
    };
    (reg, code)
}

/// The primary phone after its user typed `typed` into it.
struct Primary {
    account: KeyPair,
    ephemeral: KeyPair,
    /// The companion's ephemeral key as unwrapped with the typed code.
    companion_ephemeral: [u8; 32],
}

impl Primary {
    fn enter(hello: &Node, typed: &str, seed: u64) -> Self {
        let mut r = rng(seed);
        let code = pair_code::normalize_code(typed).unwrap();
        let wrapped = bytes(hello, "link_code_pairing_wrapped_companion_ephemeral_pub");
        Primary {
            account: KeyPair::generate(&mut r),
            ephemeral: KeyPair::generate(&mut r),
            companion_ephemeral: pair_code::unwrap_ephemeral(&code, &wrapped).unwrap(),
        }
    }

    /// `<notification type="link_code_companion_reg">` wrapped with `code`.
    fn notification(&self, code: &str, reference: &[u8]) -> Node {
        let code = pair_code::normalize_code(code).unwrap();
        let wrapped = pair_code::wrap_ephemeral(&code, &self.ephemeral.public, &[7; 32], &[8; 16]);
        Node::new("notification")
            .attr("from", "s.whatsapp.net")
            .attr("type", "link_code_companion_reg")
            .attr("id", "n-1")
            .children(vec![
                Node::new("link_code_companion_reg")
                    .attr("stage", "primary_hello")
                    .children(vec![
                        Node::new("link_code_pairing_wrapped_primary_ephemeral_pub")
                            .bytes(wrapped.to_vec()),
                        Node::new("primary_identity_pub").bytes(self.account.public.to_vec()),
                        Node::new("link_code_pairing_ref").bytes(reference.to_vec()),
                    ]),
            ])
    }

    /// Opens the companion's bundle; returns the ADV secret it implies, or `None` when it
    /// does not decrypt.
    fn open(&self, finish: &Node) -> Option<[u8; 32]> {
        let wrapped = bytes(finish, "link_code_pairing_wrapped_key_bundle");
        let companion_identity: [u8; 32] = bytes(finish, "companion_identity_public")
            .try_into()
            .unwrap();
        let shared = self.ephemeral.dh(&self.companion_ephemeral);
        let key: [u8; 32] = wa_crypto::hkdf_sha256(
            &wrapped[..32],
            &shared,
            b"link_code_pairing_key_bundle_encryption_key",
            32,
        )
        .unwrap()
        .try_into()
        .unwrap();
        let nonce: [u8; 12] = wrapped[32..44].try_into().unwrap();
        let plain = wa_crypto::aes256_gcm_open(&key, &nonce, &[], &wrapped[44..]).ok()?;
        assert_eq!(plain.len(), 96);
        assert_eq!(plain[..32], companion_identity);
        assert_eq!(plain[32..64], self.account.public);
        let ikm = [
            &shared[..],
            &self.account.dh(&companion_identity)[..],
            &plain[64..],
        ]
        .concat();
        let adv = wa_crypto::hkdf_sha256(&[], &ikm, b"adv_secret", 32).unwrap();
        Some(adv.try_into().unwrap())
    }
}

/// The ack of a notification, then `companion_finish`.
fn finish(server: &mut Server, conn: &mut Connection) -> (String, Node) {
    let ack = server.next(conn, NOW);
    assert_eq!(
        (ack.tag.as_str(), attr(&ack, "class").as_str()),
        ("ack", "notification")
    );
    let iq = server.next(conn, NOW);
    let reg = iq.child("link_code_companion_reg").unwrap().clone();
    assert_eq!(attr(&reg, "stage"), "companion_finish");
    assert_eq!(bytes(&reg, "link_code_pairing_ref"), REF);
    (attr(&iq, "id"), reg)
}

fn problem(conn: &mut Connection) -> String {
    match &events(conn)[..] {
        [ConnEvent::PairingProblem { reason }] => reason.clone(),
        other => panic!("expected a pairing problem, got {other:?}"),
    }
}

#[test]
fn the_code_pairs_and_pair_success_is_checked_with_the_derived_secret() {
    let (mut server, mut conn) = code_mode(1);
    let qr_secret = conn.device().adv_secret;
    let (hello_reg, code) = hello(&mut server, &mut conn);
    assert_eq!(code.len(), 9);
    assert_eq!(&code[4..5], "-");
    assert_eq!(
        bytes(&hello_reg, "link_code_pairing_nonce"),
        vec![0],
        "nonce byte as whatsmeow and WA Web send it"
    );

    let primary = Primary::enter(&hello_reg, &code, 5);
    server.send(&mut conn, NOW, &primary.notification(&code, REF));
    let (finish_id, finish_reg) = finish(&mut server, &mut conn);
    assert!(
        events(&mut conn).is_empty(),
        "nothing to persist before pair-success"
    );
    let adv = primary
        .open(&finish_reg)
        .expect("the bundle opens with the right code");
    assert_eq!(conn.device().adv_secret, adv);
    assert_ne!(adv, qr_secret);
    server.send(&mut conn, NOW, &result(&finish_id, vec![]));

    // pair-success as in QR pairing, its HMAC keyed with the derived secret.
    let mut phone = Phone {
        account: primary.account.clone(),
        details: Vec::new(),
    };
    let scanned = Scanned {
        reference: String::new(),
        noise: conn.device().noise_key.public,
        identity: conn.device().identity_key.public,
        adv_secret: adv,
    };
    server.send(
        &mut conn,
        NOW,
        &phone.pair_success("ps-1", &scanned, HONEST),
    );
    let evs = events(&mut conn);
    assert_eq!(evs[0], ConnEvent::DeviceChanged);
    assert!(matches!(&evs[1], ConnEvent::Paired { .. }), "{evs:?}");
    assert!(conn.device().is_paired());
    assert_eq!(conn.device().adv_secret, adv, "persisted with the device");
    let sign = server.next(&mut conn, NOW);
    assert!(sign.child("pair-device-sign").is_some());
    assert_eq!(
        conn.device().primary_identity_key(),
        Some(primary.account.public)
    );
}

#[test]
fn a_mistyped_code_is_refused_by_the_phone_and_can_be_entered_again() {
    let (mut server, mut conn) = code_mode(2);
    let (hello_reg, code) = hello(&mut server, &mut conn);
    let first = if code.starts_with('Z') { 'Y' } else { 'Z' };
    let wrong: String = std::iter::once(first).chain(code.chars().skip(1)).collect();
    let primary = Primary::enter(&hello_reg, &wrong, 6);
    server.send(&mut conn, NOW, &primary.notification(&wrong, REF));
    let (finish_id, finish_reg) = finish(&mut server, &mut conn);
    assert_eq!(
        primary.open(&finish_reg),
        None,
        "a wrong code cannot open the bundle"
    );
    server.send(&mut conn, NOW, &error(&finish_id, "401", "not-authorized"));
    let reason = problem(&mut conn);
    assert!(reason.contains("enter it again"), "{reason}");
    assert!(!conn.is_closed());

    // Typed correctly the second time.
    let primary = Primary::enter(&hello_reg, &code, 7);
    server.send(&mut conn, NOW, &primary.notification(&code, REF));
    let (_, finish_reg) = finish(&mut server, &mut conn);
    assert_eq!(primary.open(&finish_reg), Some(conn.device().adv_secret));
}

#[test]
fn forged_and_malformed_notifications_change_nothing() {
    let (mut server, mut conn) = code_mode(3);
    let (hello_reg, code) = hello(&mut server, &mut conn);
    let before = conn.device().clone();
    let primary = Primary::enter(&hello_reg, &code, 8);

    // Another ref.
    server.send(
        &mut conn,
        NOW,
        &primary.notification(&code, b"someone-else"),
    );
    assert_eq!(attr(&server.next(&mut conn, NOW), "class"), "notification");
    assert!(problem(&mut conn).contains("ref"));

    // Truncated wrapped key, missing identity, an unknown stage.
    let genuine = primary.notification(&code, REF);
    let children = genuine.nodes()[0].nodes().to_vec();
    let mut short = children.clone();
    short[0] = Node::new("link_code_pairing_wrapped_primary_ephemeral_pub").bytes(vec![1; 40]);
    let truncated = genuine
        .clone()
        .children(vec![Node::new("link_code_companion_reg").children(short)]);
    let no_identity = Node::new("notification")
        .attr("type", "link_code_companion_reg")
        .children(vec![
            Node::new("link_code_companion_reg")
                .children(vec![children[0].clone(), children[2].clone()]),
        ]);
    let stage = Node::new("notification")
        .attr("type", "link_code_companion_reg")
        .children(vec![
            Node::new("link_code_companion_reg")
                .attr("stage", "refresh_code")
                .children(children),
        ]);
    for (bad, expect) in [
        (truncated, "80"),
        (no_identity, "primary_identity_pub"),
        (stage, "refresh_code"),
    ] {
        server.send(&mut conn, NOW, &bad);
        server.pump(&mut conn, NOW);
        let reason = problem(&mut conn);
        assert!(reason.contains(expect), "{reason}");
    }
    server.inbox.retain(|n| n.tag != "ack");
    assert!(server.inbox.is_empty(), "no companion_finish was sent");
    assert_eq!(conn.device(), &before, "device untouched");
    assert!(!conn.is_closed());

    // The genuine one still works afterwards.
    server.send(&mut conn, NOW, &primary.notification(&code, REF));
    let (_, finish_reg) = finish(&mut server, &mut conn);
    assert_eq!(primary.open(&finish_reg), Some(conn.device().adv_secret));
}

#[test]
fn a_notification_outside_code_pairing_is_ignored() {
    let mut r = rng(4);
    let mut server = Server::new(104);
    let mut conn = Connection::new(DeviceState::generate(&mut r), server.policy(), NOW, &mut r);
    server.handshake(&mut conn, NOW);
    let (pd, _) = pair_device("pd-1", 6);
    server.send(&mut conn, NOW, &pd);
    assert!(matches!(&events(&mut conn)[..], [ConnEvent::Qr { .. }]));
    let before = conn.device().clone();
    let primary = Primary {
        account: KeyPair::generate(&mut r),
        ephemeral: KeyPair::generate(&mut r),
        companion_ephemeral: [9; 32],
    };
    server.send(&mut conn, NOW, &primary.notification("15JMBSWA", REF));
    assert!(problem(&mut conn).contains("no pairing code is pending"));
    assert_eq!(conn.device(), &before);
}

#[test]
fn a_refused_code_request_ends_the_attempt_with_the_reason() {
    let (mut server, mut conn) = code_mode(5);
    server.next(&mut conn, NOW);
    let iq = server.next(&mut conn, NOW);
    server.send(
        &mut conn,
        NOW,
        &error(&attr(&iq, "id"), "400", "bad-request"),
    );
    let evs = events(&mut conn);
    assert!(
        matches!(&evs[..], [ConnEvent::Disconnected { reason }]
            if reason.contains("400 bad-request")),
        "{evs:?}"
    );
    assert!(conn.is_closed());
}

#[test]
fn no_qr_is_shown_and_the_attempt_ends_when_the_refs_run_out() {
    let (mut server, mut conn) = code_mode(6);
    let (_, _code) = hello(&mut server, &mut conn);
    loop {
        let now = conn.poll_timeout().expect("a timer is armed");
        conn.handle_timeout(now, &mut rng(now));
        server.pump(&mut conn, now);
        let evs = events(&mut conn);
        assert!(
            !evs.iter().any(|e| matches!(e, ConnEvent::Qr { .. })),
            "{evs:?}"
        );
        if evs.contains(&ConnEvent::QrExhausted) {
            assert_eq!(now, NOW + QR_FIRST_MS + 5 * QR_NEXT_MS);
            break;
        }
        assert!(now < NOW + 200_000, "the attempt never ended");
    }
    assert!(conn.is_closed());
}
