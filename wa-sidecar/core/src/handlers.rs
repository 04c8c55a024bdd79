//! What the connection does with each node the server sends: pairing (fact sheet 4), the login
//! sequence (5.2), keepalive answers (5.3), `<ib>`, prekey notifications, stream errors (8.1).

use rand_core::CryptoRngCore;
use wa_binary::Node;

use crate::connection::{
    Connection, IQ_TIMEOUT_MS, Purpose, QR_FIRST_MS, QR_NEXT_MS, QrRotation, UPLOAD_TIMEOUT_MS,
};
use crate::events::ConnEvent;
use crate::pairing::{pair_device_sign, qr_string, verify_pair_success};
use crate::stanza::{
    self, StreamOutcome, ack_for, attr, classify_failure, classify_stream_error, iq_error_for,
    iq_result_for,
};

/// Upload more one-time prekeys when the server holds fewer than this (all three reference
/// clients use 5: Baileys `MIN_PREKEY_COUNT`, whatsmeow `MinPreKeyCount`, whatsapp-rust
/// `MIN_PRE_KEY_COUNT`).
pub const MIN_SERVER_PREKEYS: u32 = 5;
/// How many one-time prekeys one upload carries (whatsmeow `WantedPreKeyCount` = 50).
pub const PREKEY_UPLOAD_COUNT: u32 = 50;

impl Connection {
    pub(crate) fn handle_node(&mut self, now: u64, node: Node, rng: &mut impl CryptoRngCore) {
        match node.tag.as_str() {
            "iq" => self.handle_iq(now, node, rng),
            "success" => self.on_success(now, &node),
            "failure" => self.terminate(classify_failure(&node)),
            "stream:error" => self.terminate(classify_stream_error(&node)),
            "xmlstreamend" => self.terminate(StreamOutcome::Disconnected(
                "server ended the stream".into(),
            )),
            "ib" => self.on_ib(node),
            "notification" if attr(&node, "type") == "encrypt" && node.child("count").is_some() => {
                self.on_prekey_notification(now, &node, rng)
            }
            "notification" if attr(&node, "type") == "link_code_companion_reg" => {
                self.on_link_code_notification(now, &node, rng)
            }
            _ => self.push_event(ConnEvent::Node(node)),
        }
    }

    fn handle_iq(&mut self, now: u64, node: Node, rng: &mut impl CryptoRngCore) {
        let kind = attr(&node, "type");
        match kind.as_str() {
            "result" | "error" => {
                let id = attr(&node, "id");
                match self.pending.iter().position(|p| p.id == id) {
                    Some(i) => {
                        let pending = self.pending.remove(i);
                        self.on_answer(now, pending.purpose, &node, kind == "result", rng);
                    }
                    None => self.push_event(ConnEvent::Node(node)),
                }
            }
            "set" if node.child("pair-device").is_some() && !self.device.is_paired() => {
                self.on_pair_device(now, &node, rng)
            }
            "set" if node.child("pair-success").is_some() && !self.device.is_paired() => {
                self.on_pair_success(&node, rng)
            }
            "get" if attr(&node, "xmlns") == "urn:xmpp:ping" => {
                // whatsapp-rust answers server pings (`src/client/node_io.rs`).
                self.send_node(iq_result_for(&node, Vec::new()));
            }
            _ => self.push_event(ConnEvent::Node(node)),
        }
    }

