//! Small builders and readers for the stanzas this layer sends and handles, and the
//! classification of `<stream:error>` / `<failure>` (fact sheet 5.4, 8.1).

use wa_binary::{Jid, Node};

use crate::payload::be3;

/// WhatsApp's server JID, the `to` of IQs (`@s.whatsapp.net`, fact sheet 3.5).
pub fn server_jid() -> Jid {
    Jid::server(wa_binary::DEFAULT_USER_SERVER)
}

/// Attribute `key` as owned text, empty when absent.
pub(crate) fn attr(node: &Node, key: &str) -> String {
    node.attr_str(key)
        .map(|s| s.into_owned())
        .unwrap_or_default()
}

/// `<iq type="result" id to/>` answering `request` (Baileys/whatsmeow reply `to` the sender).
pub(crate) fn iq_result_for(request: &Node, children: Vec<Node>) -> Node {
    let mut iq = Node::new("iq")
        .attr("to", reply_to(request))
        .attr("type", "result")
        .attr("id", attr(request, "id"));
    if !children.is_empty() {
        iq = iq.children(children);
    }
    iq
}

/// `<iq type="error" id to><error code text/></iq>` (whatsmeow `sendPairError` shape).
pub(crate) fn iq_error_for(request: &Node, code: u16, text: &str) -> Node {
    Node::new("iq")
        .attr("to", reply_to(request))
        .attr("type", "error")
        .attr("id", attr(request, "id"))
        .children(vec![
            Node::new("error").attr("code", code).attr("text", text),
        ])
}

fn reply_to(request: &Node) -> Jid {
    request.attr_jid("from").unwrap_or_else(server_jid)
}

/// `<ack class id to [type]/>` for a notification (Baileys `buildAckStanza`, whatsmeow
/// `sendAck`).
pub(crate) fn ack_for(node: &Node) -> Node {
    let mut ack = Node::new("ack")
        .attr("class", node.tag.clone())
        .attr("id", attr(node, "id"))
        .attr("to", reply_to(node));
    let kind = attr(node, "type");
    if !kind.is_empty() {
        ack = ack.attr("type", kind);
    }
    if let Some(participant) = node.get_attr("participant") {
        ack = ack.attr("participant", participant.clone());
    }
    ack
}

/// An IQ to the server without an id (the connection assigns one).
pub(crate) fn iq(xmlns: &str, kind: &str, children: Vec<Node>) -> Node {
    let node = Node::new("iq")
        .attr("xmlns", xmlns)
        .attr("type", kind)
        .attr("to", server_jid());
    if children.is_empty() {
        node
    } else {
        node.children(children)
    }
}

/// Keepalive `<iq xmlns="w:p" type="get" to="@s.whatsapp.net"><ping/></iq>` (Baileys
/// `startKeepAliveRequest`, fact sheet 5.3).
pub(crate) fn keepalive_ping() -> Node {
    iq("w:p", "get", vec![Node::new("ping")])
}

/// The one-time prekey upload (fact sheet 5.2; Baileys `getNextPreKeysNode`, whatsmeow
/// `uploadPreKeys`): registration (4 B), type 0x05, identity, list of keys, signed prekey.
pub(crate) fn prekey_upload(
    registration_id: u32,
    identity: &[u8; 32],
    keys: &[(u32, [u8; 32])],
    skey: &crate::device::SignedPreKey,
) -> Node {
    let list = keys
        .iter()
        .map(|(id, public)| {
            Node::new("key").children(vec![
                Node::new("id").bytes(be3(*id).to_vec()),
                Node::new("value").bytes(public.to_vec()),
            ])
        })
        .collect();
    iq(
        "encrypt",
        "set",
        vec![
            Node::new("registration").bytes(registration_id.to_be_bytes().to_vec()),
            Node::new("type").bytes(vec![wa_crypto::DJB_TYPE]),
            Node::new("identity").bytes(identity.to_vec()),
            Node::new("list").children(list),
            Node::new("skey").children(vec![
                Node::new("id").bytes(be3(skey.id).to_vec()),
                Node::new("value").bytes(skey.key_pair.public.to_vec()),
                Node::new("signature").bytes(skey.signature.to_vec()),
            ]),
        ],
    )
}

