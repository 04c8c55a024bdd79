//! Fixed byte vectors. "Fact sheet" = /work/shared/reference/wa-protocol-facts.md section 3.5,
//! whose vectors were checked there against an independent decoder; the others are derived by
//! hand from the rules in sections 3.1-3.5 (byte-by-byte reasoning in the comments).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use wa_binary::{AttrValue, Content, DecodeError, Jid, Node, decode, encode, encode_frame_payload};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

/// Encodes `value` as the `to` attribute of an `<iq>` and returns the value's bytes.
fn attr_bytes(value: impl Into<AttrValue>) -> Vec<u8> {
    let bytes = encode(&Node::new("iq").attr("to", value));
    // F8 03 19 11 <value>: LIST_8, size 3, token iq (25), token to (17).
    assert_eq!(&bytes[..4], &[0xF8, 0x03, 0x19, 0x11]);
    bytes[4..].to_vec()
}

#[test]
fn keepalive_ping_matches_fact_sheet() {
    // Fact sheet 3.5 "Node example": the keepalive iq.
    let expected = h("F8 0A 19 08 FF 83 1B 2A 3F 11 FA 00 03 04 29 16 57 F8 01 F8 01 56");
    let ping = wa_binary::samples::ping();
    assert_eq!(encode(&ping), expected);
    assert_eq!(decode(&expected).unwrap(), ping);
    let mut framed = vec![0];
    framed.extend_from_slice(&expected);
    assert_eq!(encode_frame_payload(&ping), framed);
}

#[test]
fn jid_encodings_match_fact_sheet() {
    // Fact sheet 3.5 "Examples".
    for (text, bytes) in [
        ("123456789@s.whatsapp.net", "FA FF 85 12 34 56 78 9F 03"),
        (
            "123456789:5@s.whatsapp.net",
            "F7 00 05 FF 85 12 34 56 78 9F",
        ),
        ("1000001:2@lid", "F7 01 02 FF 84 10 00 00 1F"),
        ("1000001@lid", "FA FF 84 10 00 00 1F 76"),
        ("@s.whatsapp.net", "FA 00 03"),
    ] {
        let jid = Jid::parse(text).unwrap();
        assert_eq!(attr_bytes(jid.clone()), h(bytes), "typed {text}");
        assert_eq!(attr_bytes(text), h(bytes), "string {text}");
        let mut node = h("F8 03 19 11");
        node.extend_from_slice(&h(bytes));
        let decoded = decode(&node).unwrap();
        assert_eq!(decoded.get_attr("to"), Some(&AttrValue::Jid(jid)));
        assert_eq!(decoded.attr_str("to").unwrap(), text);
    }
}

#[test]
fn hand_derived_string_encodings() {
    for (value, bytes) in [
        // single-byte token "result" = 20 (fact sheet 3.2)
        ("result", "14"),
        // double-byte token "active" = dictionary 0, index 1 (Baileys DOUBLE_BYTE_TOKENS[0][1])
        ("active", "EC 01"),
        // nibble: "1.5-" → 1,11,5,10 → 1B 5A, even length 2 bytes
        ("1.5-", "FF 02 1B 5A"),
        // hex, upper-case only: "ABC" → A,B,C,pad → AB CF, odd → 0x80|2
        ("ABC", "FB 82 AB CF"),
        // lower-case hex is raw: BINARY_8 len 3
        ("abc", "FC 03 61 62 63"),
        // a short string that is no token and not packable is raw
        ("x", "FC 01 78"),
        // a group JID: JID_PAIR, nibble "123-456" (odd 7 → 0x84: 12 3A 45 6F), token g.us = 28
        ("123-456@g.us", "FA FF 84 12 3A 45 6F 1C"),
        // hosted is always AD_JID with domain 128, even for device 0
        // (user "987654" is not a token: nibble FF 03 98 76 54)
        ("987654@hosted", "F7 80 00 FF 03 98 76 54"),
        // agent 7 on s.whatsapp.net: AD_JID with the agent as domain byte
        ("98765.7:3@s.whatsapp.net", "F7 07 03 FF 83 98 76 5F"),
        // a user that is itself a token ("1" = 85) is written as the token
        ("1:3@s.whatsapp.net", "F7 00 03 55"),
        // a string with '@' that is not a canonical JID stays raw
        ("a@b@c", "FC 05 61 40 62 40 63"),
    ] {
        assert_eq!(attr_bytes(value), h(bytes), "{value}");
    }
}

#[test]
fn fb_and_interop_jid_layouts() {
    // FB_JID: user "98765" (nibble FF 83 98 76 5F), u16 device 3, server token "msgr" = 204.
    let fb = Jid::new("98765", "msgr").with_device(3);
    assert_eq!(attr_bytes(fb.clone()), h("F6 FF 83 98 76 5F 00 03 CC"));
    // INTEROP_JID: user, u16 device, u16 integrator, server "interop" (raw: not a token).
    let interop = Jid {
        integrator: 7,
        ..Jid::new("99", "interop").with_device(1)
    };
    assert_eq!(
        attr_bytes(interop.clone()),
        h("F5 FF 01 99 00 01 00 07 FC 07 69 6E 74 65 72 6F 70")
    );
    for jid in [fb, interop] {
        let node = Node::new("iq").attr("to", jid);
        assert_eq!(decode(&encode(&node)).unwrap(), node);
    }
}

