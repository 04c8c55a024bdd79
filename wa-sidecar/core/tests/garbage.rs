//! Untrusted input never panics: random bytes before the handshake, and random (authentic)
//! frame bodies after it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use proptest::prelude::*;
use wa_core::{Connection, DeviceState};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_bytes_before_the_handshake_never_panic(chunks in prop::collection::vec(
        prop::collection::vec(any::<u8>(), 0..300), 1..4)) {
        let mut r = rng(1);
        let mut conn = Connection::new(DeviceState::generate(&mut r), Server::new(2).policy(), NOW, &mut r);
        for chunk in &chunks {
            let _ = conn.handle_bytes(NOW, chunk, &mut r);
            while conn.poll_event().is_some() {}
            while conn.poll_transmit().is_some() {}
        }
        conn.handle_timeout(NOW + 100_000, &mut r);
    }

    #[test]
    fn random_frame_bodies_after_the_handshake_never_panic(
        bodies in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 1..6),
        paired in any::<bool>(),
    ) {
        let mut r = rng(3);
        let device = if paired { paired_device(5) } else { DeviceState::generate(&mut r) };
        let mut server = Server::new(4);
        let mut conn = Connection::new(device, server.policy(), NOW, &mut r);
        server.handshake(&mut conn, NOW);
        for body in &bodies {
            // A plausible frame: flags byte 0 then the random bytes.
            let mut framed = vec![0u8];
            framed.extend_from_slice(body);
            let bytes = server.frame_raw(&framed);
            let _ = conn.handle_bytes(NOW, &bytes, &mut r);
            while conn.poll_event().is_some() {}
            while conn.poll_transmit().is_some() {}
        }
    }
}

#[test]
fn corrupted_transport_frame_is_a_fatal_error() {
    let mut r = rng(6);
    let mut server = Server::new(7);
    let mut conn = Connection::new(DeviceState::generate(&mut r), server.policy(), NOW, &mut r);
    server.handshake(&mut conn, NOW);
    let mut bytes = server.frame_bytes(&wa_binary::Node::new("ib"));
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let err = conn.handle_bytes(NOW, &bytes, &mut r).unwrap_err();
    assert!(matches!(err, wa_core::ConnError::Transport(_)));
    assert!(conn.is_closed());
    assert!(matches!(
        events(&mut conn)[..],
        [wa_core::ConnEvent::Disconnected { .. }]
    ));
}