    fn on_answer(
        &mut self,
        now: u64,
        purpose: Purpose,
        node: &Node,
        ok: bool,
        rng: &mut impl CryptoRngCore,
    ) {
        match purpose {
            Purpose::Ping { .. } => {}
            Purpose::PrekeyCount => {
                let count = node
                    .child("count")
                    .and_then(|c| c.attr_str("value"))
                    .and_then(|v| v.parse::<u32>().ok());
                match count.filter(|_| ok) {
                    Some(n) => {
                        self.note_server_count(n);
                        if n < MIN_SERVER_PREKEYS {
                            self.upload_prekeys(now, true, rng);
                        } else {
                            self.send_active(now);
                        }
                    }
                    None => {
                        tracing::warn!("prekey count query failed; skipping the upload");
                        self.send_active(now);
                    }
                }
            }
            Purpose::PrekeyUpload { during_login } => {
                if !ok {
                    tracing::warn!(error = %error_text(node), "server refused the prekey upload");
                }
                if during_login {
                    self.send_active(now);
                }
            }
            Purpose::Active => {
                if !ok {
                    self.terminate(StreamOutcome::Disconnected(format!(
                        "server refused <active/>: {}",
                        error_text(node)
                    )));
                    return;
                }
                match self.device.own_jid() {
                    Some(jid) => {
                        self.connected = true;
                        let lid = self.device.own_lid();
                        self.push_event(ConnEvent::Connected { jid, lid });
                    }
                    None => self.terminate(StreamOutcome::Disconnected(
                        "logged in without a stored JID".into(),
                    )),
                }
            }
            Purpose::Logout if ok => {
                self.terminate(StreamOutcome::LoggedOut("user_initiated".into()));
            }
            Purpose::Logout => {
                let code = node
                    .child("error")
                    .and_then(|e| e.attr_str("code"))
                    .and_then(|c| c.parse().ok());
                let reason = format!("server refused: {}", error_text(node));
                tracing::warn!(%reason, "logout refused; the device stays linked");
                self.push_event(ConnEvent::LogoutFailed { code, reason });
            }
            Purpose::PairCodeHello | Purpose::PairCodeFinish => {
                self.on_pair_code_answer(purpose, node, ok);
            }
        }
    }

    // ---- pairing ----

