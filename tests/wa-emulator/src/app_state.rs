//! App-state sync (`<iq type="set" xmlns="w:sync:app:state"><sync><collection/>…</sync></iq>`)
//! answered as the server answers for an account that holds no app state: every collection is
//! empty, at version 0, with no snapshot and no patches.
//!
//! Shapes (what clients parse): one `<collection name=…>` per requested collection inside
//! `<sync>`, with optional `version`, `has_more_patches`, `<snapshot>` (an encoded
//! `ExternalBlobReference`) and `<patches><patch/>…</patches>`; a refused collection is
//! `<collection name type="error"><error code text/></collection>` (whatsapp-rust 0.7
//! `wacore-appstate/src/patch_decode.rs` `parse_patch_lists` / `parse_collection_error`,
//! whatsmeow `appstate/decode.go` `ParsePatchList`, Baileys `extractSyncdPatches` in
//! `src/Utils/chat-utils.ts`). Requests: whatsapp-rust `sync_collections_batched` in
//! `src/client/app_state.rs`, whatsmeow `fetchAppStatePatches` in `appstate.go`, Baileys
//! `resyncAppState` in `src/Socket/chats.ts` (`name`, `version` unless a snapshot is asked,
//! `return_snapshot`).
//!
//! The emulator stores no app state, so:
//! * a known collection asked from version 0 (or for a snapshot) is answered empty at
//!   version 0: there is nothing to sync, and whatsapp-rust counts it as synced;
//! * a client claiming a later version than 0 asks for patches the server never issued:
//!   refused with 400 for that collection (clients treat 400 as fatal for that collection);
//! * a collection carrying `<patch>` (the client pushing a mutation) is refused with 501,
//!   since the emulator does not keep mutations (clients retry those later);
//! * an unknown collection name is refused with 404.

use wa_binary::Node;

use crate::stanzas::{attr, iq_error, iq_result};

/// The collections WhatsApp syncs (whatsapp-rust `WAPatchName`, whatsmeow `AllPatchNames`).
pub const COLLECTIONS: [&str; 5] = [
    "critical_block",
    "critical_unblock_low",
    "regular_low",
    "regular_high",
    "regular",
];

/// The answer to one `w:sync:app:state` IQ with id `id`: a result with one `<collection>` per
/// requested collection, or a 400 error IQ when there is no `<sync>` with collections.
pub fn answer_sync(node: &Node, id: &str) -> Node {
    let requested: Vec<&Node> = node
        .child("sync")
        .map(|s| s.children_with_tag("collection").collect())
        .unwrap_or_default();
    if requested.is_empty() {
        return iq_error(id, 400, "bad-request");
    }
    let collections = requested.into_iter().map(answer_collection).collect();
    iq_result(id, vec![Node::new("sync").children(collections)])
}

fn answer_collection(collection: &Node) -> Node {
    let name = attr(collection, "name");
    if !COLLECTIONS.contains(&name.as_str()) {
        tracing::warn!(%name, "app-state sync of an unknown collection refused");
        return refused(&name, 404, "item-not-found");
    }
    if collection
        .child("patches")
        .is_some_and(|p| p.children_with_tag("patch").next().is_some())
        || collection.child("patch").is_some()
    {
        tracing::warn!(%name, "app-state patch upload refused (the emulator keeps no app state)");
        return refused(&name, 501, "feature-not-implemented");
    }
    let from_version = match collection.attr_str("version") {
        None => 0,
        Some(v) => match v.parse::<u64>() {
            Ok(v) => v,
            Err(_) => return refused(&name, 400, "bad-request"),
        },
    };
    if from_version > 0 {
        tracing::warn!(%name, from_version, "app-state sync from a version the server never issued");
        return refused(&name, 400, "bad-request");
    }
    Node::new("collection")
        .attr("name", name)
        .attr("version", 0u64)
}

/// `<collection name type="error"><error code text/></collection>`.
fn refused(name: &str, code: u16, text: &str) -> Node {
    Node::new("collection")
        .attr("name", name)
        .attr("type", "error")
        .children(vec![
            Node::new("error").attr("code", code).attr("text", text),
        ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(collections: Vec<Node>) -> Node {
        Node::new("iq")
            .attr("id", "s1")
            .attr("type", "set")
            .attr("xmlns", "w:sync:app:state")
            .children(vec![Node::new("sync").children(collections)])
    }

    fn collection(name: &str) -> Node {
        Node::new("collection")
            .attr("name", name)
            .attr("return_snapshot", "true")
    }

    /// Each answered collection as `name v<version>` or `name error <code>`.
    fn answered(reply: &Node) -> Vec<String> {
        let Some(sync) = reply.child("sync") else {
            return Vec::new();
        };
        sync.children_with_tag("collection")
            .map(|c| match c.child("error") {
                Some(e) if attr(c, "type") == "error" => {
                    format!("{} error {}", attr(c, "name"), attr(e, "code"))
                }
                _ => format!("{} v{}", attr(c, "name"), attr(c, "version")),
            })
            .collect()
    }

    #[test]
    fn each_requested_collection_is_answered_empty_at_version_0() {
        let reply = answer_sync(
            &request(vec![
                collection("critical_block"),
                collection("critical_unblock_low"),
            ]),
            "s1",
        );
        assert_eq!(attr(&reply, "type"), "result");
        assert_eq!(attr(&reply, "id"), "s1");
        let sync = reply.child("sync").expect("sync child");
        for c in sync.nodes() {
            assert!(c.nodes().is_empty(), "no snapshot, no patches: {c:?}");
        }
        assert_eq!(
            answered(&reply),
            vec!["critical_block v0", "critical_unblock_low v0"]
        );
    }

    #[test]
    fn incremental_from_0_is_empty_and_later_versions_are_refused() {
        let reply = answer_sync(
            &request(vec![
                Node::new("collection")
                    .attr("name", "regular")
                    .attr("version", "0")
                    .attr("return_snapshot", "false"),
                Node::new("collection")
                    .attr("name", "regular_high")
                    .attr("version", 7u64)
                    .attr("return_snapshot", "false"),
                Node::new("collection")
                    .attr("name", "regular_low")
                    .attr("version", "x"),
            ]),
            "s1",
        );
        assert_eq!(
            answered(&reply),
            vec![
                "regular v0",
                "regular_high error 400",
                "regular_low error 400",
            ]
        );
    }

    #[test]
    fn unknown_collections_and_patch_uploads_are_refused_per_collection() {
        let upload = Node::new("collection")
            .attr("name", "regular_high")
            .attr("version", "0")
            .children(vec![Node::new("patch").bytes(vec![1, 2, 3])]);
        let reply = answer_sync(&request(vec![collection("nonsense"), upload]), "s1");
        assert_eq!(attr(&reply, "type"), "result");
        assert_eq!(
            answered(&reply),
            vec!["nonsense error 404", "regular_high error 501"]
        );
    }

    #[test]
    fn a_request_without_collections_is_a_bad_request() {
        for node in [
            request(vec![]),
            Node::new("iq").attr("id", "s1").attr("type", "set"),
        ] {
            let reply = answer_sync(&node, "s1");
            assert_eq!(attr(&reply, "type"), "error");
            let code = reply.child("error").map(|e| attr(e, "code"));
            assert_eq!(code.as_deref(), Some("400"));
        }
    }
}
