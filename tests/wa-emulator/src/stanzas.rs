//! Builders for the stanzas the emulated server sends, and small readers for what it receives.
//!
//! Shapes follow the fact sheet §4.1, §5, §8.1 and §9 (Baileys `src/Socket/socket.ts`,
//! whatsmeow `pair.go` / `connectionevents.go`, whatsapp-rust `src/client/node_io.rs`).

use wa_binary::Node;

/// The server's own JID as clients address it (`to="s.whatsapp.net"`).
pub const SERVER: &str = "s.whatsapp.net";

/// The `id` attribute of a node (empty when missing).
pub fn id_of(node: &Node) -> String {
    node.attr_str("id")
        .map(|s| s.into_owned())
        .unwrap_or_default()
}

/// Attribute `key` as owned text (empty when missing).
pub fn attr(node: &Node, key: &str) -> String {
    node.attr_str(key)
        .map(|s| s.into_owned())
        .unwrap_or_default()
}

/// `<iq type="result" id from="s.whatsapp.net">children</iq>`.
pub fn iq_result(id: &str, children: Vec<Node>) -> Node {
    let iq = Node::new("iq")
        .attr("from", SERVER)
        .attr("type", "result")
        .attr("id", id);
    if children.is_empty() {
        iq
    } else {
        iq.children(children)
    }
}

/// `<iq type="error" id from><error code text/></iq>`.
pub fn iq_error(id: &str, code: u16, text: &str) -> Node {
    Node::new("iq")
        .attr("from", SERVER)
        .attr("type", "error")
        .attr("id", id)
        .children(vec![
            Node::new("error").attr("code", code).attr("text", text),
        ])
}

/// `<iq type="set" xmlns="md" id><pair-device><ref>…</ref>×N</pair-device></iq>`.
pub fn pair_device(id: &str, refs: &[String]) -> Node {
    let refs = refs
        .iter()
        .map(|r| Node::new("ref").bytes(r.as_bytes().to_vec()))
        .collect();
    Node::new("iq")
        .attr("from", SERVER)
        .attr("type", "set")
        .attr("id", id)
        .attr("xmlns", "md")
        .children(vec![Node::new("pair-device").children(refs)])
}

/// `<iq type="set" id t><pair-success><device-identity/><device jid lid/><platform/></pair-success></iq>`.
pub fn pair_success(
    id: &str,
    now: u64,
    device_identity: Vec<u8>,
    jid: &str,
    lid: &str,
    platform: &str,
) -> Node {
    Node::new("iq")
        .attr("from", SERVER)
        .attr("type", "set")
        .attr("id", id)
        .attr("t", now)
        .children(vec![Node::new("pair-success").children(vec![
            Node::new("device-identity").bytes(device_identity),
            Node::new("device").attr("jid", jid).attr("lid", lid),
            Node::new("platform").attr("name", platform),
        ])])
}

/// `<success t lid creation location/>`, the answer to a valid login.
pub fn success(now: u64, lid: &str, creation: u64) -> Node {
    Node::new("success")
        .attr("t", now)
        .attr("lid", lid)
        .attr("creation", creation)
        .attr("location", "emu")
        .attr("props", "1")
}

/// `<failure reason="N"/>`.
pub fn failure(reason: u16) -> Node {
    Node::new("failure").attr("reason", reason)
}

/// `<ib><offline count="N"/></ib>`: the end of the offline queue.
pub fn offline_done(count: usize) -> Node {
    Node::new("ib").children(vec![Node::new("offline").attr("count", count)])
}

/// What kind of `<stream:error>` to send; parsed from the admin API's `code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamError {
    /// `<stream:error code="N"/>` with no child (515 restart, 503, ...).
    Code(u16),
    /// `<stream:error code="401"><conflict type="device_removed"/></stream:error>`: logged out.
    DeviceRemoved,
    /// `<stream:error><conflict type="replaced"/></stream:error>`: another session took over.
    Replaced,
}

impl StreamError {
    /// Reads the admin API's `code`: `"401"` and `"device_removed"` mean logged out,
    /// `"conflict"`/`"replaced"` mean replaced, any other number is sent as is.
    pub fn parse(code: &str) -> Option<Self> {
        match code.trim() {
            "401" | "device_removed" => Some(Self::DeviceRemoved),
            "conflict" | "replaced" | "440" => Some(Self::Replaced),
            n => n.parse().ok().map(Self::Code),
        }
    }

    /// The node to send.
    pub fn node(&self) -> Node {
        match self {
            Self::Code(code) => Node::new("stream:error").attr("code", *code),
            Self::DeviceRemoved => Node::new("stream:error")
                .attr("code", 401u16)
                .children(vec![Node::new("conflict").attr("type", "device_removed")]),
            Self::Replaced => Node::new("stream:error")
                .children(vec![Node::new("conflict").attr("type", "replaced")]),
        }
    }
}

/// The first child's tag of a node, if any.
pub fn first_child_tag(node: &Node) -> Option<&str> {
    node.nodes().first().map(|n| n.tag.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_error_codes_map_to_the_nodes_clients_understand() {
        let n = StreamError::parse("515").unwrap().node();
        assert_eq!(attr(&n, "code"), "515");
        assert!(n.nodes().is_empty());
        let n = StreamError::parse("401").unwrap().node();
        assert_eq!(attr(&n, "code"), "401");
        assert_eq!(attr(n.child("conflict").unwrap(), "type"), "device_removed");
        let n = StreamError::parse("conflict").unwrap().node();
        assert_eq!(n.attr_str("code"), None);
        assert_eq!(attr(n.child("conflict").unwrap(), "type"), "replaced");
        assert_eq!(StreamError::parse("bogus"), None);
    }

    #[test]
    fn pair_device_carries_refs_as_bytes() {
        let n = pair_device("1", &["2@a".into(), "2@b".into()]);
        let refs: Vec<_> = n
            .child("pair-device")
            .unwrap()
            .children_with_tag("ref")
            .map(|r| r.content_bytes().unwrap().to_vec())
            .collect();
        assert_eq!(refs, vec![b"2@a".to_vec(), b"2@b".to_vec()]);
        assert_eq!(attr(&n, "xmlns"), "md");
    }
}
