//! Answers to the IQs a logged-in companion sends (fact sheet §5.2 and the §9.3 table; Baileys
//! `CB:success` and `chats.ts`, whatsmeow `connectionevents.go`, whatsapp-rust `node_io.rs`).
//!
//! Unknown IQs are answered with an error IQ (never silence) and logged.

use sha1::{Digest as _, Sha1};
use wa_binary::Node;

use crate::registry::{Device, Registry, SignedPreKey};
use crate::stanzas::{attr, first_child_tag, id_of, iq_error, iq_result};

/// What handling one IQ produced.
#[derive(Debug, Default)]
pub struct IqOutcome {
    /// The reply, sent first.
    pub reply: Option<Node>,
    /// Stanzas to send right after the reply (e.g. `<ib><offline/>` after `<active/>`).
    pub then: Vec<Node>,
    /// Stanzas for other devices: (phone-number device JID, stanza).
    pub routes: Vec<(String, Node)>,
    /// Close the connection after sending, for this reason.
    pub close: Option<String>,
}

/// Below this many one-time prekeys the server asks a device for more (all clients use 5).
pub const LOW_PREKEY_COUNT: usize = 5;

impl IqOutcome {
    fn reply(node: Node) -> Self {
        Self {
            reply: Some(node),
            ..Self::default()
        }
    }
}

/// Handles an IQ of a logged-in device `jid`.
pub fn handle_logged_in_iq(node: &Node, jid: &str, registry: &mut Registry) -> IqOutcome {
    let id = id_of(node);
    let kind = attr(node, "type");
    // Answers to our own IQs (none expected after login) need no reply.
    if kind == "result" || kind == "error" {
        return IqOutcome::default();
    }
    let xmlns = attr(node, "xmlns");
    let child = first_child_tag(node).unwrap_or("");
    match (xmlns.as_str(), kind.as_str(), child) {
        ("w:p", "get", _) => IqOutcome::reply(iq_result(&id, vec![])),
        ("encrypt", "get", "count") => {
            let count = registry.device(jid).map_or(0, |d| d.prekeys.len());
            IqOutcome::reply(iq_result(
                &id,
                vec![Node::new("count").attr("value", count)],
            ))
        }
        ("encrypt", "set", "rotate") => match node.child("rotate").and_then(|r| r.child("skey")) {
            Some(skey) => match (parse_signed_prekey(skey), registry.device_mut(jid)) {
                (Some(spk), Some(device)) => {
                    device.registration.signed_prekey = spk;
                    IqOutcome::reply(iq_result(&id, vec![]))
                }
                _ => IqOutcome::reply(iq_error(&id, 400, "bad-request")),
            },
            None => IqOutcome::reply(iq_error(&id, 400, "bad-request")),
        },
        ("encrypt", "set", _) => match registry.device_mut(jid) {
            Some(device) => match store_upload(node, device) {
                Ok(n) => {
                    tracing::info!(%jid, stored = n, "prekeys uploaded");
                    IqOutcome::reply(iq_result(&id, vec![]))
                }
                Err(why) => {
                    tracing::warn!(%jid, why, "refused prekey upload");
                    IqOutcome::reply(iq_error(&id, 400, "bad-request"))
                }
            },
            None => IqOutcome::reply(iq_error(&id, 404, "item-not-found")),
        },
        ("encrypt", "get", "digest") => match registry.device(jid) {
            Some(device) => IqOutcome::reply(iq_result(&id, vec![digest(device)])),
            None => IqOutcome::reply(iq_error(&id, 404, "item-not-found")),
        },
        ("encrypt", "get", "key") => {
            let (list, routes) = bundles(node, registry);
            IqOutcome {
                reply: Some(iq_result(&id, vec![list])),
                routes,
                ..IqOutcome::default()
            }
        }
        ("passive", "set", "active") => {
            // Going active releases what was queued while the device was away, then marks the
            // end of the offline queue.
            let mut then = registry.take_offline(jid);
            let count = then.len();
            then.push(crate::stanzas::offline_done(count));
            IqOutcome {
                reply: Some(iq_result(&id, vec![])),
                then,
                ..IqOutcome::default()
            }
        }
        ("passive", "set", "passive") => IqOutcome::reply(iq_result(&id, vec![])),
        ("md", "set", "remove-companion-device") => remove_companion(node, &id, jid, registry),
        ("abt", "get", "props") => IqOutcome::reply(iq_result(
            &id,
            vec![Node::new("props").attr("protocol", "1").attr("hash", "emu")],
        )),
        ("w", "get", "props") => IqOutcome::reply(iq_result(
            &id,
            vec![Node::new("props").attr("protocol", "2").attr("hash", "emu")],
        )),
        ("w:sync:app:state", "set", _) => {
            IqOutcome::reply(crate::app_state::answer_sync(node, &id))
        }
        ("blocklist", "get", _) => IqOutcome::reply(iq_result(&id, vec![Node::new("list")])),
        ("privacy", "get", "privacy") => IqOutcome::reply(iq_result(&id, vec![privacy()])),
        ("privacy", "set", _) | ("urn:xmpp:whatsapp:dirty", "set", _) => {
            IqOutcome::reply(iq_result(&id, vec![]))
        }
        _ => {
            tracing::warn!(%jid, %xmlns, %kind, %child, iq_id = %id, "unknown iq answered with an error");
            IqOutcome::reply(iq_error(&id, 501, "feature-not-implemented"))
        }
    }
}

