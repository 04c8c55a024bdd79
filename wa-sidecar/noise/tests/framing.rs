#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Framing: intro header, partial frames, several frames per chunk, limits.

use proptest::prelude::*;
use wa_noise::{FrameDecoder, FrameEncoder, FrameError, MAX_FRAME_LEN, WA_CONN_HEADER};

#[test]
fn client_first_frame_has_wa_header_then_bare_frames() {
    let mut enc = FrameEncoder::client();
    let first = enc.encode(b"hello").unwrap();
    assert_eq!(first, [&b"WA\x06\x03"[..], &[0, 0, 5], b"hello"].concat());
    let second = enc.encode(b"hi").unwrap();
    assert_eq!(second, vec![0, 0, 2, b'h', b'i']);
    assert_eq!(
        FrameEncoder::server().encode(b"x").unwrap(),
        vec![0, 0, 1, b'x']
    );
}

#[test]
fn edge_routing_pre_intro_precedes_the_header() {
    let mut enc = FrameEncoder::client_with_edge_routing(&[9, 8, 7]).unwrap();
    let first = enc.encode(b"p").unwrap();
    assert_eq!(
        first,
        vec![
            b'E', b'D', 0, 1, 0, 0, 3, 9, 8, 7, b'W', b'A', 6, 3, 0, 0, 1, b'p'
        ]
    );
    // The server decoder strips it, byte by byte, and remembers the routing info.
    let mut dec = FrameDecoder::server();
    let mut frames = Vec::new();
    for b in &first {
        frames.extend(dec.push(&[*b]).unwrap());
    }
    assert_eq!(frames, vec![b"p".to_vec()]);
    assert_eq!(dec.edge_routing(), Some(&[9u8, 8, 7][..]));
}

#[test]
fn oversize_frames_are_refused() {
    let big = vec![0u8; MAX_FRAME_LEN + 1];
    assert_eq!(
        FrameEncoder::client().encode(&big),
        Err(FrameError::TooLarge(MAX_FRAME_LEN + 1))
    );
    assert!(FrameEncoder::client().encode(&big[..MAX_FRAME_LEN]).is_ok());
    let mut dec = FrameDecoder::client().with_max_frame_len(10);
    assert_eq!(
        dec.push(&[0, 0, 11]),
        Err(FrameError::PeerFrameTooLarge { len: 11, limit: 10 })
    );
    assert_eq!(dec.push(&[0, 0, 1, 1]), Err(FrameError::Poisoned));
}

#[test]
fn partial_and_multiple_frames_per_chunk() {
    let mut enc = FrameEncoder::server();
    let mut wire = Vec::new();
    for body in [&b"one"[..], b"", b"three33", &[0xffu8; 300]] {
        wire.extend(enc.encode(body).unwrap());
    }
    // All at once.
    let mut dec = FrameDecoder::client();
    let all = dec.push(&wire).unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all[0], b"one");
    assert_eq!(all[1], b"");
    assert_eq!(all[3], vec![0xff; 300]);
    assert_eq!(dec.buffered(), 0);
    // Split at every possible point gives the same frames.
    for cut in 0..wire.len() {
        let mut dec = FrameDecoder::client();
        let mut got = dec.push(&wire[..cut]).unwrap();
        got.extend(dec.push(&wire[cut..]).unwrap());
        assert_eq!(got, all, "cut at {cut}");
    }
    // A header split across chunks stays buffered.
    let mut dec = FrameDecoder::client();
    assert!(dec.push(&[0, 0]).unwrap().is_empty());
    assert!(dec.push(&[2, b'a']).unwrap().is_empty());
    assert_eq!(dec.buffered(), 4);
    assert_eq!(dec.push(b"b").unwrap(), vec![b"ab".to_vec()]);
}

#[test]
fn server_decoder_requires_the_wa_header() {
    let mut dec = FrameDecoder::server();
    assert_eq!(dec.push(b"XA\x06\x03\0\0\0"), Err(FrameError::BadIntro));
    let mut dec = FrameDecoder::server();
    assert_eq!(dec.push(b"WA\x06\x02"), Err(FrameError::BadIntro));
    let mut dec = FrameDecoder::server();
    assert_eq!(dec.push(b"EX\0\x01"), Err(FrameError::BadIntro));
    let mut dec = FrameDecoder::server();
    assert!(dec.push(&WA_CONN_HEADER[..2]).unwrap().is_empty());
    assert_eq!(dec.push(b"\x06\x03\0\0\x01z").unwrap(), vec![b"z".to_vec()]);
    assert_eq!(dec.edge_routing(), None);
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..8),
        server in any::<bool>(),
    ) {
        let mut dec = if server { FrameDecoder::server() } else { FrameDecoder::client() }
            .with_max_frame_len(1000);
        for chunk in &chunks {
            if dec.push(chunk).is_err() {
                break;
            }
            prop_assert!(dec.buffered() <= 1000 + 3 + 64);
        }
    }

    #[test]
    fn encode_then_decode_round_trips(
        bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..6),
        cut in any::<usize>(),
    ) {
        let mut enc = FrameEncoder::client();
        let wire: Vec<u8> = bodies.iter().flat_map(|b| enc.encode(b).unwrap()).collect();
        let mut dec = FrameDecoder::server();
        let cut = if wire.is_empty() { 0 } else { cut % wire.len() };
        let mut got = dec.push(&wire[..cut]).unwrap();
        got.extend(dec.push(&wire[cut..]).unwrap());
        prop_assert_eq!(got, bodies);
    }
}
