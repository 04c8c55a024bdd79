//! Node → bytes, following the writers of Baileys `src/WABinary/encode.ts` and whatsmeow
//! `binary/encoder.go` (string order: token, nibble, hex, JID, raw).

use crate::jid::{
    DEFAULT_USER_SERVER, HIDDEN_USER_SERVER, HOSTED_LID_SERVER, HOSTED_SERVER, INTEROP_SERVER, Jid,
    MESSENGER_SERVER,
};
use crate::node::{AttrValue, Content, Node};
use crate::tags::*;
use crate::tokens::{self, TokenIndex};

/// Largest list the format can express (LIST_16).
const MAX_LIST: usize = u16::MAX as usize;

/// Writes nodes into a growing buffer.
pub(crate) struct Encoder {
    pub(crate) out: Vec<u8>,
}

impl Encoder {
    pub(crate) fn write_node(&mut self, node: &Node) {
        // Attributes with an empty string value are skipped, as whatsmeow `writeAttributes`
        // does; a node cannot carry more than (65535 - 2) / 2 attributes.
        let attrs = || {
            node.attrs
                .iter()
                .filter(|(_, v)| !matches!(v, AttrValue::Str(s) if s.is_empty()))
                .take((MAX_LIST - 2) / 2)
        };
        let has_content = usize::from(!matches!(node.content, Content::None));
        self.write_list_start(1 + 2 * attrs().count() + has_content);
        self.write_string(&node.tag, false);
        for (key, value) in attrs() {
            self.write_string(key, false);
            match value {
                AttrValue::Str(s) => self.write_string(s, true),
                AttrValue::Jid(jid) => self.write_jid(jid),
            }
        }
        match &node.content {
            Content::None => {}
            Content::Nodes(children) => {
                let children = &children[..children.len().min(MAX_LIST)];
                self.write_list_start(children.len());
                for child in children {
                    self.write_node(child);
                }
            }
            Content::Bytes(bytes) => self.write_bytes(bytes),
            Content::Str(s) => self.write_string(s, true),
        }
    }

    fn write_list_start(&mut self, size: usize) {
        match size {
            0 => self.out.push(LIST_EMPTY),
            1..=255 => self.out.extend_from_slice(&[LIST_8, size as u8]),
            _ => {
                self.out.push(LIST_16);
                self.out
                    .extend_from_slice(&(size.min(MAX_LIST) as u16).to_be_bytes());
            }
        }
    }

    /// Raw bytes with the shortest length prefix (BINARY_8 / BINARY_20 / BINARY_32).
    /// Inputs over 4 GiB cannot be expressed; the length field would be cut, so they are cut.
    fn write_bytes(&mut self, bytes: &[u8]) {
        let bytes = &bytes[..bytes.len().min(u32::MAX as usize)];
        let len = bytes.len();
        if len < 256 {
            self.out.extend_from_slice(&[BINARY_8, len as u8]);
        } else if len < 1 << 20 {
            let b = (len as u32).to_be_bytes();
            self.out
                .extend_from_slice(&[BINARY_20, b[1] & 0x0f, b[2], b[3]]);
        } else {
            self.out.push(BINARY_32);
            self.out.extend_from_slice(&(len as u32).to_be_bytes());
        }
        self.out.extend_from_slice(bytes);
    }

    /// Writes a string in its most compact form. With `allow_jid`, a string that is the exact
    /// text of a JID is written as that JID (Baileys `writeString` → `jidDecode`).
    pub(crate) fn write_string(&mut self, s: &str, allow_jid: bool) {
        if s.is_empty() {
            // Baileys and whatsapp-rust write BINARY_8 0; all decoders read it as "".
            self.out.extend_from_slice(&[BINARY_8, 0]);
            return;
        }
        if let Some(token) = tokens::lookup(s) {
            match token {
                TokenIndex::Single(i) => self.out.push(i),
                TokenIndex::Double { dict, index } => {
                    self.out.extend_from_slice(&[DICTIONARY_0 + dict, index])
                }
            }
        } else if let Some(kind) = packable(s) {
            self.write_packed(s, kind);
        } else if let Some(jid) = allow_jid.then(|| exact_jid(s)).flatten() {
            self.write_jid(&jid);
        } else {
            self.write_bytes(s.as_bytes());
        }
    }