/// `<iq xmlns="md" type="set"><remove-companion-device jid reason/>`: the companion unlinks
/// itself (Baileys `logout`, whatsapp-rust `logout`). The device is forgotten, so its later
/// logins are refused like a removed device's; the answer is a result, then
/// `<stream:error code="401"><conflict type="device_removed"/>` and the connection closes.
/// Removing another device (a jid other than the sender's) is refused with 403.
fn remove_companion(node: &Node, id: &str, jid: &str, registry: &mut Registry) -> IqOutcome {
    let target = node
        .child("remove-companion-device")
        .and_then(|r| r.attr_jid("jid"))
        .map(|j| j.to_string());
    if target.as_deref().is_some_and(|t| t != jid) {
        tracing::warn!(%jid, target = ?target, "refused: a companion may only remove itself");
        return IqOutcome::reply(iq_error(id, 403, "forbidden"));
    }
    if registry.remove(jid).is_none() {
        return IqOutcome::reply(iq_error(id, 404, "item-not-found"));
    }
    tracing::info!(%jid, "companion removed itself (logout)");
    IqOutcome {
        reply: Some(iq_result(id, vec![])),
        then: vec![crate::stanzas::StreamError::DeviceRemoved.node()],
        close: Some("companion logged out".into()),
        ..IqOutcome::default()
    }
}

/// Default privacy settings (`<privacy><category name value/>…</privacy>`).
fn privacy() -> Node {
    let categories = [
        ("last", "all"),
        ("online", "all"),
        ("profile", "all"),
        ("status", "all"),
        ("readreceipts", "all"),
        ("groupadd", "all"),
        ("calladd", "all"),
    ];
    Node::new("privacy").children(
        categories
            .iter()
            .map(|(name, value)| {
                Node::new("category")
                    .attr("name", *name)
                    .attr("value", *value)
            })
            .collect(),
    )
}

fn bytes_of<'a>(node: &'a Node, tag: &str) -> Option<&'a [u8]> {
    node.child(tag).and_then(Node::content_bytes)
}

/// A big-endian id of 1 to 4 bytes.
fn be_id(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() || bytes.len() > 4 {
        return None;
    }
    Some(bytes.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
}

fn key32(bytes: &[u8]) -> Option<[u8; 32]> {
    wa_crypto::public_key_from_wire(bytes).ok()
}

/// `<skey><id/><value/><signature/></skey>`.
fn parse_signed_prekey(skey: &Node) -> Option<SignedPreKey> {
    let signature = bytes_of(skey, "signature")?;
    if signature.len() != 64 {
        return None;
    }
    Some(SignedPreKey {
        id: be_id(bytes_of(skey, "id")?)?,
        public: key32(bytes_of(skey, "value")?)?,
        signature: signature.to_vec(),
    })
}

/// Stores an `encrypt set` upload (identity must match the registered one); returns how many
/// one-time prekeys were added.
fn store_upload(node: &Node, device: &mut Device) -> Result<usize, &'static str> {
    if let Some(identity) = bytes_of(node, "identity") {
        let identity = key32(identity).ok_or("identity is not a 32-byte key")?;
        if !wa_crypto::ct_eq(&identity, &device.registration.identity_public) {
            return Err("identity differs from the registered one");
        }
    }
    if let Some(reg) = bytes_of(node, "registration") {
        device.registration.registration_id = be_id(reg).ok_or("bad registration id")?;
    }
    if let Some(skey) = node.child("skey") {
        device.registration.signed_prekey = parse_signed_prekey(skey).ok_or("bad skey")?;
    }
    let mut added = 0;
    if let Some(list) = node.child("list") {
        for key in list.children_with_tag("key") {
            let id = bytes_of(key, "id").and_then(be_id).ok_or("bad key id")?;
            let value = bytes_of(key, "value")
                .and_then(key32)
                .ok_or("bad key value")?;
            device.prekeys.insert(id, value);
            added += 1;
        }
    }
    Ok(added)
}

