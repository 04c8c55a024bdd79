#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Wire-level checks of the Noise handshake and certificate schemas.

use prost::Message;
use wa_protos::wa::{
    CertChain, HandshakeMessage,
    cert_chain::{NoiseCertificate, noise_certificate::Details},
    handshake_message::{ClientFinish, ClientHello, ServerHello},
};

#[test]
fn client_hello_bytes_match_hand_encoding() {
    let msg = HandshakeMessage {
        client_hello: Some(ClientHello {
            ephemeral: Some(vec![1; 32]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let bytes = msg.encode_to_vec();
    // field 2 (clientHello), wire type 2 => 0x12, length 34; inside: field 1 (ephemeral),
    // wire type 2 => 0x0a, length 32, then 32 bytes of 0x01.
    let mut expected = vec![0x12, 0x22, 0x0a, 0x20];
    expected.extend_from_slice(&[1; 32]);
    assert_eq!(bytes, expected);
    assert_eq!(HandshakeMessage::decode(expected.as_slice()).unwrap(), msg);
}

#[test]
fn server_hello_and_client_finish_use_fields_3_and_4() {
    // serverHello{ephemeral=[0xAA], static=[0xBB], payload=[0xCC]}
    let server = hex::decode("1a090a01aa1201bb1a01cc").unwrap();
    let decoded = HandshakeMessage::decode(server.as_slice()).unwrap();
    let hello = decoded.server_hello.expect("serverHello present");
    assert_eq!(hello.ephemeral(), [0xAA]);
    assert_eq!(hello.r#static(), [0xBB]);
    assert_eq!(hello.payload(), [0xCC]);
    assert!(decoded.client_hello.is_none());

    // clientFinish{static=[0x01,0x02], payload=[0x03]}
    let finish = HandshakeMessage {
        client_finish: Some(ClientFinish {
            r#static: Some(vec![1, 2]),
            payload: Some(vec![3]),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(hex::encode(finish.encode_to_vec()), "22070a020102120103");
}

#[test]
fn handshake_round_trip_keeps_every_part() {
    let msg = HandshakeMessage {
        client_hello: Some(ClientHello {
            ephemeral: Some(vec![7; 32]),
            r#static: Some(vec![8; 48]),
            payload: Some(vec![9; 100]),
            ..Default::default()
        }),
        server_hello: Some(ServerHello {
            ephemeral: Some(vec![1; 32]),
            r#static: Some(vec![2; 48]),
            payload: Some(vec![3; 200]),
            ..Default::default()
        }),
        client_finish: Some(ClientFinish {
            r#static: Some(vec![4; 48]),
            payload: Some(vec![5; 300]),
            ..Default::default()
        }),
    };
    let decoded = HandshakeMessage::decode(msg.encode_to_vec().as_slice()).unwrap();
    assert_eq!(decoded, msg);
}

#[test]
fn cert_chain_details_decode_from_known_bytes() {
    // Details{serial=2, issuerSerial=1, key=[0xCC;2], notBefore=1_700_000_000, notAfter=300}
    let details = hex::decode("080210011a02cccc2080e2cfaa0628ac02").unwrap();
    let d = Details::decode(details.as_slice()).unwrap();
    assert_eq!(d.serial, Some(2));
    assert_eq!(d.issuer_serial, Some(1));
    assert_eq!(d.key(), [0xCC, 0xCC]);
    assert_eq!(d.not_before, Some(1_700_000_000));
    assert_eq!(d.not_after, Some(300));
}

#[test]
fn cert_chain_round_trip_and_field_numbers() {
    let intermediate_details = Details {
        serial: Some(1),
        issuer_serial: Some(0),
        key: Some(vec![0xCC; 32]),
        not_before: Some(1_700_000_000),
        not_after: Some(1_900_000_000),
    };
    let chain = CertChain {
        leaf: Some(NoiseCertificate {
            details: Some(vec![0x0a]),
            signature: Some(vec![0x0b]),
        }),
        intermediate: Some(NoiseCertificate {
            details: Some(intermediate_details.encode_to_vec()),
            signature: Some(vec![0; 64]),
        }),
    };
    let bytes = chain.encode_to_vec();
    // leaf is field 1 containing details (field 1) and signature (field 2).
    assert_eq!(bytes[..8], [0x0a, 0x06, 0x0a, 0x01, 0x0a, 0x12, 0x01, 0x0b]);
    let decoded = CertChain::decode(bytes.as_slice()).unwrap();
    assert_eq!(decoded, chain);
    let inner = decoded.intermediate.unwrap();
    let d = Details::decode(inner.details()).unwrap();
    // An explicit issuerSerial = 0 stays present (proto2 presence).
    assert_eq!(d.issuer_serial, Some(0));
    assert_eq!(d, intermediate_details);
}

#[test]
fn truncated_input_is_an_error_not_a_panic() {
    let bytes = [0x12, 0x22, 0x0a, 0x20, 0x01];
    assert!(HandshakeMessage::decode(bytes.as_slice()).is_err());
    assert!(CertChain::decode([0x0a, 0xff].as_slice()).is_err());
}
