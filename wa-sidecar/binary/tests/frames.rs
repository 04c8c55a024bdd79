//! Frame payloads: flags byte, zlib inflation, and the inflated-size bound.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;

use flate2::Compression;
use flate2::write::ZlibEncoder;
use wa_binary::{
    DecodeError, MAX_INFLATED_SIZE, decode_frame_payload, encode, encode_frame_payload, samples,
};

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut enc = ZlibEncoder::new(Vec::new(), Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

#[test]
fn plain_frame_roundtrips() {
    for (_, node) in samples::sample_nodes() {
        let payload = encode_frame_payload(&node);
        assert_eq!(payload[0], 0);
        assert_eq!(decode_frame_payload(&payload).unwrap(), node);
    }
}

#[test]
fn compressed_frame_is_inflated() {
    let node = samples::usync();
    let mut payload = vec![2u8];
    payload.extend_from_slice(&zlib(&encode(&node)));
    assert_eq!(decode_frame_payload(&payload).unwrap(), node);
}

#[test]
fn zip_bomb_is_refused() {
    // 17 MiB of zeros compresses to a few KiB; inflating must stop at the bound.
    let bomb = zlib(&vec![0u8; MAX_INFLATED_SIZE + 1024 * 1024]);
    assert!(bomb.len() < 64 * 1024);
    let mut payload = vec![2u8];
    payload.extend_from_slice(&bomb);
    assert_eq!(
        decode_frame_payload(&payload),
        Err(DecodeError::TooLarge(MAX_INFLATED_SIZE))
    );
}

#[test]
fn bad_frames_are_errors() {
    assert_eq!(decode_frame_payload(&[]), Err(DecodeError::EmptyFrame));
    assert!(matches!(
        decode_frame_payload(&[2, 0x78, 0x9c, 0xff, 0xff]),
        Err(DecodeError::Inflate(_))
    ));
    // A compressed frame whose content is not a node.
    let mut payload = vec![2u8];
    payload.extend_from_slice(&zlib(&[0xF8, 0x01]));
    assert!(matches!(
        decode_frame_payload(&payload),
        Err(DecodeError::UnexpectedEnd(_))
    ));
}
