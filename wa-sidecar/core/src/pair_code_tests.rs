use super::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn key(byte: u8) -> KeyPair {
    let mut k = [byte; 32];
    k[0] &= 248;
    k[31] &= 127;
    k[31] |= 64;
    KeyPair::from_private(k)
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn h32(s: &str) -> [u8; 32] {
    h(s).try_into().unwrap()
}

#[test]
fn codes_use_the_alphabet_and_show_as_two_groups_of_four() {
    assert_eq!(encode_code([0; 5]), "11111111");
    assert_eq!(encode_code([0xff; 5]), "ZZZZZZZZ");
    // 0x01 0x23 0x45 0x67 0x89 = 00000 00100 10001 10100 01010 11001 11100 01001
    assert_eq!(encode_code([0x01, 0x23, 0x45, 0x67, 0x89]), "15JMBSWA");
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    for _ in 0..200 {
        let code = generate_code(&mut rng);
        assert_eq!(code.len(), CODE_LEN);
        assert!(code.bytes().all(|b| CODE_ALPHABET.contains(&b)), "{code}");
        assert_eq!(normalize_code(&display_code(&code)), Some(code.clone()));
    }
    assert_eq!(display_code("15JMBSWA"), "15JM-BSWA");
    assert_eq!(normalize_code(" 15jm-bswa "), Some("15JMBSWA".into()));
    assert_eq!(normalize_code("15JM-BSW"), None);
    assert_eq!(
        normalize_code("15JM-BSWO"),
        None,
        "O is not in the alphabet"
    );
    assert_eq!(
        normalize_code("15JM-BSW0"),
        None,
        "0 is not in the alphabet"
    );
}

#[test]
fn phone_numbers_are_digits_in_international_format() {
    assert_eq!(
        PhoneNumber::parse("972501234567").unwrap().digits(),
        "972501234567"
    );
    let p = PhoneNumber::parse(" +972 (50) 123-45.67 ").unwrap();
    assert_eq!(p.digits(), "972501234567");
    assert_eq!(p.jid().to_string(), "972501234567@s.whatsapp.net");
    assert_eq!(p.to_string(), "+972501234567");
    assert_eq!(PhoneNumber::parse(""), Err(PhoneError::Empty));
    assert_eq!(PhoneNumber::parse("+ -"), Err(PhoneError::Empty));
    assert_eq!(
        PhoneNumber::parse("0501234567"),
        Err(PhoneError::LeadingZero)
    );
    assert_eq!(PhoneNumber::parse("97250"), Err(PhoneError::Length(5)));
    assert_eq!(
        PhoneNumber::parse("9725012345678901"),
        Err(PhoneError::Length(16))
    );
    assert_eq!(
        PhoneNumber::parse("97250x234567"),
        Err(PhoneError::BadCharacter('x'))
    );
    assert_eq!(
        PhoneNumber::parse("++972501234567"),
        Err(PhoneError::BadCharacter('+'))
    );
}

#[test]
fn wrap_and_unwrap_round_trip_and_a_wrong_code_gives_another_key() {
    let public = key(7).public;
    let wrapped = wrap_ephemeral("15JMBSWA", &public, &[1; 32], &[2; 16]);
    assert_eq!(&wrapped[..32], &[1; 32]);
    assert_eq!(&wrapped[32..48], &[2; 16]);
    assert_ne!(&wrapped[48..], &public);
    assert_eq!(unwrap_ephemeral("15JMBSWA", &wrapped), Ok(public));
    assert_ne!(unwrap_ephemeral("15JMBSWB", &wrapped), Ok(public));
    assert_eq!(
        unwrap_ephemeral("15JMBSWA", &wrapped[..79]),
        Err(PairCodeError::WrappedLength(79))
    );
}

/// Numbers from `tests/interop/baileys/pair_code_vector.mjs`, which runs UNMODIFIED Baileys
/// 7.0.0-rc14's own helpers (`bytesToCrockford`, `derivePairingCodeKey`, `aesEncryptCTR`,
/// `aesEncryptGCM`, `hkdf`, `Curve.sharedKey`) on the same fixed inputs, the way Baileys'
/// `requestPairingCode` and its `link_code_companion_reg` handler do.
#[test]
fn baileys_vector() {
    let code = encode_code([0x01, 0x23, 0x45, 0x67, 0x89]);
    assert_eq!(code, "15JMBSWA");
    let (companion_eph, identity) = (key(0x11), key(0x22));
    let (primary_eph, primary_identity) = (key(0x33), key(0x44));
    assert_eq!(
        companion_eph.public,
        h32("7b4e909bbe7ffe44c465a220037d608ee35897d31ef972f07f74892cb0f73f13")
    );
    assert_eq!(
        primary_identity.public,
        h32("ff2ee45601ec1b67310c7790404585ae697331eee1c1f8cf2419731c1fff3e6b")
    );
    let wrapped = wrap_ephemeral(&code, &companion_eph.public, &[0x55; 32], &[0x66; 16]);
    assert_eq!(
        hex::encode(wrapped),
        "5555555555555555555555555555555555555555555555555555555555555555\
         66666666666666666666666666666666\
         6c37119120751b4c3b57ea13e8da73cf2c498714833bd651e69b9b84131694c8"
    );
    let wrapped_primary = h(
        "7777777777777777777777777777777777777777777777777777777777777777\
         88888888888888888888888888888888\
         7a11ce661df48f61c93b25578d12e01bee2b7b452c2832a2b19b8f67ff71e8c5",
    );
    assert_eq!(
        unwrap_ephemeral(&code, &wrapped_primary),
        Ok(primary_eph.public)
    );
    let random = FinishRandom {
        adv_random: [0xbb; 32],
        bundle_salt: [0x99; 32],
        bundle_nonce: [0xaa; 12],
    };
    let finish = companion_finish(
        &companion_eph,
        &primary_eph.public,
        &identity,
        &primary_identity.public,
        &random,
    )
    .unwrap();
    assert_eq!(
        hex::encode(&finish.wrapped_bundle),
        "9999999999999999999999999999999999999999999999999999999999999999\
         aaaaaaaaaaaaaaaaaaaaaaaa\
         dc048d0456eabb876a737b18de8f0ef7aeed199d1c9781dd58f97395581c9f89\
         aff5ab2f22d43f9053de20b337507d7ba051b31d92442a763c5662e01a25a1f7\
         327221da10daa1240e47e59a75c413f37fc60494f74d5985bb28b04ffd2205e3\
         e209d4828720bd429321433ef60b76c4"
    );
    assert_eq!(
        hex::encode(finish.adv_secret),
        "89159bf86d4aedb2596903f2ac7afce534f57be830193efded5f75893b9bb00f"
    );
}

/// The primary's side, written out here from the fact sheet: it opens the bundle with its own
/// half of the agreement and derives the same ADV secret.
#[test]
fn the_primary_derives_the_same_secret_and_a_wrong_code_breaks_the_bundle() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let (companion_eph, identity) = (key(1), key(2));
    let (primary_eph, primary_identity) = (key(3), key(4));
    let random = FinishRandom::generate(&mut rng);
    let finish = companion_finish(
        &companion_eph,
        &primary_eph.public,
        &identity,
        &primary_identity.public,
        &random,
    )
    .unwrap();
    let open = |companion_eph_pub: &[u8; 32]| {
        let shared = primary_eph.dh(companion_eph_pub);
        let (salt, rest) = finish.wrapped_bundle.split_at(32);
        let (nonce, sealed) = rest.split_at(12);
        let key = hkdf32(salt, &shared, BUNDLE_KEY_INFO);
        let plain = wa_crypto::aes256_gcm_open(&key, nonce.try_into().unwrap(), &[], sealed)?;
        let ikm = [
            &shared[..],
            &primary_identity.dh(&identity.public)[..],
            &plain[64..],
        ]
        .concat();
        Ok::<_, wa_crypto::CryptoError>((plain, hkdf32(&[], &ikm, ADV_SECRET_INFO)))
    };
    let (plain, adv) = open(&companion_eph.public).unwrap();
    assert_eq!(&plain[..32], &identity.public);
    assert_eq!(&plain[32..64], &primary_identity.public);
    assert_eq!(adv, finish.adv_secret);
    // The primary unwrapped the companion's key with a mistyped code: another key, no bundle.
    let wrapped = wrap_ephemeral("15JMBSWA", &companion_eph.public, &[5; 32], &[6; 16]);
    let wrong = unwrap_ephemeral("15JMBSWB", &wrapped).unwrap();
    assert!(open(&wrong).is_err());
}