/// The `<digest>` of a device's key bundle: the ids the server holds plus a SHA-1 over identity,
/// signed prekey, its signature and the prekey publics (fact sheet §5.2, whatsapp-rust
/// `DigestKeyBundleSpec` in `wacore/src/iq/prekeys.rs`).
fn digest(device: &Device) -> Node {
    let reg = &device.registration;
    let mut hash = Sha1::new();
    hash.update(reg.identity_public);
    hash.update(reg.signed_prekey.public);
    hash.update(&reg.signed_prekey.signature);
    for public in device.prekeys.values() {
        hash.update(public);
    }
    let ids = device
        .prekeys
        .keys()
        .map(|id| Node::new("id").bytes(id.to_be_bytes()[1..].to_vec()))
        .collect();
    Node::new("digest").children(vec![
        Node::new("type").bytes(vec![wa_crypto::DJB_TYPE]),
        Node::new("registration").bytes(reg.registration_id.to_be_bytes().to_vec()),
        Node::new("identity").bytes(reg.identity_public.to_vec()),
        Node::new("skey").children(vec![
            Node::new("id").bytes(reg.signed_prekey.id.to_be_bytes()[1..].to_vec()),
            Node::new("value").bytes(reg.signed_prekey.public.to_vec()),
            Node::new("signature").bytes(reg.signed_prekey.signature.clone()),
        ]),
        Node::new("list").children(ids),
        Node::new("hash").bytes(hash.finalize().to_vec()),
    ])
}

/// Prekey bundles for `<key><user jid/>…</key>`: each known device's registration, identity,
/// signed prekey and one unused one-time prekey (removed from its pool). Unknown users are left
/// out rather than answered with `<error>` (Baileys aborts a whole send on one; §9.4).
/// A device whose pool drops below [`LOW_PREKEY_COUNT`] gets
/// `<notification type="encrypt"><count value=N/></notification>` (returned as a route).
fn bundles(node: &Node, registry: &mut Registry) -> (Node, Vec<(String, Node)>) {
    let mut users = Vec::new();
    let mut low = Vec::new();
    let requested = node
        .child("key")
        .map(|k| k.children_with_tag("user").cloned().collect::<Vec<_>>())
        .unwrap_or_default();
    for user in requested {
        let Some(jid) = user.attr_jid("jid") else {
            continue;
        };
        let Some(phone_jid) = registry.resolve(&jid.user, &jid.server, u32::from(jid.device))
        else {
            continue;
        };
        let Some(device) = registry.device_mut(&phone_jid) else {
            continue;
        };
        let reg = &device.registration;
        let mut children = vec![
            Node::new("registration").bytes(reg.registration_id.to_be_bytes().to_vec()),
            Node::new("type").bytes(vec![wa_crypto::DJB_TYPE]),
            Node::new("identity").bytes(reg.identity_public.to_vec()),
            Node::new("skey").children(vec![
                Node::new("id").bytes(reg.signed_prekey.id.to_be_bytes()[1..].to_vec()),
                Node::new("value").bytes(reg.signed_prekey.public.to_vec()),
                Node::new("signature").bytes(reg.signed_prekey.signature.clone()),
            ]),
        ];
        if let Some((id, public)) = device.prekeys.pop_first() {
            children.push(Node::new("key").children(vec![
                Node::new("id").bytes(id.to_be_bytes()[1..].to_vec()),
                Node::new("value").bytes(public.to_vec()),
            ]));
            let left = device.prekeys.len();
            if left < LOW_PREKEY_COUNT {
                low.push((phone_jid.clone(), prekeys_low(left)));
            }
        }
        users.push(
            Node::new("user")
                .attr("jid", jid.to_string())
                .children(children),
        );
    }
    (Node::new("list").children(users), low)
}

/// `<notification from="s.whatsapp.net" type="encrypt" id><count value=N/></notification>`.
fn prekeys_low(left: usize) -> Node {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    Node::new("notification")
        .attr("from", crate::stanzas::SERVER)
        .attr("type", "encrypt")
        .attr(
            "id",
            format!("emu.n{}", NEXT.fetch_add(1, Ordering::Relaxed)),
        )
        .children(vec![Node::new("count").attr("value", left)])
}
