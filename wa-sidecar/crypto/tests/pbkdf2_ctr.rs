#![allow(clippy::unwrap_used, clippy::expect_used)]
//! PBKDF2-HMAC-SHA256 and AES-256-CTR against published vectors and Node's `crypto`.

use wa_crypto::{aes256_ctr_apply, pbkdf2_sha256};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

/// RFC 7914 section 11 (PBKDF2-HMAC-SHA256, first 32 of the 64 bytes), plus the pairing-code
/// parameters (131 072 rounds) computed with Python's `hashlib.pbkdf2_hmac`.
#[test]
fn pbkdf2_rfc7914_and_pairing_code_rounds() {
    assert_eq!(
        hex::encode(pbkdf2_sha256(b"passwd", b"salt", 1)),
        "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
    );
    assert_eq!(
        hex::encode(pbkdf2_sha256(b"Password", b"NaCl", 80_000)),
        "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
    );
    let salt: Vec<u8> = (0u8..32).collect();
    assert_eq!(
        hex::encode(pbkdf2_sha256(b"ABCDEFGH", &salt, 131_072)),
        "920ceedbc74a9319a309daf1493c79d001e31d9a6b3ed51cf7374849878d84e4"
    );
}

/// NIST SP 800-38A F.5.5 (CTR-AES256.Encrypt, blocks 1-2); decrypting is the same operation.
#[test]
fn ctr_sp800_38a_f55() {
    let key: [u8; 32] = h("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
        .try_into()
        .unwrap();
    let iv: [u8; 16] = h("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff").try_into().unwrap();
    let plain = h("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51");
    let mut data = plain.clone();
    aes256_ctr_apply(&key, &iv, &mut data);
    assert_eq!(
        hex::encode(&data),
        "601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c5"
    );
    aes256_ctr_apply(&key, &iv, &mut data);
    assert_eq!(data, plain);
}

/// The counter is the whole 128-bit block and wraps from ff..ff to 00..00, as Node's
/// `aes-256-ctr` does (keystream computed with `crypto.createCipheriv`).
#[test]
fn ctr_counter_wraps_over_all_128_bits() {
    let key: [u8; 32] = h("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
        .try_into()
        .unwrap();
    let mut data = [0u8; 48];
    aes256_ctr_apply(&key, &[0xff; 16], &mut data);
    assert_eq!(
        hex::encode(data),
        "3b3c2921c85a24de9ac606ce6d1d60cce568f68194cf76d6174d4cc04310a854\
         91151e5d0b7a1f1bc0d7acd0ae3e51e4"
    );
}