#[test]
fn low_order_keys_are_refused() {
    let random = FinishRandom::generate(&mut ChaCha20Rng::seed_from_u64(4));
    let err = companion_finish(&key(1), &[0; 32], &key(2), &key(3).public, &random);
    assert_eq!(err, Err(PairCodeError::LowOrderKey("ephemeral")));
    let err = companion_finish(&key(1), &key(4).public, &key(2), &[0; 32], &random);
    assert_eq!(err, Err(PairCodeError::LowOrderKey("identity")));
}

fn notification(stage: Option<&str>, children: Vec<Node>) -> Node {
    let mut reg = Node::new("link_code_companion_reg");
    if let Some(s) = stage {
        reg = reg.attr("stage", s);
    }
    Node::new("notification")
        .attr("type", "link_code_companion_reg")
        .children(vec![reg.children(children)])
}

#[test]
fn primary_hello_is_parsed_and_malformed_ones_are_refused() {
    let good = || {
        vec![
            Node::new("link_code_pairing_ref").bytes(b"ref-1".to_vec()),
            Node::new("link_code_pairing_wrapped_primary_ephemeral_pub").bytes(vec![9; 80]),
            Node::new("primary_identity_pub").bytes(vec![8; 32]),
        ]
    };
    let hello = parse_primary_hello(&notification(Some("primary_hello"), good())).unwrap();
    assert_eq!(hello.reference, b"ref-1");
    assert_eq!(hello.primary_identity, [8; 32]);
    assert!(parse_primary_hello(&notification(None, good())).is_ok());
    assert_eq!(
        parse_primary_hello(&notification(Some("refresh_code"), good())),
        Err(PairCodeError::Stage("refresh_code".into()))
    );
    assert_eq!(
        parse_primary_hello(&Node::new("notification")),
        Err(PairCodeError::Missing("link_code_companion_reg"))
    );
    for (drop, err) in [
        (0, PairCodeError::Missing("link_code_pairing_ref")),
        (
            1,
            PairCodeError::Missing("link_code_pairing_wrapped_primary_ephemeral_pub"),
        ),
        (2, PairCodeError::Missing("primary_identity_pub")),
    ] {
        let mut children = good();
        children.remove(drop);
        assert_eq!(parse_primary_hello(&notification(None, children)), Err(err));
    }
    let mut short = good();
    short[1] = Node::new("link_code_pairing_wrapped_primary_ephemeral_pub").bytes(vec![9; 79]);
    assert_eq!(
        parse_primary_hello(&notification(None, short)),
        Err(PairCodeError::WrappedLength(79))
    );
    let mut bad_key = good();
    bad_key[2] = Node::new("primary_identity_pub").bytes(vec![8; 31]);
    assert_eq!(
        parse_primary_hello(&notification(None, bad_key)),
        Err(PairCodeError::PrimaryIdentity)
    );
}

