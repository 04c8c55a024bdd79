//! Bytes → node. Bounded: every length is checked against the remaining input before anything
//! is allocated, and nesting is capped at [`MAX_DEPTH`]. Readers follow whatsmeow
//! `binary/decoder.go` and Baileys `src/WABinary/decode.ts`.

use crate::error::DecodeError;
use crate::jid::{
    DEFAULT_USER_SERVER, HIDDEN_USER_SERVER, HOSTED_LID_SERVER, HOSTED_SERVER, INTEROP_SERVER, Jid,
    MESSENGER_SERVER,
};
use crate::node::{AttrValue, Attrs, Content, Node};
use crate::tags::*;
use crate::tokens;

/// Deepest node nesting accepted (the top-level node is depth 1).
pub const MAX_DEPTH: usize = 64;

/// Smallest encoding of a node (list header, size, one-byte tag): bounds list allocations.
const MIN_NODE_LEN: usize = 3;

type Result<T> = std::result::Result<T, DecodeError>;

/// A cursor over the input.
pub(crate) struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Decoder { buf, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn byte(&mut self) -> Result<u8> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or(DecodeError::UnexpectedEnd(self.pos))?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(DecodeError::UnexpectedEnd(self.buf.len()));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn u16(&mut self) -> Result<u16> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn list_size(&mut self, tag: u8, offset: usize) -> Result<usize> {
        match tag {
            LIST_EMPTY => Ok(0),
            LIST_8 => Ok(usize::from(self.byte()?)),
            LIST_16 => Ok(usize::from(self.u16()?)),
            _ => Err(DecodeError::BadTag {
                tag,
                offset,
                expected: "list",
            }),
        }
    }

    /// Reads one node at nesting `depth` (1 for the top-level node).
    pub(crate) fn read_node(&mut self, depth: usize) -> Result<Node> {
        if depth > MAX_DEPTH {
            return Err(DecodeError::TooDeep(MAX_DEPTH));
        }
        let start = self.pos;
        let tag = self.byte()?;
        let size = self.list_size(tag, start)?;
        if size == 0 {
            return Err(DecodeError::InvalidNode(start));
        }
        let name = self.read_string()?;
        if name.is_empty() {
            return Err(DecodeError::InvalidNode(start));
        }
        let mut attrs = Vec::new();
        for _ in 0..(size - 1) / 2 {
            let key = self.read_string()?;
            let value = self.read_attr_value()?;
            attrs.push((key, value));
        }
        let content = if size % 2 == 0 {
            self.read_content(depth)?
        } else {
            Content::None
        };
        Ok(Node {
            tag: name,
            attrs: Attrs::from_decoded(attrs),
            content,
        })
    }

    fn read_content(&mut self, depth: usize) -> Result<Content> {
        let offset = self.pos;
        let tag = self.byte()?;
        match tag {
            LIST_EMPTY | LIST_8 | LIST_16 => {
                let size = self.list_size(tag, offset)?;
                if size > self.remaining() / MIN_NODE_LEN {
                    return Err(DecodeError::ListTooLong { size, offset });
                }
                let mut nodes = Vec::with_capacity(size);
                for _ in 0..size {
                    nodes.push(self.read_node(depth + 1)?);
                }
                Ok(Content::Nodes(nodes))
            }
            BINARY_8 | BINARY_20 | BINARY_32 => Ok(Content::Bytes(self.read_binary(tag)?.to_vec())),
            JID_PAIR | AD_JID | FB_JID | INTEROP_JID => {
                Ok(Content::Str(self.read_jid(tag, offset)?.to_string()))
            }
            _ => Ok(Content::Str(self.read_string_tagged(tag, offset)?)),
        }
    }

    fn read_attr_value(&mut self) -> Result<AttrValue> {
        let offset = self.pos;
        let tag = self.byte()?;
        match tag {
            JID_PAIR | AD_JID | FB_JID | INTEROP_JID => {
                Ok(AttrValue::Jid(self.read_jid(tag, offset)?))
            }
            _ => Ok(AttrValue::Str(self.read_string_tagged(tag, offset)?)),
        }
    }

    /// A string where only string encodings are allowed (tags, keys, JID parts).
    fn read_string(&mut self) -> Result<String> {
        let offset = self.pos;
        let tag = self.byte()?;
        self.read_string_tagged(tag, offset)
    }

    fn read_string_tagged(&mut self, tag: u8, offset: usize) -> Result<String> {
        match tag {
            LIST_EMPTY => Ok(String::new()),
            DICTIONARY_0..=DICTIONARY_3 => {
                let index_at = self.pos;
                let index = self.byte()?;
                let dict = tag - DICTIONARY_0;
                tokens::double(dict, index)
                    .map(str::to_owned)
                    .ok_or(DecodeError::BadTokenIndex {
                        dict,
                        index,
                        offset: index_at,
                    })
            }
            BINARY_8 | BINARY_20 | BINARY_32 => {
                // Invalid UTF-8 is replaced rather than refused, as Baileys' `toString('utf-8')`.
                Ok(String::from_utf8_lossy(self.read_binary(tag)?).into_owned())
            }
            NIBBLE_8 | HEX_8 => self.read_packed(tag),
            1..DICTIONARY_0 => {
                tokens::single(tag)
                    .map(str::to_owned)
                    .ok_or(DecodeError::BadTokenIndex {
                        dict: u8::MAX,
                        index: tag,
                        offset,
                    })
            }
            _ => Err(DecodeError::BadTag {
                tag,
                offset,
                expected: "string",
            }),
        }
    }

    fn read_binary(&mut self, tag: u8) -> Result<&'a [u8]> {
        let len = match tag {
            BINARY_8 => usize::from(self.byte()?),
            BINARY_20 => {
                let b = self.take(3)?;
                (usize::from(b[0] & 0x0f) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2])
            }
            _ => {
                let b = self.take(4)?;
                u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
            }
        };
        self.take(len)
    }

    fn read_packed(&mut self, tag: u8) -> Result<String> {
        let start = self.byte()?;
        let n = usize::from(start & 0x7f);
        let odd = start & 0x80 != 0;
        let at = self.pos;
        if odd && n == 0 {
            return Err(DecodeError::InvalidNibble {
                value: start,
                offset: at - 1,
            });
        }
        let bytes = self.take(n)?;
        let mut out = String::with_capacity(2 * n);
        for (i, &b) in bytes.iter().enumerate() {
            let last = i + 1 == n;
            out.push(unpack(tag, b >> 4, at + i)?);
            if !(odd && last) {
                out.push(unpack(tag, b & 0x0f, at + i)?);
            }
        }
        Ok(out)
    }

    fn read_jid(&mut self, tag: u8, offset: usize) -> Result<Jid> {
        let bad = |reason| DecodeError::InvalidJid { offset, reason };
        match tag {
            JID_PAIR => {
                let user = self.read_string()?;
                let server = self.read_string()?;
                if server.is_empty() {
                    return Err(bad("JID pair without server"));
                }
                Ok(Jid::new(user, server))
            }
            AD_JID => {
                let domain = self.byte()?;
                let device = self.byte()?;
                let user = self.read_string()?;
                let (server, agent) = match domain {
                    DOMAIN_LID => (HIDDEN_USER_SERVER, 0),
                    DOMAIN_HOSTED => (HOSTED_SERVER, 0),
                    DOMAIN_HOSTED_LID => (HOSTED_LID_SERVER, 0),
                    agent => (DEFAULT_USER_SERVER, agent),
                };
                Ok(Jid {
                    agent,
                    device: u16::from(device),
                    ..Jid::new(user, server)
                })
            }
            FB_JID => {
                let user = self.read_string()?;
                let device = self.u16()?;
                let server = self.read_string()?;
                if server != MESSENGER_SERVER {
                    return Err(bad("FB JID server is not msgr"));
                }
                Ok(Jid::new(user, server).with_device(device))
            }
            _ => {
                let user = self.read_string()?;
                let device = self.u16()?;
                let integrator = self.u16()?;
                let server = self.read_string()?;
                if server != INTEROP_SERVER {
                    return Err(bad("interop JID server is not interop"));
                }
                Ok(Jid {
                    integrator,
                    ..Jid::new(user, server).with_device(device)
                })
            }
        }
    }
}

fn unpack(tag: u8, value: u8, offset: usize) -> Result<char> {
    let c = match (tag, value) {
        (_, 0..=9) => b'0' + value,
        (NIBBLE_8, 10) => b'-',
        (NIBBLE_8, 11) => b'.',
        (HEX_8, 10..=15) => b'A' + value - 10,
        _ => return Err(DecodeError::InvalidNibble { value, offset }),
    };
    Ok(char::from(c))
}
