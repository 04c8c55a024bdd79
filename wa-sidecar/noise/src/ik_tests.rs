//! IK / XXfallback responder against an IK initiator written here from the wire description
//! (whatsapp-rust 0.7 `IkHandshakeState` / `XxFallbackHandshakeState`); the end-to-end check
//! against whatsapp-rust itself is `tests/interop/whatsapp-rust`.

use proptest::prelude::*;
use prost::Message;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sha2::{Digest, Sha256};
use wa_crypto::KeyPair;
use wa_protos::wa::HandshakeMessage;
use wa_protos::wa::handshake_message::{ClientFinish, ClientHello};

use super::*;
use crate::cert::{CertPolicy, CertSerials, Validity, build_cert_chain, verify_cert_chain};
use crate::client::ClientHandshake;

const NOW: u64 = 1_795_000_000;
const PAYLOAD: &[u8] = b"\x08\x01login-payload";

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

struct Fixture {
    root: KeyPair,
    server_static: KeyPair,
    client_static: KeyPair,
    chain: Vec<u8>,
}

impl Fixture {
    fn new() -> Self {
        let mut r = rng(1);
        let root = KeyPair::generate(&mut r);
        let intermediate = KeyPair::generate(&mut r);
        let server_static = KeyPair::generate(&mut r);
        let client_static = KeyPair::generate(&mut r);
        let chain = build_cert_chain(
            &root,
            &intermediate,
            &server_static.public,
            CertSerials {
                intermediate: 7,
                leaf: 8,
            },
            Validity {
                not_before: NOW - 60,
                not_after: NOW + 60,
            },
            &mut r,
        );
        Self {
            root,
            server_static,
            client_static,
            chain,
        }
    }

    fn respond(&self, hello: &[u8]) -> Result<Responder, HandshakeError> {
        ServerHandshake::respond(hello, &self.server_static, &self.chain, &mut rng(9))
    }
}

/// The client side of IK, as whatsapp-rust runs it with a cached server static key.
struct IkInitiator {
    state: SymmetricState,
    ephemeral: KeyPair,
    client_static: KeyPair,
}

impl IkInitiator {
    /// `<- s` pre-message, `e, es, s, ss`, 0-RTT payload: returns the initiator and the hello.
    fn start(
        client_static: &KeyPair,
        cached_server_static: &[u8; 32],
        seed: u64,
    ) -> (Self, Vec<u8>) {
        let ephemeral = KeyPair::generate(&mut rng(seed));
        let mut state = SymmetricState::with_protocol(NOISE_IK_NAME, &WA_CONN_HEADER);
        state.mix_hash(cached_server_static);
        state.mix_hash(&ephemeral.public);
        state.mix_key(&ephemeral.dh(cached_server_static));
        let enc_static = state.encrypt_and_hash(&client_static.public).unwrap();
        state.mix_key(&client_static.dh(cached_server_static));
        let enc_payload = state.encrypt_and_hash(PAYLOAD).unwrap();
        let hello = HandshakeMessage {
            client_hello: Some(ClientHello {
                ephemeral: Some(ephemeral.public.to_vec()),
                r#static: Some(enc_static),
                payload: Some(enc_payload),
                ..Default::default()
            }),
            ..Default::default()
        };
        let me = Self {
            state,
            ephemeral,
            client_static: KeyPair::from_private(client_static.private),
        };
        (me, hello.encode_to_vec())
    }

