//! Login of a paired device: payload, `<success>`, prekeys, `<active/>`, keepalive, stream
//! errors, logout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use wa_binary::{Jid, Node};
use wa_core::{ConnEvent, Connection, KEEPALIVE_RESPONSE_TIMEOUT_MS, PREKEY_UPLOAD_COUNT};

fn login(seed: u64) -> (Server, Connection) {
    let device = paired_device(seed);
    let mut server = Server::new(seed + 50);
    let mut conn = Connection::new(device, server.policy(), NOW, &mut rng(seed + 60));
    server.handshake(&mut conn, NOW);
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

fn success() -> Node {
    Node::new("success")
        .attr("t", NOW / 1000)
        .attr("lid", format!("{LID}:{DEVICE}@lid"))
}

/// Runs `<success>` → count → (upload) → active → Connected, polling events the way a driver
/// does before each transmit; returns the upload node if any and the events seen.
fn to_connected(
    server: &mut Server,
    conn: &mut Connection,
    count: u32,
) -> (Option<Node>, Vec<ConnEvent>) {
    let mut seen = Vec::new();
    let next = |server: &mut Server, conn: &mut Connection, seen: &mut Vec<ConnEvent>| {
        seen.extend(events(conn));
        server.next(conn, NOW)
    };
    server.send(conn, NOW, &success());
    let q = next(server, conn, &mut seen);
    assert_eq!(
        (attr(&q, "xmlns").as_str(), attr(&q, "type").as_str()),
        ("encrypt", "get")
    );
    assert!(q.child("count").is_some());
    server.send(
        conn,
        NOW,
        &result(
            &attr(&q, "id"),
            vec![Node::new("count").attr("value", count)],
        ),
    );
    let mut upload = None;
    let mut n = next(server, conn, &mut seen);
    if attr(&n, "xmlns") == "encrypt" {
        server.send(conn, NOW, &result(&attr(&n, "id"), vec![]));
        upload = Some(n);
        n = next(server, conn, &mut seen);
    }
    assert_eq!(
        (attr(&n, "xmlns").as_str(), attr(&n, "type").as_str()),
        ("passive", "set")
    );
    assert!(n.child("active").is_some());
    assert!(!conn.is_connected());
    server.send(conn, NOW, &result(&attr(&n, "id"), vec![]));
    assert!(conn.is_connected());
    seen.extend(events(conn));
    (upload, seen)
}

#[test]
fn second_connection_sends_the_login_payload_with_the_same_noise_key() {
    let (server, conn) = login(10);
    let p = server.payload.clone().unwrap();
    assert!(p.device_pairing_data.is_none());
    assert_eq!(p.username, Some(PHONE.parse().unwrap()));
    assert_eq!(p.device, Some(u32::from(DEVICE)));
    assert_eq!((p.passive, p.pull), (Some(true), Some(true)));
    assert_eq!(server.client_static, Some(conn.device().noise_key.public));
}

#[test]
fn fresh_login_uploads_fifty_signed_prekeys_then_goes_active() {
    let (mut server, mut conn) = login(11);
    let (upload, evs) = to_connected(&mut server, &mut conn, 0);
    let upload = upload.expect("an upload");
    assert!(evs.contains(&ConnEvent::DeviceChanged));
    let jid = Jid::parse(&format!("{PHONE}:{DEVICE}@s.whatsapp.net")).unwrap();
    let lid = Jid::parse(&format!("{LID}:{DEVICE}@lid")).unwrap();
    assert_eq!(
        evs.last(),
        Some(&ConnEvent::Connected {
            jid,
            lid: Some(lid)
        })
    );

    let d = conn.device();
    assert_eq!(
        (
            attr(&upload, "type").as_str(),
            attr(&upload, "xmlns").as_str()
        ),
        ("set", "encrypt")
    );
    let bytes = |n: &Node, t: &str| n.child(t).unwrap().content_bytes().unwrap().to_vec();
    assert_eq!(
        bytes(&upload, "registration"),
        d.registration_id.to_be_bytes()
    );
    assert_eq!(bytes(&upload, "type"), [5]);
    assert_eq!(bytes(&upload, "identity"), d.identity_key.public);
    let keys: Vec<&Node> = upload
        .child("list")
        .unwrap()
        .children_with_tag("key")
        .collect();
    assert_eq!(keys.len(), PREKEY_UPLOAD_COUNT as usize);
    for (i, key) in keys.iter().enumerate() {
        let id = bytes(key, "id");
        assert_eq!(id.len(), 3);
        let id = u32::from_be_bytes([0, id[0], id[1], id[2]]);
        assert_eq!(id, i as u32 + 1);
        // The private half is kept, and matches what the server received.
        assert_eq!(d.prekeys[&id].key_pair.public.to_vec(), bytes(key, "value"));
    }
    let skey = upload.child("skey").unwrap();
    assert_eq!(bytes(skey, "id"), [0, 0, 1]);
    let value: [u8; 32] = bytes(skey, "value").try_into().unwrap();
    let sig: [u8; 64] = bytes(skey, "signature").try_into().unwrap();
    assert!(wa_crypto::xeddsa_verify(
        &d.identity_key.public,
        &wa_crypto::with_djb_prefix(&value),
        &sig
    ));
    assert_eq!(d.next_prekey_id, PREKEY_UPLOAD_COUNT + 1);
}

#[test]
fn enough_server_prekeys_skip_the_upload_and_low_notification_triggers_one() {
    let (mut server, mut conn) = login(12);
    assert!(to_connected(&mut server, &mut conn, 20).0.is_none());
    assert!(conn.device().prekeys.is_empty());

    let note = Node::new("notification")
        .attr("from", "s.whatsapp.net")
        .attr("type", "encrypt")
        .attr("id", "n-1")
        .children(vec![Node::new("count").attr("value", 3u32)]);
    server.send(&mut conn, NOW, &note);
    assert!(events(&mut conn).contains(&ConnEvent::DeviceChanged));
    let ack = server.next(&mut conn, NOW);
    assert_eq!(ack.tag, "ack");
    assert_eq!(
        (attr(&ack, "class").as_str(), attr(&ack, "id").as_str()),
        ("notification", "n-1")
    );
    let upload = server.next(&mut conn, NOW);
    assert_eq!(attr(&upload, "xmlns"), "encrypt");
    assert_eq!(
        upload.child("list").unwrap().nodes().len(),
        PREKEY_UPLOAD_COUNT as usize
    );
    assert_eq!(conn.device().server_prekey_count, Some(3));
}

#[test]
fn keepalive_pings_and_a_silent_server_is_declared_dead() {
    let (mut server, mut conn) = login(13);
    to_connected(&mut server, &mut conn, 20);
    // Answered pings keep the connection alive.
    let mut last = NOW;
    for _ in 0..3 {
        let now = conn.poll_timeout().unwrap();
        assert!(
            (20_000..=30_000).contains(&(now - last)),
            "jittered 20-30 s interval"
        );
        conn.handle_timeout(now, &mut rng(now));
        server.pump(&mut conn, now);
        last = now;
    }
    assert_eq!(server.pings_seen, 3);
    assert!(events(&mut conn).is_empty());
    // Now the server goes silent.
    server.answer_pings = false;
    let ping_at = conn.poll_timeout().unwrap();
    conn.handle_timeout(ping_at, &mut rng(1));
    server.pump(&mut conn, ping_at);
    assert_eq!(server.pings_seen, 4);
    let deadline = conn.poll_timeout().unwrap();
    assert_eq!(deadline, ping_at + KEEPALIVE_RESPONSE_TIMEOUT_MS);
    conn.handle_timeout(deadline, &mut rng(2));
    match &events(&mut conn)[..] {
        [ConnEvent::Disconnected { reason }] => assert!(reason.contains("keepalive")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn server_pings_are_answered_and_unknown_stanzas_surface_as_nodes() {
    let (mut server, mut conn) = login(14);
    to_connected(&mut server, &mut conn, 20);
    let ping = Node::new("iq")
        .attr("from", "s.whatsapp.net")
        .attr("type", "get")
        .attr("xmlns", "urn:xmpp:ping")
        .attr("id", "sp-1");
    server.send(&mut conn, NOW, &ping);
    let pong = server.next(&mut conn, NOW);
    assert_eq!(
        (attr(&pong, "type").as_str(), attr(&pong, "id").as_str()),
        ("result", "sp-1")
    );
    let msg = Node::new("message")
        .attr("id", "m1")
        .attr("from", Jid::new("972500000002", "s.whatsapp.net"));
    server.send(&mut conn, NOW, &msg);
    assert_eq!(events(&mut conn), vec![ConnEvent::Node(msg)]);
    // Results of IQs sent by a feature come back as nodes too.
    let id = conn.send_iq(Node::new("iq").attr("xmlns", "usync").attr("type", "get"));
    let sent = server.next(&mut conn, NOW);
    assert_eq!(attr(&sent, "id"), id);
    let answer = result(&id, vec![]);
    server.send(&mut conn, NOW, &answer);
    assert_eq!(events(&mut conn), vec![ConnEvent::Node(answer)]);
}

fn terminal(node: Node) -> Vec<ConnEvent> {
    let (mut server, mut conn) = login(15);
    to_connected(&mut server, &mut conn, 20);
    server.send(&mut conn, NOW, &node);
    assert!(conn.is_closed());
    assert_eq!(conn.poll_timeout(), None);
    events(&mut conn)
}

#[test]
fn stream_errors_and_failures_map_to_the_right_events() {
    assert_eq!(
        terminal(stream_error(Some("515"), None)),
        vec![ConnEvent::RestartRequired]
    );
    assert_eq!(
        terminal(stream_error(None, Some("replaced"))),
        vec![ConnEvent::Replaced]
    );
    assert_eq!(
        terminal(stream_error(Some("401"), Some("device_removed"))),
        vec![ConnEvent::LoggedOut {
            reason: "device_removed".into()
        }]
    );
    assert!(matches!(
        &terminal(Node::new("failure").attr("reason", "401"))[..],
        [ConnEvent::LoggedOut { .. }]
    ));
    assert!(matches!(
        &terminal(stream_error(Some("503"), None))[..],
        [ConnEvent::Disconnected { .. }]
    ));
    assert!(matches!(
        &terminal(Node::new("xmlstreamend"))[..],
        [ConnEvent::Disconnected { .. }]
    ));
}

#[test]
fn failure_instead_of_success_logs_out() {
    let (mut server, mut conn) = login(16);
    server.send(&mut conn, NOW, &Node::new("failure").attr("reason", "401"));
    assert!(matches!(
        &events(&mut conn)[..],
        [ConnEvent::LoggedOut { .. }]
    ));
}

#[test]
fn logout_removes_the_companion_and_reports_logged_out() {
    let (mut server, mut conn) = login(17);
    to_connected(&mut server, &mut conn, 20);
    conn.logout(NOW);
    let iq = server.next(&mut conn, NOW);
    assert_eq!(
        (attr(&iq, "xmlns").as_str(), attr(&iq, "type").as_str()),
        ("md", "set")
    );
    let rm = iq.child("remove-companion-device").unwrap();
    assert_eq!(attr(rm, "jid"), format!("{PHONE}:{DEVICE}@s.whatsapp.net"));
    assert_eq!(attr(rm, "reason"), "user_initiated");
    assert!(events(&mut conn).is_empty());
    server.send(&mut conn, NOW, &result(&attr(&iq, "id"), vec![]));
    assert_eq!(
        events(&mut conn),
        vec![ConnEvent::LoggedOut {
            reason: "user_initiated".into()
        }]
    );
}

#[test]
fn a_refused_logout_is_reported_with_the_code_and_keeps_the_device() {
    let (mut server, mut conn) = login(19);
    to_connected(&mut server, &mut conn, 20);
    conn.logout(NOW);
    let iq = server.next(&mut conn, NOW);
    let refusal = Node::new("iq")
        .attr("from", "s.whatsapp.net")
        .attr("type", "error")
        .attr("id", attr(&iq, "id"))
        .children(vec![
            Node::new("error")
                .attr("code", "501")
                .attr("text", "feature-not-implemented"),
        ]);
    server.send(&mut conn, NOW, &refusal);
    assert_eq!(
        events(&mut conn),
        vec![ConnEvent::LogoutFailed {
            code: Some(501),
            reason: "server refused: 501 feature-not-implemented".into()
        }]
    );
    assert!(conn.is_connected(), "the device is still linked and usable");
    assert!(conn.device().is_paired());
}

#[test]
fn an_unanswered_logout_is_a_failure_not_a_logout() {
    let (mut server, mut conn) = login(21);
    to_connected(&mut server, &mut conn, 20);
    server.answer_pings = true;
    conn.logout(NOW);
    let _iq = server.next(&mut conn, NOW);
    let at = NOW + wa_core::LOGOUT_TIMEOUT_MS;
    conn.handle_timeout(at, &mut rng(3));
    let evs = events(&mut conn);
    assert!(
        matches!(&evs[..], [ConnEvent::LogoutFailed { code: None, .. }]),
        "{evs:?}"
    );
    assert!(!conn.is_closed());
}

#[test]
fn edge_routing_is_stored_and_used_on_the_next_intro() {
    let (mut server, mut conn) = login(18);
    let ib = Node::new("ib").children(vec![
        Node::new("edge_routing").children(vec![Node::new("routing_info").bytes(vec![8, 9, 10])]),
    ]);
    server.send(&mut conn, NOW, &ib);
    assert_eq!(events(&mut conn), vec![ConnEvent::DeviceChanged]);
    assert_eq!(
        conn.device().routing_info.as_deref(),
        Some(&[8u8, 9, 10][..])
    );
    let mut next = Connection::new(conn.device().clone(), server.policy(), NOW, &mut rng(1));
    let first = next.poll_transmit().unwrap();
    assert_eq!(&first[..7], &[b'E', b'D', 0, 1, 0, 0, 3]);
    assert_eq!(&first[7..14], &[8, 9, 10, b'W', b'A', 6, 3]);
}
