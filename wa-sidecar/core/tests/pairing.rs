//! Registration, QR rotation and pair-success against the in-test server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use prost::Message as _;
use wa_binary::Jid;
use wa_core::{ConnEvent, Connection, DeviceState, QR_FIRST_MS, QR_NEXT_MS};
use wa_protos::wa::AdvSignedDeviceIdentity;

fn fresh(seed: u64) -> (Server, Connection) {
    let mut r = rng(seed);
    let server = Server::new(seed + 100);
    let conn = Connection::new(DeviceState::generate(&mut r), server.policy(), NOW, &mut r);
    (server, conn)
}

#[test]
fn first_transmit_carries_the_wa_header_and_registration_payload() {
    let (mut server, mut conn) = fresh(1);
    let first = conn.poll_transmit().unwrap();
    assert_eq!(&first[..4], b"WA\x06\x03");
    server.feed(&mut conn, NOW, &first);
    server.handshake(&mut conn, NOW);
    let payload = server.payload.clone().unwrap();
    let reg = payload.device_pairing_data.expect("registration payload");
    let d = conn.device();
    assert_eq!(reg.e_regid(), d.registration_id.to_be_bytes());
    assert_eq!(reg.e_ident(), d.identity_key.public);
    assert_eq!(reg.e_skey_val(), d.signed_prekey.key_pair.public);
    assert_eq!(server.client_static, Some(d.noise_key.public));
    assert_eq!(payload.passive, Some(false));
    assert!(payload.username.is_none());
}

#[test]
fn pair_device_is_acked_and_qr_codes_rotate_60s_then_20s_until_exhausted() {
    let (mut server, mut conn) = fresh(2);
    server.handshake(&mut conn, NOW);
    let (pd, refs) = pair_device("pd-7", 6);
    server.send(&mut conn, NOW, &pd);
    let ack = server.next(&mut conn, NOW);
    assert_eq!(
        (attr(&ack, "type").as_str(), attr(&ack, "id").as_str()),
        ("result", "pd-7")
    );

    let mut seen = Vec::new();
    let mut now = NOW;
    let mut expiries = Vec::new();
    loop {
        for ev in events(&mut conn) {
            match ev {
                ConnEvent::Qr { data, expires_at } => {
                    let s = scan(&data);
                    assert_eq!(s.noise, conn.device().noise_key.public);
                    assert_eq!(s.adv_secret, conn.device().adv_secret);
                    seen.push(s.reference);
                    expiries.push(expires_at - now);
                }
                ConnEvent::QrExhausted => {
                    assert_eq!(seen, refs);
                    assert_eq!(expiries[0], QR_FIRST_MS);
                    assert!(expiries[1..].iter().all(|e| *e == QR_NEXT_MS));
                    assert!(conn.is_closed());
                    assert_eq!(conn.poll_timeout(), None);
                    assert!(server.pings_seen > 0, "keepalive runs while unpaired");
                    return;
                }
                other => panic!("unexpected event {other:?}"),
            }
        }
        now = conn.poll_timeout().expect("a timer is armed");
        conn.handle_timeout(now, &mut rng(now));
        server.pump(&mut conn, now);
        assert!(now < NOW + 200_000, "QR rotation never ended");
    }
}

#[test]
fn honest_scan_pairs_stores_identity_and_signs_the_reply() {
    let (mut server, mut conn) = fresh(3);
    server.handshake(&mut conn, NOW);
    server.send(&mut conn, NOW, &pair_device("pd", 6).0);
    server.pump(&mut conn, NOW);
    server.inbox.clear();
    let qr = match events(&mut conn).remove(0) {
        ConnEvent::Qr { data, .. } => data,
        other => panic!("{other:?}"),
    };
    let scanned = scan(&qr);
    let mut phone = Phone::new(30);
    let ps = phone.pair_success("ps-1", &scanned, HONEST);
    server.send(&mut conn, NOW, &ps);

    // The reply is held back until DeviceChanged has been polled.
    assert!(conn.poll_transmit().is_none());
    let evs = events(&mut conn);
    assert_eq!(evs[0], ConnEvent::DeviceChanged);
    assert_eq!(
        evs[1],
        ConnEvent::Paired {
            jid: Jid::parse(&format!("{PHONE}:{DEVICE}@s.whatsapp.net")).unwrap(),
            lid: Some(Jid::parse(&format!("{LID}:{DEVICE}@lid")).unwrap()),
            platform: "android".into(),
        }
    );
    let device = conn.device().clone();
    assert!(device.is_paired());
    assert_eq!(device.primary_identity_key(), Some(phone.account.public));

    let reply = server.next(&mut conn, NOW);
    assert_eq!(
        (attr(&reply, "type").as_str(), attr(&reply, "id").as_str()),
        ("result", "ps-1")
    );
    let di = reply
        .child("pair-device-sign")
        .and_then(|s| s.child("device-identity"))
        .unwrap();
    assert_eq!(attr(di, "key-index"), "2");
    let signed = AdvSignedDeviceIdentity::decode(di.content_bytes().unwrap()).unwrap();
    assert!(
        signed.account_signature_key.is_none(),
        "account key must be removed"
    );
    assert_eq!(signed.details(), phone.details.as_slice());
    let msg = [
        &[6u8, 1][..],
        &phone.details,
        &scanned.identity,
        &phone.account.public,
    ]
    .concat();
    let sig: [u8; 64] = signed.device_signature().try_into().unwrap();
    assert!(wa_crypto::xeddsa_verify(&scanned.identity, &msg, &sig));
    // The stored account keeps the key and the same device signature.
    let stored = AdvSignedDeviceIdentity::decode(device.account.as_deref().unwrap()).unwrap();
    assert_eq!(stored.account_signature_key(), phone.account.public);
    assert_eq!(stored.device_signature(), signed.device_signature());

    server.send(&mut conn, NOW, &stream_error(Some("515"), None));
    assert_eq!(events(&mut conn), vec![ConnEvent::RestartRequired]);
    assert!(conn.is_closed());
}

