//! Frame payloads: `[flags][node or zlib(node)]` as carried inside each decrypted Noise frame
//! (fact sheet 1.5; Baileys `decompressingIfRequired`, whatsmeow `binary/unpack.go`).

use std::io::Read;

use flate2::read::ZlibDecoder;

use crate::error::DecodeError;
use crate::node::Node;
use crate::{decode, encode_into};

/// Flag bit meaning "the rest of the payload is a zlib stream".
pub const FLAG_COMPRESSED: u8 = 0x02;

/// Largest inflated payload accepted; a bigger one is refused as a likely zip bomb.
pub const MAX_INFLATED_SIZE: usize = 16 * 1024 * 1024;

/// Encodes `node` with the leading flags byte 0 (senders never compress).
pub fn encode_frame_payload(node: &Node) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.push(0);
    encode_into(node, &mut out);
    out
}

/// Decodes a frame payload, inflating it first when `flags & 2` is set.
pub fn decode_frame_payload(bytes: &[u8]) -> Result<Node, DecodeError> {
    let (&flags, rest) = bytes.split_first().ok_or(DecodeError::EmptyFrame)?;
    if flags & FLAG_COMPRESSED == 0 {
        return decode(rest);
    }
    decode(&inflate(rest)?)
}

/// Inflates a zlib stream, refusing output over [`MAX_INFLATED_SIZE`].
pub fn inflate(compressed: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    ZlibDecoder::new(compressed)
        .take(MAX_INFLATED_SIZE as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| DecodeError::Inflate(e.to_string()))?;
    if out.len() > MAX_INFLATED_SIZE {
        return Err(DecodeError::TooLarge(MAX_INFLATED_SIZE));
    }
    Ok(out)
}