#[test]
fn hello_and_finish_stanzas_have_the_reference_shape() {
    let phone = PhoneNumber::parse("972501234567").unwrap();
    let iq = companion_hello_iq(&phone, &[3; 80], &[4; 32]);
    assert_eq!(iq.attr_str("xmlns").as_deref(), Some("md"));
    assert_eq!(iq.attr_str("type").as_deref(), Some("set"));
    let reg = iq.child("link_code_companion_reg").unwrap();
    assert_eq!(
        reg.attr_str("jid").as_deref(),
        Some("972501234567@s.whatsapp.net")
    );
    assert_eq!(reg.attr_str("stage").as_deref(), Some("companion_hello"));
    let bytes = |n: &Node, tag: &str| n.child(tag).unwrap().content_bytes().unwrap().to_vec();
    assert_eq!(
        bytes(reg, "link_code_pairing_wrapped_companion_ephemeral_pub"),
        vec![3; 80]
    );
    assert_eq!(bytes(reg, "companion_server_auth_key_pub"), vec![4; 32]);
    assert_eq!(bytes(reg, "companion_platform_id"), b"1");
    assert_eq!(bytes(reg, "companion_platform_display"), b"Chrome (Linux)");
    assert_eq!(bytes(reg, "link_code_pairing_nonce"), vec![0]);

    let iq = companion_finish_iq(&phone, &[5; 156], &[6; 32], b"ref-1");
    let reg = iq.child("link_code_companion_reg").unwrap();
    assert_eq!(reg.attr_str("stage").as_deref(), Some("companion_finish"));
    assert_eq!(
        bytes(reg, "link_code_pairing_wrapped_key_bundle"),
        vec![5; 156]
    );
    assert_eq!(bytes(reg, "companion_identity_public"), vec![6; 32]);
    assert_eq!(bytes(reg, "link_code_pairing_ref"), b"ref-1");

    let answer =
        Node::new("iq").children(vec![Node::new("link_code_companion_reg").children(vec![
            Node::new("link_code_pairing_ref").bytes(b"R".to_vec()),
        ])]);
    assert_eq!(hello_answer_ref(&answer), Some(b"R".to_vec()));
    assert_eq!(hello_answer_ref(&Node::new("iq")), None);
}