    fn write_packed(&mut self, s: &str, kind: u8) {
        let bytes = s.as_bytes();
        let odd = bytes.len() % 2;
        let mut header = (bytes.len() / 2 + odd) as u8;
        if odd == 1 {
            header |= 0x80;
        }
        self.out.extend_from_slice(&[kind, header]);
        for pair in bytes.chunks(2) {
            let hi = pack_char(pair[0]);
            let lo = pair.get(1).map_or(0x0f, |&c| pack_char(c));
            self.out.push((hi << 4) | lo);
        }
    }

    /// Writes a typed JID with the layout whatsmeow `writeJID` uses. Fields the chosen layout
    /// cannot carry (agent off `s.whatsapp.net`, device > 255 in AD form) are dropped.
    pub(crate) fn write_jid(&mut self, jid: &Jid) {
        match jid.server.as_str() {
            INTEROP_SERVER => {
                self.out.push(INTEROP_JID);
                self.write_string(&jid.user, false);
                self.out.extend_from_slice(&jid.device.to_be_bytes());
                self.out.extend_from_slice(&jid.integrator.to_be_bytes());
                self.write_string(&jid.server, false);
            }
            MESSENGER_SERVER => {
                self.out.push(FB_JID);
                self.write_string(&jid.user, false);
                self.out.extend_from_slice(&jid.device.to_be_bytes());
                self.write_string(&jid.server, false);
            }
            _ => match ad_domain(jid) {
                Some(domain) => {
                    let device = u8::try_from(jid.device).unwrap_or(u8::MAX);
                    self.out.extend_from_slice(&[AD_JID, domain, device]);
                    self.write_string(&jid.user, false);
                }
                None => {
                    self.out.push(JID_PAIR);
                    if jid.user.is_empty() {
                        self.out.push(LIST_EMPTY);
                    } else {
                        self.write_string(&jid.user, false);
                    }
                    self.write_string(&jid.server, false);
                }
            },
        }
    }
}

/// The AD_JID domain byte when `jid` is written as AD_JID (device > 0 on `s.whatsapp.net` /
/// `lid`, an agent on `s.whatsapp.net`, or any hosted JID); `None` for JID_PAIR.
fn ad_domain(jid: &Jid) -> Option<u8> {
    match jid.server.as_str() {
        DEFAULT_USER_SERVER if jid.device > 0 || jid.agent > 0 => Some(jid.agent),
        HIDDEN_USER_SERVER if jid.device > 0 => Some(DOMAIN_LID),
        HOSTED_SERVER => Some(DOMAIN_HOSTED),
        HOSTED_LID_SERVER => Some(DOMAIN_HOSTED_LID),
        _ => None,
    }
}

/// True when writing `jid` and reading it back yields the same `Jid`.
pub(crate) fn jid_is_exact(jid: &Jid) -> bool {
    let server = jid.server.as_str();
    if server.is_empty() || (jid.integrator != 0 && server != INTEROP_SERVER) {
        return false;
    }
    match server {
        INTEROP_SERVER => jid.agent == 0,
        MESSENGER_SERVER => jid.agent == 0,
        DEFAULT_USER_SERVER => {
            jid.device <= 255
                && !matches!(jid.agent, DOMAIN_LID | DOMAIN_HOSTED | DOMAIN_HOSTED_LID)
        }
        HIDDEN_USER_SERVER | HOSTED_SERVER | HOSTED_LID_SERVER => {
            jid.agent == 0 && jid.device <= 255
        }
        _ => jid.agent == 0 && jid.device == 0,
    }
}

/// The JID `s` spells, if `s` is its canonical text and it survives a round trip.
fn exact_jid(s: &str) -> Option<Jid> {
    if !s.contains('@') {
        return None;
    }
    let jid = Jid::parse(s).ok()?;
    (jid_is_exact(&jid) && jid.to_string() == s).then_some(jid)
}

/// `Some(NIBBLE_8)` / `Some(HEX_8)` when `s` may be packed (≤ 127 chars from the alphabet).
fn packable(s: &str) -> Option<u8> {
    if s.is_empty() || s.len() > PACKED_MAX {
        return None;
    }
    let b = s.as_bytes();
    if b.iter().all(|c| matches!(c, b'0'..=b'9' | b'-' | b'.')) {
        Some(NIBBLE_8)
    } else if b.iter().all(|c| matches!(c, b'0'..=b'9' | b'A'..=b'F')) {
        Some(HEX_8)
    } else {
        None
    }
}

/// Nibble value of a character already checked by [`packable`].
fn pack_char(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'-' => 10,
        b'.' => 11,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0x0f,
    }
}