    fn on_pair_device(&mut self, now: u64, node: &Node, rng: &mut impl CryptoRngCore) {
        self.send_node(iq_result_for(node, Vec::new()));
        let refs: Vec<String> = node
            .child("pair-device")
            .map(|p| {
                p.children_with_tag("ref")
                    .filter_map(Node::content_bytes)
                    .filter_map(|b| std::str::from_utf8(b).ok())
                    .filter(|r| !r.is_empty() && !r.contains(','))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if refs.is_empty() {
            self.close_with(ConnEvent::QrExhausted);
            return;
        }
        let expires_at = now.saturating_add(QR_FIRST_MS);
        let all_expire_at =
            (1..refs.len() as u64).fold(expires_at, |at, _| at.saturating_add(QR_NEXT_MS));
        let data = qr_string(&refs[0], &self.device);
        self.qr = Some(QrRotation {
            refs,
            index: 0,
            expires_at,
        });
        if self.pair_code.is_some() {
            // Pairing by code: the refs still bound how long pairing may take (whatsmeow
            // `PairPhone` doc), but no QR is shown.
            self.start_pair_code(now, all_expire_at, rng);
        } else {
            self.push_event(ConnEvent::Qr { data, expires_at });
        }
    }

    pub(crate) fn rotate_qr(&mut self, now: u64) {
        let Some(qr) = self.qr.as_mut() else {
            return;
        };
        qr.index += 1;
        match qr.refs.get(qr.index) {
            Some(reference) => {
                let reference = reference.clone();
                qr.expires_at = now.saturating_add(QR_NEXT_MS);
                let expires_at = qr.expires_at;
                if self.pair_code.is_none() {
                    let data = qr_string(&reference, &self.device);
                    self.push_event(ConnEvent::Qr { data, expires_at });
                }
            }
            None => self.close_with(ConnEvent::QrExhausted),
        }
    }

    fn on_pair_success(&mut self, node: &Node, rng: &mut impl CryptoRngCore) {
        let Some(success) = node.child("pair-success") else {
            return;
        };
        match verify_pair_success(success, &self.device, rng) {
            Ok(paired) => {
                self.qr = None;
                self.pair_code = None;
                self.device.account = Some(paired.account.clone());
                self.device.jid = Some(paired.jid.to_string());
                self.device.lid = paired.lid.as_ref().map(ToString::to_string);
                self.device.platform = Some(paired.platform.clone());
                self.push_event(ConnEvent::DeviceChanged);
                self.push_event(ConnEvent::Paired {
                    jid: paired.jid.clone(),
                    lid: paired.lid.clone(),
                    platform: paired.platform.clone(),
                });
                self.send_node(pair_device_sign(node, &paired));
            }
            Err(failure) => {
                tracing::warn!(%failure, "refused pair-success");
                let (code, text) = failure.code_and_text();
                self.send_node(iq_error_for(node, code, text));
            }
        }
    }

    // ---- login ----

    fn on_success(&mut self, now: u64, node: &Node) {
        if !self.device.is_paired() {
            self.push_event(ConnEvent::Node(node.clone()));
            return;
        }
        if let Some(lid) = node.attr_jid("lid").map(|j| j.to_string())
            && self.device.lid.as_deref() != Some(lid.as_str())
        {
            self.device.lid = Some(lid);
            self.push_event(ConnEvent::DeviceChanged);
        }
        let id = self.send_iq(stanza::iq("encrypt", "get", vec![Node::new("count")]));
        self.track(id, Purpose::PrekeyCount, now, IQ_TIMEOUT_MS);
    }

    pub(crate) fn send_active(&mut self, now: u64) {
        let id = self.send_iq(stanza::iq("passive", "set", vec![Node::new("active")]));
        self.track(id, Purpose::Active, now, IQ_TIMEOUT_MS);
    }

    fn note_server_count(&mut self, n: u32) {
        if self.device.server_prekey_count != Some(n) {
            self.device.server_prekey_count = Some(n);
            self.push_event(ConnEvent::DeviceChanged);
        }
    }

    /// Generates [`PREKEY_UPLOAD_COUNT`] prekeys, hands the state out for persisting
    /// (`DeviceChanged`, so the private keys are stored before the server can hand the public
    /// ones to peers), then queues the upload.
    fn upload_prekeys(&mut self, now: u64, during_login: bool, rng: &mut impl CryptoRngCore) {
        let keys = self.device.generate_prekeys(PREKEY_UPLOAD_COUNT, rng);
        self.push_event(ConnEvent::DeviceChanged);
        let node = stanza::prekey_upload(
            self.device.registration_id,
            &self.device.identity_key.public,
            &keys,
            &self.device.signed_prekey,
        );
        let id = self.send_iq(node);
        self.track(
            id,
            Purpose::PrekeyUpload { during_login },
            now,
            UPLOAD_TIMEOUT_MS,
        );
    }

    fn on_prekey_notification(&mut self, now: u64, node: &Node, rng: &mut impl CryptoRngCore) {
        self.send_node(ack_for(node));
        let count = node
            .child("count")
            .and_then(|c| c.attr_str("value"))
            .and_then(|v| v.parse::<u32>().ok());
        let Some(n) = count else {
            return;
        };
        self.note_server_count(n);
        let uploading = self
            .pending
            .iter()
            .any(|p| matches!(p.purpose, Purpose::PrekeyUpload { .. }));
        if n < MIN_SERVER_PREKEYS && !uploading {
            self.upload_prekeys(now, false, rng);
        }
    }

    // ---- info broadcasts ----

    fn on_ib(&mut self, node: Node) {
        let mut unhandled = false;
        for child in node.nodes() {
            match child.tag.as_str() {
                "edge_routing" => {
                    let info = child
                        .child("routing_info")
                        .and_then(Node::content_bytes)
                        .map(<[u8]>::to_vec);
                    if let Some(info) = info
                        && self.device.routing_info.as_ref() != Some(&info)
                    {
                        self.device.routing_info = Some(info);
                        self.push_event(ConnEvent::DeviceChanged);
                    }
                }
                "offline_preview" => {
                    // Baileys asks for the queue in batches of 100 (`messages-recv.ts`).
                    self.send_node(
                        Node::new("ib")
                            .children(vec![Node::new("offline_batch").attr("count", 100u32)]),
                    );
                }
                "offline" => self.offline_done = true,
                _ => unhandled = true,
            }
        }
        if unhandled {
            self.push_event(ConnEvent::Node(node));
        }
    }
}

pub(crate) fn error_text(node: &Node) -> String {
    node.child("error")
        .map(|e| format!("{} {}", attr(e, "code"), attr(e, "text")))
        .unwrap_or_else(|| "no error element".into())
}
