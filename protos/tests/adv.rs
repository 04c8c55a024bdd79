#![allow(clippy::unwrap_used, clippy::expect_used)]
//! ADV identity attestation messages: field numbers and round trips.

mod wire;

use prost::Message;
use wa_protos::wa::{
    AdvDeviceIdentity, AdvEncryptionType, AdvKeyIndexList, AdvSignedDeviceIdentity,
    AdvSignedDeviceIdentityHmac, AdvSignedKeyIndexList,
};
use wire::{field_bytes, field_varint, msg};

#[test]
fn pair_success_identity_chain_decodes_layer_by_layer() {
    let identity = msg(|m| {
        field_varint(m, 1, 0x1234_5678); // rawID
        field_varint(m, 2, 1_700_000_000); // timestamp
        field_varint(m, 3, 4); // keyIndex
        field_varint(m, 4, 0); // accountType E2EE
        field_varint(m, 5, 1); // deviceType HOSTED
    });
    let signed = msg(|m| {
        field_bytes(m, 1, &identity);
        field_bytes(m, 2, &[0x05; 32]);
        field_bytes(m, 3, &[0xAA; 64]);
        field_bytes(m, 4, &[0xBB; 64]);
    });
    let hmac = msg(|m| {
        field_bytes(m, 1, &signed);
        field_bytes(m, 2, &[0xCC; 32]);
        field_varint(m, 3, 1);
    });

    let outer = AdvSignedDeviceIdentityHmac::decode(hmac.as_slice()).unwrap();
    assert_eq!(outer.hmac(), [0xCC; 32]);
    assert_eq!(outer.account_type(), AdvEncryptionType::Hosted);
    let s = AdvSignedDeviceIdentity::decode(outer.details()).unwrap();
    assert_eq!(s.account_signature_key(), [0x05; 32]);
    assert_eq!(s.account_signature(), [0xAA; 64]);
    assert_eq!(s.device_signature(), [0xBB; 64]);
    let d = AdvDeviceIdentity::decode(s.details()).unwrap();
    assert_eq!(d.raw_id, Some(0x1234_5678));
    assert_eq!(d.timestamp, Some(1_700_000_000));
    assert_eq!(d.key_index, Some(4));
    assert_eq!(d.account_type(), AdvEncryptionType::E2ee);
    assert_eq!(d.device_type(), AdvEncryptionType::Hosted);

    // Re-encoding reproduces the exact bytes that were signed / MACed.
    assert_eq!(d.encode_to_vec(), identity);
    assert_eq!(s.encode_to_vec(), signed);
    assert_eq!(outer.encode_to_vec(), hmac);
}

#[test]
fn signed_identity_without_device_signature_is_distinguishable() {
    // The phone sends deviceSignature absent; the companion fills it in. Presence must show.
    let s = AdvSignedDeviceIdentity {
        details: Some(vec![1]),
        account_signature_key: Some(vec![2]),
        account_signature: Some(vec![3]),
        device_signature: None,
    };
    let back = AdvSignedDeviceIdentity::decode(s.encode_to_vec().as_slice()).unwrap();
    assert!(back.device_signature.is_none());
    assert_eq!(back, s);
}

#[test]
fn key_index_list_uses_packed_valid_indexes() {
    let list = AdvKeyIndexList {
        raw_id: Some(9),
        timestamp: Some(1_700_000_001),
        current_index: Some(3),
        valid_indexes: vec![0, 2, 3],
        account_type: Some(AdvEncryptionType::E2ee as i32),
    };
    let bytes = list.encode_to_vec();
    let expected = msg(|m| {
        field_varint(m, 1, 9);
        field_varint(m, 2, 1_700_000_001);
        field_varint(m, 3, 3);
        field_bytes(m, 4, &[0, 2, 3]); // packed repeated uint32
        field_varint(m, 5, 0);
    });
    assert_eq!(bytes, expected);

    let signed = AdvSignedKeyIndexList {
        details: Some(bytes),
        account_signature: Some(vec![0x01; 64]),
        account_signature_key: Some(vec![0x02; 32]),
    };
    let sbytes = signed.encode_to_vec();
    let expected_signed = msg(|m| {
        field_bytes(m, 1, &expected);
        field_bytes(m, 2, &[0x01; 64]);
        field_bytes(m, 3, &[0x02; 32]);
    });
    assert_eq!(sbytes, expected_signed);
    let back = AdvSignedKeyIndexList::decode(sbytes.as_slice()).unwrap();
    assert_eq!(AdvKeyIndexList::decode(back.details()).unwrap(), list);
}
