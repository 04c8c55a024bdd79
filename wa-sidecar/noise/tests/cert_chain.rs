#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Certificate chain verification: every kind of bad chain is refused with the right error,
//! both directly and through a full handshake.

mod common;

use common::{Keys, NOW, SERIALS, VALIDITY, rng};
use proptest::prelude::*;
use prost::Message;
use wa_crypto::KeyPair;
use wa_noise::{
    CertError, CertPolicy, CertRole, ClientHandshake, HandshakeError, ServerHandshake,
    WHATSAPP_ROOT_PUBLIC_KEY, sign_certificate, verify_cert_chain,
};
use wa_protos::wa::CertChain;
use wa_protos::wa::cert_chain::noise_certificate::Details;

/// Builds a chain field by field so that single checks can be broken.
struct ChainSpec {
    root_signer: KeyPair,
    leaf_signer: KeyPair,
    intermediate_issuer: u32,
    intermediate_key: Vec<u8>,
    leaf_issuer: u32,
    leaf_key: Vec<u8>,
    intermediate_window: (u64, u64),
    leaf_window: (u64, u64),
}

impl ChainSpec {
    fn good(keys: &Keys) -> Self {
        Self {
            root_signer: keys.root.clone(),
            leaf_signer: keys.intermediate.clone(),
            intermediate_issuer: 0,
            intermediate_key: keys.intermediate.public.to_vec(),
            leaf_issuer: SERIALS.intermediate,
            leaf_key: keys.server_static.public.to_vec(),
            intermediate_window: (VALIDITY.not_before, VALIDITY.not_after),
            leaf_window: (VALIDITY.not_before, VALIDITY.not_after),
        }
    }

    fn build(&self) -> Vec<u8> {
        let mut r = rng(5);
        let intermediate = Details {
            serial: Some(SERIALS.intermediate),
            issuer_serial: Some(self.intermediate_issuer),
            key: Some(self.intermediate_key.clone()),
            not_before: Some(self.intermediate_window.0),
            not_after: Some(self.intermediate_window.1),
        };
        let leaf = Details {
            serial: Some(SERIALS.leaf),
            issuer_serial: Some(self.leaf_issuer),
            key: Some(self.leaf_key.clone()),
            not_before: Some(self.leaf_window.0),
            not_after: Some(self.leaf_window.1),
        };
        CertChain {
            intermediate: Some(sign_certificate(&intermediate, &self.root_signer, &mut r)),
            leaf: Some(sign_certificate(&leaf, &self.leaf_signer, &mut r)),
        }
        .encode_to_vec()
    }
}

/// One bad-chain case: name, how to break a good spec, the error expected.
type Case<'a> = (&'a str, Box<dyn Fn(&mut ChainSpec) + 'a>, CertError);

fn verify(keys: &Keys, chain: &[u8]) -> Result<wa_noise::VerifiedChain, CertError> {
    verify_cert_chain(chain, &keys.server_static.public, NOW, &keys.policy())
}

#[test]
fn good_chain_verifies_and_builder_matches_spec() {
    let keys = Keys::new();
    let built = verify(&keys, &keys.chain()).unwrap();
    let spec = verify(&keys, &ChainSpec::good(&keys).build()).unwrap();
    assert_eq!(built, spec);
    assert_eq!(built.intermediate.serial, 7);
    assert_eq!(built.intermediate.issuer_serial, 0);
    assert_eq!(built.leaf.serial, 8);
    assert_eq!(built.leaf.not_after, VALIDITY.not_after);
    // Boundaries are inclusive.
    for now in [VALIDITY.not_before, VALIDITY.not_after] {
        verify_cert_chain(
            &keys.chain(),
            &keys.server_static.public,
            now,
            &keys.policy(),
        )
        .unwrap();
    }
}