fn forged(forgery: Forgery, expect_text: &str) {
    let (mut server, mut conn) = fresh(4);
    server.handshake(&mut conn, NOW);
    server.send(&mut conn, NOW, &pair_device("pd", 6).0);
    server.pump(&mut conn, NOW);
    server.inbox.clear();
    let qr = match events(&mut conn).remove(0) {
        ConnEvent::Qr { data, .. } => data,
        other => panic!("{other:?}"),
    };
    let before = conn.device().clone();
    let ps = Phone::new(40).pair_success("ps-x", &scan(&qr), forgery);
    server.send(&mut conn, NOW, &ps);
    assert!(events(&mut conn).is_empty(), "no DeviceChanged, no Paired");
    assert_eq!(conn.device(), &before);
    assert!(!conn.device().is_paired());
    let reply = server.next(&mut conn, NOW);
    assert_eq!(attr(&reply, "type"), "error");
    assert_eq!(attr(&reply, "id"), "ps-x");
    let err = reply.child("error").unwrap();
    assert_eq!(
        (attr(err, "code").as_str(), attr(err, "text").as_str()),
        ("401", expect_text)
    );
    assert!(!conn.is_closed());
}

#[test]
fn forged_hmac_is_refused_with_hmac_mismatch() {
    forged(
        Forgery {
            wrong_adv_secret: true,
            wrong_account_signer: false,
        },
        "hmac-mismatch",
    );
}

#[test]
fn forged_account_signature_is_refused_with_signature_mismatch() {
    forged(
        Forgery {
            wrong_adv_secret: false,
            wrong_account_signer: true,
        },
        "signature-mismatch",
    );
}

#[test]
fn untrusted_certificate_root_fails_the_handshake() {
    let mut r = rng(5);
    let other_root = wa_crypto::KeyPair::generate(&mut r);
    let mut conn = Connection::new(
        DeviceState::generate(&mut r),
        wa_core::CertPolicy::danger_trust_root(other_root.public),
        NOW,
        &mut r,
    );
    let hello = conn.poll_transmit().unwrap();
    // Feed the hello to a server by hand and return its ServerHello.
    let mut dec = wa_noise::FrameDecoder::server();
    let frame = dec.push(&hello).unwrap().remove(0);
    let (_, sh) = wa_noise::ServerHandshake::read_client_hello(
        &frame,
        &wa_crypto::KeyPair::generate(&mut r),
        b"not a chain",
        &mut r,
    )
    .unwrap();
    let bytes = wa_noise::FrameEncoder::server().encode(&sh).unwrap();
    let err = conn.handle_bytes(NOW, &bytes, &mut r).unwrap_err();
    assert!(matches!(err, wa_core::ConnError::Handshake(_)), "{err:?}");
    assert!(matches!(
        events(&mut conn)[..],
        [ConnEvent::Disconnected { .. }]
    ));
    assert!(conn.is_closed());
}

#[test]
fn silent_server_times_out_the_handshake() {
    let (_server, mut conn) = fresh(6);
    let deadline = conn.poll_timeout().unwrap();
    assert_eq!(deadline, NOW + wa_core::HANDSHAKE_TIMEOUT_MS);
    conn.handle_timeout(deadline - 1, &mut rng(1));
    assert!(events(&mut conn).is_empty());
    conn.handle_timeout(deadline, &mut rng(1));
    assert!(matches!(
        events(&mut conn)[..],
        [ConnEvent::Disconnected { .. }]
    ));
}