#[test]
fn byte_length_prefixes() {
    for (len, prefix) in [
        (255usize, vec![0xFC, 0xFF]),
        (256, vec![0xFD, 0x00, 0x01, 0x00]),
        ((1 << 20) - 1, vec![0xFD, 0x0F, 0xFF, 0xFF]),
        (1 << 20, vec![0xFE, 0x00, 0x10, 0x00, 0x00]),
    ] {
        let node = Node::new("enc").bytes(vec![0xAB; len]);
        let bytes = encode(&node);
        // F8 02 1D <content>: size 2 (tag + content), token enc = 29
        assert_eq!(&bytes[..3], &[0xF8, 0x02, 0x1D]);
        assert_eq!(&bytes[3..3 + prefix.len()], &prefix[..], "len {len}");
        assert_eq!(bytes.len(), 3 + prefix.len() + len);
        assert_eq!(decode(&bytes).unwrap(), node);
    }
}

#[test]
fn content_forms() {
    // Empty child list is LIST_EMPTY; a raw string decodes as bytes; empty attrs are skipped.
    assert_eq!(encode(&Node::new("iq").children(vec![])), h("F8 02 19 00"));
    let text = Node::new("body").string("hello");
    let decoded = decode(&encode(&text)).unwrap();
    assert_eq!(decoded.content, Content::Bytes(b"hello".to_vec()));
    assert_eq!(decoded.content_bytes(), Some(&b"hello"[..]));
    assert_eq!(encode(&Node::new("iq").attr("id", "")), h("F8 01 19"));
    // LIST_16 for > 255 children: 300 <ping/> children.
    let many = Node::new("iq").children(vec![Node::new("ping"); 300]);
    let bytes = encode(&many);
    assert_eq!(&bytes[..5], &h("F8 02 19 F9 01")[..]);
    assert_eq!(bytes[5], 0x2C);
    assert_eq!(decode(&bytes).unwrap(), many);
}

#[test]
fn accepts_the_other_clients_forms() {
    // whatsmeow writes "" as LIST_EMPTY (00); Baileys writes AD_JID for ":0" devices.
    let n = decode(&h("F8 03 19 08 00")).unwrap();
    assert_eq!(n.attr_str("id").unwrap(), "");
    let n = decode(&h("F8 03 19 11 F7 00 00 FF 85 12 34 56 78 9F")).unwrap();
    assert_eq!(n.attr_str("to").unwrap(), "123456789@s.whatsapp.net");
    // xmlstreamend (token 2) as a node tag
    let n = decode(&h("F8 01 02")).unwrap();
    assert_eq!(n.tag, "xmlstreamend");
}

#[test]
fn malformed_inputs_are_named() {
    use DecodeError::*;
    for (bytes, check) in [
        ("", UnexpectedEnd(0)),
        ("F8 01 19 00", TrailingBytes(1)),
        ("F8 00", InvalidNode(0)),
        ("00", InvalidNode(0)),
        ("F8 01 FC 00", InvalidNode(0)),
        (
            "19",
            BadTag {
                tag: 0x19,
                offset: 0,
                expected: "list",
            },
        ),
        (
            "F8 01 F0",
            BadTag {
                tag: 0xF0,
                offset: 2,
                expected: "string",
            },
        ),
        (
            "F8 02 19 FF 01 CC",
            InvalidNibble {
                value: 0x0C,
                offset: 5,
            },
        ),
        (
            "F8 02 19 FF 80",
            InvalidNibble {
                value: 0x80,
                offset: 4,
            },
        ),
        ("F8 02 19 F8 05 F8", ListTooLong { size: 5, offset: 3 }),
        ("F8 02 19 FC 05 00", UnexpectedEnd(6)),
        (
            "F8 03 19 11 FA 00 00",
            InvalidJid {
                offset: 4,
                reason: "JID pair without server",
            },
        ),
    ] {
        assert_eq!(decode(&h(bytes)), Err(check), "{bytes}");
    }
}

#[test]
fn nesting_is_capped() {
    let mut node = Node::new("a");
    for _ in 0..wa_binary::MAX_DEPTH - 1 {
        node = Node::new("a").children(vec![node]);
    }
    let bytes = encode(&node);
    assert_eq!(decode(&bytes).unwrap(), node);
    let deeper = Node::new("a").children(vec![node]);
    assert_eq!(
        decode(&encode(&deeper)),
        Err(DecodeError::TooDeep(wa_binary::MAX_DEPTH))
    );
}
