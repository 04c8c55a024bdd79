#![allow(clippy::unwrap_used, clippy::expect_used)]
//! HKDF, HMAC, AES-GCM and AES-CBC against published test vectors.

use wa_crypto::{
    CryptoError, aes256_cbc_decrypt, aes256_cbc_encrypt, aes256_gcm_open, aes256_gcm_seal, ct_eq,
    hkdf_sha256, hmac_sha256, hmac_sha256_parts,
};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

/// RFC 5869 appendix A.1 (test case 1).
#[test]
fn hkdf_rfc5869_case1() {
    let okm = hkdf_sha256(
        &h("000102030405060708090a0b0c"),
        &h("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"),
        &h("f0f1f2f3f4f5f6f7f8f9"),
        42,
    )
    .unwrap();
    assert_eq!(
        hex::encode(okm),
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    );
}

/// RFC 5869 appendix A.3 (empty salt and info).
#[test]
fn hkdf_rfc5869_case3_empty_salt() {
    let okm = hkdf_sha256(
        &[],
        &h("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"),
        &[],
        42,
    )
    .unwrap();
    assert_eq!(
        hex::encode(okm),
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
    );
    assert_eq!(
        hkdf_sha256(&[], b"k", &[], 8161),
        Err(CryptoError::HkdfLength(8161))
    );
}

/// RFC 4231 test case 2.
#[test]
fn hmac_rfc4231_case2() {
    let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
    assert_eq!(
        hex::encode(mac),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    assert_eq!(
        hmac_sha256_parts(b"Jefe", &[b"what do ya ", b"want for nothing?"]),
        mac
    );
    assert!(ct_eq(&mac, &mac));
    assert!(!ct_eq(&mac, &mac[..31]));
}

/// NIST GCM test case 16 (AES-256, 60-byte plaintext, 20-byte AAD) from the GCM spec.
#[test]
fn gcm_nist_case16_and_tamper() {
    let key: [u8; 32] = h("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
        .try_into()
        .unwrap();
    let nonce: [u8; 12] = h("cafebabefacedbaddecaf888").try_into().unwrap();
    let aad = h("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    let pt = h(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
    );
    let ct = aes256_gcm_seal(&key, &nonce, &aad, &pt).unwrap();
    assert_eq!(
        hex::encode(&ct),
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662\
         76fc6ece0f4e1768cddf8853bb2d551b"
    );
    assert_eq!(aes256_gcm_open(&key, &nonce, &aad, &ct).unwrap(), pt);
    let mut bad = ct.clone();
    bad[0] ^= 1;
    assert_eq!(
        aes256_gcm_open(&key, &nonce, &aad, &bad),
        Err(CryptoError::AeadAuthentication)
    );
    assert_eq!(
        aes256_gcm_open(&key, &nonce, b"other", &ct),
        Err(CryptoError::AeadAuthentication)
    );
    assert_eq!(
        aes256_gcm_open(&key, &nonce, &aad, &ct[..10]),
        Err(CryptoError::AeadAuthentication)
    );
}

/// NIST SP 800-38A F.2.5 (CBC-AES256), first block, plus PKCS#7 padding behaviour.
#[test]
fn cbc_sp800_38a_and_padding() {
    let key: [u8; 32] = h("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
        .try_into()
        .unwrap();
    let iv: [u8; 16] = h("000102030405060708090a0b0c0d0e0f").try_into().unwrap();
    let block = h("6bc1bee22e409f96e93d7e117393172a");
    let ct = aes256_cbc_encrypt(&key, &iv, &block);
    assert_eq!(ct.len(), 32, "a full block of padding is added");
    assert_eq!(hex::encode(&ct[..16]), "f58c4c04d6e5f1ba779eabfb5f7bfbd6");
    assert_eq!(aes256_cbc_decrypt(&key, &iv, &ct).unwrap(), block);

    assert_eq!(
        aes256_cbc_decrypt(&key, &iv, &ct[..15]),
        Err(CryptoError::CbcLength(15))
    );
    assert_eq!(
        aes256_cbc_decrypt(&key, &iv, &[]),
        Err(CryptoError::CbcLength(0))
    );
    // Decrypting only the first block leaves the plaintext block as "padding": invalid.
    assert_eq!(
        aes256_cbc_decrypt(&key, &iv, &ct[..16]),
        Err(CryptoError::CbcPadding)
    );
    for len in [0usize, 1, 15, 16, 17, 100] {
        let pt = vec![0xabu8; len];
        let ct = aes256_cbc_encrypt(&key, &iv, &pt);
        assert_eq!(aes256_cbc_decrypt(&key, &iv, &ct).unwrap(), pt);
    }
}
