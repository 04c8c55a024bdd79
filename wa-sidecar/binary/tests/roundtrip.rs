//! Property tests: canonical nodes survive encode → decode; arbitrary and mutated bytes never
//! panic the decoder.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use wa_binary::tokens::{DOUBLE_BYTE_TOKENS, SINGLE_BYTE_TOKENS};
use wa_binary::{
    AttrValue, Attrs, Content, Jid, Node, decode, decode_frame_payload, encode, jid_roundtrips,
};

fn token() -> BoxedStrategy<String> {
    prop_oneof![
        (1usize..236).prop_map(|i| SINGLE_BYTE_TOKENS[i].to_owned()),
        (0usize..4, 0usize..256).prop_map(|(d, i)| DOUBLE_BYTE_TOKENS[d][i].to_owned()),
    ]
    .boxed()
}

fn jid() -> BoxedStrategy<Jid> {
    let user = prop_oneof![
        "[0-9]{0,20}",
        "[0-9]{1,9}-[0-9]{1,10}",
        token(),
        "\\PC{0,8}"
    ];
    let server = prop_oneof![
        Just("s.whatsapp.net".to_owned()),
        Just("lid".to_owned()),
        Just("g.us".to_owned()),
        Just("hosted".to_owned()),
        Just("hosted.lid".to_owned()),
        Just("msgr".to_owned()),
        Just("interop".to_owned()),
        Just("broadcast".to_owned()),
        "[a-z.]{1,12}",
    ];
    let small = prop_oneof![Just(0u16), 1u16..300, any::<u16>()];
    (
        user,
        server,
        prop_oneof![Just(0u8), any::<u8>()],
        small.clone(),
        small,
    )
        .prop_map(|(user, server, agent, device, integrator)| {
            // Keep only the fields the wire layout for this server can carry.
            let (agent, device) = match server.as_str() {
                "s.whatsapp.net" if !matches!(agent, 1 | 128 | 129) => (agent, device % 256),
                "lid" | "hosted" | "hosted.lid" | "s.whatsapp.net" => (0, device % 256),
                "interop" | "msgr" => (0, device),
                _ => (0, 0),
            };
            let integrator = if server == "interop" { integrator } else { 0 };
            Jid {
                user,
                server,
                agent,
                device,
                integrator,
            }
        })
        .prop_filter("representable", jid_roundtrips)
        .boxed()
}

/// Strings of every kind the encoder distinguishes.
fn any_string() -> BoxedStrategy<String> {
    prop_oneof![
        token(),
        "[0-9.-]{1,130}",
        "[0-9A-F]{1,130}",
        "[0-9a-f]{1,20}",
        jid().prop_map(|j| j.to_string()),
        "\\PC{0,24}",
        "[a-z]{1,4}@[a-z]{1,4}(@x)?",
    ]
    .boxed()
}

/// The JID a string turns into on the wire, if any (the codec's documented rule).
fn exact_jid(s: &str) -> Option<Jid> {
    Jid::parse(s)
        .ok()
        .filter(|j| jid_roundtrips(j) && j.to_string() == s)
}

fn is_compact(s: &str) -> bool {
    let packable = !s.is_empty()
        && s.len() <= 127
        && (s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'-' | b'.'))
            || s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'A'..=b'F')));
    wa_binary::tokens::lookup(s).is_some() || packable || exact_jid(s).is_some()
}

fn attr_value() -> BoxedStrategy<AttrValue> {
    prop_oneof![
        any_string().prop_map(|s| match exact_jid(&s) {
            Some(j) => AttrValue::Jid(j),
            None => AttrValue::Str(s),
        }),
        jid().prop_map(AttrValue::Jid),
    ]
    .prop_filter(
        "empty values are skipped",
        |v| !matches!(v, AttrValue::Str(s) if s.is_empty()),
    )
    .boxed()
}

fn leaf_content() -> BoxedStrategy<Content> {
    prop_oneof![
        Just(Content::None),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(Content::Bytes),
        any_string().prop_map(|s| if is_compact(&s) {
            Content::Str(s)
        } else {
            Content::Bytes(s.into_bytes())
        }),
    ]
    .boxed()
}

fn node_with(content: BoxedStrategy<Content>) -> BoxedStrategy<Node> {
    let tag = prop_oneof![token(), "\\PC{1,12}", "[a-z:@.]{1,10}"];
    let attrs = proptest::collection::vec((any_string(), attr_value()), 0..6);
    (tag, attrs, content)
        .prop_map(|(tag, attrs, content)| {
            let mut unique = Attrs::new();
            for (k, v) in attrs {
                if unique.get(&k).is_none() {
                    unique.insert(k, v);
                }
            }
            Node {
                tag,
                attrs: unique,
                content,
            }
        })
        .boxed()
}

fn node() -> BoxedStrategy<Node> {
    node_with(leaf_content())
        .prop_recursive(4, 48, 6, |inner| {
            node_with(
                prop_oneof![
                    leaf_content(),
                    proptest::collection::vec(inner, 0..6).prop_map(Content::Nodes),
                ]
                .boxed(),
            )
        })
        .boxed()
}

fn mutate(mut bytes: Vec<u8>, ops: &[(u8, usize, u8)]) -> Vec<u8> {
    for &(op, at, value) in ops {
        let i = if bytes.is_empty() {
            0
        } else {
            at % bytes.len()
        };
        match op % 4 {
            0 if !bytes.is_empty() => bytes[i] = value,
            1 => bytes.insert(i, value),
            2 if !bytes.is_empty() => {
                bytes.remove(i);
            }
            _ => bytes.truncate(i),
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn canonical_nodes_roundtrip(n in node()) {
        let bytes = encode(&n);
        prop_assert_eq!(decode(&bytes).unwrap(), n.clone());
        let mut framed = vec![0u8];
        framed.extend_from_slice(&bytes);
        prop_assert_eq!(decode_frame_payload(&framed).unwrap(), n);
    }

    #[test]
    fn jids_roundtrip_through_text(j in jid()) {
        // A JID's text parses back to it, unless it carries fields the text cannot show.
        let plain_user = !j.user.contains(['.', ':', '@']);
        if plain_user && (j.integrator == 0 || j.server == "interop") {
            prop_assert_eq!(Jid::parse(&j.to_string()).unwrap(), j);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes);
        let _ = decode_frame_payload(&bytes);
        let mut compressed = vec![2u8];
        compressed.extend_from_slice(&bytes);
        let _ = decode_frame_payload(&compressed);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn mutated_encodings_never_panic(
        n in node(),
        ops in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 1..6),
    ) {
        let bytes = mutate(encode(&n), &ops);
        if let Ok(decoded) = decode(&bytes) {
            // Whatever decodes must encode again without trouble.
            let _ = encode(&decoded);
        }
    }

    #[test]
    fn mutated_samples_never_panic(
        which in 0usize..4,
        ops in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 1..8),
    ) {
        let (_, n) = &wa_binary::samples::sample_nodes()[which];
        let _ = decode(&mutate(encode(n), &ops));
    }
}
