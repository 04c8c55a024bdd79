#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Interop vector with Baileys' own noise handler (npm `baileys@7.0.0-rc13`,
//! `lib/Utils/noise-handler.js` `makeNoiseHandler`), recorded on 2026-11-22.
//!
//! Provenance: this test's ServerHello (our [`ServerHandshake`], fixed seeds) was fed to a Node 20
//! script that ran Baileys' `processHandshake` with client ephemeral private = 0x42 x 32 and the
//! fixture client static key, encrypted the payload with its `encrypt`, encoded the ClientFinish
//! with Baileys' `proto.HandshakeMessage`, called `finishInit`, and framed "\0ping" with
//! `encodeFrame` (so the frame carries the WA header). The same script decrypted our first server
//! frame ([`DOWN_FRAME_BODY`]) with Baileys' transport and got "\0pong". The script is
//! `tests/interop/baileys_noise.mjs`. Our client, given the same ephemeral key, must produce the
//! very same ClientFinish and transport bytes.

mod common;

use common::{Keys, NOW, rng};
use prost::Message;
use wa_crypto::KeyPair;
use wa_noise::{ClientHandshake, FrameDecoder, ServerHandshake};
use wa_protos::wa::{HandshakeMessage, handshake_message::ClientHello};

const BAILEYS_CLIENT_FINISH: &str = "225a0a307bd26ae22b8888bdd9821111e11112a0b55d88869f2eb8964353c20d0bb4bff134f34d624c38c1b679b28228a88c044012262e89902907dbe62edfb6c61dc02225748f65f7c2a61a719a9d3d1c11411f9a60c16005042f8b";
const BAILEYS_FIRST_FRAME: &str = "574106030000153468452d2605a8594118b3323397a5104fccc63281";
const DOWN_FRAME_BODY: &str = "ad9264a0bd76326616d9f2e478a6e8e9dae64c9cf7";

#[test]
fn our_server_completes_a_handshake_with_baileys() {
    let keys = Keys::new();
    let ephemeral = KeyPair::from_private([0x42; 32]);
    let hello = HandshakeMessage {
        client_hello: Some(ClientHello {
            ephemeral: Some(ephemeral.public.to_vec()),
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec();
    let (server, _server_hello) = ServerHandshake::read_client_hello(
        &hello,
        &keys.server_static,
        &keys.chain(),
        &mut rng(61),
    )
    .unwrap();

    let finish = hex::decode(BAILEYS_CLIENT_FINISH).unwrap();
    let (finished, mut transport) = server.read_client_finish(&finish).unwrap();
    assert_eq!(finished.client_static, keys.client_static.public);
    assert_eq!(finished.payload, b"\x08\x01client-payload-bytes");

    let mut decoder = FrameDecoder::server();
    let frames = decoder
        .push(&hex::decode(BAILEYS_FIRST_FRAME).unwrap())
        .unwrap();
    assert_eq!(frames.len(), 1);
    assert_eq!(transport.decrypt(&frames[0]).unwrap(), b"\0ping");

    let down = transport.encrypt(b"\0pong").unwrap();
    assert_eq!(hex::encode(down), DOWN_FRAME_BODY);
}

/// An "rng" that yields 0x42 bytes, so our client's ephemeral equals the one given to Baileys
/// (X25519 clamps, so the clamped and unclamped 0x42 keys have the same public key and DH).
struct Fixed42;

impl rand_core::RngCore for Fixed42 {
    fn next_u32(&mut self) -> u32 {
        0x4242_4242
    }
    fn next_u64(&mut self) -> u64 {
        0x4242_4242_4242_4242
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        dest.fill(0x42);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        dest.fill(0x42);
        Ok(())
    }
}

impl rand_core::CryptoRng for Fixed42 {}

#[test]
fn our_client_produces_the_same_client_finish_as_baileys() {
    let keys = Keys::new();
    let (client, hello) = ClientHandshake::start(&mut Fixed42);
    let (_server, server_hello) = ServerHandshake::read_client_hello(
        &hello,
        &keys.server_static,
        &keys.chain(),
        &mut rng(61),
    )
    .unwrap();
    let (finish, mut transport, _) = client
        .read_server_hello(
            &server_hello,
            &keys.client_static,
            b"\x08\x01client-payload-bytes",
            NOW,
            &keys.policy(),
        )
        .unwrap();
    assert_eq!(hex::encode(finish), BAILEYS_CLIENT_FINISH);
    // Baileys' first frame is WA header (4) + length (3) + body.
    let body = &hex::decode(BAILEYS_FIRST_FRAME).unwrap()[7..];
    assert_eq!(transport.encrypt(b"\0ping").unwrap(), body);
    assert_eq!(
        transport
            .decrypt(&hex::decode(DOWN_FRAME_BODY).unwrap())
            .unwrap(),
        b"\0pong"
    );
}