#[test]
fn each_bad_chain_kind_is_rejected_with_its_error() {
    let keys = Keys::new();
    let stranger = KeyPair::generate(&mut rng(99));
    let cases: Vec<Case<'_>> = vec![
        (
            "intermediate signed by another root",
            Box::new(|s| s.root_signer = stranger.clone()),
            CertError::IntermediateSignature,
        ),
        (
            "leaf signed by another key",
            Box::new(|s| s.leaf_signer = stranger.clone()),
            CertError::LeafSignature,
        ),
        (
            "intermediate issuer not the root",
            Box::new(|s| s.intermediate_issuer = 3),
            CertError::IntermediateIssuer(3),
        ),
        (
            "intermediate key of 31 bytes",
            Box::new(|s| s.intermediate_key.truncate(31)),
            CertError::IntermediateKeyLength(31),
        ),
        (
            "leaf issuer serial does not link",
            Box::new(|s| s.leaf_issuer = 6),
            CertError::SerialLink {
                leaf_issuer: 6,
                intermediate: 7,
            },
        ),
        (
            "leaf names another key",
            Box::new(|s| s.leaf_key = stranger.public.to_vec()),
            CertError::LeafKeyMismatch,
        ),
        (
            "leaf expired",
            Box::new(|s| s.leaf_window = (NOW - 100, NOW - 1)),
            CertError::Expired(CertRole::Leaf),
        ),
        (
            "intermediate expired",
            Box::new(|s| s.intermediate_window = (NOW - 100, NOW - 1)),
            CertError::Expired(CertRole::Intermediate),
        ),
        (
            "leaf not yet valid",
            Box::new(|s| s.leaf_window = (NOW + 1, NOW + 100)),
            CertError::NotYetValid(CertRole::Leaf),
        ),
        (
            "intermediate not yet valid",
            Box::new(|s| s.intermediate_window = (NOW + 1, NOW + 100)),
            CertError::NotYetValid(CertRole::Intermediate),
        ),
    ];
    for (name, mutate, want) in cases {
        let mut spec = ChainSpec::good(&keys);
        mutate(&mut spec);
        let chain = spec.build();
        assert_eq!(verify(&keys, &chain).unwrap_err(), want, "{name}");
        // The same chain sent by a server in a real handshake fails the handshake.
        assert_eq!(
            handshake_with_chain(&keys, &chain),
            HandshakeError::Cert(want),
            "{name} (handshake)"
        );
    }
}

fn handshake_with_chain(keys: &Keys, chain: &[u8]) -> HandshakeError {
    let (client, hello) = ClientHandshake::start(&mut rng(50));
    let (_server, server_hello) =
        ServerHandshake::read_client_hello(&hello, &keys.server_static, chain, &mut rng(51))
            .unwrap();
    client
        .read_server_hello(
            &server_hello,
            &keys.client_static,
            b"p",
            NOW,
            &keys.policy(),
        )
        .unwrap_err()
}

#[test]
fn a_valid_chain_for_another_server_key_is_refused() {
    // The server proves its static key in the handshake; a chain certifying someone else's key
    // must not be accepted even though every signature is valid.
    let keys = Keys::new();
    let other = Keys {
        server_static: KeyPair::generate(&mut rng(77)),
        ..Keys::new()
    };
    assert_eq!(
        handshake_with_chain(&keys, &other.chain()),
        HandshakeError::Cert(CertError::LeafKeyMismatch)
    );
}

#[test]
fn truncated_and_garbage_payloads_are_malformed() {
    let keys = Keys::new();
    let good = keys.chain();
    for cut in [0usize, 1, 10, good.len() / 2, good.len() - 1] {
        let err = verify(&keys, &good[..cut]).unwrap_err();
        assert!(matches!(err, CertError::Malformed(_)), "cut {cut}: {err:?}");
        assert!(matches!(
            handshake_with_chain(&keys, &good[..cut]),
            HandshakeError::Cert(CertError::Malformed(_))
        ));
    }
    assert!(matches!(
        verify(&keys, b"\xff\xff\xff garbage"),
        Err(CertError::Malformed(_))
    ));
    // Missing leaf; short signature.
    let mut chain = CertChain::decode(good.as_slice()).unwrap();
    let leaf = chain.leaf.take();
    assert_eq!(
        verify(&keys, &chain.encode_to_vec()),
        Err(CertError::Malformed("missing leaf certificate"))
    );
    chain.leaf = leaf;
    chain
        .intermediate
        .as_mut()
        .unwrap()
        .signature
        .as_mut()
        .unwrap()
        .pop();
    assert_eq!(
        verify(&keys, &chain.encode_to_vec()),
        Err(CertError::Malformed("signature is not 64 bytes"))
    );
}

#[test]
fn whatsapp_policy_uses_the_published_root_key() {
    assert_eq!(
        hex::encode(WHATSAPP_ROOT_PUBLIC_KEY),
        "142375574d0a587166aae71ebe516437c4a28b73e3695c6ce1f7f9545da8ee6b"
    );
    assert!(CertPolicy::whatsapp().is_whatsapp());
    let keys = Keys::new();
    assert!(!keys.policy().is_whatsapp());
    assert!(format!("{:?}", keys.policy()).contains("danger_trust_root"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn arbitrary_chain_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let keys = Keys::new();
        prop_assert!(verify(&keys, &bytes).is_err());
    }
}
