//! Decoding errors. Every variant describes input sent by the peer that is malformed.

use thiserror::Error;

/// Why a byte sequence is not a valid binary node (always the sender's fault).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The input ended in the middle of an item.
    #[error("unexpected end of input at offset {0}")]
    UnexpectedEnd(usize),
    /// A tag byte that is not allowed at this position.
    #[error("unexpected tag {tag} at offset {offset} (expected {expected})")]
    BadTag {
        /// The tag byte found.
        tag: u8,
        /// Offset of the tag byte.
        offset: usize,
        /// What the decoder was looking for.
        expected: &'static str,
    },
    /// A dictionary / token index outside the token tables.
    #[error("token index {dict}:{index} out of range at offset {offset}")]
    BadTokenIndex {
        /// Dictionary number (or 255 for the single-byte table).
        dict: u8,
        /// Index inside the dictionary.
        index: u8,
        /// Offset of the index byte.
        offset: usize,
    },
    /// A packed nibble/hex string holds a value that has no character.
    #[error("invalid packed value {value} at offset {offset}")]
    InvalidNibble {
        /// The 4-bit value.
        value: u8,
        /// Offset of the byte holding it.
        offset: usize,
    },
    /// A list (or a byte string) announces more items than the input can hold.
    #[error("list of {size} items at offset {offset} is longer than the remaining input")]
    ListTooLong {
        /// Announced size.
        size: usize,
        /// Offset of the list header.
        offset: usize,
    },
    /// A node with no tag, or an empty list where a node is expected.
    #[error("invalid node at offset {0}: missing or empty tag")]
    InvalidNode(usize),
    /// A JID with a missing or wrong server.
    #[error("invalid JID at offset {offset}: {reason}")]
    InvalidJid {
        /// Offset of the JID tag.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// Nodes nested deeper than [`crate::MAX_DEPTH`].
    #[error("nodes nested deeper than {0} levels")]
    TooDeep(usize),
    /// Bytes left after the top-level node.
    #[error("{0} trailing bytes after the node")]
    TrailingBytes(usize),
    /// The frame payload is empty (no flags byte).
    #[error("empty frame payload")]
    EmptyFrame,
    /// The zlib stream in a compressed frame is corrupt or truncated.
    #[error("zlib inflate failed: {0}")]
    Inflate(String),
    /// The inflated frame exceeds [`crate::MAX_INFLATED_SIZE`].
    #[error("inflated frame exceeds {0} bytes")]
    TooLarge(usize),
}
