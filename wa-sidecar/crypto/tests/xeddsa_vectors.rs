#![allow(clippy::unwrap_used, clippy::expect_used)]
//! XEdDSA and X25519 known-answer tests against independent implementations.

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use wa_crypto::{KeyPair, public_key_from_wire, strip_djb_prefix, xeddsa_sign, xeddsa_verify};

fn arr<const N: usize>(h: &str) -> [u8; N] {
    hex::decode(h).unwrap().try_into().unwrap()
}

// Source: libsignal-protocol-c `tests/test_curve25519.c` (`test_curve25519_agreement`), the same
// vectors as libsignal's Java `Curve25519Test.testAgreement`.
const ALICE_PUBLIC: &str = "051bb75966f2e93a3691dfff942bb2a466a1c08b8d78ca3f4d6df8b8bfa2e4ee28";
const ALICE_PRIVATE: &str = "c806439dc9d2c476ffed8f2580c0888d58ab406bf7ae3698879021b96bb4bf59";
const BOB_PUBLIC: &str = "05653614993d2b15ee9e5fd3d86ce719ef4ec1daae1886a87b3f5fa9565a27a22f";
const BOB_PRIVATE: &str = "b03b34c33a1c44f225b662d2bf4859b8135411fa7b0386d45fb75dc5b91b4466";
const SHARED: &str = "325f239328941ced6e673b86ba41017448e99b649a9c3806c1dd7ca4c477e629";

#[test]
fn libsignal_agreement_vector() {
    let alice = KeyPair::from_private(arr(ALICE_PRIVATE));
    let bob = KeyPair::from_private(arr(BOB_PRIVATE));
    let alice_pub = strip_djb_prefix(&hex::decode(ALICE_PUBLIC).unwrap()).unwrap();
    let bob_pub = strip_djb_prefix(&hex::decode(BOB_PUBLIC).unwrap()).unwrap();
    assert_eq!(alice.public, alice_pub);
    assert_eq!(bob.public, bob_pub);
    assert_eq!(alice.dh(&bob_pub), arr::<32>(SHARED));
    assert_eq!(bob.dh(&alice_pub), arr::<32>(SHARED));
}

// Source: libsignal-protocol-c `tests/test_curve25519.c` (`test_curve25519_signature`), the same
// vector as libsignal's Java `Curve25519Test.testSignature`: Alice's identity key signs her
// 33-byte (0x05-prefixed) ephemeral public key.
const SIG_IDENTITY_PRIVATE: &str =
    "c097248412e58bf05df487968205132794178e367637f5818f81e0e6ce73e865";
const SIG_IDENTITY_PUBLIC: &str =
    "05ab7e717d4a163b7d9a1d8071dfe9dcf8cdcd1cea3339b6356be84d887e322c64";
const SIG_MESSAGE: &str = "05edce9d9c415ca78cb7252e72c2c4a554d3eb29485a0e1d503118d1a82d99fb4a";
const SIG: &str = "5de88ca9a89b4a115da79109c67c9c7464a3e4180274f1cb8c63c2984e286dfbede82deb9dcd9fae0bfbb821569b3d9001bd8130cd11d486cef047bd60b86e88";

#[test]
fn libsignal_signature_vector_verifies_and_every_bit_flip_fails() {
    let public = strip_djb_prefix(&hex::decode(SIG_IDENTITY_PUBLIC).unwrap()).unwrap();
    assert_eq!(
        KeyPair::from_private(arr(SIG_IDENTITY_PRIVATE)).public,
        public
    );
    let message = hex::decode(SIG_MESSAGE).unwrap();
    let sig: [u8; 64] = arr(SIG);
    assert!(xeddsa_verify(&public, &message, &sig));
    for i in 0..64 {
        let mut bad = sig;
        bad[i] ^= 0x01;
        assert!(
            !xeddsa_verify(&public, &message, &bad),
            "flip in byte {i} accepted"
        );
    }
}

// Self-generated on 2026-11-22 with npm `libsignal@6.0.0` (its `curve.js`, which calls
// `curve25519-js` 0.0.4) by a Node script:
//   priv = bytes (i*7+1) & 0xff for i in 0..32 (deliberately not clamped),
//   pub  = curve.getPublicFromPrivateKey(priv),
//   SIG_NODE_DETERMINISTIC = curve.calculateSignature(priv, msg) (libsignal's nonce without random),
//   SIG_NODE_RANDOM = curveJs.sign(priv, msg, random) with random = bytes (255 - 3i) & 0xff.
// Both were accepted by `curve.verifySignature` in Node.
const NODE_PRIV: &str = "01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3da";
const NODE_PUB: &str = "05c8feca81be196cdf2cadeabf13c4903d7632dce4955aa68b6e5d9adef54e2616";
const NODE_MSG: &[u8] = b"wa-crypto xeddsa cross-check with libsignal@6.0.0";
const NODE_RANDOM: &str = "fffcf9f6f3f0edeae7e4e1dedbd8d5d2cfccc9c6c3c0bdbab7b4b1aeaba8a5a29f9c999693908d8a8784817e7b7875726f6c696663605d5a5754514e4b484542";
const SIG_NODE_DETERMINISTIC: &str = "3c59f6068f5a33c0a696a217f994ee1af8ee2178bbb59e1ee92014b8e4a6e3742d883674ab5b7538dac0ba12a8cf615e0a8217207fa815c8909af0f1baa8868b";
const SIG_NODE_RANDOM: &str = "05f018c2aaa1b5376b7329a979a72277514bc09500506b8b1866e6d388dbf7c72219abb64ea12d1410b48f93db4c435275adb1136f7b422e1323b6e8cff98588";