/// What a `<stream:error>`, `<failure>` or `xmlstreamend` means for the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StreamOutcome {
    /// 515: reconnect at once.
    Restart,
    /// The session is gone: stop, do not reconnect.
    LoggedOut(String),
    /// Another client took over: stop, do not fight.
    Replaced,
    /// Anything else: reconnect with backoff.
    Disconnected(String),
}

/// Classifies `<stream:error code><conflict type/></stream:error>` as whatsapp-rust
/// `handle_stream_error` (`src/client/node_io.rs`) and whatsmeow `connectionevents.go` do:
/// 515 restart; conflict `replaced` or code 409 replaced; any other conflict, 401 and 516
/// logged out; everything else (503, 429, unknown) a reconnectable disconnect.
pub(crate) fn classify_stream_error(node: &Node) -> StreamOutcome {
    let code = attr(node, "code");
    if let Some(conflict) = node.child("conflict") {
        let kind = attr(conflict, "type");
        return if kind == "replaced" {
            StreamOutcome::Replaced
        } else {
            StreamOutcome::LoggedOut(if kind.is_empty() {
                format!("conflict (code {code})")
            } else {
                kind
            })
        };
    }
    match code.as_str() {
        "515" => StreamOutcome::Restart,
        "409" => StreamOutcome::Replaced,
        "401" => StreamOutcome::LoggedOut("stream error 401".into()),
        "516" => StreamOutcome::LoggedOut("device removed (516)".into()),
        "" => StreamOutcome::Disconnected(match node.nodes().first() {
            Some(child) => format!("stream error <{}>", child.tag),
            None => "stream error without code".into(),
        }),
        other => StreamOutcome::Disconnected(format!("stream error {other}")),
    }
}

/// Classifies `<failure reason>` (whatsmeow `handleConnectFailure`, fact sheet 8.1): 401, 403
/// and 406 end the session; the rest (402 temporary ban, 405 outdated, 409, 5xx, ...) are
/// reported as disconnects with the reason.
pub(crate) fn classify_failure(node: &Node) -> StreamOutcome {
    let reason = attr(node, "reason");
    let meaning = match reason.as_str() {
        "401" => return StreamOutcome::LoggedOut("failure 401: logged out".into()),
        "403" => return StreamOutcome::LoggedOut("failure 403: main device gone".into()),
        "406" => return StreamOutcome::LoggedOut("failure 406: banned".into()),
        "402" => "temporary ban",
        "405" => "client outdated",
        "409" => "bad user agent",
        "413" | "414" => "CAT expired or invalid",
        "415" => "not found",
        "500" | "503" => "server trouble",
        _ => "unknown",
    };
    StreamOutcome::Disconnected(format!("failure {reason}: {meaning}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream_error(code: Option<&str>, conflict: Option<&str>) -> Node {
        let mut n = Node::new("stream:error");
        if let Some(c) = code {
            n = n.attr("code", c);
        }
        if let Some(t) = conflict {
            n = n.children(vec![Node::new("conflict").attr("type", t)]);
        }
        n
    }

    #[test]
    fn stream_errors_map_like_the_reference_clients() {
        use StreamOutcome::*;
        assert_eq!(
            classify_stream_error(&stream_error(Some("515"), None)),
            Restart
        );
        assert_eq!(
            classify_stream_error(&stream_error(None, Some("replaced"))),
            Replaced
        );
        assert_eq!(
            classify_stream_error(&stream_error(Some("409"), None)),
            Replaced
        );
        assert_eq!(
            classify_stream_error(&stream_error(Some("401"), Some("device_removed"))),
            LoggedOut("device_removed".into())
        );
        assert!(matches!(
            classify_stream_error(&stream_error(Some("401"), None)),
            LoggedOut(_)
        ));
        assert!(matches!(
            classify_stream_error(&stream_error(Some("503"), None)),
            Disconnected(_)
        ));
        let f = |r: &str| classify_failure(&Node::new("failure").attr("reason", r));
        assert!(matches!(f("401"), LoggedOut(_)));
        assert!(matches!(f("403"), LoggedOut(_)));
        assert!(matches!(f("406"), LoggedOut(_)));
        assert_eq!(
            f("405"),
            Disconnected("failure 405: client outdated".into())
        );
    }
}
