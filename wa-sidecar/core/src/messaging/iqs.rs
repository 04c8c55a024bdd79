//! The two IQs a send needs: usync device discovery and prekey bundle fetch (fact sheet 6.6).

use wa_binary::{HIDDEN_USER_SERVER, Jid, Node};
use wa_signal::{PreKeyBundle, PublicKey};

use crate::stanza::iq;

/// `<iq xmlns="usync" type="get"><usync sid mode="query" last="true" index="0"
/// context="message"><query><devices version="2"/><lid/></query><list><user jid/>…</list>
/// </usync></iq>` (Baileys `getUSyncDevices` with the `lid` protocol; whatsmeow `usync()`).
pub(crate) fn usync_devices(sid: &str, users: &[Jid]) -> Node {
    let list = users
        .iter()
        .map(|u| Node::new("user").attr("jid", u.clone()))
        .collect();
    iq(
        "usync",
        "get",
        vec![
            Node::new("usync")
                .attr("sid", sid)
                .attr("mode", "query")
                .attr("last", "true")
                .attr("index", "0")
                .attr("context", "message")
                .children(vec![
                    Node::new("query").children(vec![
                        Node::new("devices").attr("version", "2"),
                        Node::new("lid"),
                    ]),
                    Node::new("list").children(list),
                ]),
        ],
    )
}

/// One user of a usync answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UsyncUser {
    /// The bare user JID the answer is for.
    pub jid: Jid,
    /// Device ids (non-zero devices without `key-index` dropped, as Baileys
    /// `extractDeviceJids` does).
    pub devices: Vec<u16>,
    /// The user's LID user part, from `<lid val>`.
    pub lid: Option<String>,
}

/// Reads the users of a usync result; malformed users are skipped.
pub(crate) fn parse_usync(result: &Node) -> Vec<UsyncUser> {
    let Some(list) = result.child("usync").and_then(|u| u.child("list")) else {
        return Vec::new();
    };
    list.children_with_tag("user")
        .filter_map(|user| {
            let jid = user.attr_jid("jid")?;
            let devices = user
                .child("devices")
                .and_then(|d| d.child("device-list"))
                .map(|dl| {
                    dl.children_with_tag("device")
                        .filter_map(|d| {
                            let id = d.attr_str("id")?.parse::<u16>().ok()?;
                            (id == 0 || d.get_attr("key-index").is_some()).then_some(id)
                        })
                        .collect()
                })
                .unwrap_or_default();
            let lid = user
                .child("lid")
                .and_then(|l| l.attr_jid("val"))
                .filter(|j| j.server == HIDDEN_USER_SERVER && !j.user.is_empty())
                .map(|j| j.user);
            Some(UsyncUser {
                jid: crate::messaging::address::bare(&jid),
                devices,
                lid,
            })
        })
        .collect()
}

/// `<iq xmlns="encrypt" type="get"><key><user jid/>…</key></iq>` (fact sheet 6.6).
pub(crate) fn bundle_request(devices: &[Jid]) -> Node {
    let users = devices
        .iter()
        .map(|d| Node::new("user").attr("jid", d.clone()))
        .collect();
    iq("encrypt", "get", vec![Node::new("key").children(users)])
}

/// Reads the bundles of an `encrypt` result as `(device JID, bundle)`. Users with an
/// `<error>` child or malformed keys are left out (whatsmeow `nodeToPreKeyBundle` skips them;
/// Baileys would abort the whole send, which loses messages for the healthy devices).
pub(crate) fn parse_bundles(result: &Node) -> Vec<(Jid, PreKeyBundle)> {
    let list = result
        .child("list")
        .or_else(|| result.child("keys").and_then(|k| k.child("list")));
    let Some(list) = list else {
        return Vec::new();
    };
    list.children_with_tag("user")
        .filter_map(|user| {
            if user.child("error").is_some() {
                return None;
            }
            let jid = user.attr_jid("jid")?;
            Some((jid, parse_bundle(user)?))
        })
        .collect()
}

