#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Signal wire bodies (libsignal WhisperTextProtocol): field numbers and round trips.

mod wire;

use prost::Message;
use wa_protos::wa::{
    PreKeySignalMessage, SenderKeyMessage, SignalMessage, SignalSenderKeyDistributionMessage,
};
use wire::{field_bytes, field_varint, msg};

fn ratchet_key() -> Vec<u8> {
    let mut k = vec![0x05];
    k.extend_from_slice(&[0x42; 32]);
    k
}

#[test]
fn signal_message_field_numbers() {
    let m = SignalMessage {
        ratchet_key: Some(ratchet_key()),
        counter: Some(2),
        previous_counter: Some(1),
        ciphertext: Some(vec![0xAB; 16]),
    };
    let expected = msg(|b| {
        field_bytes(b, 1, &ratchet_key());
        field_varint(b, 2, 2);
        field_varint(b, 3, 1);
        field_bytes(b, 4, &[0xAB; 16]);
    });
    assert_eq!(m.encode_to_vec(), expected);
    assert_eq!(SignalMessage::decode(expected.as_slice()).unwrap(), m);
}

#[test]
fn prekey_message_decodes_libsignal_field_order() {
    // libsignal declares registrationId (5) first and signedPreKeyId (6) third; decoding must
    // not depend on order, so write them in that declaration order.
    let inner = msg(|b| field_bytes(b, 4, b"ct"));
    let bytes = msg(|b| {
        field_varint(b, 5, 16_383);
        field_varint(b, 1, 0x00AB_CDEF);
        field_varint(b, 6, 1);
        field_bytes(b, 2, &[0x05; 33]);
        field_bytes(b, 3, &[0x06; 33]);
        field_bytes(b, 4, &inner);
    });
    let m = PreKeySignalMessage::decode(bytes.as_slice()).unwrap();
    assert_eq!(m.registration_id, Some(16_383));
    assert_eq!(m.pre_key_id, Some(0x00AB_CDEF));
    assert_eq!(m.signed_pre_key_id, Some(1));
    assert_eq!(m.base_key(), [0x05; 33]);
    assert_eq!(m.identity_key(), [0x06; 33]);
    assert_eq!(
        SignalMessage::decode(m.message()).unwrap().ciphertext(),
        b"ct"
    );
    // No one-time prekey: preKeyId absent stays absent after a round trip.
    let no_otk = PreKeySignalMessage {
        pre_key_id: None,
        ..m
    };
    let back = PreKeySignalMessage::decode(no_otk.encode_to_vec().as_slice()).unwrap();
    assert!(back.pre_key_id.is_none());
    assert_eq!(back, no_otk);
}

#[test]
fn sender_key_messages_field_numbers() {
    let skm = SenderKeyMessage {
        id: Some(7),
        iteration: Some(300),
        ciphertext: Some(vec![1, 2, 3]),
    };
    let expected = msg(|b| {
        field_varint(b, 1, 7);
        field_varint(b, 2, 300);
        field_bytes(b, 3, &[1, 2, 3]);
    });
    assert_eq!(skm.encode_to_vec(), expected);
    assert_eq!(SenderKeyMessage::decode(expected.as_slice()).unwrap(), skm);

    let skdm = SignalSenderKeyDistributionMessage {
        id: Some(7),
        iteration: Some(0),
        chain_key: Some(vec![0x11; 32]),
        signing_key: Some(ratchet_key()),
    };
    let expected = msg(|b| {
        field_varint(b, 1, 7);
        field_varint(b, 2, 0);
        field_bytes(b, 3, &[0x11; 32]);
        field_bytes(b, 4, &ratchet_key());
    });
    assert_eq!(skdm.encode_to_vec(), expected);
    assert_eq!(
        SignalSenderKeyDistributionMessage::decode(expected.as_slice()).unwrap(),
        skdm
    );
}

#[test]
fn garbage_is_an_error() {
    assert!(SignalMessage::decode([0x0a, 0x21, 0x05].as_slice()).is_err());
    assert!(PreKeySignalMessage::decode([0x28].as_slice()).is_err());
}
