//! WhatsApp binary node codec (WABinary, dictionary version 3): tokens, JIDs, nibble/hex
//! packing, zlib frames. Sans-IO: bytes in, nodes out, and back.
//!
//! ```
//! use wa_binary::{Jid, Node, decode, encode};
//! let ping = Node::new("iq")
//!     .attr("id", "1.2-3")
//!     .attr("to", Jid::server("s.whatsapp.net"))
//!     .attr("type", "get")
//!     .attr("xmlns", "w:p")
//!     .children(vec![Node::new("ping")]);
//! let bytes = encode(&ping);
//! assert_eq!(decode(&bytes).unwrap(), ping);
//! ```
//!
//! Canonical form (what survives `decode(encode(n)) == n`): attribute strings that are the
//! exact text of a JID come back as [`AttrValue::Jid`]; empty attribute strings are dropped;
//! [`Content::Str`] comes back as `Str` only when it is a token, nibble/hex packable or a JID,
//! otherwise as [`Content::Bytes`].

mod decoder;
mod encoder;
mod error;
mod frame;
mod jid;
mod node;
pub mod samples;
pub mod tags;
pub mod tokens;

pub use decoder::MAX_DEPTH;
pub use error::DecodeError;
pub use frame::{
    FLAG_COMPRESSED, MAX_INFLATED_SIZE, decode_frame_payload, encode_frame_payload, inflate,
};
pub use jid::*;
pub use node::{AttrValue, Attrs, Content, Node};

/// Encodes `node` (no flags byte).
pub fn encode(node: &Node) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    encode_into(node, &mut out);
    out
}

/// Appends the encoding of `node` to `out`.
pub fn encode_into(node: &Node, out: &mut Vec<u8>) {
    let mut enc = encoder::Encoder {
        out: std::mem::take(out),
    };
    enc.write_node(node);
    *out = enc.out;
}

/// Decodes exactly one node filling all of `bytes` (no flags byte).
pub fn decode(bytes: &[u8]) -> Result<Node, DecodeError> {
    let mut dec = decoder::Decoder::new(bytes);
    let node = dec.read_node(1)?;
    match dec.remaining() {
        0 => Ok(node),
        n => Err(DecodeError::TrailingBytes(n)),
    }
}

/// True when `jid` is written and read back unchanged (see [`Jid`] for what can be lost).
pub fn jid_roundtrips(jid: &Jid) -> bool {
    encoder::jid_is_exact(jid)
}