fn bytes<'a>(node: &'a Node, tag: &str) -> Option<&'a [u8]> {
    node.child(tag).and_then(Node::content_bytes)
}

fn be_int(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 4 {
        return None;
    }
    Some(b.iter().fold(0u32, |acc, x| (acc << 8) | u32::from(*x)))
}

/// Reads one bundle from the children of `user` (`registration`, `identity`, `skey`, `key`).
pub(crate) fn parse_bundle(user: &Node) -> Option<PreKeyBundle> {
    let registration_id = be_int(bytes(user, "registration")?)?;
    let identity_key = PublicKey::from_wire(bytes(user, "identity")?).ok()?;
    let skey = user.child("skey")?;
    let signed_pre_key_id = be_int(bytes(skey, "id")?)?;
    let signed_pre_key = PublicKey::from_wire(bytes(skey, "value")?).ok()?;
    let signed_pre_key_signature: [u8; 64] = bytes(skey, "signature")?.try_into().ok()?;
    let pre_key = match user.child("key") {
        Some(key) => Some((
            be_int(bytes(key, "id")?)?,
            PublicKey::from_wire(bytes(key, "value")?).ok()?,
        )),
        None => None,
    };
    Some(PreKeyBundle {
        registration_id,
        identity_key,
        signed_pre_key_id,
        signed_pre_key,
        signed_pre_key_signature,
        pre_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usync_drops_companions_without_key_index_and_reads_the_lid() {
        let reply = Node::new("iq").children(vec![Node::new("usync").children(vec![
            Node::new("list").children(vec![
                Node::new("user")
                    .attr("jid", "972500000002@s.whatsapp.net")
                    .children(vec![
                        Node::new("devices").children(vec![Node::new("device-list").children(
                            vec![
                                Node::new("device").attr("id", "0"),
                                Node::new("device").attr("id", "3").attr("key-index", "1"),
                                Node::new("device").attr("id", "4"),
                                Node::new("device").attr("id", "x"),
                            ],
                        )]),
                        Node::new("lid").attr("val", "2000002@lid"),
                    ]),
                Node::new("user").attr("jid", "not a jid"),
            ]),
        ])]);
        let users = parse_usync(&reply);
        assert_eq!(users.len(), 1);
        assert_eq!(users[0].devices, vec![0, 3]);
        assert_eq!(users[0].lid.as_deref(), Some("2000002"));
    }

    #[test]
    fn bundles_with_errors_or_bad_keys_are_skipped() {
        let good = Node::new("user").attr("jid", "1:2@lid").children(vec![
            Node::new("registration").bytes(vec![0, 0, 1, 2]),
            Node::new("type").bytes(vec![5]),
            Node::new("identity").bytes(vec![9; 32]),
            Node::new("skey").children(vec![
                Node::new("id").bytes(vec![0, 0, 1]),
                Node::new("value").bytes(vec![7; 32]),
                Node::new("signature").bytes(vec![1; 64]),
            ]),
            Node::new("key").children(vec![
                Node::new("id").bytes(vec![0, 0, 9]),
                Node::new("value").bytes(vec![6; 32]),
            ]),
        ]);
        let errored = Node::new("user")
            .attr("jid", "1:3@lid")
            .children(vec![Node::new("error").attr("code", "404")]);
        let short = Node::new("user")
            .attr("jid", "1:4@lid")
            .children(vec![Node::new("identity").bytes(vec![9; 5])]);
        let reply =
            Node::new("iq").children(vec![Node::new("list").children(vec![good, errored, short])]);
        let bundles = parse_bundles(&reply);
        assert_eq!(bundles.len(), 1);
        assert_eq!(bundles[0].1.registration_id, 258);
        assert_eq!(bundles[0].1.pre_key.map(|p| p.0), Some(9));
    }
}