#[test]
fn node_libsignal_signatures_verify_in_rust() {
    let public = public_key_from_wire(&hex::decode(NODE_PUB).unwrap()).unwrap();
    assert_eq!(KeyPair::from_private(arr(NODE_PRIV)).public, public);
    assert!(xeddsa_verify(
        &public,
        NODE_MSG,
        &arr(SIG_NODE_DETERMINISTIC)
    ));
    assert!(xeddsa_verify(&public, NODE_MSG, &arr(SIG_NODE_RANDOM)));
}

// Same provenance (Node script, libsignal@6.0.0 `curve.calculateSignature`), a key whose Edwards
// public key has sign bit 0 (the vectors above have sign bit 1): priv = bytes (2i+3) & 0xff.
const NODE_PRIV_SIGN0: &str = "030507090b0d0f11131517191b1d1f21232527292b2d2f31333537393b3d3f41";
const NODE_PUB_SIGN0: &str = "059f44c2cc288521b135f66a0222bf27ce5eb4a0411392e0cca25586e8af496163";
const NODE_SIG_SIGN0: &str = "60f81b5b29ce648a74ffd32cbd78298f1114f84b65e28f61ae8f04a976f43c39e47728dbf6524f40b0e4534528430c64aa68ee0a72f3405c4e38a02c600ecc07";

#[test]
fn node_vector_with_sign_bit_zero() {
    let public = public_key_from_wire(&hex::decode(NODE_PUB_SIGN0).unwrap()).unwrap();
    assert_eq!(KeyPair::from_private(arr(NODE_PRIV_SIGN0)).public, public);
    let sig: [u8; 64] = arr(NODE_SIG_SIGN0);
    assert_eq!(sig[63] & 0x80, 0);
    assert!(xeddsa_verify(&public, b"sign bit zero", &sig));
    let mut flipped = sig;
    flipped[63] |= 0x80;
    assert!(!xeddsa_verify(&public, b"sign bit zero", &flipped));
}

#[test]
fn rust_signature_is_byte_identical_to_node_given_the_same_random() {
    let sig = xeddsa_sign(&arr(NODE_PRIV), NODE_MSG, &arr(NODE_RANDOM));
    assert_eq!(hex::encode(sig), SIG_NODE_RANDOM);
}

#[test]
fn sign_verify_round_trip_wrong_key_and_wrong_message_fail() {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    for _ in 0..20 {
        let pair = KeyPair::generate(&mut rng);
        let other = KeyPair::generate(&mut rng);
        let sig = pair.sign(b"hello", &mut rng);
        assert!(xeddsa_verify(&pair.public, b"hello", &sig));
        assert!(!xeddsa_verify(&other.public, b"hello", &sig));
        assert!(!xeddsa_verify(&pair.public, b"hellp", &sig));
    }
}

#[test]
fn non_canonical_s_is_rejected() {
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let pair = KeyPair::generate(&mut rng);
    let sig = pair.sign(b"m", &mut rng);
    // s + L encodes the same scalar mod L but is not canonical; it must be refused.
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let sign_bit = sig[63] & 0x80;
    let mut s = [0u8; 32];
    s.copy_from_slice(&sig[32..]);
    s[31] &= 0x7f;
    let mut carry = 0u16;
    for i in 0..32 {
        let v = s[i] as u16 + L[i] as u16 + carry;
        s[i] = v as u8;
        carry = v >> 8;
    }
    assert_eq!(carry, 0);
    let mut bad = sig;
    bad[32..].copy_from_slice(&s);
    bad[63] |= sign_bit;
    assert!(!xeddsa_verify(&pair.public, b"m", &bad));
}

#[test]
fn bad_public_keys_are_rejected_without_panicking() {
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let pair = KeyPair::generate(&mut rng);
    let sig = pair.sign(b"m", &mut rng);
    // u = 0 and u = 1 are small-order; all-0xff is not canonical (bit 255 set).
    let mut one = [0u8; 32];
    one[0] = 1;
    for key in [[0u8; 32], one, [0xffu8; 32]] {
        assert!(!xeddsa_verify(&key, b"m", &sig));
    }
    // Setting bit 255 of a valid key must not be accepted as the same key.
    let mut high = pair.public;
    high[31] |= 0x80;
    assert!(!xeddsa_verify(&high, b"m", &sig));
}

#[test]
fn djb_prefix_helpers() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let pair = KeyPair::generate(&mut rng);
    let wire = pair.public_with_prefix();
    assert_eq!(wire[0], 0x05);
    assert_eq!(strip_djb_prefix(&wire).unwrap(), pair.public);
    assert_eq!(public_key_from_wire(&pair.public).unwrap(), pair.public);
    assert!(strip_djb_prefix(&pair.public).is_err());
    let mut wrong_type = wire;
    wrong_type[0] = 0x06;
    assert!(strip_djb_prefix(&wrong_type).is_err());
    assert!(public_key_from_wire(&[5u8; 34]).is_err());
    // Generated private keys are clamped like libsignal's.
    assert_eq!(pair.private[0] & 7, 0);
    assert_eq!(pair.private[31] & 0xc0, 0x40);
    assert!(!format!("{pair:?}").contains(&hex::encode(pair.private)));
}

proptest::proptest! {
    #[test]
    fn verify_never_panics(key in proptest::array::uniform32(proptest::num::u8::ANY),
                           sig in proptest::collection::vec(proptest::num::u8::ANY, 64),
                           msg in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
        let sig: [u8; 64] = sig.try_into().unwrap();
        let _ = xeddsa_verify(&key, &msg, &sig);
    }
}