    /// IK accepted (no `static`): `e, ee, se`, payload; returns the chain bytes and transport.
    fn accept(mut self, server_hello: &[u8]) -> (Vec<u8>, Transport) {
        let hello = HandshakeMessage::decode(server_hello)
            .unwrap()
            .server_hello
            .unwrap();
        assert!(hello.r#static.is_none(), "IK accepted carries no static");
        let server_e: [u8; 32] = hello.ephemeral().try_into().unwrap();
        self.state.mix_hash(&server_e);
        self.state.mix_key(&self.ephemeral.dh(&server_e));
        self.state.mix_key(&self.client_static.dh(&server_e));
        let chain = self.state.decrypt_and_hash(hello.payload()).unwrap();
        let (write, read) = self.state.split();
        (chain, Transport::new(write, read))
    }

    /// XXfallback (ServerHello with `static`): new transcript from the sent ephemeral, then XX.
    /// Returns the ClientFinish, the client transport and the verified server static.
    fn fall_back(self, server_hello: &[u8], root: &[u8; 32]) -> (Vec<u8>, Transport, [u8; 32]) {
        let hello = HandshakeMessage::decode(server_hello)
            .unwrap()
            .server_hello
            .unwrap();
        let mut state = SymmetricState::with_protocol(NOISE_XXFALLBACK_NAME, &WA_CONN_HEADER);
        state.mix_hash(&self.ephemeral.public);
        let server_e: [u8; 32] = hello.ephemeral().try_into().unwrap();
        state.mix_hash(&server_e);
        state.mix_key(&self.ephemeral.dh(&server_e));
        let server_s = state.decrypt_and_hash(hello.r#static()).unwrap();
        let server_s: [u8; 32] = server_s.try_into().unwrap();
        state.mix_key(&self.ephemeral.dh(&server_s));
        let chain = state.decrypt_and_hash(hello.payload()).unwrap();
        let policy = CertPolicy::danger_trust_root(*root);
        verify_cert_chain(&chain, &server_s, NOW, &policy).unwrap();
        let enc_static = state.encrypt_and_hash(&self.client_static.public).unwrap();
        state.mix_key(&self.client_static.dh(&server_e));
        let enc_payload = state.encrypt_and_hash(PAYLOAD).unwrap();
        let finish = HandshakeMessage {
            client_finish: Some(ClientFinish {
                r#static: Some(enc_static),
                payload: Some(enc_payload),
                ..Default::default()
            }),
            ..Default::default()
        };
        let (write, read) = state.split();
        (
            finish.encode_to_vec(),
            Transport::new(write, read),
            server_s,
        )
    }
}

fn both_ways(client: &mut Transport, server: &mut Transport) {
    for i in 0..3u8 {
        let up = client.encrypt(&[0, i, 7]).unwrap();
        assert_eq!(server.decrypt(&up).unwrap(), [0, i, 7]);
        let down = server.encrypt(&[1, i]).unwrap();
        assert_eq!(client.decrypt(&down).unwrap(), [1, i]);
    }
}

#[test]
fn protocol_names_give_the_noise_initial_hashes() {
    assert_eq!(NOISE_IK_NAME.len(), 32);
    let padded = SymmetricState::with_protocol(NOISE_IK_NAME, b"");
    let mut short = SymmetricState::with_protocol(b"Noise_IK_25519_AESGCM_SHA256", b"");
    // Same initial hash: mixing the same data gives the same ciphertexts.
    let mut padded = padded;
    padded.mix_key(b"k");
    short.mix_key(b"k");
    assert_eq!(
        padded.encrypt_and_hash(b"x").unwrap(),
        short.encrypt_and_hash(b"x").unwrap()
    );
    // The 36-byte fallback name is hashed: equal to starting from its SHA-256 directly.
    let digest: [u8; 32] = Sha256::digest(NOISE_XXFALLBACK_NAME).into();
    let mut hashed = SymmetricState::with_protocol(NOISE_XXFALLBACK_NAME, b"p");
    let mut direct = SymmetricState::with_protocol(&digest, b"p");
    hashed.mix_key(b"k");
    direct.mix_key(b"k");
    assert_eq!(
        hashed.encrypt_and_hash(b"y").unwrap(),
        direct.encrypt_and_hash(b"y").unwrap()
    );
    let mut xx = SymmetricState::new(b"p");
    let mut fb = SymmetricState::with_protocol(NOISE_XXFALLBACK_NAME, b"p");
    xx.mix_key(b"k");
    fb.mix_key(b"k");
    assert_ne!(
        xx.encrypt_and_hash(b"y").unwrap(),
        fb.encrypt_and_hash(b"y").unwrap()
    );
}

#[test]
fn ik_with_the_right_server_key_is_accepted_without_client_finish() {
    let f = Fixture::new();
    let (client, hello) = IkInitiator::start(&f.client_static, &f.server_static.public, 3);
    let Responder::Ik {
        server_hello,
        finished,
        mut transport,
    } = f.respond(&hello).unwrap()
    else {
        panic!("expected IK to be accepted");
    };
    assert_eq!(finished.client_static, f.client_static.public);
    assert_eq!(finished.payload, PAYLOAD);
    let (chain, mut client_tx) = client.accept(&server_hello);
    assert_eq!(chain, f.chain);
    both_ways(&mut client_tx, &mut transport);
}

#[test]
fn ik_with_another_server_key_falls_back_to_xxfallback() {
    let f = Fixture::new();
    let stale = KeyPair::generate(&mut rng(77)).public;
    let (client, hello) = IkInitiator::start(&f.client_static, &stale, 4);
    let Responder::XxFallback {
        handshake,
        server_hello,
    } = f.respond(&hello).unwrap()
    else {
        panic!("expected XXfallback");
    };
    let (finish, mut client_tx, server_s) = client.fall_back(&server_hello, &f.root.public);
    assert_eq!(server_s, f.server_static.public);
    let (finished, mut server_tx) = handshake.read_client_finish(&finish).unwrap();
    assert_eq!(finished.client_static, f.client_static.public);
    assert_eq!(finished.payload, PAYLOAD);
    both_ways(&mut client_tx, &mut server_tx);
}

#[test]
fn xx_hello_is_answered_with_xx_as_before() {
    let f = Fixture::new();
    let (client, hello) = ClientHandshake::start(&mut rng(5));
    let Responder::Xx {
        handshake,
        server_hello,
    } = f.respond(&hello).unwrap()
    else {
        panic!("expected XX");
    };
    let policy = CertPolicy::danger_trust_root(f.root.public);
    let (finish, mut client_tx, identity) = client
        .read_server_hello(&server_hello, &f.client_static, PAYLOAD, NOW, &policy)
        .unwrap();
    assert_eq!(identity.static_public, f.server_static.public);
    let (finished, mut server_tx) = handshake.read_client_finish(&finish).unwrap();
    assert_eq!(finished.payload, PAYLOAD);
    both_ways(&mut client_tx, &mut server_tx);
}

#[test]
fn tampered_fallback_client_finish_is_an_error() {
    let f = Fixture::new();
    let stale = KeyPair::generate(&mut rng(78)).public;
    let (client, hello) = IkInitiator::start(&f.client_static, &stale, 6);
    let Ok(Responder::XxFallback {
        handshake,
        server_hello,
    }) = f.respond(&hello)
    else {
        panic!("expected XXfallback");
    };
    let (finish, _, _) = client.fall_back(&server_hello, &f.root.public);
    let mut msg = HandshakeMessage::decode(finish.as_slice()).unwrap();
    let cf = msg.client_finish.as_mut().unwrap();
    if let Some(p) = cf.payload.as_mut() {
        p[0] ^= 1;
    }
    assert_eq!(
        handshake
            .read_client_finish(&msg.encode_to_vec())
            .unwrap_err(),
        HandshakeError::Decrypt(HandshakeStep::ClientPayload)
    );
}

#[test]
fn tampered_ik_payload_is_an_error_and_tampered_static_falls_back() {
    let f = Fixture::new();
    let (_, hello) = IkInitiator::start(&f.client_static, &f.server_static.public, 7);
    let msg = HandshakeMessage::decode(hello.as_slice()).unwrap();

    let mut bad_payload = msg.clone();
    let ch = bad_payload.client_hello.as_mut().unwrap();
    ch.payload.as_mut().unwrap()[3] ^= 0x40;
    assert_eq!(
        f.respond(&bad_payload.encode_to_vec()).unwrap_err(),
        HandshakeError::Decrypt(HandshakeStep::ClientPayload)
    );

    // The server cannot tell a tampered `static` from one sealed to another key.
    let mut bad_static = msg.clone();
    let ch = bad_static.client_hello.as_mut().unwrap();
    ch.r#static.as_mut().unwrap()[0] ^= 1;
    assert!(matches!(
        f.respond(&bad_static.encode_to_vec()),
        Ok(Responder::XxFallback { .. })
    ));
}

#[test]
fn malformed_hellos_are_errors() {
    let f = Fixture::new();
    let (_, hello) = IkInitiator::start(&f.client_static, &f.server_static.public, 8);
    let msg = HandshakeMessage::decode(hello.as_slice()).unwrap();

    let mut half = msg.clone();
    half.client_hello.as_mut().unwrap().payload = None;
    assert!(matches!(
        f.respond(&half.encode_to_vec()),
        Err(HandshakeError::Malformed(_))
    ));

    let mut zero = msg.clone();
    zero.client_hello.as_mut().unwrap().ephemeral = Some(vec![0; 32]);
    assert_eq!(
        f.respond(&zero.encode_to_vec()).unwrap_err(),
        HandshakeError::LowOrderKey
    );

    let mut short = msg;
    short.client_hello.as_mut().unwrap().ephemeral = Some(vec![9; 31]);
    assert!(matches!(
        f.respond(&short.encode_to_vec()),
        Err(HandshakeError::Malformed(_))
    ));
    assert!(matches!(
        f.respond(b"\xff\xff\xff"),
        Err(HandshakeError::Malformed(_))
    ));
    assert!(matches!(
        f.respond(&HandshakeMessage::default().encode_to_vec()),
        Err(HandshakeError::Malformed(_))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary bytes never panic the responder.
    #[test]
    fn arbitrary_hello_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let f = Fixture::new();
        let _ = f.respond(&bytes);
    }

    /// A valid IK hello with bytes flipped: never a panic, and if IK is still accepted the
    /// client's key and payload are exactly the original ones (the AEAD held).
    #[test]
    fn mutated_ik_hello_never_yields_other_content(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
    ) {
        let f = Fixture::new();
        let (_, mut hello) = IkInitiator::start(&f.client_static, &f.server_static.public, 10);
        for (at, mask) in flips {
            let i = at.index(hello.len());
            hello[i] ^= mask;
        }
        if let Ok(Responder::Ik { finished, .. }) = f.respond(&hello) {
            prop_assert_eq!(finished.client_static, f.client_static.public);
            prop_assert_eq!(finished.payload, PAYLOAD);
        }
    }
}
